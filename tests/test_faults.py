"""The engine under faults, on a real multi-node Ray: Ray's in-process ``Cluster`` with a head of no
CPUs and two labelled worker nodes of one CPU each, on 127.0.0.1. The synthetic system sleeps per
measurement, so measurements are in flight when a fault lands; a fault lands when a measurement
on the node in question has started (each measurement leaves a mark file). After each case every
(configuration, repetition) is stored exactly once in the raw Parquet parts (compaction, which
would hide a duplicate, is left out), each fault is an attempt, and no measured program is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest
import ray
from ray.cluster_utils import Cluster

from systems.base import run_process
from systems.synthetic import Synthetic
from tasks import measure as engine
from tradeoff.errors import TradeoffError
from tradeoff.measurements import MeasurementStore, schema_for
from tradeoff.samplers.base import sample
from tradeoff.space import config_id

ENV = "lab"
SLEEPER = ["sleep", "31.4159"]  # a measured program no one else runs


class Marked(Synthetic):
    """Synthetic, leaving ``<node>-<pid>-<config>`` in ``marks`` as each measurement starts; a
    configuration with o1 and o2 hangs (``hang``) or runs ``SLEEPER`` (``program``)."""

    def run(self, config, workload, timeout, cpus):
        node = ray.get_runtime_context().get_node_labels().get("tradeoff-node")
        Path(self.marks, f"{node}-{os.getpid()}-{config_id(config)}").touch()
        if config["o1"] and config["o2"] and self.special == "hang":
            time.sleep(60)
        if config["o1"] and config["o2"] and self.special == "program":
            run_process(SLEEPER, 60, [])
        return super().run(config, workload, timeout, cpus)


def node_args(name: str, environment: str = ENV) -> dict:
    return dict(num_cpus=1, node_ip_address="127.0.0.1", labels={"tradeoff-environment": environment, "tradeoff-node": name})


_elsewhere: list[bool] = []  # the cluster fixture skipped: the cases run in a fresh pytest (the last test)


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():  # after this process ran a local Ray, Ray's in-process cluster hangs
        _elsewhere.append(True)
        pytest.skip("this process already ran a local Ray: test_the_cases_in_a_process_of_their_own runs this case")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")  # explicit: never the user's ~/.ray/auth_token
        patch.setattr(ray._private.ray_constants, "ENABLE_RAY_CLUSTER", False)  # every address on loopback
        patch.delenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", raising=False)  # a local Ray's (connect): no node could join
        cluster = Cluster(initialize_head=True, head_node_args=dict(num_cpus=0, node_ip_address="127.0.0.1",
                                                                    include_dashboard=False))
        cluster.nodes = {name: cluster.add_node(**node_args(name)) for name in ("a", "b")}
        ray.init(address=cluster.address, logging_level="ERROR")
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import a test module
        yield cluster
        ray.shutdown()
        cluster.shutdown()


def marked(tmp_path, cost: float, special: str = "", environment: str = ENV) -> Marked:
    system = Synthetic.variant(n_options=5, cost=cost, model="1 + o1 + 2*o2 + 4*o3 + 8*o4", environment=environment)
    system.__class__ = Marked
    system.marks, system.special = str(tmp_path / "marks"), special
    Path(system.marks).mkdir(exist_ok=True)
    return system


def run(system, configs, store, **options) -> int:
    store.compact = lambda: None  # the raw parts stay as written
    return engine.measure(system, [engine.Job(c, 0) for c in configs], "model", options.pop("timeout", 30), store, "faults",
                          concurrency=options.pop("concurrency", 2), progress=False, **options)


def store_for(system, folder) -> MeasurementStore:
    return MeasurementStore(folder, schema_for(system.space, system.metric_names))


def raw_rows(folder: Path):
    """Every row in the part files as written, duplicates kept."""
    return pq.read_table(folder / "measurements.parquet").to_pandas()


def assert_once_each(folder: Path, configs: list[dict]) -> None:
    ids = raw_rows(folder)["config_id"]
    assert sorted(ids) == sorted(config_id(c) for c in configs), "a measurement is missing or stored twice"


def no_orphans() -> bool:
    return not [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [])[:2] == SLEEPER]


def when_marked(marks: Path, prefix: str, action) -> threading.Thread:
    """Run ``action`` once a measurement on node ``prefix`` has started."""
    def watch() -> None:
        deadline = time.monotonic() + 120
        while not any(m.name.startswith(prefix + "-") for m in marks.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        action()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_rows_spread_over_both_labelled_nodes_and_name_them(cluster, tmp_path):
    system = marked(tmp_path, cost=0.3)
    configs = sample(system.space, "random", 8, 0)
    store = store_for(system, tmp_path)
    assert run(system, configs, store) == 8
    frame = raw_rows(tmp_path)
    assert set(frame["node"]) == {"a", "b"} and set(frame["node_cpus"]) == {1} and set(frame["attempt"]) == {1}
    assert frame["node_id"].nunique() == 2 and (frame["status"] == "ok").all()
    assert_once_each(tmp_path, configs)
    assert store.attempts().empty


def test_a_node_killed_mid_campaign_loses_no_configuration(cluster, tmp_path):
    system = marked(tmp_path, cost=1.0)
    configs = [c for c in sample(system.space, "random", 10, 1)]
    store = store_for(system, tmp_path)
    killer = when_marked(Path(system.marks), "b", lambda: cluster.remove_node(cluster.nodes.pop("b"), allow_graceful=False))
    try:
        run(system, configs, store)
    finally:
        killer.join()
        cluster.nodes["b"] = cluster.add_node(**node_args("b"))
    frame = raw_rows(tmp_path)
    assert (frame["status"] == "ok").all(), frame["error"].dropna().tolist()  # no failed or timeout row from the kill
    assert_once_each(tmp_path, configs)
    lost = store.attempts()
    assert len(lost) >= 1 and set(lost["node"]) == {"b"} and (lost["attempt"] == 1).all()
    retried = frame.set_index("config_id").loc[list(lost["config_id"])]
    assert (retried["node"] == "a").all() and (retried["attempt"] == 2).all()  # each lost one measured again on a


def test_a_hung_measurement_is_one_timeout_row_and_its_worker_is_replaced_on_its_node(cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "WATCHDOG_GRACE_S", 2.0)
    system = marked(tmp_path, cost=1.0, special="hang")
    hung = {"o1": True, "o2": True, "o3": False, "o4": False, "o5": False}
    # Enough work (24 s of it) that the other node is still busy when the replacement starts, also on a loaded machine.
    configs = [hung] + [c for c in sample(system.space, "random", 32, 2) if not (c["o1"] and c["o2"])][:24]
    store = store_for(system, tmp_path)
    run(system, configs, store, timeout=0.5)
    frame = raw_rows(tmp_path).set_index("config_id")
    assert_once_each(tmp_path, configs)
    assert frame.at[config_id(hung), "status"] == "timeout" and "worker was killed" in frame.at[config_id(hung), "error"]
    assert (frame.drop(config_id(hung))["status"] == "ok").all()
    node, killed_at = frame.at[config_id(hung), "node"], frame.at[config_id(hung), "started_at"]
    later = frame[(frame["node"] == node) & (frame["started_at"] > killed_at)]
    assert len(later), "no measurement ran on the hung worker's node after it was replaced"
    assert store.attempts().empty


def test_an_environment_without_alive_nodes_stops_in_one_line_and_resumes_later(cluster, tmp_path):
    nowhere = marked(tmp_path, cost=0.0, environment="nowhere")
    with pytest.raises(TradeoffError, match="no alive Ray node is labelled tradeoff-environment=nowhere"):
        run(nowhere, sample(nowhere.space, "random", 3, 0), store_for(nowhere, tmp_path / "nowhere"))
    assert not (tmp_path / "nowhere" / "measurements.parquet").exists()  # refused before measuring

    system = marked(tmp_path, cost=0.5, environment="solo")
    node = cluster.add_node(**node_args("s1", "solo"))
    configs = sample(system.space, "random", 8, 3)
    store = store_for(system, tmp_path / "solo")
    killer = when_marked(Path(system.marks), "s1", lambda: cluster.remove_node(node))
    with pytest.raises(TradeoffError, match="no alive Ray node is labelled tradeoff-environment=solo") as stopped:
        run(system, configs, store)
    killer.join()
    assert "\n" not in str(stopped.value)
    cluster.add_node(**node_args("s2", "solo"))
    jobs = engine.to_measure(store, system, "model", configs, 1)  # the rerun: what is missing, numbered after its losses
    lost = store.attempts()
    assert len(lost) >= 1 and {j.attempt for j in jobs if config_id(j.config) in set(lost["config_id"])} == {2}
    store.compact = lambda: None
    engine.measure(system, jobs, "model", 30, store, "faults", concurrency=1, progress=False)
    assert_once_each(tmp_path / "solo", configs)
    assert (raw_rows(tmp_path / "solo")["status"] == "ok").all()


def test_a_program_killed_with_its_worker_leaves_no_orphan_and_fails_its_configuration(cluster, tmp_path):
    system = marked(tmp_path, cost=0.2, special="program")
    runs_program = {"o1": True, "o2": True, "o3": False, "o4": False, "o5": False}
    configs = [runs_program] + [c for c in sample(system.space, "random", 10, 4) if not (c["o1"] and c["o2"])][:5]
    store = store_for(system, tmp_path)

    def kill_worker() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            programs = [p for p in psutil.process_iter(["cmdline", "ppid"]) if (p.info["cmdline"] or [])[:2] == SLEEPER]
            if programs:
                os.kill(programs[0].info["ppid"], signal.SIGKILL)  # the worker that started it
                return
            time.sleep(0.05)
    killer = threading.Thread(target=kill_worker, daemon=True)
    killer.start()
    run(system, configs, store)
    killer.join()
    frame = raw_rows(tmp_path).set_index("config_id")
    assert_once_each(tmp_path, configs)
    assert frame.at[config_id(runs_program), "status"] == "failed" and "live node" in frame.at[config_id(runs_program), "error"]
    assert (frame.drop(config_id(runs_program))["status"] == "ok").all()
    assert store.attempts().empty  # the program's doing, not the infrastructure's
    deadline = time.monotonic() + 10
    while not no_orphans() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert no_orphans(), "the measured program outlived its worker"


def test_a_second_driver_on_a_held_folder_gets_one_line_naming_the_holder(tmp_path):
    (tmp_path / "measurements.parquet").mkdir()
    stale = tmp_path / "measurements.parquet" / ".part-x.parquet.tmp"
    running = dict(config_id="c1", repetition=0, attempt=1, node="a", node_id="n", started="2026-12-01 12:00:00+00:00")
    holder = subprocess.Popen([sys.executable, "-c", "import json, sys, time; from tradeoff.measurements import MeasurementStore\n"
                               "with MeasurementStore(sys.argv[1]).lock() as store:\n"
                               " store.note_in_flight([json.loads(sys.argv[2])]); print('held', flush=True); time.sleep(60)",
                               str(tmp_path), json.dumps(running)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        stale.touch()  # as a writer killed mid-part leaves it
        with pytest.raises(TradeoffError, match=f"is being measured by pid {holder.pid} on ") as refused:
            with MeasurementStore(tmp_path).lock():
                pass
        assert "\n" not in str(refused.value) and stale.exists()  # the holder's files are left alone
    finally:
        holder.kill()  # the driver killed mid-measurement
        holder.wait()
    with MeasurementStore(tmp_path).lock() as store:  # the kernel released a killed holder's lock
        assert not stale.exists()
        lost = store.attempts()
        assert lost[["config_id", "repetition", "attempt", "node"]].values.tolist() == [["c1", 0, 1, "a"]]
        assert f"its driver (pid {holder.pid} on " in lost.at[0, "error"]


def test_workers_stay_warm_across_the_rounds_of_a_campaign(cluster, tmp_path, caplog):
    system = marked(tmp_path, cost=0.1)
    rounds = [sample(system.space, "random", 4, 5), sample(system.space, "random", 8, 6)[4:]]
    store = store_for(system, tmp_path)
    with caplog.at_level("INFO", logger=engine.__name__), engine.keep_warm():
        for configs in rounds:
            run(system, configs, store)
    assert sum("started 2 measurement workers" in r.getMessage() for r in caplog.records) == 1
    assert len({name.split("-")[1] for name in os.listdir(system.marks)}) <= 2  # the two worker processes did it all
    assert "pool" not in engine._warm  # and were ended with the campaign


def test_the_cases_in_a_process_of_their_own():
    """In a whole-suite run an earlier test has started a local Ray in this process, after which
    Ray's in-process cluster hangs (cause not found): the cases then run in a fresh pytest here,
    without the Ray settings this process gathered (an inherited RAY_AUTH_MODE=token hangs it too)."""
    if not _elsewhere:
        pytest.skip("the cases ran in this process")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", __file__],
                            capture_output=True, text=True, timeout=900, cwd=Path(__file__).parents[1],
                            env={k: v for k, v in os.environ.items() if not k.startswith("RAY_") or k == "RAY_USAGE_STATS_ENABLED"})
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0 and " passed" in summary and "skipped" not in summary.replace("1 skipped", ""), \
        result.stdout[-4000:] + result.stderr[-2000:]
