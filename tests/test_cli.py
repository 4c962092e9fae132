"""The tradeoff command as a user runs it: real x264, Ray, Prefect (ephemeral) and MLflow (sqlite)."""

import os
import sqlite3
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest

from conftest import kill_when_stored, needs_datasets, prefect_server, run_cli
from systems.synthetic import Synthetic
from tradeoff.models.accuracy import mape
from tradeoff.models.learners.base import make_learner
from tradeoff.samplers.base import sample
from tradeoff.space import config_id


def assert_one_line_error(result, text):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], result.stderr


@pytest.mark.parametrize("args, text", [
    (["campaign", "nope"], "unknown system 'nope'"),
    (["campaign", "x264", "--budget", "0"], "--budget must be a positive number"),
    (["campaign", "x264", "--reps", "0"], "--reps must be at least 1"),
    (["campaign", "x264", "--sampler", "magic"], "unknown sampler 'magic'; use one of active, bo, bo-ei, box-behnken"),
    (["sample", "synthetic", "--sampler", "active"], "cannot print configurations without measuring; run 'tradeoff campaign"),
    (["campaign", "x264", "--metric", "fps"], "x264 has no metric 'fps'"),
    (["campaign", "x264", "--workload", "clip-9"], "x264 has no workload 'clip-9'"),
    (["space", "ase17-spear", "--environment", "mars"], "has no environment 'mars'"),
    (["show", "/nonexistent/folder"], "no measurements in /nonexistent/folder"),
])
def test_bad_input_gives_one_line_and_exit_2(tradeoff, request, args, text):
    needs_datasets(request, args)
    assert_one_line_error(tradeoff(*args), text)


def test_bad_input_in_a_real_process_is_one_line_too():
    """The installed command, not only main() in-process: nothing else is printed on the way out."""
    assert_one_line_error(run_cli("campaign", "nope", ephemeral_prefect=True), "unknown system 'nope'")


def test_bad_configuration_file_names_the_option(tradeoff, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("ref: 99\n")
    assert_one_line_error(tradeoff("campaign", "x264", "--config", str(config)), "option 'ref': value 99 is not allowed; expected an integer in [1, 16]")
    config.write_text("turbo: true\n")
    assert_one_line_error(tradeoff("campaign", "x264", "--config", str(config)), "unknown option 'turbo'")


def test_missing_program_is_reported_before_anything_runs(tradeoff, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert_one_line_error(tradeoff("campaign", "x264", "--out", str(tmp_path / "c")), "the x264 program is not installed")
    assert not (tmp_path / "c").exists()


def test_unreadable_table_is_reported(tradeoff, tmp_path):
    table = tmp_path / "table.csv"
    table.write_bytes(b"\xff\xfe\x00garbage\x00")
    assert_one_line_error(tradeoff("import", str(table), "--options", "a", "--metrics", "t", "--system", "s", "--out", str(tmp_path / "o")), "cannot read")
    table.write_text("a,b,t\n1,0,2.5\n")
    assert_one_line_error(tradeoff("import", str(table), "--options", "a,zz", "--metrics", "t", "--system", "s", "--out", str(tmp_path / "o")), "has no column 'zz'")


@pytest.mark.slow
def test_x264_pairwise_campaign_is_measured_stored_and_tracked(tmp_path, cache):
    out, store = tmp_path / "campaign", f"sqlite:///{tmp_path}/mlflow.db"
    result = run_cli("campaign", "x264", "--sampler", "pairwise", "--reps", "2", "--workload", "clip-176x144-8",
                     "--out", str(out), "--tracking-uri", store, "--experiment", "cli-test")
    assert result.returncode == 0, result.stderr[-3000:]
    frame = pd.read_parquet(out / "measurements.parquet")
    assert set(frame["repetition"]) == {0, 1} and (frame["status"] == "ok").all()
    configurations = frame["config_id"].nunique()
    assert configurations >= 20 and len(frame) == 2 * configurations
    assert frame["metric.time"].gt(0).all() and frame["metric.psnr"].gt(10).all()
    assert frame["program_version"].str.startswith("x264").all()
    assert "most influential options:" in result.stdout
    mlflow.set_tracking_uri(store)
    run = mlflow.search_runs(experiment_names=["cli-test"], filter_string="tags.`tradeoff.role` = 'campaign'", output_format="list")[0]
    invocation = mlflow.search_runs(experiment_names=["cli-test"], filter_string="tags.`tradeoff.role` = 'invocation'", output_format="list")[0]
    assert run.data.params["system"] == "x264" and run.data.params["sampler"] == "pairwise" and invocation.data.params["reps"] == "2"
    assert run.data.metrics["measured"] == len(frame) and run.data.metrics["failed"] == 0 and "mape" in run.data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"measurements.parquet", "summary.csv", "distribution.png", "influences.png", "influences.csv"} <= artifacts


@pytest.mark.slow
def test_killed_campaign_resumes_without_measuring_again(tmp_path, cache):
    out = tmp_path / "campaign"
    args = [sys.executable, "-m", "flows.cli", "campaign", "x264", "--budget", "16", "--workload", "clip-352x288-8",
            "--out", str(out), "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"]
    env = {**os.environ, "PREFECT_API_URL": prefect_server()}
    parts = out / "measurements.parquet"
    kill_when_stored(args, parts, env)
    before = pd.read_parquet(parts)
    assert 0 < len(before) < 16, "the campaign should have been killed half-way"
    second = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    after = pd.read_parquet(parts)
    assert len(after) == 16 and not after.duplicated(["config_id", "repetition"]).any()
    kept = after.set_index("config_id").loc[before["config_id"], "started_at"]
    assert (kept.to_numpy() == before["started_at"].to_numpy()).all(), "stored measurements were measured again"
    assert f"{16 - len(before)} new in this run" in second.stdout


@pytest.mark.slow
def test_active_campaign_measures_where_the_gp_is_unsure_and_resumes(tmp_path):
    system = Synthetic.variant()
    out, space = tmp_path / "active", system.space
    args = ["campaign", "synthetic", "--sampler", "active", "--concurrency", "4", "--out", str(out),
            "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"]
    first = run_cli(*args, "--budget", "12")
    assert first.returncode == 0, first.stderr[-3000:]
    before = pd.read_parquet(out / "measurements.parquet")
    assert len(before) == before["config_id"].nunique() == 12 and (before["status"] == "ok").all()
    second = run_cli(*args, "--budget", "24")  # the same campaign with a larger budget continues the loop
    assert second.returncode == 0, second.stderr[-3000:]
    assert "12 new in this run" in second.stdout
    after = pd.read_parquet(out / "measurements.parquet")
    assert len(after) == after["config_id"].nunique() == 24 and (after["status"] == "ok").all()
    kept = after.set_index("config_id").loc[before["config_id"], "started_at"]
    assert (kept.to_numpy() == before["started_at"].to_numpy()).all(), "stored measurements were measured again"
    # The seed design is the random draw's start; the rest is chosen, not drawn.
    drawn = [config_id(c) for c in sample(space, "random", 24, seed=0)]
    assert set(drawn[:5]) <= set(after["config_id"]) and set(drawn) != set(after["config_id"])
    # Measuring where the GP is unsure teaches it the whole space better than the random draw.
    every = space.enumerate()
    truth = np.array([system.run(c, "paper", 1.0, [])["perf"] for c in every])
    def gp_error(configs):
        values = [truth[every.index(c)] for c in configs]
        return mape(truth, make_learner("gp").fit(space.encode(configs), values).predict(space.encode(every)))
    chosen = [{o: bool(row["opt." + o]) for o in space.names} for _, row in after.iterrows()]
    assert gp_error(chosen) < 1.0 < gp_error(sample(space, "random", 24, seed=0))


@pytest.mark.slow
def test_replay_campaign_returns_recorded_values(tmp_path, datasets):
    out = tmp_path / "spear"
    result = run_cli("campaign", "ase17-spear", "--environment", "feature8_2_7_10286", "--budget", "40", "--out", str(out),
                     "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db")
    assert result.returncode == 0, result.stderr[-3000:]
    frame = pd.read_parquet(out / "measurements.parquet")
    raw = pd.read_csv(datasets / "ase17" / "data" / "processed" / "spear.csv", header=None, skiprows=1)
    options = [c for c in frame.columns if c.startswith("opt.")]
    recorded = {tuple(bool(v) for v in row[:14]): row[15] for row in raw.itertuples(index=False)}
    for _, row in frame.iterrows():
        value = recorded[tuple(bool(row[c]) for c in options)]
        if value >= 5:
            assert row["status"] == "timeout"
        else:
            assert row["status"] == "ok" and row["metric.solving_time"] == value


@pytest.mark.slow
def test_imported_table_is_usable_by_show_and_campaign(tmp_path, tradeoff):
    table = tmp_path / "measured.csv"
    rows = ["cache,threads,mode,latency"] + [f"{c},{t},{m},{10 + c * 2 + t * 0.5 + (3 if m == 'fast' else 0)}"
                                              for c in (0, 1) for t in (1, 2, 4) for m in ("fast", "safe")]
    table.write_text("\n".join(rows) + "\nbad,1,fast,oops\n".replace("bad", "1"))
    out = tmp_path / "imported"
    result = tradeoff("import", str(table), "--options", "cache,threads,mode", "--metrics", "latency", "--system", "mydb",
                     "--environment", "laptop", "--out", str(out))
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(out / "measurements.parquet")
    assert len(frame) == 13 and (frame["status"] == "failed").sum() == 1  # the non-numeric value is kept as a failure
    assert frame["opt.cache"].dtype == bool and frame["opt.threads"].dtype == "int64"
    shown = tradeoff("show", str(out))
    assert shown.returncode == 0 and "latency: min 10" in shown.stdout
    replayed = run_cli("campaign", str(out), "--budget", "5", "--out", str(tmp_path / "replayed"), "--tracking-uri", f"sqlite:///{tmp_path}/m.db")
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    again = pd.read_parquet(tmp_path / "replayed" / "measurements.parquet")
    assert len(again) == 5 and (again["system"] == "mydb").all() and (again["environment"] == "laptop").all()


@pytest.mark.slow
def test_demo_runs_a_real_x264_campaign(tmp_path, cache):
    home = tmp_path / "prefect-home"  # the README's default: Prefect's ephemeral mode, which keeps its runs here
    result = run_cli("demo", "--budget", "6", "--out", str(tmp_path / "demo"),
                     env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/d.db", "PREFECT_HOME": str(home)}, ephemeral_prefect=True)
    assert result.returncode == 0, result.stderr[-3000:]
    with sqlite3.connect(home / "prefect.db") as db:
        assert db.execute("select name from flow where id in (select flow_id from flow_run)").fetchall() == [("campaign",)]
    assert "MLflow run" in result.stdout and str(tmp_path / "demo") in result.stdout
    assert len(pd.read_parquet(tmp_path / "demo" / "measurements.parquet")) == 6
    report = tmp_path / "demo" / "report.html"
    assert f"report: {report}" in result.stdout and "data-section=\"measured\"" in report.read_text()
