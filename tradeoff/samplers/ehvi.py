"""Expected hypervolume improvement on per-objective GPs, for two objectives.

Where ParEGO (``parego``) scores a candidate by one random scalarisation per pick, this scores it by
how much it is expected to grow the measured front's hypervolume (Emmerich et al., 2006), so every
pick aims at the front as a whole, its ends included. On the FlexiBO TX2 tables ParEGO's remaining
error sat mostly at the front's low-power end, which a Dirichlet weight rarely points at, and this
closed most of it (bench/RESULTS.md, FlexiBO section). The GPs, their joint Monte Carlo draws (one
set of normal draws shared by every candidate), the constraint weighting (the probability that every
output constraint holds) and the Kriging believer for batches are ``parego``'s; the improvement of
a draw over the staircase of the feasible measured costs (normalised to [0, 1], reference point
1.1, so the front's end points still gain) is exact in two dimensions. More objectives than two
are refused: use ``parego``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from tradeoff.errors import TradeoffError
from tradeoff.optimum import non_dominated
from tradeoff.samplers._pareto import Observed
from tradeoff.samplers.base import History
from tradeoff.samplers.bo import believe, fit_gp
from tradeoff.samplers.parego import DRAWS, ParEGO

REFERENCE = 1.1  # beyond the normalised worst measured cost, so improving an end of the front counts


def improvement(points: np.ndarray, front: np.ndarray, reference: float = REFERENCE) -> np.ndarray:
    """The hypervolume each two-objective cost row of ``points`` (any leading shape) adds to ``front``'s."""
    front = front[non_dominated(front)] if len(front) else front.reshape(0, 2)
    front = front[np.argsort(front[:, 0])]
    # The staircase: for first costs in [starts[k], ends[k]) the front dominates every second cost above heights[k].
    starts = np.concatenate([[-np.inf], front[:, 0]])
    ends = np.concatenate([front[:, 0], [reference]])
    heights = np.concatenate([[reference], front[:, 1]])
    width = np.clip(np.minimum(ends, reference) - np.maximum(starts, points[..., 0:1]), 0, None)
    height = np.clip(np.minimum(heights, reference) - points[..., 1:2], 0, None)
    return (width * height).sum(axis=-1)


class ExpectedHypervolume(ParEGO):
    name = "ehvi"

    def ask(self, history: History, budget: int) -> list[dict]:
        if len(history.goals()) != 2:  # refused before the design is measured
            raise TradeoffError(f"the ehvi optimiser handles two objectives, not {len(history.goals())}; use --method parego")
        return super().ask(history, budget)

    def choose(self, observed: Observed, pool: np.ndarray, batch: int, iteration: int, left: float) -> list[int]:
        rng = np.random.default_rng([self.seed, iteration])
        with threadpool_limits(1, "blas"):  # small matrices: one thread wins (see bo)
            models = [fit_gp(observed.X, observed.Y[:, j]) for j in range(2)]
            feasibility = np.ones(len(pool))
            for j in range(observed.slack.shape[1]):
                mean, variance = fit_gp(observed.X, observed.slack[:, j]).predict(pool, include_likelihood=False)
                feasibility *= norm.cdf(mean[:, 0] / np.sqrt(np.clip(variance[:, 0], 1e-12, None)))
            front = observed.Y[observed.feasible()]
            noise = rng.standard_normal((DRAWS, 1, 2))
            picks: list[int] = []
            for _ in range(batch):
                predicted = [model.predict(pool, include_likelihood=False) for model in models]
                mean = np.column_stack([m[:, 0] for m, _ in predicted])
                std = np.column_stack([np.sqrt(np.clip(v[:, 0], 0, None)) for _, v in predicted])
                # before anything feasible is measured: the probability of feasibility alone
                score = improvement(mean + std * noise, front).mean(axis=0) * feasibility if len(front) else feasibility.copy()
                if not np.any(score > 0):  # no expected gain anywhere: the best predicted sum
                    score = -mean.sum(axis=1)
                score[picks] = -np.inf
                pick = int(np.argmax(score))
                picks.append(pick)
                if len(picks) < batch:  # the believer: the pick's predicted costs as if measured, hyper-parameters kept
                    for model, column in zip(models, mean[pick]):
                        believe(model, pool[pick], column)
                    if feasibility[pick] >= 0.5:
                        front = np.vstack([front, mean[pick]])
        return picks
