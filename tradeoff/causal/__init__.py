"""Causal performance debugging (CADET / Unicorn): why is a configuration slow, and what fixes it.

The data is one row per measured configuration with configuration **options**, intermediate
system **events** (cache misses, context switches) and **objectives** (latency, energy). A
correlation-based model blames every option that moves with the objective; a causal graph tells
the options that act through events apart from distractors, so a fix changes only true causes.

The loop, one module per step:

* ``goals``: what a fixed configuration satisfies (``latency <= 12``);
* ``graph``: the causal graph by FCI with background knowledge (options -> events -> objectives),
  undecided edges between events oriented by entropy;
* ``effects``: a structural model on the graph, the causal paths option -> ... -> objective and
  their average causal effects;
* ``fixes``: counterfactual fixes of the faulty configuration on the top paths, ranked;
* ``loop``: diagnose, measure the best untried fix, add it to the data, refit, repeat until the
  goals hold or the budget is spent (``DebugConfig`` holds the loop's settings);
* ``baseline``: the decision-tree fix the causal loop is compared with.

Nothing here imports Prefect or Ray.
"""
