"""The target learner with the source model's prediction as an extra input (model stacking).

The learner decides from the target sample how far to follow the source; with a forest it can use
the source where it agrees and split on the options where it does not.
"""

from __future__ import annotations

import numpy as np

from tradeoff.models.learners.base import make_learner
from tradeoff.transfer.methods.base import Source, TransferMethod


class Stacking(TransferMethod):
    def __init__(self, source: Source, learner: str = "forest", seed: int = 0):
        self.source, self.learner, self.seed = source, learner, seed

    def _with_source(self, X):
        return np.hstack([np.asarray(X, float), self.source.predict(X)[:, None]])

    def fit(self, X, y):
        self.model_ = make_learner(self.learner, self.seed).fit(self._with_source(X), y)
        return self

    def predict(self, X):
        return self.model_.predict(self._with_source(X))
