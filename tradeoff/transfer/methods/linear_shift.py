"""The source model's prediction, mapped by a linear fit on the target sample.

ASE'17 and Valov et al.: when environments differ by a scale factor (a faster machine), a linear
map of the source suffices and needs only a handful of target measurements.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression

from tradeoff.models.learners.base import floored_log, log_floor, one_range_width_around
from tradeoff.transfer.methods.base import Source, TransferMethod


class LinearShift(TransferMethod):
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
