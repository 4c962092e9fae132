"""Transfer learners: accurate target models from few target measurements and a source environment.

Every learner has the scikit-learn estimator API and works on ``Space.encode`` matrices; the
source is a :class:`Source` (a model fitted once on the source measurements, shared by every
clone, so cross-validation does not refit it). ``make_transfer(method, source, learner, seed)``
builds one by name:

- ``linear-shift``: the source model's prediction, mapped by a linear fit on the target sample
  (ASE'17/Valov et al.: a linear map suffices when environments differ by a scale factor).
- ``stack``: the target learner with the source prediction as an extra input (model stacking).
- ``stack-gp``: the same stacking with a Gaussian process as the target learner; a lengthscale per
  option and one for the source prediction let it weigh the source by how well it explains the
  target sample, and it is smooth in the options where a forest is piecewise constant.
- ``mtgp``: a multi-task Gaussian process (GPy intrinsic coregionalisation model) over a subsample
  of the source measurements and the target sample (Jamshidi et al., SEAMS'17).
- ``auto``: the negative-transfer guard; cross-validates linear-shift, stack and stack-gp against the
  target-only learner on the target sample and keeps the best, so the source is ignored when it hurts.

``bellwether`` picks, among several sources, the one whose model predicts the others best (BEETLE).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import LinearRegression
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.model_selection import KFold, cross_val_predict

from tradeoff.errors import TradeoffError
from tradeoff.models.learners.base import floored_log, log_floor, make_learner, one_range_width_around

TRANSFER_METHODS = ("linear-shift", "stack", "stack-gp", "mtgp", "auto")
ARD_UP_TO = 20  # features
LOO_UP_TO = 20  # target measurements: below this, auto cross-validates leave-one-out
# stack-gp's kernel is refitted in every fold (one kernel fitted on the whole sample flatters the GP,
# bench/RESULTS.md); mtgp is left out: a slower GPy fit per fold, not measured inside auto.
AUTO_CANDIDATES = ("linear-shift", "stack", "stack-gp")
GP_ITERATIONS = 50  # L-BFGS steps for the stacked GP's hyperparameters: keeps a fit cheap


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


class LinearShift(RegressorMixin, BaseEstimator):
    """Fitted on log values where ``log_floor`` allows: environments tend to scale performance
    (a faster machine divides every time), and the log keeps the slowest configurations from
    dominating the fit. A map fitted on few points can be steep (a nearly flat source) and then
    extrapolates without bound, so predictions stay within one range-width of the measured values."""

    def __init__(self, source: Source):
        self.source = source

    def fit(self, X, y):
        y, predicted = np.asarray(y, float), self.source.predict(X)
        self.floor_ = log_floor(y, predicted)
        self.log_ = self.floor_ is not None
        inputs, outputs = (predicted, y)
        if self.log_:
            inputs, outputs = floored_log(predicted, self.floor_), floored_log(y, self.floor_)
        if len(y) >= 2 and np.ptp(inputs) > 0:
            self.map_ = LinearRegression().fit(inputs[:, None], outputs)
        else:  # one point or a flat source: shift by the mean difference only
            self.map_ = _Shift(float(np.mean(outputs - inputs)))
        self.bounds_ = one_range_width_around(outputs)
        return self

    def predict(self, X):
        predicted = self.source.predict(X)
        if self.log_:
            mapped = self.map_.predict(floored_log(predicted, self.floor_)[:, None])
            return np.exp(np.clip(mapped, *self.bounds_))
        return np.clip(self.map_.predict(predicted[:, None]), *self.bounds_)


class _Shift:
    def __init__(self, offset: float):
        self.offset = offset

    def predict(self, X):
        return X[:, 0] + self.offset


class Stacking(RegressorMixin, BaseEstimator):
    def __init__(self, source: Source, learner: str = "forest", seed: int = 0):
        self.source, self.learner, self.seed = source, learner, seed

    def _with_source(self, X):
        return np.hstack([np.asarray(X, float), self.source.predict(X)[:, None]])

    def fit(self, X, y):
        self.model_ = make_learner(self.learner, self.seed).fit(self._with_source(X), y)
        return self

    def predict(self, X):
        return self.model_.predict(self._with_source(X))


class StackedGP(RegressorMixin, BaseEstimator):
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


class MultiTaskGP(RegressorMixin, BaseEstimator):
    """Source and target in one GP: an RBF kernel over the options times a 2x2 task covariance
    (GPy's ICM). Each task's outputs are standardised (their logs where ``log_floor`` allows); the
    source contributes a seeded subsample."""

    def __init__(self, source: Source, source_points: int = 60, max_iters: int = 50, seed: int = 0):
        self.source, self.source_points, self.max_iters, self.seed = source, source_points, max_iters, seed

    def fit(self, X, y):
        import GPy  # imported here: GPy is slow to import and only this learner needs it

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
        kernel = GPy.util.multioutput.ICM(input_dim=X.shape[1], num_outputs=2, kernel=GPy.kern.RBF(X.shape[1], ARD=ard))
        np.random.seed(self.seed)  # GPy draws its initial values from numpy's global generator
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


class Auto(RegressorMixin, BaseEstimator):
    """The negative-transfer guard: cross-validates the transfer learners and target-only on the
    target sample (leave-one-out up to ``LOO_UP_TO`` measurements, else ``folds`` folds). A transfer
    learner is kept only when it beats target-only on both the mean and the median of the
    cross-validated relative errors: the mean alone follows a few extreme configurations, the
    median alone ignores them. ``choice_``, ``reason_`` and ``cv_mape_`` say which and why."""

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
        else:
            self.reason_ = (f"{self.choice_} from {self.source.name} cuts cross-validated MAPE from {alone:.1f}% "
                            f"(target-only) to {self.cv_mape_[self.choice_]:.1f}%, median error from "
                            f"{cv_median['target-only']:.1f}% to {cv_median[self.choice_]:.1f}% (MAPE {_listing(self.cv_mape_)})")
        self.model_ = clone(options[self.choice_]).fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def _relative_errors(measured: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    nonzero = measured != 0
    return np.abs(measured[nonzero] - predicted[nonzero]) / np.abs(measured[nonzero])


def _listing(errors: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.1f}%" for name, value in sorted(errors.items(), key=lambda item: item[1]))


def make_transfer(method: str, source: Source, learner: str = "forest", seed: int = 0) -> RegressorMixin:
    if method == "linear-shift":
        return LinearShift(source)
    if method == "stack":
        return Stacking(source, learner, seed)
    if method == "stack-gp":
        return StackedGP(source, seed)
    if method == "mtgp":
        return MultiTaskGP(source, seed=seed)
    if method == "auto":
        return Auto(source, learner, seed=seed)
    raise TradeoffError(f"unknown transfer method {method!r}; use one of {', '.join(TRANSFER_METHODS)}")


@dataclass
class Bellwether:
    choice: str
    confidence: float  # share of bootstrap resamples of the evaluation data in which ``choice`` wins
    errors: pd.DataFrame  # MAPE (%) of each candidate's model (rows) on each other source (columns)
    reason: str


def bellwether(sources: dict[str, tuple[np.ndarray, np.ndarray]], learner: str = "forest", seed: int = 0,
               rounds: int = 200) -> Bellwether:
    """BEETLE's bellwether: the source whose model, linearly mapped, predicts every other source best.

    ``sources`` maps a name to its encoded configurations and measured values (same encoding).
    The confidence is the share of bootstrap resamples (of each other source's configurations)
    in which the chosen source still has the lowest mean error."""
    names = list(sources)
    if len(names) == 1:
        return Bellwether(names[0], 1.0, pd.DataFrame(), "the only source")
    models = {name: Source(X, y, learner, seed, name) for name, (X, y) in sources.items()}
    relative = {}  # (candidate, other) -> per-configuration absolute relative error
    for candidate in names:
        for other in names:
            if other != candidate:
                X, y = sources[other]
                mapped = LinearShift(models[candidate]).fit(X, y).predict(X)
                relative[candidate, other] = np.abs(mapped - y) / np.where(y != 0, np.abs(y), np.nan)
    errors = pd.DataFrame({other: {c: float(np.nanmean(relative[c, other]) * 100) for c in names if c != other} for other in names})
    mean = errors.mean(axis=1, skipna=True)
    choice = str(mean.idxmin())
    rng, wins = np.random.default_rng(seed), 0
    for _ in range(rounds):
        picks = {other: rng.integers(0, len(sources[other][1]), len(sources[other][1])) for other in names}
        scores = {c: np.mean([np.nanmean(relative[c, o][picks[o]]) for o in names if o != c]) for c in names}
        wins += min(scores, key=scores.get) == choice
    confidence = wins / rounds
    runner_up = mean.drop(choice).idxmin()
    reason = (f"{choice} predicts the other sources with mean MAPE {mean[choice]:.1f}% after a linear map "
              f"(next: {runner_up} {mean[runner_up]:.1f}%); it wins {confidence:.0%} of {rounds} bootstrap resamples")
    return Bellwether(choice, confidence, errors, reason)
