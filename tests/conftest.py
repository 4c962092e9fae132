"""Shared fixtures: real Ray, real files; published datasets where the folder exists."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(autouse=True)
def _own_tracking_uri():
    """MLflow's set_tracking_uri exports $MLFLOW_TRACKING_URI; a test that points it at its own store
    or server must not hand that to the next test."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


@pytest.fixture(scope="session")
def datasets() -> Path:
    from systems.replay import datasets_dir
    from tradeoff.errors import TradeoffError
    try:
        return datasets_dir()
    except TradeoffError as error:
        pytest.skip(f"published datasets absent ({error})")


@pytest.fixture(scope="session")
def local_ray():
    import ray

    from tasks.measure import connect
    connect()
    yield
    ray.shutdown()


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    """Generated clips go to a per-test cache, so tests do not depend on the user's."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("TRADEOFF_CACHE", str(folder))
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listens on {port}")


_prefect_api: str | None = None


def prefect_server() -> str:
    """A Prefect server shared by every CLI call of this test session, as a user's PREFECT_API_URL names one.

    Each CLI call would otherwise start and stop its own temporary server (10-15 s each); the
    ephemeral default itself is tested where run_cli is asked for it."""
    global _prefect_api
    if _prefect_api is None:
        port, home = free_port(), tempfile.mkdtemp(prefix="tradeoff-test-prefect-")
        server = subprocess.Popen(["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                  env={**os.environ, "PREFECT_HOME": home, "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api"},
                                  start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def stop() -> None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
            shutil.rmtree(home, ignore_errors=True)
        atexit.register(stop)
        wait_for_port(port, server)
        _prefect_api = f"http://127.0.0.1:{port}/api"
    return _prefect_api


@pytest.fixture
def shared_prefect():
    """Flows run in this process use the session's Prefect server rather than each starting a
    temporary one (Prefect reads PREFECT_API_URL at import, so it is set through its settings)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings
    with temporary_settings({PREFECT_API_URL: prefect_server()}):
        yield


def kill_when_stored(args: list[str], parts: Path, env: dict, count: int = 3, seconds: float = 240) -> None:
    """Start the command ``args`` in a session of its own and SIGKILL the whole session at once
    (driver, Ray and all) as soon as ``parts`` holds ``count`` Parquet parts."""
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    deadline = time.time() + seconds
    while time.time() < deadline and len(list(parts.glob("*.parquet")) if parts.exists() else []) < count:
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600,
            ephemeral_prefect: bool = False) -> subprocess.CompletedProcess:
    """The installed ``tradeoff`` command, as a user runs it."""
    environment = {**os.environ, **(env or {})}
    if ephemeral_prefect:
        environment.pop("PREFECT_API_URL", None)
    else:
        environment.setdefault("PREFECT_API_URL", prefect_server())
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=environment, timeout=timeout)


@pytest.fixture
def tradeoff(capsys, monkeypatch):
    """The ``tradeoff`` command in this process, for input it must refuse before Prefect or Ray start:
    ``tradeoff(*args)`` returns the exit code, stdout and stderr."""
    def run(*args: str) -> subprocess.CompletedProcess:
        from flows.cli import main
        monkeypatch.setattr(sys, "argv", ["tradeoff", *args])
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)
    return run
