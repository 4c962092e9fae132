"""Divide-and-learn (DaL, Gong & Chen, ICSE'23): CART divides the sample, a local model learns each division.

Performance data are often sparse: a few options split the configurations into regions that
behave very differently (a cache on or off), and one global model smooths across them. DaL fits a
shallow CART to the training sample, takes its leaves as divisions, fits a local model to each
division's rows and routes a new configuration through the same tree to its division's model.
The depth (0 = one division, i.e. the local model alone) is chosen by cross-validation on the
training sample; a division needs ``min_rows`` rows, so small samples get shallow trees.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import KFold
from sklearn.tree import DecisionTreeRegressor

from tradeoff.models.accuracy import mape
from tradeoff.models.learners.base import Learner, floored_log, log_floor, make_learner


class DivideAndLearn(Learner):
    """CART divisions with a local learner per division (scikit-learn estimator).

    local: the registered learner fitted in each division.
    depths: the tree depths cross-validation chooses from.
    min_rows: the fewest training rows in a division.
    """

    _min_samples = 2  # cross-validation needs two rows

    def __init__(self, local: str = "boosting", depths: tuple[int, ...] = (0, 1, 2), min_rows: int = 8, folds: int = 5,
                 seed: int = 0):
        self.local = local
        self.depths = depths
        self.min_rows = min_rows
        self.folds = folds
        self.seed = seed

    def _fit(self, X, y):
        folds = min(self.folds, len(y))
        scores = {}
        for depth in self.depths:
            predicted = np.empty_like(y)
            for train, test in KFold(folds, shuffle=True, random_state=self.seed).split(X):
                predicted[test] = self._fit_depth(X[train], y[train], depth)._predict(X[test])
            scores[depth] = mape(y, predicted)
        self.scores_ = scores
        self.depth_ = min(scores, key=scores.get)
        return self._fit_depth(X, y, self.depth_, into=self)

    def _fit_depth(self, X, y, depth: int, into: DivideAndLearn | None = None) -> DivideAndLearn:
        fitted = into or clone(self)
        fitted.tree_ = None
        if depth:
            # The tree divides on log(y) when it can: regions differ by factors rather than offsets.
            fitted.tree_ = DecisionTreeRegressor(max_depth=depth, min_samples_leaf=self.min_rows, random_state=self.seed)
            floor = log_floor(y)
            fitted.tree_.fit(X, y if floor is None else floored_log(y, floor))
        leaves = fitted._divisions(X)
        fitted.models_ = {leaf: make_learner(self.local, self.seed).fit(X[leaves == leaf], y[leaves == leaf])
                          for leaf in np.unique(leaves)}
        return fitted

    def _divisions(self, X: np.ndarray) -> np.ndarray:
        return self.tree_.apply(X) if self.tree_ is not None else np.zeros(len(X), int)

    def _predict(self, X):
        leaves = self._divisions(X)
        predicted = np.empty(len(X))
        for leaf, model in self.models_.items():
            rows = leaves == leaf
            if rows.any():
                predicted[rows] = model.predict(X[rows])
        return predicted

