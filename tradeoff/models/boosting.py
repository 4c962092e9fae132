"""Gradient-boosted regression trees, set up for small performance samples."""

from __future__ import annotations

from sklearn.ensemble import GradientBoostingRegressor

from tradeoff.models import LogTarget, learner


@learner("boosting")
def boosting(seed: int) -> LogTarget:
    """Gradient boosting on log(y) with shallow trees and leaves of one row: performance samples
    hold tens of configurations, where scikit-learn's larger default leaves would not split."""
    return LogTarget(GradientBoostingRegressor(n_estimators=300, learning_rate=0.05, max_depth=3, min_samples_leaf=1,
                                               subsample=0.8, random_state=seed))
