"""The Prefect flow ``transfer``: source campaign(s) + target -> sample the target (L2S or any
sampler) -> measure on Ray -> transfer and target-only models -> evaluate -> report and MLflow."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from prefect import flow

from flows.campaign import DEFAULT_RUNS, Settings
from systems.base import System
from tasks.campaign import measure_configurations
from tasks.transfer import evaluate_transfer, load_sources, pick_source, sample_target, track_transfer
from tradeoff.errors import TradeoffError
from tradeoff.measurements import MeasurementStore
from tradeoff.transfer.study import StudyResult, sampler_for


@dataclass
class TransferSettings:
    sources: list[str]
    target: str
    environment: str | None = None
    workload: str | None = None
    budget: int = 20
    method: str = "auto"
    metric: str | None = None
    sampler: str = "random"  # for every method but l2s, which samples with L2S
    learner: str = "log-forest"
    reps: int = 1
    seed: int = 0
    timeout: float = 60.0
    out: str | None = None
    ray_address: str | None = None
    tracking_uri: str | None = None
    experiment: str = "tradeoff-transfer"
    concurrency: int | None = None
    cores_per_run: int | None = None
    holdout: str | None = None  # a campaign folder of the target environment to score on

    def resolve(self) -> tuple[System, Settings]:
        """The target system and its campaign settings, every value checked before anything runs."""
        if not self.sources:
            raise TradeoffError("give at least one --source (a campaign folder, SYSTEM:ENVIRONMENT of a replay, or runs:/RUN_ID)")
        sampler = sampler_for(self.method, self.sampler)
        campaign = Settings(self.target, self.environment, self.workload, sampler, self.budget, self.reps, self.seed,
                            self.timeout, self.metric, self.learner, self.out, self.ray_address, self.tracking_uri,
                            self.experiment, self.concurrency, self.cores_per_run)
        system, resolved = campaign.resolve()
        if self.out is None:
            resolved.out = str(DEFAULT_RUNS / f"transfer-{resolved.name()}")
        if self.holdout:
            held = MeasurementStore(self.holdout).read()
            measured = sorted(set(zip(held["environment"], held["workload"])))
            if measured != [(resolved.environment, resolved.workload)]:
                raise TradeoffError(f"--holdout {self.holdout} holds environment/workload {measured}, not the target's "
                                    f"({resolved.environment}, {resolved.workload}); give a campaign of the target")
        return system, resolved


@dataclass
class TransferOutcome:
    folder: Path
    result: StudyResult
    comparison: list[str] = field(default_factory=list)
    measured_now: int = 0
    tracking_uri: str = ""
    run_id: str = ""


@flow(name="transfer")
def transfer(settings: TransferSettings, progress: bool = True) -> TransferOutcome:
    system, target = settings.resolve()
    folder = Path(target.out)
    sources = load_sources(settings.sources, settings.tracking_uri)
    chosen = pick_source(sources, system, target.metric, settings.learner, settings.seed)
    configs = sample_target(system, target.sampler, target.budget, target.seed, sources[chosen.choice], target.metric)
    measured_now = measure_configurations(system, configs, target.workload, target.reps, target.timeout, folder,
                                          target.campaign_id(), target.ray_address, target.concurrency,
                                          target.cores_per_run, progress)
    result, files, comparison = evaluate_transfer(system, sources, chosen, folder, target.metric, settings.method,
                                                  settings.learner, settings.seed, settings.holdout)
    params = {k: v for k, v in asdict(settings).items() if v is not None and k not in ("tracking_uri", "ray_address", "sources")}
    params.update(sources=" ".join(settings.sources), environment=target.environment, workload=target.workload,
                  metric=target.metric, sampler=target.sampler, source=chosen.choice, program_version=system.program_version())
    uri, run_id = track_transfer(settings.experiment, settings.tracking_uri, folder.name, params, result, folder, files)
    return TransferOutcome(folder, result, comparison, measured_now, uri, run_id)
