"""Classical designs of experiments (pyDOE3) as valid configurations: their rows come in coded units.

Plackett-Burman, Box-Behnken, central composite and Latin hypercube share this step: a row's
coded values in [-1, 1] become the factors' values, the other options are drawn at random.
"""

from __future__ import annotations

import math

import numpy as np

from tradeoff.errors import TradeoffError
from tradeoff.samplers._valid import Drawer, snap_to_population
from tradeoff.space import Option, Space


def numeric(space: Space, at_least: int, name: str) -> list[Option]:
    """The numeric options a response-surface design varies, refused where there are too few."""
    found = [o for o in space.options if o.type in ("int", "float")]
    if len(found) < at_least:
        raise TradeoffError(f"the {name} design needs at least {at_least} numeric options, the space has {len(found)}; use latin-hypercube or twise")
    return found


def coded_design(space: Space, coded: np.ndarray, factors: list[Option], seed: int, shuffle: bool = True) -> list[dict]:
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
