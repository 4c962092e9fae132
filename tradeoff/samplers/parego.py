"""Multi-objective Bayesian optimisation: random Chebyshev scalarisations (ParEGO) of per-objective GPs, constraint-aware.

ParEGO (Knowles, IEEE TEC'06) turns several objectives into one with a random weight vector per
step, the augmented Chebyshev scalarisation ``max_i w_i y_i + 0.05 sum_i w_i y_i`` of objectives
normalised to [0, 1], and maximises expected improvement on it; over the steps the weights sweep
the front. Here each objective has a GP of its own (``bo``'s Matérn-5/2 ARD fit), the scalarisation
is applied to joint draws from them (Monte Carlo EI, one set of normal draws shared by every
candidate so the ranking is not noise), so one fit per objective serves every weight of a batch.
Output constraints (``psnr >= 40``) get a GP on their slack each, and the EI is weighted by the
probability that every one holds (Gardner et al., ICML'14); before a feasible configuration is
found, that probability alone is maximised. A batch for several workers draws a weight per pick and
uses the Kriging believer: the pick's predicted objectives join the models as if measured, so the
next pick goes elsewhere. Candidates are every configuration of a finite space (a replay's
recorded population) or a seeded pool, as in ``bo``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from tradeoff.samplers._pareto import MultiObjective, Observed
from tradeoff.samplers.bo import believe, fit_gp

RHO = 0.05  # ParEGO's augmentation: keeps weakly dominated points from scoring like the front
DRAWS = 64  # Monte Carlo draws of the objectives per candidate


def chebyshev(costs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The augmented Chebyshev scalarisation over the last axis."""
    weighted = costs * weights
    return weighted.max(axis=-1) + RHO * weighted.sum(axis=-1)


class ParEGO(MultiObjective):
    name = "parego"

    def price(self, observed: Observed, pool: np.ndarray, left: float) -> np.ndarray:
        """What choosing each candidate costs, as a divisor of its gain: nothing here (cost-blind)."""
        return np.ones(len(pool))

    def choose(self, observed: Observed, pool: np.ndarray, batch: int, iteration: int, left: float) -> list[int]:
        rng = np.random.default_rng([self.seed, iteration])
        objectives = observed.Y.shape[1]
        with threadpool_limits(1, "blas"):  # small matrices: one thread wins (see bo)
            models = [fit_gp(observed.X, observed.Y[:, j]) for j in range(objectives)]
            feasibility = np.ones(len(pool))
            for j in range(observed.slack.shape[1]):
                mean, variance = fit_gp(observed.X, observed.slack[:, j]).predict(pool, include_likelihood=False)
                feasibility *= norm.cdf(mean[:, 0] / np.sqrt(np.clip(variance[:, 0], 1e-12, None)))
            price = self.price(observed, pool, left)
            believed, believed_feasible = observed.Y, observed.feasible()
            noise = rng.standard_normal((DRAWS, 1, objectives))
            picks: list[int] = []
            for _ in range(batch):
                weights = rng.dirichlet(np.ones(objectives))
                predicted = [model.predict(pool, include_likelihood=False) for model in models]
                mean = np.column_stack([m[:, 0] for m, _ in predicted])
                std = np.column_stack([np.sqrt(np.clip(v[:, 0], 0, None)) for _, v in predicted])
                if believed_feasible.any():
                    incumbent = chebyshev(believed[believed_feasible], weights).min()
                    gain = np.maximum(incumbent - chebyshev(mean + std * noise, weights), 0).mean(axis=0) * feasibility
                else:
                    gain = feasibility.copy()
                score = gain / price
                if not np.any(score > 0):  # no expected gain anywhere: the best predicted scalarisation
                    score = -chebyshev(mean, weights)
                score[picks] = -np.inf
                pick = int(np.argmax(score))
                picks.append(pick)
                if len(picks) < batch:  # the believer: the pick's predicted objectives as if measured, hyper-parameters kept
                    for model, column in zip(models, mean[pick]):
                        believe(model, pool[pick], column)
                    believed = np.vstack([believed, mean[pick]])
                    believed_feasible = np.append(believed_feasible, feasibility[pick] >= 0.5)
        return picks
