"""Transfer learners, the negative-transfer guard, bellwether selection and the L2S sampler."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, OPTION_PREFIX
from tradeoff.models.accuracy import mape
from tradeoff.models.learners.base import make_learner
from tradeoff.samplers.base import History, sample
from tradeoff.samplers.l2s import L2S, Guidance, guidance
from tradeoff.space import Option, Space, config_id
from tradeoff.transfer.bellwether import bellwether
from tradeoff.transfer.methods.auto import Auto
from tradeoff.transfer.methods.base import METHODS, Source, TransferMethod, make_transfer
from tradeoff.transfer.methods.linear_shift import LinearShift

# Drawn once, at import, from a generator of their own: no test's data depend on which tests ran before.
_DRAW = np.random.default_rng(7)
X_ALL = _DRAW.integers(0, 2, (600, 8)).astype(float)
SOURCE_NOISE = _DRAW.standard_normal(len(X_ALL))
BASE = 20 + 15 * X_ALL[:, 0] + 8 * X_ALL[:, 1] + 6 * X_ALL[:, 2] * X_ALL[:, 3] + 2 * X_ALL[:, 4]


@pytest.fixture
def rng() -> np.random.Generator:
    """A generator of the test's own, seeded: its draws do not depend on the other tests."""
    return np.random.default_rng(11)


def _split(budget: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(X_ALL), budget, replace=False)
    return chosen, np.setdiff1d(np.arange(len(X_ALL)), chosen)


def _error(model, y: np.ndarray, budget: int = 12) -> float:
    train, test = _split(budget)
    return mape(y[test], model.fit(X_ALL[train], y[train]).predict(X_ALL[test]))


@pytest.fixture(scope="module")
def source() -> Source:
    return Source(X_ALL, BASE * (1 + 0.01 * SOURCE_NOISE), "forest", 0, "old machine")


def test_linear_shift_learns_a_scaled_environment_from_few_points(source):
    target = 3.0 * BASE + 10
    alone = _error(make_learner("forest"), target)
    shifted = _error(make_transfer("linear-shift", source), target)
    assert shifted < 3 and shifted < alone / 3


def test_a_steep_linear_shift_does_not_extrapolate_without_bound():
    # a nearly flat source on the sampled configurations and a wide target: slope ~200 on logs
    X = np.arange(10, dtype=float)[:, None]
    steep = make_transfer("linear-shift", Source(X, np.r_[1.0, 1.01, 1.02, np.linspace(2, 100, 7)], "forest", 0))
    predicted = steep.fit(X[:3], np.array([1.0, 10.0, 100.0])).predict(X)
    assert np.all(np.isfinite(predicted)) and predicted.max() <= 100.0 ** 2 * 1.001  # one range-width (in logs) beyond


def test_measured_zeros_do_not_switch_the_linear_shift_off_logs(source):
    # a target 6 times as sensitive on logs, timed to 0.02 s: its fastest runs are recorded as 0
    measured = np.round(0.01 * (BASE / 20) ** 6 / 0.02) * 0.02
    train, test = _split(30)
    assert np.sum(measured[train] == 0) > 0
    positive = test[measured[test] > 0]
    shift = make_transfer("linear-shift", source).fit(X_ALL[train], measured[train])
    assert mape(measured[positive], shift.predict(X_ALL[positive])) < 10  # fitted on raw values: 142%


@pytest.mark.slow
def test_stacking_and_mtgp_beat_target_only_when_the_source_is_related(source):
    target = 2.0 * BASE + 5 * X_ALL[:, 5]  # scaled, plus an effect the source never saw
    alone = _error(make_learner("forest"), target, 20)
    assert _error(make_transfer("stack", source), target, 20) < alone
    assert _error(make_transfer("stack-gp", source), target, 20) < alone
    assert _error(make_transfer("mtgp", source), target, 20) < alone


@pytest.mark.slow
def test_mtgp_depends_on_its_seed_only(source):
    # GPy draws the task covariance from numpy's global generator: whatever ran before must not matter
    predictions = []
    for state in (1, 2):
        np.random.seed(state)
        predictions.append(make_transfer("mtgp", source, seed=0).fit(X_ALL[:15], 2.0 * BASE[:15]).predict(X_ALL[:50]))
    np.testing.assert_array_equal(*predictions)


def test_stacked_gp_ignores_an_unrelated_source():
    # the source is noise on the target: its lengthscale should run long and the options carry the fit
    rng = np.random.default_rng(5)
    noise = Source(X_ALL, rng.uniform(1, 100, len(X_ALL)), "forest", 0, "unrelated")
    target = 2.0 * BASE
    stacked = make_transfer("stack-gp", noise)
    assert _error(stacked, target, 30) < _error(make_learner("forest"), target, 30)
    lengthscales = stacked.model_.kernel_.k1.k2.length_scale
    assert lengthscales[-1] > 5 * lengthscales[0]  # the source counts for less than the strongest option


@pytest.mark.slow
def test_auto_uses_a_helpful_source_and_ignores_a_harmful_one(source, caplog):
    caplog.set_level(logging.INFO, "tradeoff.transfer.methods.auto")
    helpful = make_transfer("auto", source).fit(X_ALL[:20], 3.0 * BASE[:20] + 10)
    assert helpful.choice_ != "target-only" and "cuts cross-validated MAPE" in helpful.reason_
    assert set(helpful.cv_mape_) == {"target-only", "linear-shift", "stack", "stack-gp"}

    # the forest-based candidates only: the stacked GP sets this source aside and models the options
    # better than a forest (next test), so with it auto rightly keeps stack-gp, not target-only
    rng = np.random.default_rng(3)
    unrelated = 50 + 30 * X_ALL[:, 6] + 10 * X_ALL[:, 7] * X_ALL[:, 5] + rng.normal(0, 0.5, len(X_ALL))
    guarded = Auto(source, candidates=("linear-shift", "stack"))
    guard_error = _error(guarded, unrelated, 30)
    alone = _error(make_learner("forest"), unrelated, 30)
    assert guarded.choice_ == "target-only" and "does not help" in guarded.reason_
    assert guard_error == pytest.approx(alone)
    decisions = [r.getMessage() for r in caplog.records if r.name == "tradeoff.transfer.methods.auto"]
    assert any(m.startswith(f"auto chooses {helpful.choice_}") for m in decisions)
    assert any(m.startswith("auto falls back to target-only") for m in decisions)


@pytest.mark.slow
def test_auto_takes_other_candidates(source):
    # the stacked GP sets the unrelated source aside and models the options better than a forest
    rng = np.random.default_rng(3)
    unrelated = 50 + 30 * X_ALL[:, 6] + 10 * X_ALL[:, 7] * X_ALL[:, 5] + rng.normal(0, 0.5, len(X_ALL))
    guarded = Auto(source, candidates=("linear-shift", "stack-gp"))
    assert _error(guarded, unrelated, 30) < _error(make_learner("forest"), unrelated, 30)
    assert guarded.choice_ == "stack-gp" and set(guarded.cv_mape_) == {"target-only", "linear-shift", "stack-gp"}


def test_clones_share_the_fitted_source(source):
    assert clone(make_transfer("stack", source)).source is source


@pytest.mark.slow
def test_bellwether_picks_the_source_that_predicts_the_others(rng, caplog):
    caplog.set_level(logging.INFO, "tradeoff.transfer.bellwether")
    typical = {f"env{i}": (X_ALL, (i + 1) * BASE + rng.normal(0, 1, len(BASE))) for i in range(3)}
    odd = 30 + 20 * X_ALL[:, 7] + rng.normal(0, 1, len(BASE))
    # "env0+" carries the typical shape and a little of the odd one: it explains every other source best.
    candidates = {**typical, "odd": (X_ALL, odd), "env0+": (X_ALL, BASE + 0.3 * odd)}
    chosen = bellwether(candidates, rounds=50)
    assert chosen.choice != "odd"
    assert 0 < chosen.confidence <= 1 and chosen.choice in chosen.reason
    assert chosen.errors.loc["odd"].mean() > chosen.errors.loc[chosen.choice].mean()
    assert f"bellwether {chosen.choice} among 5 sources (confidence {chosen.confidence:.0%})" in caplog.text
    single = bellwether({"only": (X_ALL, BASE)})
    assert single.choice == "only" and single.confidence == 1.0


def test_unknown_method_names_the_choices(source):
    with pytest.raises(TradeoffError, match="unknown transfer method 'magic'; use one of .*linear-shift"):
        make_transfer("magic", source)


def test_a_transfer_method_is_one_module(source, monkeypatch):
    assert METHODS.get("linear-shift") is LinearShift
    assert set(METHODS.names()) >= {"auto", "linear-shift", "mtgp", "stack", "stack-gp"}
    for name, summary in METHODS.summaries().items():
        cls = METHODS.get(name)  # the one TransferMethod class of tradeoff/transfer/methods/<name>.py
        assert issubclass(cls, TransferMethod) and cls.__module__ == f"tradeoff.transfer.methods.{name.replace('-', '_')}"
        assert summary and type(make_transfer(name, source)) is cls
    from tradeoff.transfer.study import METHODS as STUDY_METHODS
    assert STUDY_METHODS == (*METHODS.names(), "l2s")  # what `tradeoff transfer --method` accepts
    # Listing the family imports no member: forget the imported ones, list, and none is back.
    is_member = lambda module: module.startswith("tradeoff.transfer.methods.") and not module.endswith(".base")
    for module in [m for m in sys.modules if is_member(m)]:
        monkeypatch.delitem(sys.modules, module)
    assert set(METHODS.summaries()) == set(METHODS.names()) and not [m for m in sys.modules if is_member(m)]


def _source_frame() -> pd.DataFrame:
    configs = pd.DataFrame(X_ALL.astype(bool), columns=[f"o{i}" for i in range(8)])
    frame = configs.add_prefix(OPTION_PREFIX)
    frame[METRIC_PREFIX + "time"] = BASE
    frame["status"], frame["repetition"], frame["system"], frame["environment"], frame["workload"] = "ok", 0, "toy", "old", "w"
    frame["config_id"] = [config_id(c) for c in configs.to_dict("records")]
    return frame


def test_l2s_samples_the_influential_options_of_the_source():
    space = Space([Option(f"o{i}", "bool", False) for i in range(8)])
    history = History(space, sources=(_source_frame(),), metric="time")
    configs = L2S(seed=1, explore=0.0).ask(history, 24)
    assert guidance(_source_frame(), "time").terms.index[0] == "o0"
    assert len(configs) == 24 and all(space.is_valid(c) for c in configs)
    # Exploitation varies the strongest option across its levels in balance.
    share = np.mean([c["o0"] for c in configs])
    assert 0.3 <= share <= 0.7
    assert L2S(seed=1, explore=0.0).ask(history, 24) == configs  # deterministic for a seed


def test_l2s_snaps_to_a_replay_population_and_explores():
    population = pd.DataFrame(X_ALL[:100].astype(bool), columns=[f"o{i}" for i in range(8)]).drop_duplicates()
    space = Space([Option(f"o{i}", "bool", False) for i in range(8)], population=population)
    terms = pd.Series({"o2*o3": 0.6, "o0": 0.4})
    configs = L2S(seed=0).guided(space, Guidance(terms, explore=0.5), 20)
    recorded = {tuple(r) for r in population.itertuples(index=False)}
    assert len(configs) == 20 and all(tuple(c[f"o{i}"] for i in range(8)) in recorded for c in configs)


def test_l2s_without_a_source_says_how_to_give_one():
    space = Space([Option("a", "bool", False)])
    with pytest.raises(TradeoffError, match="needs a source"):
        sample(space, "l2s", 2)


def test_l2s_skips_configurations_that_failed_in_the_source():
    frame = _source_frame()
    broken = frame["opt.o7"].to_numpy()  # every configuration with o7 failed in the source
    frame.loc[broken, "status"], frame.loc[broken, METRIC_PREFIX + "time"] = "failed", np.nan
    population = pd.DataFrame(X_ALL.astype(bool), columns=[f"o{i}" for i in range(8)]).drop_duplicates()
    space = Space([Option(f"o{i}", "bool", False) for i in range(8)], population=population)
    configs = sample(space, "l2s", 30, seed=2, sources=(frame,), metric="time")
    assert len(configs) == 30 and not any(c["o7"] for c in configs)


@pytest.mark.slow
def test_study_on_a_live_target_is_scored_by_cross_validation():
    from tradeoff.transfer.study import fit_and_evaluate
    space = Space([Option(f"o{i}", "bool", False) for i in range(8)])
    source = _source_frame()
    target = source.sample(30, random_state=1).copy()
    target[METRIC_PREFIX + "time"] = 2.5 * target[METRIC_PREFIX + "time"]
    result, models = fit_and_evaluate({"old": source}, target, space, "time", "l2s")
    assert result.evaluation == "5-fold cross-validation on the target sample"
    assert set(result.errors) == {"target-only", "l2s"} and result.errors["l2s"] < result.errors["target-only"]
    assert "the source helps" in result.reason and result.source == "old" and result.target_measurements == target["config_id"].nunique()
    with pytest.raises(TradeoffError, match="raise --budget"):
        fit_and_evaluate({"old": source}, target.head(2), space, "time", "stack")
