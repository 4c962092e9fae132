"""Choosing the source: among several source environments, the bellwether (BEETLE, Krishna et al.).

The bellwether is the source whose model, linearly mapped, predicts every other source best; its
confidence says how often it still wins when the evaluation data are resampled. ``choose_source``
is the study's guard on the sources: every one must hold enough successful measurements to model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradeoff.errors import TradeoffError
from tradeoff.space import Space
from tradeoff.transfer.compare import encoded
from tradeoff.transfer.methods.base import Source
from tradeoff.transfer.methods.linear_shift import LinearShift

log = logging.getLogger(__name__)


@dataclass
class Bellwether:
    choice: str
    confidence: float  # share of bootstrap resamples of the evaluation data in which ``choice`` wins
    errors: pd.DataFrame  # MAPE (%) of each candidate's model (rows) on each other source (columns)
    reason: str


def bellwether(sources: dict[str, tuple[np.ndarray, np.ndarray]], learner: str = "forest", seed: int = 0,
               rounds: int = 200) -> Bellwether:
    """BEETLE's bellwether: the source whose model, linearly mapped, predicts every other source best.

    ``sources`` maps a name to its encoded configurations and measured values (same encoding).
    The confidence is the share of bootstrap resamples (of each other source's configurations)
    in which the chosen source still has the lowest mean error."""
    names = list(sources)
    if len(names) == 1:
        log.info("bellwether %s: the only source", names[0])
        return Bellwether(names[0], 1.0, pd.DataFrame(), "the only source")
    models = {name: Source(X, y, learner, seed, name) for name, (X, y) in sources.items()}
    relative = {}  # (candidate, other) -> per-configuration absolute relative error
    for candidate in names:
        for other in names:
            if other != candidate:
                X, y = sources[other]
                mapped = LinearShift(models[candidate]).fit(X, y).predict(X)
                relative[candidate, other] = np.abs(mapped - y) / np.where(y != 0, np.abs(y), np.nan)
    errors = pd.DataFrame({other: {c: float(np.nanmean(relative[c, other]) * 100) for c in names if c != other} for other in names})
    mean = errors.mean(axis=1, skipna=True)
    choice = str(mean.idxmin())
    rng, wins = np.random.default_rng(seed), 0
    for _ in range(rounds):
        picks = {other: rng.integers(0, len(sources[other][1]), len(sources[other][1])) for other in names}
        scores = {c: np.mean([np.nanmean(relative[c, o][picks[o]]) for o in names if o != c]) for c in names}
        wins += min(scores, key=scores.get) == choice
    confidence = wins / rounds
    runner_up = mean.drop(choice).idxmin()
    reason = (f"{choice} predicts the other sources with mean MAPE {mean[choice]:.1f}% after a linear map "
              f"(next: {runner_up} {mean[runner_up]:.1f}%); it wins {confidence:.0%} of {rounds} bootstrap resamples")
    log.info("bellwether %s among %d sources (confidence %.0f%%): %s", choice, len(names), 100 * confidence, reason)
    return Bellwether(choice, confidence, errors, reason)


def choose_source(sources: dict[str, pd.DataFrame], space: Space, metric: str, learner: str = "forest",
                  seed: int = 0) -> Bellwether:
    """The bellwether among the sources (the only one when there is one)."""
    if not sources:
        raise TradeoffError("give at least one source: --source DIR (a campaign folder) or --source SYSTEM:ENVIRONMENT")
    data = {name: encoded(space, frame, metric)[:2] for name, frame in sources.items()}
    for name, (_, y) in data.items():
        if len(y) < 5:
            raise TradeoffError(f"source {name} has {len(y)} successful measurements of {metric}; a source needs at least 5")
    return bellwether(data, learner, seed)
