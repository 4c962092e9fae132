"""The Prefect flow ``optimize``: the campaign flow with the optimiser as its sampler, then the result.

An optimisation is a campaign: the loop (ask the sampler given the store -> measure what is new on
Ray -> store) is the campaign's, so resuming and never repeating a measurement come with it, and
the optimiser derives its state from the store (the objectives and constraints go to it with
each ask). What this flow adds is the answer, from measurements only: the best measured
configuration of the first objective among those meeting every output constraint
(``optimum.json``) and its convergence (``convergence.png``); for several objectives also the
Pareto front (``front.csv``, ``front.png``: the front over every measured point) and its
hypervolume after each configuration, against measurements and measurement seconds
(``hypervolume.png``). Where some objectives were measured alone (``flexibo`` on a system that
declares ``separately``), the best and the front are of the configurations with every objective
measured: a fast configuration whose accuracy nobody measured is no answer. The campaign's MLflow
run is this invocation's too (one run per invocation, nested under the campaign's): the best so
far while it measures, then the best value, the hypervolume and both curves as step metrics (one
step per configuration), and the files. Where no
measured configuration meets the constraints the result says so (``unmet``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from prefect import flow

from flows.campaign import Result, campaign
from tasks.settings import OptimizeSettings
from tasks.tracking import target_tags, tracked
from tradeoff.measurements import METRIC_PREFIX, OPTION_PREFIX, MeasurementStore
from tradeoff.optimum import (best_feasible, best_so_far, feasible, hypervolume_curve, measured_in_order, measurement_seconds, pareto_front,
                              split_constraints, unmet)
from tradeoff.plots import optimize as plots

log = logging.getLogger(__name__)


@dataclass
class Optimum:
    campaign: Result
    metric: str
    goal: str
    value: float | None  # None: no measured configuration meets the constraints
    config_id: str | None
    config: dict
    configurations: int
    files: list[Path]
    tracking_uri: str
    run_id: str
    tracking_problem: str | None = None  # why logging to MLflow failed, where it did (the data are kept)
    front: list[dict] = field(default_factory=list)  # several objectives: the front's rows (config_id, objectives, options)
    hypervolume: float | None = None
    unmet: str | None = None  # why no measured configuration meets the constraints, in one line
    invocation_run_id: str = ""  # this invocation's run, nested under run_id (the campaign's)


def _plain(config: dict) -> dict:
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in config.items()}


def _options(row) -> dict:
    return _plain({c[len(OPTION_PREFIX):]: row[c] for c in row.index if c.startswith(OPTION_PREFIX)})


@flow(name="optimize")
def optimize(settings: OptimizeSettings, progress: bool = True) -> Optimum:
    settings = settings.resolve()
    goals = settings.goals()
    c = settings.campaign
    system = c.target.build()
    _, bounds = split_constraints(settings.constraints, system.space, system.metric_names)
    (metric, goal), folder, method = goals[0], Path(c.out), c.sampler
    params = {**c.params(), "objective": metric, "goal": goal, "objectives": ",".join(f"{m}:{g}" for m, g in goals),
              "constraints": "; ".join(settings.constraints)}
    with tracked(c.tracking, f"{folder.name} optimize", campaign=c.campaign_id(), campaign_name=folder.name,
                 params={k: v for k, v in params.items() if v not in (None, "")}, tags=target_tags(system, c.target.workload),
                 campaign_params=c.identity()) as run:
        run.watch(folder, c.budget * c.execution.reps, lambda frame: _best(frame, metric, goal, bounds))
        result = campaign(c, progress, goals, settings.constraints)  # logs into this run: one invocation, one run
        frame = MeasurementStore(folder).read()
        table = measured_in_order(frame, metric)
        complete = table[[METRIC_PREFIX + m for m, _ in goals]].notna().all(axis=1).to_numpy()
        meets = feasible(table, bounds) & complete
        values = table[METRIC_PREFIX + metric].where(meets).to_numpy(float)
        curve = best_so_far(values, goal)
        done = frame[frame["config_id"].isin(table.loc[complete, "config_id"])]
        best = best_feasible(done, metric, goal, bounds) if complete.any() else None
        files = [plots.convergence(curve, values, metric, goal, method, folder / "convergence.png")]
        report = {"objectives": [list(g) for g in goals], "constraints": list(settings.constraints), "method": method,
                  "configurations": len(table), "fully_measured": int(complete.sum()), "metric": metric, "goal": goal,
                  "value": None if best is None else float(best[METRIC_PREFIX + metric]),
                  "config_id": None if best is None else best["config_id"], "config": {} if best is None else _options(best)}
        front_rows, volume = [], None
        run.curve("best_so_far", curve.tolist())  # one step per configuration, in measuring order
        if len(goals) > 1:
            front = pareto_front(frame, goals, bounds)
            columns = ["config_id"] + [METRIC_PREFIX + m for m, _ in goals] + [col for col in front.columns if col.startswith(OPTION_PREFIX)]
            front[columns].to_csv(folder / "front.csv", index=False)
            front_rows = [_plain(r) for r in front[columns].to_dict("records")]
            hv, lower, upper = hypervolume_curve(frame, goals, bounds)
            volume = float(hv[-1])
            run.curve("hypervolume_so_far", hv.tolist())
            files += [folder / "front.csv", plots.front(table, goals, set(front["config_id"]), meets, folder / "front.png"),
                      plots.hypervolume(hv, measurement_seconds(frame), method, folder / "hypervolume.png")]
            report.update(front=front_rows, hypervolume=volume, normalised_by={"lower": lower.tolist(), "upper": upper.tolist()})
        problem = unmet(frame, bounds)
        if best is None and problem is None:
            problem = f"no configuration was measured successfully for {metric!r}; see why with 'tradeoff show {folder}'"
        report["unmet"] = problem
        (folder / "optimum.json").write_text(json.dumps(report, indent=1, default=str))
        files.insert(0, folder / "optimum.json")
        log.info("optimize: %s of %d configurations%s", "no feasible configuration" if best is None else
                 f"best {metric} {report['value']:.4g} ({best['config_id']})", len(table),
                 "" if volume is None else f", {len(front_rows)} on the front, hypervolume {volume:.4g}")
        metrics = {"feasible": int(meets.sum()), **({} if best is None else {"best": report["value"]}),
                   **({} if volume is None else {"hypervolume": volume, "front_size": len(front_rows)})}
        run.record(metrics=metrics, files=files, description=result_note(run, report, len(front_rows), volume))
        if best is not None:
            run.tags({"best_config_id": best["config_id"]})
    return Optimum(result, metric, goal, report["value"], report["config_id"], report["config"], len(table), files, run.uri,
                   run.campaign_run_id, result.tracking_problem or run.problem, front_rows, volume, problem, run.run_id)


def _best(frame, metric: str, goal: str, bounds) -> dict:
    """The best so far while measuring (the run's watcher logs it)."""
    table = measured_in_order(frame, metric)
    curve = best_so_far(table[METRIC_PREFIX + metric].where(feasible(table, bounds)).to_numpy(float), goal)
    return {"best": float(curve[-1])} if len(curve) and curve[-1] == curve[-1] else {}


def result_note(run, report: dict, front_size: int, volume: float | None) -> str:
    """The description: the campaign's (``run.note``: the campaign flow ran in this run), then the optimum (and front) and how it was found."""
    metric, goal, method = report["metric"], report["goal"], report["method"]
    if report["value"] is None:
        found = f"**No measured configuration meets the constraints** ({report['unmet']})"
    else:
        found = (f"**Best {metric}** ({goal}) **{report['value']:.4g}**, measured, by `{method}` after {report['configurations']} "
                 f"configurations: `{report['config_id']}`\n\n" + ", ".join(f"`{k}={v}`" for k, v in report["config"].items()))
    if volume is not None:
        found += f"\n\n**Pareto front**: {front_size} configurations, hypervolume {volume:.4g} (objectives normalised to the measured range)"
    if report["constraints"]:
        found += "\n\nConstraints: " + "; ".join(f"`{c}`" for c in report["constraints"])
    return f"{run.note}\n\n### Optimum\n{found}"
