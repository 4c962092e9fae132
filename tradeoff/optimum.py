"""The result of an optimisation, read from its store: the best measured configuration, the
Pareto front of several objectives, its hypervolume, and both after each measured configuration.

All come from measurements, never from a surrogate's predictions: the best is the successful
configuration whose median over its repetitions is the lowest (or highest, for a metric declared
``max``) among those meeting every output constraint (``psnr >= 40``: a bound on a measured
metric); the front is the feasible configurations no other feasible one dominates; curves follow
the order in which configurations were first measured, so a resumed optimisation continues them.
The hypervolume is pymoo's indicator on objectives min-max normalised (to bounds the caller gives:
a table's true range in benchmarks, the measured range live) with reference point (1, ..., 1), so
it is comparable across problems and 1 - HV(found)/HV(true) is the benchmark's error.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, aggregate
from tradeoff.space import Space, _forbidden_clause

OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_NAME = re.compile(r"\s*([A-Za-z_][\w.-]*)")
_BOUND = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*(>=|<=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Bound:
    """An output constraint: a measured metric compared with a number (``psnr >= 40``)."""

    metric: str
    op: str
    value: float

    @property
    def text(self) -> str:
        return f"{self.metric} {self.op} {self.value:.12g}"

    def slack(self, values: np.ndarray) -> np.ndarray:
        """How far each value is inside the bound (>= 0: met, except a strict bound met with equality); NaN stays NaN."""
        values = np.asarray(values, float)
        return values - self.value if self.op in (">=", ">") else self.value - values

    def holds(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, float)
        return ~np.isnan(values) & OPERATORS[self.op](np.nan_to_num(values, nan=0.0), self.value)


def parse_bound(text: str) -> Bound:
    match = _BOUND.match(text)
    if not match:
        raise TradeoffError(f"constraint {text!r}: write METRIC OP NUMBER with OP one of >=, <=, >, <, e.g. 'psnr >= 40'")
    return Bound(match[1], match[2], float(match[3]))


def split_constraints(texts: tuple[str, ...] | list[str], space: Space, metrics: list[str]) -> tuple[list[str], list[Bound]]:
    """The constraints on options (input constraints, the space's own syntax, e.g. ``synchronous != 'off'``)
    and the bounds on measured metrics (output constraints), told apart by the name they start with."""
    options, bounds = [], []
    for text in texts:
        match = _NAME.match(text)
        name = match[1] if match else ""
        if name in metrics:
            bounds.append(parse_bound(text))
        elif name in space.names:
            options.append(text)
        else:
            raise TradeoffError(f"constraint {text!r}: {name or text!r} is neither a metric nor an option of the system; "
                                f"constrain one of its metrics ({', '.join(metrics)}) or options (see 'tradeoff space SYSTEM')")
    for metric in {b.metric for b in bounds}:  # bounds that no value meets: refused before anything is measured
        low = max((b.value for b in bounds if b.metric == metric and b.op in (">=", ">")), default=-np.inf)
        high = min((b.value for b in bounds if b.metric == metric and b.op in ("<=", "<")), default=np.inf)
        strict = any(b.op in (">", "<") for b in bounds if b.metric == metric)
        if low > high or (strict and low == high):
            raise TradeoffError(f"the constraints on {metric} leave no value ({metric} >= {low:g} and <= {high:g}); relax one")
    return options, bounds


def restricted(space: Space, constraints: list[str]) -> Space:
    """The space with the input constraints added (a recorded population keeps only the rows that
    meet them). ConfigSpace refuses constraints that forbid an option's default, so the narrowed
    space takes its defaults from the first configuration (recorded, else of 2000 drawn) that meets them."""
    if not constraints:
        return space
    clauses = [_forbidden_clause(text, space) for text in constraints]  # a constraint that does not parse: one line
    drawn = space.population.to_dict("records") if space.population is not None else space.sample_uniform(2000, 0)
    meeting = [c for c in drawn if not any(clause.is_forbidden_value(space.validate(c)) for clause in clauses)]
    if not meeting:
        where = "recorded configuration" if space.population is not None else "configuration (of 2000 drawn)"
        raise TradeoffError(f"no {where} meets {' and '.join(constraints)}; relax the constraint")
    defaults = space.validate(meeting[0])
    narrowed = Space([replace(o, default=defaults[o.name]) for o in space.options], [c.text for c in space.constraints] + list(constraints))
    if space.population is not None:
        return narrowed.with_population(pd.DataFrame(meeting, columns=space.names))
    return narrowed


def measured_in_order(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per configuration (aggregated, see ``aggregate``), in the order first measured."""
    first = frame.sort_values("started_at", kind="stable").drop_duplicates("config_id")["config_id"]
    table = aggregate(frame).set_index("config_id").loc[first.to_numpy()].reset_index()
    if METRIC_PREFIX + metric not in table.columns:
        raise TradeoffError(f"the store has no metric {metric!r}; give --objective one of its metrics")
    return table


def feasible(table: pd.DataFrame, bounds: list[Bound] | tuple[Bound, ...]) -> np.ndarray:
    """Which aggregated rows succeeded and meet every bound."""
    mask = np.array(table["status"] == "ok", dtype=bool)
    for bound in bounds:
        column = METRIC_PREFIX + bound.metric
        mask &= bound.holds(table[column].to_numpy(float)) if column in table.columns else False
    return mask


def best_so_far(values: np.ndarray, goal: str) -> np.ndarray:
    """The best value after each configuration (``values`` in measuring order, NaN where a row failed or
    misses a constraint), NaN until one counts."""
    sign = 1.0 if goal == "min" else -1.0
    curve = sign * np.fmin.accumulate(np.where(np.isnan(values), np.inf, sign * values))
    return np.where(np.isinf(curve), np.nan, curve)


def best_feasible(frame: pd.DataFrame, metric: str, goal: str, bounds: list[Bound] | tuple[Bound, ...]) -> pd.Series | None:
    """The aggregated row of the best configuration meeting every bound; None where none does."""
    table = measured_in_order(frame, metric)
    values = table[METRIC_PREFIX + metric].where(feasible(table, bounds))
    if values.notna().sum() == 0:
        return None
    return table.loc[values.idxmin() if goal == "min" else values.idxmax()]


def unmet(frame: pd.DataFrame, bounds: list[Bound] | tuple[Bound, ...]) -> str | None:
    """Why no measured configuration meets the bounds, in one line (the best value of each), or None."""
    table = aggregate(frame)
    if not bounds or feasible(table, bounds).any():
        return None
    ok = table[table["status"] == "ok"]
    closest = []
    for b in bounds:
        values = ok[METRIC_PREFIX + b.metric].dropna() if METRIC_PREFIX + b.metric in ok.columns else pd.Series(dtype=float)
        if len(values):
            closest.append(f"{b.metric} {values.max() if b.op in ('>=', '>') else values.min():.4g}")
    return (f"no measured configuration meets {' and '.join(b.text for b in bounds)} (of {len(ok)} measured, the closest: "
            f"{', '.join(closest) or 'none measured'}); relax the constraint or raise --budget")


def minimised(table: pd.DataFrame, objectives) -> np.ndarray:
    """The objectives of aggregated rows as costs to minimise (a 'max' objective negated), one column each."""
    return np.column_stack([(1.0 if goal == "min" else -1.0) * table[METRIC_PREFIX + metric].to_numpy(float)
                            for metric, goal in objectives])


def non_dominated(costs: np.ndarray) -> np.ndarray:
    """Which rows of a cost matrix no other row dominates (as good in every column, better in one)."""
    costs = np.asarray(costs, float)
    keep = np.ones(len(costs), dtype=bool)
    for i, row in enumerate(costs):
        others = np.delete(costs, i, axis=0)
        keep[i] = not np.any(np.all(others <= row, axis=1) & np.any(others < row, axis=1))
    return keep


def pareto_front(frame: pd.DataFrame, objectives, bounds=()) -> pd.DataFrame:
    """The aggregated rows of the feasible configurations with every objective measured that no other
    such configuration dominates, ordered by the first objective; ties of equal values all kept."""
    table = measured_in_order(frame, objectives[0][0])
    for metric, _ in objectives:
        if METRIC_PREFIX + metric not in table.columns:
            raise TradeoffError(f"the store has no metric {metric!r}; give --objective one of its metrics")
    costs = minimised(table, objectives)
    usable = feasible(table, bounds) & ~np.isnan(costs).any(axis=1)
    candidates, costs = table[usable], costs[usable]
    front = candidates[non_dominated(costs)]
    return front.sort_values(METRIC_PREFIX + objectives[0][0], ascending=objectives[0][1] == "min", kind="stable")


def hypervolume(costs: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """pymoo's hypervolume of cost rows min-max normalised to [lower, upper], reference point (1, ..., 1)."""
    from pymoo.indicators.hv import HV
    costs = np.asarray(costs, float)
    if costs.size == 0:
        return 0.0
    span = np.where(upper > lower, upper - lower, 1.0)
    unit = (costs - lower) / span
    unit = unit[np.all(unit < 1.0, axis=1)]  # beyond the reference point a row adds nothing
    return float(HV(ref_point=np.ones(costs.shape[1]))(unit)) if len(unit) else 0.0


def hypervolume_curve(frame: pd.DataFrame, objectives, bounds=(), lower=None, upper=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hypervolume of the feasible rows after each configuration in the order measured, and the
    normalisation bounds used (default: the range of the feasible measured costs)."""
    table = measured_in_order(frame, objectives[0][0])
    costs = minimised(table, objectives)
    usable = feasible(table, bounds) & ~np.isnan(costs).any(axis=1)
    if lower is None or upper is None:
        if not usable.any():
            return np.zeros(len(table)), np.zeros(costs.shape[1]), np.ones(costs.shape[1])
        lower, upper = costs[usable].min(axis=0), costs[usable].max(axis=0)
    curve = np.array([hypervolume(costs[:n + 1][usable[:n + 1]], lower, upper) for n in range(len(table))])
    return curve, np.asarray(lower, float), np.asarray(upper, float)


def measurement_seconds(frame: pd.DataFrame) -> np.ndarray:
    """The measurement seconds spent up to each configuration, in the order first measured (every repetition counted)."""
    first = frame.sort_values("started_at", kind="stable").drop_duplicates("config_id")["config_id"].to_numpy()
    seconds = frame.groupby("config_id")["duration_s"].sum().reindex(first).fillna(0.0).to_numpy(float)
    return np.cumsum(seconds)
