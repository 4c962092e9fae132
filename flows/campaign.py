"""The Prefect flow ``campaign``: sample -> measure on Ray -> store -> first model -> MLflow.

Sampling and measuring is one loop for every sampler: ask it (given the stored measurements) ->
measure what is not stored -> ask again, until a round measures nothing new. A design answers the
same design every time, so it stops after one round; ``--sampler active`` answers a random seed
design, then the stored configurations plus the batch its GP is most uncertain about, until the
budget is spent.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from prefect import flow

from systems import get_system
from systems.base import System
from tasks.campaign import ask_sampler, measure_configurations, measurement_workers, summarise_campaign, track_campaign
from tradeoff.errors import TradeoffError
from tradeoff.measurements import MeasurementStore, measured_configurations, schema_for
from tradeoff.models.summary import Summary
from tradeoff.samplers.base import SAMPLERS
from tradeoff.space import Space, load_configurations

DEFAULT_RUNS = Path("tradeoff-runs")


@dataclass
class Settings:
    """Everything that defines a campaign; checked before any measurement starts."""

    system: str
    environment: str | None = None
    workload: str | None = None
    sampler: str = "random"
    budget: int = 20
    reps: int = 1
    seed: int = 0
    timeout: float = 60.0
    metric: str | None = None
    learner: str = "log-forest"
    out: str | None = None
    ray_address: str | None = None
    tracking_uri: str | None = None
    experiment: str = "tradeoff"
    concurrency: int | None = None
    cores_per_run: int | None = None
    configs: str | None = None  # a YAML/JSON file, or a campaign folder, of configurations to measure instead of sampling

    def resolve(self) -> tuple[System, "Settings"]:
        """The system, and these settings with defaults filled and every value checked."""
        if self.budget <= 0:
            raise TradeoffError(f"--budget must be a positive number of configurations, not {self.budget}")
        if self.reps < 1:
            raise TradeoffError(f"--reps must be at least 1, not {self.reps}")
        if self.timeout <= 0:
            raise TradeoffError(f"--timeout must be a positive number of seconds, not {self.timeout:g}")
        SAMPLERS.check(self.sampler)
        for name in ("concurrency", "cores_per_run"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise TradeoffError(f"--{name.replace('_', '-')} must be at least 1")
        system = get_system(self.system, self.environment, self.workload)
        system.check()
        workload = system.check_workload(self.workload or system.default_workload)
        if self.configs:
            given_configurations(self.configs, system.space)
        metric = system.metric(self.metric or system.metrics[0].name).name
        resolved = Settings(**{**asdict(self), "environment": system.environment, "workload": workload, "metric": metric})
        if resolved.out is None:
            resolved.out = str(DEFAULT_RUNS / resolved.name())
        MeasurementStore(resolved.out, schema_for(system.space, system.metric_names)).check_compatible(
            system.name, system.environment, workload)  # a folder holds one system, environment and workload
        return system, resolved

    def name(self) -> str:
        """A readable, stable name: the same settings find the same folder, so a rerun resumes."""
        sampler = f"given-{Path(self.configs).stem}" if self.configs else self.sampler
        label = f"{Path(self.system).name}-{self.environment}-{self.workload}-{sampler}-s{self.seed}"
        return re.sub(r"[^A-Za-z0-9_.+-]+", "_", label)[:120]

    def campaign_id(self) -> str:
        key = "|".join(map(str, (self.system, self.environment, self.workload, self.sampler, self.seed, self.configs)))
        return hashlib.sha1(key.encode()).hexdigest()[:12]


def given_configurations(path: str, space: Space) -> list[dict]:
    """--config: a YAML/JSON file of configurations, or a campaign folder whose successful ones to measure again."""
    return measured_configurations(path, space) if Path(path).is_dir() else load_configurations(path, space)


@dataclass
class Result:
    folder: Path
    summary: Summary
    measured_now: int
    tracking_uri: str
    run_id: str


@flow(name="campaign")
def campaign(settings: Settings, progress: bool = True) -> Result:
    system, settings = settings.resolve()
    folder = Path(settings.out)

    def measure(configs: list[dict]) -> int:  # skips what the folder holds, so a rerun resumes
        return measure_configurations(system, configs, settings.workload, settings.reps, settings.timeout, folder,
                                      settings.campaign_id(), settings.ray_address, settings.concurrency,
                                      settings.cores_per_run, progress)

    if settings.configs:
        configs = given_configurations(settings.configs, system.space)
        measured_now = measure(configs)
    else:
        adaptive = SAMPLERS.get(settings.sampler).adaptive
        # Only a strategy that chooses from measurements sizes its batches to the workers (and starts Ray to count them).
        workers = measurement_workers(system, settings.ray_address, settings.concurrency, settings.cores_per_run) if adaptive else 1
        measured_now = 0
        while True:
            configs = ask_sampler(system, folder, settings.sampler, settings.seed, settings.budget, settings.metric, workers)
            added = measure(configs)  # the stored ones too: a killed run may have left repetitions out
            measured_now += added
            if not added or not adaptive:
                break
    summary, files = summarise_campaign(system, folder, settings.metric, settings.learner, settings.seed)
    params = {k: v for k, v in asdict(settings).items() if v is not None and k not in ("tracking_uri", "ray_address")}
    params.update(campaign=settings.campaign_id(), configurations_sampled=len(configs), program_version=system.program_version())
    uri, run_id = track_campaign(settings.experiment, settings.tracking_uri, folder.name, params, summary, folder, files, measured_now)
    return Result(folder, summary, measured_now, uri, run_id)
