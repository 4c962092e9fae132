"""An optimisation's pictures: the best measured value after each configuration (convergence), the
Pareto front over every measured point, and the front's hypervolume against measurements and seconds."""

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


def front(table, costs_names: list[tuple[str, str]], front_ids: set[str], feasible, path: Path) -> Path:
    """Every measured configuration on the first two objectives (a third as colour), the infeasible
    ones crossed, the Pareto front highlighted (and, for two objectives, joined in the order of the first)."""
    (x_name, x_goal), (y_name, y_goal) = costs_names[:2]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    x, y = table["metric." + x_name].to_numpy(float), table["metric." + y_name].to_numpy(float)
    on_front = table["config_id"].isin(front_ids).to_numpy()
    colour = table["metric." + costs_names[2][0]].to_numpy(float) if len(costs_names) > 2 else None
    shown = ax.scatter(x[feasible & ~on_front], y[feasible & ~on_front], s=14, c=None if colour is None else colour[feasible & ~on_front],
                       color="#bbbbbb" if colour is None else None, label="measured")
    ax.scatter(x[~feasible], y[~feasible], s=14, marker="x", color="#cc6677", label="violates a constraint")
    order = np.argsort(x[on_front])
    ax.plot(x[on_front][order], y[on_front][order], "o-" if colour is None else "o", color="#4477aa", markersize=6, label=f"Pareto front ({on_front.sum()})")
    if colour is not None:
        fig.colorbar(shown, ax=ax, label=costs_names[2][0])
    for axis, values, setter in ((x, x, ax.set_xscale), (y, y, ax.set_yscale)):
        finite = values[~np.isnan(values)]
        if len(finite) and np.all(finite > 0) and finite.max() / finite.min() > 30:
            setter("log")
    ax.set_xlabel(f"{x_name} ({x_goal})")
    ax.set_ylabel(f"{y_name} ({y_goal})")
    ax.set_title(f"{len(table)} configurations, {on_front.sum()} on the front")
    ax.legend(fontsize=8)
    return save(fig, path)


def hypervolume(curve: np.ndarray, seconds: np.ndarray, method: str, path: Path) -> Path:
    """The front's hypervolume (objectives normalised to the measured range) against measurements and against measurement seconds."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    left.step(np.arange(1, len(curve) + 1), curve, where="post", color="#4477aa")
    left.set_xlabel("configurations measured")
    left.set_ylabel("hypervolume (normalised)")
    right.step(seconds, curve, where="post", color="#4477aa")
    right.set_xlabel("measurement seconds")
    fig.suptitle(f"{method}: hypervolume {curve[-1]:.4g} after {len(curve)} configurations")
    return save(fig, path)
