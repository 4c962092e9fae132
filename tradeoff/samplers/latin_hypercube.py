"""A maximin Latin hypercube over every option: each option's range cut into `budget` strata, each used once.

Bools and categories take the value of their stratum.
"""

from __future__ import annotations

import pyDOE3

from tradeoff.samplers._coded import coded_design
from tradeoff.samplers.base import Design
from tradeoff.space import Space


class LatinHypercube(Design):
    def design(self, space: Space, budget: int) -> list[dict]:
        unit = pyDOE3.lhs(len(space.options), samples=budget, criterion="maximin", iterations=20, seed=self.seed)
        return coded_design(space, unit * 2 - 1, space.options, self.seed, shuffle=False)
