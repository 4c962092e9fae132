"""Tradeoff: learn how configuration drives performance.

The core package: spaces, samplers, models, the measurement schema and its store.
It imports neither Prefect nor Ray.
"""

from tradeoff.errors import TradeoffError

__all__ = ["TradeoffError"]
