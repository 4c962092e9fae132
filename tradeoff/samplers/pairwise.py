"""A t=2 covering array (allpairspy): every pair of option levels appears at least once.

Numeric options take three levels: lower bound, default, upper bound.
"""

from __future__ import annotations

import random

from allpairspy import AllPairs

from tradeoff.samplers._valid import levels, valid_or_snapped
from tradeoff.samplers.base import Design
from tradeoff.space import Space


class Pairwise(Design):
    def design(self, space: Space, budget: int) -> list[dict]:
        names = space.names
        level_lists = [list(levels(o)) for o in space.options]
        if len(level_lists) == 1:
            designs = [{names[0]: v} for v in level_lists[0]]
        else:
            rng = random.Random(self.seed)
            for column in level_lists:  # the seed decides the order in which allpairspy meets the values
                rng.shuffle(column)
            rows = AllPairs(level_lists, filter_func=lambda row: not space.violates(dict(zip(names, row))))
            designs = _cover_missing_pairs(space, [dict(zip(names, row)) for row in rows])
        return valid_or_snapped(space, designs)


def _cover_missing_pairs(space: Space, designs: list[dict]) -> list[dict]:
    """allpairspy can miss pairs when a filter prunes its greedy search: add one row per missed
    valid pair, built from the default or an existing row with the two values set."""
    options = space.options
    for i, a in enumerate(options):
        for b in options[i + 1:]:
            seen = {(d[a.name], d[b.name]) for d in designs}
            for va in levels(a):
                for vb in levels(b):
                    if (va, vb) in seen or space.violates({a.name: va, b.name: vb}):
                        continue
                    for base in [space.default(), *designs]:
                        candidate = {**base, a.name: va, b.name: vb}
                        if space.is_valid(candidate):
                            designs.append(candidate)
                            break
    return designs
