"""The causal graph of measured configurations: which options act on the objectives, through which events.

``fit_graph`` runs causal-learn's FCI with background knowledge in tiers (options, then events,
then objectives; options have no parents and do not cause each other unless declared;
objectives cause nothing). Its Fisher-z tests see positive measurements spanning more than a
factor of 10 on a log scale, and rows that lack events through test-wise deletion (mv_fisherz).
FCI leaves some edges partially directed; ``fit_graph`` resolves them by this documented rule:

* ``a --> b`` stays; ``a <-> b`` (a latent confounder) stays bidirected and is never a causal step;
* ``a o-> b``: the arrowhead at ``b`` is certain, so it is read as ``a --> b``;
* ``a o-o b`` and ``a --- b`` (both ends undecided, only between events): the direction whose
  additive-noise model has the smaller total entropy wins, i.e. ``a -> b`` when
  ``H(a | pa(a)) + H(b | pa(b), a) < H(b | pa(b)) + H(a | pa(a), b)``, with residual entropies of
  standardized variables estimated by Vasicek's m-spacing estimator (the entropic orientation of
  additive noise models, Kpotufe et al. 2014; the Unicorn paper proposes entropy but its code
  does not apply it). A direction that would close a directed cycle is never chosen. These
  pairs stay recorded as ``undecided``: an option that reaches an objective only through one of
  them, taken against its entropy direction, is a *possible* ancestor (``possible_ancestors``), a
  weaker answer the diagnosis falls back on when no directed path exists.

The data's numeric coding (bools as 0/1, categories as sorted codes) lives here too: the
structural model, the fixes and the baseline all see the data through it.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
from dataclasses import dataclass, field
from typing import Iterable

import networkx as nx
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, OPTION_PREFIX

OPTION, EVENT, OBJECTIVE = "option", "event", "objective"


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


def numeric_coding(data: pd.DataFrame) -> pd.DataFrame:
    """Bools as 0/1 and categories as their sorted codes, so that every column is a number."""
    out = {}
    for name in data.columns:
        column = data[name]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            out[name] = column.astype(float)
        else:
            out[name] = pd.Series(pd.Categorical(column.astype(str), categories=sorted(column.astype(str).unique())).codes, index=column.index).astype(float)
    return pd.DataFrame(out)


def numeric_row(row: pd.Series, data: pd.DataFrame, variables: Variables) -> pd.Series:
    """The row in the numeric coding of ``data`` (events it lacks stay NaN)."""
    both = pd.concat([data[variables.all], pd.DataFrame([row.reindex(variables.all)])], ignore_index=True)
    return numeric_coding(both).iloc[-1]


def original_values(changes: dict, data: pd.DataFrame) -> dict:
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


def numeric_changes(changes: dict, data: pd.DataFrame) -> dict:
    """Values in the column's own type as levels of the numeric coding (``original_values`` reversed)."""
    out = {}
    for option, value in changes.items():
        column = data[option]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            out[option] = float(value)
        else:
            out[option] = float(sorted(column.astype(str).unique()).index(str(value)))
    return out


def plain(value):
    """A numpy scalar as the Python value, for printing and JSON."""
    return value.item() if isinstance(value, np.generic) else value


# Causal graph ------------------------------------------------------------------------------

@dataclass
class CausalGraph:
    """A mixed graph: directed edges (cause, effect) and bidirected (confounded) pairs."""

    variables: Variables
    nodes: list[str]
    directed: dict[tuple[str, str], str] = field(default_factory=dict)  # (cause, effect) -> how it was oriented
    bidirected: set[frozenset] = field(default_factory=set)
    undecided: set[frozenset] = field(default_factory=set)  # pairs FCI left undirected (oriented by entropy above)
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

    def possible_ancestors(self, objective: str) -> list[str]:
        """Options without a directed path to the objective that have a possibly directed one:
        through the directed edges and the undecided pairs taken either way."""
        graph = self.digraph()
        for pair in self.undecided:
            a, b = tuple(pair)
            graph.add_edges_from([(a, b), (b, a)])
        if objective not in graph:
            return []
        ancestors, directed = nx.ancestors(graph, objective), nx.ancestors(self.digraph(), objective)
        return [o for o in self.variables.options if o in ancestors and o not in directed]

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
    numeric = numeric_coding(data[variables.all])
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
        graph.undecided.add(frozenset((a, b)))
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

