"""Settings: one frozen, keyword-only object per command, checked once before anything runs.

SMAC3's Scenario is the model: a command's whole configuration is one value, built once (by the
CLI, a deployment or a test), checked in one place and passed on unchanged; flows and tasks
receive it and never rebuild it field by field. The parts that several commands share are
objects of their own: ``Target`` (what is measured), ``Execution`` (where and how: Ray,
concurrency, pinning, timeouts, repetitions) and ``Tracking`` (MLflow).

Value checks (a positive budget, a known sampler) run when an object is made. Checks that need
the system (its programs, workloads, metrics) run once in ``resolve()``, which fills what the
system decides (environment, workload, metric, folder) and returns a copy marked ``resolved``;
flows resolve only what is not resolved yet, so a command-spec system's smoke run happens once.
All fields are plain values, so Prefect shows them as flow and task parameters. They live in
``tasks/`` because flows and tasks both receive them (imports point flows -> tasks -> systems).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import socket
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from systems import get_system
from systems.base import System
from tradeoff.environment import usable_cores
from tradeoff.errors import TradeoffError
from tradeoff.samplers.base import OPTIMISERS

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_RUNS = Path("tradeoff-runs")
TRACKING_SCHEMES = ("file", "sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks", "databricks-uc", "uc")
CONNECT_S = 2.0  # how long a tracking server has to accept a connection before a command refuses it

log = logging.getLogger(__name__)


def _positive(value: float | None, flag: str, what: str) -> None:
    if value is not None and value <= 0:
        raise TradeoffError(f"{flag} must be {what}, not {value:g}")


def _safe_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", label)[:120]


@functools.cache
def _system(name: str, environment: str | None, workload: str | None) -> System:
    return get_system(name, environment, workload)


@dataclass(frozen=True, kw_only=True)
class Target:
    """What is measured: a system (a name, a command spec or a campaign folder) in an environment, on a workload."""

    system: str
    environment: str | None = None
    workload: str | None = None

    def build(self) -> System:
        """The system (built once per process: replays read their tables once)."""
        return _system(self.system, self.environment, self.workload)

    def resolve(self) -> tuple[System, Target]:
        system = self.build()
        system.check()
        workload = system.check_workload(self.workload or system.default_workload)
        return system, replace(self, environment=system.environment, workload=workload)


@dataclass(frozen=True, kw_only=True)
class Execution:
    """How measurements run: repetitions, timeout, the Ray cluster, concurrency and core pinning."""

    reps: int = 1
    timeout: float = 60.0
    ray_address: str | None = None
    concurrency: int | None = None
    cores_per_run: int | None = None

    def __post_init__(self) -> None:
        if self.reps < 1:
            raise TradeoffError(f"--reps must be at least 1, not {self.reps}")
        _positive(self.timeout, "--timeout", "a positive number of seconds")
        for flag, value in (("--concurrency", self.concurrency), ("--cores-per-run", self.cores_per_run)):
            if value is not None and value < 1:
                raise TradeoffError(f"{flag} must be at least 1, not {value}")

    def check_cores(self) -> None:
        """On a local Ray, --cores-per-run must fit the cores this process may use: a worker that
        can never claim them would wait out every measurement as a timeout. A cluster's nodes are
        its own business (Ray places the workers), so a given address is not checked here."""
        if self.cores_per_run is None or self.ray_address or os.environ.get("RAY_ADDRESS"):
            return
        cores = len(usable_cores())
        if self.cores_per_run > cores:
            raise TradeoffError(f"--cores-per-run {self.cores_per_run} exceeds the {cores} cores this machine lets "
                                f"measurements use; give --cores-per-run {cores} or less, or --ray-address of a cluster")


@dataclass(frozen=True, kw_only=True)
class Tracking:
    """Where runs are logged: an MLflow tracking URI (None: $MLFLOW_TRACKING_URI or a local sqlite store) and experiment."""

    uri: str | None = None
    experiment: str = "tradeoff"

    def check(self) -> None:
        """Refuse, before anything is measured, a tracking URI MLflow cannot use: an unknown scheme,
        or an HTTP server that does not answer within CONNECT_S (a local path needs no network)."""
        uri = self.uri or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            return
        where = f"--tracking-uri {uri}" if self.uri else f"MLFLOW_TRACKING_URI={uri}"
        parts = urlsplit(uri)
        scheme = parts.scheme.split("+")[0]
        if len(scheme) > 1 and scheme not in TRACKING_SCHEMES:  # one letter: a Windows drive, a path
            raise TradeoffError(f"{where}: MLflow has no tracking store of scheme {parts.scheme!r}; give sqlite:///PATH, "
                                "a folder, or http://HOST:PORT of an MLflow server")
        if scheme in ("http", "https"):
            port = parts.port or (443 if scheme == "https" else 80)
            try:
                socket.create_connection((parts.hostname, port), timeout=CONNECT_S).close()
            except OSError as error:
                raise TradeoffError(f"{where}: nothing answers at {parts.hostname}:{port} ({error.strerror or error}); "
                                    "start the MLflow server or give another URI") from None


@dataclass(frozen=True, kw_only=True)
class CampaignSettings:
    """``tradeoff campaign``: sample (or take given configurations), measure, store, model, track."""

    target: Target
    sampler: str = "random"
    budget: int = 20
    seed: int = 0
    metric: str | None = None
    learner: str = "log-forest"
    out: str | None = None
    configs: str | None = None  # a YAML/JSON file, or a campaign folder, of configurations to measure instead of sampling
    warm_start: tuple[str, ...] = ()  # sources of other environments an optimiser is warm-started from (OptimizeSettings checks them)
    execution: Execution = field(default_factory=Execution)
    tracking: Tracking = field(default_factory=Tracking)
    resolved: bool = False

    def __post_init__(self) -> None:
        from tradeoff.models.learners.base import LEARNERS
        from tradeoff.samplers.base import SAMPLERS
        if self.budget <= 0:
            raise TradeoffError(f"--budget must be a positive number of configurations, not {self.budget}")
        SAMPLERS.check(self.sampler)
        LEARNERS.check(self.learner)

    def resolve(self) -> CampaignSettings:
        """These settings with the system's defaults filled and every value checked (once)."""
        if self.resolved:
            return self
        self.execution.check_cores()
        self.tracking.check()
        system, target = self.target.resolve()
        if self.configs:
            given_configurations(self.configs, system.space)
        else:
            check_budget(self.budget, system)
        metric = system.metric(self.metric or system.metrics[0].name).name
        resolved = replace(self, target=target, metric=metric, resolved=True)
        resolved = resolved if self.out else replace(resolved, out=str(DEFAULT_RUNS / resolved.name()))
        check_folder(resolved.out, system, target.workload)
        return resolved

    def name(self) -> str:
        """A readable, stable name: the same settings find the same folder, so a rerun resumes."""
        sampler = f"given-{Path(self.configs).stem}" if self.configs else self.sampler
        if self.warm_start:  # a warm start is another campaign than the cold one
            sampler += "-warm-" + hashlib.sha1("|".join(self.warm_start).encode()).hexdigest()[:8]
        t = self.target
        return _safe_name(f"{Path(t.system).name}-{t.environment}-{t.workload}-{sampler}-s{self.seed}")

    def identity(self) -> dict:
        """What makes a campaign this campaign, with its warm-start sources (``campaign_id``): the
        parameters of its MLflow run, the same every invocation."""
        t = self.target
        return {"system": t.system, "environment": t.environment, "workload": t.workload, "sampler": self.sampler,
                "seed": self.seed, "configs": self.configs}

    def campaign_id(self) -> str:
        key = "|".join(map(str, (*self.identity().values(), *self.warm_start)))
        return hashlib.sha1(key.encode()).hexdigest()[:12]

    def params(self) -> dict:
        """What MLflow records: every setting that was given or derived, addresses left out."""
        flat = {**asdict(self.target), **asdict(self.execution), "experiment": self.tracking.experiment,
                **{k: v for k, v in asdict(self).items() if k not in ("target", "execution", "tracking", "resolved")}}
        return {k: v for k, v in flat.items() if v is not None and k != "ray_address"}


def check_folder(out: str, system: System, workload: str) -> None:
    """A folder that can be written and holds one system, environment and workload: another is refused before anything runs."""
    from tradeoff.measurements import MeasurementStore, schema_for
    store = MeasurementStore(out, schema_for(system.space, system.metric_names))
    store.check_writable()
    store.check_compatible(system.name, system.environment, workload)


def check_budget(budget: int, system: System) -> None:
    """A budget the space can fill: asking more configurations than it holds is refused rather
    than silently measuring fewer."""
    size = system.space.count()
    if size is not None and budget > size:
        raise TradeoffError(f"--budget {budget} is more than the {size} configurations {system.name} has; give --budget {size} or less")


def given_configurations(path: str, space) -> list[dict]:
    """--config: a YAML/JSON file of configurations, or a campaign folder whose successful ones to measure again."""
    from tradeoff.measurements import measured_configurations
    from tradeoff.space import load_configurations
    return measured_configurations(path, space) if Path(path).is_dir() else load_configurations(path, space)


@dataclass(frozen=True, kw_only=True)
class TransferSettings:
    """``tradeoff transfer``: learn the target environment from few measurements, reusing source campaigns."""

    sources: tuple[str, ...]
    target: Target
    budget: int = 20
    method: str = "auto"
    metric: str | None = None
    sampler: str = "random"  # for every method but l2s, which samples with L2S
    learner: str = "log-forest"
    seed: int = 0
    out: str | None = None
    holdout: str | None = None  # a campaign folder of the target environment to score on
    execution: Execution = field(default_factory=Execution)
    tracking: Tracking = field(default_factory=lambda: Tracking(experiment="tradeoff-transfer"))
    resolved: bool = False

    def __post_init__(self) -> None:
        from tradeoff.transfer.study import sampler_for
        if self.budget <= 0:
            raise TradeoffError(f"--budget must be a positive number of target measurements, not {self.budget}")
        if not self.sources:
            raise TradeoffError("give at least one --source (a campaign folder, SYSTEM:ENVIRONMENT of a replay, or runs:/RUN_ID)")
        sampler_for(self.method)  # an unknown method is refused here

    def campaign(self) -> CampaignSettings:
        """The target's campaign: what is measured, and where it is stored (resolved with these settings)."""
        from tradeoff.transfer.study import sampler_for
        return CampaignSettings(target=self.target, sampler=sampler_for(self.method, self.sampler), budget=self.budget,
                                seed=self.seed, metric=self.metric, learner=self.learner, out=self.out,
                                execution=self.execution, tracking=self.tracking, resolved=self.resolved)

    def resolve(self) -> TransferSettings:
        if self.resolved:
            return self
        self.execution.check_cores()
        self.tracking.check()
        system, target = self.target.resolve()
        metric = system.metric(self.metric or system.metrics[0].name).name
        out = self.out or str(DEFAULT_RUNS / f"transfer-{replace(self.campaign(), target=target).name()}")
        if self.holdout:
            from tradeoff.measurements import MeasurementStore
            held = MeasurementStore(self.holdout).read()
            measured = sorted(set(zip(held["environment"], held["workload"])))
            if measured != [(target.environment, target.workload)]:
                raise TradeoffError(f"--holdout {self.holdout} holds environment/workload {measured}, not the target's "
                                    f"({target.environment}, {target.workload}); give a campaign of the target")
        check_folder(out, system, target.workload)
        return replace(self, target=target, metric=metric, out=out, resolved=True)


@dataclass(frozen=True, kw_only=True)
class DebugSettings:
    """``tradeoff debug``: explain a performance fault by its causes and fix it by measuring."""

    target: Target
    goals: tuple[str, ...]
    config: str | None = None  # a YAML file with the faulty configuration (missing options take defaults)
    row: str | None = None  # or the config_id of a measured configuration in data
    data: str | None = None
    events: tuple[str, ...] = ()  # metrics that are events (default: the system's own list)
    budget: int = 5
    initial: int = 20
    seed: int = 0
    top_k: int = 10
    max_changes: int = 3
    confirm: float = 0.0  # DebugConfig.confirm
    alpha: float = 0.05
    out: str | None = None
    execution: Execution = field(default_factory=Execution)
    tracking: Tracking = field(default_factory=lambda: Tracking(experiment="tradeoff-debug"))
    resolved: bool = False

    def __post_init__(self) -> None:
        if (self.config is None) == (self.row is None):
            raise TradeoffError("give the faulty configuration with exactly one of --config FILE.yaml or --row CONFIG_ID")
        if self.row is not None and self.data is None:
            raise TradeoffError("--row names a configuration in --data; give --data DIR too")
        if self.budget < 1 or self.initial < 5:
            raise TradeoffError("--budget must be at least 1 and --initial at least 5")
        if not self.goals:
            raise TradeoffError("give at least one --goal, e.g. --goal 'latency <= 10'")
        self.loop_config()

    def loop_config(self):
        """The causal loop's own settings (``tradeoff.causal.loop.DebugConfig``, checked when made)."""
        from tradeoff.causal.loop import DebugConfig
        return DebugConfig(alpha=self.alpha, top_k=self.top_k, max_changes=self.max_changes, budget=self.budget,
                           seed=self.seed, confirm=self.confirm)

    def resolve(self) -> DebugSettings:
        if self.resolved:
            return self
        from tradeoff.causal.goals import check_reachable, parse_goals
        self.tracking.check()
        system, target = self.target.resolve()
        goals = parse_goals(self.goals)
        for goal in goals:
            system.metric(goal.metric)
        check_reachable(goals, {m.name: m.unit for m in system.metrics}, _recorded_metrics(system))
        for event in self.events:
            system.metric(event)
        if self.config is not None:
            self.faulty(system)
        resolved = replace(self, target=target, resolved=True)
        resolved = resolved if self.out else replace(resolved, out=str(DEFAULT_RUNS / resolved.name()))
        check_folder(resolved.out, system, target.workload)
        return resolved

    def faulty(self, system: System) -> dict:
        """The faulty configuration of --config, checked against the space (missing options take defaults)."""
        import yaml
        path = Path(self.config)
        if not path.is_file():
            raise TradeoffError(f"no configuration file {path}; write the faulty options as 'option: value' lines")
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise TradeoffError(f"{path} is not a mapping of option: value")
        return system.space.validate(values, fill_defaults=True)

    def name(self) -> str:
        key = json.dumps({k: v for k, v in asdict(self).items() if k not in ("out", "resolved")}, sort_keys=True, default=str)
        return _safe_name(f"debug-{Path(self.target.system).name}-{hashlib.sha1(key.encode()).hexdigest()[:8]}")


def _recorded_metrics(system: System) -> pd.DataFrame | None:
    """A replay's recorded metrics (one column each), None for a system that measures."""
    import pandas as pd

    from systems.replay import Replay, recorded_frame
    from tradeoff.measurements import METRIC_PREFIX
    if not isinstance(system, Replay):
        return None
    table = recorded_frame(system)
    return pd.DataFrame({m: table[METRIC_PREFIX + m] for m in system.metric_names})


@dataclass(frozen=True, kw_only=True)
class LearnSettings:
    """``tradeoff learn``: fit one performance model and save it."""

    data: str
    metric: str
    learner: str = "auto"
    out: str | None = None
    seed: int = 0
    folds: int = 5
    tracking: Tracking = field(default_factory=Tracking)

    def __post_init__(self) -> None:
        from tradeoff.models.learners.base import LEARNERS
        LEARNERS.check(self.learner)

    @property
    def folder(self) -> Path:
        return Path(self.out) if self.out else DEFAULT_RUNS / f"model-{Path(self.data).stem}-{self.metric}-{self.learner}"


@dataclass(frozen=True, kw_only=True)
class EvaluateSettings:
    """``tradeoff evaluate``: learning curves by DeepPerf's protocol."""

    data: str
    metric: str
    learners: tuple[str, ...] = ("auto",)
    sizes: str | None = None
    training_index: str | None = None
    repeats: int = 30
    seed: int = 0
    json_out: str | None = None
    plot: str | None = None
    tracking: Tracking = field(default_factory=Tracking)

    def __post_init__(self) -> None:
        from tradeoff.models.learners.base import LEARNERS
        if not self.learners:
            raise TradeoffError("give at least one --learner")
        for name in self.learners:
            LEARNERS.check(name)
        if self.repeats < 1:
            raise TradeoffError(f"--repeats must be at least 1, not {self.repeats}")


SINGLE_OBJECTIVE = ("bo", "bo-ei", "flash")  # the rest optimise several objectives at once
TRANSFERS = ("bo", "bo-ei")  # the methods a warm start feeds (History.warm)
GP_DIMENSIONS = 20  # auto: above this many encoded options, a GP's lengthscales are too many to fit on a few dozen rows
GP_BUDGET = 300  # auto: above this many measurements, a GP's cubic fit per ask costs more than FLASH's tree


def optimiser(method: str) -> str:
    """The method, refused unless 'tradeoff optimize' runs it (before a campaign's sampler check names every sampler)."""
    if method not in OPTIMISERS:
        raise TradeoffError(f"unknown method {method!r}; use one of {', '.join(OPTIMISERS)}")
    return method


def parse_objective(text: str) -> tuple[str, str | None]:
    """``time`` (its direction from the system) or ``accuracy:max`` (the direction given)."""
    metric, _, goal = text.partition(":")
    if not metric or (goal and goal not in ("min", "max")):
        raise TradeoffError(f"--objective {text!r}: write METRIC or METRIC:min / METRIC:max, e.g. --objective accuracy:max")
    return metric, goal or None


def auto_method(system: System, budget: int, warm: bool, objectives: int = 1, bounded: bool = False) -> tuple[str, str]:
    """``--method auto``: the method for this problem, and why. A budget that measures the whole
    finite space leaves nothing to model (random, exhaustive); two objectives are ehvi's, more ParEGO's; a
    warm start is bo's; a GP (BO4CO) on few dimensions and a budget of a few hundred, FLASH's tree
    beyond (its point: it scales); under an output constraint (``bounded``) the GP's expected
    improvement weighted by the probability of feasibility (bo-ei: on held-out Storm seeds its worst
    seed was 12.6% from the feasible optimum, bo's 306%, bench/RESULTS.md)."""
    size, dimensions = system.space.count(), len(system.space.feature_names())
    if size is not None and budget >= size:
        return "random", f"the budget of {budget} measures all {size} configurations: nothing is left to model"
    if objectives == 2:
        return "ehvi", "two objectives: expected hypervolume improvement on per-objective GPs (below ParEGO's error on all 8 FlexiBO tables)"
    if objectives > 2:
        return "parego", f"{objectives} objectives: ParEGO's scalarised GPs find a front in few measurements"
    if warm:
        return "bo", "a warm start feeds bo's GP prior and initial design"
    if dimensions > GP_DIMENSIONS:
        return "flash", f"{dimensions} encoded options are too many GP lengthscales for a few dozen measurements (more than {GP_DIMENSIONS})"
    if budget > GP_BUDGET:
        return "flash", f"a budget of {budget} makes a GP fit per ask slow (more than {GP_BUDGET} measurements); a tree is cheap"
    kind = f"{size} configurations" if size is not None else "a continuous space"
    if bounded:
        return "bo-ei", (f"{dimensions} encoded options, {kind}, a budget of {budget} and an output constraint: "
                         "expected improvement weighted by the probability that the constraints hold")
    return "bo", f"{dimensions} encoded options, {kind} and a budget of {budget}: BO4CO's GP"


@functools.cache
def warm_source(spec: str, tracking: str | None) -> pd.DataFrame:
    """The measurements of a --warm-start source (read once per process: every ask reads them)."""
    from tasks.transfer import read_source
    return read_source(spec, tracking)


def check_warm_source(spec: str, frame: pd.DataFrame, system: System, target: Target, metric: str) -> None:
    """A source of the target's system and options, in another environment, with the objective measured."""
    from tradeoff.measurements import METRIC_PREFIX, option_names
    flag = f"--warm-start {spec}"
    systems = sorted(set(frame["system"].dropna()))
    if systems != [system.name]:
        raise TradeoffError(f"{flag} measures {', '.join(systems) or 'nothing'}, not {system.name}; give a campaign of "
                            f"{system.name} in another environment")
    if set(option_names(frame)) != set(system.space.names):
        raise TradeoffError(f"{flag} has options {', '.join(sorted(option_names(frame)))}, not {system.name}'s "
                            f"{', '.join(sorted(system.space.names))}; give a source measured with the same options")
    if set(zip(frame["environment"], frame["workload"])) == {(target.environment, target.workload)}:
        raise TradeoffError(f"{flag} is the target environment itself ({target.environment}, {target.workload}); "
                            "give another environment's measurements (a rerun of the same folder resumes it)")
    column = METRIC_PREFIX + metric
    ok = frame[(frame["status"] == "ok") & frame[column].notna()] if column in frame.columns else frame.iloc[:0]
    if ok["config_id"].nunique() < 2:
        raise TradeoffError(f"{flag} holds {ok['config_id'].nunique()} successful measurements of {metric}; "
                            "a warm start needs at least 2, give a source that measured the objective")


@dataclass(frozen=True, kw_only=True)
class OptimizeSettings:
    """``tradeoff optimize``: a campaign whose sampler is the method and whose metric is the first
    objective; several objectives are optimised together (each in the direction the system declares
    unless given), under output constraints on measured metrics and input constraints on options;
    its result is the best measured configuration and, for several objectives, the Pareto front.
    ``method`` may be ``auto``: ``resolve()`` sets the campaign's sampler to the method it runs (the
    campaign's own ``sampler`` is not read before), and hands the campaign the ``warm_start`` sources."""

    campaign: CampaignSettings
    objectives: tuple[tuple[str, str | None], ...] = ()  # (metric, "min"/"max"/None: the system's); () : the campaign's metric
    constraints: tuple[str, ...] = ()  # "psnr >= 40" (a measured metric) or "synchronous != 'off'" (an option)
    method: str = "auto"
    warm_start: tuple[str, ...] = ()  # campaign folders, SYSTEM:ENVIRONMENT[:WORKLOAD] of a replay, or runs:/RUN_ID
    resolved: bool = False

    def __post_init__(self) -> None:
        optimiser(self.method)
        if self.campaign.configs:
            raise TradeoffError("an optimisation chooses its configurations; measure given ones with 'tradeoff campaign --config'")
        if self.campaign.metric is None and not self.objectives:
            raise TradeoffError("give --objective, a metric of the system (see 'tradeoff space SYSTEM')")
        names = [m for m, _ in self.objectives]
        if len(set(names)) < len(names):
            raise TradeoffError(f"--objective {names[0]!r} is given twice; give each metric once")
        if len(self.objectives) > 1 and self.method in SINGLE_OBJECTIVE:
            raise TradeoffError(f"{self.method} optimises one objective; for {len(self.objectives)} give "
                                f"--method {' or '.join(m for m in OPTIMISERS if m not in SINGLE_OBJECTIVE)}")
        if self.method == "ehvi" and len(self.objectives) != 2:
            raise TradeoffError(f"ehvi optimises two objectives, not {len(self.objectives)}; give --method parego")
        if self.warm_start and self.method not in (*TRANSFERS, "auto"):
            raise TradeoffError(f"--warm-start feeds {' or '.join(TRANSFERS)}, not {self.method}; give --method bo or auto")
        if self.warm_start and len(self.objectives) > 1:
            raise TradeoffError(f"--warm-start feeds {' or '.join(TRANSFERS)}, which optimise one objective; "
                                "give one --objective, or no --warm-start")

    def resolve(self) -> OptimizeSettings:
        """Every check before anything is measured: each objective and constrained metric is a metric
        of the system, each constraint parses and leaves something to measure, the warm-start sources
        are of its system and options, the budget covers the method's initial design."""
        if self.resolved:
            return self
        from tradeoff.optimum import restricted, split_constraints
        from tradeoff.samplers._optimise import initial_size
        from tradeoff.samplers.base import SAMPLERS
        objectives = self.objectives or ((self.campaign.metric, None),)
        method = self.method
        if method == "auto":
            target = self.campaign.target.build()
            bounded = bool(split_constraints(self.constraints, target.space, target.metric_names)[1])
            method, why = auto_method(target, self.campaign.budget, bool(self.warm_start), len(objectives), bounded)
            log.info("optimize: method auto chose %s: %s", method, why)
        campaign = replace(self.campaign, metric=objectives[0][0], sampler=method, warm_start=tuple(self.warm_start)).resolve()
        system = campaign.target.build()
        goals = tuple((system.metric(m).name, goal or system.metric(m).goal) for m, goal in objectives)
        options, bounds = split_constraints(self.constraints, system.space, system.metric_names)
        restricted(system.space, options)
        if campaign.sampler == "flexibo" and (len(goals) != 2 or bounds):  # its choice is for two objectives, unconstrained
            raise TradeoffError(f"flexibo chooses for two objectives without output constraints; give two --objective and no "
                                f"constraint on a metric, or --method parego")
        if SAMPLERS.get(campaign.sampler).adaptive:
            needed = initial_size(system.space)
            if campaign.budget < needed:
                raise TradeoffError(f"--budget {campaign.budget} is smaller than {campaign.sampler}'s initial design of "
                                    f"{needed} configurations; give --budget {needed} or more")
        for spec in self.warm_start:
            check_warm_source(spec, warm_source(spec, campaign.tracking.uri), system, campaign.target, campaign.metric)
        return replace(self, campaign=campaign, objectives=goals, method=method, resolved=True)

    def goals(self) -> tuple[tuple[str, str], ...]:
        """The objectives with their directions (resolved settings)."""
        return self.objectives

    def goal(self) -> str:
        return self.goals()[0][1]
