"""Retake the screenshots of docs/AUDIT.md: real servers, the real commands, headless Chromium.

    PYTHONPATH=$PWD python3 docs/screenshots/take.py [--out docs/screenshots]   # ~3 minutes on 2 cores

Starts ``mlflow server`` and ``prefect server`` on 127.0.0.1 (free ports, their state in a
temporary folder that is removed afterwards), runs ``tradeoff demo`` and a transfer study against
them as a user would (MLFLOW_TRACKING_URI, PREFECT_API_URL), then opens the pages an auditor opens
and saves each as a PNG: the demo's MLflow run, its logged model and artifacts, its Prefect flow
run's artifacts, the MLflow link and the rows among them, the transfer study's run, its nested runs
and the nested run of its method (auto) with its model.
A page left nearly blank (a spinner, an error page) stops the script; a PNG over 300 KB is
saved with a 256-colour palette. tests/test_mlflow_ui.py checks the same pages' DOM.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from mlflow import MlflowClient
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
MAX_BYTES = 300_000
TRANSFER = ["--source", "ase17-x264:feature1_2762_8", "--source", "ase17-x264:azure_2762_32", "--target", "ase17-x264",
            "--environment", "feature8_2762_32", "--budget", "16", "--method", "auto"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], port: int, env: dict | None = None) -> subprocess.Popen:
    """A server in a session of its own (so it and its workers are stopped as one group), once it listens."""
    server = subprocess.Popen(command, env={**os.environ, **(env or {})}, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline:
        if server.poll() is not None:
            sys.exit(f"error: {command[0]} exited with {server.returncode}; run it by hand to see why")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.5)
    sys.exit(f"error: {command[0]} did not listen on {port} within 180 s")


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def tradeoff(*args: str, env: dict) -> None:
    result = subprocess.run([sys.executable, "-m", "flows.cli", *args], env={**os.environ, **env}, cwd=ROOT,
                            capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"error: tradeoff {args[0]} failed: {result.stderr.strip().splitlines()[-1:]}")
    print(result.stdout.strip().splitlines()[-1])


def drawn(path: Path) -> float:
    """The share of the page that differs from its background: nearly none for a spinner or an error page."""
    grey = Image.open(path).convert("L")
    small = list(grey.resize((140, max(1, grey.height // 10))).get_flattened_data())
    background = Counter(small).most_common(1)[0][0]
    return sum(abs(value - background) > 40 for value in small) / len(small)


def shoot(url: str, path: Path, scratch: Path, height: int = 1400, least: float = 0.015) -> None:
    """The page as Chromium draws it after 20 s of its own (virtual) time, 40 s or 60 s while less than ``least``
    of it is drawn (a frame not loaded yet); refused when it stays so."""
    for budget in (20000, 40000, 60000):
        profile = Path(tempfile.mkdtemp(dir=scratch, prefix="chromium-"))
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run", f"--window-size=1400,{height}",
                        f"--virtual-time-budget={budget}", f"--user-data-dir={profile}", f"--screenshot={path}", url],
                       capture_output=True, timeout=180, check=True)
        ink = drawn(path)
        if ink >= least:
            break
    else:
        sys.exit(f"error: {path.name} is nearly blank ({ink:.1%} drawn): {url} did not render")
    if path.stat().st_size > MAX_BYTES:
        Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    print(f"{path.name}: {path.stat().st_size // 1024} KB, {ink:.0%} drawn  <- {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    out = parser.parse_args().out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="tradeoff-screenshots-"))
    mlflow_port, prefect_port = free_port(), free_port()
    mlflow_url, prefect_api = f"http://127.0.0.1:{mlflow_port}", f"http://127.0.0.1:{prefect_port}/api"
    servers = [start(["mlflow", "server", "--backend-store-uri", f"sqlite:///{scratch}/mlflow.db", "--host", "127.0.0.1",
                      "--port", str(mlflow_port), "--workers", "1", "--artifacts-destination", str(scratch / "artifacts")],
                     mlflow_port, {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})]
    try:
        servers.append(start(["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port)], prefect_port,
                             {"PREFECT_HOME": str(scratch / "prefect"), "PREFECT_UI_API_URL": prefect_api,
                              "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}))
        env = {"MLFLOW_TRACKING_URI": mlflow_url, "PREFECT_API_URL": prefect_api, "PYTHONPATH": str(ROOT)}
        tradeoff("demo", "--out", str(scratch / "demo"), env=env)
        tradeoff("transfer", *TRANSFER, "--out", str(scratch / "x264-transfer"), env=env)

        client, ui = MlflowClient(mlflow_url), prefect_api.removesuffix("/api")

        def campaign_run(experiment_name: str):
            experiment = client.get_experiment_by_name(experiment_name).experiment_id
            (run,) = client.search_runs([experiment], "tags.`tradeoff.role` = 'campaign'")
            return experiment, run

        def page(experiment: str, run_id: str, tab: str = "") -> str:
            return f"{mlflow_url}/#/experiments/{experiment}/runs/{run_id}{tab}?workflowType=machine_learning"

        experiment, demo = campaign_run("tradeoff-demo")
        (model,) = client.search_logged_models(experiment_ids=[experiment])
        flow_run = demo.data.tags["prefect.flow_run_id"]
        artifacts = {a["key"]: a["id"] for a in httpx.post(f"{prefect_api}/artifacts/filter",
                                                           json={"flow_runs": {"id": {"any_": [flow_run]}}}).json()}
        transfer_experiment, transfer = campaign_run("tradeoff-transfer")
        (invocation,) = client.search_runs([transfer_experiment], f"tags.`mlflow.parentRunId` = '{transfer.info.run_id}'")
        (auto,) = client.search_runs([transfer_experiment], f"tags.`mlflow.parentRunId` = '{invocation.info.run_id}' "
                                                            "AND params.method = 'auto'")
        shots = {
            "mlflow-demo-run.png": (page(experiment, demo.info.run_id), 1800),
            "mlflow-demo-model.png": (f"{mlflow_url}/#/experiments/{experiment}/models/{model.model_id}"
                                      "?workflowType=machine_learning", 1000),
            # The report inside MLflow's artifact viewer: its frame, once loaded, draws a tenth of the page.
            "mlflow-demo-artifacts.png": (page(experiment, demo.info.run_id, "/artifacts/report.html"), 1000, 0.08),
            "prefect-flow-run.png": (f"{ui}/v2/runs/flow-run/{flow_run}?tab=Artifacts", 1000),
            "prefect-mlflow-link.png": (f"{ui}/v2/artifacts/artifact/{artifacts['mlflow-run']}", 800),
            "prefect-rows.png": (f"{ui}/v2/artifacts/artifact/{artifacts['rows-by-status']}", 600),
            "mlflow-transfer.png": (page(transfer_experiment, transfer.info.run_id), 1800),
            "mlflow-transfer-methods.png": (page(transfer_experiment, invocation.info.run_id), 1800),
            "mlflow-transfer-auto.png": (page(transfer_experiment, auto.info.run_id), 1900),
        }
        for name, (url, *size) in shots.items():
            shoot(url, out / name, scratch, *size)
    finally:
        for server in servers:
            stop(server)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
