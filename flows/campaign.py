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
from tasks.tracking import track
from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, OPTION_PREFIX, MeasurementStore, aggregate, metric_names
from tradeoff.models.summary import Summary, relative_spread
from tradeoff.samplers.base import SAMPLERS


@dataclass
class Result:
    folder: Path
    summary: Summary
    measured_now: int
    tracking_uri: str
    run_id: str
    tracking_problem: str | None = None  # why logging to MLflow failed, where it did (the data are kept)


@flow(name="campaign")
def campaign(settings: CampaignSettings, progress: bool = True) -> Result:
    settings = settings.resolve()
    system, folder = settings.target.build(), Path(settings.out)
    with holding(folder):  # one driver per folder; workers stay warm across rounds
        if settings.configs:
            configs = given_configurations(settings.configs, system.space)
            measured_now = measure_configurations(settings, configs, progress)
        else:
            adaptive = SAMPLERS.get(settings.sampler).adaptive
            # Only a strategy that chooses from measurements sizes its batches to the workers (and starts Ray to count them).
            workers = measurement_workers(settings) if adaptive else 1
            measured_now = 0
            while True:
                configs = ask_sampler(settings, workers)
                added = measure_configurations(settings, configs, progress)  # the stored ones too: a killed run may have left repetitions out
                measured_now += added
                if not added or not adaptive:
                    break
    summary, files = summarise_campaign(settings)
    params = {**settings.params(), "campaign": settings.campaign_id(), "configurations_sampled": len(configs),
              "program_version": system.program_version()}
    metrics = {"measured": summary.measured, "failed": summary.failed, "configurations": summary.configurations,
               "measured_this_run": measured_now, "mape": summary.mape}
    uri, run_id, problem = track(settings.tracking.experiment, settings.tracking.uri, folder.name, params, metrics, files=files,
                        folders={"measurements.parquet": folder / "measurements.parquet"})
    return Result(folder, summary, measured_now, uri, run_id, problem)


def describe_folder(folder: Path, metric: str | None = None) -> list[str]:
    """``tradeoff show``: counts by status, the metric's spread, the lowest configurations, the influential options."""
    frame = MeasurementStore(folder).read()
    metrics = metric_names(frame)
    metric = metric or metrics[0]
    if metric not in metrics:
        raise TradeoffError(f"{folder} has no metric {metric!r}; its metrics: {', '.join(metrics)}")
    first = frame.iloc[0]
    lines = [f"{folder}: system {first['system']}, environment {first['environment']}, workload {first['workload']}",
             "measurements: " + ", ".join(f"{status} {count}" for status, count in frame["status"].value_counts().items())]
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
    influences = Path(folder) / "influences.csv"
    if influences.exists():
        shares = pd.read_csv(influences).head(5)
        lines.append("most influential options: " + ", ".join(f"{r.option} ({r.share:.0%})" for r in shares.itertuples()))
    return lines
