"""FLASH (Nair et al., TSE'18): a CART surrogate, measure the predicted best unmeasured configuration.

FLASH's point is that a regression tree, refitted after every measurement, is a good enough
surrogate to *rank* configurations, and orders of magnitude cheaper than a GP: no uncertainty,
no acquisition beyond "the predicted best". It uses scikit-learn's CART with its defaults, as
FLASH did (a cross-validated tree, the ``cart`` learner, costs 50 fits per ask for no better
ranking on a few dozen rows). A batch for several workers is the predicted best few; ties (a
tree predicts one value per leaf) are broken by the seed. Shares the initial design and the
cost (log, sign) with ``bo`` (see ``_optimise``), so the two differ only in the surrogate.
Output constraints (``throughput >= 9000``) get trees of their own on each constraint's slack,
fitted on ``BOOTSTRAPS`` bootstrap samples of the measurements: a candidate's probability of
feasibility is the share of samples whose trees predict every constraint met. FLASH's choice is
then the predicted best among the candidates at least half of the samples call feasible, then
(where those are too few) the most probably feasible ones. One tree per constraint, as first
built, never explored: a fully grown tree copies its nearest measurement's slack, so the
candidates just across the boundary (where a bound that bites puts the feasible optimum) were
never eligible, and on held-out Storm problems told FLASH found worse feasible latencies than
blind FLASH on 3 of 4. The vote helps on held-out seeds (a better best feasible latency than the
single tree's on 11 of 24 runs, worse on 6; the median gap on wc-6d-c1 >= 15000 from 81% to 2.5%)
and on twelve fresh seeds told FLASH beats blind FLASH on 35 of 48 runs, though not where the
bound bites least (bench/RESULTS.md, "Output constraints in choosing", "Fresh seeds 26-37");
``bo-ei`` is the method to use under a constraint, and ``auto``'s choice there.
"""

from __future__ import annotations

import numpy as np
from sklearn.tree import DecisionTreeRegressor

from tradeoff.samplers._optimise import Constraints, Optimiser

BOOTSTRAPS = 10  # bootstrap samples of the constraints' trees: a candidate's feasibility is their vote


class Flash(Optimiser):
    name = "flash"

    def choose(self, X: np.ndarray, cost: np.ndarray, pool: np.ndarray, batch: int, iteration: int,
               constraints: Constraints) -> list[int]:
        predicted = DecisionTreeRegressor(random_state=self.seed).fit(X, cost).predict(pool)
        tie_break = np.random.default_rng(self.seed + iteration).random(len(pool))
        if not constraints.slack.shape[1]:
            return np.lexsort((tie_break, predicted))[:batch].tolist()
        feasible = feasibility(X, constraints, pool, self.seed, np.random.default_rng(self.seed + iteration))
        missed = feasible < 0.5
        return np.lexsort((tie_break, np.where(missed, -feasible, predicted), missed))[:batch].tolist()


def feasibility(X: np.ndarray, constraints: Constraints, pool: np.ndarray, seed: int, rng: np.random.Generator) -> np.ndarray:
    """Each candidate's share of ``BOOTSTRAPS`` bootstrap samples of the measurements whose slack
    trees predict every constraint met."""
    votes = np.zeros(len(pool))
    for _ in range(BOOTSTRAPS):
        sample = rng.integers(0, len(X), len(X))
        met = np.ones(len(pool), dtype=bool)
        for slack in constraints.slack.T:
            met &= DecisionTreeRegressor(random_state=seed).fit(X[sample], slack[sample]).predict(pool) >= 0
        votes += met
    return votes / BOOTSTRAPS
