"""Gradient-boosted regression trees, set up for small performance samples."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.utils.validation import check_is_fitted

from tradeoff.models import learner


class LogTarget(RegressorMixin, BaseEstimator):
    """Fits ``regressor`` to log(y) when every target is positive, else to y. Run times and
    throughputs are multiplicative in the options, so on the log scale trees need fewer splits
    and squared error weighs every configuration by its relative error."""

    def __init__(self, regressor: RegressorMixin):
        self.regressor = regressor

    def fit(self, X, y):
        y = np.asarray(y, float)
        self.log_ = bool(np.all(y > 0))
        self.regressor_ = clone(self.regressor).fit(X, np.log(y) if self.log_ else y)
        return self

    def predict(self, X):
        check_is_fitted(self, "regressor_")
        predicted = self.regressor_.predict(X)
        return np.exp(predicted) if self.log_ else predicted


@learner("boosting")
def boosting(seed: int) -> LogTarget:
    """Gradient boosting on log(y) with shallow trees and leaves of one row: performance samples
    hold tens of configurations, where scikit-learn's larger default leaves would not split."""
    return LogTarget(GradientBoostingRegressor(n_estimators=300, learning_rate=0.05, max_depth=3, min_samples_leaf=1,
                                               subsample=0.8, random_state=seed))
