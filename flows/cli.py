"""The ``tradeoff`` command line.

Bad input ends with one line on stderr (``error: ...``) and exit code 2, never a traceback;
Ctrl-C keeps every stored measurement and says how to resume.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Column, Table

from tradeoff.errors import TradeoffError
from tradeoff.models.learners.base import LEARNERS
from tradeoff.samplers.base import SAMPLERS, sample

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Learn how configuration drives performance: measure, model, transfer, debug.")
out = Console(soft_wrap=True)


@app.command()
def systems() -> None:
    """List the systems Tradeoff can measure or replay."""
    from systems import SYSTEMS
    table = Table("system", "kind", "description")
    for name, description in SYSTEMS.summaries().items():
        table.add_row(name, SYSTEMS.kind(name), description)
    out.print(table)


@app.command()
def space(system: str, environment: Optional[str] = typer.Option(None, help="environment of a replay system"),
          workload: Optional[str] = typer.Option(None, help="workload of a replay system")) -> None:
    """Show a system's options, defaults, allowed values, constraints, workloads and metrics."""
    from systems import get_system
    target = get_system(system, environment, workload)
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
    system: str = typer.Argument(..., help="system name (see 'tradeoff systems') or a campaign folder to replay"),
    environment: Optional[str] = typer.Option(None, help="environment name (replay: which recorded one)"),
    workload: Optional[str] = typer.Option(None, help="workload (default: the system's)"),
    sampler: str = typer.Option("random", help=f"one of {', '.join(SAMPLERS.names())} (see 'tradeoff sample --help')"),
    budget: int = typer.Option(20, help="number of configurations"),
    reps: int = typer.Option(1, help="repetitions per configuration"),
    seed: int = typer.Option(0, help="seed of the sampler and the model"),
    timeout: float = typer.Option(60.0, help="seconds before a run is killed and recorded as a timeout"),
    metric: Optional[str] = typer.Option(None, help="metric to model (default: the system's first)"),
    learner: str = typer.Option("log-forest", help="learner of the first model"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="campaign folder (default: tradeoff-runs/NAME)"),
    concurrency: Optional[int] = typer.Option(None, help="measurements at once (default: what keeps timings clean)"),
    cores_per_run: Optional[int] = typer.Option(None, help="cores each measurement is pinned to"),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster address (default: $RAY_ADDRESS or a local Ray)"),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or a local sqlite store)"),
    experiment: str = typer.Option("tradeoff", help="MLflow experiment"),
    config: Optional[Path] = typer.Option(None, help="YAML/JSON file of configurations to measure instead of sampling, "
                                                     "or a campaign folder: measure its configurations again (e.g. in a new environment)"),
) -> None:
    """Sample configurations, measure them on Ray, store them in Parquet, model them, log to MLflow."""
    from flows.campaign import Settings
    settings = Settings(system, environment, workload, sampler, budget, reps, seed, timeout, metric, learner,
                        str(out_dir) if out_dir else None, ray_address, tracking_uri, experiment, concurrency, cores_per_run,
                        str(config) if config else None)
    _run_campaign(settings)


@app.command()
def demo(out_dir: Path = typer.Option(Path("tradeoff-runs/demo"), "--out", help="campaign folder"),
         budget: int = typer.Option(24, help="number of configurations")) -> None:
    """The main job: a small real x264 campaign (under a minute on 2 cores)."""
    from flows.campaign import Settings
    _run_campaign(Settings("x264", workload="clip-352x288-8", sampler="random", budget=budget, reps=1, seed=1,
                           timeout=60.0, out=str(out_dir), experiment="tradeoff-demo"))


@app.command()
def show(folder: Path, metric: Optional[str] = typer.Option(None, help="metric to summarise (default: the first)")) -> None:
    """Summarise a campaign folder: counts by status, the metric's spread, the best configurations."""
    from tradeoff.measurements import METRIC_PREFIX, MeasurementStore, aggregate, metric_names
    from tradeoff.models.summary import relative_spread
    frame = MeasurementStore(folder).read()
    metrics = metric_names(frame)
    metric = metric or metrics[0]
    if metric not in metrics:
        raise TradeoffError(f"{folder} has no metric {metric!r}; its metrics: {', '.join(metrics)}")
    first = frame.iloc[0]
    out.print(f"[bold]{folder}[/]: system {first['system']}, environment {first['environment']}, workload {first['workload']}")
    out.print("measurements: " + ", ".join(f"{status} {count}" for status, count in frame["status"].value_counts().items()))
    table = aggregate(frame)
    values = table.loc[table["status"] == "ok", METRIC_PREFIX + metric].dropna()
    if len(values):
        out.print(f"{metric}: min {values.min():.4g}, median {values.median():.4g}, max {values.max():.4g}, "
                  f"max/min {relative_spread(values.to_numpy()):.3g} over {len(values)} configurations")
        out.print(f"lowest {metric}:")  # a stored table carries no goal; most metrics are costs
        for index in values.sort_values().index[:5]:
            row = table.loc[index]
            config = " ".join(f"{c[4:]}={row[c]}" for c in table.columns if c.startswith("opt."))
            out.print(f"  {row[METRIC_PREFIX + metric]:.4g}  {row['config_id']}  {config}", markup=False)
    influences = folder / "influences.csv"
    if influences.exists():
        import pandas as pd
        shares = pd.read_csv(influences).head(5)
        out.print("most influential options: " + ", ".join(f"{r.option} ({r.share:.0%})" for r in shares.itertuples()))


@app.command("import")
def import_table(
    table: Path = typer.Argument(..., help="a .csv or .parquet table of measurements"),
    options: str = typer.Option(..., help="comma-separated option columns"),
    metrics: str = typer.Option(..., help="comma-separated metric columns"),
    system: str = typer.Option(..., help="system name to record"),
    environment: str = typer.Option("imported", help="environment name to record"),
    workload: str = typer.Option("imported", help="workload name to record"),
    out_dir: Path = typer.Option(..., "--out", help="campaign folder to write"),
) -> None:
    """Turn any external measurement table into Tradeoff's schema, usable by every command."""
    from tradeoff.importing import import_table as convert
    frame = convert(table, _columns(options), _columns(metrics), system, environment, workload, out_dir)
    out.print(f"imported {len(frame)} measurements of {system} into {out_dir / 'measurements.parquet'}")


# Models: learn, predict, evaluate (issue 3) -----------------------------------------------

@app.command("sample", epilog="Samplers:\n\n" + "\n\n".join(f"{name}: {line}" for name, line in SAMPLERS.summaries().items()))
def sample_configurations(
    system: str = typer.Argument(..., help="system name (see 'tradeoff systems') or a campaign folder"),
    sampler: str = typer.Option("random", help=f"one of {', '.join(SAMPLERS.names())} (described below)"),
    budget: int = typer.Option(20, help="the most configurations"),
    seed: int = typer.Option(0, help="seed of the sampler"),
    environment: Optional[str] = typer.Option(None, help="environment of a replay system"),
    workload: Optional[str] = typer.Option(None, help="workload of a replay system"),
) -> None:
    """Print the configurations a sampler chooses (CSV), without measuring them."""
    from systems import get_system
    target = get_system(system, environment, workload)
    out.print(target.space.to_frame(sample(target.space, sampler, budget, seed)).to_csv(index=False), end="", markup=False)


@app.command()
def learn(
    data: Path = typer.Argument(..., help="a campaign folder or a CSV (one column per option and the metric)"),
    metric: str = typer.Option(..., help="metric to model"),
    learner: str = typer.Option("auto", help=", ".join(LEARNERS.names())),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="model folder (default: tradeoff-runs/model-DATA-METRIC-LEARNER)"),
    seed: int = typer.Option(0, help="seed of the learner and the folds"),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or a local sqlite store)"),
    experiment: str = typer.Option("tradeoff", help="MLflow experiment"),
) -> None:
    """Fit a performance model; print it, its option influences and its cross-validated MAPE; save it."""
    from flows.learning import learn as fit
    folder = out_dir or Path("tradeoff-runs") / f"model-{data.stem}-{metric}-{learner}"
    learned = fit(data, metric, learner, folder, seed, tracking_uri=tracking_uri, experiment=experiment)
    out.print(learned.description, markup=False)
    out.print("option influences: " + ", ".join(f"{name} ({share:.0%})" for name, share in learned.influences.head(10).items()))
    out.print(f"cross-validated MAPE: {learned.cv_mape:.2f}%")
    out.print(f"model: {learned.folder / 'model.joblib'}  (MLflow run {learned.run_id})")


@app.command()
def predict(
    model: Path = typer.Argument(..., help="a model folder written by 'tradeoff learn'"),
    configs: Path = typer.Argument(..., help="CSV of configurations, one column per option (missing ones: default)"),
    out_file: Optional[Path] = typer.Option(None, "--out", help="write the predictions to this CSV instead of printing them"),
) -> None:
    """Predict the metric of each configuration in a CSV."""
    from tradeoff.importing import read_any
    from tradeoff.models.persist import load_model, predict_table
    predictions = predict_table(load_model(model), read_any(configs))
    if out_file:
        predictions.to_csv(out_file, index=False)
        out.print(f"{len(predictions)} predictions written to {out_file}")
    else:
        out.print(predictions.to_csv(index=False), end="", markup=False)


@app.command()
def evaluate(
    data: Path = typer.Argument(..., help="a campaign folder or a CSV (one column per option and the metric)"),
    metric: str = typer.Option(..., help="metric to predict"),
    learner: str = typer.Option("auto", help="comma-separated, of: " + ", ".join(LEARNERS.names())),
    sizes: Optional[str] = typer.Option(None, help="sample sizes, e.g. 16,32 or n,2n,3n,4n,5n (n = options; default: n..5n or the index's)"),
    training_index: Optional[Path] = typer.Option(None, help="DeepPerf training-index file (0-based rows of each sample)"),
    repeats: int = typer.Option(30, help="experiments per size"),
    seed: int = typer.Option(0, help="seed of the random samples and the learners"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="write summary and every run to this JSON file"),
    plot: Optional[Path] = typer.Option(None, help="learning-curve plot (PNG)"),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI"),
    experiment: str = typer.Option("tradeoff", help="MLflow experiment"),
) -> None:
    """Learning curves: train on samples of each size, test on every other row, MRE with 95% margin."""
    from flows.learning import evaluate as run_evaluation
    summary, run_id = run_evaluation(data, metric, _columns(learner), sizes, training_index, repeats, seed, json_out, plot,
                                     tracking_uri, experiment)
    table = Table("learner", "size", "MRE %", "95% margin", "repeats", "fit s")
    for row in summary.itertuples():
        table.add_row(row.learner, str(row.size), f"{row.mean:.2f}", f"{row.margin:.2f}", str(row.repeats), f"{row.fit_s:.2f}")
    out.print(table)
    out.print(f"MLflow run {run_id}")


# --- transfer learning across environments (issue 4) ---------------------------------------

@app.command("compare-envs")
def compare_envs(
    source: str = typer.Argument(..., help="campaign folder, or SYSTEM:ENVIRONMENT[:WORKLOAD] of a replay (e.g. ase17-x264:feature8_2762_8)"),
    target: str = typer.Argument(..., help="campaign folder, or SYSTEM:ENVIRONMENT[:WORKLOAD] of a replay"),
    metric: Optional[str] = typer.Option(None, help="metric to compare (default: the first both environments hold)"),
    top_k: int = typer.Option(5, help="how many influential options and interactions to compare"),
    pairing: str = typer.Option("median", help="median: one pair per configuration; repetition: repetition i with repetition i (ASE'17's row-by-row)"),
    out_dir: Path = typer.Option(Path("tradeoff-runs/compare-envs"), "--out", help="folder for comparison.json and the plots"),
) -> None:
    """What carries over from SOURCE to TARGET: correlations, linear fit, influential options, noise, verdict."""
    import json

    from systems.replay import environment_frame
    from tradeoff.measurements import metric_names
    from tradeoff.plots import transfer as plots
    from tradeoff.transfer.compare import compare
    frames = environment_frame(source), environment_frame(target)
    common = [m for m in metric_names(frames[0]) if m in metric_names(frames[1])]
    if not common:
        raise TradeoffError("source and target share no metric; compare environments of the same system")
    if metric is None:
        metric = common[0]
    comparison, paired, influences = compare(*frames, metric, top_k, str(source), str(target), pairing)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "comparison.json").write_text(json.dumps(comparison.to_dict(), indent=2))
    plots.scatter(paired, comparison, out_dir / "scatter.png")
    plots.influences(influences, comparison, out_dir / "influences.png")
    for line in comparison.lines():
        out.print(line, markup=False)
    out.print(f"report: {out_dir / 'comparison.json'}, plots: {out_dir / 'scatter.png'}, {out_dir / 'influences.png'}")


def _study_methods() -> tuple[str, ...]:
    from tradeoff.transfer.study import METHODS  # listed by the transfer methods' registry
    return METHODS


@app.command()
def transfer(
    source: list[str] = typer.Option(..., "--source", help="campaign folder, SYSTEM:ENVIRONMENT[:WORKLOAD] of a replay, or runs:/RUN_ID (repeatable)"),
    target: str = typer.Option(..., "--target", help="target system (see 'tradeoff systems') or a campaign folder to replay"),
    environment: Optional[str] = typer.Option(None, help="target environment (replay: which recorded one)"),
    workload: Optional[str] = typer.Option(None, help="target workload"),
    budget: int = typer.Option(20, help="target measurements"),
    method: str = typer.Option("auto", help=f"one of {', '.join(_study_methods())} (auto: never worse than ignoring the sources)"),
    metric: Optional[str] = typer.Option(None, help="metric to learn (default: the target's first)"),
    sampler: str = typer.Option("random", help="sampler of the target (l2s always samples with L2S)"),
    learner: str = typer.Option("log-forest", help="learner of the source, target-only and stacked models"),
    reps: int = typer.Option(1, help="repetitions per target configuration"),
    seed: int = typer.Option(0, help="seed of the sampler and the models"),
    timeout: float = typer.Option(60.0, help="seconds before a run is killed"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="target campaign folder (default: tradeoff-runs/transfer-NAME)"),
    concurrency: Optional[int] = typer.Option(None, help="measurements at once"),
    cores_per_run: Optional[int] = typer.Option(None, help="cores each measurement is pinned to"),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster address"),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI"),
    experiment: str = typer.Option("tradeoff-transfer", help="MLflow experiment"),
    holdout: Optional[Path] = typer.Option(None, help="campaign folder of other target measurements to score the models on "
                                                      "(default: the rest of a replay's table, else cross-validation)"),
) -> None:
    """Learn the target environment from few measurements, reusing source campaigns; never worse than ignoring them (auto)."""
    from flows.transfer import TransferSettings, transfer as transfer_flow
    settings = TransferSettings(list(source), target, environment, workload, budget, method, metric, sampler, learner, reps,
                                seed, timeout, str(out_dir) if out_dir else None, ray_address, tracking_uri, experiment,
                                concurrency, cores_per_run, str(holdout) if holdout else None)
    settings.resolve()  # every check before Prefect and Ray start
    outcome = transfer_flow(settings)
    for line in outcome.result.lines() + outcome.comparison:
        out.print(line, markup=False)
    out.print(f"data and report: {outcome.folder}")
    out.print(f"MLflow run {outcome.run_id} in {outcome.tracking_uri}")


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _run_campaign(settings) -> None:
    from flows.campaign import campaign as campaign_flow
    settings.resolve()  # every check before Prefect and Ray start, so bad input costs nothing
    from tasks.measure import connect
    connect(settings.ray_address)  # before the flow, so a bad address is one line, not a flow failure
    result = campaign_flow(settings)
    summary = result.summary
    out.print(f"\n[bold]{summary.configurations}[/] configurations measured ({summary.measured} measurements, "
              f"{summary.failed} failed; {result.measured_now} new in this run)")
    if summary.mape is not None:
        out.print(f"{summary.learner} model of {summary.metric}: cross-validated MAPE {summary.mape:.1f}%")
        out.print("most influential options: " + ", ".join(f"{name} ({share:.0%})" for name, share in summary.influences.head(5).items()))
    out.print(f"data: {result.folder / 'measurements.parquet'}")
    out.print(f"MLflow run {result.run_id} in {result.tracking_uri}")
    from tasks.tracking import ui_command
    out.print(f"browse it: {ui_command(result.tracking_uri)}")


# Causal debugging (issue 6) -------------------------------------------------------------------

@app.command("debug")
def debug_command(
    system: str = typer.Argument(..., help="system name (see 'tradeoff systems') or a campaign folder to replay"),
    goal: list[str] = typer.Option(..., "--goal", help="what a fixed configuration satisfies, e.g. 'us_per_op <= 100' (repeat for several objectives)"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file with the faulty configuration (missing options take defaults)"),
    row: Optional[str] = typer.Option(None, "--row", help="config_id of the faulty configuration in --data"),
    objective: Optional[str] = typer.Option(None, "--objective", help="the faulty objective (must be a --goal metric; kept for the issue's syntax)"),
    data: Optional[Path] = typer.Option(None, "--data", help="campaign folder to learn from (default: measure --initial random configurations first)"),
    events: str = typer.Option("", help="comma-separated metrics that are intermediate events (default: the system's own)"),
    environment: Optional[str] = typer.Option(None, help="environment name"),
    workload: Optional[str] = typer.Option(None, help="workload (default: the system's)"),
    budget: int = typer.Option(5, help="measurements the loop may spend on fixes (the faulty one included when measured)"),
    initial: int = typer.Option(20, help="random configurations measured first when --data is not given"),
    timeout: float = typer.Option(60.0, help="seconds before a run is killed"),
    seed: int = typer.Option(0, help="seed of the initial sample and the models"),
    alpha: float = typer.Option(0.05, help="significance level of FCI's independence tests"),
    max_changes: int = typer.Option(3, help="most options one fix may change"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="session folder (default: tradeoff-runs/debug-...)"),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster address (default: $RAY_ADDRESS or a local Ray)"),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI"),
    experiment: str = typer.Option("tradeoff-debug", help="MLflow experiment"),
) -> None:
    """Find the root causes of a performance fault and fix it by measuring (CADET / Unicorn)."""
    from flows.debug import DebugSettings, debug as debug_flow
    from tradeoff.causal.goals import parse_goals
    if objective is not None and objective not in [g.metric for g in parse_goals(goal)]:
        raise TradeoffError(f"--objective {objective} has no --goal; give e.g. --goal '{objective} <= NUMBER'")
    settings = DebugSettings(system, list(goal), str(config) if config else None, row, str(data) if data else None,
                             _columns(events), environment, workload, budget, initial, timeout, seed, 10, max_changes, alpha,
                             str(out_dir) if out_dir else None, ray_address, tracking_uri, experiment)
    settings.resolve()  # every check before Prefect and Ray start
    outcome = debug_flow(settings)
    result, diagnosis = outcome.result, outcome.result.diagnosis
    out.print("[bold]root causes[/] (options by average causal effect, in standard deviations of the objective):")
    for option, effect in diagnosis.root_causes[:8]:
        out.print(f"  {option}  {effect:.2f}", markup=False)
    for metric, paths in diagnosis.paths.items():
        out.print(f"[bold]causal paths to {metric}[/] (ACE):")
        for path in paths[:5]:
            out.print(f"  {path.ace:10.4g}  {path}", markup=False)
    table = Table("step", Column("changes", overflow="fold", min_width=24), "potential", "control", *[f"predicted {g.metric}" for g in outcome.goals],
                  *[f"measured {g.metric}" for g in outcome.goals], "goal met")
    for number, step in enumerate(result.steps, 1):
        table.add_row(str(number), step.fix.describe(), f"{step.fix.potential:.2f}", f"{step.fix.control:.2f}",
                      *[f"{step.fix.predicted.get(g.metric, float('nan')):.4g}" for g in outcome.goals],
                      *[f"{(step.measured or {}).get(g.metric, float('nan')):.4g}" for g in outcome.goals], "yes" if step.fixed else "no")
    out.print(table)
    for goal in outcome.goals:
        before, after = result.faulty_metrics.get(goal.metric), result.best_metrics.get(goal.metric)
        gain = (before - after) / abs(before) * 100 * (1 if goal.minimize else -1) if before else float("nan")
        out.print(f"{goal.metric}: faulty {before:.4g} -> best measured {after:.4g}, measured gain {gain:.1f}% (goal {goal})", markup=False)
    base = outcome.baseline
    measured = base.get("measured") or {}
    verdict = (", ".join(f"measured {g.metric} {measured[g.metric]:.4g}" for g in outcome.goals if g.metric in measured)
               if measured else "not measured (it breaks a constraint or, on a replay, was never recorded)")
    out.print(f"decision-tree baseline: {', '.join(f'{k}={v}' for k, v in base['changes'].items()) or 'no change'}; "
              f"{verdict}; goal met: {'yes' if base.get('fixed') else 'no'}", markup=False)
    out.print(f"{'FIXED' if result.fixed else 'NOT FIXED'} after {result.measurements} measurements in {result.wall_s:.1f} s; "
              f"files in {outcome.folder}; MLflow run {outcome.run_id}")


def main() -> None:
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        app(standalone_mode=False)
    except TradeoffError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: every finished measurement is stored; run the same command again to resume", file=sys.stderr)
        sys.exit(130)
    except (typer.Exit, SystemExit) as done:
        sys.exit(getattr(done, "exit_code", getattr(done, "code", 0)))
    except Exception as error:  # click usage errors and the like
        import click
        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        if isinstance(error, click.exceptions.Abort):
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
