"""MLflow tracking: where runs go when nothing is configured, and the one way every command logs a run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import mlflow
from prefect import task
from prefect.cache_policies import NONE

from tradeoff.errors import TradeoffError

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


def log_run(experiment: str, uri: str | None, run_name: str, params: dict, metrics: dict, tags: dict | None = None,
            files: Iterable[Path] = (), folders: dict[str, Path] | None = None,
            steps: dict[str, Iterable[float]] | None = None) -> tuple[str, str]:
    """One MLflow run: params, metrics (None values left out), step metrics (a value per step, NaN
    steps left out), tags, files and whole folders (artifact path -> folder); returns the tracking
    URI and the run id. Every command logs through this.

    It runs after the work, so a store that fails now (gone, full, refusing) is one TradeoffError
    that says the work is kept, not MLflow's traceback; a rerun of the command logs it again."""
    try:
        resolved = use_experiment(experiment, uri)
        with mlflow.start_run(run_name=run_name) as run:
            mlflow.log_params(params)
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
            for name, values in (steps or {}).items():
                for step, value in enumerate(values, start=1):
                    if value == value:
                        mlflow.log_metric(name, float(value), step=step)
            if tags:
                mlflow.set_tags(tags)
            for artifact_path, folder in (folders or {}).items():
                mlflow.log_artifacts(str(folder), artifact_path)
            for path in files:
                mlflow.log_artifact(str(path))
    except Exception as error:  # MLflow raises many kinds (HTTP, SQL, OS): each means the same here
        why = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise TradeoffError(f"logging to MLflow at {uri or tracking_uri()} failed ({why}); the measurements and files are "
                            "kept: rerun the same command to log them") from None
    return resolved, run.info.run_id


@task(cache_policy=NONE)
def track(experiment: str, uri: str | None, run_name: str, params: dict, metrics: dict, tags: dict | None = None,
          files: list[Path] = (), folders: dict[str, Path] | None = None,
          steps: dict[str, list[float]] | None = None) -> tuple[str, str, str | None]:
    """``log_run`` as the Prefect task that ends a flow: the URI, the run id and, where logging
    failed, why (returned, not raised: a failed task would print Prefect's traceback, and the
    flow's work is done and stored; the command reports it in one line)."""
    try:
        return (*log_run(experiment, uri, run_name, params, metrics, tags, files, folders, steps), None)
    except TradeoffError as problem:
        return uri or tracking_uri(), "", str(problem)
