"""The work of ``tradeoff report``: campaign or study folders (or MLflow runs) in, one HTML page out,
logged to MLflow beside the campaign it reports on.

A plain function, not a Prefect flow (like learn and evaluate): it reads files and draws plots in
seconds, and starting a Prefect server for that would cost more than the work. The page itself is
``tradeoff.report``'s; this module finds its inputs and its MLflow run:

- ``runs:/ID`` downloads the run's artifacts into a temporary folder and reports on that; an
  optimisation's run (which logs no measurements) gets those of its campaign's run (tag ``campaign_run``).
- The page is logged as an artifact of the campaign's run when tracking is configured (``--tracking-uri``,
  ``$MLFLOW_TRACKING_URI``, or the local store a command already created): the run given as
  ``runs:/ID``, else the run tagged ``tradeoff.campaign=<the folder's campaign id>`` (one run per
  campaign), else, for runs logged before that tag, the run whose ``campaign`` parameter is that id.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mlflow.tracking import MlflowClient

from tasks.settings import Tracking
from tasks.tracking import CAMPAIGN_TAG, DEFAULT_ROOT, tracking_uri
from tradeoff import report as page
from tradeoff.errors import TradeoffError
from tradeoff.measurements import MeasurementStore
from tradeoff.models.learners.base import LEARNERS

log = logging.getLogger(__name__)
RUNS = "runs:/"
SQLITE = "sqlite:///"


@dataclass
class Reported:
    out: Path
    tracking_uri: str | None
    logged: dict[str, str] = field(default_factory=dict)  # label -> MLflow run id the page went to
    unlogged: list[str] = field(default_factory=list)  # labels with no run found


def configured_store(uri: str | None) -> str | None:
    """The tracking URI when tracking is configured, else None (a report creates no store)."""
    if uri or os.environ.get("MLFLOW_TRACKING_URI") or (DEFAULT_ROOT / "mlflow.db").exists():
        return tracking_uri(uri)
    return None


def check_out(out: Path) -> None:
    folder = out.resolve().parent
    why = ("it is a folder" if out.is_dir() else f"{folder} does not exist" if not folder.exists()
           else f"{folder} is a file" if not folder.is_dir() else f"{folder} is not writable" if not os.access(folder, os.W_OK)
           else None)
    if why:
        raise TradeoffError(f"cannot write the report to {out}: {why}; give --out a file in a writable folder")


def _run_id(spec: str) -> str:
    run_id = spec[len(RUNS):].strip("/").split("/")[0]
    if not run_id:
        raise TradeoffError(f"{spec!r} names no run; write runs:/RUN_ID with the id a command printed ('MLflow run ...')")
    return run_id


def _no_run(run_id: str, uri: str) -> TradeoffError:
    return TradeoffError(f"no MLflow run {run_id} in {uri}; give the id a command printed ('MLflow run ...') "
                         "and the store it went to (--tracking-uri)")


def _download(client: MlflowClient, run_id: str, uri: str) -> tuple[str, Path]:
    try:
        run = client.get_run(run_id)
    except Exception:  # MLflow raises its own exception or an HTTP error, by store
        raise _no_run(run_id, uri) from None
    folder = Path(tempfile.mkdtemp(prefix=f"tradeoff-report-{run_id[:8]}-"))
    client.download_artifacts(run_id, "", str(folder))
    campaign_run = run.data.tags.get("campaign_run")
    if campaign_run and not MeasurementStore(folder).exists():
        try:
            client.download_artifacts(campaign_run, "measurements.parquet", str(folder))
        except Exception as error:
            log.info("report: no measurements of campaign run %s (%s)", campaign_run, error)
    return f"runs:/{run_id} ({run.info.run_name})", folder


def campaign_run(client: MlflowClient, folder: Path, experiments: list[str]) -> str | None:
    """The MLflow run of the folder's campaign (see the module's docstring) in ``experiments``, or None."""
    for campaign in map(str, MeasurementStore(folder).distinct("campaign")):
        for query in (f"tags.`{CAMPAIGN_TAG}` = '{campaign}'", f"params.campaign = '{campaign}'"):
            runs = [r for r in client.search_runs(experiments, query, order_by=["attributes.start_time DESC"])
                    if "mlflow.parentRunId" not in r.data.tags]
            if runs:
                return runs[0].info.run_id
    return None


def report(sources: list[str], out: Path, metric: str | None = None, uri: str | None = None,
           learner: str = page.LEARNER) -> Reported:
    """Write the page for ``sources`` (folders or runs:/ID) to ``out`` and log it to each one's run."""
    out = Path(out)
    check_out(out)
    Tracking(uri=uri).check()
    LEARNERS.check(learner)
    for spec in sources:  # every local check before MLflow is touched
        if spec.startswith(RUNS):
            _run_id(spec)
        else:
            page.check_folder(Path(spec))
    store = configured_store(uri) or (tracking_uri(uri) if any(s.startswith(RUNS) for s in sources) else None)
    if store and store.startswith(SQLITE) and not Path(store.removeprefix(SQLITE)).exists():
        missing = [_run_id(s) for s in sources if s.startswith(RUNS)]
        if missing:  # a store not created yet holds no run (and opening it would create it)
            raise _no_run(missing[0], store)
        store = None
    client = MlflowClient(store) if store else None
    parts, runs = [], {}
    for spec in sources:
        if spec.startswith(RUNS):
            run_id = _run_id(spec)
            label, folder = _download(client, run_id, store)
            page.check_folder(folder)
            runs[label] = run_id
        else:
            label, folder = spec, Path(spec)
        parts.append((label, folder))
    page.write(parts, out, metric, learner)
    reported = Reported(out, store)
    if client is None:
        return reported
    try:
        experiments = [e.experiment_id for e in client.search_experiments()]
        for label, folder in parts:
            run_id = runs.get(label) or campaign_run(client, folder, experiments)
            if run_id is None:
                reported.unlogged.append(label)
                continue
            client.log_artifact(run_id, str(out))
            reported.logged[label] = run_id
    except Exception as error:  # HTTP, SQL or OS errors of the store all mean the same here
        why = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise TradeoffError(f"the report is written to {out}, but logging it to MLflow at {store} failed ({why}); "
                            "rerun the command to log it") from None
    return reported
