"""Warm start: an optimiser reuses another environment's measurements, and a guard drops them when they mislead.

None of the optimisers Tradeoff is measured against (BO4CO, FLASH, SMAC3, Optuna) reuses what was
measured in another environment; yet a new machine, cluster or input size mostly rescales
performance (ASE'17: Spearman 0.6-0.97 between machines), so the old environment's best
configurations are the first ones worth measuring and its response surface is a good prior. A
source (``History.warm``: the measurements of another environment of the same system) gives:

- the **initial design**: its best configuration (on a replay snapped to the nearest recorded
  configuration not taken yet; of several sources, each one's best), then the whole cold
  design's Latin hypercube, so the target is seen where the source is bad as a cold start sees
  it. Measured first, the source's best wins at once where the environments are related; the
  prior, not the design, then steers towards the source's good region, and only while the guard
  trusts it. The design once took the source's best few for half the hypercube: it crowded into
  the source's best region, and on Storm's word count C3 -> C1, where the guard turned the prior
  off, the search settled there, 4.5% from the optimum the cold start found (bench/RESULTS.md);
- a **prior**: a nearest-neighbour model of the source's costs (distance-weighted, so a
  configuration the source measured predicts its own value), which the GP uses as its prior mean
  after a linear shift fitted on the target (``bo``), in the manner of the transfer learners'
  ``linear-shift``.

The **guard** is the Spearman correlation between the source's predictions and the target's
measured costs, recomputed at every ask from the store (so as measurements arrive): below
``MIN_RHO`` the source misleads and the optimiser continues as a cold start; of several sources
the best-correlated one is used. Each decision is logged at info level. Stateless like the
optimisers: the same store gives the same decision.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.neighbors import KNeighborsRegressor

from tradeoff.measurements import options_of
from tradeoff.samplers._optimise import features, initial_design, observed
from tradeoff.samplers._valid import unique, valid_or_snapped
from tradeoff.space import Space, config_id

MIN_RHO = 0.5  # the guard: the source's predictions must rank the target's measurements at least this well
NEIGHBOURS = 5

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prior:
    """The source that passed the guard: its predicted costs at the measured and at the candidate configurations."""

    name: str
    rho: float
    measured: np.ndarray
    pool: np.ndarray


def source_name(frame: pd.DataFrame) -> str:
    first = frame.iloc[0]
    return f"{first['system']}:{first['environment']}:{first['workload']}"


_COSTS: dict[int, tuple] = {}  # id(source frame) -> (frame, (space, metric, goal), what source_costs returns)


def source_costs(frame: pd.DataFrame, space: Space, metric: str, goal: str) -> tuple[np.ndarray, list[dict], KNeighborsRegressor]:
    """The source's costs, its successful configurations and its model (on the target's features)."""
    key = id(frame)
    cached = _COSTS.get(key)
    if cached is None or cached[0] is not frame or cached[1][0] is not space or cached[1][1:] != (metric, goal):
        if len(_COSTS) >= 8:
            _COSTS.clear()
        X, cost, ok = observed(frame, space, metric, goal)
        model = KNeighborsRegressor(min(NEIGHBOURS, len(cost)), weights="distance").fit(X, cost)
        _COSTS[key] = (frame, (space, metric, goal), (cost, options_of(ok, space.names).to_dict("records"), model))
    return _COSTS[key][2]


@functools.lru_cache(maxsize=8)
def _population(space: Space) -> tuple[np.ndarray, np.ndarray]:
    """A recorded population's features and config ids."""
    return features(space, space.population), np.array([config_id(c) for c in space.population.to_dict("records")])


def warm_design(space: Space, sources: tuple[pd.DataFrame, ...], metric: str, goal: str, seed: int) -> list[dict]:
    """The warm initial design: each source's best configuration, then the whole cold design."""
    best: list[dict] = []
    for frame in sources:
        cost, configs, _ = source_costs(frame, space, metric, goal)
        if configs:
            best = unique(best + _in_target(space, [configs[int(np.argmin(cost))]], {config_id(c) for c in best}))
    return unique(best + initial_design(space, seed))


def _in_target(space: Space, configs: list[dict], taken: set[str]) -> list[dict]:
    """The configurations as the target can measure them: on a recorded population the nearest
    recorded one not taken yet (in the optimisers' features), elsewhere valid or snapped."""
    if space.population is None:
        return valid_or_snapped(space, configs)
    population = space.population
    recorded, ids = _population(space)
    free = ~np.isin(ids, list(taken))
    out = []
    for row in features(space, space.to_frame(configs)):
        distance = np.where(free, np.abs(recorded - row).sum(axis=1), np.inf)
        index = int(np.argmin(distance))
        if np.isfinite(distance[index]):
            free[index] = False
            out.append(population.iloc[index].to_dict())
    return out


def prior(space: Space, sources: tuple[pd.DataFrame, ...], metric: str, goal: str, X: np.ndarray, cost: np.ndarray,
          pool: np.ndarray, optimiser: str = "bo") -> Prior | None:
    """The best-correlated source's predictions, or None (a cold start) when none passes the guard."""
    best: Prior | None = None
    for frame in sources:
        _, _, model = source_costs(frame, space, metric, goal)
        at_measured = model.predict(X)
        rho = float(spearmanr(at_measured, cost).statistic) if np.ptp(at_measured) > 0 and np.ptp(cost) > 0 else 0.0
        rho = 0.0 if math.isnan(rho) else rho
        if best is None or rho > best.rho:
            best, best_model = Prior(source_name(frame), rho, at_measured, np.empty(0)), model
    if best is None or best.rho < MIN_RHO:
        log.info("%s: warm start off, a cold start on %d target measurements: the source %s ranks them with Spearman "
                 "%.2f < %.2f", optimiser, len(cost), best.name if best else "(none)", best.rho if best else 0.0, MIN_RHO)
        return None
    log.info("%s: warm start on from %s: its predictions rank the %d target measurements with Spearman %.2f >= %.2f",
             optimiser, best.name, len(cost), best.rho, MIN_RHO)
    return replace(best, pool=best_model.predict(pool))  # the pool predicted only for the source that passed
