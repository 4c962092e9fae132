"""The 'debug' flow end to end on the causal-synthetic system (Ray + Prefect + MLflow), and its input checks."""

import json

import pandas as pd
import pytest

from flows.debug import debug
from tasks.settings import DebugSettings, Target, Tracking
from tradeoff.errors import TradeoffError


def test_bad_debug_input_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(TradeoffError, match="exactly one of --config"):
        DebugSettings(target=Target(system="causal-synthetic"), goals=("latency <= 10",))
    with pytest.raises(TradeoffError, match="no metric 'speed'"):
        config = tmp_path / "faulty.yaml"
        config.write_text("o1: 3\n")
        DebugSettings(target=Target(system="causal-synthetic"), goals=("speed <= 10",), config=str(config),
                      out=str(tmp_path / "s")).resolve()
    with pytest.raises(TradeoffError, match="not allowed"):
        config.write_text("o1: 9\n")
        DebugSettings(target=Target(system="causal-synthetic"), goals=("latency <= 10",), config=str(config),
                      out=str(tmp_path / "s")).resolve()


@pytest.mark.slow
@pytest.mark.usefixtures("shared_prefect")
def test_debug_flow_fixes_a_synthetic_fault_by_measuring(tmp_path):
    config = tmp_path / "faulty.yaml"
    config.write_text("o3: 0\no8: 3\n")  # in seed s3, o3 low and o8 high make latency high
    settings = DebugSettings(target=Target(system="causal-synthetic", workload="s3"), goals=("latency <= 15",),
                             config=str(config), initial=60, budget=4, out=str(tmp_path / "session"),
                             tracking=Tracking(uri=f"sqlite:///{tmp_path / 'mlflow.db'}"))
    outcome = debug(settings)
    result = outcome.result
    assert result.fixed and result.measurements <= 4
    assert result.faulty_metrics["latency"] > 15 >= result.best_metrics["latency"]
    summary = json.loads((outcome.folder / "debug.json").read_text())
    assert summary["fixed"] and summary["root_causes"][0][0] in ("o3", "o8")
    assert (outcome.folder / "causal_graph.png").stat().st_size > 1000
    assert "digraph" in (outcome.folder / "causal_graph.dot").read_text()
    steps = pd.read_csv(outcome.folder / "steps.csv")
    assert steps[steps["origin"] != "simplify"]["fixed"].iloc[-1]  # the last fix met the goal; reverts may follow
    # every measurement of the session is in its Parquet store: the initial sample, the fault, the fixes, the baseline
    stored = pd.read_parquet(outcome.folder / "measurements.parquet")
    assert len(stored) >= 60 + result.measurements
    assert outcome.run_id
