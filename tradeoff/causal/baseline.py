"""The decision-tree baseline the causal loop is compared with (as in the CADET and Unicorn papers).

A CART of the objective on the options learns correlations, not causes: it may change an option
that merely moves with the objective. It has no loop of its own; callers refit it on grown data.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeRegressor

from tradeoff.causal.goals import Goal
from tradeoff.causal.graph import Variables, numeric_coding, numeric_row, original_values


def decision_tree_fix(data: pd.DataFrame, variables: Variables, faulty: dict | pd.Series, goal: Goal,
                      seed: int = 0) -> tuple[dict, float]:
    """The decision-tree baseline: a CART of the objective on the options; the fix moves the
    faulty configuration into the best leaf, changing only the options tested on that leaf's path
    (each to the observed level nearest its current value that satisfies the split).
    Returns (changes, the leaf's predicted objective)."""
    options = list(variables.options)
    x = numeric_coding(data[options])
    y = data[goal.metric].to_numpy(dtype=float)
    tree = DecisionTreeRegressor(min_samples_leaf=2, max_depth=4, random_state=seed).fit(x.to_numpy(), y).tree_
    leaves = [i for i in range(tree.node_count) if tree.children_left[i] == -1]
    best = min(leaves, key=lambda i: tree.value[i][0][0] if goal.minimize else -tree.value[i][0][0])
    parent = {c: (i, c == tree.children_left[i]) for i in range(tree.node_count) for c in (tree.children_left[i], tree.children_right[i]) if c != -1}
    conditions, node = [], best
    while node in parent:
        node, left = parent[node]
        conditions.append((options[tree.feature[node]], tree.threshold[node], left))
    current = numeric_row(pd.Series(faulty), data, variables)
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
    return original_values(changes, data), float(tree.value[best][0][0])
