"""The Prefect flow ``optimize``: the campaign flow with the optimiser as its sampler, then the result.

An optimisation is a campaign: the loop (ask the sampler given the store -> measure what is new on
Ray -> store) is the campaign's, so resuming and never repeating a measurement come with it, and
the optimiser derives its state from the store. What this flow adds is the answer: the best
measured configuration (``optimum.json``) and the convergence plot (``convergence.png``) in the
campaign folder, both from measurements. The campaign's MLflow run is this invocation's too (one
run per invocation, nested under the campaign's), with the best so far as a step metric while it
measures and, at the end, one step per configuration, and both files.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from prefect import flow

from flows.campaign import Result, campaign, identity
from tasks.settings import OptimizeSettings
from tasks.tracking import target_tags, tracked
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
    invocation_run_id: str = ""  # this invocation's run, nested under run_id (the campaign's)


@flow(name="optimize")
def optimize(settings: OptimizeSettings, progress: bool = True) -> Optimum:
    settings = settings.resolve()
    metric, goal, folder = settings.campaign.metric, settings.goal(), Path(settings.campaign.out)
    c = settings.campaign
    system = c.target.build()
    with tracked(c.tracking, f"{folder.name} optimize", campaign=c.campaign_id(), campaign_name=folder.name,
                 params={**c.params(), "objective": metric, "goal": goal}, tags=target_tags(system, c.target.workload),
                 campaign_params=identity(c)) as run:
        run.watch(folder, c.budget * c.execution.reps, lambda frame: _best(frame, metric, goal))
        result = campaign(c, progress)  # logs into this run: one invocation, one run
        frame = MeasurementStore(folder).read()
        best = best_measured(frame, metric, goal)
        config = {col[len(OPTION_PREFIX):]: best[col] for col in best.index if col.startswith(OPTION_PREFIX)}
        config = {k: v.item() if isinstance(v, np.generic) else v for k, v in config.items()}
        value = float(best[METRIC_PREFIX + metric])
        table = measured_in_order(frame, metric)
        values = table[METRIC_PREFIX + metric].where(table["status"] == "ok").to_numpy(float)
        curve = best_so_far(frame, metric, goal)
        plot = convergence(curve, values, metric, goal, c.sampler, folder / "convergence.png")
        report = folder / "optimum.json"
        report.write_text(json.dumps({"metric": metric, "goal": goal, "value": value, "config_id": best["config_id"], "config": config,
                                      "method": c.sampler, "configurations": len(table)}, indent=1))
        log.info("optimize: best %s %.4g of %d configurations, %s", metric, value, len(table), best["config_id"])
        run.curve("best_so_far", curve.tolist())  # one step per configuration, in measuring order
        run.record(metrics={"best": value}, files=[report, plot], description=result_note(run, metric, goal, value, best, config, c.sampler, len(table)))
        run.tags({"best_config_id": best["config_id"]})
    return Optimum(result, metric, goal, value, str(best["config_id"]), config, len(table), [report, plot], run.uri,
                   run.campaign_run_id, result.tracking_problem or run.problem, run.run_id)


def _best(frame, metric: str, goal: str) -> dict:
    curve = best_so_far(frame, metric, goal)
    return {"best": float(curve[-1])} if len(curve) and curve[-1] == curve[-1] else {}


def result_note(run, metric: str, goal: str, value: float, best, config: dict, method: str, configurations: int) -> str:
    """The description: the campaign's, then the optimum and how it was found."""
    campaign = run.client.get_run(run.campaign_run_id).data.tags.get("mlflow.note.content", "") if run.campaign_run_id and not run.problem else ""
    return (f"{campaign}\n\n### Optimum\n**Best {metric}** ({goal}) **{value:.4g}**, measured, by `{method}` after {configurations} "
            f"configurations: `{best['config_id']}`\n\n" + ", ".join(f"`{k}={v}`" for k, v in config.items()))
