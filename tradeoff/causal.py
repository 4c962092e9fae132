"""Causal performance debugging (CADET / Unicorn): why is a configuration slow, and what fixes it.

The data is one row per measured configuration with three kinds of columns: configuration
**options**, intermediate system **events** (counters such as cache misses or context switches)
and **objectives** (latency, energy). The method:

1. ``fit_graph``: causal-learn's FCI with background knowledge in tiers (options, then events,
   then objectives; options have no parents and do not cause each other unless declared;
   objectives cause nothing). Its Fisher-z tests see positive measurements spanning more than a
   factor of 10 on a log scale, and rows that lack events through test-wise deletion (mv_fisherz).
   FCI leaves some edges partially directed; ``fit_graph`` resolves
   them by this documented rule:

   * ``a --> b`` stays; ``a <-> b`` (a latent confounder) stays bidirected and is never a causal step;
   * ``a o-> b``: the arrowhead at ``b`` is certain, so it is read as ``a --> b``;
   * ``a o-o b`` and ``a --- b`` (both ends undecided, only between events): the direction whose
     additive-noise model has the smaller total entropy wins, i.e. ``a -> b`` when
     ``H(a | pa(a)) + H(b | pa(b), a) < H(b | pa(b)) + H(a | pa(a), b)``, with residual entropies of
     standardized variables estimated by Vasicek's m-spacing estimator (the entropic orientation of
     additive noise models, Kpotufe et al. 2014; the Unicorn paper proposes entropy but its code
     does not apply it). A direction that would close a directed cycle is never chosen.

2. ``StructuralModel``: one random forest per event and objective on its parents in the graph;
   its trees act as bootstrap replicates of the whole structural model (tree ``t`` of every node
   together), which gives the probabilities below.
3. ``rank_paths``: every directed path option -> ... -> objective, ranked by its average causal
   effect: the mean absolute change of the objective between the option's levels when the
   intervention ``do(option = level)`` is propagated along the path only (off-path parents keep
   their observed values), averaged over the data rows. The top K paths are kept.
4. ``counterfactual_fixes``: for the faulty configuration, each change (one to ``max_changes``
   options from the top paths, set to other observed levels; on a replay, the recorded
   configurations instead) gets *Potential* = P(every goal holds had the options been changed)
   and *Control* = P(every goal holds without the change). Events measured on the faulty row keep
   their abducted noise (abduction-action-prediction); objectives are predicted, so Control is
   the chance that the fault is not reproducible under the model; the probability is over the
   structural model's replicates. Fixes are ranked by Potential - Control less 0.05 per extra
   changed option (a larger change must be clearly better to win), then by the predicted margin
   to the goals. Several goals (e.g. latency and energy) must hold together, so a fix never
   trades one fault for another.
5. ``debug``: measure the best untried fix through a ``measure(configs) -> metrics`` callable,
   add it to the data, refit and repeat until the goals hold or the budget is spent. A fix that
   fails hints at a cause the graph missed, so each failure doubles FCI's significance level
   (up to 0.2) for the next round.

Nothing here imports Prefect or Ray.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import operator
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import networkx as nx
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.tree import DecisionTreeRegressor

from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, OPTION_PREFIX
from tradeoff.space import config_id

OPTION, EVENT, OBJECTIVE = "option", "event", "objective"
DIRECTED, BIDIRECTED = "-->", "<->"
CHANGE_PENALTY = 0.05  # Potential - Control given up per extra changed option
MAX_LEVELS = 5  # candidate values per numeric option: observed quantiles
MAX_ALPHA = 0.2  # the loop doubles FCI's significance level after each failed fix or a round without one, up to this


# Goals -------------------------------------------------------------------------------------

_COMPARISONS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}


@dataclass(frozen=True)
class Goal:
    """``metric op threshold``, e.g. ``latency <= 12``: what a fixed configuration satisfies."""

    metric: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Goal:
        match = re.fullmatch(r"\s*([\w.\-]+)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*", text)
        if not match:
            raise TradeoffError(f"cannot read goal {text!r}; write it as 'METRIC <= NUMBER' (or <, >=, >)")
        return cls(match.group(1), match.group(2), float(match.group(3)))

    def holds(self, value) -> np.ndarray | bool:
        return _COMPARISONS[self.op](value, self.threshold)

    @property
    def minimize(self) -> bool:
        return self.op in ("<=", "<")

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


def goals_hold(metrics: dict, goals: Iterable[Goal]) -> bool:
    return all(g.metric in metrics and metrics[g.metric] is not None and bool(g.holds(float(metrics[g.metric]))) for g in goals)


# Data --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Variables:
    """Which columns are options, events and objectives; ``declared`` allows option -> option edges."""

    options: tuple[str, ...]
    events: tuple[str, ...]
    objectives: tuple[str, ...]
    declared: tuple[tuple[str, str], ...] = ()

    @property
    def all(self) -> list[str]:
        return [*self.options, *self.events, *self.objectives]

    def kind(self, name: str) -> str:
        return OPTION if name in self.options else EVENT if name in self.events else OBJECTIVE


def from_measurements(frame: pd.DataFrame, objectives: Iterable[str]) -> tuple[pd.DataFrame, Variables]:
    """Successful rows of a measurement table as (data, variables): ``opt.*`` are options, the
    named metrics objectives and every other metric an event."""
    objectives = tuple(objectives)
    if "status" in frame:
        frame = frame[frame["status"] == "ok"]
    options = tuple(c[len(OPTION_PREFIX):] for c in frame.columns if c.startswith(OPTION_PREFIX))
    metrics = [c[len(METRIC_PREFIX):] for c in frame.columns if c.startswith(METRIC_PREFIX)]
    missing = [o for o in objectives if o not in metrics]
    if missing:
        raise TradeoffError(f"the measurements have no metric {missing[0]!r}; their metrics: {', '.join(metrics)}")
    events = tuple(m for m in metrics if m not in objectives and frame[METRIC_PREFIX + m].notna().all())
    data = frame[[OPTION_PREFIX + o for o in options] + [METRIC_PREFIX + m for m in (*events, *objectives)]]
    data.columns = [*options, *events, *objectives]
    return data.reset_index(drop=True), Variables(options, events, objectives)


def _numeric(data: pd.DataFrame) -> pd.DataFrame:
    """Bools as 0/1 and categories as their sorted codes, so that every column is a number."""
    out = {}
    for name in data.columns:
        column = data[name]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            out[name] = column.astype(float)
        else:
            out[name] = pd.Series(pd.Categorical(column.astype(str), categories=sorted(column.astype(str).unique())).codes, index=column.index).astype(float)
    return pd.DataFrame(out)


# Causal graph ------------------------------------------------------------------------------

@dataclass
class CausalGraph:
    """A mixed graph: directed edges (cause, effect) and bidirected (confounded) pairs."""

    variables: Variables
    nodes: list[str]
    directed: dict[tuple[str, str], str] = field(default_factory=dict)  # (cause, effect) -> how it was oriented
    bidirected: set[frozenset] = field(default_factory=set)
    dropped: list[str] = field(default_factory=list)  # constant or duplicate columns left out

    def parents(self, node: str) -> list[str]:
        return [a for (a, b) in self.directed if b == node]

    def digraph(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        graph.add_nodes_from(self.nodes)
        graph.add_edges_from(self.directed)
        return graph

    def causal_paths(self, objective: str, max_length: int = 5) -> list[tuple[str, ...]]:
        """Every directed path from an option to the objective with at most ``max_length`` edges."""
        graph = self.digraph()
        if objective not in graph:
            return []
        paths = []
        for option in self.variables.options:
            if option in graph:
                paths += [tuple(p) for p in nx.all_simple_paths(graph, option, objective, cutoff=max_length)]
        return paths

    def to_dot(self) -> str:
        shapes = {OPTION: "box", EVENT: "ellipse", OBJECTIVE: "doubleoctagon"}
        lines = ["digraph causal {", "  rankdir=LR;"]
        for node in self.nodes:
            lines.append(f'  "{node}" [shape={shapes[self.variables.kind(node)]}];')
        for (a, b), how in sorted(self.directed.items()):
            style = ' [style=dashed, label="entropy"]' if how == "entropy" else ""
            lines.append(f'  "{a}" -> "{b}"{style};')
        for pair in sorted(tuple(sorted(p)) for p in self.bidirected):
            lines.append(f'  "{pair[0]}" -> "{pair[1]}" [dir=both, style=dotted];')
        lines.append("}")
        return "\n".join(lines) + "\n"

    def draw(self, path, highlight: Iterable[tuple[str, ...]] = ()) -> None:
        """A picture of the graph with matplotlib (no graphviz needed): options left, objectives right."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        layers = {OPTION: 0, EVENT: 1, OBJECTIVE: 2}
        used = {n for edge in self.directed for n in edge} | {n for pair in self.bidirected for n in pair}
        shown = [n for n in self.nodes if n in used or self.variables.kind(n) == OBJECTIVE]
        graph = nx.DiGraph()
        for node in shown:
            graph.add_node(node, layer=layers[self.variables.kind(node)])
        graph.add_edges_from(self.directed)
        position = nx.multipartite_layout(graph, subset_key="layer")
        on_path = {(p[i], p[i + 1]) for p in highlight for i in range(len(p) - 1)}
        figure, axes = plt.subplots(figsize=(12, max(4, 0.35 * len(shown))))
        colours = {OPTION: "#9ecae1", EVENT: "#fdd0a2", OBJECTIVE: "#fc9272"}
        nx.draw_networkx_nodes(graph, position, node_color=[colours[self.variables.kind(n)] for n in graph], node_size=500, ax=axes)
        nx.draw_networkx_labels(graph, position, font_size=7, ax=axes)
        nx.draw_networkx_edges(graph, position, edgelist=[e for e in graph.edges if e not in on_path], edge_color="#999999", ax=axes)
        nx.draw_networkx_edges(graph, position, edgelist=[e for e in graph.edges if e in on_path], edge_color="#d62728", width=2.5, ax=axes)
        confounded = [tuple(p) for p in self.bidirected if all(n in position for n in p)]
        nx.draw_networkx_edges(graph, position, edgelist=confounded, style="dotted", arrows=False, ax=axes)
        axes.set_axis_off()
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)


def fit_graph(data: pd.DataFrame, variables: Variables, alpha: float = 0.05, depth: int = 2,
              test: str = "fisherz") -> CausalGraph:
    """The causal graph of ``data`` by FCI with tiered background knowledge (module docstring)."""
    from causallearn.graph.GraphNode import GraphNode
    from causallearn.search.ConstraintBased.FCI import fci
    from causallearn.utils.PCUtils.BackgroundKnowledge import BackgroundKnowledge

    missing = [c for c in variables.all if c not in data.columns]
    if missing:
        raise TradeoffError(f"the data has no column {missing[0]!r}; give options, events and objectives that it holds")
    if len(data) < 5:
        raise TradeoffError(f"a causal graph needs at least 5 measured configurations, got {len(data)}; measure more first")
    numeric = _numeric(data[variables.all])
    tested = _ordered_categories(data, numeric, variables)
    kept, dropped = _informative_columns(tested, variables)
    graph = CausalGraph(variables, variables.all, dropped=dropped)
    if not any(variables.kind(c) == OBJECTIVE for c in kept):
        raise TradeoffError("every objective is constant in the data; there is no fault to explain")

    knowledge = BackgroundKnowledge()
    nodes = {name: GraphNode(name) for name in kept}
    tiers = {OPTION: 0, EVENT: 1, OBJECTIVE: 2}
    for name in kept:
        knowledge.add_node_to_tier(nodes[name], tiers[variables.kind(name)])
    knowledge.forbid_within_tier(2)  # objectives cause nothing
    declared = set(variables.declared)
    options = [c for c in kept if variables.kind(c) == OPTION]
    for a, b in itertools.permutations(options, 2):
        if (a, b) not in declared:
            knowledge.add_forbidden_by_node(nodes[a], nodes[b])

    matrix = tested[kept].apply(_log_if_multiplicative).to_numpy()
    matrix = (matrix - np.nanmean(matrix, axis=0)) / np.nanstd(matrix, axis=0)
    if test == "fisherz" and np.isnan(matrix).any():
        test = "mv_fisherz"  # rows without events (e.g. faults recorded without counters): test-wise deletion
    try:
        pag = _fci(fci, matrix, test, alpha, depth, knowledge, kept)
    except ValueError:
        # Fisher-z cannot invert an exactly collinear set (an objective that is the sum of events):
        # a jitter far below any measurement noise makes the test defined without changing it.
        jitter = np.random.default_rng(0).normal(0, 1e-3, matrix.shape)
        pag = _fci(fci, matrix + jitter, test, alpha, depth, knowledge, kept)
    marks = pag.graph  # marks[i, j]: the endpoint at i of the edge i-j: -1 tail, 1 arrow, 2 circle
    undecided = []
    for i, j in itertools.combinations(range(len(kept)), 2):
        a, b, at_a, at_b = kept[i], kept[j], marks[i, j], marks[j, i]
        if at_a == 0 and at_b == 0:
            continue
        kinds = (variables.kind(a), variables.kind(b))
        if kinds[0] != kinds[1] or OPTION in kinds:
            # knowledge decides between tiers: the lower tier causes the higher one
            cause, effect = (a, b) if tiers[kinds[0]] < tiers[kinds[1]] or (a, b) in declared else (b, a)
            graph.directed[(cause, effect)] = "knowledge"
        elif at_a == 1 and at_b == 1:
            graph.bidirected.add(frozenset((a, b)))
        elif at_b == 1:
            graph.directed[(a, b)] = "fci"
        elif at_a == 1:
            graph.directed[(b, a)] = "fci"
        elif at_a == -1 and at_b == 2:
            graph.directed[(a, b)] = "fci"
        elif at_b == -1 and at_a == 2:
            graph.directed[(b, a)] = "fci"
        else:
            undecided.append((a, b))
    for a, b in undecided:
        _orient_by_entropy(graph, numeric, a, b)
    return graph


def _ordered_categories(data: pd.DataFrame, numeric: pd.DataFrame, variables: Variables) -> pd.DataFrame:
    """Categorical options coded by the rank of the first objective's median in each category, so
    that a linear test sees an effect that alphabetical codes would hide (x264's --me: dia, esa,
    hex, tesa, umh). Choosing the order on the same data makes the test somewhat liberal for
    options with many categories; a spurious edge costs one wasted measurement in the debug loop."""
    tested = numeric.copy()
    objective = data[variables.objectives[0]]
    for option in variables.options:
        column = data[option]
        if not (pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column)):
            order = objective.groupby(column.astype(str)).median().rank(method="first")
            tested[option] = column.astype(str).map(order).astype(float)
    return tested


def _log_if_multiplicative(column: pd.Series) -> pd.Series:
    """Positive measurements that span more than a factor of 10 (times, counts) on a log scale,
    where options act roughly additively and the linear Fisher-z test sees them."""
    low, high = column.min(), column.max()
    return np.log(column) if low > 0 and high / low > 10 else column


def _fci(fci, matrix, test, alpha, depth, knowledge, names):
    with contextlib.redirect_stdout(io.StringIO()):  # causal-learn prints every knowledge orientation
        pag, _ = fci(matrix, test, alpha, depth=depth, background_knowledge=knowledge, node_names=names,
                     show_progress=False, verbose=False)
    return pag


def _informative_columns(numeric: pd.DataFrame, variables: Variables) -> tuple[list[str], list[str]]:
    """Columns without constants and exact duplicates (both make Fisher-z's correlation matrix singular)."""
    kept, dropped = [], []
    for name in variables.all:
        column = numeric[name]
        constant = column.notna().sum() < 5 or column.std() == 0
        duplicate = constant or any(abs(column.corr(numeric[k])) > 0.9999 for k in kept)
        (dropped if duplicate else kept).append(name)
    return kept, dropped


def _orient_by_entropy(graph: CausalGraph, numeric: pd.DataFrame, a: str, b: str) -> None:
    involved = list(dict.fromkeys([a, b, *graph.parents(a), *graph.parents(b)]))
    complete = numeric[involved].dropna()  # both directions are scored on the same rows
    z = (complete - complete.mean()) / complete.std(ddof=0).replace(0, 1)

    def score(cause: str, effect: str) -> float:
        return _residual_entropy(z, cause, graph.parents(cause)) + _residual_entropy(z, effect, [*graph.parents(effect), cause])

    forward, backward = score(a, b), score(b, a)
    order = [(a, b), (b, a)] if forward <= backward else [(b, a), (a, b)]
    digraph = graph.digraph()
    for cause, effect in order:
        if not nx.has_path(digraph, effect, cause):
            graph.directed[(cause, effect)] = "entropy"
            return


def _residual_entropy(z: pd.DataFrame, target: str, inputs: list[str]) -> float:
    y = z[target].to_numpy()
    if inputs:
        model = RandomForestRegressor(n_estimators=50, min_samples_leaf=3, oob_score=True, random_state=0).fit(z[inputs].to_numpy(), y)
        y = y - model.oob_prediction_  # out-of-bag residuals: an in-sample fit would hide the noise
    return _vasicek_entropy(y)


def _vasicek_entropy(sample: np.ndarray) -> float:
    """Vasicek's m-spacing estimate of differential entropy."""
    x = np.sort(sample)
    n = len(x)
    m = max(1, int(round(math.sqrt(n))))
    spacing = x[np.minimum(np.arange(n) + m, n - 1)] - x[np.maximum(np.arange(n) - m, 0)]
    return float(np.mean(np.log(n / (2 * m) * np.maximum(spacing, 1e-12))))


# Structural model and effects -----------------------------------------------------------------

class StructuralModel:
    """One random forest per event and objective on its graph parents; tree t of every forest
    together is one bootstrap replicate of the whole model."""

    def __init__(self, graph: CausalGraph, data: pd.DataFrame, trees: int = 60, seed: int = 0):
        self.graph, self.variables = graph, graph.variables
        self.data = _numeric(data[self.variables.all])
        self.trees = trees
        self.order = [n for n in nx.topological_sort(graph.digraph()) if self.variables.kind(n) != OPTION and n in self.data]
        self.models: dict[str, RandomForestRegressor | float] = {}
        self._cache: dict[tuple, list[str]] = {}
        for node in self.order:
            parents = graph.parents(node)
            complete = self.data[[node, *parents]].dropna()
            if parents and len(complete) >= 5:
                self.models[node] = RandomForestRegressor(n_estimators=trees, min_samples_leaf=2, random_state=seed, n_jobs=1).fit(
                    complete[parents].to_numpy(), complete[node].to_numpy())
            else:
                self.models[node] = float(self.data[node].mean())
            # a row that lacks this node's value gets the model's expectation, so effects can average over every row
            missing = self.data[node].isna()
            if missing.any():
                self.data.loc[missing, node] = self.predict(node, self.data[missing])

    def predict(self, node: str, frame: pd.DataFrame) -> np.ndarray:
        model = self.models[node]
        if isinstance(model, float):
            return np.full(len(frame), model)
        return model.predict(frame[self.graph.parents(node)].to_numpy())

    def replicates(self, node: str, frame: pd.DataFrame) -> np.ndarray:
        """Predictions of every replicate: shape (trees, rows)."""
        model = self.models[node]
        if isinstance(model, float):
            return np.full((self.trees, len(frame)), model)
        x = frame[self.graph.parents(node)].to_numpy()
        return np.stack([tree.predict(x) for tree in model.estimators_])

    def levels(self, option: str) -> list[float]:
        values = np.unique(self.data[option].to_numpy())
        if len(values) > MAX_LEVELS:
            values = np.unique(np.quantile(values, np.linspace(0, 1, MAX_LEVELS), method="nearest"))
        return values.tolist()

    def path_effect(self, path: tuple[str, ...]) -> float:
        """ACE of one path: mean |change of the objective| between the option's levels, the
        intervention propagated along the path only, averaged over the data rows."""
        means = []
        for level in self.levels(path[0]):
            frame = self.data.copy()
            frame[path[0]] = level
            for node in path[1:]:
                frame[node] = self.predict(node, frame)
            means.append(frame[path[-1]].mean())
        return float(np.mean([abs(x - y) for x, y in itertools.combinations(means, 2)])) if len(means) > 1 else 0.0

    def total_effect(self, option: str, objective: str) -> float:
        """ACE of the option on the objective through every path (the g-formula on the graph)."""
        descendants = nx.descendants(self.graph.digraph(), option)
        means = []
        for level in self.levels(option):
            frame = self.data.copy()
            frame[option] = level
            for node in self.order:
                if node in descendants:
                    frame[node] = self.predict(node, frame)
            means.append(frame[objective].mean())
        return float(np.mean([abs(x - y) for x, y in itertools.combinations(means, 2)])) if len(means) > 1 else 0.0

    def counterfactual(self, faulty: pd.Series, changes: dict, targets: Iterable[str]) -> pd.DataFrame:
        """Every replicate's value of the targets and their ancestors had ``changes`` been made to
        the faulty row. Events measured on the faulty row keep their abducted noise; objectives
        are predicted."""
        frame = pd.DataFrame([faulty[self.variables.all]] * self.trees).reset_index(drop=True)
        base = pd.DataFrame([faulty[self.variables.all]])
        for option, value in changes.items():
            frame[option] = value
        for node in self._needed(tuple(targets)):
            values = self.replicates(node, frame).diagonal()  # replicate t on row t
            if self.variables.kind(node) == EVENT and pd.notna(faulty.get(node)):
                values = values + (float(faulty[node]) - self.predict(node, base)[0])
            frame[node] = values
        return frame

    def _needed(self, targets: tuple[str, ...]) -> list[str]:
        """The targets and their non-option ancestors, in causal order (nothing else can change them)."""
        if targets not in self._cache:
            graph = self.graph.digraph()
            needed = set(targets).union(*(nx.ancestors(graph, t) for t in targets if t in graph))
            self._cache[targets] = [n for n in self.order if n in needed]
        return self._cache[targets]


@dataclass
class CausalPath:
    nodes: tuple[str, ...]
    ace: float

    def __str__(self) -> str:
        return " -> ".join(self.nodes)


def rank_paths(model: StructuralModel, objective: str, top_k: int = 10, max_length: int = 5) -> list[CausalPath]:
    paths = [CausalPath(p, model.path_effect(p)) for p in model.graph.causal_paths(objective, max_length)]
    return sorted(paths, key=lambda p: -p.ace)[:top_k]


# Counterfactual fixes ------------------------------------------------------------------------

@dataclass
class Fix:
    changes: dict  # option -> new value (in the data's types)
    potential: float  # P(every goal holds with the change)
    control: float  # P(every goal holds without it)
    predicted: dict  # objective -> predicted value with the change (mean over replicates)
    margin: float = 0.0  # mean signed distance to the goals in standard deviations, lower is better (breaks ties)

    @property
    def effect(self) -> float:
        return self.potential - self.control

    @property
    def score(self) -> float:
        return self.effect - CHANGE_PENALTY * (len(self.changes) - 1)

    def describe(self) -> str:
        return ", ".join(f"{k}={_plain(v)}" for k, v in self.changes.items())


def counterfactual_fixes(model: StructuralModel, faulty: pd.Series, goals: list[Goal], paths: list[CausalPath],
                         data: pd.DataFrame, max_changes: int = 3, per_option: int = 2,
                         recorded: list[dict] | None = None) -> list[Fix]:
    """Candidate fixes on the options of the top paths, best first (module docstring). With
    ``recorded`` (a replay's configurations) the candidates are the recorded configurations
    that change an option of the top paths, the nearest 1000 of them."""
    numeric_faulty = _numeric_row(faulty, data, model.variables)
    options = list(dict.fromkeys(p.nodes[0] for p in paths))
    targets = [g.metric for g in goals]
    baseline = model.counterfactual(numeric_faulty, {}, targets)
    control = _probability(baseline, goals)

    def evaluate(changes: dict) -> Fix:
        frame = model.counterfactual(numeric_faulty, changes, targets)
        return Fix(_original_values(changes, data), _probability(frame, goals), control,
                   {g.metric: float(frame[g.metric].mean()) for g in goals}, _margin(frame, goals, data))

    if recorded is not None:
        return _recorded_fixes(recorded, faulty, options, evaluate, data, model.variables, goals)
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
                fixes.append(evaluate(_numeric_changes(changes, data, model.variables)))
    return sorted(fixes, key=lambda f: _rank_key(f, goals))


def _recorded_fixes(recorded: list[dict], faulty: pd.Series, options: list[str], evaluate, data: pd.DataFrame,
                    variables: Variables, goals: list[Goal]) -> list[Fix]:
    change_sets = []
    for config in recorded:
        changes = {o: config[o] for o in variables.options if str(config[o]) != str(faulty[o]) and not _same(config[o], faulty[o])}
        if changes and any(o in changes for o in options):
            change_sets.append(changes)
    change_sets = sorted(change_sets, key=len)[:1000]
    fixes = [evaluate(_numeric_changes(changes, data, variables)) for changes in change_sets]
    return sorted(fixes, key=lambda f: _rank_key(f, goals))


def _same(a, b) -> bool:
    try:
        return math.isclose(float(a), float(b))
    except (TypeError, ValueError):
        return False


def _rank_key(fix: Fix, goals: list[Goal]) -> tuple:
    # score first; then how far below (or above) the goals the change is predicted to land, then fewer changes
    return (-round(fix.score, 6), round(fix.margin, 6), len(fix.changes))


def _margin(frame: pd.DataFrame, goals: list[Goal], data: pd.DataFrame) -> float:
    total = 0.0
    for goal in goals:
        gap = float(np.mean(frame[goal.metric].to_numpy() - goal.threshold)) / _spread(data[goal.metric])
        total += gap if goal.minimize else -gap
    return total


def _probability(frame: pd.DataFrame, goals: list[Goal]) -> float:
    ok = np.ones(len(frame), dtype=bool)
    for goal in goals:
        ok &= goal.holds(frame[goal.metric].to_numpy())
    return float(ok.mean())


def _numeric_row(row: pd.Series, data: pd.DataFrame, variables: Variables) -> pd.Series:
    """The row in the numeric coding of ``data`` (events it lacks stay NaN)."""
    both = pd.concat([data[variables.all], pd.DataFrame([row.reindex(variables.all)])], ignore_index=True)
    return _numeric(both).iloc[-1]


def _original_values(changes: dict, data: pd.DataFrame) -> dict:
    """Numeric levels back in the column's own type (bool, category, number)."""
    out = {}
    for option, level in changes.items():
        column = data[option]
        if pd.api.types.is_bool_dtype(column):
            out[option] = bool(level)
        elif pd.api.types.is_numeric_dtype(column):
            out[option] = int(level) if pd.api.types.is_integer_dtype(column) or float(level).is_integer() and (column % 1 == 0).all() else float(level)
        else:
            out[option] = sorted(column.astype(str).unique())[int(level)]
    return out


def _numeric_changes(changes: dict, data: pd.DataFrame, variables: Variables) -> dict:
    out = {}
    for option, value in changes.items():
        column = data[option]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            out[option] = float(value)
        else:
            out[option] = float(sorted(column.astype(str).unique()).index(str(value)))
    return out


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


# Diagnosis and the debug loop -----------------------------------------------------------------

@dataclass
class Diagnosis:
    graph: CausalGraph
    root_causes: list[tuple[str, float]]  # options with a causal path to an objective, by total ACE
    paths: dict[str, list[CausalPath]]  # objective -> its top paths
    fixes: list[Fix]


@dataclass
class Explanation:
    """What the data says causes the objectives, independent of any one faulty configuration."""

    graph: CausalGraph
    model: StructuralModel
    root_causes: list[tuple[str, float]]  # options with a causal path to an objective, by total ACE (in std. dev.)
    paths: dict[str, list[CausalPath]]  # objective -> its top paths

    @property
    def top_paths(self) -> list[CausalPath]:
        return [p for ps in self.paths.values() for p in ps]


def explain(data: pd.DataFrame, variables: Variables, objectives: Iterable[str], top_k: int = 10,
            alpha: float = 0.05, depth: int = 2, seed: int = 0) -> Explanation:
    """The causal graph, its structural model, the root causes and the top paths to each objective."""
    graph = fit_graph(data, variables, alpha=alpha, depth=depth)
    model = StructuralModel(graph, data, seed=seed)
    paths, causes = {}, {}
    for objective in objectives:
        paths[objective] = rank_paths(model, objective, top_k)
        for option in dict.fromkeys(p[0] for p in graph.causal_paths(objective)):
            causes[option] = max(causes.get(option, 0.0), model.total_effect(option, objective) / _spread(data[objective]))
    return Explanation(graph, model, sorted(causes.items(), key=lambda item: -item[1]), paths)


def diagnose(data: pd.DataFrame, variables: Variables, faulty: dict | pd.Series, goals: list[Goal],
             top_k: int = 10, max_changes: int = 3, alpha: float = 0.05, depth: int = 2, seed: int = 0,
             recorded: list[dict] | None = None) -> Diagnosis:
    """Why the faulty configuration misses its goals, and the changes most likely to fix it."""
    faulty = pd.Series(faulty)
    unknown = [g.metric for g in goals if g.metric not in variables.objectives]
    if unknown:
        raise TradeoffError(f"goal metric {unknown[0]!r} is not an objective; objectives: {', '.join(variables.objectives)}")
    lacking = [o for o in variables.options if o not in faulty]
    if lacking:
        raise TradeoffError(f"the faulty configuration lacks option {lacking[0]!r}; give every option")
    explanation = explain(data, variables, dict.fromkeys(g.metric for g in goals), top_k, alpha, depth, seed)
    top = explanation.top_paths
    fixes = counterfactual_fixes(explanation.model, faulty, goals, top, data, max_changes=max_changes, recorded=recorded) if top else []
    return Diagnosis(explanation.graph, explanation.root_causes, explanation.paths, fixes)


def _spread(column: pd.Series) -> float:
    spread = float(column.std())
    return spread if spread > 0 else 1.0


@dataclass
class Step:
    config: dict
    fix: Fix
    measured: dict | None  # metrics, None when the measurement failed
    fixed: bool


@dataclass
class DebugResult:
    fixed: bool
    faulty: dict
    faulty_metrics: dict
    best: dict  # the best measured configuration (the faulty one when nothing helped)
    best_metrics: dict
    steps: list[Step]
    diagnosis: Diagnosis  # of the first round, what explains the fault
    measurements: int
    wall_s: float


def debug(data: pd.DataFrame, variables: Variables, faulty: dict, goals: list[Goal],
          measure: Callable[[list[dict]], list[dict | None]], budget: int = 10, faulty_metrics: dict | None = None,
          top_k: int = 10, max_changes: int = 3, alpha: float = 0.05, depth: int = 2, seed: int = 0,
          on_step: Callable[[Step, Diagnosis], None] | None = None,
          valid: Callable[[dict], bool] = lambda config: True, recorded: list[dict] | None = None) -> DebugResult:
    """The debug loop: diagnose, measure the best untried fix, add it to the data, repeat until
    every goal holds or ``budget`` measurements are spent. ``measure`` returns one metrics dict
    per configuration (objectives and any events), or None for a failed run; ``valid`` rules out
    configurations that cannot be measured (a broken constraint, one a replay never recorded);
    ``recorded`` makes a replay's recorded configurations the candidate fixes."""
    clock = time.perf_counter()
    faulty = {o: _plain(faulty[o]) for o in variables.options}
    measurements = 0
    if faulty_metrics is None:
        faulty_metrics = measure([faulty])[0]
        measurements += 1
        if faulty_metrics is None:
            raise TradeoffError("the faulty configuration could not be measured; check that it runs")
    data = _with_row(data, variables, faulty, faulty_metrics)
    tried = {config_id(faulty)}
    best, best_metrics, steps, first = faulty, faulty_metrics, [], None
    fixed = goals_hold(faulty_metrics, goals)
    level = alpha
    while not fixed and measurements < budget:
        diagnosis = diagnose(data, variables, {**faulty, **faulty_metrics}, goals, top_k, max_changes, level, depth, seed, recorded)
        candidate = next((f for f in diagnosis.fixes if config_id({**faulty, **f.changes}) not in tried and valid({**faulty, **f.changes})), None)
        if candidate is None:
            if level >= MAX_ALPHA:
                first = first or diagnosis
                break
            level = min(MAX_ALPHA, 2 * level)  # no untried fix on the paths found: look for more paths before giving up
            continue
        first = first or diagnosis
        config = {**faulty, **candidate.changes}
        tried.add(config_id(config))
        metrics = measure([config])[0]
        measurements += 1
        fixed = metrics is not None and goals_hold(metrics, goals)
        # a fix that failed suggests a missed cause: test more liberally next round
        level = min(MAX_ALPHA, 2 * level) if not fixed else level
        step = Step(config, candidate, metrics, fixed)
        steps.append(step)
        if on_step:
            on_step(step, diagnosis)
        if metrics is not None:
            data = _with_row(data, variables, config, metrics)
            if fixed or _better(metrics, best_metrics, goals):
                best, best_metrics = config, metrics
    if first is None:
        first = diagnose(data, variables, {**faulty, **faulty_metrics}, goals, top_k, max_changes, alpha, depth, seed, recorded)
    return DebugResult(fixed, faulty, faulty_metrics, best, best_metrics, steps, first, measurements, time.perf_counter() - clock)


def _with_row(data: pd.DataFrame, variables: Variables, config: dict, metrics: dict) -> pd.DataFrame:
    row = {**config, **{m: metrics.get(m, np.nan) for m in (*variables.events, *variables.objectives)}}
    new = pd.DataFrame([row])
    new = new.astype({c: t for c, t in data.dtypes.items() if c in new}, errors="ignore")
    return pd.concat([data, new], ignore_index=True)


def _better(metrics: dict, than: dict, goals: list[Goal]) -> bool:
    """Fewer goals missed, then the first goal's metric better."""
    def key(m: dict) -> tuple:
        first = goals[0]
        value = float(m[first.metric]) if m.get(first.metric) is not None else math.inf
        return (sum(not goals_hold(m, [g]) for g in goals), value if first.minimize else -value)
    return key(metrics) < key(than)


# Baseline ----------------------------------------------------------------------------------

def decision_tree_fix(data: pd.DataFrame, variables: Variables, faulty: dict | pd.Series, goal: Goal,
                      seed: int = 0) -> tuple[dict, float]:
    """The decision-tree baseline: a CART of the objective on the options; the fix moves the
    faulty configuration into the best leaf, changing only the options tested on that leaf's path
    (each to the observed level nearest its current value that satisfies the split).
    Returns (changes, the leaf's predicted objective)."""
    options = list(variables.options)
    x = _numeric(data[options])
    y = data[goal.metric].to_numpy(dtype=float)
    tree = DecisionTreeRegressor(min_samples_leaf=2, max_depth=4, random_state=seed).fit(x.to_numpy(), y).tree_
    leaves = [i for i in range(tree.node_count) if tree.children_left[i] == -1]
    best = min(leaves, key=lambda i: tree.value[i][0][0] if goal.minimize else -tree.value[i][0][0])
    parent = {c: (i, c == tree.children_left[i]) for i in range(tree.node_count) for c in (tree.children_left[i], tree.children_right[i]) if c != -1}
    conditions, node = [], best
    while node in parent:
        node, left = parent[node]
        conditions.append((options[tree.feature[node]], tree.threshold[node], left))
    current = _numeric_row(pd.Series(faulty), data, variables)
    bounds: dict[str, list[float]] = {}  # option -> [exclusive low, inclusive high] of the leaf
    for option, threshold, left in conditions:
        low, high = bounds.setdefault(option, [-math.inf, math.inf])
        bounds[option] = [low, min(high, threshold)] if left else [max(low, threshold), high]
    changes = {}
    for option, (low, high) in bounds.items():
        value = current[option]
        if low < value <= high:
            continue
        levels = np.unique(x[option].to_numpy())
        allowed = levels[(levels > low) & (levels <= high)]
        changes[option] = float(allowed[np.argmin(np.abs(allowed - value))])
    return _original_values(changes, data), float(tree.value[best][0][0])
