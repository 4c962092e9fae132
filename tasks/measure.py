"""Measurement on Ray: one actor call per measurement, each worker pinned to cores of its own.

A worker claims its cores through per-core lock files on its node, so two measurements never
share a core, even across campaigns. ``WorkerPool`` (shaped like Ray's ``ActorPool``) keeps two
calls queued per worker, so a worker never waits for the driver. Rows are flushed to the Parquet
store as they arrive: a killed campaign loses only the measurements in flight, and a rerun skips
what is stored (``to_measure``).

Where: a measurement means something only on the hardware it claims, so when any alive Ray node
carries a ``tradeoff-environment`` label (``ray start --labels tradeoff-environment=E,
tradeoff-node=NAME``), a campaign for environment E places its workers on nodes labelled E only
(Ray's ``label_selector``), and refuses to start without one. Every row names its node.

Faults: a measurement lost to the infrastructure — its worker unreachable (``ActorUnavailableError``:
the node or the network went) or dead with its node — is no verdict on the configuration: it is
recorded as an attempt (``MeasurementStore.attempts``) and measured again on another worker, up to
``MAX_ATTEMPTS`` times; only then a ``failed`` row. A worker that dies while its node lives was
killed by what it ran: a ``failed`` row, as a crash is. The watchdog catches a hung worker (drivers
enforce the timeout themselves): it counts from when the job could start — its worker is up and
the call before it returned — so a replacement worker that waits to be placed times nothing out;
a hung job becomes a ``timeout`` row and a fresh worker takes its place. The measurements in flight
are named in the folder at each flush, so those of a driver that was killed or interrupted are
recorded as lost attempts by the next (``MeasurementStore.note_in_flight``).

Warm workers: inside ``keep_warm`` (a campaign's rounds), one pool serves every ``measure`` call of
the same system, workload and settings, so an adaptive campaign pays worker start-up once.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import socket
import tempfile
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import ray
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from systems.base import System, measure_once
from tradeoff.environment import host_facts, usable_cores
from tradeoff.errors import TradeoffError
from tradeoff.measurements import MeasurementStore, failed, identity, new_row, part_label
from tradeoff.samplers.base import Part, split_part
from tradeoff.space import config_id

CORE_LOCKS = Path(tempfile.gettempdir()) / f"tradeoff-cores-{os.getuid()}"
WATCHDOG_GRACE_S = 30.0  # drivers enforce the timeout themselves; this catches a hung worker
MAX_ATTEMPTS = 3  # tries of a measurement lost to the infrastructure, as Ray's and Optuna's retries
ENVIRONMENT_LABEL, NODE_LABEL = "tradeoff-environment", "tradeoff-node"
FLUSH_EVERY_S, FLUSH_ROWS = 1.0, 500
log = logging.getLogger(__name__)


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at ``address`` (or $RAY_ADDRESS), else start a local one on 127.0.0.1."""
    if ray.is_initialized():
        return
    if address or os.environ.get("RAY_ADDRESS"):
        try:
            ray.init(address=address, logging_level="ERROR")
        except ConnectionError as error:
            raise TradeoffError(f"cannot connect to the Ray cluster at {address or os.environ['RAY_ADDRESS']} ({error}); "
                                "check the address, and give RAY_AUTH_MODE and RAY_AUTH_TOKEN as the cluster has them") from None
    else:
        # Ray binds its servers to the node's network address unless it believes there is no
        # cluster; a local Ray needs none, so it serves loopback only (its processes inherit this).
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        ray._private.ray_constants.ENABLE_RAY_CLUSTER = False
        # address="local": start our own Ray even while another user's Ray runs on this machine
        # (with no address, ray.init joins any running cluster and then refuses num_cpus).
        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR")


def describe_cluster() -> str:
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus = int(ray.cluster_resources().get("CPU", 0))
    return f"{ray.get_runtime_context().gcs_address}, {cpus} CPUs on {len(nodes)} node{'s' * (len(nodes) != 1)}"


def _labels(node: dict) -> dict:
    return node.get("Labels") or {}


def environment_nodes(system: System, alive: list[dict] | None = None) -> list[dict]:
    """The alive nodes this system's workers may run on: those labelled with its environment where
    the cluster labels environments (a replay claims no hardware), else every node with CPUs."""
    alive = [n for n in ray.nodes() if n.get("Alive")] if alive is None else alive
    if system.kind != "replay" and any(ENVIRONMENT_LABEL in _labels(n) for n in alive):
        return [n for n in alive if _labels(n).get(ENVIRONMENT_LABEL) == system.environment]
    return [n for n in alive if n.get("Resources", {}).get("CPU")]


def placement(system: System) -> dict:
    """Ray's options that keep workers on the environment's nodes (none on a cluster without
    environment labels); a TradeoffError when labels exist but no alive node has this one."""
    alive = [n for n in ray.nodes() if n.get("Alive")]
    labelled = sorted({_labels(n)[ENVIRONMENT_LABEL] for n in alive if ENVIRONMENT_LABEL in _labels(n)})
    if system.kind == "replay" or not labelled:
        return {}
    if not environment_nodes(system, alive):
        raise TradeoffError(f"no alive Ray node is labelled {ENVIRONMENT_LABEL}={system.environment} (alive nodes "
                            f"are labelled {', '.join(labelled)}); start one with 'ray start --address ... --labels "
                            f"{ENVIRONMENT_LABEL}={system.environment},{NODE_LABEL}=NAME' and rerun, or measure "
                            "another --environment")
    return {"label_selector": {ENVIRONMENT_LABEL: system.environment}}


def claim_cores(count: int) -> tuple[list[int], list]:
    """Lock ``count`` free cores of this node; the locks live as long as the returned handles."""
    CORE_LOCKS.mkdir(parents=True, exist_ok=True)
    claimed, handles = [], []
    for core in usable_cores():
        handle = open(CORE_LOCKS / f"core-{core}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        claimed.append(core)
        handles.append(handle)
        if len(claimed) == count:
            return claimed, handles
    for handle in handles:
        handle.close()
    raise TradeoffError(f"no {count} free cores on this node: other measurements hold them; lower --concurrency or wait")


@ray.remote
class MeasurementWorker:
    def __init__(self, system: System, cores: int, campaign: str, version: str):
        self.system, self.campaign, self.version = system, campaign, version
        self.cpus, self._locks = claim_cores(cores) if cores else ([], [])

    def where(self) -> dict:
        """The node this worker runs on, as rows record it."""
        context = ray.get_runtime_context()
        node_id = context.get_node_id()
        cpus = next((n["Resources"].get("CPU", 0) for n in ray.nodes() if n["NodeID"] == node_id), 0)
        return dict(node=context.get_node_labels().get(NODE_LABEL) or socket.gethostname(), node_id=node_id,
                    node_cpus=int(cpus))

    def measure(self, config: dict, workload: str, repetition: int, timeout: float, only: tuple[str, ...] = ()) -> dict:
        return measure_once(self.system, config, workload, repetition, timeout, self.cpus, self.campaign, self.version, only)


@dataclass
class Job:
    config: dict
    repetition: int
    attempt: int = 1
    started: dt.datetime | None = None  # when it could start running (its worker up, the call before it done)
    started_clock: float = 0.0  # the same on the monotonic clock: the watchdog's
    only: tuple[str, ...] = ()  # a partial measurement's metrics (one the system declares ``separately``); (): all


def to_measure(store: MeasurementStore, system: System, workload: str, configs: list[dict | Part], reps: int) -> list[Job]:
    """The repetitions of ``configs`` (a ``Part``: of its metrics alone) the folder does not hold yet,
    each numbered after the attempts lost before; a folder of another system, environment,
    workload, options or metrics, or a part the system does not declare, is refused before anything runs."""
    store.check_compatible(system.name, system.environment, workload)
    done = store.done()
    key = dict(system=system.name, environment=system.environment, workload=workload)
    asked = [split_part(item) for item in configs]
    for _, only in asked:
        if only:
            system.part(only)
    jobs = [Job(c, r, only=only) for c, only in asked for r in range(reps)
            if identity({**key, "config_id": config_id(c), "measured": part_label(only), "repetition": r}) not in done]
    if len(jobs) < len(configs) * reps:
        log.info("%d of %d measurements skipped: %s holds them", len(configs) * reps - len(jobs), len(configs) * reps,
                 store.folder)
    lost = store.attempts()
    if len(lost) and jobs:
        tried = lost.groupby(["config_id", "repetition"])["attempt"].max().to_dict()
        for job in jobs:
            job.attempt = int(tried.get((config_id(job.config), job.repetition), 0)) + 1
    return jobs


def default_concurrency(system: System, cores_per_run: int) -> int:
    """Timing-sensitive systems leave a core per node to Ray and the driver; others use all
    (of the environment's nodes)."""
    nodes = environment_nodes(system)
    cpus = int(sum(n["Resources"].get("CPU", 0) for n in nodes)) or 1
    if system.timing_sensitive:
        return max(1, (cpus - max(1, len(nodes))) // cores_per_run)
    return cpus


def pinned_cores(system: System, cores_per_run: int | None = None) -> int:
    """Cores each measurement is pinned to; 0 for systems whose timings do not matter."""
    return (cores_per_run or system.cores_per_run) if system.timing_sensitive else 0


def worker_count(system: System, concurrency: int | None = None, cores_per_run: int | None = None) -> int:
    """How many measurements run at once (on a connected Ray)."""
    return concurrency or default_concurrency(system, max(pinned_cores(system, cores_per_run), 1))


@dataclass
class _Slot:
    """One worker and the calls queued on it, oldest first."""

    actor: object
    ready: object  # the ref of its ``where`` call: measurements are queued on it once that returns
    where: dict | None = None
    queue: deque = field(default_factory=deque)  # (ref, job) in submission order


class WorkerPool:
    """Measurement workers of one campaign, each with up to ``queue_depth`` calls queued.

    ``submit`` puts jobs in line; ``next_rows`` hands out the rows that are ready (a worker that
    died or hung gives a failure row for its running job, or a lost attempt, and is replaced);
    ``lost`` collects the attempts lost to the infrastructure; ``close`` kills the workers."""

    def __init__(self, system: System, workload: str, timeout: float, campaign: str, workers: int, cores: int,
                 queue_depth: int = 2):
        self.system, self.workload, self.timeout, self.campaign = system, workload, timeout, campaign
        self.queue_depth = queue_depth
        self.pending: deque[Job] = deque()  # submitted, not yet queued on a worker
        self.lost: list[dict] = []  # attempts lost to the infrastructure, for the store's attempts table
        # Workers reserve CPUs in Ray, so Ray spreads them over the nodes and never places more on a
        # node than fit: their pinned cores, else a share of the environment's CPUs.
        cpus = sum(n["Resources"].get("CPU", 0) for n in environment_nodes(system)) or 1.0
        self._options = dict(num_cpus=cores or min(1.0, cpus / workers), max_concurrency=1, max_restarts=0,
                             **placement(system))
        self._args = (ray.put(system), cores, campaign, system.program_version())
        self.slots: list[_Slot] = []
        self.grow(workers)
        log.info("started %d measurement workers for %s (%s)", workers, system.name,
                 f"{cores} pinned core{'s' * (cores != 1)} each" if cores else "not pinned")

    def grow(self, workers: int) -> None:
        """At least ``workers`` workers (a later round of a warm pool may need more)."""
        self.slots += [self._start() for _ in range(workers - len(self.slots))]

    def submit(self, jobs: list[Job]) -> None:
        self.pending.extend(jobs)

    def has_next(self) -> bool:
        return bool(self.pending) or any(slot.queue for slot in self.slots)

    def next_rows(self, wait_s: float = 1.0) -> list[dict]:
        """The rows ready now, else those ready within ``wait_s`` (possibly none)."""
        self._fill()
        # A worker runs its calls in order, so only the heads of the queues can be next.
        heads = [s.queue[0][0] for s in self.slots if s.queue] + [s.ready for s in self.slots if s.where is None]
        ready, _ = ray.wait(heads, num_returns=len(heads), timeout=0)
        if not ready:
            ready, _ = ray.wait(heads, num_returns=1, timeout=wait_s)
        ready, rows = set(ready), []
        for index, slot in enumerate(self.slots):
            if slot.where is None:
                if slot.ready in ready:
                    self._started(index, slot)
            elif slot.queue and slot.queue[0][0] in ready:
                ref, job = slot.queue.popleft()
                try:
                    rows.append(self._tagged(ray.get(ref), job, slot.where))
                    if slot.queue:
                        _mark_started(slot.queue[0][1])
                except ray.exceptions.RayActorError as error:
                    rows += self._worker_died(index, job, error)
            elif slot.queue and time.monotonic() - slot.queue[0][1].started_clock > self.timeout + WATCHDOG_GRACE_S:
                _, job = slot.queue.popleft()
                rows.append(self._failure(job, slot.where, "timeout", f"measurement gave no result {self.timeout:g} s + "
                                          f"{WATCHDOG_GRACE_S:g} s after it started; its worker was killed"))
                ray.kill(slot.actor)
                self.replace(index, f"it gave no result after {self.timeout:g} s + {WATCHDOG_GRACE_S:g} s grace")
        if not ready and self.pending and not any(s.where for s in self.slots) and not environment_nodes(self.system):
            placement(self.system)  # every node of the environment is gone: one line (the rows so far are stored)
            raise TradeoffError(f"no alive Ray node has CPUs for {self.system.name}; start a worker node and rerun to resume")
        return rows

    def in_flight(self) -> list[dict]:
        """The jobs running now (the heads of the queues), as attempts (``ATTEMPT_FIELDS``) without an end."""
        return [self._attempt(slot.queue[0][1], slot.where) for slot in self.slots if slot.queue]

    def replace(self, index: int, why: str) -> _Slot:
        """A fresh worker for slot ``index``; the jobs queued behind the old one go back in line."""
        for _, job in reversed(self.slots[index].queue):
            self.pending.appendleft(job)
        log.info("replaced measurement worker %d: %s", index, why)
        self.slots[index] = self._start()
        return self.slots[index]

    def close(self) -> None:
        for slot in self.slots:
            ray.kill(slot.actor)

    def lose(self, job: Job, where: dict | None, why: str) -> None:
        """Record ``job``'s attempt as lost to the infrastructure."""
        log.info("lost attempt %d of %s repetition %d on %s: %s", job.attempt, config_id(job.config), job.repetition,
                 where and where["node"], why)
        self.lost.append({**self._attempt(job, where), "error": why[:2000], "ended": dt.datetime.now(dt.timezone.utc)})

    def _attempt(self, job: Job, where: dict | None) -> dict:
        return dict(config_id=config_id(job.config), repetition=job.repetition, attempt=job.attempt,
                    node=where and where["node"], node_id=where and where["node_id"], started=job.started)

    def _start(self) -> _Slot:
        actor = MeasurementWorker.options(**self._options).remote(*self._args)
        return _Slot(actor, actor.where.remote())

    def _started(self, index: int, slot: _Slot) -> None:
        try:
            slot.where = ray.get(slot.ready)
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnschedulableError) as error:
            if getattr(error, "actor_init_failed", False):  # e.g. no free cores: every replacement would fail alike
                raise TradeoffError(str(error.__cause__ or error).strip().splitlines()[-1]) from None
            self.replace(index, f"it did not start: {str(error).splitlines()[0]}")

    def _worker_died(self, index: int, job: Job, error: Exception) -> list[dict]:
        """The running job's row, or none when the loss is the infrastructure's (recorded, retried)."""
        where, rows = self.slots[index].where, []
        node_alive = any(n["NodeID"] == where["node_id"] and n.get("Alive") for n in ray.nodes())
        first_line = str(error).strip().splitlines()[0]
        if isinstance(error, ray.exceptions.ActorUnavailableError) or not node_alive:
            why = f"{'its node died' if not node_alive else 'its worker became unreachable'}: {first_line}"
            self.lose(job, where, why)
            if job.attempt < MAX_ATTEMPTS:
                self.pending.appendleft(Job(job.config, job.repetition, job.attempt + 1, only=job.only))
            else:
                rows.append(self._failure(job, where, "failed", f"lost {MAX_ATTEMPTS} times to infrastructure faults; last: {why}"))
        else:
            rows.append(self._failure(job, where, "failed", "its worker died on a live node (the measured program killed "
                                      f"it, or it crashed): {first_line}"))
        self.replace(index, f"its worker died: {first_line}")  # the calls queued behind it never ran
        return rows

    def _fill(self) -> None:
        for slot in self.slots:
            while slot.where and self.pending and len(slot.queue) < self.queue_depth:
                job = self.pending.popleft()
                if not slot.queue:
                    _mark_started(job)
                ref = slot.actor.measure.remote(job.config, self.workload, job.repetition, self.timeout, job.only)
                slot.queue.append((ref, job))

    def _tagged(self, row: dict, job: Job, where: dict | None) -> dict:
        row["attempt"] = job.attempt
        if where:
            row.update(node=where["node"], node_id=where["node_id"], node_cpus=where["node_cpus"])
        return row

    def _failure(self, job: Job, where: dict | None, status: str, error: str) -> dict:
        row = new_row(system=self.system.name, environment=self.system.environment, workload=self.workload,
                      config=job.config, repetition=job.repetition, campaign=self.campaign, cpus=[], version="",
                      host=host_facts())
        row["measured"] = part_label(job.only)
        return self._tagged(failed(row, status, error), job, where)


def _mark_started(job: Job) -> None:
    job.started, job.started_clock = dt.datetime.now(dt.timezone.utc), time.monotonic()


_open_writers: set[_Writer] = set()  # writers of the measurements running now, for flush_pending
_warm: dict = {}  # inside keep_warm: "depth", and "key"/"pool" of the pool kept for the next round


def flush_pending() -> None:
    """Store the rows that arrived but wait for their flush, and name the measurements in flight
    (the next driver records them as lost): an interrupted command calls this before it exits (a
    flush cut short and done again leaves duplicates, which reading drops)."""
    for writer in list(_open_writers):
        writer.flush()


class _Writer:
    """Rows and lost attempts on their way to the store, rows flushed every ``FLUSH_EVERY_S`` or
    ``FLUSH_ROWS`` rows, attempts as they come (they are rare)."""

    def __init__(self, store: MeasurementStore, pool: WorkerPool):
        self.store, self.pool, self.buffer, self.written, self.last_flush = store, pool, [], 0, time.monotonic()

    def add(self, rows: list[dict]) -> None:
        self.buffer += rows
        if self.pool.lost or len(self.buffer) >= FLUSH_ROWS or (self.buffer and time.monotonic() - self.last_flush > FLUSH_EVERY_S):
            self.flush()

    def flush(self) -> None:
        self.store.append(self.buffer)
        self.written += len(self.buffer)
        self.buffer, self.last_flush = [], time.monotonic()
        lost, self.pool.lost = self.pool.lost, []
        self.store.record_attempts(lost)
        self.store.note_in_flight(self.pool.in_flight())


@contextmanager
def keep_warm():
    """Within it, ``measure`` keeps its workers for the next call of the same campaign (rounds of an
    adaptive sampler); they are killed at its end."""
    _warm["depth"] = _warm.get("depth", 0) + 1
    try:
        yield
    finally:
        _warm["depth"] -= 1
        if not _warm["depth"]:
            _drop_warm()


def _drop_warm() -> None:
    """Kill the pool kept warm, if any."""
    if "pool" in _warm:
        _warm.pop("key")
        _warm.pop("pool").close()


def _pool(system: System, workload: str, timeout: float, campaign: str, workers: int, cores: int,
          queue_depth: int) -> WorkerPool:
    key = (type(system).__name__, system.name, system.environment, workload, timeout, campaign, cores, queue_depth)
    if _warm.get("key") == key:
        _warm["pool"].grow(workers)
        return _warm["pool"]
    _drop_warm()
    pool = WorkerPool(system, workload, timeout, campaign, workers, cores, queue_depth)
    if _warm.get("depth"):
        _warm.update(key=key, pool=pool)
    return pool


def measure(system: System, jobs: list[Job], workload: str, timeout: float, store: MeasurementStore, campaign: str,
            concurrency: int | None = None, cores_per_run: int | None = None, progress: bool = True,
            queue_depth: int = 2) -> int:
    """Measure every job on Ray workers and append each row to ``store``; returns rows written.
    The caller holds the folder (``store.lock``); a lone call takes it itself."""
    if not jobs:
        return 0
    workers = min(worker_count(system, concurrency, cores_per_run), len(jobs))
    with store.lock():
        pool = _pool(system, workload, timeout, campaign, workers, pinned_cores(system, cores_per_run), queue_depth)
        writer = _Writer(store, pool)
        _open_writers.add(writer)
        bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       TextColumn("eta"), TimeRemainingColumn(), disable=not progress, transient=False)
        with bar:
            task = bar.add_task(f"measuring {system.name}", total=len(jobs))
            try:
                pool.submit(jobs)
                while pool.has_next():
                    rows = pool.next_rows()
                    writer.add(rows)
                    bar.advance(task, len(rows))
            finally:
                writer.flush()  # whatever arrived is kept, also when a measurement raises; what runs is named
                _open_writers.discard(writer)
                if _warm.get("pool") is not pool:
                    pool.close()
                elif pool.has_next():  # stopped by an error: the next call starts afresh
                    _drop_warm()
        store.compact()
    return writer.written
