"""``bo`` with expected improvement instead of the lower confidence bound.

BO4CO uses a lower confidence bound whose exploration weight follows the GP-UCB schedule;
expected improvement (Jones et al., 1998) is the other standard acquisition and needs no
schedule: it weighs how much better than the best measured cost a configuration may be by how
likely that is. Everything else (initial design, GP, warm start, Kriging-believer batches) is
``bo``'s; bench/RESULTS.md compares the two on the Storm tables.
"""

from __future__ import annotations

from tradeoff.samplers.bo import BayesianOptimisation


class ExpectedImprovement(BayesianOptimisation):
    name = "bo-ei"
    acquisition = "ei"
