"""Uniform over valid configurations (or over the recorded population)."""

from __future__ import annotations

from tradeoff.samplers.base import Design
from tradeoff.space import Space


class Random(Design):
    def design(self, space: Space, budget: int) -> list[dict]:
        return space.sample_uniform(budget, self.seed)
