"""A face-centred central composite design over the numeric options; others drawn at random."""

from __future__ import annotations

import pyDOE3

from tradeoff.samplers._coded import coded_design, numeric
from tradeoff.samplers.base import Design
from tradeoff.space import Space


class CentralComposite(Design):
    def design(self, space: Space, budget: int) -> list[dict]:
        factors = numeric(space, 2, "central-composite")
        return coded_design(space, pyDOE3.ccdesign(len(factors), center=(1, 0), face="ccf"), factors, self.seed)
