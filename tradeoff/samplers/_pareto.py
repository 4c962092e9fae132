"""What the multi-objective optimisers (``parego``, ``parego-cost``, ``nsga2``) share: the loop of
an adaptive sampler over several objectives and output constraints, and the offline loop of benchmarks.

The loop is ``_optimise``'s (stateless: everything is derived from the stored measurements, so a
resumed optimisation asks for the same batch and never repeats a measurement; the initial design
is the same maximin Latin hypercube), with what several objectives need: each objective becomes a
cost to minimise (negated where it is a maximum, its log where every stored value is positive, as
in ``_optimise``), min-max normalised over the successful rows; each output constraint a slack
(>= 0: met); and each configuration's measurement cost its stored seconds (``duration_s``, every
repetition), which cost-aware choice models.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, OPTION_PREFIX, aggregate, options_of, part_label
from tradeoff.optimum import parse_bound
from tradeoff.samplers._optimise import features, initial_design, opening
from tradeoff.samplers.base import History, Sampler, split_part
from tradeoff.space import Space, config_id

log = logging.getLogger(__name__)


def as_costs(values: np.ndarray, goal: str) -> np.ndarray:
    """A metric as a cost to minimise in [0, 1]: log where positive, negated for a maximum, min-max scaled."""
    values = np.log(values) if len(values) and np.all(values > 0) else values
    values = values if goal == "min" else -values
    span = values.max() - values.min() if len(values) else 0.0
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


class Observed:
    """The successful stored configurations: encoded options ``X``, normalised costs ``Y`` (one column
    per objective), constraint slacks ``slack`` (one column per bound) and measurement ``seconds``."""

    def __init__(self, history: History):
        goals = history.goals()
        table = aggregate(history.measurements)
        for metric, _ in goals:
            if METRIC_PREFIX + metric not in table.columns:
                raise TradeoffError(f"the store has no metric {metric!r}; give --objective one of the system's metrics")
        ok = table[(table["status"] == "ok")]
        ok = ok[ok[[METRIC_PREFIX + m for m, _ in goals]].notna().all(axis=1)]
        self.X = features(history.space, options_of(ok, history.space.names))
        self.Y = np.column_stack([as_costs(ok[METRIC_PREFIX + m].to_numpy(float), g) for m, g in goals]) if len(ok) else np.zeros((0, len(goals)))
        bounds = [parse_bound(text) for text in history.constraints]
        # A bound's metric unmeasured on a row counts as unmet there (slack -inf would break a GP: the most negative seen).
        slacks = [b.slack(ok[METRIC_PREFIX + b.metric].to_numpy(float)) for b in bounds]
        self.slack = np.column_stack([np.nan_to_num(s, nan=np.nanmin(s) if np.isfinite(s).any() else -1.0) for s in slacks]) if bounds else np.zeros((len(ok), 0))
        seconds = history.measurements.groupby("config_id")["duration_s"].sum() if "duration_s" in history.measurements else pd.Series(dtype=float)
        self.seconds = seconds.reindex(ok["config_id"]).to_numpy(float)

    def feasible(self) -> np.ndarray:
        return np.all(self.slack >= 0, axis=1)


class MultiObjective(Sampler):
    """An adaptive sampler over the history's objectives and output constraints within ``budget`` configurations."""

    adaptive = True
    name = "multi-objective"

    def ask(self, history: History, budget: int) -> list[dict]:
        if not history.goals():
            raise TradeoffError(f"the {self.name} optimiser needs the metrics to optimise; give --objective")
        space = history.space
        start = opening(self.name, history, budget, lambda: initial_design(space, self.seed), self.seed)
        if start.answer is not None:
            return start.answer
        stored, pool, batch = start.stored, start.pool, start.batch
        observed = Observed(history)
        if len(observed.Y) < 2 or not pool:
            log.info("%s: %d stored, %d successful, %d candidates left: stopping", self.name, len(stored), len(observed.Y), len(pool))
            return stored
        chosen = self.choose(observed, features(space, space.to_frame(pool)), batch, len(stored), start.remaining / budget)
        log.info("%s: %d stored (%d feasible), a batch of %d", self.name, len(stored), int(observed.feasible().sum()), len(chosen))
        return stored + [pool[i] for i in chosen]

    def choose(self, observed: Observed, pool: np.ndarray, batch: int, iteration: int, left: float) -> list[int]:
        """Indices into ``pool`` of the next ``batch`` configurations; ``left`` is the share of the budget still to spend."""
        raise NotImplementedError


def offline(sampler: Sampler, space: Space, measure: Callable[[dict], dict | None], objectives, constraints=(),
            budget: int = 50, workers: int = 1, seconds: Callable[[dict, dict], float] | None = None,
            separately: tuple[tuple[tuple[str, ...], float], ...] = ()) -> list[tuple[dict, dict | None, float]]:
    """The campaign loop without Ray or a store, for benchmarks and tests: ask, ``measure`` what is new
    (metrics by name; None: a failed measurement), charge it ``seconds(config, metrics)`` (default 1),
    repeat until nothing is new. A ``Part`` (a sampler given ``separately``: metrics measured alone,
    at a cost relative to a full measurement) keeps only its metrics and is charged its cost times
    the full measurement's. Returns (configuration, metrics, seconds) in the order measured."""
    rows: list[dict] = []
    measured: list[tuple[dict, dict | None, float]] = []
    objectives = tuple(objectives)
    share = {part_label(p): c for p, c in separately}
    while True:
        history = History(space, pd.DataFrame(rows), objectives[0][0], objectives[0][1], workers=workers,
                          objectives=objectives, constraints=tuple(constraints), separately=tuple(separately))
        done = {(row["config_id"], row["measured"]) for row in rows}
        new = [split_part(item) for item in sampler.ask(history, budget)]
        new = [(c, only) for c, only in new if (config_id(c), part_label(only)) not in done]
        if not new:
            return measured
        for config, only in new:
            metrics = measure(config)
            cost = seconds(config, metrics) if seconds and metrics else 1.0
            if only and metrics is not None:
                metrics, cost = {m: metrics[m] for m in only}, cost * share[part_label(only)]
            measured.append((config, metrics, cost))
            rows.append({"system": "offline", "environment": "offline", "workload": "offline", "config_id": config_id(config),
                         "measured": part_label(only),
                         "repetition": 0, "status": "ok" if metrics is not None else "failed", "duration_s": cost,
                         "started_at": pd.Timestamp(len(rows), unit="s", tz="UTC"),
                         **{METRIC_PREFIX + m: (metrics or {}).get(m) for m, _ in objectives},
                         **{METRIC_PREFIX + parse_bound(c).metric: (metrics or {}).get(parse_bound(c).metric) for c in constraints},
                         **{OPTION_PREFIX + k: v for k, v in config.items()}})
