"""The samplers' contract: a ``Sampler`` asked for configurations given a ``History``.

A sampler answers configurations (dicts: measure every metric). Where the system measures some
metrics alone for less (``History.separately``, from its spec), an optimiser may answer a
``Part`` instead: that configuration, only those metrics (FlexiBO's decoupled objectives).

This module stays light (no numpy, pandas or space at import): the CLI lists the samplers from
``SAMPLERS`` when it starts, and reaches the rest only when a sampler is asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from tradeoff.errors import TradeoffError
from tradeoff.registry import Registry

if TYPE_CHECKING:
    import pandas as pd

    from tradeoff.space import Space


def _no_rows() -> pd.DataFrame:
    import pandas as pd
    return pd.DataFrame()


@dataclass(frozen=True)
class Part:
    """An answer of ``ask`` that measures only ``metrics`` of ``config`` (one of ``History.separately``)."""

    config: dict
    metrics: tuple[str, ...]


def split_part(item: dict | Part) -> tuple[dict, tuple[str, ...]]:
    """An answer of ``ask`` as (configuration, the metrics to measure; (): all)."""
    return (item.config, tuple(item.metrics)) if isinstance(item, Part) else (item, ())


@dataclass(frozen=True, eq=False)  # eq=False: frames do not compare to one truth value
class History:
    """What a sampler sees when it is asked."""

    space: Space
    measurements: pd.DataFrame = field(default_factory=_no_rows)  # the campaign's stored rows, failed ones included
    metric: str | None = None  # the metric a strategy models (active learning) or optimises
    goal: str = "min"  # the metric's direction, as the system declares it: "min" or "max" (optimisers)
    sources: tuple[pd.DataFrame, ...] = ()  # measurements of other environments, the chosen one first (l2s)
    workers: int = 1  # measurements that run at once: an adaptive strategy's batch keeps them busy
    warm: tuple[pd.DataFrame, ...] = ()  # measurements of other environments of the system that warm-start an optimiser (bo)
    objectives: tuple[tuple[str, str], ...] = ()  # (metric, "min"/"max") of a multi-objective optimiser; () : (metric, goal)
    constraints: tuple[str, ...] = ()  # output constraints on measured metrics, e.g. "psnr >= 40" (tradeoff.optimum.Bound)
    separately: tuple[tuple[tuple[str, ...], float], ...] = ()  # (metrics, cost relative to a full measurement) the system measures alone

    def goals(self) -> tuple[tuple[str, str], ...]:
        """The objectives to optimise: the given ones, else the one metric in its direction."""
        return self.objectives or (((self.metric, self.goal),) if self.metric else ())


class Sampler:
    """A strategy choosing configurations to measure, deterministically for its seed."""

    adaptive: ClassVar[bool] = False  # True: needs measurements, so it cannot answer before any are made

    def __init__(self, seed: int = 0):
        self.seed = seed

    def ask(self, history: History, budget: int) -> list[dict | Part]:
        """The configurations to measure now, at most ``budget``. An adaptive strategy returns the
        stored configurations plus its next batch, and only the stored ones once it is done."""
        raise NotImplementedError


class Design(Sampler):
    """A sampler that needs no history: it answers its whole design every time."""

    def ask(self, history: History, budget: int) -> list[dict]:
        from tradeoff.samplers._valid import unique
        return unique(self.design(history.space, budget))[:budget]

    def design(self, space: Space, budget: int) -> list[dict]:
        raise NotImplementedError


SAMPLERS: Registry[Sampler] = Registry("sampler", "tradeoff.samplers", "tradeoff.samplers.base:Sampler")
OPTIMISERS = ("auto", "bo", "bo-ei", "flash", "random", "parego", "parego-cost", "ehvi", "nsga2", "flexibo")  # the methods of 'tradeoff optimize': random is the baseline


def sample(space: Space, name: str, budget: int, seed: int = 0, sources: tuple[pd.DataFrame, ...] = (),
           metric: str | None = None) -> list[dict]:
    """What a sampler chooses before anything is measured ('tradeoff sample', a transfer's target, benchmarks)."""
    sampler = SAMPLERS.get(name)
    if sampler.adaptive:
        raise TradeoffError(f"the {name} sampler chooses each batch from the measurements before it, so it cannot "
                            f"print configurations without measuring; run 'tradeoff campaign SYSTEM --sampler {name}'")
    if budget <= 0:
        raise TradeoffError(f"budget must be a positive number of configurations, not {budget}")
    return sampler(seed).ask(History(space, sources=tuple(sources), metric=metric), budget)
