"""The learners: scikit-learn's estimator contract for every one, the family's registry, and the
learners of issue 3 (influence model, gradient boosting, GP, auto, DaL, dnn) and active learning."""

import importlib.util
import logging
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from systems.synthetic import Synthetic
from tradeoff.errors import TradeoffError
from tradeoff.models.accuracy import mape, option_influences
from tradeoff.models.learners.base import LEARNERS, Learner, make_learner
from tradeoff.models.learners.dal import DivideAndLearn
from tradeoff.models.learners.influence import InfluenceModel
from tradeoff.samplers.active import most_uncertain, next_batch
from tradeoff.samplers.base import sample
from tradeoff.space import config_id


# A fit of these takes seconds (auto and dal cross-validate other learners, dnn trains networks),
# and the contract's 52 checks fit dozens of times.
SLOW = {"auto", "dal", "dnn"}


def _for_checks(name):
    if name == "dnn":  # the contract, not the accuracy of 1,000 epochs on 128-wide layers
        return LEARNERS.get(name)(depth=2, l1=1e-3, width=16, epochs=200)
    if name == "dal":  # the contract, not the choice among three depths by 5-fold CV (16 boosting fits a check)
        return LEARNERS.get(name)(depths=(0, 1), folds=2)
    if name == "auto":  # the contract of every candidate it may choose, not the choice by 5-fold CV (6 fits a candidate)
        return LEARNERS.get(name)(folds=2)
    return make_learner(name)


@parametrize_with_checks([_for_checks(name) for name in LEARNERS.names() if name not in SLOW])
def test_learners_keep_scikit_learns_estimator_contract(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks([_for_checks(name) for name in sorted(SLOW)
                          if name != "dnn" or importlib.util.find_spec("torch")])  # torch: the optional 'dnn' extra
def test_slow_learners_keep_scikit_learns_estimator_contract(estimator, check):
    check(estimator)


def test_the_learners_are_listed_without_importing_them_and_built_by_name():
    assert {"auto", "cart", "dnn", "gp", "influence", "log-forest", "ridge-log"} <= set(LEARNERS.names())
    assert all(LEARNERS.summaries().values())  # every module's docstring gives the CLI its one-line help
    for name in LEARNERS.names():
        cls = LEARNERS.get(name)
        assert issubclass(cls, Learner) and isinstance(make_learner(name, seed=3), cls)
    assert make_learner("gp", seed=3).seed == 3
    with pytest.raises(TradeoffError, match="unknown learner 'nope'; use one of auto, "):
        make_learner("nope")


@pytest.fixture
def added_learner():
    """A learner added the way a developer adds one: a module in tradeoff/models/learners/, nothing else."""
    folder = LEARNERS._folder
    path = folder / "zz_test_mean.py"
    path.write_text('"""Predicts the training mean (added by a test)."""\n\n'
                    "import numpy as np\n\nfrom tradeoff.models.learners.base import Learner\n\n\n"
                    "class Mean(Learner):\n"
                    "    def _fit(self, X, y):\n        self.mean_ = float(np.mean(y))\n        return self\n\n"
                    "    def _predict(self, X):\n        return np.full(len(X), self.mean_)\n")
    yield "zz-test-mean", "tradeoff.models.learners.zz_test_mean"
    path.unlink()
    sys.modules.pop("tradeoff.models.learners.zz_test_mean", None)


def test_adding_a_learner_is_one_module(added_learner):
    name, module = added_learner
    assert name in LEARNERS.names() and module not in sys.modules
    assert LEARNERS.summaries()[name] == "Predicts the training mean (added by a test)." and module not in sys.modules
    cls = LEARNERS.get(name)
    assert cls.__name__ == "Mean" and cls.__module__ == module
    assert make_learner(name).fit(np.zeros((3, 1)), [1.0, 2.0, 6.0]).predict(np.zeros((2, 1))).tolist() == [3.0, 3.0]


def measured(system, configs, workload="paper"):
    return np.array([system.run(c, workload, 1.0, [])["perf"] for c in configs])


@pytest.fixture(scope="module")
def paper():
    system = Synthetic.variant()
    configs = sample(system.space, "random", 120, seed=3)
    return system, system.space.encode(configs), measured(system, configs)


def test_influence_model_recovers_the_synthetic_terms(paper):
    system, X, y = paper
    model = make_learner("influence").fit(X, y)
    terms = model.terms(system.space.feature_names()).round(6)
    assert terms.to_dict() == {"1": 1.2, "o1": 3.0, "o3": 5.0, "o7": 0.9, "o3·o7": 0.8, "o1·o3·o7": 4.0}
    assert model.to_string(system.space.feature_names()) == "1.2 + 3·o1 + 5·o3 + 0.9·o7 + 0.8·o3·o7 + 4·o1·o3·o7"
    shares = option_influences(model, system.space, X, y)
    assert list(shares.index[:3]) == ["o3", "o1", "o7"] and shares.iloc[3:].sum() == 0


def test_backward_elimination_drops_terms_that_do_not_pay():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, (80, 6)).astype(float)
    y = 10 + 4 * X[:, 0] + rng.normal(0, 0.3, 80)
    forward = InfluenceModel(backward=False, min_improvement=0.0).fit(X, y)
    pruned = InfluenceModel(backward=True, min_improvement=0.05).fit(X, y)
    assert len(pruned.terms_) < len(forward.terms_)
    assert (0,) in pruned.terms_


@pytest.mark.parametrize("name", ["influence", "boosting", "auto", "gp", "dal"])
def test_learners_are_estimators_deterministic_and_accurate(paper, name):
    system, X, y = paper
    test_configs = sample(system.space, "random", 200, seed=11)
    first = make_learner(name, seed=1).fit(X, y).predict(system.space.encode(test_configs))
    second = clone(make_learner(name, seed=1)).fit(X, y).predict(system.space.encode(test_configs))
    np.testing.assert_allclose(first, second)
    assert mape(measured(system, test_configs), first) < 5.0
    pipeline = make_pipeline(FunctionTransformer(), make_learner(name, seed=1)).fit(X, y)
    assert pipeline.predict(X[:3]).shape == (3,)
    shares = option_influences(pipeline[-1], system.space, X, y)
    assert set(shares.index[:3]) == {"o1", "o3", "o7"}


def test_dal_divides_where_the_regimes_differ_and_routes_each_row_to_its_division():
    rng = np.random.default_rng(2)
    X = rng.integers(0, 2, (200, 8)).astype(float)
    # o0 switches between two regimes with different influential options and a 20-fold gap.
    y = np.where(X[:, 0] == 1, 100 * (1 + X[:, 1]) * (1 + 0.5 * X[:, 2]), 5 + X[:, 3] + 2 * X[:, 4] * X[:, 5])
    train, test = slice(0, 120), slice(120, None)
    model = DivideAndLearn(local="influence").fit(X[train], y[train])
    assert model.depth_ >= 1 and model.tree_.tree_.feature[0] == 0  # the first division is the regime switch
    leaves = model.tree_.apply(X[test])
    routed = [model.models_[leaf].predict(X[test][i:i + 1])[0] for i, leaf in enumerate(leaves)]
    np.testing.assert_allclose(model.predict(X[test]), routed)
    assert mape(y[test], model.predict(X[test])) < 1.0
    single = DivideAndLearn(local="influence", depths=(0,)).fit(X[train], y[train])  # one division: the local model alone
    assert single.tree_ is None
    np.testing.assert_allclose(single.predict(X[test]), make_learner("influence").fit(X[train], y[train]).predict(X[test]))


def test_gp_gives_predictive_variance_and_larger_far_from_the_data():
    rng = np.random.default_rng(1)
    X = rng.random((40, 3)) * 0.5  # the data cover only half of the cube
    y = 100 + 50 * X[:, 0] + 20 * X[:, 1]
    model = make_learner("gp").fit(X, y)
    mean, std = model.predict(np.array([[0.25, 0.25, 0.25], [1.0, 1.0, 1.0]]), return_std=True)
    assert mean.shape == std.shape == (2,) and (std > 0).all()
    assert std[1] > 3 * std[0]
    assert model.lengthscales(["a", "b", "c"])["c"] > model.lengthscales(["a", "b", "c"])["a"]


def test_auto_chooses_by_cross_validation_on_the_training_sample(paper, caplog):
    _, X, y = paper
    with caplog.at_level(logging.INFO, logger="tradeoff.models.learners.auto"):
        model = make_learner("auto").fit(X, y)
    assert f"auto chose {model.chosen_} by 5-fold CV on {len(y)} rows; MAPE {model.chosen_} " in caplog.text
    singles = {"influence", "cart", "log-forest", "boosting", "gp"}
    assert singles < set(model.scores_.index) and len(model.scores_) == 7  # and the averages of the best 2 and 3
    assert model.chosen_ == model.scores_.idxmin()
    assert len(model.members_) == len(model.chosen_.split("+"))
    assert model.scores_["influence"] < 1e-6  # the data are exactly its kind of model
    assert model.chosen_model is model.model_
    pair = make_learner("auto").set_params(candidates="cart,boosting").fit(X, y)
    assert len(pair.scores_) == 3 and {"cart", "boosting"} < set(pair.scores_.index)
    averaged = make_learner("auto").fit(X[:30], y[:30] * np.exp(X[:30, 1] * X[:30, 4]))
    members = averaged.members_
    np.testing.assert_allclose(averaged.predict(X[30:40]), np.mean([m.predict(X[30:40]) for m in members], axis=0))


def test_ridge_on_logs_learns_options_that_scale_performance():
    rng = np.random.default_rng(4)
    X = rng.integers(0, 2, (12, 6)).astype(float)
    y = 10 * 2.0 ** X[:, 0] * 1.5 ** X[:, 3]  # each option multiplies the run time
    model = make_learner("ridge-log").fit(X, y)
    test = rng.integers(0, 2, (50, 6)).astype(float)
    assert mape(10 * 2.0 ** test[:, 0] * 1.5 ** test[:, 3], model.predict(test)) < 2.0
    assert np.argsort(-np.abs(model.estimator_.coef_))[:2].tolist() == [0, 3]


def test_log_models_do_not_extrapolate_exponentially():
    X = np.array([[0.0], [0.05], [0.1]])  # the sample never saw the option's top value, 1.0
    y = np.array([1.0, 10.0, 100.0])
    top = make_learner("ridge-log").fit(X, y).predict(np.array([[1.0]]))[0]
    assert top == pytest.approx(100 * 100)  # one range-width (in logs) above the measured values; unbounded: ~1e16


def test_auto_averages_a_fixed_trio_when_folds_are_too_small_to_rank(paper, caplog):
    _, X, y = paper
    with caplog.at_level(logging.INFO, logger="tradeoff.models.learners.auto"):
        tiny = make_learner("auto").fit(X[:14], y[:14])  # 5 folds of under 3 rows
    assert tiny.chosen_ == "boosting+gp+ridge-log" and tiny.scores_.empty
    assert "auto averages boosting+gp+ridge-log: 14 rows are too few to rank learners by 5-fold CV" in caplog.text
    alone = [make_learner(name).fit(X[:14], y[:14]).predict(X[20:30]) for name in ("boosting", "gp", "ridge-log")]
    np.testing.assert_allclose(tiny.predict(X[20:30]), np.mean(alone, axis=0))
    assert not make_learner("auto").fit(X[:15], y[:15]).scores_.empty  # 3 rows a fold: cross-validated


def test_active_learning_picks_a_spread_batch_of_unmeasured_valid_configurations(paper):
    system, _, _ = paper
    measured_configs = sample(system.space, "random", 12, seed=0)
    model = make_learner("gp").fit(system.space.encode(measured_configs), measured(system, measured_configs))
    batch = next_batch(model, system.space, measured_configs, 6, seed=0)
    assert len(batch) == len({config_id(c) for c in batch}) == 6
    assert not {config_id(c) for c in batch} & {config_id(c) for c in measured_configs}
    assert all(system.space.is_valid(c) for c in batch)
    candidates = np.vstack([system.space.encode(batch[:1])] * 3 + [system.space.encode(batch[1:2])])
    assert sorted(most_uncertain(model, candidates, 2))[-1] == 3  # a duplicate of the first pick adds nothing
    with pytest.raises(TradeoffError, match="fitted 'gp'"):
        most_uncertain(make_learner("cart"), candidates, 2)


def test_dnn_learns_sparse_structure_or_says_how_to_install_torch(paper, monkeypatch):
    system, X, y = paper
    from tradeoff.models.learners.dnn import SparseNetwork
    pytest.importorskip("torch", reason="torch (the 'dnn' extra) is not installed")
    model = SparseNetwork(epochs=150, width=32, seed=1).fit(X, y)  # the depth and L1 search on a held-out third
    assert model.depth_ in (2, 3, 4) and model.l1_ > 0
    again = SparseNetwork(depth=model.depth_, l1=model.l1_, epochs=150, width=32, seed=1).fit(X, y)
    np.testing.assert_allclose(model.predict(X[:5]), again.predict(X[:5]), rtol=1e-5)
    test_configs = sample(system.space, "random", 200, seed=11)
    assert mape(measured(system, test_configs), model.predict(system.space.encode(test_configs))) < 10
    monkeypatch.setitem(__import__("sys").modules, "torch", None)  # as if the extra were missing
    with pytest.raises(TradeoffError, match=r"pip install 'tradeoff\[dnn\]'"):
        make_learner("dnn").fit(X, y)
