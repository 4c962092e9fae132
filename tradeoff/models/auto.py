"""``auto``: the learner that cross-validation on the training sample finds most accurate.

Only the training sample is used: each candidate's mean relative error is estimated by k-fold
cross-validation on it, the best candidate is refitted on the whole sample. The test rows of a
learning curve never influence the choice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from tradeoff.models import cross_validated_mape, learner, make_learner

DEFAULT_CANDIDATES = ("influence", "cart", "log-forest", "boosting")


class AutoLearner(RegressorMixin, BaseEstimator):
    """Chooses among registered learners by cross-validated MAPE on the training sample.

    candidates: learner names, comma-separated (``gp`` is left out by default: it costs seconds
        per fit, and cross-validation multiplies that by the folds).
    """

    def __init__(self, candidates: str = ",".join(DEFAULT_CANDIDATES), folds: int = 5, seed: int = 0):
        self.candidates = candidates
        self.folds = folds
        self.seed = seed

    def fit(self, X, y):
        X, y = np.asarray(X, float), np.asarray(y, float)
        names = [name.strip() for name in self.candidates.split(",") if name.strip()]
        self.scores_ = pd.Series({name: cross_validated_mape(make_learner(name, self.seed), X, y, self.folds, self.seed)
                                  for name in names}).sort_values()
        self.chosen_ = str(self.scores_.index[0])
        self.model_ = clone(make_learner(self.chosen_, self.seed)).fit(X, y)
        self.n_features_in_ = X.shape[1]
        return self

    @property
    def chosen_model(self) -> RegressorMixin:
        """The chosen learner, fitted on the whole training sample."""
        check_is_fitted(self, "model_")
        return self.model_

    def predict(self, X):
        check_is_fitted(self, "model_")
        return self.model_.predict(np.asarray(X, float))


@learner("auto")
def auto(seed: int) -> AutoLearner:
    """The most accurate of influence, cart, log-forest and boosting by 5-fold CV on the training sample."""
    return AutoLearner(seed=seed)
