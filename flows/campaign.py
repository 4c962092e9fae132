"""The Prefect flow ``campaign``: sample -> measure on Ray -> store -> first model -> MLflow.

Sampling and measuring is one loop for every sampler: ask it (given the stored measurements) ->
measure what is not stored -> ask again, until a round measures nothing new. A design answers the
same design every time, so it stops after one round; ``--sampler active`` answers a random seed
design, then the stored configurations plus the batch its GP is most uncertain about, until the
budget is spent.

``describe_folder`` is the work of ``tradeoff show``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from prefect import flow

from tasks.campaign import ask_sampler, holding, measure_configurations, measurement_workers, summarise_campaign
from tasks.settings import CampaignSettings, given_configurations
from tasks.tracking import target_tags, tracked
from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, OPTION_PREFIX, MeasurementStore, aggregate, metric_names
from tradeoff.models.accuracy import accuracy_words
from tradeoff.models.persist import save_model
from tradeoff.models.summary import Summary, cross_validated_error, relative_spread
from tradeoff.samplers.base import SAMPLERS


@dataclass
class Result:
    folder: Path
    summary: Summary
    measured_now: int
    tracking_uri: str
    run_id: str  # the campaign's MLflow run: one per folder, however often it is resumed
    tracking_problem: str | None = None  # why logging to MLflow failed, where it did (the data are kept)
    invocation_run_id: str = ""  # this invocation's run, nested under run_id (the campaign's)


@flow(name="campaign")
def campaign(settings: CampaignSettings, progress: bool = True, objectives: tuple[tuple[str, str], ...] = (),
             constraints: tuple[str, ...] = ()) -> Result:
    """``objectives``/``constraints``: an optimisation's, passed to its sampler (see ``ask_sampler``)."""
    settings = settings.resolve()
    system, folder = settings.target.build(), Path(settings.out)
    tags = target_tags(system, settings.target.workload)
    with holding(folder):  # one driver per folder (refused before a run opens); workers stay warm across rounds
        with tracked(settings.tracking, f"{folder.name} campaign", campaign=settings.campaign_id(), campaign_name=folder.name,
                     params=settings.params(), tags=tags, campaign_params=settings.identity()) as run:
            if settings.configs:
                configs = given_configurations(settings.configs, system.space)
                run.watch(folder, len(configs) * settings.execution.reps)
                measured_now = measure_configurations(settings, configs, progress)
            else:
                adaptive = SAMPLERS.get(settings.sampler).adaptive
                run.watch(folder, settings.budget * settings.execution.reps)
                # Only a strategy that chooses from measurements sizes its batches to the workers (and starts Ray to count them).
                workers = measurement_workers(settings) if adaptive else 1
                measured_now, rounds = 0, 0
                while True:
                    configs = ask_sampler(settings, workers, objectives, constraints)
                    added = measure_configurations(settings, configs, progress)  # the stored ones too: a killed run may have left repetitions out
                    measured_now += added
                    if not added or not adaptive:
                        break
                    rounds += 1
                    run.step({"configurations": len(configs), "round_mape": round_error(settings)}, rounds)
            summary, files = summarise_campaign(settings)
            model = save_first_model(settings, summary)
            metrics = {"measured": summary.measured, "failed": summary.failed, "configurations": summary.configurations,
                       "mape": summary.mape}
            run.metrics({"measured_this_run": measured_now}, campaign=False)
            run.record(folder=folder, metric=settings.metric, metrics=metrics, files=files, model=model,
                       folders={"measurements.parquet": folder / "measurements.parquet"},
                       description=campaign_note(settings, system, summary, measured_now))
    return Result(folder, summary, measured_now, run.uri, run.campaign_run_id, run.problem, run.run_id)


def round_error(settings: CampaignSettings) -> float | None:
    """An adaptive campaign's model error after a round: cross-validated MAPE of its learner on what is stored."""
    frame = MeasurementStore(settings.out).read()
    return cross_validated_error(frame, settings.target.build().space, settings.metric, settings.learner, settings.seed)


def save_first_model(settings: CampaignSettings, summary: Summary) -> Path | None:
    """The campaign's first model as a bundle in FOLDER/model (what MLflow logs as the run's model)."""
    if summary.model is None:
        return None
    return save_model(Path(settings.out) / "model", summary.model, settings.target.build().space, summary.metric,
                      summary.learner).parent


def campaign_note(settings: CampaignSettings, system, summary: Summary, measured_now: int) -> str:
    """The run's description: what was measured where, the model, whether its accuracy is usable."""
    t = settings.target
    lines = [f"### Campaign `{Path(settings.out).name}`",
             f"**{summary.measured}** measurements ({summary.failed} failed) of **{summary.configurations}** configurations of "
             f"`{system.name}` {system.program_version()} in environment `{t.environment}`, workload `{t.workload}`; "
             f"sampler `{settings.sampler}`, seed {settings.seed}, {settings.execution.reps} repetition(s). "
             f"This invocation measured {measured_now}.", "",
             f"**Model**: `{summary.learner}` of `{summary.metric}`, {accuracy_words(summary.mape, summary.spearman, summary.configurations)}"]
    if summary.influences is not None:
        lines.append("**Most influential options**: " + ", ".join(f"`{o}` ({v:.0%})" for o, v in summary.influences.head(5).items()))
    return "\n".join(lines)


def describe_folder(folder: Path, metric: str | None = None) -> list[str]:
    """``tradeoff show``: counts by status, the metric's spread, the lowest configurations, an optimisation's Pareto front, the influential options."""
    frame = MeasurementStore(folder).read()
    metrics = metric_names(frame)
    metric = metric or metrics[0]
    if metric not in metrics:
        raise TradeoffError(f"{folder} has no metric {metric!r}; its metrics: {', '.join(metrics)}")
    first = frame.iloc[0]
    lines = [f"{folder}: system {first['system']}, environment {first['environment']}, workload {first['workload']}",
             "measurements: " + ", ".join(f"{status} {count}" for status, count in frame["status"].value_counts().items())]
    parts = frame["measured"].dropna() if "measured" in frame.columns else []
    if len(parts):  # metrics measured alone (flexibo): the rest of those configurations may be unmeasured
        lines.append("of them measured in part: " + ", ".join(f"{label} alone {count}" for label, count in parts.value_counts().items()))
    table = aggregate(frame)
    values = table.loc[table["status"] == "ok", METRIC_PREFIX + metric].dropna()
    if len(values):
        lines.append(f"{metric}: min {values.min():.4g}, median {values.median():.4g}, max {values.max():.4g}, "
                     f"max/min {relative_spread(values.to_numpy()):.3g} over {len(values)} configurations")
        lines.append(f"lowest {metric}:")  # a stored table carries no goal; most metrics are costs
        for index in values.sort_values().index[:5]:
            row = table.loc[index]
            config = " ".join(f"{c[len(OPTION_PREFIX):]}={row[c]}" for c in table.columns if c.startswith(OPTION_PREFIX))
            lines.append(f"  {row[METRIC_PREFIX + metric]:.4g}  {row['config_id']}  {config}")
    front = Path(folder) / "front.csv"  # an optimisation of several objectives (flows/optimize.py)
    if front.exists():
        rows = pd.read_csv(front)
        objectives = [c for c in rows.columns if c.startswith(METRIC_PREFIX)]
        lines.append(f"Pareto front ({len(rows)} configurations):")
        lines += ["  " + "  ".join(f"{c[len(METRIC_PREFIX):]} {r[c]:.4g}" for c in objectives) + f"  {r['config_id']}" for _, r in rows.iterrows()]
    influences = Path(folder) / "influences.csv"
    if influences.exists():
        shares = pd.read_csv(influences).head(5)
        lines.append("most influential options: " + ", ".join(f"{r.option} ({r.share:.0%})" for r in shares.itertuples()))
    return lines
