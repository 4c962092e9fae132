"""Given addresses, a campaign uses a Ray cluster, a Prefect server and an MLflow server."""

import os
import signal
import subprocess
import uuid

import httpx
import mlflow
import pytest

from conftest import free_port, run_cli, wait_for_port
from flows.stack import MLFLOW_SERVER_ENV


@pytest.fixture()
def servers(tmp_path):
    ray_port, mlflow_port, prefect_port = free_port(), free_port(), free_port()
    # Ray 2.60 clusters use token auth: server and client share the mode and the token.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    env = {**os.environ, **auth, "PREFECT_HOME": str(tmp_path / "prefect")}
    started = [
        (subprocess.Popen(["ray", "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(ray_port),
                           "--num-cpus", "3", "--include-dashboard", "false", "--disable-usage-stats"],
                          env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), ray_port),
        (subprocess.Popen(["mlflow", "server", "--backend-store-uri", f"sqlite:///{tmp_path}/server.db", "--host", "127.0.0.1",
                           "--port", str(mlflow_port), "--workers", "1", "--default-artifact-root", str(tmp_path / "artifacts")],
                          env={**env, **MLFLOW_SERVER_ENV}, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), mlflow_port),
        (subprocess.Popen(["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port)],
                          env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), prefect_port),
    ]
    try:
        for process, port in started:
            wait_for_port(port, process)
        yield ray_port, mlflow_port, prefect_port, auth
    finally:
        for process, _ in started:
            os.killpg(process.pid, signal.SIGTERM)
        for process, _ in started:
            try:
                process.wait(timeout=3)  # servers that ignore SIGTERM this long are killed: nothing here is worth waiting for
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.slow
def test_campaign_runs_on_given_ray_prefect_and_mlflow_servers(servers, tmp_path):
    ray_port, mlflow_port, prefect_port, auth = servers
    prefect_api = f"http://127.0.0.1:{prefect_port}/api"
    result = run_cli("campaign", "synthetic", "--budget", "12", "--out", str(tmp_path / "c"),
                     "--ray-address", f"127.0.0.1:{ray_port}", "--tracking-uri", f"http://127.0.0.1:{mlflow_port}",
                     "--experiment", "served", env={"PREFECT_API_URL": prefect_api, **auth})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "3 CPUs on 1 node" in result.stdout + result.stderr  # the started cluster, not a local Ray
    client = mlflow.MlflowClient(tracking_uri=f"http://127.0.0.1:{mlflow_port}")
    experiment = client.get_experiment_by_name("served").experiment_id
    runs = client.search_runs([experiment], "tags.`tradeoff.role` = 'campaign'")
    assert len(runs) == 1 and runs[0].data.metrics["measured"] == 12
    flow_runs = httpx.post(f"{prefect_api}/flow_runs/filter", json={}).json()
    assert [run["state_type"] for run in flow_runs] == ["COMPLETED"]
    (invocation,) = client.search_runs([experiment], "tags.`tradeoff.role` = 'invocation'")  # lineage: MLflow run -> Prefect flow run
    assert invocation.data.tags["prefect.flow_run_id"] == flow_runs[0]["id"]
    assert invocation.data.tags["prefect.flow_run_url"].endswith(f"/flow-runs/flow-run/{flow_runs[0]['id']}")
    artifacts = httpx.post(f"{prefect_api}/artifacts/filter", json={}).json()
    assert {"mlflow-run", "measuring", "rows-by-status"} <= {a["key"] for a in artifacts}
    assert invocation.info.run_id in next(a["data"] for a in artifacts if a["key"] == "mlflow-run")
