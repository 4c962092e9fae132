"""The ``tradeoff`` command line: options declared once, settings built by keyword, work in flows.

Each command turns its options into one settings object (``tasks.settings``), resolves it (every
check, before Prefect or Ray start, so bad input costs nothing), hands it to a flow and prints
what comes back. Help lists of samplers, learners and methods come from their registries.
Bad input ends with one line on stderr (``error: ...``) and exit code 2, never a traceback.
Ctrl-C is handled here, not left to Prefect (which turns it into a Crashed state, then waits on
a server and a Ray that the terminal's Ctrl-C stopped too): the rows that arrived are stored, the
command says how many the folder holds and how to resume, ends its child processes (Ray, the
temporary Prefect server, the measured programs) and exits 130. ``-v`` shows the decisions the
pipeline logs (auto's choice, the bellwether, skipped measurements), ``-vv`` everything.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Column, Table

from tradeoff.errors import TradeoffError
from tradeoff.models.learners.base import LEARNERS
from tradeoff.samplers.base import OPTIMISERS, SAMPLERS
from tradeoff.transfer.methods.base import STUDY_METHODS as METHODS

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Learn how configuration drives performance: measure, model, transfer, debug.")
out = Console(soft_wrap=True)

SAMPLER_NAMES = ", ".join(SAMPLERS.names())  # the registries list their members without importing them
LEARNER_NAMES = ", ".join(LEARNERS.names())
METHOD_NAMES = ", ".join(METHODS)
OPTIMISER_NAMES = ", ".join(OPTIMISERS)

# Options shared by several commands, declared once.
SystemArg = Annotated[str, typer.Argument(help="system name (see 'tradeoff systems'), a command spec .yaml, or a campaign folder to replay")]
Environment = Annotated[Optional[str], typer.Option(help="environment name (replay: which recorded one)")]
Workload = Annotated[Optional[str], typer.Option(help="workload (default: the system's)")]
Budget = Annotated[int, typer.Option(help="number of configurations")]
Reps = Annotated[int, typer.Option(help="repetitions per configuration")]
Seed = Annotated[int, typer.Option(help="seed of the sampler and the models")]
Timeout = Annotated[float, typer.Option(help="seconds before a run is killed and recorded as a timeout")]
Metric = Annotated[Optional[str], typer.Option(help="metric to model (default: the system's first)")]
Learner = Annotated[str, typer.Option(help=f"learner of the model: {LEARNER_NAMES}")]
Sampler = Annotated[str, typer.Option(help=f"sampler: {SAMPLER_NAMES}")]
Out = Annotated[Optional[Path], typer.Option("--out", help="output folder (default: under tradeoff-runs/)")]
Concurrency = Annotated[Optional[int], typer.Option(help="measurements at once (default: what keeps timings clean)")]
CoresPerRun = Annotated[Optional[int], typer.Option(help="cores each measurement is pinned to")]
RayAddress = Annotated[Optional[str], typer.Option(help="Ray cluster address (default: $RAY_ADDRESS or a local Ray)")]
TrackingUri = Annotated[Optional[str], typer.Option(help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or a local sqlite store)")]
Experiment = Annotated[Optional[str], typer.Option(help="MLflow experiment (default: the command's)")]


def _execution(reps: int, timeout: float, ray_address: str | None, concurrency: int | None, cores_per_run: int | None):
    from tasks.settings import Execution
    return Execution(reps=reps, timeout=timeout, ray_address=ray_address, concurrency=concurrency, cores_per_run=cores_per_run)


def _tracking(uri: str | None, experiment: str | None, default: str):
    from tasks.settings import Tracking
    return Tracking(uri=uri, experiment=experiment or default)


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


@app.callback()
def verbosity(verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="-v: the decisions taken; -vv: debug")] = 0) -> None:
    """Learn how configuration drives performance: measure, model, transfer, debug."""
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    for package in ("tradeoff", "systems", "tasks", "flows"):
        logging.getLogger(package).setLevel(level)


@app.command()
def systems() -> None:
    """List the systems Tradeoff can measure or replay."""
    from systems import SYSTEMS
    table = Table("system", "kind", "description")
    for name, description in SYSTEMS.summaries().items():
        table.add_row(name, SYSTEMS.kind(name), description)
    out.print(table)


@app.command()
def space(system: SystemArg, environment: Environment = None, workload: Workload = None) -> None:
    """Show a system's options, defaults, allowed values, constraints, workloads and metrics."""
    from tasks.settings import Target
    target = Target(system=system, environment=environment, workload=workload).build()
    if workload:
        target.check_workload(workload)
    table = Table(Column("option", overflow="fold"), "type", "default", "allowed", title=f"{target.name} ({target.kind}, environment {target.environment})")
    for row in target.space.describe().itertuples(index=False):
        table.add_row(*map(str, row))
    out.print(table)
    for constraint in target.space.constraints:
        out.print(f"constraint: {constraint.text}")
    out.print("workloads: " + ", ".join(target.workloads))
    out.print("metrics: " + ", ".join(f"{m.name} [{m.unit}] ({m.goal})" if m.unit else f"{m.name} ({m.goal})" for m in target.metrics), markup=False)
    if target.space.population is not None:
        out.print(f"recorded configurations: {len(target.space.population)}")


@app.command()
def campaign(
    system: SystemArg, environment: Environment = None, workload: Workload = None, sampler: Sampler = "random",
    budget: Budget = 20, reps: Reps = 1, seed: Seed = 0, timeout: Timeout = 60.0, metric: Metric = None,
    learner: Learner = "log-forest", out_dir: Out = None, concurrency: Concurrency = None, cores_per_run: CoresPerRun = None,
    ray_address: RayAddress = None, tracking_uri: TrackingUri = None, experiment: Experiment = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML/JSON file of configurations to measure instead of sampling, "
                                                        "or a campaign folder: measure its configurations again (e.g. in a new environment)")] = None,
) -> None:
    """Sample configurations, measure them on Ray, store them in Parquet, model them, log to MLflow."""
    from tasks.settings import CampaignSettings, Target
    _run_campaign(CampaignSettings(
        target=Target(system=system, environment=environment, workload=workload), sampler=sampler, budget=budget, seed=seed,
        metric=metric, learner=learner, out=str(out_dir) if out_dir else None, configs=str(config) if config else None,
        execution=_execution(reps, timeout, ray_address, concurrency, cores_per_run),
        tracking=_tracking(tracking_uri, experiment, "tradeoff")))


DEMO_WORKLOAD, DEMO_METRIC, DEMO_LEARNER, DEMO_BUDGET = "clip-352x288-8", "cpu_time", "boosting", 80


@app.command()
def demo(out_dir: Annotated[Path, typer.Option("--out", help="campaign folder")] = Path("tradeoff-runs/demo"),
         budget: Budget = DEMO_BUDGET) -> None:
    """The main job: a real x264 campaign (about a minute on 2 cores), its model's verdict and a report.

    CPU time, not wall time: on a busy machine wall time carries other programs' load; 80 random
    configurations is what a boosted-tree model of it needs to rank configurations (bench/RESULTS.md)."""
    from tasks.settings import CampaignSettings, Target, Tracking
    result = _run_campaign(CampaignSettings(target=Target(system="x264", workload=DEMO_WORKLOAD), budget=budget, seed=1,
                                            metric=DEMO_METRIC, learner=DEMO_LEARNER, out=str(out_dir),
                                            tracking=Tracking(experiment="tradeoff-demo")))
    from flows.report import report
    reported = report([str(result.folder)], result.folder / "report.html", DEMO_METRIC, result.tracking_uri, DEMO_LEARNER)
    logged = f"logged to MLflow run {reported.logged[str(result.folder)]}" if reported.logged else "not logged to MLflow"
    out.print(f"report: {reported.out.resolve()} (open it in a browser; {logged})")


@app.command("report")
def report_command(
    sources: Annotated[list[str], typer.Argument(help="campaign or study folders (campaign, optimize, transfer, debug, compare-envs), or runs:/RUN_ID")],
    out_file: Annotated[Path, typer.Option("--out", help="the HTML file to write")] = Path("report.html"),
    metric: Annotated[Optional[str], typer.Option(help="metric of the distribution, influence and accuracy sections "
                                                       "(default: the objective, the debug goal's metric, else the first)")] = None,
    learner: Annotated[str, typer.Option(help=f"learner of the accuracy and influence sections: {LEARNER_NAMES}")] = "log-forest",
    tracking_uri: TrackingUri = None,
) -> None:
    """One self-contained HTML page on campaigns and studies, plots first; logged to the campaign's MLflow run."""
    from flows.report import report
    reported = report(sources, out_file, metric, tracking_uri, learner)
    out.print(f"report: {reported.out.resolve()} ({reported.out.stat().st_size // 1024} KB)", markup=False)
    for label, run_id in reported.logged.items():
        out.print(f"logged to MLflow run {run_id} ({label}) in {reported.tracking_uri}", markup=False)
    for label in reported.unlogged:
        out.print(f"not logged to MLflow: no run of {label}'s campaign in {reported.tracking_uri}", markup=False)


EXIT_AFTER_S = 15.0
_measuring: dict[str, str] = {}  # "folder": where the running command stores measurements (for Ctrl-C's message)


def _on_interrupt(signum, frame) -> None:
    """Ctrl-C: store what arrived, say how many measurements the folder holds, end the children, exit 130."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The handler interrupts whatever the main thread was doing, which may hold a lock it needs
    # (the store's writer, a stream): whatever happens, the command ends within EXIT_AFTER_S.
    import threading
    threading.Timer(EXIT_AFTER_S, os._exit, (130,)).start()
    try:
        message = "interrupted"
        if "folder" in _measuring:
            from tradeoff.measurements import MeasurementStore
            if "tasks.measure" in sys.modules:
                sys.modules["tasks.measure"].flush_pending()
            store = MeasurementStore(_measuring["folder"])
            stored = len(store.done()) if store.exists() else 0
            message = f"interrupted: {stored} measurements stored in {store.folder}; run the same command again to resume"
        print(message, file=sys.stderr, flush=True)
        if "tasks.tracking" in sys.modules:
            sys.modules["tasks.tracking"].interrupted()
        if "ray" in sys.modules and sys.modules["ray"].is_initialized():
            # Ray's way, in its order: the driver disconnects, then a local Ray's processes end. Ended from
            # here first, their raylet's going makes the driver's Ray client end this process with exit 1.
            sys.modules["ray"].shutdown()
        import psutil
        children = psutil.Process().children(recursive=True)
        _signal_all(children, psutil.Process.terminate)
        _, alive = psutil.wait_procs(children, timeout=3)
        _signal_all(alive, psutil.Process.kill)
    finally:  # an error on the way (a process gone, a store busy) must not turn the exit into 1
        os._exit(130)


def _signal_all(processes: list, send) -> None:
    """``send`` (terminate, kill) to each process; one that has ended since it was listed (Prefect's server
    got the same Ctrl-C) is skipped rather than raising out of the handler."""
    import psutil
    for process in processes:
        try:
            send(process)
        except psutil.NoSuchProcess:
            pass


def _measures_into(folder: str) -> None:
    """The command now measures into ``folder``: Ctrl-C reports it, and a watcher (``flows.reaper``)
    ends Ray, Prefect's temporary server and the measured programs should the command be killed."""
    import subprocess
    _measuring["folder"] = folder
    subprocess.Popen([sys.executable, str(Path(__file__).with_name("reaper.py")), str(os.getpid())], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _run_campaign(settings):
    from flows.campaign import campaign as campaign_flow
    from tasks.measure import connect
    from tradeoff.models.accuracy import verdict
    settings = settings.resolve()  # every check before Prefect and Ray start, so bad input costs nothing
    if _deployed("campaign", settings):
        return
    _measures_into(settings.out)
    connect(settings.execution.ray_address)  # before the flow, so a bad address is one line, not a flow failure
    result = campaign_flow(settings)
    summary = result.summary
    out.print(f"\n[bold]{summary.configurations}[/] configurations measured ({summary.measured} measurements, "
              f"{summary.failed} failed; {result.measured_now} new in this run)")
    if summary.mape is not None:
        out.print(f"{summary.learner} model of {summary.metric}: cross-validated MAPE {summary.mape:.1f}%")
        out.print(f"  {verdict(summary.mape, summary.spearman)}")
        out.print("most influential options: " + ", ".join(f"{name} ({share:.0%})" for name, share in summary.influences.head(5).items()))
    out.print(f"data: {result.folder / 'measurements.parquet'}")
    _tracked(result)
    _print_run(result.tracking_uri, result.run_id, result.invocation_run_id)
    return result


def _print_run(uri: str, run_id: str, invocation: str = "") -> None:
    """Where the MLflow run is, and how to open it."""
    from tasks.tracking import ui_command
    out.print(f"MLflow run {run_id}" + (f" (this invocation: {invocation})" if invocation and invocation != run_id else "") + f" in {uri}")
    if not uri.startswith(("http://", "https://")):
        out.print(f"browse it: {ui_command(uri)}")


def _tracked(outcome) -> None:
    """Logging to MLflow failed after the work was stored: say so in one line (exit 2)."""
    if outcome.tracking_problem:
        raise TradeoffError(outcome.tracking_problem)


@app.command()
def optimize(
    system: SystemArg,
    objective: Annotated[list[str], typer.Option(help="metric to optimise, in the direction the system declares (see 'tradeoff space "
                                                      "SYSTEM') or as given (accuracy:max); repeat for a Pareto front")],
    constraint: Annotated[Optional[list[str]], typer.Option(help="a bound on a measured metric ('psnr >= 40') or a constraint on "
                                                                 "options (\"synchronous != 'off'\"); repeat for several")] = None,
    method: Annotated[str, typer.Option(help=f"optimiser: {OPTIMISER_NAMES} (auto: by the objectives, space, budget and warm start; says which)")] = "auto",
    budget: Annotated[int, typer.Option(help="configurations to measure in all (a rerun continues up to it)")] = 30,
    warm_start: Annotated[Optional[list[str]], typer.Option(
        help="another environment's measurements to start from (repeatable): a campaign folder, SYSTEM:ENVIRONMENT[:WORKLOAD] "
             "of a replay, or runs:/RUN_ID; ignored where they mislead")] = None,
    environment: Environment = None, workload: Workload = None, reps: Reps = 1, seed: Seed = 0, timeout: Timeout = 60.0,
    learner: Learner = "log-forest", out_dir: Out = None, concurrency: Concurrency = None, cores_per_run: CoresPerRun = None,
    ray_address: RayAddress = None, tracking_uri: TrackingUri = None, experiment: Experiment = None,
) -> None:
    """Find the best configuration, or the Pareto front of several objectives, in few measurements (BO4CO's GP, FLASH, ParEGO, NSGA-II)."""
    from flows.optimize import optimize as optimize_flow
    from tasks.measure import connect
    from tasks.settings import CampaignSettings, OptimizeSettings, Target, optimiser, parse_objective
    objectives = tuple(parse_objective(text) for text in objective)
    settings = OptimizeSettings(campaign=CampaignSettings(
        target=Target(system=system, environment=environment, workload=workload), budget=budget, seed=seed,
        metric=objectives[0][0], learner=learner, out=str(out_dir) if out_dir else None,
        execution=_execution(reps, timeout, ray_address, concurrency, cores_per_run),
        tracking=_tracking(tracking_uri, experiment, "tradeoff-optimize")), method=optimiser(method),
        objectives=objectives, constraints=tuple(constraint or ()),
        warm_start=tuple(warm_start or ())).resolve()  # every check before Prefect and Ray start
    if _deployed("optimize", settings):
        return
    connect(settings.campaign.execution.ray_address)
    optimum = optimize_flow(settings)
    folder = optimum.campaign.folder
    out.print(f"\nmethod {settings.campaign.sampler}" + (" (auto)" if method == "auto" else "")
              + (f", warm-started from {', '.join(settings.warm_start)}" if settings.warm_start else ""), markup=False)
    if optimum.value is not None:
        out.print(f"[bold]best {optimum.metric}[/] ({optimum.goal}) {optimum.value:.4g} measured, of {optimum.configurations} "
                  f"configurations ({optimum.campaign.measured_now} new measurements in this run)")
        out.print(f"  {optimum.config_id}  " + " ".join(f"{k}={v}" for k, v in optimum.config.items()), markup=False)
    if optimum.hypervolume is not None:
        names = [m for m, _ in settings.goals()]
        out.print(f"[bold]Pareto front[/]: {len(optimum.front)} of {optimum.configurations} configurations, hypervolume {optimum.hypervolume:.4g} "
                  "(objectives normalised to the measured range)")
        for row in optimum.front:
            out.print("  " + "  ".join(f"{n} {row['metric.' + n]:.4g}" for n in names) + f"  {row['config_id']}", markup=False)
    out.print(f"data: {folder / 'measurements.parquet'}; result: " + ", ".join(str(f) for f in optimum.files), markup=False)
    if optimum.unmet:  # found by measurement: said plainly, after everything is stored and logged
        out.print(f"[bold red]{optimum.unmet}[/]")
    _tracked(optimum)
    _print_run(optimum.tracking_uri, optimum.run_id, optimum.invocation_run_id)
    if optimum.unmet:
        raise typer.Exit(1)


@app.command()
def show(folder: Path, metric: Annotated[Optional[str], typer.Option(help="metric to summarise (default: the first)")] = None) -> None:
    """Summarise a campaign folder: counts by status, the metric's spread, the best configurations."""
    from flows.campaign import describe_folder
    for line in describe_folder(folder, metric):
        out.print(line, markup=False)


@app.command("import")
def import_table(
    table: Annotated[Path, typer.Argument(help="a .csv or .parquet table of measurements")],
    options: Annotated[str, typer.Option(help="comma-separated option columns")],
    metrics: Annotated[str, typer.Option(help="comma-separated metric columns")],
    system: Annotated[str, typer.Option(help="system name to record")],
    out_dir: Annotated[Path, typer.Option("--out", help="campaign folder to write")],
    environment: Annotated[str, typer.Option(help="environment name to record")] = "imported",
    workload: Annotated[str, typer.Option(help="workload name to record")] = "imported",
) -> None:
    """Turn any external measurement table into Tradeoff's schema, usable by every command."""
    from tradeoff.importing import import_table as convert
    frame = convert(table, _columns(options), _columns(metrics), system, environment, workload, out_dir)
    out.print(f"imported {len(frame)} measurements of {system} into {out_dir / 'measurements.parquet'}")


def _described(registry) -> str:
    return "\n\n".join(f"{member}: {line}" for member, line in registry.summaries().items())


@app.command("sample", epilog="Samplers:\n\n" + _described(SAMPLERS))
def sample_configurations(system: SystemArg, sampler: Sampler = "random",
                          budget: Annotated[int, typer.Option(help="the most configurations")] = 20,
                          seed: Seed = 0, environment: Environment = None, workload: Workload = None) -> None:
    """Print the configurations a sampler chooses (CSV), without measuring them."""
    from tasks.settings import Target
    from tradeoff.samplers.base import sample
    space = Target(system=system, environment=environment, workload=workload).build().space
    out.print(space.to_frame(sample(space, sampler, budget, seed)).to_csv(index=False), end="", markup=False)


# Models: learn, predict, evaluate -------------------------------------------------------------

@app.command()
def learn(
    data: Annotated[Path, typer.Argument(help="a campaign folder or a CSV (one column per option and the metric)")],
    metric: Annotated[str, typer.Option(help="metric to model")],
    learner: Learner = "auto", out_dir: Out = None,
    seed: Annotated[int, typer.Option(help="seed of the learner and the folds")] = 0,
    tracking_uri: TrackingUri = None, experiment: Experiment = None,
) -> None:
    """Fit a performance model; print it, its option influences and its cross-validated MAPE; save it."""
    from flows.models import learn as fit
    from tasks.settings import LearnSettings
    learned = fit(LearnSettings(data=str(data), metric=metric, learner=learner, out=str(out_dir) if out_dir else None,
                                seed=seed, tracking=_tracking(tracking_uri, experiment, "tradeoff")))
    out.print(learned.description, markup=False)
    out.print("option influences: " + ", ".join(f"{name} ({share:.0%})" for name, share in learned.influences.head(10).items()))
    out.print(f"cross-validated MAPE: {learned.cv_mape:.2f}%")
    out.print(f"model: {learned.folder / 'model.joblib'}")
    _tracked(learned)
    out.print(f"MLflow run {learned.run_id}: its model is runs:/{learned.run_id}/model")


@app.command()
def predict(
    model: Annotated[str, typer.Argument(help="a model folder written by 'tradeoff learn', or runs:/RUN_ID/model of an MLflow run that logged one")],
    configs: Annotated[Path, typer.Argument(help="CSV of configurations, one column per option (missing ones: default)")],
    out_file: Annotated[Optional[Path], typer.Option("--out", help="write the predictions to this CSV instead of printing them")] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Predict the metric of each configuration in a CSV.

    Loading a model runs code (it is a pickle): a folder's model.joblib is checked against the
    SHA-256 'tradeoff learn' wrote beside it, a run's against the digest the run recorded when it
    logged the model, before either is loaded; load models only from folders and tracking servers you trust."""
    from tradeoff.importing import read_any
    from tradeoff.models.persist import load_model, predict_table
    if model.startswith("runs:/"):
        from tasks.settings import Tracking
        from tasks.tracking import load_run_model
        Tracking(uri=tracking_uri).check()
        bundle = load_run_model(model, tracking_uri)
    elif "://" in model or model.startswith("models:/"):
        raise TradeoffError(f"cannot load {model}: give a model folder or runs:/RUN_ID/model of a Tradeoff run")
    else:
        bundle = load_model(model)
    predictions = predict_table(bundle, read_any(configs))
    if out_file:
        predictions.to_csv(out_file, index=False)
        out.print(f"{len(predictions)} predictions written to {out_file}")
    else:
        out.print(predictions.to_csv(index=False), end="", markup=False)


@app.command()
def evaluate(
    data: Annotated[Path, typer.Argument(help="a campaign folder or a CSV (one column per option and the metric)")],
    metric: Annotated[str, typer.Option(help="metric to predict")],
    learner: Annotated[str, typer.Option(help=f"comma-separated learners: {LEARNER_NAMES}")] = "auto",
    sizes: Annotated[Optional[str], typer.Option(help="sample sizes, e.g. 16,32 or n,2n,3n,4n,5n (n = options; default: n..5n or the index's)")] = None,
    training_index: Annotated[Optional[Path], typer.Option(help="DeepPerf training-index file (0-based rows of each sample)")] = None,
    repeats: Annotated[int, typer.Option(help="experiments per size")] = 30,
    seed: Annotated[int, typer.Option(help="seed of the random samples and the learners")] = 0,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="write summary and every run to this JSON file")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="learning-curve plot (PNG)")] = None,
    tracking_uri: TrackingUri = None, experiment: Experiment = None,
) -> None:
    """Learning curves: train on samples of each size, test on every other row, MRE with 95% margin."""
    from flows.models import evaluate as run_evaluation
    from tasks.settings import EvaluateSettings
    summary, run_id = run_evaluation(EvaluateSettings(
        data=str(data), metric=metric, learners=tuple(_columns(learner)), sizes=sizes,
        training_index=str(training_index) if training_index else None, repeats=repeats, seed=seed,
        json_out=str(json_out) if json_out else None, plot=str(plot) if plot else None,
        tracking=_tracking(tracking_uri, experiment, "tradeoff")))
    table = Table("learner", "size", "MRE %", "95% margin", "repeats", "fit s")
    for row in summary.itertuples():
        table.add_row(row.learner, str(row.size), f"{row.mean:.2f}", f"{row.margin:.2f}", str(row.repeats), f"{row.fit_s:.2f}")
    out.print(table)
    out.print(f"MLflow run {run_id}")


# Transfer across environments -----------------------------------------------------------------

@app.command("compare-envs")
def compare_envs(
    source: Annotated[str, typer.Argument(help="campaign folder, or SYSTEM:ENVIRONMENT[:WORKLOAD] of a replay (e.g. ase17-x264:feature8_2762_8)")],
    target: Annotated[str, typer.Argument(help="campaign folder, or SYSTEM:ENVIRONMENT[:WORKLOAD] of a replay")],
    metric: Annotated[Optional[str], typer.Option(help="metric to compare (default: the first both environments hold)")] = None,
    top_k: Annotated[int, typer.Option(help="how many influential options and interactions to compare")] = 5,
    pairing: Annotated[str, typer.Option(help="median: one pair per configuration; repetition: repetition i with repetition i (ASE'17's row-by-row)")] = "median",
    out_dir: Annotated[Path, typer.Option("--out", help="folder for comparison.json and the plots")] = Path("tradeoff-runs/compare-envs"),
) -> None:
    """What carries over from SOURCE to TARGET: correlations, linear fit, influential options, noise, verdict."""
    from flows.transfer import compare_environments
    for line in compare_environments(source, target, metric, top_k, pairing, out_dir):
        out.print(line, markup=False)


@app.command()
def transfer(
    source: Annotated[list[str], typer.Option("--source", help="campaign folder, SYSTEM:ENVIRONMENT[:WORKLOAD] of a replay, or runs:/RUN_ID (repeatable)")],
    target: Annotated[str, typer.Option("--target", help="target system (see 'tradeoff systems') or a campaign folder to replay")],
    environment: Environment = None, workload: Workload = None,
    budget: Annotated[int, typer.Option(help="target measurements")] = 20,
    method: Annotated[str, typer.Option(help=f"one of {METHOD_NAMES} (auto: never worse than ignoring the sources)")] = "auto",
    metric: Metric = None,
    sampler: Annotated[str, typer.Option(help=f"sampler of the target (l2s always samples with L2S): {SAMPLER_NAMES}")] = "random",
    learner: Annotated[str, typer.Option(help=f"learner of the source, target-only and stacked models: {LEARNER_NAMES}")] = "log-forest",
    reps: Reps = 1, seed: Seed = 0, timeout: Timeout = 60.0, out_dir: Out = None, concurrency: Concurrency = None,
    cores_per_run: CoresPerRun = None, ray_address: RayAddress = None, tracking_uri: TrackingUri = None,
    experiment: Experiment = None,
    holdout: Annotated[Optional[Path], typer.Option(help="campaign folder of other target measurements to score the models on "
                                                         "(default: the rest of a replay's table, else cross-validation)")] = None,
) -> None:
    """Learn the target environment from few measurements, reusing source campaigns; never worse than ignoring them (auto)."""
    from flows.transfer import transfer as transfer_flow
    from tasks.settings import Target, TransferSettings
    settings = TransferSettings(
        sources=tuple(source), target=Target(system=target, environment=environment, workload=workload), budget=budget,
        method=method, metric=metric, sampler=sampler, learner=learner, seed=seed, out=str(out_dir) if out_dir else None,
        holdout=str(holdout) if holdout else None, execution=_execution(reps, timeout, ray_address, concurrency, cores_per_run),
        tracking=_tracking(tracking_uri, experiment, "tradeoff-transfer")).resolve()  # every check before Prefect and Ray start
    if _deployed("transfer", settings):
        return
    _measures_into(settings.out)
    outcome = transfer_flow(settings)
    for line in outcome.result.lines() + outcome.comparison:
        out.print(line, markup=False)
    out.print(f"data and report: {outcome.folder}")
    _tracked(outcome)
    out.print(f"MLflow run {outcome.run_id} in {outcome.tracking_uri}" + (f": its model is {outcome.model_uri}" if outcome.model_uri else ""))


# Scheduling: deployments and workers ---------------------------------------------------------

_studies: list | None = None  # set while 'tradeoff deploy' reads its study: the command hands over its settings


def _deployed(kind: str, settings) -> bool:
    """Under 'tradeoff deploy', keep the study's checked settings instead of running it."""
    if _studies is None:
        return False
    _studies.append((kind, settings))
    return True


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def deploy(
    study: Annotated[Optional[list[str]], typer.Argument(help="the study, as the command that runs it now: campaign|transfer|optimize and its options")] = None,
    cron: Annotated[Optional[str], typer.Option(help="cron schedule, e.g. '0 2 * * *' (nightly at 02:00)")] = None,
    interval: Annotated[Optional[float], typer.Option(help="schedule: seconds between runs")] = None,
    pool: Annotated[str, typer.Option(help="Prefect process work pool (created if absent)")] = "tradeoff",
    name: Annotated[Optional[str], typer.Option(help="deployment name (default: the study's folder name)")] = None,
) -> None:
    """Deploy a study to Prefect: run on a schedule by 'tradeoff worker', one run at a time, recovered if its worker dies.

    Example: tradeoff deploy --cron '0 2 * * *' campaign x264 --budget 50 --out runs/x264-nightly"""
    global _studies
    from flows.deploy import FLOWS, DeploySettings, deploy as make_deployment
    example = "e.g. tradeoff deploy --cron '0 2 * * *' campaign x264 --budget 50"
    if not study:
        raise TradeoffError(f"give the study to deploy as its command ({', '.join(FLOWS)} and its options), {example}")
    DeploySettings(kind=study[0], study=None, pool=pool, name=name, cron=cron, interval=interval)  # its own checks first
    _studies = []
    try:
        typer.main.get_command(app).main(args=study, prog_name="tradeoff", standalone_mode=False)
        (kind, settings), = _studies
    finally:
        _studies = None
    deployment = DeploySettings(kind=kind, study=settings, pool=pool, name=name, cron=cron, interval=interval)
    deployment_id = make_deployment(deployment)
    when = f"cron {cron}" if cron else f"every {interval:g} s" if interval else "on demand (no schedule)"
    out.print(f"deployment {kind}/{deployment.deployment_name()} ({deployment_id}) on pool {pool}, {when}, "
              f"measuring into {deployment.folder()}", markup=False)
    out.print(f"run it now: prefect deployment run '{kind}/{deployment.deployment_name()}'; "
              f"runs need a worker: tradeoff worker --pool {pool}", markup=False)


@app.command()
def worker(
    pool: Annotated[str, typer.Option(help="Prefect process work pool to take runs from")] = "tradeoff",
    ray_address: RayAddress = None, tracking_uri: TrackingUri = None,
) -> None:
    """Start a Prefect worker for the pool; its runs get the Ray and MLflow settings of this environment."""
    from flows.deploy import worker_command
    command, env = worker_command(pool, ray_address, tracking_uri)
    sys.stdout.flush()
    os.execvpe(command[0], command, env)


# Causal debugging -----------------------------------------------------------------------------

@app.command("debug")
def debug_command(
    system: SystemArg,
    goal: Annotated[list[str], typer.Option("--goal", help="what a fixed configuration satisfies, e.g. 'us_per_op <= 100' (repeat for several objectives)")],
    config: Annotated[Optional[Path], typer.Option(help="YAML file with the faulty configuration (missing options take defaults)")] = None,
    row: Annotated[Optional[str], typer.Option(help="config_id of the faulty configuration in --data")] = None,
    objective: Annotated[Optional[str], typer.Option(help="the faulty objective (must be a --goal metric; kept for the issue's syntax)")] = None,
    data: Annotated[Optional[Path], typer.Option(help="campaign folder to learn from (default: measure --initial random configurations first)")] = None,
    events: Annotated[str, typer.Option(help="comma-separated metrics that are intermediate events (default: the system's own)")] = "",
    environment: Environment = None, workload: Workload = None,
    budget: Annotated[int, typer.Option(help="measurements the loop may spend on fixes (the faulty one included when measured)")] = 5,
    initial: Annotated[int, typer.Option(help="random configurations measured first when --data is not given")] = 20,
    timeout: Timeout = 60.0, seed: Seed = 0,
    alpha: Annotated[float, typer.Option(help="significance level of FCI's independence tests")] = 0.05,
    max_changes: Annotated[int, typer.Option(help="most options one fix may change")] = 3,
    confirm: Annotated[float, typer.Option(help="measure again a fix that meets a goal the fault missed within this fraction "
                                                "of its threshold, and accept it only if the repeat does too (0: never)")] = 0.0,
    out_dir: Out = None, ray_address: RayAddress = None, tracking_uri: TrackingUri = None, experiment: Experiment = None,
) -> None:
    """Find the root causes of a performance fault and fix it by measuring (CADET / Unicorn)."""
    from flows.debug import debug as debug_flow, report_lines
    from tasks.settings import DebugSettings, Execution, Target
    from tradeoff.causal.goals import parse_goals
    if objective is not None and objective not in [g.metric for g in parse_goals(goal)]:
        raise TradeoffError(f"--objective {objective} has no --goal; give e.g. --goal '{objective} <= NUMBER'")
    settings = DebugSettings(
        target=Target(system=system, environment=environment, workload=workload), goals=tuple(goal),
        config=str(config) if config else None, row=row, data=str(data) if data else None, events=tuple(_columns(events)),
        budget=budget, initial=initial, seed=seed, max_changes=max_changes, confirm=confirm, alpha=alpha, out=str(out_dir) if out_dir else None,
        execution=Execution(timeout=timeout, ray_address=ray_address),
        tracking=_tracking(tracking_uri, experiment, "tradeoff-debug")).resolve()  # every check before Prefect and Ray start
    _measures_into(settings.out)
    outcome = debug_flow(settings)
    for line in report_lines(outcome):
        out.print(line, markup=False) if isinstance(line, str) else out.print(line)
    _tracked(outcome)


def main() -> None:
    import click
    from typer import _click
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    usage_errors = (click.ClickException, _click.exceptions.ClickException)  # typer 0.29 raises its own copies
    aborts = (click.exceptions.Abort, typer.Abort)
    previous = signal.signal(signal.SIGINT, _on_interrupt)
    try:
        app(standalone_mode=False)
    except TradeoffError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except (typer.Exit, SystemExit) as done:
        sys.exit(getattr(done, "exit_code", getattr(done, "code", 0)))
    except usage_errors as error:  # a mistyped flag or value: click's message, as one line
        print(f"error: {error.format_message()}", file=sys.stderr)
        sys.exit(2)
    except aborts:
        sys.exit(130)
    finally:
        signal.signal(signal.SIGINT, previous)  # main() runs in-process in tests: leave the caller's handler
        _measuring.clear()


if __name__ == "__main__":
    main()
