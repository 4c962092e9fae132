"""The opposite of option-wise: every option at its highest value (bools on), then each option alone at its lowest.

Where that breaks a constraint, the SAT solver finds the nearest valid configuration (the others
kept high as far as possible).
"""

from __future__ import annotations

from tradeoff.samplers._valid import Drawer, highest, lowest
from tradeoff.samplers.base import Design
from tradeoff.space import Space


class NegativeOptionwise(Design):
    def design(self, space: Space, budget: int) -> list[dict]:
        drawer = Drawer(space, self.seed)
        high = {o.name: highest(o) for o in space.options}
        designs = [drawer.draw(prefer=high)]
        for option in space.options:
            designs.append(drawer.draw({option.name: lowest(option)}, prefer=high))
        return [d for d in designs if d is not None]
