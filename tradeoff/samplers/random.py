"""Uniform over valid configurations (or over the recorded population), without repeats.

ConfigSpace draws with replacement, so a budget of 30 from 100 configurations held 29 distinct
ones and a budget of 1000 from 1024 only 630: draws continue (with derived seeds, the first draw
unchanged so a campaign resumes as before) until the budget is distinct; a space that holds no
more than the budget gives all of its configurations, in an order of the seed.
"""

from __future__ import annotations

import logging
import random

from tradeoff.samplers.base import Design
from tradeoff.space import Space, config_id

ROUNDS = 50  # draws of a full budget before deciding that constraints leave fewer valid configurations
log = logging.getLogger(__name__)


class Random(Design):
    def design(self, space: Space, budget: int) -> list[dict]:
        size = space.count()
        if size is not None and size <= budget and space.population is None:
            every = space.enumerate()
            random.Random(self.seed).shuffle(every)
            log.info("random sampler: the space holds %d configurations, at most the budget of %d; taking all", size, budget)
            return every
        chosen: dict[str, dict] = {}
        for round_ in range(ROUNDS):
            for config in space.sample_uniform(budget, self.seed + round_ * 1_000_003):
                chosen.setdefault(config_id(config), config)
            if len(chosen) >= budget or space.population is not None:
                break
        if len(chosen) < budget:
            log.warning("random sampler: %d distinct configurations of the %d asked for (%d draws found no more)",
                        len(chosen), budget, ROUNDS)
        return list(chosen.values())[:budget]
