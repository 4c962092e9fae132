"""Bayesian optimisation in BO4CO's manner: a Matérn-5/2 GP, lower confidence bound, Kriging-believer batches.

BO4CO (Jamshidi & Casale, MASCOTS'16) found Storm's best configurations with a Latin-hypercube
initial design, a Gaussian process with a Matérn-5/2 kernel and a lower-confidence-bound
acquisition whose exploration weight grows with the iteration. This is that loop, on the
sampler contract: the initial design is a maximin Latin hypercube snapped to valid (or recorded)
configurations; the GP (GPy, one lengthscale per encoded option: ARD) is fitted on the stored
successful medians of the metric as a cost (log, sign: see ``_optimise``), with costs above their
median clipped to it: the GP then spends its fit on the good half instead of on how bad the worst
configurations are (Storm's latencies span four orders of magnitude), which found the optimum of
more Storm tables within 50 measurements in a 4-seed trial; the LCB
``mean - sqrt(beta_t) * std`` uses the GP-UCB schedule of Srinivas et al. (ICML'10),
``beta_t = 2 log(|D| t² π² / 6δ)`` scaled by 1/5 as in their experiments (the theoretical value
explores far too much on a few hundred measurements). Candidates are scored exhaustively where
the space is finite (a replay's recorded population), else a seeded pool of valid ones.

Output constraints on measured metrics (``throughput >= 9000``) get a GP of their own on each
constraint's slack. With the lower confidence bound, a candidate is eligible when every constraint
is predicted met (the slack's mean >= 0); the optimistic version (its upper bound ``mean +
sqrt(beta_t) * std >= 0``, CONFIG: Xu et al., ICML'23) excluded too little: 77-92% of its picks
were infeasible on a Storm table (bench/RESULTS.md). With expected improvement, the improvement
over the best *feasible* cost is weighted by the probability that every constraint holds (Gardner
et al., ICML'14). Where no candidate is eligible (LCB), or nothing feasible was measured yet (EI),
the most probably feasible candidate is chosen. The costs are clipped at the median of the
feasible ones: a bound may leave only the worse half feasible, which a clip at the median of all
would flatten.

With the lower confidence bound, every second ask (an odd number of configurations stored)
measures FLASH's choice instead: the predicted best of a CART on the same clipped costs (among the
eligible). Tried because the GP's bound lingered on a plateau of near-optimal latencies (rs-6d-c3:
26 within 5% among hundreds at 2.0-2.3 ms) where FLASH got to 5% sooner; on 5 tuning seeds of five
Storm tables it reached 5% sooner on four; rs-6d-c3: median 24 on held-out seeds (36.5 before, seeds 0-19)
(bench/RESULTS.md, with the other ideas tried: a smaller exploration weight, a trust region, rank
averaging).

A batch for several workers is chosen by the Kriging believer: after each pick the GP is told
its own mean there as if measured (hyper-parameters kept), which shrinks the uncertainty around
the pick, so the next pick goes elsewhere unless the mean is clearly better there.
"""

from __future__ import annotations

import math

import GPy
import numpy as np
from scipy.stats import norm
from sklearn.tree import DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from tradeoff.samplers._optimise import Constraints, Optimiser

DELTA = 0.1  # GP-UCB's confidence parameter
BETA_SCALE = 0.2  # Srinivas et al.'s practical scaling of beta_t
FLASH_EVERY = 2  # bo (LCB): every second ask measures the CART's predicted best instead
MAX_ITERS = 100  # L-BFGS steps for the marginal likelihood: converges well before on <= a few hundred rows


def beta(iteration: int, candidates: int) -> float:
    """GP-UCB's exploration weight at ``iteration`` (>= 1) over ``candidates`` configurations."""
    return BETA_SCALE * 2 * math.log(max(candidates, 1) * iteration ** 2 * math.pi ** 2 / (6 * DELTA))


def believe(model: GPy.models.GPRegression, x: np.ndarray, value: float) -> None:
    """The Kriging believer's step: ``value`` at the point ``x`` as if measured, hyper-parameters kept."""
    model.set_XY(np.vstack([model.X, x[None, :]]), np.vstack([model.Y, [[value]]]))


def fit_gp(X: np.ndarray, y: np.ndarray) -> GPy.models.GPRegression:
    """A Matérn-5/2 ARD GP on standardised costs, its hyper-parameters by maximum marginal likelihood."""
    kernel = GPy.kern.Matern52(X.shape[1], ARD=True, lengthscale=np.full(X.shape[1], 0.5))
    model = GPy.models.GPRegression(X, y[:, None], kernel=kernel, normalizer=GPy.util.normalizer.Standardize())
    # The lower bounds keep the kernel matrix well conditioned on [0, 1] inputs (see
    # tradeoff.models.learners.gp). The upper one, twice the inputs' range, keeps the GP from
    # turning an option into a long monotone trend: with 100 it kept extrapolating Storm's
    # rs-6d-c3 towards 18 sorters and never went back to the optimum at 3-6 (see bench/RESULTS.md).
    model.kern.lengthscale.constrain_bounded(0.05, 2.0, warning=False)
    model.kern.variance.constrain_bounded(1e-3, 100.0, warning=False)
    # GPy starts the noise at 1.0, this bound, where the bounded transform has no gradient: started
    # there it never moved, and the GP called two thirds of the standardised variance noise
    # (FlexiBO tables: R² on the whole table from 30 rows 0.47-0.77 against 0.81-0.94; see bench/RESULTS.md).
    model.likelihood.variance = 0.01
    model.likelihood.variance.constrain_bounded(1e-6, 1.0, warning=False)
    model.optimize(max_iters=MAX_ITERS)
    return model


def clipped(cost: np.ndarray, constraints: Constraints) -> np.ndarray:
    """The costs the GP models: those above the median clipped to it, the median of the feasible ones
    where a constraint is met somewhere (the feasible region may lie entirely in the worse half)."""
    return np.minimum(cost, np.median(cost[constraints.met] if constraints.met.any() else cost))


class BayesianOptimisation(Optimiser):
    name = "bo"
    transfers = True
    acquisition = "lcb"  # or "ei" (bo-ei)

    def choose(self, X: np.ndarray, cost: np.ndarray, pool: np.ndarray, batch: int, iteration: int,
               constraints: Constraints) -> list[int]:
        return self._acquire(X, cost, pool, batch, iteration, np.zeros(len(X)), np.zeros(len(pool)), constraints)

    def choose_warm(self, X: np.ndarray, cost: np.ndarray, pool: np.ndarray, batch: int, iteration: int, prior,
                    constraints: Constraints) -> list[int]:
        """The GP models the target's difference from the source's predictions, linearly shifted onto the target."""
        y = clipped(cost, constraints)
        slope, offset = np.polyfit(prior.measured, y, 1)
        return self._acquire(X, cost, pool, batch, iteration, offset + slope * prior.measured, offset + slope * prior.pool,
                             constraints)

    def _acquire(self, X, cost, pool, batch, iteration, prior_measured, prior_pool, constraints: Constraints) -> list[int]:
        """The batch by the acquisition on the GP of the (clipped) costs minus the prior mean, Kriging believer between picks."""
        weight = math.sqrt(beta(iteration, len(pool)))
        y = clipped(cost, constraints)
        picks: list[int] = []
        with threadpool_limits(1, "blas"):  # small matrices: one thread wins (see tradeoff.models.learners.gp)
            z = np.zeros((len(pool), constraints.slack.shape[1]))  # each constraint's slack over its std: > 0 predicted met
            for j, slack in enumerate(constraints.slack.T):
                if np.ptp(slack) == 0:  # nothing to model (a GP's standardising would divide by zero): as measured
                    z[:, j] = 10.0 if slack[0] >= 0 else -10.0
                    continue
                mean, variance = fit_gp(X, slack).predict(pool, include_likelihood=False)
                z[:, j] = mean[:, 0] / np.sqrt(np.clip(variance[:, 0], 1e-12, None))
            feasibility = norm.logcdf(z).sum(axis=1)  # log of the probability that every constraint holds
            eligible = np.all(z >= 0, axis=1)  # LCB: predicted to meet every constraint
            model = fit_gp(X, y - prior_measured)
            flash = self.acquisition == "lcb" and iteration % FLASH_EVERY and eligible.any()
            tree = DecisionTreeRegressor(random_state=0).fit(X, y).predict(pool) if flash else None
            for _ in range(batch):
                mean, variance = model.predict(pool, include_likelihood=False)
                mean, std = prior_pool + mean[:, 0], np.sqrt(np.clip(variance[:, 0], 1e-12, None))
                if self.acquisition == "ei":  # minimised: the negative expected improvement over the best feasible cost
                    if constraints.met.any():
                        best = y[constraints.met].min()
                        z_best = (best - mean) / std
                        score = -((best - mean) * norm.cdf(z_best) + std * norm.pdf(z_best)) * np.exp(feasibility)
                    else:
                        score = -feasibility
                elif tree is not None:  # FLASH's choice: the tree's predicted best
                    score = np.where(eligible, tree, np.inf)
                elif eligible.any():
                    score = np.where(eligible, mean - weight * std, np.inf)
                else:
                    score = -feasibility
                score[picks] = np.inf
                pick = int(np.argmin(score))
                picks.append(pick)
                if len(picks) < batch:  # the believer: the pick's mean as if measured, hyper-parameters kept
                    believe(model, pool[pick], mean[pick] - prior_pool[pick])
        return picks
