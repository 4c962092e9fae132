"""MLflow tracking: where runs go when nothing is configured, and how a campaign is logged."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow

DEFAULT_ROOT = Path("tradeoff-runs")


def tracking_uri(uri: str | None = None) -> str:
    """The given URI, else $MLFLOW_TRACKING_URI, else a local sqlite store under ./tradeoff-runs."""
    if uri or os.environ.get("MLFLOW_TRACKING_URI"):
        return uri or os.environ["MLFLOW_TRACKING_URI"]
    DEFAULT_ROOT.mkdir(exist_ok=True)
    return f"sqlite:///{(DEFAULT_ROOT / 'mlflow.db').resolve()}"


def use_experiment(name: str, uri: str | None = None) -> str:
    """Point MLflow at the store and experiment; a new local experiment keeps artifacts beside the store."""
    resolved = tracking_uri(uri)
    mlflow.set_tracking_uri(resolved)
    if mlflow.get_experiment_by_name(name) is None:
        location = None
        if resolved.startswith("sqlite:///"):
            location = (Path(resolved.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)
    return resolved


def ui_command(uri: str) -> str:
    return f"mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --workers 1"
