"""The Prefect flow ``debug``: explain a performance fault by its causes and fix it by measuring.

Data to learn from: a campaign folder (``--data``) or a fresh random sample measured first.
The loop itself is ``tradeoff.causal.loop.debug``; this flow gives it a ``measure`` that runs on Ray
and stores every measurement in the session's folder, measures the decision-tree baseline's fix
beside it, writes the graph (DOT and PNG), the ranked paths, fixes and steps, and logs all of it
to MLflow.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from prefect import flow

from systems.base import System
from tasks.debug import asked_again, initial_sample, measure_configs
from tasks.settings import DebugSettings
from tasks.tracking import target_tags, tracked
from tradeoff.causal import loop
from tradeoff.causal.baseline import decision_tree_fix
from tradeoff.causal.goals import Goal, goals_hold, parse_goals
from tradeoff.causal.graph import Variables, from_measurements
from tradeoff.errors import TradeoffError
from tradeoff.measurements import MeasurementStore, aggregate
from tradeoff.plots import causal as causal_plots
from tradeoff.space import config_id

@dataclass
class DebugOutcome:
    folder: Path
    result: loop.DebugResult
    goals: list[Goal]
    baseline: dict  # the decision tree's changes, predicted and measured metrics
    tracking_uri: str
    run_id: str
    tracking_problem: str | None = None  # why logging to MLflow failed, where it did (the data are kept)


@flow(name="debug")
def debug(settings: DebugSettings) -> DebugOutcome:
    settings = settings.resolve()
    system, workload = settings.target.build(), settings.target.workload
    goals = parse_goals(settings.goals)
    faulty = settings.faulty(system) if settings.config else None
    folder = Path(settings.out)
    campaign = hashlib.sha1(f"debug|{folder.resolve()}".encode()).hexdigest()[:12]
    events = settings.events or list(getattr(system, "event_metrics", []))
    objectives = list(dict.fromkeys(g.metric for g in goals))

    with tracked(settings.tracking, f"{folder.name} debug", campaign=campaign, campaign_name=folder.name,
                 tags=target_tags(system, workload)) as run:
        asked: dict[str, int] = {}

        def measure(configs: list[dict]) -> list[dict | None]:  # a configuration asked for again is measured again
            return measure_configs(settings.target, configs, settings.execution, folder, campaign, asked_again(asked, configs))

        if settings.data:
            frame = MeasurementStore(settings.data).read()
            frame = frame[frame["workload"] == workload] if "workload" in frame else frame
        else:
            configs = initial_sample(settings.target, settings.initial, settings.seed)
            measure(configs)
            frame = MeasurementStore(folder).read()
        table = aggregate(frame)
        data, variables = from_measurements(table, objectives)
        variables = Variables(variables.options, tuple(e for e in variables.events if e in events), variables.objectives)
        faulty_metrics = None
        if settings.row is not None:
            match = table[table["config_id"] == settings.row]
            if match.empty:
                raise TradeoffError(f"no configuration {settings.row} in {settings.data}; 'tradeoff show {settings.data}' lists ids")
            ok, _ = from_measurements(match, objectives)
            faulty = {o: ok.iloc[0][o] for o in variables.options}
            faulty_metrics = ok.iloc[0][[*variables.events, *variables.objectives]].to_dict()
        else:
            faulty = {o: faulty[o] for o in variables.options}

        result = loop.debug(data, variables, faulty, goals, measure, settings.loop_config(), faulty_metrics=faulty_metrics,
                            valid=_measurable(system),
                            recorded=None if system.space.population is None else system.space.population.to_dict("records"))
        first = lambda configs: measure_configs(settings.target, configs, settings.execution, folder, campaign)  # noqa: E731
        baseline = _baseline(data, variables, faulty, goals, first, _measurable(system))  # a fix the loop measured is not measured again
        files = _write(folder, result, baseline, goals)
        params = {"system": settings.target.system, "environment": system.environment, "workload": workload,
                  "goals": "; ".join(map(str, goals)), "faulty": json.dumps(faulty, default=str)[:500], "budget": settings.budget,
                  "initial": settings.initial, "seed": settings.seed, "top_k": settings.top_k, "max_changes": settings.max_changes,
                  "confirm": settings.confirm, "alpha": settings.alpha, "timeout": settings.execution.timeout,
                  **{k: v for k, v in (("config", settings.config), ("row", settings.row), ("data", settings.data)) if v}}
        metrics = {"fixed": float(result.fixed), "measurements": result.measurements, "wall_s": result.wall_s,
                   "baseline_fixed": float(baseline.get("fixed", False))}
        for goal in goals:
            before, after = result.faulty_metrics.get(goal.metric), result.best_metrics.get(goal.metric)
            metrics[f"faulty_{goal.metric}"], metrics[f"fixed_{goal.metric}"] = before, after
            metrics[f"gain_{goal.metric}_pct"] = _gain(before, after, goal)
            if baseline.get("measured"):
                metrics[f"baseline_gain_{goal.metric}_pct"] = _gain(before, baseline["measured"].get(goal.metric), goal)
        for number, step in enumerate(result.steps, 1):  # one nested run per round: the fix tried, predicted and measured
            measured = step.measured or {}
            run.child(f"{folder.name} round {number}", params={"changes": step.fix.describe()[:500]}, tags={"fixed": step.fixed},
                      metrics={"potential": step.fix.potential, "control": step.fix.control,
                               **{f"predicted_{k}": v for k, v in step.fix.predicted.items()},
                               **{f"measured_{g.metric}": measured.get(g.metric) for g in goals},
                               **{f"error_{g.metric}_pct": _error(step.fix.predicted.get(g.metric), measured.get(g.metric)) for g in goals}})
            run.step({**{f"measured_{g.metric}": measured.get(g.metric) for g in goals}, "fixed": float(step.fixed),
                      **{f"error_{g.metric}_pct": _error(step.fix.predicted.get(g.metric), measured.get(g.metric)) for g in goals}}, number)
        run.log_params(params)
        run.record(folder=folder, metrics=metrics, files=files, description=debug_note(system, workload, result, baseline, goals))
    return DebugOutcome(folder, result, goals, baseline, run.uri, run.campaign_run_id, run.problem)


def _measurable(system: System):
    """Fixes must satisfy the space's constraints and, on a replay, have been recorded."""
    population = system.space.population
    recorded = None if population is None else {config_id(c) for c in population.to_dict("records")}

    def valid(config: dict) -> bool:
        if not system.space.is_valid(config):
            return False
        return recorded is None or config_id(system.space.validate(config)) in recorded
    return valid


def _error(predicted: float | None, measured: float | None) -> float | None:
    """How far a round's prediction was from its measurement, in percent of the measurement."""
    if predicted is None or measured is None or measured == 0:
        return None
    return abs(predicted - measured) / abs(measured) * 100


def debug_note(system: System, workload: str, result: loop.DebugResult, baseline: dict, goals: list[Goal]) -> str:
    """The description: the fault, its root causes, the fix and whether it met the goals."""
    causes = ", ".join(f"`{option}` ({effect:.2f})" for option, effect in result.diagnosis.root_causes[:5]) or "none found"
    fix = ", ".join(f"`{k}={v}`" for k, v in result.best.items() if result.faulty.get(k) != v) or "no change"
    gains = "; ".join(f"{g.metric}: {result.faulty_metrics.get(g.metric, float('nan')):.4g} -> {result.best_metrics.get(g.metric, float('nan')):.4g}"
                      for g in goals)
    return (f"### Debugging `{system.name}` {system.program_version()}, environment `{system.environment}`, workload `{workload}`\n"
            f"Goals: {', '.join(f'`{g}`' for g in goals)}\n\n**Root causes** (average causal effect): {causes}\n\n"
            f"**Fix**: {fix} ({gains}); **{'FIXED' if result.fixed else 'NOT FIXED'}** after {result.measurements} measurements, "
            f"{len(result.steps)} rounds. Decision-tree baseline: {'goal met' if baseline.get('fixed') else 'goal not met'}.")


def _gain(before: float | None, after: float | None, goal: Goal) -> float | None:
    """Improvement in percent of the faulty value (positive is better, whatever the direction)."""
    if before is None or after is None or before == 0:
        return None
    change = (before - after) / abs(before) * 100
    return change if goal.minimize else -change


def _baseline(data: pd.DataFrame, variables: Variables, faulty: dict, goals: list[Goal], measure,
              valid) -> dict:
    """The decision tree's fix for the first goal, measured once (it gets no loop)."""
    changes, predicted = decision_tree_fix(data, variables, faulty, goals[0])
    if not changes or not valid({**faulty, **changes}):
        return {"changes": changes, "predicted": predicted, "measured": None, "fixed": False}
    measured = measure([{**faulty, **changes}])[0]
    return {"changes": changes, "predicted": predicted, "measured": measured,
            "fixed": measured is not None and goals_hold(measured, goals)}


def _write(folder: Path, result: loop.DebugResult, baseline: dict, goals: list[Goal]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    diagnosis = result.diagnosis
    dot, picture = folder / "causal_graph.dot", folder / "causal_graph.png"
    dot.write_text(diagnosis.graph.to_dot())
    top = [p.nodes for ps in diagnosis.paths.values() for p in ps]
    causal_plots.graph(diagnosis.graph, picture, highlight=top)
    paths = folder / "paths.csv"
    pd.DataFrame([{"objective": o, "path": " -> ".join(p.nodes), "ace": p.ace, "support": p.support}
                  for o, ps in diagnosis.paths.items() for p in ps]).to_csv(paths, index=False)
    fixes = folder / "fixes.csv"
    pd.DataFrame([{"changes": f.describe(), "potential": f.potential, "control": f.control, "support": f.support, "origin": f.origin,
                   **{f"predicted_{k}": v for k, v in f.predicted.items()}} for f in diagnosis.fixes[:20]]).to_csv(fixes, index=False)
    steps = folder / "steps.csv"
    pd.DataFrame([{"step": i + 1, "changes": s.fix.describe(), "origin": s.fix.origin, "potential": s.fix.potential, "control": s.fix.control,
                   **{f"predicted_{k}": v for k, v in s.fix.predicted.items()},
                   **{f"measured_{g.metric}": (s.measured or {}).get(g.metric) for g in goals}, "fixed": s.fixed, "measurements": s.repeats}
                  for i, s in enumerate(result.steps)]).to_csv(steps, index=False)
    summary = folder / "debug.json"
    summary.write_text(json.dumps({
        "fixed": result.fixed, "measurements": result.measurements, "fixed_after": result.fixed_after, "wall_s": result.wall_s,
        "faulty": result.faulty, "faulty_metrics": result.faulty_metrics, "best": result.best, "best_metrics": result.best_metrics,
        "root_causes": diagnosis.root_causes, "support": diagnosis.support, "baseline": baseline,
        "goals": [str(g) for g in goals]}, indent=2, default=str))
    return [dot, picture, paths, fixes, steps, summary]


def _verdict(step: loop.Step) -> str:
    """"goal met" of a step; a narrow one was measured twice and says whether the repeat confirmed it."""
    if step.repeats == 1:
        return "yes" if step.fixed else "no"
    return "yes, confirmed" if step.fixed else "no, not confirmed"


def report_lines(outcome: DebugOutcome) -> list:
    """What ``tradeoff debug`` prints: root causes, causal paths, the steps as a table, gains, the baseline, the verdict."""
    from rich.table import Column, Table
    result, diagnosis, goals = outcome.result, outcome.result.diagnosis, outcome.goals
    lines: list = ["root causes (options by average causal effect, in standard deviations of the objective):"]
    lines += [f"  {option}  {effect:.2f}" for option, effect in diagnosis.root_causes[:8]]
    for metric, paths in diagnosis.paths.items():
        support = diagnosis.support.get(metric, "causal")
        if support != "causal":
            lines.append(f"no causal path to {metric} at the configured FCI level: its candidates are weakly supported ({support})")
        lines.append(f"causal paths to {metric} (ACE):")
        lines += [f"  {path.ace:10.4g}  {path}" for path in paths[:5]]
    table = Table("step", Column("changes", overflow="fold", min_width=24), "potential", "control",
                  *[f"predicted {g.metric}" for g in goals], *[f"measured {g.metric}" for g in goals], "goal met")
    for number, step in enumerate(result.steps, 1):
        table.add_row(str(number), step.fix.describe(), f"{step.fix.potential:.2f}", f"{step.fix.control:.2f}",
                      *[f"{step.fix.predicted.get(g.metric, float('nan')):.4g}" for g in goals],
                      *[f"{(step.measured or {}).get(g.metric, float('nan')):.4g}" for g in goals], _verdict(step))
    lines.append(table)
    for goal in goals:
        before, after = result.faulty_metrics.get(goal.metric), result.best_metrics.get(goal.metric)
        gain = _gain(before, after, goal)
        lines.append(f"{goal.metric}: faulty {before:.4g} -> best measured {after:.4g}, measured gain "
                     f"{float('nan') if gain is None else gain:.1f}% (goal {goal})")
    base = outcome.baseline
    measured = base.get("measured") or {}
    verdict = (", ".join(f"measured {g.metric} {measured[g.metric]:.4g}" for g in goals if g.metric in measured)
               if measured else "not measured (it breaks a constraint or, on a replay, was never recorded)")
    lines.append(f"decision-tree baseline: {', '.join(f'{k}={v}' for k, v in base['changes'].items()) or 'no change'}; "
                 f"{verdict}; goal met: {'yes' if base.get('fixed') else 'no'}")
    when = f"goals first met at measurement {result.fixed_after}, " if result.fixed else ""
    lines.append(f"{'FIXED' if result.fixed else 'NOT FIXED'} ({when}{result.measurements} measurements in all) in {result.wall_s:.1f} s; "
                 f"files in {outcome.folder}; MLflow run {outcome.run_id}")
    return lines
