"""Prefect tasks of a measurement campaign: thin wrappers around tradeoff/ and systems/."""

from __future__ import annotations

from pathlib import Path

import mlflow
from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from systems.base import System
from tasks import measure as ray_measure
from tasks.tracking import use_experiment
from tradeoff import active
from tradeoff.measurements import MeasurementStore, schema_for
from tradeoff.models.summary import Summary, summarise, write_report
from tradeoff.sampling import sample
from tradeoff.space import config_id


@task(cache_policy=NONE)
def sample_configurations(system: System, sampler: str, budget: int, seed: int) -> list[dict]:
    return sample(system.space, sampler, budget, seed)


@task(cache_policy=NONE)
def measure_configurations(system: System, configs: list[dict], workload: str, reps: int, timeout: float, folder: Path,
                           campaign: str, ray_address: str | None, concurrency: int | None, cores_per_run: int | None,
                           progress: bool = True) -> int:
    """Measure what the folder does not hold yet; returns how many measurements ran now."""
    store = MeasurementStore(folder, schema_for(system.space, system.metric_names))
    store.check_compatible()
    done = store.done()
    jobs = [ray_measure.Job(c, r) for c in configs for r in range(reps) if (config_id(c), r) not in done]
    if jobs:
        ray_measure.connect(ray_address)
        get_run_logger().info(f"Ray: {ray_measure.describe_cluster()}; {len(jobs)} measurements to run")
        ray_measure.measure(system, jobs, workload, timeout, store, campaign, concurrency, cores_per_run, progress)
    return len(jobs)


@task(cache_policy=NONE)
def measurement_workers(system: System, ray_address: str | None, concurrency: int | None, cores_per_run: int | None) -> int:
    ray_measure.connect(ray_address)
    return ray_measure.worker_count(system, concurrency, cores_per_run)


@task(cache_policy=NONE)
def active_round(system: System, folder: Path, metric: str, budget: int, workers: int, seed: int) -> tuple[list[dict], list[dict]]:
    """The configurations stored so far and the next batch the GP is most uncertain about (none
    once the budget is spent or the candidates run out)."""
    frame = MeasurementStore(folder, schema_for(system.space, system.metric_names)).read()
    stored = active.stored_configurations(frame, system.space)
    remaining = budget - len(stored)
    if remaining <= 0:
        return stored, []
    # The seed follows the store: the same stored measurements give the same batch, resumed or not.
    return stored, active.choose_next(frame, system.space, metric, active.batch_size(remaining, workers), seed + len(stored))


@task(cache_policy=NONE)
def summarise_campaign(system: System, folder: Path, metric: str, learner: str, seed: int) -> tuple[Summary, list[Path]]:
    frame = MeasurementStore(folder).read()
    summary = summarise(frame, system.space, metric, system.metric(metric).goal, learner, seed)
    return summary, write_report(summary, frame, folder)


@task(cache_policy=NONE)
def track_campaign(experiment: str, tracking: str | None, run_name: str, params: dict, summary: Summary, folder: Path,
                   files: list[Path], measured_now: int) -> tuple[str, str]:
    """One MLflow run per invocation: params, counts and accuracy, the data and the report files."""
    uri = use_experiment(experiment, tracking)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(params)
        metrics = {"measured": summary.measured, "failed": summary.failed, "configurations": summary.configurations,
                   "measured_this_run": measured_now}
        if summary.mape is not None:
            metrics["mape"] = summary.mape
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(folder / "measurements.parquet"), "measurements.parquet")
        for path in files:
            mlflow.log_artifact(str(path))
    return uri, run.info.run_id
