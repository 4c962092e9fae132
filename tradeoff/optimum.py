"""The result of an optimisation, read from its store: the best measured configuration and the
best value found after each measured configuration.

Both come from measurements, never from a surrogate's predictions: the best is the successful
configuration whose median over its repetitions is the lowest (or highest, for a metric declared
``max``), and the convergence curve follows the order in which configurations were first measured,
so a resumed optimisation continues the same curve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, aggregate


def measured_in_order(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per configuration (aggregated, see ``aggregate``), in the order first measured."""
    first = frame.sort_values("started_at", kind="stable").drop_duplicates("config_id")["config_id"]
    table = aggregate(frame).set_index("config_id").loc[first.to_numpy()].reset_index()
    if METRIC_PREFIX + metric not in table.columns:
        raise TradeoffError(f"the store has no metric {metric!r}; give --objective one of its metrics")
    return table


def best_measured(frame: pd.DataFrame, metric: str, goal: str) -> pd.Series:
    """The aggregated row of the best successful configuration."""
    table = measured_in_order(frame, metric)
    values = table[METRIC_PREFIX + metric].where(table["status"] == "ok")
    if values.notna().sum() == 0:
        raise TradeoffError(f"no configuration was measured successfully for {metric!r}; see why with 'tradeoff show FOLDER'")
    return table.loc[values.idxmin() if goal == "min" else values.idxmax()]


def best_so_far(frame: pd.DataFrame, metric: str, goal: str) -> np.ndarray:
    """The best value after each configuration, in the order measured (NaN until one succeeds)."""
    table = measured_in_order(frame, metric)
    values = table[METRIC_PREFIX + metric].where(table["status"] == "ok").to_numpy(float)
    sign = 1.0 if goal == "min" else -1.0
    best = np.fmin.accumulate(np.where(np.isnan(values), np.inf, sign * values)) * sign
    return np.where(np.isinf(best), np.nan, best)
