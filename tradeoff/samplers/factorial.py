"""Every valid configuration of a small finite space."""

from __future__ import annotations

from tradeoff.errors import TradeoffError
from tradeoff.samplers.base import Design
from tradeoff.space import Space


class Factorial(Design):
    def design(self, space: Space, budget: int) -> list[dict]:
        configs = space.enumerate()
        if len(configs) > budget:
            raise TradeoffError(f"the full factorial design has {len(configs)} configurations, more than the budget {budget}; raise --budget or use another sampler")
        return configs
