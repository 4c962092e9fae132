"""Goals: what a fixed configuration satisfies, e.g. ``latency <= 12``.

Several goals (latency and energy) must hold together, so a fix never trades one fault for another.
``check_reachable`` refuses, before anything is measured, a goal that no configuration can meet:
a negative bound on a metric whose unit cannot be negative, or, on a replay, a goal that no
recorded configuration meets.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from tradeoff.errors import TradeoffError

_COMPARISONS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}


@dataclass(frozen=True)
class Goal:
    """``metric op threshold``, e.g. ``latency <= 12``: what a fixed configuration satisfies."""

    metric: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Goal:
        match = re.fullmatch(r"\s*([\w.\-]+)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*", text)
        if not match:
            raise TradeoffError(f"cannot read goal {text!r}; write it as 'METRIC <= NUMBER' (or <, >=, >)")
        return cls(match.group(1), match.group(2), float(match.group(3)))

    def holds(self, value) -> np.ndarray | bool:
        return _COMPARISONS[self.op](value, self.threshold)

    @property
    def minimize(self) -> bool:
        return self.op in ("<=", "<")

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


def parse_goals(texts: Iterable[str]) -> list[Goal]:
    """Every goal of the command line, read by ``Goal.parse`` (one-line error for the first bad one)."""
    return [Goal.parse(text) for text in texts]


def goals_hold(metrics: dict, goals: Iterable[Goal]) -> bool:
    return all(g.metric in metrics and metrics[g.metric] is not None and bool(g.holds(float(metrics[g.metric]))) for g in goals)


NONNEGATIVE_UNITS = {"s", "ms", "us", "µs", "ns", "J", "mJ", "W", "bytes", "B", "KB", "MB", "count", "%"}


def check_reachable(goals: Iterable[Goal], units: dict[str, str], recorded: pd.DataFrame | None = None) -> None:
    """A one-line error for a goal that cannot hold (module docstring); ``recorded``: a replay's
    metrics, one column per metric."""
    goals = list(goals)
    for goal in goals:
        unit = units.get(goal.metric, "")
        if unit in NONNEGATIVE_UNITS and goal.minimize and (goal.threshold < 0 or goal.threshold == 0 and goal.op == "<"):
            raise TradeoffError(f"goal '{goal}' can never hold: {goal.metric} (in {unit}) is never negative; give a bound above 0")
    if recorded is not None and len(recorded):
        meets = np.ones(len(recorded), dtype=bool)
        for goal in goals:
            meets &= np.asarray(goal.holds(recorded[goal.metric].to_numpy(float)), dtype=bool)
        if not meets.any():
            best = {g.metric: recorded[g.metric].min() if g.minimize else recorded[g.metric].max() for g in goals}
            raise TradeoffError(f"no recorded configuration meets {' and '.join(map(str, goals))} (best recorded: "
                                f"{', '.join(f'{k} {v:g}' for k, v in best.items())}); relax the goal")
