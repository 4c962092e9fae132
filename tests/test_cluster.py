"""Deployed campaigns on the one-machine cluster (flows/stack.py): real PostgreSQL, MLflow behind
basic auth, Prefect server and worker, a Ray head and two one-core worker nodes started by ``ray start``.

The stack starts once for the module (about a minute and a half on a loaded 2-core machine). The
measured program is a command spec that sleeps, so measurements are in flight when a fault lands,
and reports the core it was allowed to run on: node-1 is pinned to the first core, node-2 to the
second, so the cores say which node measured a row (and, with the engine's ``node`` column, the
rows say it themselves).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import httpx
import mlflow
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import run_cli
from flows.stack import Stack
from tradeoff.measurements import IDENTITY, MeasurementStore

SPEC = {"system": "where", "command": "sleep 1; grep Cpus_allowed_list /proc/self/status; echo value {level}",
        "options": [{"name": "level", "type": "int", "range": [1, 60], "default": 1}],
        "workloads": {"none": "nothing to read"},
        "metrics": [{"name": "value", "from": "regex", "pattern": r"value (\d+)", "stream": "stdout"},
                    {"name": "core", "from": "regex", "pattern": r"Cpus_allowed_list:\s+(\d+)", "stream": "stdout"}]}


@pytest.fixture(scope="module")
def stack():
    folder = Path(tempfile.mkdtemp(prefix="tradeoff-stack-"))
    folder.chmod(0o755)  # PostgreSQL runs as the postgres user, which must reach its data folder
    (folder / "where.yaml").write_text(yaml.safe_dump(SPEC))
    with Stack(folder / "stack") as running:
        yield running
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def cluster_env(stack, monkeypatch):
    """This process as a user who sourced the stack's env.sh."""
    monkeypatch.delenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", raising=False)
    for key, value in stack.client_env().items():
        monkeypatch.setenv(key, value)
    from prefect.settings import PREFECT_API_URL, temporary_settings
    with temporary_settings({PREFECT_API_URL: stack.prefect_api}):
        yield stack.client_env()


def deploy(stack, out: Path, *options: str, budget: int = 12) -> str:
    """``tradeoff deploy`` of a campaign of the sleeping spec over both nodes; returns the deployment's name."""
    result = run_cli("deploy", *options, "campaign", str(stack.folder.parent / "where.yaml"), "--budget", str(budget),
                     "--concurrency", "2", "--cores-per-run", "1", "--out", str(out), "--experiment", out.name,
                     env=stack.client_env())
    assert result.returncode == 0, result.stderr[-3000:]
    return f"campaign/{out.name}"


def deploy_here(stack, out: Path, budget: int, interval: float | None = None) -> str:
    """The same deployment made in this process (what ``tradeoff deploy`` calls), without a CLI's start-up."""
    from flows.deploy import DeploySettings, deploy as make_deployment
    from tasks.settings import CampaignSettings, Execution, Target, Tracking
    settings = CampaignSettings(target=Target(system=str(stack.folder.parent / "where.yaml")), budget=budget, out=str(out),
                                execution=Execution(concurrency=2, cores_per_run=1), tracking=Tracking(experiment=out.name))
    make_deployment(DeploySettings(kind="campaign", study=settings.resolve(), interval=interval))
    return f"campaign/{out.name}"


def raw_identities(folder: Path) -> list[tuple]:
    """Every stored (configuration, repetition, ...) in the raw Parquet parts, duplicates kept."""
    table = pq.read_table(MeasurementStore(folder).path, columns=list(IDENTITY))
    return list(zip(*(table.column(name).to_pylist() for name in IDENTITY)))


def flow_runs(stack, deployment_id: str) -> list[dict]:
    return httpx.post(f"{stack.prefect_api}/flow_runs/filter",
                      json={"flow_runs": {"deployment_id": {"any_": [deployment_id]}}}).json()


def test_a_deployment_takes_the_settings_with_absolute_paths_unresolved(tmp_path, monkeypatch):
    """A run works in the source tree and checks its settings again: relative paths would land there."""
    from flows.campaign import campaign
    from flows.deploy import DeploySettings
    from tasks.settings import CampaignSettings, Target
    monkeypatch.chdir(tmp_path)
    settings = CampaignSettings(target=Target(system="synthetic"), budget=3, out="runs/c").resolve()
    parameters = DeploySettings(kind="campaign", study=settings, interval=60).parameters()
    received = campaign.validate_parameters(parameters)["settings"]  # as Prefect hands them to the flow
    assert received == CampaignSettings(target=settings.target, budget=3, metric="perf", out=str(tmp_path / "runs/c"))


@pytest.mark.slow
def test_mlflow_refuses_an_anonymous_client(stack):
    response = httpx.get(f"{stack.mlflow_uri}/api/2.0/mlflow/experiments/search", params={"max_results": 1}, timeout=60)
    assert response.status_code == 401
    signed = httpx.get(f"{stack.mlflow_uri}/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                       auth=(stack.client_env()["MLFLOW_TRACKING_USERNAME"], stack.client_env()["MLFLOW_TRACKING_PASSWORD"]), timeout=60)
    assert signed.status_code == 200


@pytest.mark.slow
def test_a_deployed_campaign_spreads_over_both_nodes_and_logs_with_credentials(stack, cluster_env, tmp_path):
    from prefect.deployments import run_deployment
    out = tmp_path / "spread"
    name = deploy(stack, out)
    run = run_deployment(name, timeout=600)
    assert run.state.is_completed(), run.state
    frame = MeasurementStore(out).read()
    assert len(frame) == 12 and (frame["status"] == "ok").all()
    assert sorted(raw_identities(out)) == sorted(set(raw_identities(out)))  # each measurement stored once
    cores = sorted(os.sched_getaffinity(0))[:2]
    assert set(frame["metric.core"].astype(int)) == set(cores)  # node-1's core and node-2's
    if "node" in frame.columns:  # the engine's column
        assert set(frame["node"]) == {"node-1", "node-2"}
    client = mlflow.MlflowClient(tracking_uri=stack.mlflow_uri)  # the credentials come from the environment
    runs = client.search_runs([client.get_experiment_by_name(out.name).experiment_id])
    [run] = [r for r in runs if r.data.tags.get("tradeoff.role") == "campaign"]  # the campaign's run, one however often resumed
    assert run.data.metrics["measured"] == 12
    assert client.list_artifacts(run.info.run_id)  # served from the server's artifact destination


@pytest.mark.slow
def test_a_schedule_creates_runs(stack, cluster_env, tmp_path):
    from prefect.client.orchestration import get_client
    out = tmp_path / "scheduled"
    name = deploy_here(stack, out, budget=2, interval=20)
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(name)
        assert deployment.global_concurrency_limit.limit == 1  # one run of the campaign at a time
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # the scheduler creates the runs; the worker runs the first, due now
            runs = flow_runs(stack, str(deployment.id))
            if any(r["state_type"] == "COMPLETED" for r in runs):
                break
            time.sleep(2)
        client.delete_deployment(deployment.id)  # its later runs are not this module's business
    assert any(r["state_type"] == "COMPLETED" for r in runs), [r["state_type"] for r in runs]
    assert len(runs) >= 2  # the scheduler keeps the next ones ahead
    assert len(MeasurementStore(out).read()) == 2


@pytest.mark.slow
def test_a_run_whose_worker_and_driver_are_killed_is_recovered_and_measures_only_what_was_missing(stack, cluster_env, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    out, budget = tmp_path / "recovered", 16
    name = deploy_here(stack, out, budget=budget)
    run = run_deployment(name, timeout=0)
    store = MeasurementStore(out)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (store.exists() and len(store.done()) >= 4):
        time.sleep(0.5)
    stack.kill("prefect-worker")  # the worker and the flow run it started (the campaign's driver)
    killed_at, before = time.time(), len(store.done())
    assert 4 <= before < budget
    stack.start_worker()
    with get_client(sync_client=True) as client:
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline:
            state = client.read_flow_run(run.id).state
            if state.is_final() and not state.is_crashed():
                break
            time.sleep(2)
        recovered = client.read_flow_run(run.id)
    assert recovered.state.is_completed(), recovered.state
    assert recovered.run_count >= 2  # the same flow run, run again after it was marked Crashed
    frame = store.read()
    assert len(frame) == budget and sorted(raw_identities(out)) == sorted(set(raw_identities(out)))
    started = frame["started_at"].map(lambda t: t.timestamp())
    assert (started > killed_at).sum() <= budget - before  # what was stored was not measured again


@pytest.mark.slow
def test_a_campaign_completes_though_mlflow_is_down_for_a_while(stack, cluster_env, tmp_path):
    import subprocess
    import sys
    out = tmp_path / "mlflow-down"
    campaign = subprocess.Popen([sys.executable, "-m", "flows.cli", "campaign", str(stack.folder.parent / "where.yaml"),
                                 "--budget", "10", "--concurrency", "2", "--cores-per-run", "1", "--out", str(out),
                                 "--experiment", out.name], env={**os.environ, **cluster_env}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        store = MeasurementStore(out)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not (store.exists() and len(store.done()) >= 2):
            time.sleep(0.3)
        stack.kill("mlflow")
        time.sleep(5)
        stack.start_mlflow()
        stack.wait("mlflow", stack.ports["mlflow"])
        stdout, stderr = campaign.communicate(timeout=400)
    finally:
        if campaign.poll() is None:
            os.killpg(campaign.pid, signal.SIGKILL)
    assert campaign.returncode == 0, stderr[-3000:]
    client = mlflow.MlflowClient(tracking_uri=stack.mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name(out.name).experiment_id])
    [run] = [r for r in runs if r.data.tags.get("tradeoff.role") == "campaign"]
    assert run.data.metrics["measured"] == 10 and run.info.status == "FINISHED"
    assert "measurements.parquet" in {a.path for a in client.list_artifacts(run.info.run_id)}  # all of it, once the server is back
    assert [r.info.status for r in runs if r.data.tags.get("tradeoff.role") == "invocation"] == ["FINISHED"]
