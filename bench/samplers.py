"""Which sampling strategy gives the lowest error for a budget (as in Kaltenecker et al., ICSE'19).

    python -m bench.samplers [--systems x264,SQL] [--samplers random,distance,...] [--budgets n,2n,3n]
                             [--learner influence] [--repeats 5]

Each DeepPerf table is a replay population: a sampler chooses `budget` of its recorded
configurations (snapped to the nearest recorded ones where a design asks for others), the
learner is trained on them and tested on every other row. Deterministic samplers give the same
sample for every seed; seeded ones are repeated. The size column is the mean number of
configurations a sampler actually returned (option-wise designs stop at their natural size).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from systems.replay import datasets_dir
from tradeoff.models.accuracy import mape
from tradeoff.models.evaluation import load_table, parse_sizes
from tradeoff.models.learners.base import make_learner
from tradeoff.samplers.base import sample
from tradeoff.space import config_id

DEFAULT_SAMPLERS = "random,distance,diversified-distance,twise,pairwise,optionwise,negative-optionwise,plackett-burman,latin-hypercube"


def run(system: str, samplers: list[str], budgets: str, learner: str, repeats: int) -> pd.DataFrame:
    table = load_table(datasets_dir() / "deepperf" / "Data" / f"{system}_AllNumeric.csv", "PERF")
    space = table.space.with_population(table.configs)
    row_of = {config_id(c): i for i, c in enumerate(table.configs.to_dict("records"))}
    rows = []
    for budget in parse_sizes(budgets, len(table.space)):
        for name in samplers:
            for seed in range(repeats):
                train = np.array(sorted({row_of[config_id(c)] for c in sample(space, name, budget, seed)}))
                test = np.setdiff1d(np.arange(len(table.y)), train)
                model = make_learner(learner, seed).fit(table.X[train], table.y[train])
                rows.append({"system": system, "budget": budget, "sampler": name, "seed": seed, "size": len(train),
                             "mre": mape(table.y[test], model.predict(table.X[test]))})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default="x264,SQL")
    parser.add_argument("--samplers", default=DEFAULT_SAMPLERS)
    parser.add_argument("--budgets", default="n,2n,3n")
    parser.add_argument("--learner", default="influence")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    frames = [run(s, args.samplers.split(","), args.budgets, args.learner, args.repeats) for s in args.systems.split(",")]
    results = pd.concat(frames)
    summary = results.groupby(["system", "budget", "sampler"], sort=False).agg(size=("size", "mean"), mre=("mre", "mean"))
    for (system, budget), part in summary.groupby(level=[0, 1], sort=False):
        best = part["mre"].idxmin()[2]
        cells = ", ".join(f"{s[2]} {r['mre']:.2f}% (n={r['size']:.0f})" for s, r in part.sort_values("mre").iterrows())
        print(f"{system} budget {budget}: best {best}; {cells}")
    print(f"total {time.perf_counter() - started:.0f} s, learner {args.learner}, {args.repeats} seeds per sampler")


if __name__ == "__main__":
    main()
