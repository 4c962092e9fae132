"""Learning curves with the published protocol, and the learn / predict / evaluate commands."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from flows.models import evaluate, learn
from tasks.settings import EvaluateSettings, LearnSettings, Tracking
from systems.synthetic import Synthetic
from tradeoff.errors import TradeoffError
from tradeoff.models.evaluation import (learning_curve, load_table, parse_sizes, random_training_sets, read_training_index,
                                        summarise)
from tradeoff.importing import import_table
from tradeoff.models.persist import load_model, predict_table


@pytest.fixture(scope="module")
def synthetic_csv(tmp_path_factory):
    """Every configuration of the synthetic system with its exact performance, as a plain table."""
    system = Synthetic.variant()
    configs = system.space.enumerate()
    frame = pd.DataFrame(configs).astype(int)
    frame["perf"] = [system.run(c, "paper", 1.0, [])["perf"] for c in configs]
    path = tmp_path_factory.mktemp("table") / "synthetic.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def imported(synthetic_csv, tmp_path_factory):
    folder = tmp_path_factory.mktemp("imported")
    import_table(synthetic_csv, [f"o{i}" for i in range(1, 11)], ["perf"], "synthetic", "local", "paper", folder)
    return folder


def test_sizes_and_training_index(tmp_path):
    assert parse_sizes("n,2n,5n", 13) == [13, 26, 65] and parse_sizes("16, 32", 13) == [16, 32]
    with pytest.raises(TradeoffError, match="cannot read sample size"):
        parse_sizes("n,x", 13)
    index = tmp_path / "index.csv"  # DeepPerf's layout: sizes in row 0, one experiment per row
    np.savetxt(index, np.array([[2, 2, 3, 3, 3], [0, 5, 1, 2, 3], [4, 1, 7, 8, 9]]), delimiter=",")
    sets = read_training_index(index)
    assert list(sets) == [2, 3] and [s.tolist() for s in sets[3]] == [[1, 2, 3], [7, 8, 9]]
    draws = random_training_sets(100, [10, 20], 3, seed=1)
    assert [len(d) for d in draws[20]] == [20] * 3 and draws[10][0].tolist() == random_training_sets(100, [10], 1, 1)[10][0].tolist()


def test_learning_curve_on_an_imported_table(imported):
    table = load_table(imported, "perf")
    assert len(table.y) == 1024 and table.X.shape == (1024, 10)
    results = learning_curve(table, ["influence", "cart"], random_training_sets(1024, [20, 60], 3, seed=0))
    assert len(results) == 2 * 2 * 3
    summary = summarise(results).set_index(["learner", "size"])
    assert summary.loc[("influence", 60), "mean"] < 1e-6  # the exact model, tested on the 964 other rows
    assert summary.loc[("cart", 20), "mean"] > summary.loc[("cart", 60), "mean"]
    assert (summary["margin"] >= 0).all() and (summary["repeats"] == 3).all()


def test_learning_curve_is_the_same_in_worker_processes(imported):
    table = load_table(imported, "perf")
    training_sets = random_training_sets(1024, [20, 40], 2, seed=3)
    alone = learning_curve(table, ["cart", "boosting"], training_sets, seed=1)
    shared = learning_curve(table, ["cart", "boosting"], training_sets, seed=1, jobs=2)
    pd.testing.assert_frame_equal(alone.drop(columns="fit_s"), shared.drop(columns="fit_s"))


def test_learn_saves_a_model_that_predicts_again(imported, tmp_path):
    learned = learn(LearnSettings(data=str(imported), metric="perf", learner="influence", out=str(tmp_path / "model"),
                                  tracking=Tracking(uri=f"sqlite:///{tmp_path / 'ml.db'}")))
    assert "4·o1·o3·o7" in learned.description and learned.cv_mape < 1e-6
    assert {"model.joblib", "influences.csv", "influences.png", "predicted_vs_measured.png"} <= {p.name for p in (tmp_path / "model").iterdir()}
    bundle = load_model(tmp_path / "model")
    predicted = predict_table(bundle, pd.DataFrame([{"o1": 1, "o3": 1, "o7": 1}, {"opt.o2": True}]))
    np.testing.assert_allclose(predicted["predicted.perf"], [1.2 + 3 + 5 + 0.9 + 0.8 + 4, 1.2])
    with pytest.raises(TradeoffError, match="no option of the model"):
        predict_table(bundle, pd.DataFrame([{"o99": 1}]))


@pytest.mark.slow
def test_evaluate_command_on_a_csv_with_a_training_index(synthetic_csv, tmp_path):
    index = tmp_path / "index.csv"
    np.savetxt(index, np.vstack([np.full(20, 20), np.arange(0, 1000, 50), np.arange(3, 1000, 50)]), delimiter=",", fmt="%d")
    result = run_cli("evaluate", str(synthetic_csv), "--metric", "perf", "--learner", "influence,boosting",
                     "--training-index", str(index), "--json", str(tmp_path / "curve.json"), "--plot", str(tmp_path / "curve.png"),
                     "--tracking-uri", f"sqlite:///{tmp_path / 'ml.db'}", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "curve.json").read_text())["summary"]
    assert [(row["learner"], row["size"], row["repeats"]) for row in summary] == [("influence", 20, 2), ("boosting", 20, 2)]
    assert (tmp_path / "curve.png").stat().st_size > 0 and "boosting" in result.stdout


def test_evaluate_refuses_a_metric_the_table_lacks(tradeoff, synthetic_csv):
    bad = tradeoff("evaluate", str(synthetic_csv), "--metric", "nope")
    assert bad.returncode == 2 and "has no column 'nope'" in bad.stderr


def test_evaluate_with_deepperf_training_indexes(datasets, tmp_path):
    data = datasets / "deepperf" / "Data"
    def settings(sizes: str) -> EvaluateSettings:
        return EvaluateSettings(data=str(data / "x264_AllNumeric.csv"), metric="PERF", learners=("influence",), sizes=sizes,
                                training_index=str(data / "X264_training_index.csv"), repeats=2,
                                tracking=Tracking(uri=f"sqlite:///{tmp_path / 'ml.db'}"))
    summary, _ = evaluate(settings("16,80"))
    assert summary["size"].tolist() == [16, 80] and (summary["repeats"] == 2).all()
    assert summary["mean"].iloc[1] < summary["mean"].iloc[0] < 30
    with pytest.raises(TradeoffError, match="no samples of size 13"):  # x264's paper counts 16 options, the table 13 columns
        evaluate(settings("n"))
