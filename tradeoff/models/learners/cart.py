"""CART whose leaf size and depth are tuned by 3-fold cross-validation (DECART's idea)."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.tree import DecisionTreeRegressor

from tradeoff.models.learners.base import Learner


class Cart(Learner):
    """A regression tree; the grid of leaf sizes and depths is searched by ``folds``-fold CV on
    ``scoring`` (a scikit-learn scorer name), which also scores its permutation importance."""

    def __init__(self, min_samples_leaf: tuple[int, ...] = (1, 2, 4, 8), max_depth: tuple[int | None, ...] = (None, 4, 8, 16),
                 folds: int = 3, scoring: str = "neg_mean_absolute_percentage_error", seed: int = 0):
        self.min_samples_leaf = min_samples_leaf
        self.max_depth = max_depth
        self.folds = folds
        self.scoring = scoring
        self.seed = seed

    def _fit(self, X, y):
        grid = {"min_samples_leaf": list(self.min_samples_leaf), "max_depth": list(self.max_depth)}
        self.search_ = GridSearchCV(DecisionTreeRegressor(random_state=self.seed), grid,
                                    cv=KFold(self.folds, shuffle=True, random_state=self.seed),
                                    scoring=self.scoring, error_score=np.nan).fit(X, y)
        return self

    def _predict(self, X):
        return self.search_.predict(X)
