"""A t=3 covering array: every combination of levels of every three options that a valid configuration can have.

Or as many of them as the budget allows.
"""

from __future__ import annotations

import itertools

import numpy as np

from tradeoff.samplers._valid import Drawer, levels
from tradeoff.samplers.base import Design
from tradeoff.space import Space

CANDIDATES_PER_ROW = 20


class Twise(Design):
    strength = 3

    def design(self, space: Space, budget: int) -> list[dict]:
        return covering_array(space, self.strength, budget, self.seed)


def covering_array(space: Space, t: int, budget: int, seed: int) -> list[dict]:
    """Greedy covering array (AETG-style). Each row is the best of a few candidates, each built
    around a not-yet-covered t-tuple of levels and completed at random by the SAT solver; the
    best candidate covers the most uncovered tuples. A tuple that no valid configuration has is
    dropped the first time the solver proves it impossible."""
    drawer = Drawer(space, seed)
    level_sets = [levels(o) for o in space.options]
    index_of = [{value: i for i, value in enumerate(values)} for values in level_sets]
    t = min(t, len(space.options))
    tuples = np.array(list(itertools.combinations(range(len(space.options)), t)))
    width = max(len(values) for values in level_sets)
    # covered[i, code]: tuple i of options with levels encoded as a base-`width` number
    covered = np.ones((len(tuples), width ** t), dtype=bool)
    for i, options in enumerate(tuples):
        for combination in itertools.product(*(range(len(level_sets[o])) for o in options)):
            covered[i, _code(combination, width)] = False
    weights = width ** np.arange(t - 1, -1, -1)
    chosen = []
    while len(chosen) < budget and not covered.all():
        best, best_gain = None, 0
        for _ in range(CANDIDATES_PER_ROW):
            row, code = _random_uncovered(covered, drawer.rng)
            combination = np.unravel_index(code, (width,) * t)
            fixed = {space.options[o].name: level_sets[o][level] for o, level in zip(tuples[row], combination)}
            config = drawer.draw(fixed, at_levels=True)
            if config is None:
                covered[row, code] = True  # no valid configuration has these levels
                if covered.all():
                    break
                continue
            codes = _codes(space, config, index_of, tuples, weights)
            gain = int((~covered[np.arange(len(tuples)), codes] & (codes >= 0)).sum())
            if gain > best_gain:
                best, best_gain = (config, codes), gain
        if best is None:
            continue
        config, codes = best
        known = codes >= 0
        covered[np.arange(len(tuples))[known], codes[known]] = True
        chosen.append(config)
    return chosen


def _code(combination, width: int) -> int:
    return int(sum(level * width ** (len(combination) - 1 - k) for k, level in enumerate(combination)))


def _random_uncovered(covered: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    rows, codes = np.nonzero(~covered)
    pick = int(rng.integers(len(rows)))
    return int(rows[pick]), int(codes[pick])


def _codes(space: Space, config: dict, index_of, tuples: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each tuple's level code in this configuration (-1 where a value is no design level)."""
    position = np.array([index_of[i].get(config[o.name], -1) for i, o in enumerate(space.options)])
    picked = position[tuples]
    return np.where((picked >= 0).all(axis=1), picked @ weights, -1)
