"""Shared fixtures: real Ray, real files; published datasets where the folder exists."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


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


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """The installed ``tradeoff`` command, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=timeout)
