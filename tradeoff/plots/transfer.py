"""The transfer wing's pictures: what carries over between two environments, and a study's errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tradeoff.plots.common import plt, save

if TYPE_CHECKING:
    from tradeoff.transfer.compare import Comparison, Paired


def scatter(paired: Paired, comparison: Comparison, path: Path) -> Path:
    """The target's values against the source's on their common configurations, with the linear fit."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.scatter(paired.source, paired.target, s=8, alpha=0.5, color="#4477aa")
    line = np.linspace(paired.source.min(), paired.source.max(), 2)
    ax.plot(line, comparison.slope * line + comparison.intercept, color="#cc3311", label=f"linear fit, R² {comparison.r2:.2f}")
    ax.set_xlabel(f"{comparison.metric} in {comparison.source}")
    ax.set_ylabel(f"{comparison.metric} in {comparison.target}")
    ax.set_title(f"Pearson {comparison.pearson:.2f}, Spearman {comparison.spearman:.2f} ({comparison.common} configurations)", fontsize=9)
    ax.legend(fontsize=8)
    return save(fig, path)


def influences(influences: pd.DataFrame, comparison: Comparison, path: Path, top: int = 12) -> Path:
    """Side-by-side bars of the strongest options and interactions in either environment."""
    shown = influences.loc[influences.max(axis=1).nlargest(top).index][::-1]
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(shown) + 1.3))
    rows = np.arange(len(shown))
    ax.barh(rows + 0.2, shown["source"], height=0.4, color="#4477aa", label=comparison.source)
    ax.barh(rows - 0.2, shown["target"], height=0.4, color="#ee7733", label=comparison.target)
    ax.set_yticks(rows, shown.index.astype(str))
    ax.set_xlabel("share of influence (options and pairwise interactions)")
    ax.set_title(f"Influence on {comparison.metric}: top-{comparison.top_k} overlap {comparison.option_overlap:.0%}", fontsize=9)
    ax.legend(fontsize=8)
    return save(fig, path)


def study_errors(errors: dict[str, float], target_measurements: int, evaluation: str, path: Path) -> Path:
    """A transfer study's MAPE per method, target-only in grey."""
    errors = pd.Series(errors).sort_values()
    fig, ax = plt.subplots(figsize=(5.5, 0.5 * len(errors) + 1.3))
    ax.barh(errors.index[::-1], errors.to_numpy()[::-1], color=["#228833" if n != "target-only" else "#bbbbbb" for n in errors.index[::-1]])
    ax.set_xlabel("MAPE (%)")
    ax.set_title(f"{target_measurements} target measurements, {evaluation}", fontsize=9)
    return save(fig, path)
