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
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import yaml
from prefect import flow

from systems import get_system
from systems.base import System
from tasks.debug import initial_sample, measure_configs, track_debug
from tradeoff.causal import loop
from tradeoff.causal.baseline import decision_tree_fix
from tradeoff.causal.goals import Goal, goals_hold, parse_goals
from tradeoff.causal.graph import Variables, from_measurements
from tradeoff.errors import TradeoffError
from tradeoff.measurements import MeasurementStore, aggregate
from tradeoff.plots import causal as causal_plots
from tradeoff.space import config_id

DEFAULT_RUNS = Path("tradeoff-runs")


@dataclass
class DebugSettings:
    system: str
    goals: list[str]
    config: str | None = None  # a YAML file with the faulty configuration (missing options take defaults)
    row: str | None = None  # or the config_id of a measured configuration in --data
    data: str | None = None
    events: list[str] = field(default_factory=list)  # metrics that are events (default: the system's own list)
    environment: str | None = None
    workload: str | None = None
    budget: int = 5
    initial: int = 20
    timeout: float = 60.0
    seed: int = 0
    top_k: int = 10
    max_changes: int = 3
    alpha: float = 0.05
    out: str | None = None
    ray_address: str | None = None
    tracking_uri: str | None = None
    experiment: str = "tradeoff-debug"

    def resolve(self) -> tuple[System, str, list[Goal], dict | None]:
        """The system, workload, goals and (from --config) the faulty configuration; every check first."""
        if (self.config is None) == (self.row is None):
            raise TradeoffError("give the faulty configuration with exactly one of --config FILE.yaml or --row CONFIG_ID")
        if self.row is not None and self.data is None:
            raise TradeoffError("--row names a configuration in --data; give --data DIR too")
        if self.budget < 1 or self.initial < 5:
            raise TradeoffError("--budget must be at least 1 and --initial at least 5")
        if not self.goals:
            raise TradeoffError("give at least one --goal, e.g. --goal 'latency <= 10'")
        self.loop_config()
        system = get_system(self.system, self.environment, self.workload)
        system.check()
        workload = system.check_workload(self.workload or system.default_workload)
        goals = parse_goals(self.goals)
        for goal in goals:
            system.metric(goal.metric)
        for event in self.events:
            system.metric(event)
        faulty = None
        if self.config is not None:
            path = Path(self.config)
            if not path.is_file():
                raise TradeoffError(f"no configuration file {path}; write the faulty options as 'option: value' lines")
            values = yaml.safe_load(path.read_text()) or {}
            if not isinstance(values, dict):
                raise TradeoffError(f"{path} is not a mapping of option: value")
            faulty = system.space.validate(values, fill_defaults=True)
        return system, workload, goals, faulty

    def loop_config(self) -> loop.DebugConfig:
        """The causal loop's settings (checked on construction; resolve() builds it once to check early)."""
        return loop.DebugConfig(alpha=self.alpha, top_k=self.top_k, max_changes=self.max_changes, budget=self.budget,
                                seed=self.seed)

    def name(self) -> str:
        key = json.dumps(asdict(self), sort_keys=True, default=str)
        return re.sub(r"[^A-Za-z0-9_.+-]+", "_", f"debug-{Path(self.system).name}-{hashlib.sha1(key.encode()).hexdigest()[:8]}")


@dataclass
class DebugOutcome:
    folder: Path
    result: loop.DebugResult
    goals: list[Goal]
    baseline: dict  # the decision tree's changes, predicted and measured metrics
    tracking_uri: str
    run_id: str


@flow(name="debug")
def debug(settings: DebugSettings) -> DebugOutcome:
    system, workload, goals, faulty = settings.resolve()
    folder = Path(settings.out or DEFAULT_RUNS / settings.name())
    campaign = hashlib.sha1(f"debug|{folder.resolve()}".encode()).hexdigest()[:12]
    events = settings.events or list(getattr(system, "event_metrics", []))
    objectives = list(dict.fromkeys(g.metric for g in goals))

    def measure(configs: list[dict]) -> list[dict | None]:
        return measure_configs(system, configs, workload, settings.timeout, folder, campaign, settings.ray_address)

    if settings.data:
        frame = MeasurementStore(settings.data).read()
        frame = frame[frame["workload"] == workload] if "workload" in frame else frame
    else:
        configs = initial_sample(system, settings.initial, settings.seed)
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
    baseline = _baseline(data, variables, faulty, goals, measure, _measurable(system))
    files = _write(folder, result, baseline, goals)
    params = {k: v for k, v in asdict(settings).items() if v not in (None, []) and k not in ("tracking_uri", "ray_address")}
    params.update(workload=workload, goals="; ".join(map(str, goals)), faulty=json.dumps(faulty, default=str)[:500])
    metrics = {"fixed": float(result.fixed), "measurements": result.measurements, "wall_s": result.wall_s,
               "baseline_fixed": float(baseline.get("fixed", False))}
    for goal in goals:
        before, after = result.faulty_metrics.get(goal.metric), result.best_metrics.get(goal.metric)
        metrics[f"faulty_{goal.metric}"], metrics[f"fixed_{goal.metric}"] = before, after
        metrics[f"gain_{goal.metric}_pct"] = _gain(before, after, goal)
        if baseline.get("measured"):
            metrics[f"baseline_gain_{goal.metric}_pct"] = _gain(before, baseline["measured"].get(goal.metric), goal)
    uri, run_id = track_debug(settings.experiment, settings.tracking_uri, folder.name, params,
                              {k: float(v) for k, v in metrics.items() if v is not None}, files)
    return DebugOutcome(folder, result, goals, baseline, uri, run_id)


def _measurable(system: System):
    """Fixes must satisfy the space's constraints and, on a replay, have been recorded."""
    population = system.space.population
    recorded = None if population is None else {config_id(c) for c in population.to_dict("records")}

    def valid(config: dict) -> bool:
        if not system.space.is_valid(config):
            return False
        return recorded is None or config_id(system.space.validate(config)) in recorded
    return valid


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
    pd.DataFrame([{"objective": o, "path": str(p), "ace": p.ace} for o, ps in diagnosis.paths.items() for p in ps]).to_csv(paths, index=False)
    fixes = folder / "fixes.csv"
    pd.DataFrame([{"changes": f.describe(), "potential": f.potential, "control": f.control,
                   **{f"predicted_{k}": v for k, v in f.predicted.items()}} for f in diagnosis.fixes[:20]]).to_csv(fixes, index=False)
    steps = folder / "steps.csv"
    pd.DataFrame([{"step": i + 1, "changes": s.fix.describe(), "potential": s.fix.potential, "control": s.fix.control,
                   **{f"predicted_{k}": v for k, v in s.fix.predicted.items()},
                   **{f"measured_{g.metric}": (s.measured or {}).get(g.metric) for g in goals}, "fixed": s.fixed}
                  for i, s in enumerate(result.steps)]).to_csv(steps, index=False)
    summary = folder / "debug.json"
    summary.write_text(json.dumps({
        "fixed": result.fixed, "measurements": result.measurements, "wall_s": result.wall_s,
        "faulty": result.faulty, "faulty_metrics": result.faulty_metrics, "best": result.best, "best_metrics": result.best_metrics,
        "root_causes": diagnosis.root_causes, "baseline": baseline, "goals": [str(g) for g in goals]}, indent=2, default=str))
    return [dot, picture, paths, fixes, steps, summary]
