"""The Flink system, for real: PyFlink in its own virtual environment, a word count on a local mini-cluster.

docker/install.sh creates the environment (python3 -m systems.flink); without it, check() fails.
"""

import math

import mlflow
import pandas as pd
import pytest

from conftest import run_cli
from systems import flink, get_system
from test_cli import assert_one_line_error
from tradeoff.errors import TradeoffError


def test_options_become_flink_settings_and_workloads_name_their_records():
    system = get_system("flink")
    assert len(system.space) >= 10
    config = {**system.space.default(), "pipeline.object-reuse": True, "taskmanager.memory.network.max": "128mb"}
    settings = flink.flink_settings(system.space, config)
    assert settings["pipeline.object-reuse"] == "true" and settings["execution.buffer-timeout.interval"] == "100 ms"
    assert settings["taskmanager.memory.network.min"] == settings["taskmanager.memory.network.max"] == "128mb"
    assert flink.records("wordcount-200k") == 200_000 and flink.records("wordcount-3m") == 3_000_000
    with pytest.raises(TradeoffError, match="wordcount-RECORDS"):
        system.check_workload("wordcount-lots")
    with pytest.raises(TradeoffError, match="violates constraint"):
        system.space.validate({**system.space.default(), "parallelism.default": 3, "taskmanager.numberOfTaskSlots": 2})


def test_missing_flink_environment_is_named_by_the_check(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADEOFF_CACHE", str(tmp_path / "empty"))
    with pytest.raises(TradeoffError, match="create it with: python3 -m systems.flink"):
        get_system("flink").check()


@pytest.mark.slow  # a CLI process and Prefect: the same error as one line before anything runs
def test_missing_flink_environment_is_one_clear_line_before_anything_runs(tmp_path):
    result = run_cli("campaign", "flink", "--out", str(tmp_path / "c"), env={"TRADEOFF_CACHE": str(tmp_path / "empty")})
    assert_one_line_error(result, "create it with: python3 -m systems.flink")
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
def test_counts_words_for_real_and_buffer_timeout_reaches_flink():
    system = get_system("flink")
    system.check()
    assert system.program_version().startswith(f"apache-flink {flink.FLINK_VERSION}")
    default = system.run(system.space.default(), "wordcount-200k", 600, [])
    assert default["throughput"] > 0 and math.isfinite(default["latency"]) and default["latency"] >= 0
    # Without a buffer timeout a record waits until its network buffer fills or the input ends
    # (seconds at 200 words/s); with the default 100 ms timeout it is flushed within about that.
    unflushed = system.run({**system.space.default(), "execution.buffer-timeout.enabled": False}, "wordcount-200k", 600, [])
    assert unflushed["latency"] > 2 * default["latency"]


@pytest.mark.slow
def test_campaign_measures_on_ray_stores_and_tracks(tmp_path):  # resuming: test_cli.py (it does not depend on the system)
    out, store = tmp_path / "campaign", f"sqlite:///{tmp_path}/mlflow.db"
    args = ["campaign", "flink", "--budget", "2", "--workload", "wordcount-200k", "--timeout", "600",
            "--out", str(out), "--tracking-uri", store, "--experiment", "flink-test"]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    frame = pd.read_parquet(out / "measurements.parquet")
    assert len(frame) == 2 and (frame["status"] == "ok").all(), frame["error"].tolist()
    assert frame["metric.throughput"].gt(0).all() and frame["metric.latency"].ge(0).all()
    assert frame["program_version"].str.startswith("apache-flink").all()
    mlflow.set_tracking_uri(store)
    run = mlflow.search_runs(experiment_names=["flink-test"], output_format="list")[0]
    assert run.data.params["system"] == "flink" and run.data.metrics["measured"] == 2
