"""An optimisation's picture: the best measured value after each configuration (convergence)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tradeoff.plots.common import plt, save


def convergence(best: np.ndarray, values: np.ndarray, metric: str, goal: str, method: str, path: Path) -> Path:
    """Every measured value (dots) and the best so far (a step line) against the measurements."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(1, len(values) + 1)
    ax.scatter(x, values, s=12, color="#bbbbbb", label="measured")
    ax.step(x, best, where="post", color="#4477aa", label="best so far")
    if np.all(values[~np.isnan(values)] > 0):
        ax.set_yscale("log")
    ax.set_xlabel("configurations measured")
    ax.set_ylabel(f"{metric} ({goal})")
    ax.set_title(f"{method}: best {metric} {best[-1]:.4g} after {len(values)} configurations")
    ax.legend()
    return save(fig, path)
