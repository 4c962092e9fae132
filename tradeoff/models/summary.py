"""A campaign's first model: a model of one metric, its accuracy, the influential options, and files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tradeoff.measurements import METRIC_PREFIX, OPTION_PREFIX, aggregate
from tradeoff.models.accuracy import cross_validated, mape as mean_error, option_influences, rank_correlation
from tradeoff.models.learners.base import make_learner
from tradeoff.plots import campaign as plots
from tradeoff.space import Space

MIN_ROWS_FOR_MODEL = 5


@dataclass
class Summary:
    metric: str
    measured: int  # rows, repetitions included
    failed: int
    configurations: int  # configurations with at least one successful repetition
    mape: float | None  # cross-validated, %; None when too few configurations
    influences: pd.Series | None
    best: pd.DataFrame  # the best configurations for the metric's goal
    learner: str
    spearman: float | None = None  # of the cross-validated predictions: whether the model ranks configurations
    model: object | None = None  # the fitted model (None: too few configurations)


def _training(frame: pd.DataFrame, space: Space, metric: str) -> tuple[pd.DataFrame, np.ndarray | None, np.ndarray | None]:
    """The successful configurations, and (when there are enough for a model) their encoding and metric."""
    table = aggregate(frame)
    ok = table[(table["status"] == "ok") & table[METRIC_PREFIX + metric].notna()] if len(table) else table
    if len(ok) < MIN_ROWS_FOR_MODEL:
        return ok, None, None
    return ok, space.encode(ok.rename(columns=lambda c: c.removeprefix(OPTION_PREFIX))), ok[METRIC_PREFIX + metric].to_numpy(float)


def cross_validated_error(frame: pd.DataFrame, space: Space, metric: str, learner: str = "cart", seed: int = 0) -> float | None:
    """The summary's MAPE alone (None: too few configurations), without the fit and influences a summary adds."""
    _, X, y = _training(frame, space, metric)
    return None if X is None else mean_error(y, cross_validated(make_learner(learner, seed), X, y, seed=seed))


@dataclass
class Fit:
    """A learner on some configurations: its cross-validated predictions, its fit on all of them, the options' influence."""
    predicted: np.ndarray
    model: object
    influences: pd.Series


def fit_learner(X: np.ndarray, y: np.ndarray, space: Space, learner: str, seed: int = 0, folds: int = 5) -> Fit:
    """What a campaign's summary and the study report show of a model."""
    predicted = cross_validated(make_learner(learner, seed), X, y, folds, seed)
    model = make_learner(learner, seed).fit(X, y)
    return Fit(predicted, model, option_influences(model, space, X, y, seed))


def summarise(frame: pd.DataFrame, space: Space, metric: str, goal: str = "min", learner: str = "cart",
              seed: int = 0) -> Summary:
    ok, X, y = _training(frame, space, metric)
    mape, spearman, influences, model = None, None, None, None
    if X is not None:
        fitted = fit_learner(X, y, space, learner, seed)
        mape, spearman = mean_error(y, fitted.predicted), rank_correlation(y, fitted.predicted)
        model, influences = fitted.model, fitted.influences
    best = ok.sort_values(METRIC_PREFIX + metric, ascending=goal == "min").head(5) if len(ok) else ok
    return Summary(metric, len(frame), int((frame["status"] != "ok").sum()), len(ok), mape, influences, best, learner, spearman,
                   model=model)


def write_report(summary: Summary, frame: pd.DataFrame, folder: Path) -> list[Path]:
    """summary.csv (one row per configuration), influences.csv and the two plots."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / "summary.csv"]
    aggregate(frame).to_csv(files[0], index=False)
    values = frame.loc[frame["status"] == "ok", METRIC_PREFIX + summary.metric].dropna().to_numpy(float)
    if len(values):
        files.append(plots.distribution(values, summary.metric, folder / "distribution.png"))
    if summary.influences is not None:
        summary.influences.rename("share").to_csv(folder / "influences.csv", index_label="option")
        files.append(folder / "influences.csv")
        files.append(plots.influences(summary.influences, f"Influence on {summary.metric} ({summary.learner})", folder / "influences.png"))
    return files


def relative_spread(values: np.ndarray) -> float:
    """max/min of a metric: how much configuration matters."""
    values = values[np.isfinite(values) & (values > 0)]
    return float(values.max() / values.min()) if len(values) else float("nan")
