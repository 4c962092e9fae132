"""How long the GP learner takes to fit 1,000 configurations of 50 options.

    python -m bench.gp_speed [--rows 1000] [--options 50]

Synthetic binary configurations with a few influential options and interactions plus 1% noise;
prints the fit time, the prediction time for 1,000 more configurations and their MAPE.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from tradeoff.models.accuracy import mape
from tradeoff.models.learners.base import make_learner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--options", type=int, default=50)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # GPy's deprecation chatter
    rng = np.random.default_rng(0)

    def performance(X):
        return 10 + 3 * X[:, 0] + 5 * X[:, 2] + 2 * X[:, 1] * X[:, 3] + 4 * X[:, 4] * X[:, 5] * X[:, 6]

    X = rng.integers(0, 2, (args.rows, args.options)).astype(float)
    y = performance(X) * (1 + rng.normal(0, 0.01, args.rows))
    X_test = rng.integers(0, 2, (1000, args.options)).astype(float)
    started = time.perf_counter()
    model = make_learner("gp").fit(X, y)
    fitted = time.perf_counter()
    predicted, std = model.predict(X_test, return_std=True)
    done = time.perf_counter()
    print(f"GP fit on {args.rows} x {args.options}: {fitted - started:.1f} s; predict 1000 with std: {done - fitted:.2f} s; "
          f"test MAPE {mape(performance(X_test), predicted):.2f}%")


if __name__ == "__main__":
    main()
