"""The transfer methods' contract: a scikit-learn regressor of the target that reuses a source.

A method is fitted on a small target sample (``Space.encode`` matrices, like every learner) and
reads the source through a :class:`Source`: a model fitted once on the source measurements and
shared by every clone, so cross-validation does not refit it. ``make_transfer(name, source,
learner, seed)`` builds a method by name from ``METHODS``; each method is one module of this
package (see ``tradeoff.registry``).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from tradeoff.errors import TradeoffError
from tradeoff.models.learners.base import make_learner
from tradeoff.registry import Registry

METHODS = Registry("transfer method", "tradeoff.transfer.methods", "tradeoff.transfer.methods.base:TransferMethod")
STUDY_METHODS = (*METHODS.names(), "l2s")  # what a transfer study runs: the members, and L2S (a sampler, tradeoff.samplers.l2s)


class Source:
    """A model of the source environment on the target's encoding; read-only once fitted."""

    def __init__(self, X: np.ndarray, y: np.ndarray, learner: str = "forest", seed: int = 0, name: str = "source"):
        if len(y) < 2:
            raise TradeoffError(f"source {name} has {len(y)} successful measurements; a source needs at least 2")
        self.X, self.y, self.name, self.learner = np.asarray(X, float), np.asarray(y, float), name, learner
        self.model = make_learner(learner, seed).fit(self.X, self.y)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict(np.asarray(X, float))

    def __deepcopy__(self, memo) -> Source:
        return self  # clones share the fitted source instead of copying its model and data


class TransferMethod(RegressorMixin, BaseEstimator):
    """A regressor of the target given a fitted :class:`Source` (its first parameter, ``source``).

    A method's ``__init__`` takes ``source`` and, where it uses them, ``learner`` (the target
    learner's name) and ``seed``: ``make_transfer`` passes those two only to the methods that
    declare them."""

    source: Source


def make_transfer(name: str, source: Source, learner: str = "forest", seed: int = 0) -> TransferMethod:
    """The transfer method ``name`` on ``source``, with the target ``learner`` and ``seed`` where it takes them."""
    cls = METHODS.get(name)
    params = cls._get_param_names()
    return cls(source, **{key: value for key, value in (("learner", learner), ("seed", seed)) if key in params})
