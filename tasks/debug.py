"""Prefect tasks of causal debugging: measure configurations on Ray and read their metrics back,
load the data to learn from, and log a debugging session to MLflow."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
from prefect import task
from prefect.cache_policies import NONE

from systems.base import System
from tasks import measure as ray_measure
from tasks.tracking import use_experiment
from tradeoff.measurements import METRIC_PREFIX, MeasurementStore, aggregate, schema_for
from tradeoff.samplers.base import sample
from tradeoff.space import config_id


@task(cache_policy=NONE)
def measure_configs(system: System, configs: list[dict], workload: str, timeout: float, folder: Path, campaign: str,
                    ray_address: str | None = None, reps: int = 1) -> list[dict | None]:
    """Measure what the folder does not hold yet (on Ray); each configuration's median metrics,
    None where every repetition failed."""
    store = MeasurementStore(folder, schema_for(system.space, system.metric_names))
    jobs = ray_measure.to_measure(store, system, workload, configs, reps)
    if jobs:
        ray_measure.connect(ray_address)
        ray_measure.measure(system, jobs, workload, timeout, store, campaign, progress=False)
    table = aggregate(store.read()).set_index("config_id")  # to_measure made sure it holds this system and workload only
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
def initial_sample(system: System, budget: int, seed: int) -> list[dict]:
    return sample(system.space, "random", budget, seed)


@task(cache_policy=NONE)
def track_debug(experiment: str, tracking: str | None, run_name: str, params: dict, metrics: dict,
                files: list[Path]) -> tuple[str, str]:
    uri = use_experiment(experiment, tracking)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        for path in files:
            mlflow.log_artifact(str(path))
    return uri, run.info.run_id
