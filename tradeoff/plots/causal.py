"""The causal graph's picture (no graphviz needed): options left, events in the middle, objectives right."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import networkx as nx

from tradeoff.causal.graph import EVENT, OBJECTIVE, OPTION, CausalGraph
from tradeoff.plots.common import plt, save

_LAYERS = {OPTION: 0, EVENT: 1, OBJECTIVE: 2}
_COLOURS = {OPTION: "#9ecae1", EVENT: "#fdd0a2", OBJECTIVE: "#fc9272"}


def graph(causal: CausalGraph, path: Path, highlight: Iterable[tuple[str, ...]] = ()) -> Path:
    """The graph's edges, the ``highlight`` paths in red and confounded pairs dotted; nodes
    without an edge are left out (objectives always shown)."""
    kind = causal.variables.kind
    used = {n for edge in causal.directed for n in edge} | {n for pair in causal.bidirected for n in pair}
    shown = [n for n in causal.nodes if n in used or kind(n) == OBJECTIVE]
    drawn = nx.DiGraph()
    for node in shown:
        drawn.add_node(node, layer=_LAYERS[kind(node)])
    drawn.add_edges_from(causal.directed)
    position = nx.multipartite_layout(drawn, subset_key="layer")
    on_path = {(p[i], p[i + 1]) for p in highlight for i in range(len(p) - 1)}
    fig, axes = plt.subplots(figsize=(12, max(4, 0.35 * len(shown))))
    nx.draw_networkx_nodes(drawn, position, node_color=[_COLOURS[kind(n)] for n in drawn], node_size=500, ax=axes)
    nx.draw_networkx_labels(drawn, position, font_size=7, ax=axes)
    nx.draw_networkx_edges(drawn, position, edgelist=[e for e in drawn.edges if e not in on_path], edge_color="#999999", ax=axes)
    nx.draw_networkx_edges(drawn, position, edgelist=[e for e in drawn.edges if e in on_path], edge_color="#d62728", width=2.5, ax=axes)
    confounded = [tuple(p) for p in causal.bidirected if all(n in position for n in p)]
    nx.draw_networkx_edges(drawn, position, edgelist=confounded, style="dotted", arrows=False, ax=axes)
    axes.set_axis_off()
    return save(fig, Path(path))
