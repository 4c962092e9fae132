"""Counterfactual fixes of a faulty configuration on the options of the top causal paths.

Each change (one to ``max_changes`` options from the top paths, set to other observed levels; on
a replay, the recorded configurations instead) gets *Potential* = P(every goal holds had the
options been changed) and *Control* = P(every goal holds without the change). Events measured on
the faulty row keep their abducted noise (abduction-action-prediction), and a measured objective
moves from its measured value by the change each replicate predicts (``StructuralModel.counterfactual``):
a goal the faulty row already meets counts only when a change would break it, and Control of a
measured fault is 0. The probability is over the structural model's replicates. Fixes with a
predicted gain (Potential > Control) come first; then they are ranked by Potential - Control less
0.05 per extra changed option (a larger change must be clearly better to win), then by the
predicted margin to the goals the faulty row misses. ``extra`` change sets (the loop's "move the top paths' options to
the best measured configuration") are scored the same way beside them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from tradeoff.causal.effects import CausalPath, StructuralModel, spread
from tradeoff.causal.goals import Goal
from tradeoff.causal.graph import Variables, numeric_changes, numeric_row, original_values, plain

CHANGE_PENALTY = 0.05  # Potential - Control given up per extra changed option


@dataclass
class Fix:
    changes: dict  # option -> new value (in the data's types)
    potential: float  # P(every goal holds with the change)
    control: float  # P(every goal holds without it)
    predicted: dict  # objective -> predicted value with the change (mean over replicates)
    margin: float = 0.0  # mean signed distance to the missed goals in standard deviations, lower is better (breaks ties)
    support: str = "causal"  # "causal" where every changed option has a causal path, else the weak evidence
    origin: str = "counterfactual"  # "best measured": the top paths' options copied from the best measured configuration;
    # "simplify": a changed option set back once the goals held

    @property
    def effect(self) -> float:
        return self.potential - self.control

    @property
    def score(self) -> float:
        return self.effect - CHANGE_PENALTY * (len(self.changes) - 1)

    def describe(self) -> str:
        text = ", ".join(f"{k}={plain(v)}" for k, v in self.changes.items())
        if self.origin == "simplify":
            return f"{text} (back to the faulty value: is the change needed?)"
        return text if self.support == "causal" else f"{text} (weakly supported: {self.support})"


def counterfactual_fixes(model: StructuralModel, faulty: pd.Series, goals: list[Goal], paths: list[CausalPath],
                         data: pd.DataFrame, max_changes: int = 3, per_option: int = 2,
                         recorded: list[dict] | None = None, extra: list[dict] = ()) -> list[Fix]:
    """Candidate fixes on the options of the top paths, best first (module docstring). With
    ``recorded`` (a replay's configurations) the candidates are the recorded configurations
    that change an option of the top paths, the nearest 1000 of them."""
    numeric_faulty = numeric_row(faulty, data, model.variables)
    options = list(dict.fromkeys(p.nodes[0] for p in paths))
    targets = [g.metric for g in goals]
    baseline = model.counterfactual(numeric_faulty, {}, targets)
    control = _probability(baseline, goals)

    # the margin measures the way to the goals still to meet: going further past one that holds is no gain
    missed = [g for g in goals if not (pd.notna(faulty.get(g.metric)) and bool(g.holds(float(faulty[g.metric]))))] or goals

    def evaluate(changes: dict) -> Fix:
        frame = model.counterfactual(numeric_faulty, changes, targets)
        return Fix(original_values(changes, data), _probability(frame, goals), control,
                   {g.metric: float(frame[g.metric].mean()) for g in goals}, _margin(frame, missed, data))

    copies = [replace(evaluate(numeric_changes(changes, data)), origin="best measured") for changes in extra if changes]
    if recorded is not None:
        return sorted(_recorded_fixes(recorded, faulty, options, evaluate, data, model.variables, goals) + copies,
                      key=lambda f: _rank_key(f, goals))
    singles: dict[str, list[Fix]] = {}
    for option in options:
        current = numeric_faulty[option]
        fixes = [evaluate({option: level}) for level in model.levels(option) if not math.isclose(level, current)]
        singles[option] = sorted(fixes, key=lambda f: _rank_key(f, goals))[:per_option]
    fixes = [f for group in singles.values() for f in group]
    best_options = sorted(singles, key=lambda o: _rank_key(singles[o][0], goals) if singles[o] else (math.inf,))[:6]
    for size in range(2, max_changes + 1):
        for combination in itertools.combinations(best_options, size):
            for choice in itertools.product(*(singles[o] for o in combination)):
                changes = {k: v for fix in choice for k, v in fix.changes.items()}
                fixes.append(evaluate(numeric_changes(changes, data)))
    return sorted(fixes + copies, key=lambda f: _rank_key(f, goals))


def _recorded_fixes(recorded: list[dict], faulty: pd.Series, options: list[str], evaluate, data: pd.DataFrame,
                    variables: Variables, goals: list[Goal]) -> list[Fix]:
    change_sets = []
    for config in recorded:
        changes = {o: config[o] for o in variables.options if str(config[o]) != str(faulty[o]) and not _same(config[o], faulty[o])}
        if changes and any(o in changes for o in options):
            change_sets.append(changes)
    change_sets = sorted(change_sets, key=len)[:1000]
    return [evaluate(numeric_changes(changes, data)) for changes in change_sets]


def _same(a, b) -> bool:
    try:
        return math.isclose(float(a), float(b))
    except (TypeError, ValueError):
        return False


def _rank_key(fix: Fix, goals: list[Goal]) -> tuple:
    # a predicted gain first, then the score; then how far below (or above) the goals the change is predicted to land, then fewer changes
    return (round(fix.effect, 6) <= 0, -round(fix.score, 6), round(fix.margin, 6), len(fix.changes))


def _margin(frame: pd.DataFrame, goals: list[Goal], data: pd.DataFrame) -> float:
    total = 0.0
    for goal in goals:
        gap = float(np.mean(frame[goal.metric].to_numpy() - goal.threshold)) / spread(data[goal.metric])
        total += gap if goal.minimize else -gap
    return total


def _probability(frame: pd.DataFrame, goals: list[Goal]) -> float:
    ok = np.ones(len(frame), dtype=bool)
    for goal in goals:
        ok &= goal.holds(frame[goal.metric].to_numpy())
    return float(ok.mean())

