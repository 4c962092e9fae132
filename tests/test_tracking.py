"""MLflow runs an auditor can trust: one run per campaign however often it resumes, the data as a
dataset input, tags and a description, the model as a loadable pyfunc, nested runs per part.

Real MLflow (a sqlite store), real campaigns through the installed command, real Prefect."""

from __future__ import annotations

import io

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from conftest import run_cli
from systems.replay import environment_frame, recorded_frame
from tasks.settings import Target
from tasks.tracking import CAMPAIGN_TAG, KIND_TAG, MODEL_DIGEST_TAG, MODEL_DEVELOPMENT, NOTE_TAG
from tradeoff.measurements import MeasurementStore
from tradeoff.models.persist import load_model, predict_table
from tradeoff.transfer.compare import encoded
from tradeoff.transfer.study import fit_and_evaluate


def runs(client: MlflowClient, experiment: str, role: str, deleted: bool = False) -> list:
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    return client.search_runs([experiment_id], f"tags.`tradeoff.role` = '{role}'", order_by=["attributes.start_time ASC"],
                              run_view_type=3 if deleted else 1)


@pytest.mark.slow
def test_a_resumed_campaign_is_one_run_with_its_dataset_tags_description_and_model(tmp_path, tradeoff):
    out, store = tmp_path / "c", f"sqlite:///{tmp_path}/mlflow.db"
    args = ["campaign", "synthetic", "--out", str(out), "--experiment", "audit"]
    (tmp_path / "not-a-folder").write_text("")
    failed = run_cli(*args, "--budget", "8", "--tracking-uri", f"sqlite:///{tmp_path}/not-a-folder/mlflow.db")
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error: ")]
    assert failed.returncode == 2 and len(errors) == 1 and "kept: rerun the same command" in errors[0], failed.stderr[-2000:]
    assert "Traceback" not in failed.stderr + failed.stdout
    assert len(MeasurementStore(out).read()) == 8
    args += ["--tracking-uri", store]
    first = run_cli(*args, "--budget", "8")  # measures nothing, yet logs the whole campaign
    assert first.returncode == 0, first.stderr[-3000:]
    client = MlflowClient(store)
    (campaign,) = runs(client, "audit", "campaign")
    assert f"MLflow run {campaign.info.run_id}" in first.stdout
    # A create the HTTP client retried may have made the run twice; and a process killed outright leaves its run RUNNING.
    ghost = client.create_run(campaign.info.experiment_id, tags=dict(campaign.data.tags))
    (killed,) = runs(client, "audit", "invocation")
    client.update_run(killed.info.run_id, status="RUNNING")

    second = run_cli(*args, "--budget", "12")
    assert second.returncode == 0, second.stderr[-3000:]
    (run,) = runs(client, "audit", "campaign")
    assert run.info.run_id == campaign.info.run_id and run.info.status == "FINISHED"
    assert client.get_run(ghost.info.run_id).info.lifecycle_stage == "deleted"
    invocations = runs(client, "audit", "invocation")
    assert [r.data.tags["mlflow.parentRunId"] for r in invocations] == [run.info.run_id] * 2
    assert [r.info.status for r in invocations] == ["KILLED", "FINISHED"]
    assert invocations[0].data.metrics["measured_this_run"] == 0 and invocations[0].data.metrics["measured"] == 8
    assert client.get_experiment(run.info.experiment_id).tags[KIND_TAG] == MODEL_DEVELOPMENT

    frame = MeasurementStore(out).read()
    assert len(frame) == 12 and run.data.metrics["measured"] == 12 and invocations[1].data.metrics["measured_this_run"] == 4
    history = client.get_metric_history(invocations[1].info.run_id, "measured")
    assert history and history[-1].value == 12 and history[-1].step == 12  # step metrics: rows stored so far
    digest = mlflow.data.from_pandas(frame).digest
    latest = run.inputs.dataset_inputs[-1].dataset
    assert latest.digest == digest and str(out / "measurements.parquet") in latest.source
    assert invocations[1].inputs.dataset_inputs[0].dataset.digest == digest  # the same data shows as the same dataset

    tags = run.data.tags
    assert tags[CAMPAIGN_TAG] and tags["system"] == "synthetic" and tags["environment"] == "local" and tags["workload"] == "paper"
    assert tags["tradeoff.version"] and len(tags["mlflow.source.git.commit"]) == 40 and tags["host"]
    assert invocations[1].data.tags["prefect.flow_run_id"]
    assert "**12** measurements" in tags[NOTE_TAG] and "cross-validated MAPE" in tags[NOTE_TAG]
    assert {"measurements.parquet", "summary.csv", "influences.png"} <= {a.path for a in client.list_artifacts(run.info.run_id)}

    # The logged model: loads as a pyfunc with a signature, predicts what the project's model predicts.
    mlflow.set_tracking_uri(store)
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    bundle = load_model(out / "model")
    assert pyfunc.metadata.get_input_schema().input_names() == bundle["space"].names
    linked = mlflow.get_logged_model(pyfunc.metadata.model_id).metrics  # the model page: its accuracy, on which data
    assert {(m.key, m.dataset_digest) for m in linked} >= {("mape", digest)}
    configs = pd.DataFrame([{"o1": True, "o3": False}, {"o1": False, "o3": True}])  # the others at their defaults
    expected = predict_table(bundle, configs)
    assert list(pyfunc.predict(configs)["predicted.perf"]) == pytest.approx(list(expected["predicted.perf"]))
    (tmp_path / "configs.csv").write_text("o1,o3\ntrue,false\nfalse,true\n")
    from_run = tradeoff("predict", f"runs:/{run.info.run_id}/model", str(tmp_path / "configs.csv"), "--tracking-uri", store)
    from_folder = tradeoff("predict", str(out / "model"), str(tmp_path / "configs.csv"))
    assert from_run.returncode == 0 and from_run.stdout == from_folder.stdout, from_run.stderr
    client.set_tag(run.info.run_id, MODEL_DIGEST_TAG, "0" * 64)  # the logged bundle no longer matches what the run recorded
    refused = tradeoff("predict", f"runs:/{run.info.run_id}/model", str(tmp_path / "configs.csv"), "--tracking-uri", store)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "does not match the digest" in refused.stderr


@pytest.mark.slow
def test_a_transfer_study_has_a_nested_run_per_method_and_logs_its_model(tmp_path, datasets, tradeoff):
    store, out, source = f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "t", "ase17-x264:feature1_2762_8"
    result = run_cli("transfer", "--source", source, "--target", "ase17-x264", "--environment",
                     "feature8_2762_32", "--budget", "16", "--method", "auto", "--out", str(out),
                     "--tracking-uri", store, "--experiment", "audit")
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(store)
    (run,) = runs(client, "audit", "campaign")
    (invocation,) = runs(client, "audit", "invocation")
    parts = runs(client, "audit", "part")
    assert {p.data.tags["mlflow.parentRunId"] for p in parts} == {invocation.info.run_id}
    methods = {p.data.params["method"]: p for p in parts}
    assert {"target-only", "auto", "linear-shift", "stack", "stack-gp"} <= set(methods)
    assert methods["target-only"].data.metrics["mape"] == run.data.metrics["mape_target-only"]
    chosen = run.data.tags["chosen"]
    assert methods[chosen].data.tags["chosen"] == "True" and f"`{chosen}`" in run.data.tags[NOTE_TAG]
    assert "**Bellwether**" in run.data.tags[NOTE_TAG] and run.inputs.dataset_inputs

    # The study's model (the fitted auto) on the campaign run, each method's own on its nested run: pyfuncs with a
    # signature that predict what the study's models predict in this process, on the target's rows.
    system = Target(system="ase17-x264", environment="feature8_2762_32").build()
    metric, target = invocation.data.params["metric"], MeasurementStore(out).read()
    _, models = fit_and_evaluate({source: environment_frame(source)}, target, system.space, metric, "auto", "log-forest", 0,
                                 recorded_frame(system))
    X, _, configs = encoded(system.space, target, metric)
    assert f"its model is runs:/{run.info.run_id}/model" in result.stdout and "**Model**" in run.data.tags[NOTE_TAG]
    assert [name for name, part in methods.items() if part.data.tags.get("study_model") == "True"] == ["auto"]
    mlflow.set_tracking_uri(store)
    for run_id, name in ((run.info.run_id, "auto"), (methods["auto"].info.run_id, "auto"),
                         (methods["target-only"].info.run_id, "target-only")):
        pyfunc = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
        assert pyfunc.metadata.get_input_schema().input_names() == system.space.names
        assert list(pyfunc.predict(configs)[f"predicted.{metric}"]) == pytest.approx(list(models[name].predict(X)))
    configs.to_csv(tmp_path / "configs.csv", index=False)
    predicted = tradeoff("predict", f"runs:/{run.info.run_id}/model", str(tmp_path / "configs.csv"), "--tracking-uri", store)
    assert predicted.returncode == 0, predicted.stderr
    assert list(pd.read_csv(io.StringIO(predicted.stdout))[f"predicted.{metric}"]) == pytest.approx(list(models["auto"].predict(X)))
