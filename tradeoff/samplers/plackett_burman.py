"""A two-level Plackett-Burman screening design over every option (lowest/highest value)."""

from __future__ import annotations

import pyDOE3

from tradeoff.samplers._coded import coded_design
from tradeoff.samplers.base import Design
from tradeoff.space import Space


class PlackettBurman(Design):
    def design(self, space: Space, budget: int) -> list[dict]:
        return coded_design(space, pyDOE3.pbdesign(len(space.options)), space.options, self.seed)
