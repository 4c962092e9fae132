"""Prefect tasks of a measurement campaign: thin wrappers around tradeoff/ and systems/."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks import measure as ray_measure
from tasks.settings import CampaignSettings, Execution, Target, warm_source
from tradeoff.measurements import MeasurementStore, schema_for
from tradeoff.optimum import restricted, split_constraints
from tradeoff.models.summary import Summary, summarise, write_report
from tradeoff.samplers.base import SAMPLERS, History, Part


@task(cache_policy=NONE)
def ask_sampler(settings: CampaignSettings, workers: int, objectives: tuple[tuple[str, str], ...] = (),
                constraints: tuple[str, ...] = ()) -> list[dict | Part]:
    """The configurations the sampler wants measured, given what the folder holds so far (an
    optimisation's objectives and constraints: the option ones narrow the space, the metric ones go to the sampler)."""
    system = settings.target.build()
    measurements = MeasurementStore(settings.out, schema_for(system.space, system.metric_names)).read()
    options, bounds = split_constraints(constraints, system.space, system.metric_names)
    metric, goal = objectives[0] if objectives else (settings.metric, system.metric(settings.metric).goal)
    warm = tuple(warm_source(spec, settings.tracking.uri) for spec in settings.warm_start)
    history = History(restricted(system.space, options), measurements, metric, goal, workers=workers,
                      objectives=tuple(objectives), constraints=tuple(b.text for b in bounds), warm=warm,
                      separately=tuple((part.metrics, part.cost) for part in system.separately))
    return SAMPLERS.get(settings.sampler)(settings.seed).ask(history, settings.budget)


@contextmanager
def holding(folder: str | Path):
    """A campaign's hold on its folder, for all its rounds: the folder's lock (a second driver is
    refused with one line) and warm measurement workers (started once, killed at the end)."""
    with MeasurementStore(folder).lock(), ray_measure.keep_warm():
        yield


def measure_missing(target: Target, configs: list[dict | Part], execution: Execution, folder: str | Path, campaign: str,
                    progress: bool = True) -> int:
    """Measure the (configuration, repetition) pairs the folder does not hold yet; returns how many ran now."""
    system = target.build()
    store = MeasurementStore(folder, schema_for(system.space, system.metric_names))
    with store.lock():  # before reading what is stored: what another driver adds meanwhile would be measured twice
        jobs = ray_measure.to_measure(store, system, target.workload, configs, execution.reps)
        if jobs:
            ray_measure.connect(execution.ray_address)
            get_run_logger().info(f"Ray: {ray_measure.describe_cluster()}; {len(jobs)} measurements to run")
            ray_measure.measure(system, jobs, target.workload, execution.timeout, store, campaign, execution.concurrency,
                                execution.cores_per_run, progress)
    return len(jobs)


@task(cache_policy=NONE)
def measure_configurations(settings: CampaignSettings, configs: list[dict], progress: bool = True) -> int:
    """Measure what the campaign's folder does not hold yet; returns how many measurements ran now."""
    return measure_missing(settings.target, configs, settings.execution, settings.out, settings.campaign_id(), progress)


@task(cache_policy=NONE)
def measurement_workers(settings: CampaignSettings) -> int:
    ray_measure.connect(settings.execution.ray_address)
    e = settings.execution
    return ray_measure.worker_count(settings.target.build(), e.concurrency, e.cores_per_run)


@task(cache_policy=NONE)
def summarise_campaign(settings: CampaignSettings) -> tuple[Summary, list[Path]]:
    system, folder = settings.target.build(), Path(settings.out)
    frame = MeasurementStore(folder).read()
    summary = summarise(frame, system.space, settings.metric, system.metric(settings.metric).goal, settings.learner, settings.seed)
    return summary, write_report(summary, frame, folder)
