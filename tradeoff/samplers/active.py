"""Active learning with a Gaussian process: a random seed design, then batches where the GP is most uncertain.

Each ask fits the GP to the stored measurements of the metric and returns the stored
configurations plus the batch it is jointly most uncertain about; ``tradeoff campaign --sampler
active`` measures that batch (in parallel, e.g. on Ray) and asks again until the budget is spent.
The seed design is ``seed_size`` random configurations, enough for a first GP and every worker.

A batch is chosen greedily: the candidate with the largest predictive variance first, then the
candidate with the largest variance *given* the ones already chosen (the GP's posterior variance
does not depend on the values still to be measured), so a batch spreads over the uncertain
region instead of piling up on one spot. Candidates are the population of a replay space, else
a seeded sample of valid configurations.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, aggregate, options_of
from tradeoff.models.learners.base import make_learner
from tradeoff.models.learners.gp import GaussianProcess
from tradeoff.samplers._valid import unique
from tradeoff.samplers.base import History, Sampler
from tradeoff.space import Space, config_id

CANDIDATE_POOL = 2000
MAX_ROUNDS = 20  # GP refits per campaign at most: a refit on hundreds of rows costs seconds

log = logging.getLogger(__name__)


class Active(Sampler):
    adaptive = True

    def ask(self, history: History, budget: int) -> list[dict]:
        space = history.space
        stored = stored_configurations(history.measurements, space)
        done = {config_id(c) for c in stored}
        seed_design = unique(space.sample_uniform(seed_size(budget, history.workers), self.seed))
        missing = [c for c in seed_design if config_id(c) not in done]
        if missing:
            log.info("active learning: %d stored, %d of the random seed design to measure", len(stored), len(missing))
            return stored + missing
        remaining = budget - len(stored)
        if remaining <= 0:
            log.info("active learning: %d stored, the budget of %d is spent", len(stored), budget)
            return stored
        if history.metric is None:
            raise TradeoffError("active learning needs the metric to model; give --metric")
        # The seed follows the store: the same stored measurements give the same batch, resumed or not.
        batch = choose_next(history.measurements, space, history.metric, batch_size(remaining, history.workers),
                            self.seed + len(stored))
        log.info("active learning: %d stored, a batch of %d where the GP of %s is most uncertain", len(stored), len(batch), history.metric)
        return stored + batch


def seed_size(budget: int, workers: int) -> int:
    """How many random configurations start the loop: a quarter of the budget, at least one
    batch for the workers and enough (5) for a first GP."""
    return min(budget, max(workers, 5, budget // 4))


def batch_size(remaining: int, workers: int) -> int:
    """Configurations per round: every worker busy, and no more than MAX_ROUNDS rounds."""
    return min(remaining, max(workers, -(-remaining // MAX_ROUNDS)))


def most_uncertain(model: GaussianProcess, candidates: np.ndarray, batch: int) -> list[int]:
    """Indices (into the encoded ``candidates``) of a batch that is jointly most uncertain under
    the fitted GP: greedy maximisation of the posterior variance conditioned on the picks."""
    if not isinstance(model, GaussianProcess) or not hasattr(model, "model_"):
        raise TradeoffError("active learning needs a fitted 'gp' learner; fit make_learner('gp') first")
    with threadpool_limits(1, "blas"):  # small matrices: see tradeoff.models.learners.gp
        return _most_uncertain(model.model_, candidates, batch)


def _most_uncertain(gp, candidates: np.ndarray, batch: int) -> list[int]:
    # GPy reports (co)variances on the target's scale; its noise variance is on the standardised one.
    scale = float(np.ravel(gp.normalizer.std)[0]) ** 2 if gp.normalizer is not None else 1.0
    noise = float(np.ravel(gp.likelihood.variance)[0]) * scale
    variance = gp.predict(candidates, include_likelihood=False)[1][:, 0] + noise
    picks: list[int] = []
    cross = np.zeros((len(candidates), 0))  # posterior covariance between candidates and picks
    for _ in range(min(batch, len(candidates))):
        if picks:
            block = cross[picks] + noise * np.eye(len(picks))  # picks' covariance, noise included
            conditional = variance - np.einsum("ij,ji->i", cross, np.linalg.solve(block, cross.T))
        else:
            conditional = variance
        conditional[picks] = -np.inf
        pick = int(np.argmax(conditional))
        picks.append(pick)
        column = gp.posterior_covariance_between_points(candidates, candidates[pick:pick + 1], include_likelihood=False)
        cross = np.hstack([cross, np.asarray(column).reshape(-1, 1)])
    return picks


def next_batch(model: GaussianProcess, space: Space, measured: list[dict], batch: int, seed: int = 0,
               pool: int = CANDIDATE_POOL) -> list[dict]:
    """The next ``batch`` configurations to measure: the most uncertain valid ones not measured
    yet (fewer, or none, once the candidates run out)."""
    done = {config_id(c) for c in measured}
    if space.population is not None:
        candidates = space.population.to_dict("records")
    else:
        candidates = unique(space.sample_uniform(pool, seed))
    candidates = [c for c in candidates if config_id(c) not in done]
    if not candidates:
        return []
    chosen = most_uncertain(model, space.encode(space.to_frame(candidates)), batch)
    return [candidates[i] for i in chosen]


def stored_configurations(frame: pd.DataFrame, space: Space) -> list[dict]:
    """Every configuration a campaign's store holds, failed ones included (they are never repeated)."""
    if frame.empty:
        return []
    return space.to_frame(options_of(aggregate(frame), space.names).to_dict("records")).to_dict("records")


def choose_next(frame: pd.DataFrame, space: Space, metric: str, batch: int, seed: int = 0) -> list[dict]:
    """One round on stored measurements: fit the GP to the successful configurations' medians of
    ``metric``, return the ``batch`` unmeasured configurations it is jointly most uncertain about."""
    table = aggregate(frame)
    ok = table[(table["status"] == "ok") & table[METRIC_PREFIX + metric].notna()]
    if len(ok) < 2:
        raise TradeoffError(f"active learning needs 2 successful measurements of {metric!r} to fit its GP, "
                            f"the store has {len(ok)} of {len(table)} configurations; see why with 'tradeoff show FOLDER'")
    X = space.encode(options_of(ok, space.names))
    model = make_learner("gp", seed).fit(X, ok[METRIC_PREFIX + metric].to_numpy(float))
    return next_batch(model, space, stored_configurations(frame, space), batch, seed)
