"""Prefect tasks of causal debugging: measure configurations on Ray and read their metrics back,
and draw the initial sample to learn from."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NONE

from tasks.campaign import measure_missing
from tasks.settings import Execution, Target
from tradeoff.measurements import METRIC_PREFIX, MeasurementStore, aggregate
from tradeoff.samplers.base import sample
from tradeoff.space import config_id


@task(cache_policy=NONE)
def measure_configs(target: Target, configs: list[dict], execution: Execution, folder: Path, campaign: str) -> list[dict | None]:
    """Measure what the folder does not hold yet (on Ray); each configuration's median metrics,
    None where every repetition failed."""
    measure_missing(target, configs, execution, folder, campaign, progress=False)
    table = aggregate(MeasurementStore(folder).read())
    table = table.set_index("config_id")  # the folder holds this workload only
    metrics = [c for c in table.columns if c.startswith(METRIC_PREFIX)]
    results = []
    for config in configs:
        key = config_id(config)
        if key not in table.index or table.at[key, "status"] != "ok":
            results.append(None)
        else:
            results.append({c[len(METRIC_PREFIX):]: float(table.at[key, c]) for c in metrics if pd.notna(table.at[key, c])})
    return results


@task(cache_policy=NONE)
def initial_sample(target: Target, budget: int, seed: int) -> list[dict]:
    return sample(target.build().space, "random", budget, seed)
