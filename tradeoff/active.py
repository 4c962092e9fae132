"""Active learning with a Gaussian process: which configurations to measure next.

One round of the loop (a campaign flow repeats it until the budget is spent)::

    model = make_learner("gp", seed).fit(space.encode(measured_configs), measured_values)
    batch = next_batch(model, space, measured_configs, batch_size, seed)
    # measure `batch` (in parallel, e.g. on Ray), add it to the measured ones, refit, repeat

A batch is chosen greedily: the candidate with the largest predictive variance first, then the
candidate with the largest variance *given* the ones already chosen (the GP's posterior variance
does not depend on the values still to be measured), so a batch spreads over the uncertain
region instead of piling up on one spot. Candidates are the population of a replay space, else
a seeded sample of valid configurations.
"""

from __future__ import annotations

import numpy as np

from tradeoff.errors import TradeoffError
from tradeoff.models.gp import GaussianProcess
from tradeoff.sampling import sample
from tradeoff.space import Space, config_id

CANDIDATE_POOL = 2000


def most_uncertain(model: GaussianProcess, candidates: np.ndarray, batch: int) -> list[int]:
    """Indices (into the encoded ``candidates``) of a batch that is jointly most uncertain under
    the fitted GP: greedy maximisation of the posterior variance conditioned on the picks."""
    if not isinstance(model, GaussianProcess) or not hasattr(model, "model_"):
        raise TradeoffError("active learning needs a fitted 'gp' learner; fit make_learner('gp') first")
    gp = model.model_
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
    """The next ``batch`` configurations to measure: the most uncertain valid ones not measured yet."""
    done = {config_id(c) for c in measured}
    if space.population is not None:
        candidates = space.population.to_dict("records")
    else:
        candidates = sample(space, "random", pool, seed)
    candidates = [c for c in candidates if config_id(c) not in done]
    if not candidates:
        raise TradeoffError("every candidate configuration is measured already; active learning has nothing left to choose")
    chosen = most_uncertain(model, space.encode(space.to_frame(candidates)), batch)
    return [candidates[i] for i in chosen]
