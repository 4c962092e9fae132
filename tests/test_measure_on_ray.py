"""The Ray measurement engine, on a real local Ray."""

import contextlib
import logging
import time

import pandas as pd
import psutil
import pytest

from systems import get_system
from systems.synthetic import Synthetic
from tasks import measure as engine
from tradeoff.measurements import MeasurementStore, failed, measured, new_row, schema_for
from tradeoff.samplers.base import sample
from tradeoff.space import config_id


def store_for(system, tmp_path):
    return MeasurementStore(tmp_path, schema_for(system.space, system.metric_names))


@pytest.mark.slow
def test_every_job_becomes_one_row_with_its_environment(local_ray, tmp_path):
    system = Synthetic.variant(model="1 + 2*o1 + 3*o2*o3")
    configs = sample(system.space, "random", 40, 0)
    store = store_for(system, tmp_path)
    written = engine.measure(system, [engine.Job(c, r) for c in configs for r in range(3)], "model", 10, store, "c1",
                             concurrency=2, progress=False)
    frame = store.read()
    assert written == len(frame) == 120
    assert set(frame["repetition"]) == {0, 1, 2} and (frame["status"] == "ok").all()
    expected = {config_id(c): 1 + 2 * c["o1"] + 3 * c["o2"] * c["o3"] for c in configs}
    for cid, value in zip(frame["config_id"], frame["metric.perf"]):  # each row holds its own configuration's value
        assert value == expected[cid], cid
    assert set(frame["config_id"]) == set(expected)
    assert frame["host"].nunique() == 1 and frame["cpu_model"].iloc[0] and frame["os"].iloc[0].startswith("Linux")


@pytest.mark.slow
def test_concurrent_live_measurements_never_share_a_core(local_ray, tmp_path, cache):
    x264 = get_system("x264")
    configs = sample(x264.space, "random", 6, 0)
    store = store_for(x264, tmp_path)
    engine.measure(x264, [engine.Job(c, 0) for c in configs], "clip-176x144-8", 60, store, "c2", concurrency=2, progress=False)
    frame = store.read()
    assert (frame["status"] == "ok").all(), frame["error"].tolist()
    # Each worker pinned to one core of its own (a worker that starts late may find the work done: queued on ready workers only).
    assert frame["cpus"].str.fullmatch(r"\d+").all() and 1 <= frame["cpus"].nunique() <= 2
    spans = [(row.started_at, row.started_at + pd.Timedelta(seconds=row.duration_s), row.cpus) for row in frame.itertuples()]
    for start, end, cpus in spans:
        for other_start, other_end, other_cpus in spans:
            if (start, cpus) != (other_start, other_cpus) and start < other_end and other_start < end:
                assert cpus != other_cpus, "two overlapping measurements ran on the same core"


@pytest.mark.slow
def test_a_hung_worker_is_killed_recorded_and_replaced(local_ray, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(engine, "WATCHDOG_GRACE_S", 5.0)  # the watchdog's clock includes a new worker's start

    class HangsOnO1(Synthetic):  # defined here, so Ray ships it by value; ignores the timeout as a hung driver would
        def run(self, config, workload, timeout, cpus):
            if config["o1"]:
                time.sleep(60)
            return super().run(config, workload, timeout, cpus)

    system = Synthetic.variant(n_options=3, model="1 + o1 + 2*o2 + 4*o3")
    system.__class__ = HangsOnO1
    configs = [{"o1": True, "o2": False, "o3": False}, {"o1": False, "o2": False, "o3": False},
               {"o1": False, "o2": True, "o3": False}, {"o1": False, "o2": False, "o3": True}]
    store = store_for(system, tmp_path)
    with caplog.at_level(logging.INFO, logger=engine.__name__):
        engine.measure(system, [engine.Job(c, 0) for c in configs], "model", 0.5, store, "c3", concurrency=1,
                       progress=False)
    frame = store.read().set_index("config_id")
    hung, rest = config_id(configs[0]), [config_id(c) for c in configs[1:]]
    assert len(frame) == 4
    assert frame.at[hung, "status"] == "timeout" and "killed" in frame.at[hung, "error"]
    # One worker, queued two deep: the jobs behind the hung one can only have been measured by its replacement.
    assert (frame.loc[rest, "status"] == "ok").all(), frame["error"].tolist()
    assert frame.loc[rest, "metric.perf"].tolist() == [1.0, 3.0, 5.0]
    assert sum("replaced measurement worker 0" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.slow
def test_ray_serves_only_the_loopback_interface(local_ray):
    ray_pids = set()
    for child in psutil.Process().children(recursive=True):  # the local Ray this process started, not another's on the machine
        with contextlib.suppress(psutil.Error):
            if any(k in " ".join(child.cmdline()) for k in ("raylet", "gcs_server", "ray::", "ray/_private")):
                ray_pids.add(child.pid)
    assert ray_pids
    exposed = [c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in ray_pids
               and c.laddr.ip not in ("127.0.0.1", "::1", "::ffff:127.0.0.1")]
    assert not exposed, f"Ray listens beyond loopback: {exposed}"


def test_cores_are_claimed_exclusively(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "CORE_LOCKS", tmp_path)
    cores = len(engine.usable_cores())
    claimed, locks = engine.claim_cores(cores)
    with pytest.raises(engine.TradeoffError, match="free cores"):
        engine.claim_cores(1)
    for lock in locks:
        lock.close()
    again, locks = engine.claim_cores(1)
    assert again == claimed[:1]


def test_what_the_folder_holds_is_skipped_and_counted(tmp_path, caplog):
    system = Synthetic.variant(n_options=3, model="1 + o1")
    store = store_for(system, tmp_path)
    a, b = {"o1": True, "o2": False, "o3": False}, {"o1": False, "o2": False, "o3": False}
    store.append([measured(new_row(system="synthetic", environment="local", workload="model", config=a, repetition=0,
                                   campaign="c"), {"perf": 2.0})])
    with caplog.at_level(logging.INFO, logger=engine.__name__):
        jobs = engine.to_measure(store, system, "model", [a, b], reps=2)
    assert [(config_id(j.config), j.repetition) for j in jobs] == [(config_id(a), 1), (config_id(b), 0), (config_id(b), 1)]
    assert "1 of 4 measurements skipped" in caplog.text
    with pytest.raises(engine.TradeoffError, match="holds measurements of synthetic / local / model"):
        engine.to_measure(store, system, "paper", [a, b], reps=2)


def test_the_old_watchdogs_timeout_rows_are_measured_again_and_superseded(tmp_path):
    system = Synthetic.variant(n_options=3, model="1 + o1")
    store = store_for(system, tmp_path)
    old, hung = {"o1": True, "o2": False, "o3": False}, {"o1": False, "o2": False, "o3": False}
    row = lambda config, error: failed(new_row(system="synthetic", environment="local", workload="model", config=config,
                                               repetition=0, campaign="c"), "timeout", error)
    store.append([row(old, "worker gave no result after 30 s; killed"),  # the old engine's: perhaps a lost node
                  row(hung, "measurement gave no result 30 s + 30 s after it started; its worker was killed")])
    assert [config_id(j.config) for j in engine.to_measure(store, system, "model", [old, hung], 1)] == [config_id(old)]
    store.append([measured(new_row(system="synthetic", environment="local", workload="model", config=old, repetition=0,
                                   campaign="c"), {"perf": 2.0})])
    assert engine.to_measure(store, system, "model", [old, hung], 1) == []
    frame = store.read().set_index("config_id")
    assert len(frame) == 2 and frame.at[config_id(old), "status"] == "ok"  # the new row stands for it
