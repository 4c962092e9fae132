"""The campaign's run as an auditor sees it: a real ``mlflow server`` and a real Prefect server, opened in headless Chromium.

The DOM Chromium renders (not the store's contents) must show the dataset, the tags, the
description and the logged model, and on Prefect's side the flow run's artifacts with the MLflow
run's link. With TRADEOFF_SCREENSHOTS=FOLDER the MLflow pages are also saved there as mlflow-*.png
(docs/screenshots/take.py takes the rest of docs/screenshots/)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient
from PIL import Image

from conftest import free_port, prefect_server, run_cli, wait_for_port
from flows.stack import MLFLOW_SERVER_ENV
from tasks.tracking import run_link

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--window-size=1400,1800", "--virtual-time-budget=20000"]


def chromium(tmp_path: Path, url: str, *action: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-{len(list(tmp_path.glob('chromium-*')))}"
    profile.mkdir()
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *action, url], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """One server for this module; the last test kills it."""
    tmp_path, port = tmp_path_factory.mktemp("mlflow-server"), free_port()
    server = subprocess.Popen(["mlflow", "server", "--backend-store-uri", f"sqlite:///{tmp_path}/server.db", "--host", "127.0.0.1",
                               "--port", str(port), "--workers", "1", "--artifacts-destination", str(tmp_path / "artifacts")],
                              env={**os.environ, **MLFLOW_SERVER_ENV},
                              cwd=tmp_path, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, server)
        yield f"http://127.0.0.1:{port}", server
    finally:
        if server.poll() is not None:
            return
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:  # its workers finish requests first; nothing here is worth waiting for
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def text_of(page: subprocess.CompletedProcess) -> str:
    """The words of the DOM Chromium rendered."""
    return " ".join(re.sub(r"<[^>]+>", " ", page.stdout).split())


@pytest.fixture(scope="module")
def campaign_run(tmp_path_factory, mlflow_server):
    """A campaign tracked on the server, its Prefect flow run on the session's Prefect server: its MLflow run and page."""
    mlflow_server, _ = mlflow_server
    out = tmp_path_factory.mktemp("campaign") / "demo-campaign"
    result = run_cli("campaign", "synthetic", "--budget", "10", "--out", str(out), "--tracking-uri", mlflow_server,
                     "--experiment", "audit-ui")
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("audit-ui").experiment_id
    (run,) = client.search_runs([experiment], "tags.`tradeoff.role` = 'campaign'")
    return run, run_link(mlflow_server, experiment, run.info.run_id)


needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (docker/install.sh installs it)")


@pytest.mark.slow  # the module's campaign on the server, then Chromium
@needs_chromium
def test_the_run_page_shows_dataset_tags_description_and_model(tmp_path, campaign_run):
    run, page = campaign_run
    text = text_of(chromium(tmp_path, page, "--dump-dom"))
    digest = run.inputs.dataset_inputs[0].dataset.digest
    assert f"Datasets demo-campaign ({digest}) measurements" in text, "the dataset is not shown"
    assert f"tradeoff.campaign : {run.data.tags['tradeoff.campaign']}" in text and "system : synthetic" in text
    assert "Description Campaign demo-campaign 10 measurements (0 failed)" in text and "cross-validated MAPE" in text
    assert "Logged models (1)" in text and "Model training" in text  # the model-development view, not GenAI's
    assert f"Prefect flow run : {run.data.tags['prefect.flow_run_url']}" in text  # the description's last line

    shots = Path(os.environ.get("TRADEOFF_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    pages = {"mlflow-run.png": page, "mlflow-runs.png": page.split("/runs/")[0] + "/runs?workflowType=machine_learning"}
    for name, url in pages.items():
        chromium(tmp_path, url, f"--screenshot={shots / name}")
        picture = Image.open(shots / name).convert("L")
        drawn = sum(1 for value in picture.resize((140, 180)).getdata() if value < 200)
        assert drawn > 0.003 * 140 * 180, f"{name} is nearly blank"  # text on white: a blank page has none


@pytest.mark.slow
@needs_chromium
def test_the_prefect_flow_run_shows_its_mlflow_run_rows_and_progress(tmp_path, campaign_run):
    """The same campaign from Prefect's side: the flow run's artifacts, and the MLflow run's link in the markdown one."""
    run, page = campaign_run
    api, flow_run = prefect_server(), run.data.tags["prefect.flow_run_id"]
    assert run.data.tags["prefect.flow_run_url"].endswith(f"/flow-run/{flow_run}")
    ui = api.removesuffix("/api")
    tab = text_of(chromium(tmp_path, f"{ui}/v2/runs/flow-run/{flow_run}?tab=Artifacts", "--dump-dom"))
    assert "PROGRESS measuring" in tab and "TABLE rows-by-status" in tab and "MARKDOWN mlflow-run" in tab, tab[-2000:]
    found = httpx.post(f"{api}/artifacts/filter", json={"flow_runs": {"id": {"any_": [flow_run]}}}).json()
    artifacts = {artifact["key"]: artifact["id"] for artifact in found}
    markdown = text_of(chromium(tmp_path, f"{ui}/v2/artifacts/artifact/{artifacts['mlflow-run']}", "--dump-dom"))
    assert f"campaign run: {run.info.run_id}" in markdown and f"page: {page}" in markdown, markdown[-2000:]
    rows = text_of(chromium(tmp_path, f"{ui}/v2/artifacts/artifact/{artifacts['rows-by-status']}", "--dump-dom"))
    assert re.search(r"status node rows ok \S+ 10", rows), rows[-2000:]


def test_a_tracking_server_that_dies_mid_run_costs_no_work(mlflow_server, tmp_path, monkeypatch):
    """Retried, then one line; the work goes on and the command reports it at the end."""
    from tasks import tracking
    from tasks.settings import Tracking
    from tasks.tracking import tracked
    # what is tested is that the tries end in one line, not their 34 s of waiting for a restart (nor MLflow's own retries)
    monkeypatch.setattr(tracking, "BACKOFF_S", (0.2, 0.4, 0.6, 0.8))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    url, server = mlflow_server
    (tmp_path / "result.csv").write_text("a\n1\n")
    with tracked(Tracking(uri=url, experiment="dies"), "work", campaign="dead0", params={"a": 1}) as run:
        run.metrics({"before": 1.0})
        assert run.run_id and not run.problem
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        run.metrics({"after": 2.0})
        run.files([tmp_path / "result.csv"])
        worked = True
    assert worked and run.problem and "\n" not in run.problem
    assert run.problem.startswith(f"logging to MLflow at {url} failed (metrics:") and "kept: rerun the same command" in run.problem
