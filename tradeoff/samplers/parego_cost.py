"""Cost-aware ParEGO (FlexiBO's idea): the expected gain per predicted measurement second.

FlexiBO (Iqbal et al., JAIR'23) observed that measuring a configuration costs very different
amounts (a slow DNN configuration takes far longer to evaluate, an x264 preset 40x another) and
chose by expected improvement per cost. This is ``parego`` with that divisor: a GP on the log
of each stored configuration's measurement seconds predicts the cost of every candidate, and the
gain is divided by that prediction raised to the share of the budget still to spend (CArBO's
cost-cooling, Lee et al. 2020): early picks favour cheap measurements, the last ones are
cost-blind, so the cheap region does not hold the search once it is known.
"""

from __future__ import annotations

import numpy as np

from tradeoff.samplers._pareto import Observed
from tradeoff.samplers.bo import fit_gp
from tradeoff.samplers.parego import ParEGO


class CostAwareParEGO(ParEGO):
    name = "parego-cost"

    def price(self, observed: Observed, pool: np.ndarray, left: float) -> np.ndarray:
        seconds = observed.seconds
        if len(seconds) < 2 or not np.all(np.isfinite(seconds) & (seconds > 0)):
            return np.ones(len(pool))
        log_seconds, _ = fit_gp(observed.X, np.log(seconds)).predict(pool, include_likelihood=False)
        predicted = np.exp(log_seconds[:, 0] - np.log(seconds).min())  # relative to the cheapest measured: >= about 1
        return predicted ** left
