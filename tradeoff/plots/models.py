"""A model's pictures: learning curves and cross-validated predictions against measurements."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tradeoff.plots.common import plt, save


def learning_curve(summary: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Mean MRE against sample size, one line per learner, the 95% margin as error bars
    (``summary``: the table of ``tradeoff.models.evaluation.summarise``)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, part in summary.groupby("learner", sort=False):
        ax.errorbar(part["size"], part["mean"], yerr=part["margin"], marker="o", capsize=3, label=name)
    ax.set(xlabel="training sample size", ylabel="mean relative error (%)", title=title)
    ax.set_yscale("log")
    ax.legend()
    return save(fig, Path(path))


def predicted_vs_measured(measured: np.ndarray, predicted: np.ndarray, metric: str, path: str | Path) -> Path:
    """Cross-validated predictions against measurements; the diagonal is a perfect model."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(measured, predicted, s=10, alpha=0.6)
    low, high = float(min(measured.min(), predicted.min())), float(max(measured.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="grey", linewidth=1)
    ax.set(xlabel=f"measured {metric}", ylabel=f"predicted {metric}", title="cross-validated predictions")
    return save(fig, Path(path))
