"""What the single-objective optimisers (``bo``, ``flash``) share: the loop of an adaptive sampler
that minimises the history's metric, its initial design and the candidates it scores.

An optimiser keeps no state between asks: everything is derived from the stored measurements,
so a killed campaign resumed with the same store asks for the same batch and never repeats a
measurement. Each ask returns the stored configurations, then (until ``budget`` configurations
are stored) the missing part of the initial design, else a batch chosen by the surrogate, as
many as there are workers. The metric is turned into a cost to minimise: its log where every
stored value is positive (performance is multiplicative, and the log keeps a few very slow
configurations from flattening the rest), negated where the system declares it a maximum.
Failed configurations are stored (never asked again) but not modelled. Output constraints on
measured metrics (``History.constraints``, e.g. ``throughput >= 9000``) reach ``choose`` as each
successful configuration's slacks (>= 0: met), so the surrogate can model them and avoid what it
predicts infeasible (``bo``: one GP per constraint, ``flash``: one tree), and the incumbent is the
best *feasible* cost. An optimiser that
``transfers`` (``bo``) is warm-started by ``History.warm``: its initial design and its surrogate's
prior come from the source environments (see ``_warm``).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, OPTION_PREFIX, aggregate, options_of
from tradeoff.optimum import parse_bound
from tradeoff.samplers._valid import unique, valid_or_snapped
from tradeoff.samplers.active import stored_configurations
from tradeoff.samplers.base import History, Sampler
from tradeoff.space import Space, config_id

CANDIDATE_POOL = 2000  # candidates scored per ask where the space is too large to score every configuration
FINITE = 20_000  # the most configurations of a finite space scored exhaustively

log = logging.getLogger(__name__)


def initial_size(space: Space) -> int:
    """Configurations of the initial design: one more than the options (a first surrogate sees each
    option vary), at least 5. A budget below it is refused before anything is measured."""
    return max(5, len(space.options) + 1)


def initial_design(space: Space, seed: int) -> list[dict]:
    """A maximin Latin hypercube over the options, as valid configurations: on a recorded population
    each row's strata pick recorded levels and the row snaps to the nearest recorded configuration
    (in level ranks), elsewhere the rows become valid configurations as the latin-hypercube sampler
    makes them; topped up at random where snapping or constraints merged some rows."""
    return [dict(c) for c in _design(space, seed)]


@functools.lru_cache(maxsize=32)  # every ask checks the design; remaking it was a quarter of a FLASH ask's time
def _design(space: Space, seed: int) -> tuple[dict, ...]:
    import pyDOE3

    from tradeoff.samplers._coded import coded_design
    size = initial_size(space)
    unit = pyDOE3.lhs(len(space.options), samples=size, criterion="maximin", iterations=20, seed=seed)
    if space.population is None:
        design = unique(coded_design(space, unit * 2 - 1, space.options, seed, shuffle=False))
    else:
        population = space.population
        recorded, taken, design = features(space, population), np.zeros(len(population), dtype=bool), []
        for row in unit:
            wanted = {o.name: _stratum(o, share, population) for o, share in zip(space.options, row)}
            distance = np.abs(recorded - features(space, space.to_frame([wanted]))[0]).sum(axis=1)
            distance[taken] = np.inf
            index = int(np.argmin(distance))
            if not np.isinf(distance[index]):
                taken[index] = True
                design.append(population.iloc[index].to_dict())
    if len(design) < size:
        design = unique(design + valid_or_snapped(space, space.sample_uniform(2 * size, seed)))
    return tuple(design[:size])


def _stratum(option, share: float, population: pd.DataFrame):
    """The recorded level of an option in the Latin-hypercube stratum ``share`` (in [0, 1))."""
    levels = option.domain if option.type in ("bool", "categorical") else np.sort(population[option.name].unique())
    return levels[min(int(share * len(levels)), len(levels) - 1)]


@functools.lru_cache(maxsize=8)
def _levels(space: Space) -> dict[str, np.ndarray]:
    if space.population is None:
        return {}
    return {o.name: np.sort(space.population[o.name].unique()) for o in space.options if o.type in ("int", "float")}


def features(space: Space, frame: pd.DataFrame) -> np.ndarray:
    """The surrogates' inputs: the space's encoding, except that a recorded population's numeric
    options become the rank of their level in [0, 1]. Recorded levels are often powers of ten
    (Storm's max_spout: 1, 10, ..., 10000), which a linear scale would crowd into one end; BO4CO
    models the level's index for the same reason."""
    X = space.encode(frame)
    names = space.feature_names()
    for name, levels in _levels(space).items():
        X[:, names.index(name)] = np.searchsorted(levels, frame[name].to_numpy(float)) / max(len(levels) - 1, 1)
    return X


def observed(frame: pd.DataFrame, space: Space, metric: str, goal: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """The successful configurations (encoded), their cost to minimise and the aggregated table."""
    table = aggregate(frame)
    column = METRIC_PREFIX + metric
    if column not in table.columns:
        raise TradeoffError(f"the store has no metric {metric!r}; give --objective one of the system's metrics")
    ok = table[(table["status"] == "ok") & table[column].notna()]
    y = ok[column].to_numpy(float)
    cost = np.log(y) if len(y) and np.all(y > 0) else y
    return features(space, options_of(ok, space.names)), cost if goal == "min" else -cost, ok


@dataclass(frozen=True)
class Constraints:
    """The output constraints on the successful configurations: ``slack`` (one column per bound, >= 0:
    met; no columns: unconstrained) and ``met`` (every bound holds, as measured)."""

    slack: np.ndarray
    met: np.ndarray


def output_constraints(ok: pd.DataFrame, texts: tuple[str, ...]) -> Constraints:
    """The output constraints on the successful rows. A row without a bound's metric counts as
    unmet there, its slack the most negative one seen (-1 if none: a GP needs a number)."""
    slack, met = [], np.ones(len(ok), dtype=bool)
    for bound in map(parse_bound, texts):
        column = METRIC_PREFIX + bound.metric
        values = ok[column].to_numpy(float) if column in ok.columns else np.full(len(ok), np.nan)
        gap = bound.slack(values)
        slack.append(np.nan_to_num(gap, nan=np.nanmin(gap) if np.isfinite(gap).any() else -1.0))
        met &= bound.holds(values)
    return Constraints(np.column_stack(slack) if slack else np.zeros((len(ok), 0)), met)


def candidates(space: Space, done: set[str], seed: int) -> list[dict]:
    """The unmeasured configurations to score: every valid one of a finite space (a replay's
    recorded population, a small grid), else a seeded pool of valid ones."""
    every = every_configuration(space)
    if every:
        return [c for c, i in zip(every, _every_id(space)) if i not in done]
    return [c for c in unique(space.sample_uniform(CANDIDATE_POOL, seed)) if config_id(c) not in done]


@functools.lru_cache(maxsize=8)  # hashing 3,840 configurations each ask was a third of a FLASH ask's time
def _every_id(space: Space) -> tuple[str, ...]:
    return tuple(map(config_id, every_configuration(space)))


@functools.lru_cache(maxsize=8)  # a space is built once per process; enumerating it costs more than an ask
def every_configuration(space: Space) -> list[dict] | None:
    """Every valid configuration of a finite space of at most FINITE configurations, else None."""
    if space.population is not None:
        return space.population.to_dict("records")
    if any(o.type == "float" for o in space.options) or math.prod(len(o.domain) for o in space.options) > FINITE:
        return None
    return space.enumerate()


@dataclass
class Opening:
    """Where an optimiser's ask starts: the stored configurations and either ``answer``, the ask's
    answer without a model (the budget is spent, or the initial design is not all measured yet), or
    the unmeasured ``pool`` to choose ``batch`` configurations from (``remaining`` the budget left)."""

    stored: list[dict]
    answer: list[dict] | None = None
    pool: list[dict] = field(default_factory=list)
    batch: int = 0
    remaining: int = 0


def opening(name: str, history: History, budget: int, design: Callable[[], list[dict]], seed: int) -> Opening:
    """The start every optimiser's ask shares, given its initial ``design`` (made only when needed)."""
    space = history.space
    stored = stored_configurations(history.measurements, space)
    done = {config_id(c) for c in stored}
    remaining = budget - len(stored)
    if remaining <= 0:
        log.info("%s: %d stored, the budget of %d is spent", name, len(stored), budget)
        return Opening(stored, stored)
    missing = [c for c in design() if config_id(c) not in done][:remaining]
    if missing:
        log.info("%s: %d stored, %d of the initial design to measure", name, len(stored), len(missing))
        return Opening(stored, stored + missing)
    # The seed follows the store: the same stored measurements give the same batch, resumed or not.
    pool = candidates(space, done, seed + len(stored))
    return Opening(stored, None, pool, min(remaining, max(1, history.workers), len(pool)), remaining)


class Optimiser(Sampler):
    """An adaptive sampler that minimises the history's metric within ``budget`` configurations."""

    adaptive = True
    name = "optimiser"
    transfers: ClassVar[bool] = False  # True: warm-started by History.warm (choose_warm)

    def ask(self, history: History, budget: int) -> list[dict]:
        if history.metric is None:
            raise TradeoffError(f"the {self.name} optimiser needs the metric to optimise; give --objective")
        space = history.space
        warm = history.warm if self.transfers else ()
        if warm:
            from tradeoff.samplers import _warm
            design = functools.partial(_warm.warm_design, space, warm, history.metric, history.goal, self.seed)
        else:
            design = functools.partial(initial_design, space, self.seed)
        start = opening(self.name, history, budget, design, self.seed)
        if start.answer is not None:
            return start.answer
        stored, pool, batch = start.stored, start.pool, start.batch
        X, cost, ok = observed(history.measurements, space, history.metric, history.goal)
        constraints = output_constraints(ok, history.constraints)
        if len(cost) < 2 or not pool:
            log.info("%s: %d stored, %d successful, %d candidates left: stopping", self.name, len(stored), len(cost), len(pool))
            return stored
        encoded = features(space, space.to_frame(pool))
        prior = _warm.prior(space, warm, history.metric, history.goal, X, cost, encoded, self.name) if warm else None
        if prior is None:
            chosen = self.choose(X, cost, encoded, batch, len(stored), constraints)
        else:
            chosen = self.choose_warm(X, cost, encoded, batch, len(stored), prior, constraints)
        values = ok[METRIC_PREFIX + history.metric][constraints.met]
        log.info("%s: %d stored (%d feasible), best %s so far %.4g, a batch of %d", self.name, len(stored), len(values),
                 history.metric, (values.min() if history.goal == "min" else values.max()) if len(values) else np.nan, len(chosen))
        return stored + [pool[i] for i in chosen]

    def choose(self, X: np.ndarray, cost: np.ndarray, pool: np.ndarray, batch: int, iteration: int,
               constraints: Constraints) -> list[int]:
        """Indices into ``pool`` of the next ``batch`` configurations, given the encoded successful ones,
        their costs and their output constraints."""
        raise NotImplementedError

    def choose_warm(self, X: np.ndarray, cost: np.ndarray, pool: np.ndarray, batch: int, iteration: int, prior,
                    constraints: Constraints) -> list[int]:
        """``choose`` given the source's predicted costs (``_warm.Prior``) at the measured and the pool's configurations."""
        raise NotImplementedError


def offline(sampler: Sampler, space: Space, measure: Callable[[dict], float | None], metric: str, goal: str = "min",
            budget: int = 50, workers: int = 1, warm: tuple[pd.DataFrame, ...] = ()) -> list[tuple[dict, float | None]]:
    """The campaign loop without Ray or a store, for benchmarks and tests: ask, ``measure`` what is
    new (None: a failed measurement), repeat until nothing is new. Returns the measurements in order."""
    rows: list[dict] = []
    measured: list[tuple[dict, float | None]] = []
    while True:
        history = History(space, pd.DataFrame(rows), metric, goal, workers=workers, warm=warm)
        done = {row["config_id"] for row in rows}
        new = [c for c in sampler.ask(history, budget) if config_id(c) not in done]
        if not new:
            return measured
        for config in new:
            value = measure(config)
            measured.append((config, value))
            rows.append({"system": "offline", "environment": "offline", "workload": "offline", "config_id": config_id(config),
                         "repetition": 0, "status": "ok" if value is not None else "failed",
                         METRIC_PREFIX + metric: value, **{OPTION_PREFIX + k: v for k, v in config.items()}})
