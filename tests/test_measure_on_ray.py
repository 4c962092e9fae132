"""The Ray measurement engine, on a real local Ray."""

import psutil
import pytest

from systems import get_system
from systems.synthetic import Synthetic
from tasks import measure as engine
from tradeoff.measurements import MeasurementStore, schema_for
from tradeoff.samplers.base import sample


def store_for(system, tmp_path):
    return MeasurementStore(tmp_path, schema_for(system.space, system.metric_names))


def test_every_job_becomes_one_row_with_its_environment(local_ray, tmp_path):
    system = Synthetic.variant(model="1 + 2*o1 + 3*o2*o3")
    configs = sample(system.space, "random", 40, 0)
    store = store_for(system, tmp_path)
    written = engine.measure(system, [engine.Job(c, r) for c in configs for r in range(3)], "model", 10, store, "c1",
                             concurrency=2, progress=False)
    frame = store.read()
    assert written == len(frame) == 120
    assert set(frame["repetition"]) == {0, 1, 2} and (frame["status"] == "ok").all()
    expected = [1 + 2 * c["o1"] + 3 * c["o2"] * c["o3"] for c in configs]
    measured = frame[frame["repetition"] == 0].set_index("config_id").loc[[f for f in frame[frame["repetition"] == 0]["config_id"]]]
    assert sorted(measured["metric.perf"]) == sorted(expected)
    assert frame["host"].nunique() == 1 and frame["cpu_model"].iloc[0] and frame["os"].iloc[0].startswith("Linux")


def test_concurrent_live_measurements_never_share_a_core(local_ray, tmp_path, cache):
    x264 = get_system("x264")
    configs = sample(x264.space, "random", 6, 0)
    store = store_for(x264, tmp_path)
    engine.measure(x264, [engine.Job(c, 0) for c in configs], "clip-176x144-8", 60, store, "c2", concurrency=2, progress=False)
    frame = store.read()
    assert (frame["status"] == "ok").all(), frame["error"].tolist()
    assert frame["cpus"].nunique() == 2  # two workers, each pinned to a core of its own
    spans = [(row.started_at, row.started_at + __import__("pandas").Timedelta(seconds=row.duration_s), row.cpus) for row in frame.itertuples()]
    for start, end, cpus in spans:
        for other_start, other_end, other_cpus in spans:
            if (start, cpus) != (other_start, other_cpus) and start < other_end and other_start < end:
                assert cpus != other_cpus, "two overlapping measurements ran on the same core"


def test_a_hung_worker_is_killed_recorded_and_replaced(local_ray, tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "WATCHDOG_GRACE_S", 0.5)
    slow = Synthetic.variant(model="1 + o1", cost=30.0)
    store = store_for(slow, tmp_path)
    configs = sample(slow.space, "random", 2, 0)
    engine.measure(slow, [engine.Job(c, 0) for c in configs], "model", 0.5, store, "c3", concurrency=2, progress=False)
    frame = store.read()
    assert len(frame) == 2 and (frame["status"] == "timeout").all()
    assert frame["error"].str.contains("killed").all()


def test_ray_serves_only_the_loopback_interface(local_ray):
    ray_pids = {p.pid for p in psutil.process_iter(["name", "cmdline"])
                if any(k in " ".join(p.info["cmdline"] or []) for k in ("raylet", "gcs_server", "ray::", "ray/_private"))}
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
