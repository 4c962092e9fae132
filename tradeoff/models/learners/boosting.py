"""Gradient boosting on log(y) with shallow trees and leaves of one row, for small samples.

Performance samples hold tens of configurations, where scikit-learn's larger default leaves
would not split.
"""

from __future__ import annotations

from sklearn.ensemble import GradientBoostingRegressor

from tradeoff.models.learners.base import LogTarget


class Boosting(LogTarget):
    _min_samples = 2  # a subsample of one row is empty

    def __init__(self, n_estimators: int = 300, learning_rate: float = 0.05, max_depth: int = 3, min_samples_leaf: int = 1,
                 subsample: float = 0.8, seed: int = 0):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.subsample = subsample
        self.seed = seed

    def _estimator(self):
        return GradientBoostingRegressor(n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                                         max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf,
                                         subsample=self.subsample, random_state=self.seed)
