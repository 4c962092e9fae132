"""Shared fixtures: real Ray, real files; published datasets where the folder exists."""

from __future__ import annotations

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

if os.environ.get("PYTEST_XDIST_WORKER"):  # each of the suite's processes (pytest -n) gets a temporary folder of its own:
    # its Ray sessions and its core locks (tasks.measure.CORE_LOCKS) then never meet the other's; short, for socket paths
    os.environ["TMPDIR"] = f"/tmp/tt-{os.environ['PYTEST_XDIST_WORKER']}"
    os.makedirs(os.environ["TMPDIR"], mode=0o755, exist_ok=True)
    tempfile.tempdir = None
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
SESSION_ENV = dict(os.environ)  # before any test changes it: what servers shared by every test start with


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


def needs_datasets(request, args) -> None:
    """A command line about a replayed system reads the published datasets: skipped where they are absent."""
    from systems.catalogue import SYSTEMS
    if len(args) > 1 and args[1] in SYSTEMS.names() and SYSTEMS.kind(args[1]) == "replay":
        request.getfixturevalue("datasets")


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


_started: list[tuple[subprocess.Popen | None, Path]] = []  # the session's servers (each in a session of its own) and folders


def pytest_sessionfinish(session):
    """End the session's servers (each whole group, by id) and remove their folders, last started first.
    Here rather than at exit: pytest-xdist ends a worker soon after its session finishes, and a
    worker still stopping its Ray head at exit left its Prefect server running."""
    while _started:
        process, folder = _started.pop()
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


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

        _started.append((server, Path(home)))
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


def kill_when_stored(args: list[str], parts: Path, env: dict, seconds: float = 240) -> None:
    """Start the command ``args`` in a session of its own and SIGKILL the whole session at once
    (driver, Ray and all) as soon as ``parts`` holds a Parquet part: the first flush, a second after
    the workers started. (Waiting for three parts raced a fast machine: the run ended, compacted its
    parts into one and was killed only at the deadline, finished.)"""
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    deadline = time.time() + seconds
    while time.time() < deadline and not (parts.exists() and any(parts.glob("*.parquet"))):
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()


_ray_head: tuple[str, dict] | None = None
# What a Ray worker inherits from the process that started its node and a test may change: a call
# that differs from the shared head in any of these gets a local Ray of its own.
WORKER_ENV = ("PATH", "PYTHONPATH", "TMPDIR")
# explicit auth; loopback only (one node, so none needs to join); a loaded machine registers slowly
HEAD_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_raylet_start_wait_time_s": "120"}


def _worker_env(environment: dict) -> dict:
    return {k: v for k, v in {**environment, **HEAD_ENV}.items() if k in WORKER_ENV or k.startswith(("TRADEOFF_", "RAY_"))}


def shared_ray() -> tuple[str, dict]:
    """One Ray head on 127.0.0.1 for the CLI calls of this test session, as a user's $RAY_ADDRESS names
    one (each call would otherwise start and stop a local Ray: 5-10 s); the local default is tested
    where run_cli is asked for it. Returns its address and the worker environment it was started with."""
    global _ray_head
    if _ray_head is None:
        from flows.stack import ray_node_options
        port, temp = free_port(), Path(tempfile.mkdtemp(prefix="tradeoff-test-ray-", dir="/tmp"))  # socket paths < 107 bytes
        env, log = {**SESSION_ENV, **HEAD_ENV}, temp / "head.log"
        with log.open("w") as output:
            head = subprocess.Popen(["ray", "start", "--head", "--port", str(port), "--num-cpus", str(os.cpu_count()),
                                     "--ray-client-server-port", str(free_port()), "--include-dashboard", "false",
                                     "--temp-dir", str(temp), *ray_node_options()],
                                    env=env, start_new_session=True, stdout=output, stderr=subprocess.STDOUT)

        _started.append((head, temp))
        deadline = time.time() + 180
        while "Ray runtime started" not in log.read_text(errors="replace"):  # its node has registered
            if head.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the shared Ray head did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.3)
        _ray_head = f"127.0.0.1:{port}", _worker_env(env)
    return _ray_head


_empty_store: Path | None = None


def empty_mlflow_store() -> Path:
    """An MLflow sqlite store made once per session: a new store runs MLflow's schema migrations
    (3-6 s), so a call that would create one at a path of its own gets a copy of this instead."""
    global _empty_store
    if _empty_store is None:
        from mlflow.tracking import MlflowClient
        path = Path(tempfile.mkdtemp(prefix="tradeoff-test-mlflow-")) / "mlflow.db"
        MlflowClient(f"sqlite:///{path}").search_experiments()
        _started.append((None, path.parent))
        _empty_store = path
    return _empty_store


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600,
            ephemeral_prefect: bool = False, own_ray: bool = False) -> subprocess.CompletedProcess:
    """The installed ``tradeoff`` command, as a user runs it, on the session's Ray cluster unless
    ``own_ray`` (or its environment or working folder differs from the cluster's: then the default
    local Ray)."""
    environment = {**os.environ, **(env or {})}
    if ephemeral_prefect:
        environment.pop("PREFECT_API_URL", None)
    else:
        environment.setdefault("PREFECT_API_URL", prefect_server())
    if not (own_ray or ephemeral_prefect or cwd or "RAY_ADDRESS" in environment):
        address, inherited = shared_ray()
        if _worker_env(environment) == inherited:
            environment.update(RAY_ADDRESS=address, **HEAD_ENV)
    if "--tracking-uri" in args:
        uri = args[args.index("--tracking-uri") + 1]
        store = Path(uri.removeprefix("sqlite:///"))
        if uri.startswith("sqlite:///") and store.parent.is_dir() and not store.exists():
            shutil.copyfile(empty_mlflow_store(), store)
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
