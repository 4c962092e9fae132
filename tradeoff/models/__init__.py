"""Performance models (scikit-learn estimators) and how accurate they are.

``make_learner(name, seed)`` builds a learner from the registry; every learner has the
estimator API (fit / predict / get_params) and works on the matrix that ``Space.encode`` makes.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.inspection import permutation_importance
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GridSearchCV, KFold, cross_val_predict
from sklearn.tree import DecisionTreeRegressor

from tradeoff.errors import TradeoffError
from tradeoff.space import Space

LEARNERS: dict[str, Callable[[int], RegressorMixin]] = {}


def learner(name: str):
    def register(factory: Callable[[int], RegressorMixin]):
        LEARNERS[name] = factory
        return factory
    return register


def make_learner(name: str, seed: int = 0) -> RegressorMixin:
    if name not in LEARNERS:
        raise TradeoffError(f"unknown learner {name!r}; use one of {', '.join(sorted(LEARNERS))}")
    return LEARNERS[name](seed)


@learner("cart")
def cart(seed: int) -> RegressorMixin:
    """CART whose leaf size and depth are tuned by 3-fold cross-validation (DECART's idea)."""
    grid = {"min_samples_leaf": [1, 2, 4, 8], "max_depth": [None, 4, 8, 16]}
    return GridSearchCV(DecisionTreeRegressor(random_state=seed), grid, cv=KFold(3, shuffle=True, random_state=seed),
                        scoring="neg_mean_absolute_percentage_error", error_score=np.nan)


@learner("forest")
def forest(seed: int) -> RegressorMixin:
    return RandomForestRegressor(n_estimators=100, random_state=seed, n_jobs=1)


def log_floor(*values: np.ndarray) -> float | None:
    """Where models fit logs (options tend to scale performance rather than shift it, and the log
    keeps a few very slow configurations from dominating): the value measured zeros are raised to,
    or None when logs do not apply (a negative value, or none positive). A measured 0 is a run
    faster than the clock's resolution (SPEAR records 0.00 s in 7% of one machine's runs); it is
    fitted as half the smallest positive value, instead of one zero switching the whole fit to raw
    values."""
    y = np.concatenate([np.ravel(np.asarray(v, float)) for v in values])
    if np.any(y < 0) or not np.any(y > 0):
        return None
    return float(y[y > 0].min()) / 2


def floored_log(y: np.ndarray, floor: float) -> np.ndarray:
    return np.log(np.maximum(np.asarray(y, float), floor))


def one_range_width_around(values: np.ndarray) -> tuple[float, float]:
    """Bounds for predictions that may extrapolate: one range-width beyond the fitted values on each
    side; none when the values are all equal (nothing to bound by)."""
    span = np.ptp(values) or np.inf
    return values.min() - span, values.max() + span


class LogTarget(RegressorMixin, BaseEstimator):
    """Fits ``estimator`` to log(y) where ``log_floor`` allows, else to y. A linear model on logs
    extrapolates exponentially (a 10-row sample that never saw an option's top value predicted
    1e29 ms on Storm), so log predictions stay within one range-width of the training values."""

    def __init__(self, estimator: RegressorMixin):
        self.estimator = estimator

    def fit(self, X, y):
        y = np.asarray(y, float)
        floor = log_floor(y)
        self.log_ = floor is not None
        target = floored_log(y, floor) if self.log_ else y
        self.estimator_ = clone(self.estimator).fit(X, target)
        self.bounds_ = one_range_width_around(target)
        return self

    def predict(self, X):
        predicted = self.estimator_.predict(X)
        return np.exp(np.clip(predicted, *self.bounds_)) if self.log_ else predicted


@learner("log-forest")
def log_forest(seed: int) -> RegressorMixin:
    return LogTarget(forest(seed))


@learner("ridge-log")
def ridge_log(seed: int) -> RegressorMixin:
    """Ridge regression on log(y), its penalty chosen by leave-one-out: each option scales
    performance by a factor. Stable on a handful of rows, where trees and kernels overfit."""
    return LogTarget(RidgeCV(alphas=np.logspace(-3, 3, 13)))


def mape(measured: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute percentage error (%), the mean relative error of the literature."""
    measured, predicted = np.asarray(measured, float), np.asarray(predicted, float)
    nonzero = measured != 0
    if not nonzero.any():
        raise TradeoffError("every measured value is 0; MAPE is undefined for this metric")
    return float(np.mean(np.abs(measured[nonzero] - predicted[nonzero]) / np.abs(measured[nonzero])) * 100)


def cross_validated_mape(model: RegressorMixin, X: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    folds = min(folds, len(y))
    if folds < 2:
        raise TradeoffError(f"cross-validation needs at least 2 successful measurements, got {len(y)}")
    predicted = cross_val_predict(model, X, y, cv=KFold(folds, shuffle=True, random_state=seed))
    return mape(y, predicted)


def option_influences(model: RegressorMixin, space: Space, X: np.ndarray, y: np.ndarray, seed: int = 0) -> pd.Series:
    """How much each option drives the prediction, summed over an option's encoded columns, as a
    share of the total (largest first). A model that knows its influences says them itself
    (``influences(feature_names)``: the influence model's terms, the GP's inverse lengthscales);
    for any other, permutation importance on (X, y) measures them."""
    inner = model if hasattr(model, "influences") else getattr(model, "chosen_model", model)
    if hasattr(inner, "influences"):
        per_feature = inner.influences(space.feature_names()).clip(lower=0)
    else:
        result = permutation_importance(model, X, y, n_repeats=5, random_state=seed)
        per_feature = pd.Series(np.clip(result.importances_mean, 0, None), index=space.feature_names())
    per_option = per_feature.groupby([name.split("=")[0] for name in per_feature.index], sort=False).sum()
    total = per_option.sum()
    return (per_option / total if total > 0 else per_option).sort_values(ascending=False)


# The learners that live in their own modules register themselves on import.
from tradeoff.models import auto, boosting, dal, dnn, gp, influence  # noqa: E402,F401
