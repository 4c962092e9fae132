"""Samplers: which configurations to measure.

Each sampler takes a space, a budget and a seed and returns valid configurations (dicts),
deterministically for a given seed. On a space with a population (a replay system), a design
is snapped to the nearest recorded configurations, so every sampler works on recorded data too.
"""

from __future__ import annotations

import random as _random
from typing import Callable

import numpy as np
from allpairspy import AllPairs

from tradeoff.errors import TradeoffError
from tradeoff.space import Option, Space, config_id

Sampler = Callable[[Space, int, int], list[dict]]
SAMPLERS: dict[str, Sampler] = {}
# Active learning is no design: it chooses from measurements (tradeoff.active, the campaign flow).
ACTIVE = "active"


def sampler(name: str):
    def register(function: Sampler) -> Sampler:
        SAMPLERS[name] = function
        return function
    return register


def sample(space: Space, name: str, budget: int, seed: int = 0) -> list[dict]:
    if name == ACTIVE:
        raise TradeoffError("the active sampler chooses each batch from the measurements before it, so it cannot "
                            "print configurations without measuring; run 'tradeoff campaign SYSTEM --sampler active'")
    if name not in SAMPLERS:
        raise TradeoffError(f"unknown sampler {name!r}; use one of {', '.join(sorted(SAMPLERS))}")
    if budget <= 0:
        raise TradeoffError(f"budget must be a positive number of configurations, not {budget}")
    return unique(SAMPLERS[name](space, budget, seed))[:budget]


def unique(configs: list[dict]) -> list[dict]:
    seen, kept = set(), []
    for config in configs:
        key = config_id(config)
        if key not in seen:
            seen.add(key)
            kept.append(config)
    return kept


@sampler("random")
def random_sample(space: Space, budget: int, seed: int) -> list[dict]:
    """Uniform over valid configurations (or over the recorded population)."""
    return space.sample_uniform(budget, seed)


@sampler("optionwise")
def optionwise(space: Space, budget: int, seed: int) -> list[dict]:
    """The default, then each option changed alone: bools flipped, numbers at their bounds,
    categories at each other value. Changes that break a constraint are left out."""
    default = space.default()
    designs = [default]
    for option in space.options:
        for value in _other_levels(option, default[option.name]):
            designs.append({**default, option.name: value})
    return _valid_or_snapped(space, designs)


@sampler("pairwise")
def pairwise(space: Space, budget: int, seed: int) -> list[dict]:
    """A t=2 covering array (allpairspy): every pair of option levels appears at least once.
    Numeric options take three levels: lower bound, default, upper bound."""
    names = space.names
    levels = [list(_levels(o)) for o in space.options]
    if len(levels) == 1:
        designs = [{names[0]: v} for v in levels[0]]
    else:
        rng = _random.Random(seed)
        for column in levels:  # the seed decides the order in which allpairspy meets the values
            rng.shuffle(column)
        rows = AllPairs(levels, filter_func=lambda row: not space.violates(dict(zip(names, row))))
        designs = _cover_missing_pairs(space, [dict(zip(names, row)) for row in rows])
    return _valid_or_snapped(space, designs)


def _cover_missing_pairs(space: Space, designs: list[dict]) -> list[dict]:
    """allpairspy can miss pairs when a filter prunes its greedy search: add one row per missed
    valid pair, built from the default or an existing row with the two values set."""
    options = space.options
    for i, a in enumerate(options):
        for b in options[i + 1:]:
            seen = {(d[a.name], d[b.name]) for d in designs}
            for va in _levels(a):
                for vb in _levels(b):
                    if (va, vb) in seen or space.violates({a.name: va, b.name: vb}):
                        continue
                    for base in [space.default(), *designs]:
                        candidate = {**base, a.name: va, b.name: vb}
                        if space.is_valid(candidate):
                            designs.append(candidate)
                            break
    return designs


@sampler("factorial")
def factorial(space: Space, budget: int, seed: int) -> list[dict]:
    """Every valid configuration of a small finite space, in a seeded order."""
    configs = space.enumerate()
    if len(configs) > budget:
        raise TradeoffError(f"the full factorial design has {len(configs)} configurations, more than the budget {budget}; raise --budget or use another sampler")
    return configs


def _levels(option: Option) -> tuple:
    if option.type in ("bool", "categorical"):
        return option.domain
    values = [option.lower, option.default, option.upper]
    return tuple(dict.fromkeys(int(v) if option.type == "int" else float(v) for v in values))


def _other_levels(option: Option, current) -> list:
    return [v for v in _levels(option) if v != current]


def _valid_or_snapped(space: Space, designs: list[dict]) -> list[dict]:
    if space.population is not None:
        return snap_to_population(space, designs)
    return [space.validate(d) for d in designs if space.is_valid(d)]


def snap_to_population(space: Space, designs: list[dict]) -> list[dict]:
    """Each design replaced by its nearest recorded configuration not chosen yet (encoded L1 distance)."""
    population = space.population
    encoded = space.encode(population)
    taken = np.zeros(len(population), dtype=bool)
    chosen = []
    for row in space.encode(space.to_frame(designs)):
        distance = np.abs(encoded - row).sum(axis=1)
        distance[taken] = np.inf
        index = int(np.argmin(distance))
        if np.isinf(distance[index]):
            break
        taken[index] = True
        chosen.append(population.iloc[index].to_dict())
    return chosen


# Samplers that live in their own modules register themselves on import.
from tradeoff import designs  # noqa: E402,F401
from tradeoff import l2s  # noqa: E402,F401
