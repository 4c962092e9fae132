"""L2S (Learning to Sample, Jamshidi et al. FSE'18): sample the target where the source's influential terms say it matters.

The source's influential options and pairwise interactions (``tradeoff.transfer.compare.influence_terms``)
guide the target design: most configurations (exploitation) set the options of one influential
term to each combination of their levels in turn, on a random background; the rest are drawn
uniformly (exploration), so effects the source did not show can still be found. The source is
the history's first source (the chosen one)::

    L2S(seed=0).ask(History(space, sources=(source_frame,), metric="time"), 20)

``guidance`` computes the terms once, for callers that sample many targets from one source.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import product

import numpy as np
import pandas as pd

from tradeoff.errors import TradeoffError
from tradeoff.measurements import options_of
from tradeoff.samplers._valid import unique, valid_or_snapped
from tradeoff.samplers.base import History, Sampler
from tradeoff.space import Option, Space, config_id, infer_options

TOP_TERMS = 8  # the exploitation part cycles over this many of the source's strongest terms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Guidance:
    terms: pd.Series  # influence share of options ("a") and interactions ("a*b") in the source, largest first
    explore: float = 0.3  # share of the budget drawn uniformly
    failed: frozenset = frozenset()  # config ids that never succeeded in the source: likely invalid, skipped


def guidance(source: pd.DataFrame, metric: str, explore: float = 0.3, seed: int = 0) -> Guidance:
    """The influential terms of a source measurement table."""
    from tradeoff.transfer.compare import influence_terms, successful
    if not 0 <= explore <= 1:
        raise TradeoffError(f"explore must be a share between 0 and 1, not {explore}")
    table = successful(source, metric)
    failed = frozenset(set(source["config_id"]) - set(table["config_id"]))
    if len(table) < 3:
        raise TradeoffError(f"the source holds {len(table)} successful measurements of {metric}; L2S needs at least 3")
    configs = options_of(table)
    space = Space(infer_options(configs))
    return Guidance(influence_terms(space, configs, table["metric." + metric].to_numpy(float), seed), explore, failed)


class L2S(Sampler):
    def __init__(self, seed: int = 0, explore: float = 0.3):
        super().__init__(seed)
        self.explore = explore

    def ask(self, history: History, budget: int) -> list[dict]:
        if not history.sources or history.metric is None:
            raise TradeoffError("the l2s sampler needs a source: use 'tradeoff transfer --source DIR', or ask it with "
                                "History(space, sources=(frame,), metric=METRIC)")
        return self.guided(history.space, guidance(history.sources[0], history.metric, self.explore), budget)

    def guided(self, space: Space, steer: Guidance, budget: int) -> list[dict]:
        """``budget`` configurations of ``space`` drawn with a source's guidance."""
        rng = np.random.default_rng(self.seed)
        space = _without(space, steer.failed)
        terms = [t for t in steer.terms.index if all(name in space.names for name in t.split("*"))][:TOP_TERMS]
        log.info("l2s: exploiting %s", ", ".join(f"{t} ({steer.terms[t]:.0%})" for t in terms) or "no term the target has")
        exploit = int(round(budget * (1 - steer.explore))) if terms else 0
        designs = []
        backgrounds = iter(space.sample_uniform(budget * 4, self.seed))
        combos = {term: _combinations([space[name] for name in term.split("*")]) for term in terms}
        position = {term: 0 for term in terms}
        # Stronger terms come up more often: draw each design's term with probability ~ its influence.
        weights = np.array([steer.terms[t] for t in terms], float) + 1e-12
        for _ in range(exploit):
            term = terms[rng.choice(len(terms), p=weights / weights.sum())]
            levels = combos[term][position[term] % len(combos[term])]
            position[term] += 1
            background = next(backgrounds, None)
            if background is None:  # a small population ran out of fresh backgrounds
                background = space.sample_uniform(1, int(rng.integers(1 << 31)))[0]
            designs.append({**background, **dict(zip(term.split("*"), levels))})
        chosen = unique(valid_or_snapped(space, designs))
        explored = space.sample_uniform(budget * 2, self.seed + 1)
        return [c for c in unique(chosen + explored) if config_id(c) not in steer.failed][:budget]


def _without(space: Space, failed: frozenset) -> Space:
    """A replay's population less the configurations that failed in the source."""
    if space.population is None or not failed:
        return space
    keep = [config_id(c) not in failed for c in space.population.to_dict("records")]
    return space.with_population(space.population[keep]) if any(keep) else space


def _combinations(options: list[Option]) -> list[tuple]:
    """Every combination of each option's extreme levels (both values of a bool, bounds of a number)."""
    levels = [o.domain if o.type in ("bool", "categorical") else
              (int(o.lower), int(o.upper)) if o.type == "int" else (o.lower, o.upper) for o in options]
    return list(product(*levels))
