"""Ridge regression on log(y), its penalty chosen by leave-one-out: stable on a handful of rows.

Each option scales performance by a factor, so a linear model of log(y) fits it; on a handful
of rows, where trees and kernels overfit, the ridge penalty keeps it stable.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeCV

from tradeoff.models.learners.base import LogTarget

ALPHAS = tuple(np.logspace(-3, 3, 13).tolist())


class RidgeLog(LogTarget):
    """alphas: the penalties leave-one-out chooses from."""

    def __init__(self, alphas: tuple[float, ...] = ALPHAS):
        self.alphas = alphas

    def _estimator(self):
        return RidgeCV(alphas=np.asarray(self.alphas))
