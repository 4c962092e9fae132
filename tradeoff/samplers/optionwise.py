"""The default, then each option changed alone: bools flipped, numbers at their bounds, categories at each other value.

Changes that break a constraint are left out.
"""

from __future__ import annotations

from tradeoff.samplers._valid import levels, valid_or_snapped
from tradeoff.samplers.base import Design
from tradeoff.space import Space


class Optionwise(Design):
    def design(self, space: Space, budget: int) -> list[dict]:
        default = space.default()
        designs = [default]
        for option in space.options:
            for value in levels(option):
                if value != default[option.name]:
                    designs.append({**default, option.name: value})
        return valid_or_snapped(space, designs)
