"""Distance-based sampling that, at each distance, prefers the options chosen least often so far.

So every option is enabled about equally often in the sample.
"""

from __future__ import annotations

from tradeoff.samplers.distance import Distance


class DiversifiedDistance(Distance):
    diversified = True
