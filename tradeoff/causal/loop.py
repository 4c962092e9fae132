"""The debug loop: diagnose a faulty configuration, measure the best untried fix, learn from it, repeat.

``explain`` fits the graph and its structural model and ranks the paths to each objective. It
never leaves an objective without candidates: where FCI finds no directed path from an option,
it falls back first to the options significantly associated with the objective on their own
(Spearman, p < 0.05: options set at random cannot be confounded, so a marginal association is
a total effect, one that FCI's conditional tests on few rows may not resolve into a path), then
to the options that are possible ancestors in the PAG, then refits with a doubled significance
level (up to 0.4) for that objective alone and keeps the edges of its new paths, and last to
the options most associated with the objective; the paths and fixes of each fallback are
labelled weakly supported. ``diagnose`` adds the counterfactual fixes of one
configuration. ``debug`` measures the best untried fix through a ``measure(configs) -> metrics``
callable, adds it to the data, relearns the graph and repeats until the goals hold or the budget
is spent. Fixes accumulate: each round's fix is built on the best configuration measured so
far (at most ``max_total`` options changed from the faulty one, and only a gain of more than 10%
makes a trial the new base), and one candidate moves the options of the top paths to their
values in the best configuration measured at all. A fix is never a configuration measured
already, and never sets an option the best so far changed back to the fault's value. A fix that
fails hints at a cause the graph missed, so each failure (and each round without an untried
fix) doubles FCI's significance level, up to 0.2, for the next round; a fix that does not
improve on the best so far, or a round whose candidates all lack a predicted gain, widens the
candidates of each missed goal's metric by three options without a path to it (the root causes
of the other goals first, then the options most associated with it on the rows that share the
options fixed so far), labelled weakly supported. Once every option has joined and no fix keeps
these rules, they give way before the budget is left unspent: the cap of changed options rises
step by step, then a fix may set an option back to the fault's value, and last the untried
configuration nearest the best so far is measured; the loop stops early only with nothing
untried within reach. A measurement that meets every goal, one the fault missed narrowly (within
``confirm``, a fraction of its threshold: the noise of times and energies scales with them), is
measured again and meets them only if the repeat does too: the first draw was selected for meeting
them, so it leans to luck (the mean of the two would keep much of it), and one lucky draw otherwise
ends the loop on a fix that misses noise-free (bench/RESULTS.md, issue 17: 4 of the 7 imprecise
fixes on seeds 1000-1009). A fix that fails this is not the best so far. Once the goals hold, the
fix is simplified: each changed option, the least supported first, is reverted to its faulty value
and kept reverted where the measurement still meets every goal (confirmed as above: a lucky revert
drops a root cause), so the fix a user applies changes root causes only (accumulated changes that
merely helped on the way are dropped).
``DebugConfig`` holds the loop's settings, checked once.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

import networkx as nx
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from tradeoff.causal.effects import CAUSAL, CausalPath, StructuralModel, rank_paths, spread
from tradeoff.causal.fixes import Fix, counterfactual_fixes
from tradeoff.causal.goals import Goal, goals_hold
from tradeoff.causal.graph import CausalGraph, Variables, fit_graph, numeric_coding, plain
from tradeoff.errors import TradeoffError
from tradeoff.space import config_id

log = logging.getLogger(__name__)

MAX_ALPHA = 0.2  # the loop doubles FCI's significance level after each failed fix or a round without one, up to this
WEAKEST_ALPHA = 0.4  # the most liberal level the diagnosis refits at for an objective without a path
ASSOCIATED = 3  # options the last fallback offers: the most associated with the objective
ASSOCIATION = "association only, no causal path"
SIGNIFICANT = "randomly set option significantly associated with it, no causal path"
SIGNIFICANCE = 0.05  # of the Spearman test that makes an option without a path a first fallback candidate
WIDENED = "no causal path, tried once the paths found offered no gain"
MIN_STRATUM = 8  # rows sharing the fixed options needed to rank the widened candidates on them alone
TOP_PATHS_COPIED = 3  # per objective: the paths whose options the "best measured" candidate copies
MIN_GAIN = 0.1  # the relative gain over the best so far for the loop to build its next fixes on a trial


@dataclass(frozen=True, kw_only=True)
class DebugConfig:
    """How the loop learns and how much it may measure; checked once, here."""

    alpha: float = 0.05  # FCI's significance level in the first round
    depth: int = 2  # FCI's largest conditioning set (-1: no limit)
    top_k: int = 10  # causal paths kept per objective
    max_changes: int = 3  # most options one fix may change
    max_total: int = 4  # most options the accumulated fix may change from the faulty configuration
    budget: int = 10  # measurements the loop may spend (the faulty configuration's included when it is measured)
    seed: int = 0  # of the structural model's forests
    simplify: bool = True  # once fixed, revert each changed option whose revert keeps every goal (one measurement each)
    confirm: float = 0.0  # a fix meeting a goal the fault missed within this fraction of its threshold is measured again (0: never)

    def __post_init__(self):
        for name in ("depth", "top_k", "max_changes", "max_total", "budget", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TradeoffError(f"{name} must be a whole number, got {value!r}")
        if not 0 < self.alpha < 1:
            raise TradeoffError(f"alpha is FCI's significance level, between 0 and 1, got {self.alpha}; 0.05 is usual")
        if self.depth < -1:
            raise TradeoffError(f"depth must be -1 (no limit) or at least 0, got {self.depth}")
        for name in ("top_k", "max_changes", "max_total", "budget"):
            if getattr(self, name) < 1:
                raise TradeoffError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.confirm < 1:
            raise TradeoffError(f"confirm is a fraction of a goal's threshold, at least 0 and below 1, got {self.confirm}; "
                                "0 never measures a fix again, 0.15 does within 15% of a threshold")
        if self.seed < 0:
            raise TradeoffError(f"seed must be at least 0, got {self.seed}")


@dataclass
class Diagnosis:
    graph: CausalGraph
    root_causes: list[tuple[str, float]]  # options with a causal path to an objective, by total ACE
    paths: dict[str, list[CausalPath]]  # objective -> its top paths
    fixes: list[Fix]
    support: dict[str, str] = field(default_factory=dict)  # objective -> "causal" or the fallback its paths come from


@dataclass
class Explanation:
    """What the data says causes the objectives, independent of any one faulty configuration."""

    graph: CausalGraph
    model: StructuralModel
    root_causes: list[tuple[str, float]]  # options with a causal path to an objective, by total ACE (in std. dev.)
    paths: dict[str, list[CausalPath]]  # objective -> its top paths
    support: dict[str, str] = field(default_factory=dict)  # objective -> "causal" or the fallback its paths come from

    @property
    def top_paths(self) -> list[CausalPath]:
        return [p for ps in self.paths.values() for p in ps]


def explain(data: pd.DataFrame, variables: Variables, objectives: Iterable[str],
            config: DebugConfig = DebugConfig(), widen: dict[str, int] | None = None, context: dict | None = None,
            fits: GraphFits | None = None) -> Explanation:
    """The causal graph, its structural model, the root causes and the top paths to each objective
    (with the fallbacks of the module docstring where an objective has no directed path). ``widen``
    (objective -> n): n options without a path to that objective join it as weakly supported
    candidates (``_widening``: the loop's way forward once its fixes stall), ranked on the rows
    that share ``context``'s options. ``fits`` reuses FCI fits of the same data."""
    fits = fits or GraphFits()
    graph = fits(data, variables, config.alpha, config.depth)
    objectives = list(objectives)
    support = {objective: _ensure_paths(graph, data, variables, objective, config, fits) for objective in objectives}
    causes_anywhere = list(dict.fromkeys(p[0] for objective in objectives for p in graph.causal_paths(objective)))
    for objective, count in (widen or {}).items():
        if count and objective not in graph.dropped:
            extra = _widening(data, variables, objective, graph, causes_anywhere, context)[:count]
            log.info("widening the candidates for %s: %s", objective, ", ".join(extra) or "none left")
            graph.directed.update({(o, objective): WIDENED for o in extra})
    model = StructuralModel(graph, data, seed=config.seed)
    paths, causes = {}, {}
    for objective in objectives:
        paths[objective] = rank_paths(model, objective, config.top_k)
        for option in dict.fromkeys(p[0] for p in graph.causal_paths(objective)):
            causes[option] = max(causes.get(option, 0.0), model.total_effect(option, objective) / spread(data[objective]))
    return Explanation(graph, model, sorted(causes.items(), key=lambda item: -item[1]), paths, support)


class GraphFits:
    """FCI fits of one growing data set by (rows, level, depth, columns): the loop refits the same
    data at the same level many times (each relaxation, each widening, the diagnosis's own
    fallbacks), and the data only grow. Each call returns a copy, which the diagnosis may extend."""

    def __init__(self):
        self._fits: dict[tuple, CausalGraph] = {}

    def __call__(self, data: pd.DataFrame, variables: Variables, alpha: float, depth: int) -> CausalGraph:
        key = (len(data), alpha, depth, tuple(data.columns), variables)
        if key not in self._fits:
            self._fits[key] = fit_graph(data, variables, alpha=alpha, depth=depth)
        return copy.deepcopy(self._fits[key])


def _widening(data: pd.DataFrame, variables: Variables, objective: str, graph: CausalGraph, causes: list[str],
              context: dict | None) -> list[str]:
    """Options without a path to the objective, most likely to act on it first: the root causes of
    the other objectives, then the options most associated with it on the rows that share the
    context's options (the configuration fixed so far: a cause whose effect needs another cause
    fixed shows there, x264's motion search once assembly is back on), else on every row."""
    on_paths = {p[0] for p in graph.causal_paths(objective)}
    rows = data
    if context:
        same = np.ones(len(data), dtype=bool)
        for option, value in context.items():
            same &= data[option].astype(str).to_numpy() == str(value)
        if same.sum() >= MIN_STRATUM:
            rows = data[same]
    ranked = [*causes, *_most_associated(rows, variables, objective), *_most_associated(data, variables, objective)]
    return [o for o in dict.fromkeys(ranked) if o not in on_paths]


def _ensure_paths(graph: CausalGraph, data: pd.DataFrame, variables: Variables, objective: str, config: DebugConfig,
                  fits: GraphFits) -> str:
    """How the objective's paths are supported, adding fallback edges to ``graph`` where it has none."""
    if objective in graph.dropped or graph.causal_paths(objective):
        return CAUSAL
    significant = _significantly_associated(data, variables, objective)[:ASSOCIATED]
    if significant:
        log.info("no directed path to %s at FCI alpha %g: %s are %ss", objective, config.alpha, ", ".join(significant), SIGNIFICANT)
        graph.directed.update({(o, objective): SIGNIFICANT for o in significant})
        return SIGNIFICANT
    possible = graph.possible_ancestors(objective)
    if possible:
        label = "possible ancestor in the PAG"
        log.info("no directed path to %s at FCI alpha %g: %s are %ss", objective, config.alpha, ", ".join(possible), label)
        graph.directed.update({(o, objective): label for o in possible})
        return label
    level = config.alpha
    while level < WEAKEST_ALPHA:
        level = min(WEAKEST_ALPHA, 2 * level)
        relaxed = fits(data, variables, level, config.depth)
        label = f"found only at FCI alpha {level:g}"
        digraph = graph.digraph()
        for path in relaxed.causal_paths(objective):
            for edge in zip(path, path[1:]):
                if edge not in graph.directed and not nx.has_path(digraph, edge[1], edge[0]):
                    graph.directed[edge] = label
                    digraph.add_edge(*edge)
        if graph.causal_paths(objective):
            log.info("no path to %s at FCI alpha %g: using the paths %s", objective, config.alpha, label)
            return label
    chosen = _most_associated(data, variables, objective)[:ASSOCIATED]
    log.info("no path to %s up to FCI alpha %g: offering the options most associated with it, %s",
             objective, WEAKEST_ALPHA, ", ".join(chosen) or "none")
    graph.directed.update({(o, objective): ASSOCIATION for o in chosen})
    return ASSOCIATION


def _most_associated(data: pd.DataFrame, variables: Variables, objective: str) -> list[str]:
    """Options by |Spearman rho| with the objective, strongest first (constant ones left out); a
    categorical option's categories in the order of the objective's median in each, as FCI sees them."""
    return list(_association(data, variables, objective).sort_values("rho", ascending=False, kind="stable").index)


def _significantly_associated(data: pd.DataFrame, variables: Variables, objective: str) -> list[str]:
    """Options whose Spearman association with the objective is significant at 0.05, strongest first."""
    table = _association(data, variables, objective)
    return list(table[table["p"] < SIGNIFICANCE].sort_values("rho", ascending=False, kind="stable").index)


def _association(data: pd.DataFrame, variables: Variables, objective: str) -> pd.DataFrame:
    """|Spearman rho| and its p-value for each varying option against the objective."""
    frame = data[[*variables.options, objective]].dropna()
    numeric = numeric_coding(frame)
    for option in variables.options:
        column = frame[option]
        if not (pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column)):
            numeric[option] = column.astype(str).map(frame[objective].groupby(column.astype(str)).median()).astype(float)
    varying = [o for o in variables.options if numeric[o].nunique() > 1]
    rows = {}
    if numeric[objective].nunique() > 1:
        for option in varying:
            rho, p = spearmanr(numeric[option], numeric[objective])
            if np.isfinite(rho) and rho != 0:
                rows[option] = (abs(float(rho)), float(p))
    return pd.DataFrame.from_dict(rows, orient="index", columns=["rho", "p"])


def diagnose(data: pd.DataFrame, variables: Variables, faulty: dict | pd.Series, goals: list[Goal],
             config: DebugConfig = DebugConfig(), recorded: list[dict] | None = None,
             best_measured: dict | None = None, widen: int = 0, context: dict | None = None,
             fits: GraphFits | None = None) -> Diagnosis:
    """Why the faulty configuration misses its goals, and the changes most likely to fix it. With
    ``best_measured`` (a configuration), one more candidate sets the options of the top paths to
    its values; ``widen`` adds that many candidate options to the metric of each goal the faulty
    row misses (``explain``, with ``context``)."""
    faulty = pd.Series(faulty)
    unknown = [g.metric for g in goals if g.metric not in variables.objectives]
    if unknown:
        raise TradeoffError(f"goal metric {unknown[0]!r} is not an objective; objectives: {', '.join(variables.objectives)}")
    lacking = [o for o in variables.options if o not in faulty]
    if lacking:
        raise TradeoffError(f"the faulty configuration lacks option {lacking[0]!r}; give every option")
    missed = {g.metric: widen for g in goals if widen and not goals_hold(faulty.to_dict(), [g])}
    explanation = explain(data, variables, dict.fromkeys(g.metric for g in goals), config, missed, context, fits)
    top = explanation.top_paths
    extra = []
    if best_measured is not None:
        copied = dict.fromkeys(p.nodes[0] for ps in explanation.paths.values() for p in ps[:TOP_PATHS_COPIED])
        extra = [{o: best_measured[o] for o in copied if str(best_measured[o]) != str(faulty[o])}]
    fixes = counterfactual_fixes(explanation.model, faulty, goals, top, data, max_changes=config.max_changes,
                                 recorded=recorded, extra=extra) if top else []
    label_support(fixes, top)
    return Diagnosis(explanation.graph, explanation.root_causes, explanation.paths, fixes, explanation.support)


def label_support(fixes: list[Fix], paths: list[CausalPath]) -> None:
    """Each fix's support: "causal" where every changed option starts a causal top path, else the
    weak evidence of the first that does not."""
    strength = {}  # option -> its strongest support over the paths
    for path in paths:
        strength[path.nodes[0]] = CAUSAL if not path.weak or strength.get(path.nodes[0]) == CAUSAL else path.support
    for fix in fixes:
        weak = [strength.get(o, "not on a top path") for o in fix.changes if strength.get(o) != CAUSAL]
        fix.support = weak[0] if weak else CAUSAL


@dataclass
class Step:
    config: dict
    fix: Fix
    measured: dict | None  # metrics (the mean of the repeats), None when the measurement failed
    fixed: bool
    repeats: int = 1  # measurements of this configuration: 2 where it met the goals narrowly and was confirmed


@dataclass
class DebugResult:
    fixed: bool
    faulty: dict
    faulty_metrics: dict
    best: dict  # the best measured configuration (the faulty one when nothing helped)
    best_metrics: dict
    steps: list[Step]
    diagnosis: Diagnosis  # of the first round, what explains the fault
    measurements: int  # in all, the simplification's included
    wall_s: float
    fixed_after: int | None = None  # measurements when the goals first held


def debug(data: pd.DataFrame, variables: Variables, faulty: dict, goals: list[Goal],
          measure: Callable[[list[dict]], list[dict | None]], config: DebugConfig = DebugConfig(), *,
          faulty_metrics: dict | None = None, valid: Callable[[dict], bool] = lambda config: True,
          recorded: list[dict] | None = None) -> DebugResult:
    """The debug loop: diagnose, measure the best untried fix, add it to the data, repeat until
    every goal holds or ``config.budget`` measurements are spent. Each round's fix is built on the
    best configuration measured in the loop so far, changing at most ``config.max_total`` options
    of the faulty one. ``measure`` returns one metrics dict per configuration (objectives and any
    events), or None for a failed run, each call a new measurement (a confirmation asks for the
    same configuration again); ``faulty_metrics`` spares measuring the faulty
    configuration; ``valid`` rules out configurations that cannot be measured (a broken
    constraint, one a replay never recorded); ``recorded`` makes a replay's recorded
    configurations the candidate fixes."""
    clock = time.perf_counter()
    faulty = {o: plain(faulty[o]) for o in variables.options}
    measurements = 0
    if faulty_metrics is None:
        faulty_metrics = measure([faulty])[0]
        measurements += 1
        if faulty_metrics is None:
            raise TradeoffError("the faulty configuration could not be measured; check that it runs")
    data = _with_row(data, variables, faulty, faulty_metrics)
    # every measured configuration is known: a candidate equal to one would teach nothing
    tried = {config_id({o: plain(row[o]) for o in variables.options}) for row in data[list(variables.options)].to_dict("records")}
    best, best_metrics, steps, first = faulty, faulty_metrics, [], None
    fixed = goals_hold(faulty_metrics, goals)
    level, widen, latest, fits = config.alpha, 0, None, GraphFits()
    missed = [g for g in goals if not goals_hold(faulty_metrics, [g])]  # the goals a lucky draw of a fix may fake

    while not fixed and measurements < config.budget:
        moved = {o: best[o] for o in best if not _same(best[o], faulty[o])}
        diagnosis = latest = diagnose(data, variables, {**best, **best_metrics}, goals, replace(config, alpha=level), recorded,
                                      best_measured=_best_row(data, variables, goals), widen=widen, context=moved, fits=fits)
        candidate = next((f for f in diagnosis.fixes if _allowed(f, best, faulty, tried, config.max_total, valid)), None)
        if candidate is None:
            if level < MAX_ALPHA:
                # no untried fix on the paths found: look for more paths first
                level = _relax(level, "no untried fix on the causal paths found")
                continue
            if widen < len(variables.options):
                widen += ASSOCIATED
                log.info("no untried fix on the causal paths at FCI alpha %g, the most the loop tests with: %d more options "
                         "join each missed goal's metric as weakly supported candidates", level, ASSOCIATED)
                continue
            # nothing more to learn and no fix within the rules: the rules give way before the budget is left unspent
            candidate = (_relaxed(diagnosis.fixes, best, faulty, tried, config.max_total, valid)
                         or _nearest_untried(data, variables, best, best_metrics, goals, tried, valid))
            if candidate is None:
                log.info("no untried configuration near the best so far: giving up after %d measurements", measurements)
                first = first or diagnosis
                break
        if candidate.effect <= 0 and widen < len(variables.options):
            # nothing on the paths found is predicted to help: widen before measuring a change without a predicted gain
            widen += ASSOCIATED
            log.info("no candidate with a predicted gain: %d more options join each missed goal's metric", ASSOCIATED)
            continue
        first = first or diagnosis
        trial = {**best, **candidate.changes}
        tried.add(config_id(trial))
        log.info("round %d: measuring %s on the best so far (potential %.2f, control %.2f)", len(steps) + 1,
                 candidate.describe(), candidate.potential, candidate.control)
        metrics, fixed, repeats = _measure_confirmed(trial, goals, missed, measure, config.confirm, config.budget - measurements)
        measurements += repeats
        log.info("round %d: %s", len(steps) + 1, "the measurement failed" if metrics is None else
                 ("every goal holds" if fixed else "goals missed") + ": " + ", ".join(f"{g.metric}={metrics.get(g.metric)}" for g in goals))
        if not fixed:
            # a fix that failed suggests a missed cause: test more liberally next round
            level = _relax(level, "the fix did not meet the goals, a cause may be missing")
        steps.append(Step(trial, candidate, metrics, fixed, repeats))
        if metrics is not None:
            data = _with_row(data, variables, trial, metrics)
        if fixed or metrics is not None and repeats == 1 and _better(metrics, best_metrics, goals):
            best, best_metrics = trial, metrics
        elif widen < len(variables.options):
            # the fix stalled: the paths found do not hold the missing cause, so untried options join the candidates
            widen += ASSOCIATED
            log.info("the fix did not improve on the best so far: %d more options join each missed goal's metric", ASSOCIATED)
    if first is None:
        first = diagnose(data, variables, {**faulty, **faulty_metrics}, goals, config, recorded, fits=fits)
    fixed_after = measurements if fixed else None
    if fixed and config.simplify:
        best, best_metrics, measurements = _simplify(best, best_metrics, faulty, goals, missed, measure, valid, tried, steps,
                                                     measurements, config, (latest or first).root_causes)
    return DebugResult(fixed, faulty, faulty_metrics, best, best_metrics, steps, first, measurements, time.perf_counter() - clock,
                       fixed_after)


def _allowed(fix: Fix, best: dict, faulty: dict, tried: set[str], max_total: int, valid: Callable[[dict], bool]) -> bool:
    """A fix the loop may measure on the best so far: a configuration not measured yet, changing 1 to
    ``max_total`` options of the faulty one, never setting an option the best changed back to the
    fault's value (the simplification does that, measured), and valid."""
    trial = {**best, **fix.changes}
    changed = sum(not _same(trial[o], faulty[o]) for o in faulty)
    restored = any(_same(v, faulty[o]) and not _same(best[o], faulty[o]) for o, v in fix.changes.items())
    return config_id(trial) not in tried and 0 < changed <= max_total and not restored and valid(trial)


def _relaxed(fixes: list[Fix], best: dict, faulty: dict, tried: set[str], max_total: int,
             valid: Callable[[dict], bool]) -> Fix | None:
    """The fix ranked first once ``_allowed``'s rules give way one step at a time: the cap of
    changed options rises by one until a fix fits, and only then may a fix set an option back to
    the fault's value. A best that reached the cap with a change that merely helped (the fault's
    noise regressing to the mean) otherwise leaves no fix at all; the simplification reverts such
    changes once the goals hold."""
    def relaxation(fix: Fix) -> tuple[bool, int]:
        trial = {**best, **fix.changes}
        changed = sum(not _same(trial[o], faulty[o]) for o in faulty)
        restored = any(_same(v, faulty[o]) and not _same(best[o], faulty[o]) for o, v in fix.changes.items())
        return restored, max(0, changed - max_total)

    untried = [f for f in fixes if config_id({**best, **f.changes}) not in tried and valid({**best, **f.changes})]
    if not untried:
        return None
    fix = min(untried, key=relaxation)  # min keeps the rank order among equals
    restored, over = relaxation(fix)
    log.info("no fix within the rules: %s%s", f"the cap of {max_total} changed options relaxed to {max_total + over}" if over
             else "the cap kept", ", an option set back to the fault's value" if restored else "")
    return fix


def _nearest_untried(data: pd.DataFrame, variables: Variables, best: dict, best_metrics: dict, goals: list[Goal],
                     tried: set[str], valid: Callable[[dict], bool]) -> Fix | None:
    """The last resort, once every fix the model offers was measured: the untried valid
    configuration nearest the best so far (fewest options changed, at levels seen in the data),
    changing the options most associated with the missed goals' metrics first."""
    missed = [g.metric for g in goals if not goals_hold(best_metrics, [g])] or [goals[0].metric]
    ranked = [o for metric in missed for o in _most_associated(data, variables, metric)]
    order = list(dict.fromkeys([*ranked, *variables.options]))
    levels = {o: [v for v in dict.fromkeys(plain(x) for x in data[o].dropna()) if not _same(v, best[o])] for o in order}
    for size in range(1, len(order) + 1):
        for options in itertools.combinations(order, size):
            for values in itertools.product(*(levels[o] for o in options)):
                changes = dict(zip(options, values))
                trial = {**best, **changes}
                if config_id(trial) not in tried and valid(trial):
                    log.info("every fix the model offers was measured: trying the nearest untried configuration, %s",
                             ", ".join(f"{o}={v}" for o, v in changes.items()))
                    return Fix(changes, math.nan, math.nan, {}, support="nearest untried configuration, no model",
                               origin="nearest untried")
    return None


def _simplify(best: dict, best_metrics: dict, faulty: dict, goals: list[Goal], missed: list[Goal], measure, valid, tried: set,
              steps: list, measurements: int, config: DebugConfig, causes: list[tuple[str, float]]) -> tuple[dict, dict, int]:
    """Revert the fix's changed options one by one (weakest cause first), keeping each revert whose
    measurement still meets every goal (a narrow one confirmed: a lucky revert drops a root cause),
    while the budget lasts."""
    rank = {option: i for i, (option, _) in enumerate(causes)}
    changed = [o for o in best if not _same(best[o], faulty[o])]
    for option in sorted(changed, key=lambda o: -rank.get(o, len(rank))):
        trial = {**best, option: faulty[option]}
        still = sum(not _same(trial[o], faulty[o]) for o in trial)
        if not still or measurements >= config.budget or config_id(trial) in tried or not valid(trial):
            continue
        tried.add(config_id(trial))
        metrics, holds, repeats = _measure_confirmed(trial, goals, missed, measure, config.confirm, config.budget - measurements)
        measurements += repeats
        log.info("simplifying: %s back to %s %s", option, plain(faulty[option]), "keeps every goal" if holds else "misses a goal: kept changed")
        steps.append(Step(trial, Fix({option: faulty[option]}, math.nan, math.nan, {}, origin="simplify"), metrics, holds, repeats))
        if holds:
            best, best_metrics = trial, metrics
    return best, best_metrics, measurements


def _measure_confirmed(config: dict, goals: list[Goal], missed: list[Goal], measure, margin: float,
                       left: int) -> tuple[dict | None, bool, int]:
    """Measure a configuration, and again where it meets every goal, one of ``missed`` within
    ``margin`` of its threshold, and the budget leaves a measurement: it then meets them only if
    the repeat does too (the module docstring says why the repeat decides, not the mean). Returns
    the metrics (the mean of the two), whether every goal holds, and the measurements spent."""
    metrics = measure([config])[0]
    holds = metrics is not None and goals_hold(metrics, goals)
    if not holds or not margin or not _narrow(metrics, missed, margin):
        return metrics, holds, 1
    if left < 2:
        log.info("the goals hold within %g of a threshold, but no measurement is left to confirm it", margin)
        return metrics, holds, 1
    again = measure([config])[0]
    confirmed = again is not None and goals_hold(again, goals)
    log.info("the goals hold within %g of a threshold: measured again, %s: %s", margin, "confirmed" if confirmed else "not confirmed",
             "the measurement failed" if again is None else ", ".join(f"{g.metric}={again.get(g.metric)}" for g in goals))
    if again is None:
        return metrics, False, 2
    return {k: (v + again[k]) / 2 if k in again else v for k, v in metrics.items()}, confirmed, 2


def _narrow(metrics: dict, goals: list[Goal], margin: float) -> bool:
    """Whether a goal's measured value lies within ``margin`` (a fraction of its threshold) of the threshold."""
    return any(abs(float(metrics[g.metric]) - g.threshold) <= margin * abs(g.threshold) for g in goals)


def _same(a, b) -> bool:
    try:
        return math.isclose(float(a), float(b))
    except (TypeError, ValueError):
        return str(a) == str(b)


def _best_row(data: pd.DataFrame, variables: Variables, goals: list[Goal]) -> dict | None:
    """The options of the best measured configuration in the data (``_key``'s order)."""
    rows = data.to_dict("records")
    complete = [r for r in rows if all(pd.notna(r.get(g.metric)) for g in goals)]
    if not complete:
        return None
    best = min(complete, key=lambda r: _key(r, goals))
    return {o: plain(best[o]) for o in variables.options}


def _relax(level: float, why: str) -> float:
    relaxed = min(MAX_ALPHA, 2 * level)
    if relaxed != level:
        log.info("FCI alpha %g -> %g: %s", level, relaxed, why)
    return relaxed


def _with_row(data: pd.DataFrame, variables: Variables, config: dict, metrics: dict) -> pd.DataFrame:
    row = {**config, **{m: metrics.get(m, np.nan) for m in (*variables.events, *variables.objectives)}}
    new = pd.DataFrame([row])
    new = new.astype({c: t for c, t in data.dtypes.items() if c in new}, errors="ignore")
    return pd.concat([data, new], ignore_index=True)


def _key(metrics: dict, goals: list[Goal]) -> tuple:
    """Fewer goals missed, then the first goal's metric better."""
    first = goals[0]
    value = float(metrics[first.metric]) if metrics.get(first.metric) is not None and pd.notna(metrics.get(first.metric)) else math.inf
    return (sum(not goals_hold(metrics, [g]) for g in goals), value if first.minimize else -value)


def _better(metrics: dict, than: dict, goals: list[Goal]) -> bool:
    """Fewer goals missed, or as many and the first goal's metric better by more than MIN_GAIN:
    a fix is built on a configuration only for a gain that measurement noise does not explain."""
    (missed, value), (than_missed, than_value) = _key(metrics, goals), _key(than, goals)
    return missed < than_missed or missed == than_missed and value < than_value - MIN_GAIN * abs(than_value)
