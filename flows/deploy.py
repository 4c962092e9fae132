"""``tradeoff deploy`` and ``tradeoff worker``: campaigns that run on a schedule, on a cluster, and survive their worker.

A deployment is a study (campaign, transfer or optimisation) with its settings object as the flow's
parameters, on a Prefect *process* work pool, optionally on a cron or interval schedule. A study is
given as the ``tradeoff`` command that would run it now (``tradeoff deploy --cron '0 2 * * *' campaign
x264 --budget 50``), so every option and every check is the command's own, run once at deploy time.

What keeps a scheduled campaign safe:
- a deployment concurrency limit of 1: a campaign whose previous run still measures waits (one
  deployment per campaign; the engine's folder lock refuses a second driver whatever starts it);
- flow retries (``PREFECT_FLOWS_DEFAULT_RETRIES`` in the runs' environment): a run that fails on a
  lost node or a server down is retried and resumes from the store;
- a run whose worker or driver was killed stops sending heartbeats. Prefect documents the answer
  ("detect zombie flows"): runs emit heartbeats (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``) and an
  automation marks a run whose heartbeat stopped ``Crashed``. A second automation schedules a
  crashed run of a Tradeoff deployment again, and the campaign measures only what the store lacks.

``tradeoff worker`` is ``prefect worker start`` for the pool with what the runs need in its
environment: the Ray address and token, the MLflow URI and credentials, and this source tree.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import socket
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from tradeoff.errors import TradeoffError

ROOT = Path(__file__).resolve().parent.parent
FLOWS = {"campaign": "flows/campaign.py:campaign", "transfer": "flows/transfer.py:transfer", "optimize": "flows/optimize.py:optimize"}
TAG = "tradeoff"  # every deployment's tag: the recovery automation acts on runs that carry it
HEARTBEAT_S = 30  # Prefect's smallest heartbeat frequency
ZOMBIE_AFTER_S = 2 * HEARTBEAT_S  # two heartbeats missed: the run is marked Crashed
RETRIES, RETRY_DELAY_S = 2, 20
POOL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
PASSED_ON = ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME",
             "MLFLOW_TRACKING_PASSWORD", "TRADEOFF_DATASETS", "TRADEOFF_CACHE")
log = logging.getLogger(__name__)

# The environment of every deployed run: heartbeats (zombie detection) and retries.
RUN_ENV = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S), "PREFECT_FLOWS_DEFAULT_RETRIES": str(RETRIES),
           "PREFECT_FLOWS_DEFAULT_RETRY_DELAY_SECONDS": str(RETRY_DELAY_S)}


def check_pool(pool: str) -> str:
    if not POOL_NAME.match(pool):
        raise TradeoffError(f"--pool {pool!r} is not a work pool name; use letters, digits, '.', '_' and '-' (e.g. tradeoff)")
    return pool


def prefect_server() -> str:
    """$PREFECT_API_URL, answering: a deployment or worker on Prefect's temporary server would vanish with the command."""
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        raise TradeoffError("set PREFECT_API_URL to your Prefect server's API, e.g. http://127.0.0.1:4200/api "
                            "('python3 -m flows.stack up' starts one and prints it)")
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 80), timeout=2).close()
    except OSError as error:
        raise TradeoffError(f"PREFECT_API_URL={url}: nothing answers ({error.strerror or error}); start the Prefect server "
                            "or fix the address") from None
    return url


@dataclass(frozen=True, kw_only=True)
class DeploySettings:
    """``tradeoff deploy``: one study, its schedule and its pool."""

    kind: str  # campaign, transfer or optimize
    study: object  # its settings (CampaignSettings, TransferSettings, OptimizeSettings), resolved
    pool: str = "tradeoff"
    name: str | None = None
    cron: str | None = None
    interval: float | None = None  # seconds

    def __post_init__(self) -> None:
        if self.kind not in FLOWS:
            raise TradeoffError(f"cannot deploy {self.kind!r}; deploy one of {', '.join(FLOWS)} (e.g. tradeoff deploy campaign x264)")
        check_pool(self.pool)
        if self.cron and self.interval:
            raise TradeoffError("give one schedule: --cron or --interval, not both")
        if self.interval is not None and self.interval <= 0:
            raise TradeoffError(f"--interval must be a positive number of seconds, not {self.interval:g}")
        if self.cron:
            from pydantic import ValidationError
            from prefect.client.schemas.schedules import CronSchedule
            try:
                CronSchedule(cron=self.cron)
            except ValidationError:
                raise TradeoffError(f"--cron {self.cron!r} is not a cron schedule; write five fields, e.g. '0 2 * * *' "
                                    "(every night at 02:00)") from None
        if self.name is not None and not POOL_NAME.match(self.name):
            raise TradeoffError(f"--name {self.name!r} is not a deployment name; use letters, digits, '.', '_' and '-'")

    def deployment_name(self) -> str:
        return self.name or Path(self.folder()).name

    def folder(self) -> str:
        """The folder the study measures into (it names the deployment)."""
        return (self.study.campaign if self.kind == "optimize" else self.study).out

    def parameters(self) -> dict:
        """The flow's parameters: the settings as plain values, left unresolved so each run checks them again
        (a program removed since, a server moved); the folder, environment and workload stay as resolved.
        Paths become absolute: a run works in the source tree, not where ``tradeoff deploy`` ran."""
        study = _absolute(self.study)
        if self.kind == "optimize":
            study = replace(study, campaign=_absolute(study.campaign))
        return {"settings": asdict(study), "progress": False}


def _path(value: str | None, always: bool = False) -> str | None:
    """``value`` made absolute when it is a path here (a spec, a folder) or must be one (an output folder)."""
    return str(Path(value).resolve()) if value and (always or Path(value).exists()) else value


def _absolute(settings):
    """Settings whose paths are absolute, unresolved (the fields each kind of settings has)."""
    changes = {"resolved": False}
    if hasattr(settings, "target"):
        changes["target"] = replace(settings.target, system=_path(settings.target.system))
    if hasattr(settings, "out"):
        changes["out"] = _path(settings.out, always=True)
    for name in ("configs", "holdout"):
        if hasattr(settings, name):
            changes[name] = _path(getattr(settings, name))
    for name in ("sources", "warm_start"):
        if hasattr(settings, name):
            changes[name] = tuple(_path(source) for source in getattr(settings, name))
    return replace(settings, **changes)


def ensure_pool(pool: str) -> None:
    """The process work pool, created if absent; a pool of another type is refused."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    with get_client(sync_client=True) as client:
        try:
            existing = client.read_work_pool(pool)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
            log.info("deploy: created process work pool %s", pool)
            return
    if existing.type != "process":
        raise TradeoffError(f"work pool {pool} is a {existing.type} pool; give --pool of a process pool or a new name")


def ensure_recovery() -> None:
    """The two automations that recover a run whose worker died: Prefect's zombie detection
    (no heartbeat for ZOMBIE_AFTER_S -> Crashed), then a crashed Tradeoff run -> scheduled again."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification
    wanted = [
        Automation(
            name="tradeoff: crash zombie flow runs",
            description="A flow run that stopped sending heartbeats (its worker or process was killed) is Crashed.",
            trigger=EventTrigger(
                after={"prefect.flow-run.heartbeat"},
                expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                        "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"},
                match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
                match_related=ResourceSpecification({"prefect.resource.id": f"prefect.tag.{TAG}",
                                                     "prefect.resource.role": "tag"}),
                for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
                within=datetime.timedelta(seconds=ZOMBIE_AFTER_S)),
            actions=[ChangeFlowRunState(state=StateType.CRASHED, message=f"no heartbeat for {ZOMBIE_AFTER_S} s: "
                                        "the worker or the flow run's process died")]),
        Automation(
            name="tradeoff: run crashed campaigns again",
            description="A crashed run of a Tradeoff deployment is scheduled again; it measures what the store lacks.",
            trigger=EventTrigger(
                expect={"prefect.flow-run.Crashed"},
                match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
                match_related=ResourceSpecification({"prefect.resource.id": f"prefect.tag.{TAG}",
                                                     "prefect.resource.role": "tag"}),
                posture=Posture.Reactive, threshold=1),
            # not forced: leaving Crashed through Prefect's rules marks the run a reschedule, which workers take
            actions=[ChangeFlowRunState(state=StateType.SCHEDULED, name="AwaitingRetry",
                                        message="crashed: scheduled again, to resume from the store")]),
    ]
    for automation in wanted:  # made, or brought up to date
        try:
            automation.id = Automation.read(name=automation.name).id
            automation.update()
        except ValueError:
            automation.create()
            log.info("deploy: created automation %r", automation.name)


def deploy(settings: DeploySettings) -> str:
    """Create or update the deployment; returns its id. The source is this tree, as the worker's machine has it."""
    from prefect import flow
    prefect_server()
    ensure_pool(settings.pool)
    ensure_recovery()
    source = flow.from_source(source=str(ROOT), entrypoint=FLOWS[settings.kind])
    schedule = {"cron": settings.cron} if settings.cron else {"interval": settings.interval} if settings.interval else {}
    deployment_id = source.deploy(
        name=settings.deployment_name(), work_pool_name=settings.pool, parameters=settings.parameters(),
        concurrency_limit=1, tags=[TAG, settings.kind], job_variables={"env": RUN_ENV}, build=False, push=False,
        print_next_steps=False, description=f"tradeoff {settings.kind} into {settings.folder()}", **schedule)
    return str(deployment_id)


def worker_command(pool: str, ray_address: str | None, tracking_uri: str | None) -> tuple[list[str], dict[str, str]]:
    """``prefect worker start`` for the pool and its environment: what every run it starts needs."""
    check_pool(pool)
    prefect_server()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)  # it keeps a Ray to one node: the runs join a cluster
    if ray_address:
        env["RAY_ADDRESS"] = ray_address
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    if env.get("RAY_ADDRESS") and "RAY_AUTH_MODE" not in env:
        raise TradeoffError("set RAY_AUTH_MODE (and RAY_AUTH_TOKEN) as the Ray cluster has them; Ray 2.60 clusters use "
                            "token auth (RAY_AUTH_MODE=disabled where the cluster runs without)")
    log.info("worker: %s", ", ".join(f"{k}={env[k]}" for k in PASSED_ON if k in env and "PASSWORD" not in k and "TOKEN" not in k))
    return ["prefect", "worker", "start", "--pool", pool, "--type", "process"], env
