"""The learners' contract: a scikit-learn regressor over encoded configurations, built by name.

``Learner`` does what every learner shares: ``fit`` validates (X, y) and ``predict`` checks the
model is fitted and validates X with scikit-learn's own helpers, so every learner raises the same
errors as scikit-learn's estimators; a learner implements ``_fit`` and ``_predict`` on validated
float arrays. ``LogTarget`` is the base of the learners that fit log(y), and the helpers for logs
are shared with the transfer models.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from tradeoff.registry import Registry

LEARNERS = Registry("learner", "tradeoff.models.learners", "tradeoff.models.learners.base:Learner")


def make_learner(name: str, seed: int = 0) -> Learner:
    """The learner ``name`` with its default hyper-parameters and ``seed`` (where it draws anything)."""
    cls = LEARNERS.get(name)
    return cls(seed=seed) if "seed" in cls._get_param_names() else cls()


class Learner(RegressorMixin, BaseEstimator):
    """A regressor of one metric from encoded configurations (scikit-learn's estimator contract:
    ``__init__`` stores the hyper-parameters, ``fit`` checks them and the data)."""

    _min_samples = 1  # the fewest rows a fit can use
    # Learners that choose by relative error (MAPE, the measure of performance data) score poorly on
    # scikit-learn's zero-centred check targets: a near-constant model has the lowest relative error there.
    _selects_by_relative_error = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = self._selects_by_relative_error
        return tags

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, ensure_min_samples=self._min_samples)
        return self._fit(X, y.astype(np.float64, copy=False))

    def predict(self, X):
        return self._predict(self._validated(X))

    def _validated(self, X) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, dtype=np.float64, reset=False)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> Learner:
        raise NotImplementedError

    def _predict(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError


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


class LogTarget(Learner):
    """Fits ``estimator`` to log(y) where ``log_floor`` allows, else to y. A linear model on logs
    extrapolates exponentially (a 10-row sample that never saw an option's top value predicted
    1e29 ms on Storm), so log predictions stay within one range-width of the training values.
    A learner on logs derives from it and builds its estimator in ``_estimator``."""

    def __init__(self, estimator: RegressorMixin):
        self.estimator = estimator

    def _estimator(self) -> RegressorMixin:
        return clone(self.estimator)

    def _fit(self, X, y):
        floor = log_floor(y)
        self.log_ = floor is not None
        target = floored_log(y, floor) if self.log_ else y
        self.estimator_ = self._estimator().fit(X, target)
        self.bounds_ = one_range_width_around(target)
        return self

    def _predict(self, X):
        predicted = self.estimator_.predict(X)
        return np.exp(np.clip(predicted, *self.bounds_)) if self.log_ else predicted
