"""MLflow tracking: one run per campaign folder, a nested run per invocation, spanning the work.

An auditor opens one run per campaign and should find there what was measured (the measurements
as a dataset input, with its digest), where and with what (tags: system, environment, workload,
program version, hosts, Tradeoff version and commit, the Prefect flow run and its link), the model
that came out (a pyfunc with a signature) and what was decided (the markdown description).
Every command invocation is a run nested under it: opened when the flow starts, closed when it
ends (FAILED on an error, KILLED on Ctrl-C; one left RUNNING by a process killed outright is
marked KILLED by the next invocation), with the step metrics measured while it ran.

Tracking never costs measurements: each MLflow call is retried with backoff, then given up in one
logged line, and the work goes on; the command reports the problem at the end. The campaign run
is re-logged whole by every invocation (metrics from the store, every file, the dataset, the
model), so a rerun after a failure leaves it complete. A create the HTTP client retried may
have made the run twice (the server made it, the answer was lost), so runs are found by tag,
never trusted by returned id alone, and duplicates are deleted: a campaign keeps one run.

The same run is shown in Prefect: a markdown artifact links the MLflow run (its id written into
the flow run), a progress artifact follows the measuring and a table counts rows per status
(and node).
"""

from __future__ import annotations

import contextvars
import functools
import importlib.metadata
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

import mlflow
import pandas as pd
from mlflow.entities import DatasetInput, InputTag, RunStatus
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema

from tasks.settings import Tracking
from tradeoff.errors import TradeoffError
from tradeoff.importing import read_any
from tradeoff.measurements import OPTION_PREFIX, MeasurementStore
from tradeoff.models.persist import DIGEST_SUFFIX, MODEL_FILE, file_digest, load_model, predict_table

DEFAULT_ROOT = Path("tradeoff-runs")
CAMPAIGN_TAG, ROLE_TAG, INVOCATION_TAG = "tradeoff.campaign", "tradeoff.role", "tradeoff.invocation"
MODEL_DIGEST_TAG = "tradeoff.model_sha256"
KIND_TAG, MODEL_DEVELOPMENT = "mlflow.experimentKind", "custom_model_development"  # not the GenAI view
NOTE_TAG = "mlflow.note.content"
# Waits between the tries of one MLflow call: a server being restarted (10-30 s on a loaded machine) is
# waited for; one that stays down is given up after 34 s, once (later calls are skipped).
BACKOFF_S = (1.0, 3.0, 10.0, 20.0)
WATCH_EVERY_S = 5.0
MODEL_PATH = "model"
# MLflow's HTTP client retries seven times with doubling waits (minutes); our own retry is the one that counts.
for _name, _value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"), ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
                      ("MLFLOW_HTTP_REQUEST_TIMEOUT", "30"), ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")):
    os.environ.setdefault(_name, _value)
log = logging.getLogger(__name__)
_active: contextvars.ContextVar[Run | None] = contextvars.ContextVar("tradeoff_run", default=None)
_open_runs: set[Run] = set()  # for Ctrl-C, whose handler ends the process before any block can close


def tracking_uri(uri: str | None = None) -> str:
    """The given URI, else $MLFLOW_TRACKING_URI, else a local sqlite store under ./tradeoff-runs."""
    if uri or os.environ.get("MLFLOW_TRACKING_URI"):
        return uri or os.environ["MLFLOW_TRACKING_URI"]
    DEFAULT_ROOT.mkdir(exist_ok=True)
    return f"sqlite:///{(DEFAULT_ROOT / 'mlflow.db').resolve()}"


def point_mlflow_at(uri: str) -> None:
    """``mlflow.set_tracking_uri`` without its export of $MLFLOW_TRACKING_URI, so the next command
    in this process (a test, a notebook, a worker) still reads the user's own setting or the default."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


def use_experiment(name: str, uri: str | None = None) -> str:
    """Point MLflow at the store and experiment, shown as model development; a new local
    experiment keeps artifacts beside the store. Returns the experiment id."""
    point_mlflow_at(tracking_uri(uri))
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        location = None
        if tracking_uri(uri).startswith("sqlite:///"):
            location = (Path(tracking_uri(uri).removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
        experiment_id = mlflow.create_experiment(name, artifact_location=location, tags={KIND_TAG: MODEL_DEVELOPMENT})
    else:
        experiment_id = experiment.experiment_id
        if experiment.tags.get(KIND_TAG) != MODEL_DEVELOPMENT:
            MlflowClient().set_experiment_tag(experiment_id, KIND_TAG, MODEL_DEVELOPMENT)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def ui_command(uri: str) -> str:
    return f"mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --workers 1"


def run_link(uri: str, experiment_id: str, run_id: str) -> str:
    """The run's page: a URL on a tracking server, else the page's path under ``mlflow ui``."""
    page = f"#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"  # the UI's model-training view
    return f"{uri.rstrip('/')}/{page}" if uri.startswith(("http://", "https://")) else f"{page} (under {ui_command(uri)})"


def _one_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


@functools.cache
def code_version() -> dict:
    """Tradeoff's version and, in a checkout, its git commit (with '-dirty' for uncommitted changes)."""
    # The source MLflow's overview shows (beside the commit): the command, wherever it was installed.
    tags = {"tradeoff.version": importlib.metadata.version("tradeoff"), "mlflow.source.name": "tradeoff",
            "mlflow.source.type": "LOCAL"}
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return tags
    if commit.returncode == 0:
        tags["mlflow.source.git.commit"] = commit.stdout.strip()
        tags["tradeoff.git_commit"] = commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    return tags


@functools.cache
def requirements() -> list[str]:
    """What loading a logged model needs, pinned to this environment (given, so MLflow need not import the model in a
    subprocess to infer them: that takes tens of seconds)."""
    names = ("tradeoff", "mlflow", "scikit-learn", "pandas", "numpy", "joblib", "pyarrow", "scipy")
    return [f"{name}=={importlib.metadata.version(name)}" for name in names]


def target_tags(system, workload: str | None) -> dict:
    """What a run measured: the system, environment, workload and the program's version."""
    return {"system": system.name, "environment": system.environment, "workload": workload or "",
            "program_version": system.program_version()}


def _prefect_flow_run() -> tuple[str | None, str | None]:
    """The Prefect flow run this code runs in, and its page (None, None outside one: learn, evaluate)."""
    if "prefect" not in sys.modules:
        return None, None
    from prefect.runtime import flow_run
    url = flow_run.ui_url if flow_run.id else None
    return flow_run.id, url if url and url.startswith("http") else None  # no UI configured: the temporary server has none


class PerformanceModel(mlflow.pyfunc.PythonModel):
    """A Tradeoff model bundle (``tradeoff.models.persist``) as an MLflow pyfunc: option columns in,
    ``predicted.METRIC`` (and ``std.METRIC``) out. The bundle travels as an artifact with its
    SHA-256 and is checked against it before it is unpickled."""

    def load_context(self, context) -> None:
        self.bundle = load_model(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        table = predict_table(self.bundle, model_input)
        return table[[c for c in table.columns if c.startswith(("predicted.", "std."))]]


class Run:
    """The MLflow runs of one invocation: ``run_id`` (the invocation's) nested under
    ``campaign_run_id`` (the campaign's; the same run where there is no campaign). Every method
    logs through ``_call``: retried, then given up in one line (``problem``), never raised."""

    def __init__(self, tracking: Tracking, campaign: str | None = None):
        self.uri, self.experiment, self.campaign = tracking_uri(tracking.uri), tracking.experiment, campaign
        self.client: MlflowClient | None = None  # made in _open: making one may fail (a store MLflow refuses)
        self.experiment_id = self.run_id = self.campaign_run_id = ""
        self.problem: str | None = None
        self._watch: threading.Thread | None = None
        self._stop = threading.Event()
        self._progress_id = None
        self._seen: pd.DataFrame | None = None  # the rows the watcher read last
        self._data = None  # the dataset logged last: a model's metrics name it, so its page shows what it was fitted on
        self.note = ""  # the description logged last
        self.flow_run_url: str | None = None  # the Prefect flow run's page, where a Prefect server has a UI
        self._lock = threading.Lock()

    # --- the retry that keeps tracking from costing the work ---
    def _call(self, what: str, fn: Callable, *args, optional: bool = False, **kwargs):
        """``optional``: progress that the run's final record makes whole (step metrics while measuring):
        failing, it is skipped with a warning and the run goes on logging, so a server that is down for
        a while costs those steps only."""
        if self.problem:
            return None
        # The long wait only for a server that answered before (a run is open): a store that never worked, or
        # a step that the final record makes whole, costs seconds.
        for wait in (*(BACKOFF_S if self.run_id and not optional else BACKOFF_S[:2]), None):
            try:
                return fn(*args, **kwargs)
            except Exception as error:  # MLflow raises many kinds (HTTP, SQL, OS): each means the same here
                if wait is None and optional:
                    log.warning("MLflow at %s did not take %s (%s); skipped, the final record logs the whole state",
                                self.uri, what, _one_line(error))
                    return None
                if wait is None:
                    self.problem = (f"logging to MLflow at {self.uri} failed ({what}: {_one_line(error)}); the measurements "
                                    "and files are kept: rerun the same command to log them")
                    _say(self.problem)
                    return None
                time.sleep(wait)

    @property
    def link(self) -> str:
        return run_link(self.uri, self.experiment_id, self.campaign_run_id) if self.campaign_run_id else ""

    def _runs(self, filter_string: str) -> list:
        return self.client.search_runs([self.experiment_id], filter_string, order_by=["attributes.start_time ASC"],
                                       max_results=1000)

    def _only(self, filter_string: str, keep: str | None = None) -> str:
        """The one run the filter finds: ``keep`` (else the oldest); the others are ghosts of a retried create."""
        runs = self._runs(filter_string)
        survivor = keep if keep in [r.info.run_id for r in runs] else runs[0].info.run_id
        for ghost in runs:
            if ghost.info.run_id != survivor:
                log.info("MLflow: deleting run %s, a duplicate of %s", ghost.info.run_id, survivor)
                self.client.delete_run(ghost.info.run_id)
        return survivor

    def _open(self, name: str, campaign: str | None, campaign_name: str | None, params: dict, tags: dict,
              campaign_params: dict) -> None:
        self.client = MlflowClient(self.uri)
        self.experiment_id = use_experiment(self.experiment, self.uri)
        flow_run_id, self.flow_run_url = _prefect_flow_run()
        prefect = {"prefect.flow_run_id": flow_run_id, "prefect.flow_run_url": self.flow_run_url}
        # The campaign run carries the flow run of the invocation that logged it last; each invocation its own.
        common = {**code_version(), "host": socket.gethostname(), **{k: str(v) for k, v in {**tags, **prefect}.items() if v is not None}}
        parent = None
        if campaign:
            found = f"tags.`{CAMPAIGN_TAG}` = '{campaign}' AND tags.`{ROLE_TAG}` = 'campaign'"
            if not self._runs(found):
                self.client.create_run(self.experiment_id, run_name=campaign_name or name,
                                       tags={CAMPAIGN_TAG: campaign, ROLE_TAG: "campaign"})
            parent = self._only(found)
            for stale in self._runs(f"tags.`mlflow.parentRunId` = '{parent}' AND attributes.status = 'RUNNING'"):
                self.client.set_tag(stale.info.run_id, "tradeoff.ended", "never closed: its process was killed")
                self.client.set_terminated(stale.info.run_id, "KILLED")
            self.client.update_run(parent, status="RUNNING")
            self.client.log_batch(parent, tags=_tags(common), params=_params(campaign_params))
        invocation = str(uuid.uuid4())
        created = self.client.create_run(self.experiment_id, run_name=name, tags={
            INVOCATION_TAG: invocation, ROLE_TAG: "invocation", **({"mlflow.parentRunId": parent, CAMPAIGN_TAG: campaign} if parent else {}),
            **common})
        self.run_id = self._only(f"tags.`{INVOCATION_TAG}` = '{invocation}'", keep=created.info.run_id)
        self.campaign_run_id = parent or self.run_id
        self.client.log_batch(self.run_id, params=_params(params))
        if flow_run_id:
            _prefect_markdown(self, name)

    # --- what the flows log ---
    def tags(self, tags: dict) -> None:
        """Tags on the invocation and the campaign run."""
        for run_id in {self.run_id, self.campaign_run_id} - {""}:
            self._call("tags", self.client.log_batch, run_id, tags=_tags(tags))

    def log_params(self, params: dict) -> None:
        """Parameters of this invocation (those known only after the work; the rest were given at the start)."""
        if self.run_id:
            self._call("params", self.client.log_batch, self.run_id, params=_params(params))

    def describe(self, markdown: str) -> None:
        """The description both runs show (MLflow's note), ending with the link to the Prefect flow run that made
        it; ``note`` keeps the flow's own text for a flow that extends it."""
        self.note = markdown
        made_by = f"\n\n**Prefect flow run**: [{self.flow_run_url}]({self.flow_run_url})" if self.flow_run_url else ""
        self.tags({NOTE_TAG: markdown + made_by})

    def step(self, metrics: dict, step: int) -> None:
        """Metrics of this invocation at a step (measurements so far, a round): MLflow plots their history."""
        if self.run_id:
            self._call("step metrics", self.client.log_batch, self.run_id, optional=True, metrics=_metrics(metrics, step))

    def curve(self, name: str, values: list[float]) -> None:
        """A whole-state series (one value per configuration, say): every step on this invocation, and on the
        campaign run the steps it lacks, so a resumed or re-logged campaign holds each step once."""
        self._series(self.run_id, name, values, 0)
        if self.campaign_run_id and self.campaign_run_id != self.run_id:
            logged = self._call("metric history", self.client.get_metric_history, self.campaign_run_id, name)
            if logged is not None:
                self._series(self.campaign_run_id, name, values, max((m.step for m in logged), default=0))

    def _series(self, run_id: str, name: str, values: list[float], after: int) -> None:
        if run_id:
            stamp = int(time.time() * 1000)
            self._call(f"series {name}", self.client.log_batch, run_id, metrics=[
                mlflow.entities.Metric(name, float(v), stamp, step) for step, v in enumerate(values, 1) if step > after and v == v])

    def metrics(self, metrics: dict, campaign: bool = True) -> None:
        """Final metrics of the invocation and (``campaign``) the campaign run; None and NaN left out."""
        values = _metrics(metrics, 0)
        for run_id in {self.run_id, self.campaign_run_id if campaign else ""} - {""}:
            self._call("metrics", self.client.log_batch, run_id, metrics=values)

    def files(self, files: Iterable[Path] = (), folders: dict[str, Path] | None = None) -> None:
        """Files and whole folders (artifact path -> folder) of the campaign run."""
        if not self.campaign_run_id:
            return
        for artifact_path, folder in (folders or {}).items():
            if Path(folder).is_dir():
                self._call(f"artifacts {artifact_path}", self.client.log_artifacts, self.campaign_run_id, str(folder), artifact_path)
        for path in files:
            if Path(path).is_file():
                self._call(f"artifact {Path(path).name}", self.client.log_artifact, self.campaign_run_id, str(path))

    def dataset(self, folder: Path, metric: str | None = None, context: str = "measurements",
                frame: pd.DataFrame | None = None) -> None:
        """The folder's measurements (``frame``, if read already; or a table's rows) as a dataset input of both runs:
        its source the Parquet store, its digest the data's, so two runs of the same data show the same dataset."""
        if not self.run_id:
            return
        folder = Path(folder)
        if folder.is_dir():
            frame, source = MeasurementStore(folder).read() if frame is None else frame, folder / "measurements.parquet"
            target = f"metric.{metric}" if metric and f"metric.{metric}" in frame else None
        else:  # a table given to learn or evaluate
            frame, source = read_any(folder), folder
            target = metric if metric in frame else None
        data = mlflow.data.from_pandas(frame, source=str(source.resolve()), name=folder.name, targets=target)
        self._data = data
        entity = DatasetInput(data._to_mlflow_entity(), [InputTag("mlflow.data.context", context)])
        for run_id in {self.run_id, self.campaign_run_id}:
            self._call("dataset", self.client.log_inputs, run_id, datasets=[entity])

    def model(self, bundle_folder: Path, example: pd.DataFrame, run_id: str | None = None,
              metrics: dict | None = None) -> str | None:
        """The model bundle saved in ``bundle_folder`` as the pyfunc ``model`` of ``run_id`` (the campaign run unless
        given), with its signature (``example``: option columns) and the bundle's digest as a run tag; ``metrics``
        (its accuracy) are linked to it and to the dataset logged last. Returns its URI."""
        run_id = run_id or self.campaign_run_id
        if not run_id or self.problem:
            return None
        bundle = load_model(bundle_folder)
        example = example.rename(columns=lambda c: str(c).removeprefix(OPTION_PREFIX))[bundle["space"].names].head(5)
        predicted = predict_table(bundle, example)
        with warnings.catch_warnings():  # its hint on integer columns: options are never missing (defaults fill them)
            warnings.simplefilter("ignore")
            signature = mlflow.models.infer_signature(example, predicted[[c for c in predicted if c.startswith(("predicted.", "std."))]])
        # Any option may be left out (it takes its default), as 'tradeoff predict' allows.
        signature.inputs = Schema([ColSpec(spec.type, spec.name, required=False) for spec in signature.inputs.inputs])
        digest = (Path(bundle_folder) / (MODEL_FILE + DIGEST_SUFFIX)).read_text().strip()

        def log_model():
            with _on_run(run_id), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # its advice on input examples: the signature says what goes in
                info = mlflow.pyfunc.log_model(name=MODEL_PATH, python_model=str(Path(__file__).with_name("mlflow_model.py")),
                                               artifacts={"bundle": str(bundle_folder)}, signature=signature,
                                               tags={MODEL_DIGEST_TAG: digest}, pip_requirements=requirements())
            self.client.set_tag(run_id, MODEL_DIGEST_TAG, digest)
            named = {"dataset_name": self._data.name, "dataset_digest": self._data.digest} if self._data else {}
            linked = [mlflow.entities.Metric(m.key, m.value, m.timestamp, m.step, model_id=info.model_id, **named)
                      for m in _metrics(metrics or {}, 0)]
            if linked:  # the model's page: its metrics and "Datasets used"
                self.client.log_batch(run_id, metrics=linked)
        self._call("model", log_model)
        return None if self.problem else f"runs:/{run_id}/{MODEL_PATH}"

    def child(self, name: str, params: dict | None = None, metrics: dict | None = None, tags: dict | None = None,
              steps: dict[str, list[float]] | None = None, model: Path | None = None,
              example: pd.DataFrame | None = None) -> str | None:
        """A nested run of this invocation for one part of a study (a method, a learner and size, a round), with
        the part's model bundle in ``model`` as its pyfunc (``example``: option columns); returns the run's id."""
        if not self.run_id:
            return None

        def open_child() -> str:
            marker = str(uuid.uuid4())
            created = self.client.create_run(self.experiment_id, run_name=name, tags={
                "mlflow.parentRunId": self.run_id, INVOCATION_TAG: marker, ROLE_TAG: "part",
                **{k: str(v) for k, v in (tags or {}).items()}})
            run_id = self._only(f"tags.`{INVOCATION_TAG}` = '{marker}'", keep=created.info.run_id)
            stamp = int(time.time() * 1000)
            values = [mlflow.entities.Metric(k, float(v), stamp, 0) for k, v in (metrics or {}).items() if v is not None and v == v]
            values += [mlflow.entities.Metric(k, float(v), stamp, i) for k, series in (steps or {}).items()
                       for i, v in enumerate(series, 1) if v is not None and v == v]
            self.client.log_batch(run_id, metrics=values, params=_params(params or {}))
            return run_id
        run_id = self._call(f"nested run {name}", open_child)
        if run_id and model is not None and example is not None:
            self.model(model, example, run_id, metrics)
        if run_id:
            self._call(f"nested run {name} status", self.client.set_terminated, run_id, "FINISHED")
        return run_id

    def watch(self, folder: Path, total: int, extra: Callable[[pd.DataFrame], dict] | None = None) -> None:
        """While the flow measures: every WATCH_EVERY_S, the folder's counts (and ``extra``'s metrics,
        e.g. the best so far) as step metrics at step = rows stored, and the Prefect progress artifact."""
        if self._watch is not None or not self.run_id:
            return
        self._watched = (Path(folder), max(total, 1), extra)
        self._progress_id = _prefect_progress(None, 0.0)
        # The flow's context goes with the thread: Prefect's artifacts and logger need it.
        self._watch = threading.Thread(target=contextvars.copy_context().run, args=(self._poll_loop,),
                                       name="tradeoff-mlflow-watch", daemon=True)
        self._watch.start()

    def _poll_loop(self) -> None:
        last = None
        while not self._stop.wait(WATCH_EVERY_S):
            last = self.poll(last)

    def poll(self, last: int | None = None) -> int | None:
        """One look at the folder: step metrics and progress when it holds new rows; returns the row count."""
        folder, total, extra = self._watched
        with self._lock:
            try:
                frame = MeasurementStore(folder).read() if MeasurementStore(folder).exists() else None
            except Exception:  # a part being compacted: the next look reads it
                return last
            if frame is None or len(frame) == last:
                return last
            self._seen = frame
            failed = int((frame["status"] != "ok").sum())
            self.step({"measured": len(frame), "failed": failed, **(extra(frame) if extra else {})}, len(frame))
            _prefect_progress(self._progress_id, min(100.0, 100.0 * len(frame) / total))
            return len(frame)

    def record(self, *, folder: Path | None = None, metric: str | None = None, metrics: dict | None = None,
               files: Iterable[Path] = (), folders: dict[str, Path] | None = None, description: str | None = None,
               model: Path | None = None) -> str | None:
        """The whole state, re-logged by every invocation: the folder's dataset and nodes, metrics, files,
        the model bundle in ``model`` and the description. Returns the model's URI (None: none logged)."""
        frame = MeasurementStore(folder).read() if folder is not None and MeasurementStore(folder).exists() else None
        if frame is not None:
            self.dataset(folder, metric, frame=frame)
            self.tags(nodes_tag(frame))
        self.metrics(metrics or {})
        self.files(files, folders)
        model_uri = self.model(model, frame, metrics=metrics) if frame is not None and model and (model / MODEL_FILE).is_file() else None
        if description:
            self.describe(description)
        return model_uri

    def _close(self, status: str, error: BaseException | None) -> None:
        if self._watch is not None:
            self._stop.set()
            self._watch.join(timeout=WATCH_EVERY_S + 60)
            self.poll()
            if self._seen is not None:
                _prefect_table(self._seen)
        if error is not None and self.run_id:
            self._call("error tag", self.client.set_tag, self.run_id, "tradeoff.error", _one_line(error))
        for run_id in dict.fromkeys([self.run_id, self.campaign_run_id]):
            if run_id:
                self._call("status", self.client.set_terminated, run_id, status)


@contextmanager
def _on_run(run_id: str) -> Iterator[None]:
    """Make ``run_id`` MLflow's active run for the fluent calls that need one, leaving its status alone."""
    mlflow.start_run(run_id=run_id)
    try:
        yield
    finally:
        mlflow.end_run(RunStatus.to_string(RunStatus.RUNNING))


def _metrics(metrics: dict, step: int) -> list:
    """MLflow metrics at ``step``, None and NaN left out."""
    stamp = int(time.time() * 1000)
    return [mlflow.entities.Metric(k, float(v), stamp, step) for k, v in metrics.items() if v is not None and v == v]


def _params(params: dict) -> list:
    return [mlflow.entities.Param(k, str(v)[:6000]) for k, v in params.items() if v is not None]


def _tags(tags: dict) -> list:
    return [mlflow.entities.RunTag(k, str(v)[:8000]) for k, v in tags.items() if v is not None]


@contextmanager
def tracked(tracking: Tracking, name: str, *, campaign: str | None = None, campaign_name: str | None = None,
            params: dict | None = None, tags: dict | None = None, campaign_params: dict | None = None) -> Iterator[Run]:
    """The MLflow run of the work inside the block: opened now, closed with its outcome (FINISHED,
    FAILED on an exception, KILLED on Ctrl-C). ``campaign``: the campaign id whose run this one
    nests under (found by tag, made once); ``campaign_params``: what identifies the campaign (the same
    every invocation, so its run may hold them: MLflow refuses a parameter that changes). Inside a block of the same campaign (``optimize``
    runs ``campaign``), the outer run is reused: one invocation, one run."""
    outer = _active.get()
    if outer is not None and outer.campaign == campaign:
        yield outer
        return
    run = Run(tracking, campaign)
    run._call("opening the run", run._open, name, campaign, campaign_name, params or {}, tags or {}, campaign_params or {})
    token = _active.set(run)
    _open_runs.add(run)
    try:
        yield run
    except KeyboardInterrupt as interrupt:
        run._close("KILLED", interrupt)
        raise
    except BaseException as error:
        run._close("FAILED", error)
        raise
    else:
        run._close("FINISHED", None)
    finally:
        _open_runs.discard(run)
        _active.reset(token)


def interrupted() -> None:
    """Ctrl-C: mark the open runs KILLED, one try each (the command is exiting)."""
    for run in list(_open_runs):
        for run_id in dict.fromkeys([run.run_id, run.campaign_run_id]):
            if run_id:
                try:
                    run.client.set_terminated(run_id, "KILLED")
                except Exception:  # exiting anyway: the next invocation marks it
                    pass


# --- Prefect: the same run, seen from the flow run ---

def _say(line: str) -> None:
    """A line in the flow run's log while the work goes on (outside a flow the command reports it at the end)."""
    if _in_flow_run():
        from prefect import get_run_logger
        get_run_logger().warning(line)


def _in_flow_run() -> bool:
    return _prefect_flow_run()[0] is not None


def _prefect_markdown(run: Run, name: str) -> None:
    from prefect.artifacts import create_markdown_artifact
    try:
        create_markdown_artifact(
            f"## MLflow run of {name}\n\n- tracking: `{run.uri}`\n- experiment: `{run.experiment}` ({run.experiment_id})\n"
            f"- campaign run: `{run.campaign_run_id}`\n- this invocation's run: `{run.run_id}`\n"
            f"- page: {f'[{run.link}]({run.link})' if run.link.startswith('http') else run.link}\n",
            key="mlflow-run", description=f"MLflow run {run.run_id}")
    except Exception as error:  # the Prefect API is the flow's own; a failure here must not stop the work
        log.warning("Prefect: cannot publish the MLflow link (%s)", _one_line(error))


def _prefect_progress(artifact_id, percent: float):
    if not _in_flow_run():
        return None
    from prefect.artifacts import create_progress_artifact, update_progress_artifact
    try:
        if artifact_id is None:
            return create_progress_artifact(percent, key="measuring", description="measurements stored, % of those asked")
        update_progress_artifact(artifact_id, percent)
    except Exception as error:
        log.warning("Prefect: cannot update the progress artifact (%s)", _one_line(error))
    return artifact_id


def _prefect_table(frame: pd.DataFrame) -> None:
    if not _in_flow_run():
        return
    from prefect.artifacts import create_table_artifact
    by = ["status", "node"] if "node" in frame and frame["node"].notna().any() else ["status"]
    counts = frame.groupby(by, dropna=False).size().rename("rows").reset_index()
    try:
        create_table_artifact(counts.astype(str).to_dict("records"), key="rows-by-status",
                              description="measurements stored, by status" + (" and node" if len(by) > 1 else ""))
    except Exception as error:
        log.warning("Prefect: cannot publish the table of rows (%s)", _one_line(error))


def nodes_tag(frame: pd.DataFrame) -> dict:
    """The nodes that measured the rows (the ``node`` column, where the rows carry it)."""
    if "node" not in frame or not frame["node"].notna().any():
        return {}
    return {"nodes": ", ".join(sorted(frame["node"].dropna().astype(str).unique()))}


def model_digest_matches(run_id: str, folder: Path, uri: str | None = None) -> None:
    """Refuse a downloaded model bundle whose digest is not the one its run recorded when it was logged."""
    recorded = MlflowClient(tracking_uri(uri)).get_run(run_id).data.tags.get(MODEL_DIGEST_TAG)
    actual = file_digest(folder / MODEL_FILE)
    if recorded != actual:
        raise TradeoffError(f"the model of MLflow run {run_id} does not match the digest the run recorded ({MODEL_DIGEST_TAG}); "
                            "it changed after it was logged: log it again with the command that made it")


def load_run_model(model_uri: str, uri: str | None = None) -> dict:
    """``runs:/RUN_ID/model``: download the logged bundle, check it against the run's recorded digest
    and its own, then load it (no MLflow pickle is loaded: only the bundle, once checked)."""
    run_id, _, path = model_uri.removeprefix("runs:/").partition("/")
    point_mlflow_at(tracking_uri(uri))
    try:
        local = Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/{path or MODEL_PATH}"))
    except Exception as error:
        raise TradeoffError(f"cannot fetch the model {model_uri} from {tracking_uri(uri)} ({_one_line(error)}); "
                            "give runs:/RUN_ID/model of a run that logged one, and --tracking-uri of its store") from None
    bundle = next((path.parent for path in (local / "artifacts").glob(f"*/{MODEL_FILE}")), local)  # the 'bundle' artifact
    if not (bundle / MODEL_FILE).is_file():
        raise TradeoffError(f"{model_uri} is no Tradeoff model (it has no {MODEL_FILE}); give runs:/RUN_ID/model of a Tradeoff run")
    model_digest_matches(run_id, bundle, uri)
    return load_model(bundle)
