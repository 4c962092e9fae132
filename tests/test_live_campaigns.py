"""`tradeoff campaign S --budget 10` for the live systems: real runs on Ray, stored, tracked.

Ten configurations show what twenty did (each runs for real and differs from the others) at half the
suite time; larger live campaigns are the benchmarks' business (bench/spread.py). Elsewhere: x264's
campaigns and their resuming (test_cli.py), flink's (test_flink.py), and dnn's trainings through the
same campaign flow (``tradeoff optimize``, test_optimize_split.py); resuming does not depend on the system."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from conftest import run_cli

# system -> (small workload, a metric every successful row must have > 0)
LIVE = {
    "sat": ("rand3-150-1", "time"),
    "gcc": ("nbody-small", "time"),
    "xz": ("words-1M", "size"),
    "sqlite": ("fillseq-1000", "us_per_op"),
}


@pytest.mark.slow
@pytest.mark.parametrize("system", LIVE)
def test_a_budget_10_campaign_runs_for_real(system, tmp_path, cache):
    workload, metric = LIVE[system]
    out, store = tmp_path / "campaign", f"sqlite:///{tmp_path}/mlflow.db"
    args = ["campaign", system, "--budget", "10", "--workload", workload, "--out", str(out), "--tracking-uri", store,
            "--experiment", "live", "--timeout", "600"]  # a loaded CI machine must not turn slow runs into timeouts
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    frame = pd.read_parquet(out / "measurements.parquet")
    assert frame["config_id"].nunique() == 10 and len(frame) == 10
    assert (frame["status"] == "ok").all(), frame.loc[frame["status"] != "ok", "error"].tolist()
    assert frame[f"metric.{metric}"].gt(0).all()
    assert frame[f"metric.{metric}"].nunique() > 1, "ten configurations should not all perform alike"
    assert (frame["system"] == system).all() and (frame["workload"] == workload).all()

    mlflow.set_tracking_uri(store)
    run = mlflow.search_runs(experiment_names=["live"], output_format="list")[0]
    assert run.data.params["system"] == system and run.data.metrics["measured"] == 10

