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

A batch for several workers is chosen by the Kriging believer: after each pick the GP is told
its own mean there as if measured (hyper-parameters kept), which shrinks the uncertainty around
the pick, so the next pick goes elsewhere unless the mean is clearly better there.
"""

from __future__ import annotations

import math

import GPy
import numpy as np
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from tradeoff.samplers._optimise import Optimiser

DELTA = 0.1  # GP-UCB's confidence parameter
BETA_SCALE = 0.2  # Srinivas et al.'s practical scaling of beta_t
MAX_ITERS = 100  # L-BFGS steps for the marginal likelihood: converges well before on <= a few hundred rows


def beta(iteration: int, candidates: int) -> float:
    """GP-UCB's exploration weight at ``iteration`` (>= 1) over ``candidates`` configurations."""
    return BETA_SCALE * 2 * math.log(max(candidates, 1) * iteration ** 2 * math.pi ** 2 / (6 * DELTA))


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


class BayesianOptimisation(Optimiser):
    name = "bo"
    transfers = True
    acquisition = "lcb"  # or "ei" (bo-ei)

    def choose(self, X: np.ndarray, cost: np.ndarray, pool: np.ndarray, batch: int, iteration: int) -> list[int]:
        return self._acquire(X, cost, pool, batch, iteration, np.zeros(len(X)), np.zeros(len(pool)))

    def choose_warm(self, X: np.ndarray, cost: np.ndarray, pool: np.ndarray, batch: int, iteration: int, prior) -> list[int]:
        """The GP models the target's difference from the source's predictions, linearly shifted onto the target."""
        y = np.minimum(cost, np.median(cost))
        slope, offset = np.polyfit(prior.measured, y, 1)
        return self._acquire(X, cost, pool, batch, iteration, offset + slope * prior.measured, offset + slope * prior.pool)

    def _acquire(self, X, cost, pool, batch, iteration, prior_measured, prior_pool) -> list[int]:
        """The batch by the acquisition on the GP of the (clipped) costs minus the prior mean, Kriging believer between picks."""
        weight = math.sqrt(beta(iteration, len(pool)))
        y = np.minimum(cost, np.median(cost))
        picks: list[int] = []
        with threadpool_limits(1, "blas"):  # small matrices: one thread wins (see tradeoff.models.learners.gp)
            model = fit_gp(X, y - prior_measured)
            for _ in range(batch):
                mean, variance = model.predict(pool, include_likelihood=False)
                mean, std = prior_pool + mean[:, 0], np.sqrt(np.clip(variance[:, 0], 1e-12, None))
                if self.acquisition == "ei":  # minimised: the negative expected improvement over the best cost
                    z = (y.min() - mean) / std
                    score = -((y.min() - mean) * norm.cdf(z) + std * norm.pdf(z))
                else:
                    score = mean - weight * std
                score[picks] = np.inf
                pick = int(np.argmin(score))
                picks.append(pick)
                if len(picks) < batch:  # the believer: the pick's mean as if measured, hyper-parameters kept
                    believed = mean[pick:pick + 1] - prior_pool[pick:pick + 1]
                    model.set_XY(np.vstack([model.X, pool[pick:pick + 1]]), np.vstack([model.Y, believed[:, None]]))
        return picks
