"""The Prefect flow ``optimize``: the campaign flow with the optimiser as its sampler, then the result.

An optimisation is a campaign: the loop (ask the sampler given the store -> measure what is new on
Ray -> store) is the campaign's, so resuming and never repeating a measurement come with it, and
the optimiser derives its state from the store. What this flow adds is the answer: the best
measured configuration (``optimum.json``) and the convergence plot (``convergence.png``) in the
campaign folder, both from measurements, and an MLflow run of its own (tagged with the campaign's
run) holding the best value, the best so far as a step metric (one step per configuration) and
both files.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from prefect import flow

from flows.campaign import Result, campaign
from tasks.settings import OptimizeSettings
from tasks.tracking import track
from tradeoff.measurements import METRIC_PREFIX, OPTION_PREFIX, MeasurementStore
from tradeoff.optimum import best_measured, best_so_far, measured_in_order
from tradeoff.plots.optimize import convergence

log = logging.getLogger(__name__)


@dataclass
class Optimum:
    campaign: Result
    metric: str
    goal: str
    value: float
    config_id: str
    config: dict
    configurations: int
    files: list[Path]
    tracking_uri: str
    run_id: str
    tracking_problem: str | None = None  # why logging to MLflow failed, where it did (the data are kept)


@flow(name="optimize")
def optimize(settings: OptimizeSettings, progress: bool = True) -> Optimum:
    settings = settings.resolve()
    result = campaign(settings.campaign, progress)
    metric, goal, folder = settings.campaign.metric, settings.goal(), Path(settings.campaign.out)
    frame = MeasurementStore(folder).read()
    best = best_measured(frame, metric, goal)
    config = {c[len(OPTION_PREFIX):]: best[c] for c in best.index if c.startswith(OPTION_PREFIX)}
    config = {k: v.item() if isinstance(v, np.generic) else v for k, v in config.items()}
    value = float(best[METRIC_PREFIX + metric])
    table = measured_in_order(frame, metric)
    values = table[METRIC_PREFIX + metric].where(table["status"] == "ok").to_numpy(float)
    curve = best_so_far(frame, metric, goal)
    plot = convergence(curve, values, metric, goal, settings.campaign.sampler, folder / "convergence.png")
    report = folder / "optimum.json"
    report.write_text(json.dumps({"metric": metric, "goal": goal, "value": value, "config_id": best["config_id"], "config": config,
                                  "method": settings.campaign.sampler, "configurations": len(table)}, indent=1))
    log.info("optimize: best %s %.4g of %d configurations, %s", metric, value, len(table), best["config_id"])
    uri, run_id, problem = track(settings.campaign.tracking.experiment, settings.campaign.tracking.uri, f"{folder.name}-optimum",
                                 {**settings.campaign.params(), "objective": metric, "goal": goal, "best_config_id": best["config_id"]},
                                 {"best": value, "configurations": len(table), "measured_this_run": result.measured_now},
                                 tags={"campaign_run": result.run_id}, files=[report, plot], steps={"best_so_far": curve.tolist()})
    return Optimum(result, metric, goal, value, str(best["config_id"]), config, len(table), [report, plot], uri, run_id,
                   result.tracking_problem or problem)
