"""Prefect tasks of a measurement campaign: thin wrappers around tradeoff/ and systems/."""

from __future__ import annotations

from pathlib import Path

import mlflow
from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from systems.base import System
from tasks import measure as ray_measure
from tasks.tracking import use_experiment
from tradeoff.measurements import MeasurementStore, schema_for
from tradeoff.models.summary import Summary, summarise, write_report
from tradeoff.samplers.base import SAMPLERS, History


@task(cache_policy=NONE)
def ask_sampler(system: System, folder: Path, sampler: str, seed: int, budget: int, metric: str | None, workers: int) -> list[dict]:
    """The configurations the sampler wants measured, given what the folder holds so far."""
    measurements = MeasurementStore(folder, schema_for(system.space, system.metric_names)).read()
    return SAMPLERS.get(sampler)(seed).ask(History(system.space, measurements, metric, workers=workers), budget)


@task(cache_policy=NONE)
def measure_configurations(system: System, configs: list[dict], workload: str, reps: int, timeout: float, folder: Path,
                           campaign: str, ray_address: str | None, concurrency: int | None, cores_per_run: int | None,
                           progress: bool = True) -> int:
    """Measure what the folder does not hold yet; returns how many measurements ran now."""
    store = MeasurementStore(folder, schema_for(system.space, system.metric_names))
    jobs = ray_measure.to_measure(store, system, workload, configs, reps)
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
