"""Distance-based sampling (Kaltenecker et al., ICSE'19): a uniform distance from the default, then a configuration at it.

The distance d (the number of options enabled) is drawn uniformly among the feasible ones, then
a random valid configuration at exactly that distance; repeat. It spreads the sample over the
whole space instead of piling it up around the middle, as uniform random sampling does.
"""

from __future__ import annotations

from tradeoff.samplers._valid import Drawer, highest, lowest, unique
from tradeoff.samplers.base import Design
from tradeoff.space import Space, config_id


class Distance(Design):
    diversified = False  # prefer the options enabled least often so far (diversified-distance)

    def design(self, space: Space, budget: int) -> list[dict]:
        drawer = Drawer(space, self.seed)
        distances = drawer.feasible_distances()
        counts = {o.name: 0 for o in space.options}
        seen, chosen, misses = set(), [], 0
        while len(chosen) < budget and distances and misses < 20 * budget:
            distance = int(drawer.rng.choice(distances))
            prefer = None
            if self.diversified:  # the least used options first, ties broken at random
                order = sorted(counts, key=lambda n: (counts[n], drawer.rng.random()))
                prefer = {n: highest(space[n]) if n in order[:distance] else lowest(space[n]) for n in order}
            config = drawer.draw(prefer=prefer, distance=distance)
            key = None if config is None else config_id(config)
            if config is None or key in seen:
                misses += 1
                if config is None:
                    distances.remove(distance)
                continue
            seen.add(key)
            chosen.append(config)
            for o in space.options:
                counts[o.name] += int(config[o.name] != lowest(o))
        return unique(chosen)
