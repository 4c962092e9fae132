"""FLASH (Nair et al., TSE'18): a CART surrogate, measure the predicted best unmeasured configuration.

FLASH's point is that a regression tree, refitted after every measurement, is a good enough
surrogate to *rank* configurations, and orders of magnitude cheaper than a GP: no uncertainty,
no acquisition beyond "the predicted best". It uses scikit-learn's CART with its defaults, as
FLASH did (a cross-validated tree, the ``cart`` learner, costs 50 fits per ask for no better
ranking on a few dozen rows). A batch for several workers is the predicted best few; ties (a
tree predicts one value per leaf) are broken by the seed. Shares the initial design and the
cost (log, sign) with ``bo`` (see ``_optimise``), so the two differ only in the surrogate.
Output constraints (``throughput >= 9000``) get a tree of their own on each constraint's slack:
the predicted best among the candidates predicted to meet every one, then (where those are too
few) the candidates predicted to miss by the least (slacks in units of their spread).
"""

from __future__ import annotations

import numpy as np
from sklearn.tree import DecisionTreeRegressor

from tradeoff.samplers._optimise import Constraints, Optimiser


class Flash(Optimiser):
    name = "flash"

    def choose(self, X: np.ndarray, cost: np.ndarray, pool: np.ndarray, batch: int, iteration: int,
               constraints: Constraints) -> list[int]:
        predicted = DecisionTreeRegressor(random_state=self.seed).fit(X, cost).predict(pool)
        tie_break = np.random.default_rng(self.seed + iteration).random(len(pool))
        margin = np.full(len(pool), np.inf)  # the smallest predicted slack, in units of its measured spread
        for slack in constraints.slack.T:
            tree = DecisionTreeRegressor(random_state=self.seed).fit(X, slack)
            margin = np.minimum(margin, tree.predict(pool) / (np.std(slack) or 1.0))
        missed = margin < 0
        return np.lexsort((tie_break, np.where(missed, -margin, predicted), missed))[:batch].tolist()
