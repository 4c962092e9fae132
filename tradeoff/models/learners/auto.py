"""The learner, or the average of learners, that cross-validation on the training sample finds most accurate.

Only the training sample is used: each candidate's out-of-fold predictions come from k-fold
cross-validation on it. Besides each single candidate, auto scores the average of the best two
and of the best three candidates (from the same out-of-fold predictions, so averaging costs no
extra fit): learners that err differently often err less together. The winner is refitted on
the whole sample. The test rows of a learning curve never influence the choice.

Below three rows per fold (15 rows in 5-fold CV) the folds' errors rank the candidates by chance,
so auto does not choose: it averages a fixed trio of different kinds (boosting's trees, the GP's
kernel and a ridge regression on logs). On DeepPerf's data this beat choosing at every such size
tried (bench/RESULTS.md).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.utils.validation import check_is_fitted

from tradeoff.models.accuracy import mape
from tradeoff.models.learners.base import LEARNERS, Learner, make_learner

log = logging.getLogger(__name__)

DEFAULT_CANDIDATES = ("influence", "cart", "log-forest", "boosting", "gp")
SMALL_SAMPLE_AVERAGE = ("boosting", "gp", "ridge-log")
ROWS_PER_FOLD = 3  # fewer test rows per fold than this: too few to rank learners


class AutoLearner(Learner):
    """Chooses among registered learners and averages of the best ones by cross-validated MAPE.

    candidates: learner names, comma-separated (``dnn`` and ``dal`` are left out by default: they
        cost seconds per fit, and cross-validation multiplies that by the folds).
    combine: also score the averages of the best 2 and 3 candidates.
    """

    _min_samples = 2  # cross-validation needs two rows
    _selects_by_relative_error = True

    def __init__(self, candidates: str = ",".join(DEFAULT_CANDIDATES), folds: int = 5, combine: bool = True, seed: int = 0):
        self.candidates = candidates
        self.folds = folds
        self.combine = combine
        self.seed = seed

    def _fit(self, X, y):
        names = [LEARNERS.check(name.strip()) for name in self.candidates.split(",") if name.strip()]
        if self.folds < 2:
            raise ValueError(f"auto cross-validates: folds must be at least 2, got {self.folds}")
        if len(y) < ROWS_PER_FOLD * self.folds:
            self.scores_ = pd.Series(dtype=float)
            log.info("auto averages %s: %d rows are too few to rank learners by %d-fold CV",
                     "+".join(SMALL_SAMPLE_AVERAGE), len(y), self.folds)
            return self._fit_members(SMALL_SAMPLE_AVERAGE, X, y)
        splits = KFold(self.folds, shuffle=True, random_state=self.seed)  # every fold has ROWS_PER_FOLD rows or more
        out_of_fold = {name: cross_val_predict(make_learner(name, self.seed), X, y, cv=splits) for name in names}
        scores = pd.Series({name: mape(y, predicted) for name, predicted in out_of_fold.items()}).sort_values()
        if self.combine:
            for k in (2, 3):
                if len(names) >= k:
                    best = list(scores.index[:k])
                    scores["+".join(best)] = mape(y, np.mean([out_of_fold[n] for n in best], axis=0))
        self.scores_ = scores.sort_values()
        log.info("auto chose %s by %d-fold CV on %d rows; MAPE %s", self.scores_.index[0], self.folds, len(y),
                 ", ".join(f"{name} {error:.2f}%" for name, error in self.scores_.items()))
        return self._fit_members(str(self.scores_.index[0]).split("+"), X, y)

    def _fit_members(self, names, X, y):
        self.chosen_ = "+".join(names)
        self.members_ = [make_learner(name, self.seed).fit(X, y) for name in names]
        self.model_ = self.members_[0]
        return self

    @property
    def chosen_model(self) -> RegressorMixin:
        """The chosen learner (of an average, its first member: the most accurate by CV), fitted on the whole sample."""
        check_is_fitted(self, "model_")
        return self.model_

    def _predict(self, X):
        return np.mean([member.predict(X) for member in self.members_], axis=0)
