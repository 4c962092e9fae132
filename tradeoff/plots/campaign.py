"""A campaign's pictures: the distribution of a metric and the options' influence on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tradeoff.plots.common import plt, save


def distribution(values: np.ndarray, metric: str, path: Path) -> Path:
    """Histogram of a metric: performance distributions are often multi-modal with long tails."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(values, bins=min(40, max(5, len(values) // 3)), color="#4477aa", edgecolor="white")
    ax.set_xlabel(metric)
    ax.set_ylabel("configurations")
    ax.set_title(f"Distribution of {metric} ({len(values)} configurations)")
    return save(fig, path)


def influences(shares: pd.Series, title: str, path: Path, top: int = 15) -> Path:
    shown = shares.head(top)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(shown) + 1.2))
    ax.barh(shown.index.astype(str), shown.to_numpy(), color="#228833")
    ax.set_xlabel("share of influence")
    ax.set_title(title)
    return save(fig, path)



STATUS_COLOURS = {"ok": "#228833", "failed": "#cc3311", "timeout": "#ee7733", "invalid": "#aaaaaa"}


def statuses(counts: pd.DataFrame, title: str, path: Path) -> Path:
    """Stacked bars of measurements per node (rows of ``counts``) and status (its columns)."""
    fig, ax = plt.subplots(figsize=(5, 0.35 * len(counts) + 1.4))
    left = np.zeros(len(counts))
    for status in counts.columns:
        ax.barh(counts.index.astype(str), counts[status], left=left, label=status, color=STATUS_COLOURS.get(status, "#4477aa"))
        left += counts[status].to_numpy()
    ax.set_xlabel("measurements")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return save(fig, path)
