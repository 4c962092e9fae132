import numpy as np
import pytest

from systems import get_system
from tradeoff.errors import TradeoffError
from tradeoff.models.accuracy import cross_validated_mape, mape, option_influences
from tradeoff.models.learners.base import LogTarget, make_learner
from tradeoff.samplers.base import sample


def test_mape_is_the_mean_relative_error_in_percent():
    assert mape(np.array([10.0, 20.0]), np.array([11.0, 18.0])) == pytest.approx(10.0)
    with pytest.raises(TradeoffError, match="every measured value is 0"):
        mape(np.zeros(3), np.ones(3))


def test_log_target_unless_a_value_is_negative():
    X = np.arange(20, dtype=float)[:, None]
    assert LogTarget(make_learner("forest")).fit(X, np.exp(X[:, 0] / 5)).log_
    assert not LogTarget(make_learner("forest")).fit(X, X[:, 0] - 3).log_
    faster_than_the_clock = np.r_[0.0, 0.0, np.exp(X[2:, 0] / 5)]
    model = LogTarget(make_learner("forest")).fit(X, faster_than_the_clock)
    assert model.log_ and 0 < model.predict(X[:1])[0] <= np.exp(2 / 5)


def test_first_model_finds_the_influential_options_of_a_known_system():
    system = get_system("synthetic")
    configs = sample(system.space, "random", 200, 0)
    X = system.space.encode(configs)
    y = np.array([system.run(c, "paper", 1, [])["perf"] for c in configs])
    for name in ("cart", "forest", "log-forest"):
        model = make_learner(name, seed=0)
        assert cross_validated_mape(model, X, y) < 5
        shares = option_influences(model.fit(X, y), system.space, X, y)
        assert set(shares.index[:3]) == {"o1", "o3", "o7"}
    with pytest.raises(TradeoffError, match="unknown learner 'nope'"):
        make_learner("nope")
