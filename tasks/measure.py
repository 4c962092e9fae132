"""Measurement on Ray: one actor call per measurement, each worker pinned to cores of its own.

A worker claims its cores through per-core lock files on its node, so two measurements never
share a core, even across campaigns. ``WorkerPool`` (shaped like Ray's ``ActorPool``) keeps two
calls queued per worker, so a worker never waits for the driver, and a watchdog: drivers enforce
the timeout themselves, so a worker that gives no result well past it is hung; its measurement
becomes a ``timeout`` row and a fresh worker takes its place. Rows are flushed to the Parquet
store as they arrive: a killed campaign loses only the measurements in flight, and a rerun skips
what is stored (``to_measure``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import ray
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from systems.base import System, measure_once
from tradeoff.environment import host_facts, usable_cores
from tradeoff.errors import TradeoffError
from tradeoff.measurements import MeasurementStore, failed, identity, new_row
from tradeoff.space import config_id

CORE_LOCKS = Path(tempfile.gettempdir()) / f"tradeoff-cores-{os.getuid()}"
WATCHDOG_GRACE_S = 30.0  # drivers enforce the timeout themselves; this catches a hung worker
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

    def measure(self, config: dict, workload: str, repetition: int, timeout: float) -> dict:
        return measure_once(self.system, config, workload, repetition, timeout, self.cpus, self.campaign, self.version)


@dataclass
class Job:
    config: dict
    repetition: int


def to_measure(store: MeasurementStore, system: System, workload: str, configs: list[dict], reps: int) -> list[Job]:
    """The repetitions of ``configs`` the folder does not hold yet; a folder of another system,
    environment, workload, options or metrics is refused before anything runs."""
    store.check_compatible(system.name, system.environment, workload)
    done = store.done()
    key = dict(system=system.name, environment=system.environment, workload=workload)
    jobs = [Job(c, r) for c in configs for r in range(reps)
            if identity({**key, "config_id": config_id(c), "repetition": r}) not in done]
    if len(jobs) < len(configs) * reps:
        log.info("%d of %d measurements skipped: %s holds them", len(configs) * reps - len(jobs), len(configs) * reps,
                 store.folder)
    return jobs


def default_concurrency(system: System, cores_per_run: int) -> int:
    """Timing-sensitive systems leave a core per node to Ray and the driver; others use all."""
    cpus = int(ray.cluster_resources().get("CPU", 1))
    nodes = max(1, len([n for n in ray.nodes() if n.get("Alive")]))
    if system.timing_sensitive:
        return max(1, (cpus - nodes) // cores_per_run)
    return max(1, cpus)


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
    queue: deque = field(default_factory=deque)  # (ref, job) in submission order
    head_since: float = 0.0  # when the oldest queued call could start running


class WorkerPool:
    """Measurement workers of one campaign, each with up to ``queue_depth`` calls queued.

    ``submit`` puts jobs in line; ``next_rows`` hands out the rows that are ready (a worker that
    died or hung gives a failure row for its running job and is replaced); ``close`` kills them."""

    def __init__(self, system: System, workload: str, timeout: float, campaign: str, workers: int, cores: int,
                 queue_depth: int = 2):
        self.system, self.workload, self.timeout, self.campaign = system, workload, timeout, campaign
        self.queue_depth = queue_depth
        self.pending: deque[Job] = deque()  # submitted, not yet queued on a worker
        self.returned = 0  # rows handed out so far
        # Pinned workers reserve their cores in Ray too, so Ray never places more of them on a node than fit.
        self._worker = MeasurementWorker.options(num_cpus=cores, max_concurrency=1)
        self._args = (ray.put(system), cores, campaign, system.program_version())
        self.slots = [self._start() for _ in range(workers)]
        log.info("started %d measurement workers for %s (%s)", workers, system.name,
                 f"{cores} pinned core{'s' * (cores != 1)} each" if cores else "not pinned")

    def submit(self, jobs: list[Job]) -> None:
        self.pending.extend(jobs)

    def has_next(self) -> bool:
        return bool(self.pending) or any(slot.queue for slot in self.slots)

    def next_rows(self, wait_s: float = 1.0) -> list[dict]:
        """The rows ready now, else those ready within ``wait_s`` (possibly none)."""
        self._fill()
        # A worker runs its calls in order, so only the heads of the queues can be next.
        heads = [slot.queue[0][0] for slot in self.slots if slot.queue]
        ready, _ = ray.wait(heads, num_returns=len(heads), timeout=0)
        if not ready:
            ready, _ = ray.wait(heads, num_returns=1, timeout=wait_s)
        ready, rows = set(ready), []
        for index, slot in enumerate(self.slots):
            if slot.queue and slot.queue[0][0] in ready:
                ref, job = slot.queue.popleft()
                slot.head_since = time.monotonic()
                try:
                    rows.append(ray.get(ref))
                except ray.exceptions.RayActorError as error:
                    if not self.returned and not rows and "free cores" in str(error):
                        raise TradeoffError(str(error.__cause__ or error).splitlines()[-1]) from None
                    why = f"worker died: {error}".splitlines()[0]
                    rows.append(self._failure(job, "failed", why))
                    slot = self.replace(index, why)
            if slot.queue and time.monotonic() - slot.head_since > self.timeout + WATCHDOG_GRACE_S:
                _, job = slot.queue.popleft()
                rows.append(self._failure(job, "timeout", f"worker gave no result after {self.timeout:g} s; killed"))
                ray.kill(slot.actor)
                self.replace(index, f"it gave no result after {self.timeout:g} s + {WATCHDOG_GRACE_S:g} s grace")
        self.returned += len(rows)
        return rows

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

    def _start(self) -> _Slot:
        return _Slot(self._worker.remote(*self._args))

    def _fill(self) -> None:
        for slot in self.slots:
            while self.pending and len(slot.queue) < self.queue_depth:
                job = self.pending.popleft()
                if not slot.queue:
                    slot.head_since = time.monotonic()
                ref = slot.actor.measure.remote(job.config, self.workload, job.repetition, self.timeout)
                slot.queue.append((ref, job))

    def _failure(self, job: Job, status: str, error: str) -> dict:
        row = new_row(system=self.system.name, environment=self.system.environment, workload=self.workload,
                      config=job.config, repetition=job.repetition, campaign=self.campaign, cpus=[], version="",
                      host=host_facts())
        return failed(row, status, error)


_open_writers: set[_Writer] = set()  # writers of the measurements running now, for flush_pending


def flush_pending() -> None:
    """Store the rows that arrived but wait for their flush: an interrupted command calls this
    before it exits (a flush cut short and done again leaves duplicates, which reading drops)."""
    for writer in list(_open_writers):
        writer.flush()


class _Writer:
    """Rows on their way to the store, flushed every ``FLUSH_EVERY_S`` or ``FLUSH_ROWS`` rows."""

    def __init__(self, store: MeasurementStore):
        self.store, self.buffer, self.written, self.last_flush = store, [], 0, time.monotonic()

    def add(self, rows: list[dict]) -> None:
        self.buffer += rows
        if len(self.buffer) >= FLUSH_ROWS or (self.buffer and time.monotonic() - self.last_flush > FLUSH_EVERY_S):
            self.flush()

    def flush(self) -> None:
        self.store.append(self.buffer)
        self.written += len(self.buffer)
        self.buffer, self.last_flush = [], time.monotonic()


def measure(system: System, jobs: list[Job], workload: str, timeout: float, store: MeasurementStore, campaign: str,
            concurrency: int | None = None, cores_per_run: int | None = None, progress: bool = True,
            queue_depth: int = 2) -> int:
    """Measure every job on Ray workers and append each row to ``store``; returns rows written."""
    if not jobs:
        return 0
    workers = min(worker_count(system, concurrency, cores_per_run), len(jobs))
    pool = WorkerPool(system, workload, timeout, campaign, workers, pinned_cores(system, cores_per_run), queue_depth)
    writer = _Writer(store)
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
            writer.flush()  # whatever arrived is kept, also when a measurement raises
            _open_writers.discard(writer)
            pool.close()
    store.compact()
    return writer.written
