"""Measurement on Ray: one actor call per measurement, each worker pinned to cores of its own.

A worker claims its cores through per-core lock files on its node, so two measurements never
share a core, even across campaigns. Rows are flushed to the Parquet store as they arrive:
a killed campaign loses only the measurements in flight, and a rerun skips what is stored.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import ray
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from systems.base import System, measure_once, new_row
from tradeoff.environment import usable_cores
from tradeoff.errors import TradeoffError
from tradeoff.measurements import MeasurementStore

CORE_LOCKS = Path(tempfile.gettempdir()) / f"tradeoff-cores-{os.getuid()}"
WATCHDOG_GRACE_S = 30.0  # drivers enforce the timeout themselves; this catches a hung worker
FLUSH_EVERY_S, FLUSH_ROWS = 1.0, 500


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


@dataclass
class _Slot:
    actor: object
    queue: deque = field(default_factory=deque)  # (ref, job) in submission order
    head_since: float = 0.0  # when the oldest queued call could start running


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


def measure(system: System, jobs: list[Job], workload: str, timeout: float, store: MeasurementStore, campaign: str,
            concurrency: int | None = None, cores_per_run: int | None = None, progress: bool = True,
            queue_depth: int = 2) -> int:
    """Measure every job on Ray workers and append each row to ``store``; returns rows written."""
    if not jobs:
        return 0
    cores = pinned_cores(system, cores_per_run)
    concurrency = min(worker_count(system, concurrency, cores_per_run), len(jobs))
    version = system.program_version()
    system_ref = ray.put(system)
    # Pinned workers reserve their cores in Ray too, so Ray never places more of them on a node than fit.
    worker = MeasurementWorker.options(num_cpus=cores, max_concurrency=1)
    new_slot = lambda: _Slot(worker.remote(system_ref, cores, campaign, version))
    slots = [new_slot() for _ in range(concurrency)]
    pending, buffer, written, last_flush = deque(jobs), [], 0, time.monotonic()

    def flush() -> None:
        nonlocal buffer, written, last_flush
        store.append(buffer)
        written += len(buffer)
        buffer, last_flush = [], time.monotonic()

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("eta"), TimeRemainingColumn(), disable=not progress, transient=False)
    with bar:
        task = bar.add_task(f"measuring {system.name}", total=len(jobs))
        try:
            while pending or any(s.queue for s in slots):
                for slot in slots:
                    while pending and len(slot.queue) < queue_depth:
                        job = pending.popleft()
                        if not slot.queue:
                            slot.head_since = time.monotonic()
                        slot.queue.append((slot.actor.measure.remote(job.config, workload, job.repetition, timeout), job))
                # A worker runs its calls in order, so only the heads of the queues can be next.
                heads = [s.queue[0][0] for s in slots if s.queue]
                ready, _ = ray.wait(heads, num_returns=len(heads), timeout=0)
                if not ready:
                    ready, _ = ray.wait(heads, num_returns=1, timeout=1.0)
                ready = set(ready)
                for index, slot in enumerate(slots):
                    if slot.queue and slot.queue[0][0] in ready:
                        ref, job = slot.queue.popleft()
                        slot.head_since = time.monotonic()
                        try:
                            buffer.append(ray.get(ref))
                        except ray.exceptions.RayActorError as error:
                            if not written and not buffer and "free cores" in str(error):
                                raise TradeoffError(str(error.__cause__ or error).splitlines()[-1]) from None
                            buffer.append(_failed_row(system, job, workload, campaign, "failed", f"worker died: {error}".splitlines()[0]))
                            slots[index] = slot = _replace(slot, pending, new_slot)
                        bar.advance(task)
                    if slot.queue and time.monotonic() - slot.head_since > timeout + WATCHDOG_GRACE_S:
                        _, job = slot.queue.popleft()
                        buffer.append(_failed_row(system, job, workload, campaign, "timeout", f"worker gave no result after {timeout:g} s; killed"))
                        bar.advance(task)
                        ray.kill(slot.actor)
                        slots[index] = _replace(slot, pending, new_slot)
                if len(buffer) >= FLUSH_ROWS or (buffer and time.monotonic() - last_flush > FLUSH_EVERY_S):
                    flush()
        finally:
            flush()  # whatever arrived is kept, also on Ctrl-C
            for slot in slots:
                ray.kill(slot.actor)
    store.compact()
    return written


def _replace(slot: _Slot, pending: deque, new_slot) -> _Slot:
    """A fresh worker for a dead one; the jobs queued behind the dead one go back in line."""
    for _, job in reversed(slot.queue):
        pending.appendleft(job)
    return new_slot()


def _failed_row(system: System, job: Job, workload: str, campaign: str, status: str, error: str) -> dict:
    row = new_row(system, job.config, workload, job.repetition, [], campaign, "")
    row.update(status=status, error=error)
    return row
