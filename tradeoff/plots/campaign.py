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

