"""A random forest of 100 trees (scikit-learn's defaults otherwise)."""

from __future__ import annotations

from sklearn.ensemble import RandomForestRegressor

from tradeoff.models.learners.base import Learner


class Forest(Learner):
    def __init__(self, n_estimators: int = 100, seed: int = 0):
        self.n_estimators = n_estimators
        self.seed = seed

    def _fit(self, X, y):
        self.forest_ = RandomForestRegressor(n_estimators=self.n_estimators, random_state=self.seed, n_jobs=1).fit(X, y)
        return self

    def _predict(self, X):
        return self.forest_.predict(X)
