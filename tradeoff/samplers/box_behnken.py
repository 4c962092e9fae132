"""A Box-Behnken design (three levels) over the numeric options; others drawn at random."""

from __future__ import annotations

import pyDOE3

from tradeoff.samplers._coded import coded_design, numeric
from tradeoff.samplers.base import Design
from tradeoff.space import Space


class BoxBehnken(Design):
    def design(self, space: Space, budget: int) -> list[dict]:
        factors = numeric(space, 3, "box-behnken")
        return coded_design(space, pyDOE3.bbdesign(len(factors), center=1), factors, self.seed)
