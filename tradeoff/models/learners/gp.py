"""Gaussian process with an ARD RBF kernel (GPy), predictive variance; hyper-parameters fitted on at most 200 rows.

Each input dimension has its own lengthscale (automatic relevance determination), so the fitted
lengthscales say which options matter: a short lengthscale means the prediction changes fast
along that option. Maximising the marginal likelihood costs O(n³) per step and needs dozens of
steps, so the kernel's hyper-parameters are fitted on at most ``hyper_rows`` seeded rows; the GP
then conditions on every row with those hyper-parameters (one Cholesky factorisation). The
linear algebra runs on one BLAS thread: on matrices this small, more threads win nothing, and
beside other busy processes (Ray workers measuring, a second fit) OpenBLAS' spinning threads
slowed a fit 20-fold. On 1,000 configurations of 50 options a fit takes about a second.
"""

from __future__ import annotations

import GPy
import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from tradeoff.models.learners.base import Learner, floored_log, log_floor


class GaussianProcess(Learner):
    """GP regression with an ARD RBF kernel (scikit-learn estimator on top of GPy).

    max_iters: the L-BFGS budget for the marginal likelihood; on performance data it converges
        in about 100 steps, the default 1,000 of GPy mostly polishes decimals.
    hyper_rows: the most rows the hyper-parameters are fitted on.
    log_target: model log(y) when every target is positive (run times are multiplicative).
    """

    def __init__(self, max_iters: int = 100, hyper_rows: int = 200, log_target: bool = True, seed: int = 0):
        self.max_iters = max_iters
        self.hyper_rows = hyper_rows
        self.log_target = log_target
        self.seed = seed

    def fit(self, X, y):
        with threadpool_limits(1, "blas"):
            return super().fit(X, y)

    def _fit(self, X, y):
        floor = log_floor(y) if self.log_target else None
        self.log_ = floor is not None
        target = (floored_log(y, floor) if self.log_ else y)[:, None]
        kernel = GPy.kern.RBF(X.shape[1], ARD=True, lengthscale=np.ones(X.shape[1]))
        subset = np.sort(np.random.default_rng(self.seed).permutation(len(y))[:self.hyper_rows])
        self.model_ = GPy.models.GPRegression(X[subset], target[subset], kernel=kernel, normalizer=GPy.util.normalizer.Standardize())
        # Floors keep the kernel matrix well conditioned: GPy's RBF loses precision (negative
        # eigenvalues) once 1/lengthscale² dwarfs the inputs' scale, and a lengthscale of 0.05 on
        # a [0, 1] input already decorrelates its two ends completely.
        self.model_.kern.lengthscale.constrain_bounded(0.05, 100.0, warning=False)
        self.model_.likelihood.variance.constrain_bounded(1e-4, 10.0, warning=False)
        self.model_.optimize(max_iters=self.max_iters)
        if len(subset) < len(y):
            self.model_.set_XY(X, target)  # keeps the fitted hyper-parameters, conditions on every row
        return self

    def predict(self, X, return_std: bool = False):
        """The predictive mean; with return_std, also its standard deviation (on the log scale
        when log_target applied, i.e. a relative uncertainty)."""
        X = self._validated(X)
        with threadpool_limits(1, "blas"):
            mean, variance = self.model_.predict(X)
        mean, std = mean[:, 0], np.sqrt(np.clip(variance[:, 0], 0, None))
        if self.log_:
            mean = np.exp(mean)
        return (mean, std) if return_std else mean

    def lengthscales(self, feature_names: list[str]) -> pd.Series:
        check_is_fitted(self, "model_")
        return pd.Series(np.asarray(self.model_.kern.lengthscale, float), index=feature_names)

    def influences(self, feature_names: list[str]) -> pd.Series:
        """Each feature's relevance: the inverse of its lengthscale."""
        return 1.0 / self.lengthscales(feature_names)

