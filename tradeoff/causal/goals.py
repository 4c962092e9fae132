"""Goals: what a fixed configuration satisfies, e.g. ``latency <= 12``.

Several goals (latency and energy) must hold together, so a fix never trades one fault for another.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Iterable

import numpy as np

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
