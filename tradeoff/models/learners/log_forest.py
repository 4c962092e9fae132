"""The random forest fitted to log(y): options scale performance rather than shift it."""

from __future__ import annotations

from tradeoff.models.learners.base import LogTarget
from tradeoff.models.learners.forest import Forest


class LogForest(LogTarget):
    def __init__(self, n_estimators: int = 100, seed: int = 0):
        self.n_estimators = n_estimators
        self.seed = seed

    def _estimator(self):
        return Forest(n_estimators=self.n_estimators, seed=self.seed)
