"""The transfer commands end to end: compare-envs on recorded tables, transfer through Prefect, Ray and MLflow."""

from __future__ import annotations

import json

import mlflow
import pytest

from conftest import run_cli
from tradeoff.measurements import MeasurementStore, schema_for


def test_compare_envs_reports_and_plots(tmp_path, datasets):
    out = tmp_path / "cmp"
    result = run_cli("compare-envs", "ase17-x264:feature8_2762_8", "ase17-x264:feature8_2762_32", "--pairing", "repetition",
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Pearson 0.65, Spearman 0.63" in result.stdout
    assert "verdict: influential options carry over" in result.stdout
    report = json.loads((out / "comparison.json").read_text())
    assert report["common"] == 2047 and len(report["top_source"]) == 5
    assert (out / "scatter.png").stat().st_size > 0 and (out / "influences.png").stat().st_size > 0


def test_compare_envs_bad_input_is_one_line(tradeoff, tmp_path, datasets):
    result = tradeoff("compare-envs", str(tmp_path / "missing"), "ase17-x264:feature8_2762_32")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "neither a campaign folder nor SYSTEM:ENVIRONMENT" in result.stderr
    result = tradeoff("compare-envs", "ase17-x264:feature8_2762_8", "ase17-spear:feature8_2_7_10286")
    assert result.returncode == 2 and "share no metric" in result.stderr


@pytest.mark.slow
def test_transfer_from_a_stored_campaign_to_a_replayed_target(tmp_path, datasets):
    from systems import get_system
    from systems.replay import recorded_frame
    source_system = get_system("ase17-x264", "feature8_2762_8")
    source = tmp_path / "source-campaign"
    store = MeasurementStore(source, schema_for(source_system.space, source_system.metric_names))
    recorded = recorded_frame(source_system).head(600)
    store.append(recorded.astype(object).where(recorded.notna(), None).to_dict("records"))

    out, tracking = tmp_path / "target", f"sqlite:///{tmp_path}/mlflow.db"
    result = run_cli("transfer", "--source", str(source), "--source", "ase17-x264:feature1_2762_8", "--target", "ase17-x264",
                     "--environment", "feature8_2762_32", "--budget", "24", "--method", "auto", "--out", str(out),
                     "--tracking-uri", tracking, "--experiment", "transfer-test")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "transfer.json").read_text())
    assert report["source"] in (str(source), "ase17-x264:feature1_2762_8") and 0 < report["bellwether_confidence"] <= 1
    assert set(report["errors"]) == {"target-only", "auto"} and "held-out target configurations" in report["evaluation"]
    assert report["chosen"] in ("target-only", "linear-shift", "stack", "stack-gp") and "auto: " in result.stdout
    assert set(report["cv_errors"]) == {"target-only", "linear-shift", "stack", "stack-gp"}
    measured = MeasurementStore(out).read()
    assert len(measured) == 24 and set(measured["environment"]) == {"feature8_2762_32"}

    mlflow.set_tracking_uri(tracking)
    run = mlflow.search_runs(experiment_names=["transfer-test"], filter_string="tags.`tradeoff.role` = 'campaign'", output_format="list")[0]
    assert run.data.metrics["mape_target-only"] == report["errors"]["target-only"]
    assert run.data.tags["chosen"] == report["chosen"]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"transfer.json", "transfer-errors.png", "measurements.parquet"} <= artifacts

    from tasks.transfer import read_source  # a later study warm-starts from this run's measurements
    reused = read_source(f"runs:/{run.info.run_id}", tracking)
    assert sorted(reused["config_id"]) == sorted(measured["config_id"])


@pytest.mark.slow
def test_campaign_measures_a_source_campaigns_configurations_again(tmp_path, tradeoff):
    """--config FOLDER: the target environment measures the source's sample, so compare-envs pairs all of
    it, and transfer --holdout scores a live study on it."""
    source, target, tracking = tmp_path / "source", tmp_path / "target", f"sqlite:///{tmp_path}/mlflow.db"
    tracked = ("--tracking-uri", tracking, "--experiment", "same-configs")
    result = run_cli("campaign", "synthetic", "--workload", "linear", "--budget", "12", "--out", str(source), *tracked)
    assert result.returncode == 0, result.stderr[-3000:]
    result = run_cli("campaign", "synthetic", "--environment", "other", "--workload", "paper", "--config", str(source),
                     "--out", str(target), *tracked)
    assert result.returncode == 0, result.stderr[-3000:]
    measured = [MeasurementStore(folder).read() for folder in (source, target)]
    assert sorted(measured[1]["config_id"]) == sorted(measured[0]["config_id"]) and len(measured[1]) == 12
    assert set(measured[1]["workload"]) == {"paper"} and set(measured[1]["environment"]) == {"other"}

    result = tradeoff("compare-envs", str(source), str(target), "--out", str(tmp_path / "cmp"))  # no flow: in this process
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "cmp" / "comparison.json").read_text())["common"] == 12

    result = tradeoff("campaign", "x264", "--environment", "threads-1", "--config", str(source))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "sets option 'o1'" in result.stderr

    # the re-measured sample scores a live transfer study instead of cross-validation
    study = ("transfer", "--source", str(source), "--target", "synthetic", "--environment", "other", "--budget", "6",
             "--seed", "3", "--out", str(tmp_path / "study"), *tracked)
    result = run_cli(*study, "--workload", "paper", "--holdout", str(target))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "study" / "transfer.json").read_text())
    scored = 12 - len(set(MeasurementStore(tmp_path / "study").read()["config_id"]) & set(measured[1]["config_id"]))
    assert report["evaluation"] == f"{scored} held-out target configurations"
    assert "verdict: " in result.stdout and (tmp_path / "study" / "compare-scatter.png").exists()  # source vs holdout
    result = tradeoff(*study, "--workload", "linear", "--holdout", str(target))
    assert result.returncode == 2 and "not the target's (other, linear)" in result.stderr
