"""The structural model on a causal graph, the causal paths it ranks and their average causal effects.

``StructuralModel``: one random forest per event and objective on its parents in the graph; its
trees act as bootstrap replicates of the whole structural model (tree ``t`` of every node
together), which gives the fixes their probabilities. ``rank_paths``: every directed path
option -> ... -> objective, ranked by its average causal effect (ACE): the mean absolute change
of the objective between the option's levels when the intervention ``do(option = level)`` is
propagated along the path only (off-path parents keep their observed values), averaged over the
data rows. The top K paths are kept. A path is as strong as its weakest edge: one that FCI
found at the configured significance level is ``causal``; the diagnosis's fallbacks (a possible
ancestor in the PAG, an edge found only at a relaxed level, a bare association) label it weak.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable

import networkx as nx
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

from tradeoff.causal.graph import EVENT, OBJECTIVE, OPTION, CausalGraph, numeric_coding

MAX_LEVELS = 5  # candidate values per numeric option: observed quantiles


class StructuralModel:
    """One random forest per event and objective on its graph parents; tree t of every forest
    together is one bootstrap replicate of the whole model."""

    def __init__(self, graph: CausalGraph, data: pd.DataFrame, trees: int = 60, seed: int = 0):
        self.graph, self.variables = graph, graph.variables
        self.data = numeric_coding(data[self.variables.all])
        self.trees = trees
        self.order = [n for n in nx.topological_sort(graph.digraph()) if self.variables.kind(n) != OPTION and n in self.data]
        self.models: dict[str, RandomForestRegressor | float] = {}
        self._cache: dict[tuple, list[str]] = {}
        self._baselines: dict[tuple, pd.DataFrame] = {}  # (faulty row, targets) -> its propagation without a change
        self.multiplicative = {n: bool(self.data[n].min() > 0 and self.data[n].max() > 10 * self.data[n].min())
                               for n in self.variables.objectives if n in self.data}
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
        the faulty row (abduction, action, prediction). Events measured on the faulty row keep
        their abducted noise. An objective measured on it moves from its measured value by what
        each replicate predicts the change does (its value with the change less its value without),
        so an objective the change cannot reach keeps its measured value: a goal that holds is
        lost only by a change predicted to break it, one that is missed is met only by a change
        predicted to move it far enough. The move is a ratio for a positive objective spanning more
        than a factor of 10 (times, energy: what FCI tests on a log scale), else a difference. An
        objective not measured is predicted."""
        targets = tuple(targets)
        frame = self._propagate(faulty, changes, targets)
        measured = [n for n in self._needed(targets) if self.variables.kind(n) == OBJECTIVE and pd.notna(faulty.get(n))]
        unchanged = self._unchanged(faulty, targets) if measured and changes else None
        for node in measured:
            value = float(faulty[node])
            if unchanged is None:
                frame[node] = value
            elif self.multiplicative[node]:
                frame[node] = value * frame[node] / np.maximum(unchanged[node], 1e-12)  # times act as ratios
            else:
                frame[node] = value + frame[node] - unchanged[node]
        return frame

    def _unchanged(self, faulty: pd.Series, targets: tuple[str, ...]) -> pd.DataFrame:
        key = (faulty[self.variables.all].to_numpy(float).tobytes(), targets)
        if key not in self._baselines:
            self._baselines[key] = self._propagate(faulty, {}, targets)
        return self._baselines[key]

    def _propagate(self, faulty: pd.Series, changes: dict, targets: tuple[str, ...]) -> pd.DataFrame:
        frame = pd.DataFrame([faulty[self.variables.all]] * self.trees).reset_index(drop=True)
        base = pd.DataFrame([faulty[self.variables.all]])
        for option, value in changes.items():
            frame[option] = value
        for node in self._needed(targets):
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


CAUSAL = "causal"
STRONG_EDGES = ("knowledge", "fci", "entropy")  # how fit_graph orients the edges it finds at its level


@dataclass
class CausalPath:
    nodes: tuple[str, ...]
    ace: float
    support: str = CAUSAL  # "causal", else the weak evidence of its weakest edge

    @property
    def weak(self) -> bool:
        return self.support != CAUSAL

    def __str__(self) -> str:
        return " -> ".join(self.nodes) + ("" if not self.weak else f"  [weakly supported: {self.support}]")


def path_support(graph: CausalGraph, nodes: tuple[str, ...]) -> str:
    weak = [graph.directed[e] for e in zip(nodes, nodes[1:]) if graph.directed[e] not in STRONG_EDGES]
    return weak[0] if weak else CAUSAL


def rank_paths(model: StructuralModel, objective: str, top_k: int = 10, max_length: int = 5) -> list[CausalPath]:
    graph = model.graph
    paths = [CausalPath(p, model.path_effect(p), path_support(graph, p)) for p in graph.causal_paths(objective, max_length)]
    return sorted(paths, key=lambda p: (p.weak, -p.ace))[:top_k]


def spread(column: pd.Series) -> float:
    """The standard deviation effects and margins are measured in (1 for a constant column)."""
    value = float(column.std())
    return value if value > 0 else 1.0

