"""Stacking with a Gaussian process as the target learner, weighing the source by the target sample.

A lengthscale per option and one for the source prediction let the GP use the source only as far as
it explains the target sample, and it is smooth in the options where a forest is piecewise constant.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from tradeoff.models.learners.base import floored_log, log_floor
from tradeoff.transfer.methods.base import Source, TransferMethod

GP_ITERATIONS = 50  # L-BFGS steps for the stacked GP's hyperparameters: keeps a fit cheap


class StackedGP(TransferMethod):
    """A GP on the options plus the standardised source prediction, fitted to log values where
    ``log_floor`` allows. An ARD RBF kernel with a noise term: an option (or the source) whose
    lengthscale runs to its upper bound is ignored, so the source is used only as far as the target
    sample supports."""

    def __init__(self, source: Source, seed: int = 0):
        self.source, self.seed = source, seed

    def _source_feature(self, predicted: np.ndarray) -> np.ndarray:
        return floored_log(predicted, self.floor_) if self.log_ else predicted

    def _inputs(self, X, feature: np.ndarray) -> np.ndarray:
        return np.hstack([np.asarray(X, float), ((feature - self.center_) / self.scale_)[:, None]])

    def fit(self, X, y):
        X, y = np.asarray(X, float), np.asarray(y, float)
        predicted = self.source.predict(X)
        self.floor_ = log_floor(y, predicted)
        self.log_ = self.floor_ is not None
        feature = self._source_feature(predicted)
        self.center_, self.scale_ = float(feature.mean()), float(feature.std() or 1.0)
        kernel = (ConstantKernel(1.0, (1e-3, 1e3)) * RBF(np.ones(X.shape[1] + 1), (0.05, 100.0))
                  + WhiteKernel(1e-2, (1e-6, 1.0)))
        self.model_ = GaussianProcessRegressor(kernel, optimizer=_few_lbfgs_steps, normalize_y=True, random_state=self.seed)
        with warnings.catch_warnings():  # lengthscales at their bound are expected: irrelevant options
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_.fit(self._inputs(X, feature), floored_log(y, self.floor_) if self.log_ else y)
        return self

    def predict(self, X):
        predicted = self.model_.predict(self._inputs(X, self._source_feature(self.source.predict(X))))
        return np.exp(predicted) if self.log_ else predicted


def _few_lbfgs_steps(objective, start, bounds):
    result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": GP_ITERATIONS})
    return result.x, result.fun
