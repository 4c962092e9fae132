"""How accurate a model is, and which options drive it: MAPE, cross-validated MAPE, influences."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import RegressorMixin
from sklearn.inspection import permutation_importance
from sklearn.model_selection import KFold, cross_val_predict

from tradeoff.errors import TradeoffError
from tradeoff.space import Space


# What a model's cross-validated error lets a user do with it: the CLI, MLflow's descriptions and the report say it
# in these words only.
ACT_MAPE, RANK_SPEARMAN = 10.0, 0.8


def verdict(error: float, spearman: float | None) -> str:
    """Plain words on whether a model is good enough to act on, to rank configurations, or neither (and what to do)."""
    if error <= ACT_MAPE:
        return f"accurate enough to act on: predictions are off by {error:.1f}% on average"
    if spearman is not None and spearman >= RANK_SPEARMAN:
        return (f"good enough to rank configurations (Spearman {spearman:.2f}), not to predict values "
                f"(off by {error:.0f}% on average)")
    ranks = f", Spearman {spearman:.2f}" if spearman is not None else ""
    return (f"not accurate enough to act on (off by {error:.0f}%{ranks}): measure more configurations, "
            "or repetitions where the metric is noisy")


def accuracy_words(error: float | None, spearman: float | None, configurations: int) -> str:
    """A model's cross-validated MAPE and its verdict, for a run's description (too few configurations: no model)."""
    if error is None:
        return f"not fitted: {configurations} configurations are too few; raise --budget"
    return f"cross-validated MAPE {error:.1f}%: {verdict(error, spearman)}."


def mape(measured: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute percentage error (%), the mean relative error of the literature."""
    measured, predicted = np.asarray(measured, float), np.asarray(predicted, float)
    nonzero = measured != 0
    if not nonzero.any():
        raise TradeoffError("every measured value is 0; MAPE is undefined for this metric")
    return float(np.mean(np.abs(measured[nonzero] - predicted[nonzero]) / np.abs(measured[nonzero])) * 100)


def cross_validated(model: RegressorMixin, X: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Each row's prediction by the model fitted on the other folds."""
    folds = min(folds, len(y))
    if folds < 2:
        raise TradeoffError(f"cross-validation needs at least 2 successful measurements, got {len(y)}")
    return cross_val_predict(model, X, y, cv=KFold(folds, shuffle=True, random_state=seed))


def cross_validated_mape(model: RegressorMixin, X: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    return mape(y, cross_validated(model, X, y, folds, seed))


def rank_correlation(measured: np.ndarray, predicted: np.ndarray) -> float:
    """Spearman's correlation: how well predictions order configurations (what choosing one needs)."""
    if np.ptp(measured) == 0 or np.ptp(predicted) == 0:
        return float("nan")
    return float(stats.spearmanr(measured, predicted)[0])


def option_influences(model: RegressorMixin, space: Space, X: np.ndarray, y: np.ndarray, seed: int = 0) -> pd.Series:
    """How much each option drives the prediction, summed over an option's encoded columns, as a
    share of the total (largest first). A model that knows its influences says them itself
    (``influences(feature_names)``: the influence model's terms, the GP's inverse lengthscales);
    for any other, permutation importance on (X, y) measures them, scored by the model's own
    ``scoring`` where it has one (cart: the criterion its grid search tuned on), else by R²."""
    inner = model if hasattr(model, "influences") else getattr(model, "chosen_model", model)
    if hasattr(inner, "influences"):
        per_feature = inner.influences(space.feature_names()).clip(lower=0)
    else:
        result = permutation_importance(model, X, y, scoring=getattr(model, "scoring", None), n_repeats=5, random_state=seed)
        per_feature = pd.Series(np.clip(result.importances_mean, 0, None), index=space.feature_names())
    per_option = per_feature.groupby([name.split("=")[0] for name in per_feature.index], sort=False).sum()
    total = per_option.sum()
    return (per_option / total if total > 0 else per_option).sort_values(ascending=False)
