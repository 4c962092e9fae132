"""A multi-task Gaussian process over a subsample of the source and the target sample (SEAMS'17).

Jamshidi et al.: source and target are two tasks of one GP (GPy's intrinsic coregionalisation
model), so the source's measurements, not only its model, inform the target.
"""

from __future__ import annotations

import numpy as np

from tradeoff.models.learners.base import floored_log, log_floor
from tradeoff.transfer.methods.base import Source, TransferMethod

ARD_UP_TO = 20  # features


class MultiTaskGP(TransferMethod):
    """Source and target in one GP: an RBF kernel over the options times a 2x2 task covariance
    (GPy's ICM). Each task's outputs are standardised (their logs where ``log_floor`` allows); the
    source contributes a seeded subsample."""

    def __init__(self, source: Source, source_points: int = 60, max_iters: int = 50, seed: int = 0):
        self.source, self.source_points, self.max_iters, self.seed = source, source_points, max_iters, seed

    def fit(self, X, y):
        import GPy  # imported here: GPy is slow to import and only this method needs it

        X, y = np.asarray(X, float), np.asarray(y, float)
        rng = np.random.default_rng(self.seed)
        keep = rng.choice(len(self.source.y), min(self.source_points, len(self.source.y)), replace=False)
        Xs, ys = self.source.X[keep], self.source.y[keep]
        floor = log_floor(y, ys)
        self.log_ = floor is not None
        if self.log_:
            ys, y = floored_log(ys, floor), floored_log(y, floor)
        self.scales_ = [(ys.mean(), ys.std() or 1.0), (y.mean(), y.std() or 1.0)]
        standard = [((v - m) / s)[:, None] for v, (m, s) in zip((ys, y), self.scales_)]
        ard = X.shape[1] <= ARD_UP_TO  # a lengthscale per feature pays off while the features are few
        np.random.seed(self.seed)  # GPy draws its initial values (the ICM's task covariance too) from numpy's global generator
        kernel = GPy.util.multioutput.ICM(input_dim=X.shape[1], num_outputs=2, kernel=GPy.kern.RBF(X.shape[1], ARD=ard))
        self.model_ = GPy.models.GPCoregionalizedRegression([Xs, X], standard, kernel=kernel)
        # Start from a wiggly, nearly noise-free fit: GPy's defaults (unit noise) often end in the
        # optimum that explains every output as noise.
        self.model_[".*lengthscale"].constrain_bounded(0.05, 20.0, warning=False)
        self.model_[".*lengthscale"] = 0.5
        self.model_[".*Gaussian_noise.*variance"] = 0.05
        self.model_.optimize(max_iters=self.max_iters)
        return self

    def predict(self, X):
        X = np.asarray(X, float)
        task = np.ones((len(X), 1), dtype=int)
        mean, _ = self.model_.predict(np.hstack([X, task]), Y_metadata={"output_index": task})
        m, s = self.scales_[1]
        predicted = mean[:, 0] * s + m
        return np.exp(predicted) if self.log_ else predicted
