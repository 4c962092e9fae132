"""More samplers: t-wise coverage, negative option-wise, classical designs of experiments for
numeric options (pyDOE3) and distance-based sampling (Kaltenecker et al., ICSE'19).

All draw valid configurations through ``tradeoff.draw.Drawer`` (a SAT solver for boolean
constraints), so every configuration they return satisfies the space's constraints.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyDOE3

from tradeoff.draw import Drawer, levels, lowest
from tradeoff.errors import TradeoffError
from tradeoff.sampling import sampler, snap_to_population, unique
from tradeoff.space import Option, Space, config_id

CANDIDATES_PER_ROW = 20


@sampler("twise")
def three_wise(space: Space, budget: int, seed: int) -> list[dict]:
    """A t=3 covering array: every combination of levels of every three options that a valid
    configuration can have appears at least once (or as many as the budget allows)."""
    return covering_array(space, 3, budget, seed)


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


@sampler("negative-optionwise")
def negative_optionwise(space: Space, budget: int, seed: int) -> list[dict]:
    """The opposite of option-wise: start with every option at its highest value (bools on),
    then set each option alone to its lowest value. Where that breaks a constraint, the SAT
    solver finds the nearest valid configuration (the others kept high as far as possible)."""
    drawer = Drawer(space, seed)
    highest = {o.name: _highest(o) for o in space.options}
    designs = [drawer.draw(prefer=highest)]
    for option in space.options:
        designs.append(drawer.draw({option.name: lowest(option)}, prefer=highest))
    return [d for d in designs if d is not None]


def _highest(option: Option):
    return option.values[-1] if option.type == "categorical" else True if option.type == "bool" else option.upper


@sampler("plackett-burman")
def plackett_burman(space: Space, budget: int, seed: int) -> list[dict]:
    """A two-level Plackett-Burman screening design over every option (lowest/highest value)."""
    return _coded_design(space, pyDOE3.pbdesign(len(space.options)), space.options, seed)


@sampler("box-behnken")
def box_behnken(space: Space, budget: int, seed: int) -> list[dict]:
    """A Box-Behnken design (three levels) over the numeric options; others drawn at random."""
    numeric = _numeric(space, 3, "box-behnken")
    return _coded_design(space, pyDOE3.bbdesign(len(numeric), center=1), numeric, seed)


@sampler("central-composite")
def central_composite(space: Space, budget: int, seed: int) -> list[dict]:
    """A face-centred central composite design over the numeric options; others drawn at random."""
    numeric = _numeric(space, 2, "central-composite")
    return _coded_design(space, pyDOE3.ccdesign(len(numeric), center=(1, 0), face="ccf"), numeric, seed)


@sampler("latin-hypercube")
def latin_hypercube(space: Space, budget: int, seed: int) -> list[dict]:
    """A maximin Latin hypercube over every option: each option's range cut into `budget`
    strata, each stratum used once (bools and categories take the value of their stratum)."""
    unit = pyDOE3.lhs(len(space.options), samples=budget, criterion="maximin", iterations=20, seed=seed)
    return _coded_design(space, unit * 2 - 1, space.options, seed, shuffle=False)


def _numeric(space: Space, at_least: int, name: str) -> list[Option]:
    numeric = [o for o in space.options if o.type in ("int", "float")]
    if len(numeric) < at_least:
        raise TradeoffError(f"the {name} design needs at least {at_least} numeric options, the space has {len(numeric)}; use latin-hypercube or twise")
    return numeric


def _coded_design(space: Space, coded: np.ndarray, factors: list[Option], seed: int, shuffle: bool = True) -> list[dict]:
    """Rows of a design in coded units [-1, 1] as valid configurations: values of the factors
    fixed, the other options drawn at random. Where no valid configuration has the row's values,
    its numbers stay fixed and its bools become the solver's preferred values.
    The seed shuffles the rows, so that a budget below the design's size keeps a random part."""
    drawer = Drawer(space, seed)
    rows = drawer.rng.permutation(len(coded)) if shuffle else np.arange(len(coded))
    designs = []
    for row in coded[rows]:
        fixed = {o.name: _decode(o, c) for o, c in zip(factors, row)}
        config = fixed
        if space.population is None:  # where the row breaks a constraint, its bools become preferences
            config = drawer.draw(fixed) or drawer.draw({n: v for n, v in fixed.items() if space[n].type != "bool"}, prefer=fixed)
        if config is not None:
            designs.append(config)
    if space.population is not None:
        return snap_to_population(space, [{**space.default(), **d} for d in designs])
    return designs


def _decode(option: Option, coded: float):
    share = (float(coded) + 1) / 2  # in [0, 1]
    if option.type in ("bool", "categorical"):
        domain = option.domain
        return domain[min(int(share * len(domain)), len(domain) - 1)]
    if option.log and option.lower > 0:
        value = math.exp(math.log(option.lower) + share * (math.log(option.upper) - math.log(option.lower)))
    else:
        value = option.lower + share * (option.upper - option.lower)
    return int(round(value)) if option.type == "int" else value


@sampler("distance")
def distance_based(space: Space, budget: int, seed: int) -> list[dict]:
    """Distance-based sampling (Kaltenecker et al., ICSE'19): draw a distance d from the default
    (the number of options enabled) uniformly among the feasible ones, then a random valid
    configuration at exactly that distance; repeat. It spreads the sample over the whole space
    instead of piling it up around the middle, as uniform random sampling does."""
    return _distance_sample(space, budget, seed, diversified=False)


@sampler("diversified-distance")
def diversified_distance(space: Space, budget: int, seed: int) -> list[dict]:
    """Distance-based sampling that, at each distance, prefers the options chosen least often
    so far, so that every option is enabled about equally often in the sample."""
    return _distance_sample(space, budget, seed, diversified=True)


def _distance_sample(space: Space, budget: int, seed: int, diversified: bool) -> list[dict]:
    drawer = Drawer(space, seed)
    distances = drawer.feasible_distances()
    counts = {o.name: 0 for o in space.options}
    seen, chosen, misses = set(), [], 0
    while len(chosen) < budget and distances and misses < 20 * budget:
        distance = int(drawer.rng.choice(distances))
        prefer = None
        if diversified:  # the least used options first, ties broken at random
            order = sorted(counts, key=lambda n: (counts[n], drawer.rng.random()))
            prefer = {n: _highest(space[n]) if n in order[:distance] else lowest(space[n]) for n in order}
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
