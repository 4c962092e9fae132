"""The negative-transfer guard: cross-validates transfer methods against target-only, keeps the best.

On the target sample, ``linear-shift``, ``stack`` and ``stack-gp`` compete with the target learner
alone; a method is kept only when it beats target-only, so the source is ignored when it hurts.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import KFold, cross_val_predict

from tradeoff.errors import TradeoffError
from tradeoff.models.learners.base import make_learner
from tradeoff.transfer.methods.base import Source, TransferMethod, make_transfer

log = logging.getLogger(__name__)

LOO_UP_TO = 20  # target measurements: below this, auto cross-validates leave-one-out
# stack-gp's kernel is refitted in every fold (one kernel fitted on the whole sample flatters the GP,
# bench/RESULTS.md); mtgp is left out: a slower GPy fit per fold, not measured inside auto.
AUTO_CANDIDATES = ("linear-shift", "stack", "stack-gp")


class Auto(TransferMethod):
    """Cross-validates the transfer methods and target-only on the target sample (leave-one-out up
    to ``LOO_UP_TO`` measurements, else ``folds`` folds). A transfer method is kept only when it
    beats target-only on both the mean and the median of the cross-validated relative errors: the
    mean alone follows a few extreme configurations, the median alone ignores them. ``choice_``,
    ``reason_`` and ``cv_mape_`` say which and why."""

    def __init__(self, source: Source, learner: str = "forest", candidates: tuple = AUTO_CANDIDATES, folds: int = 5,
                 seed: int = 0):
        self.source, self.learner, self.candidates, self.folds, self.seed = source, learner, candidates, folds, seed

    def fit(self, X, y):
        X, y = np.asarray(X, float), np.asarray(y, float)
        if len(y) < 2:
            raise TradeoffError(f"auto needs at least 2 target measurements to cross-validate, got {len(y)}")
        options = {"target-only": make_learner(self.learner, self.seed)}
        options.update({m: make_transfer(m, self.source, self.learner, self.seed) for m in self.candidates})
        folds = len(y) if len(y) <= LOO_UP_TO else self.folds
        split = KFold(folds, shuffle=True, random_state=self.seed)
        relative = {name: _relative_errors(y, cross_val_predict(model, X, y, cv=split)) for name, model in options.items()}
        self.cv_mape_ = {name: float(np.mean(e) * 100) for name, e in relative.items()}
        cv_median = {name: float(np.median(e) * 100) for name, e in relative.items()}
        alone = self.cv_mape_["target-only"]
        better = [m for m in self.candidates if self.cv_mape_[m] < alone and cv_median[m] < cv_median["target-only"]]
        self.choice_ = min(better, key=self.cv_mape_.get) if better else "target-only"
        if self.choice_ == "target-only":
            self.reason_ = (f"the source does not help: no transfer learner beats target-only on both mean and median "
                            f"cross-validated error (MAPE {_listing(self.cv_mape_)})")
            log.info("auto falls back to target-only on %d target measurements: %s", len(y), self.reason_)
        else:
            self.reason_ = (f"{self.choice_} from {self.source.name} cuts cross-validated MAPE from {alone:.1f}% "
                            f"(target-only) to {self.cv_mape_[self.choice_]:.1f}%, median error from "
                            f"{cv_median['target-only']:.1f}% to {cv_median[self.choice_]:.1f}% (MAPE {_listing(self.cv_mape_)})")
            log.info("auto chooses %s on %d target measurements: %s", self.choice_, len(y), self.reason_)
        self.model_ = clone(options[self.choice_]).fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def _relative_errors(measured: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    nonzero = measured != 0
    return np.abs(measured[nonzero] - predicted[nonzero]) / np.abs(measured[nonzero])


def _listing(errors: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.1f}%" for name, value in sorted(errors.items(), key=lambda item: item[1]))
