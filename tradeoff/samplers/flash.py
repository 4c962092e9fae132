"""FLASH (Nair et al., TSE'18): a CART surrogate, measure the predicted best unmeasured configuration.

FLASH's point is that a regression tree, refitted after every measurement, is a good enough
surrogate to *rank* configurations, and orders of magnitude cheaper than a GP: no uncertainty,
no acquisition beyond "the predicted best". It uses scikit-learn's CART with its defaults, as
FLASH did (a cross-validated tree, the ``cart`` learner, costs 50 fits per ask for no better
ranking on a few dozen rows). A batch for several workers is the predicted best few; ties (a
tree predicts one value per leaf) are broken by the seed. Shares the initial design and the
cost (log, sign) with ``bo`` (see ``_optimise``), so the two differ only in the surrogate.
"""

from __future__ import annotations

import numpy as np
from sklearn.tree import DecisionTreeRegressor

from tradeoff.samplers._optimise import Optimiser


class Flash(Optimiser):
    name = "flash"

    def choose(self, X: np.ndarray, cost: np.ndarray, pool: np.ndarray, batch: int, iteration: int) -> list[int]:
        predicted = DecisionTreeRegressor(random_state=self.seed).fit(X, cost).predict(pool)
        tie_break = np.random.default_rng(self.seed + iteration).random(len(pool))
        return np.lexsort((tie_break, predicted))[:batch].tolist()
