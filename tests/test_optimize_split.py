"""Objectives measured separately (issue 13, FlexiBO's decoupled choice): a system's spec declares
metrics it measures alone and their cost, a partial measurement is a row of its own, the ``flexibo``
optimiser asks for (configuration, metrics), and the front and best hold fully measured rows only."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from systems import get_system
from systems.base import separately_from_spec
from tasks.measure import to_measure
from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, MeasurementStore, aggregate, schema_for
from tradeoff.optimum import non_dominated
from tradeoff.samplers._pareto import offline
from tradeoff.samplers.base import SAMPLERS, History, Part, split_part
from tradeoff.space import config_id

OBJECTIVES = (("val_acc", "max"), ("inference_time", "min"))


def _deeparch():
    system = get_system("deeparch", "feature3-tf", "ElectricDevices")
    return system, lambda config: system.run(config, "ElectricDevices", 1.0, [])


def test_a_spec_declares_what_it_measures_alone_and_bad_declarations_are_one_line():
    assert [(p.metrics, p.cost) for p in get_system("dnn").separately] == [(("inference_ms",), get_system("dnn").separately[0].cost)]
    spec = {"system": "s", "metrics": [{"name": "a"}, {"name": "b"}]}
    with pytest.raises(TradeoffError, match="between 0 and 1"):
        separately_from_spec({**spec, "separately": [{"metrics": ["a"], "cost": 1.5}]})
    with pytest.raises(TradeoffError, match="some, not all"):
        separately_from_spec({**spec, "separately": [{"metrics": ["a", "b"], "cost": 0.5}]})
    with pytest.raises(TradeoffError, match="some, not all"):
        separately_from_spec({**spec, "separately": [{"metrics": ["c"], "cost": 0.5}]})


def test_a_replay_measures_a_part_alone_and_the_loop_refuses_an_undeclared_part(datasets, tmp_path):
    system, measure = _deeparch()
    config = system.space.population.iloc[0].to_dict()
    assert system.run_part(config, "ElectricDevices", 1.0, [], ("inference_time",)) == {"inference_time": measure(config)["inference_time"]}
    store = MeasurementStore(tmp_path, schema_for(system.space, system.metric_names))
    jobs = to_measure(store, system, "ElectricDevices", [config, Part(config, ("inference_time",))], 1)
    assert [job.only for job in jobs] == [(), ("inference_time",)]  # two measurements of one configuration
    with pytest.raises(TradeoffError, match="cannot measure val_acc alone"):
        to_measure(store, system, "ElectricDevices", [Part(config, ("val_acc",))], 1)


def test_flexibo_measures_the_cheap_objective_alone_within_its_budget_and_never_twice(datasets):
    system, measure = _deeparch()
    separately = ((("inference_time",), 0.05),)  # inference far cheaper than training, as FlexiBO's hours against seconds
    runs = offline(SAMPLERS.get("flexibo")(0), system.space, measure, OBJECTIVES, budget=20, separately=separately)
    parts = [(c, m) for c, m, _ in runs if set(m) == {"inference_time"}]
    assert parts and len(runs) > len(parts)  # it measured some configurations in part only
    assert sum(cost for _, _, cost in runs) <= 20 + 1e-9  # the budget is in full measurements, a part costs its share
    assert all(cost == (0.05 if set(m) == {"inference_time"} else 1.0) for _, m, cost in runs)
    units = [(config_id(c), ("inference_time",) if set(m) == {"inference_time"} else ()) for c, m, _ in runs]
    assert len(set(units)) == len(units)
    rows = pd.DataFrame([{"system": "s", "environment": "e", "workload": "w", "config_id": config_id(c), "repetition": 0,
                          "measured": "inference_time" if set(m) == {"inference_time"} else None, "status": "ok", "duration_s": cost,
                          **{METRIC_PREFIX + k: v for k, v in m.items()}, **{"opt." + k: v for k, v in c.items()}}
                         for c, m, cost in runs])
    history = History(system.space, rows, "val_acc", "max", objectives=OBJECTIVES, separately=separately)
    asked = SAMPLERS.get("flexibo")(0).ask(history, 20)
    stored = {(config_id(c), only) for c, only in map(split_part, asked)}
    assert stored == {(cid, only) for cid, only in units}  # the budget spent: the stored measurements, nothing new
    # Before it is spent, the same store asks for the same batch (a resumed optimisation continues alike).
    half = rows.iloc[:16]
    first, again = (SAMPLERS.get("flexibo")(0).ask(History(system.space, half, "val_acc", "max", objectives=OBJECTIVES,
                                                          separately=separately), 20) for _ in range(2))
    assert first == again and len(first) > 16


def test_flexibo_refuses_what_it_cannot_choose_for_before_anything_is_measured(datasets):
    system, _ = _deeparch()
    with pytest.raises(TradeoffError, match="two objectives"):
        SAMPLERS.get("flexibo")(0).ask(History(system.space, objectives=OBJECTIVES[:1]), 20)
    with pytest.raises(TradeoffError, match="no output constraints"):
        SAMPLERS.get("flexibo")(0).ask(History(system.space, objectives=OBJECTIVES, constraints=("val_acc >= 0.5",)), 20)


@pytest.mark.slow  # trains and times real networks through Ray (about two minutes on 2 busy cores)
def test_a_live_dnn_optimisation_measures_inference_alone_reports_full_rows_only_and_resumes(tmp_path, tradeoff):
    pytest.importorskip("torch", reason="PyTorch (the dnn extra) is not installed")
    from conftest import run_cli
    out, uri = tmp_path / "dnn", f"sqlite:///{tmp_path}/mlflow.db"
    args = ["optimize", "dnn", "--workload", "digits-360", "--objective", "accuracy", "--objective", "inference_ms",
            "--method", "flexibo", "--budget", "18", "--constraint", "epochs <= 2", "--constraint", "width <= 64",
            "--out", str(out), "--tracking-uri", uri]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    frame = pd.read_parquet(out / "measurements.parquet")
    partial = frame[frame["measured"] == "inference_ms"]
    assert len(partial) and partial["metric.accuracy"].isna().all() and partial["metric.inference_ms"].notna().all()
    assert frame.loc[frame["measured"].isna(), "metric.accuracy"].notna().all()  # the full rows trained
    table = aggregate(frame).set_index("config_id")
    complete = table[table["metric.accuracy"].notna() & table["metric.inference_ms"].notna()]
    front = pd.read_csv(out / "front.csv")
    assert len(front) and set(front["config_id"]) <= set(complete.index)  # only fully measured configurations
    costs = np.column_stack([-complete["metric.accuracy"], complete["metric.inference_ms"]])
    assert set(complete.index[non_dominated(costs)]) == set(front["config_id"])
    optimum = json.loads((out / "optimum.json").read_text())
    assert optimum["config_id"] in complete.index and optimum["value"] == complete["metric.accuracy"].max()
    assert optimum["fully_measured"] == len(complete)
    spent = (frame["measured"].isna().sum() + get_system("dnn").separately[0].cost * len(partial))
    assert spent <= 18 + 1e-9
    second = run_cli(*args)
    assert second.returncode == 0 and "(0 new measurements in this run)" in second.stdout, second.stderr[-3000:]
    assert len(pd.read_parquet(out / "measurements.parquet")) == len(frame)
    shown = tradeoff("show", str(out))
    assert f"inference_ms alone {len(partial)}" in shown.stdout


def test_flexibo_for_one_objective_or_under_a_metric_constraint_is_one_line_before_anything_starts(datasets, tradeoff, tmp_path):
    base = ["optimize", "deeparch", "--environment", "feature3-tf", "--workload", "ElectricDevices", "--method", "flexibo",
            "--budget", "20", "--out", str(tmp_path / "x")]
    for extra in (["--objective", "val_acc"], ["--objective", "val_acc", "--objective", "inference_time", "--constraint", "val_acc >= 0.5"]):
        result = tradeoff(*base, *extra)
        assert result.returncode == 2 and result.stderr.strip().splitlines() == ["error: flexibo chooses for two objectives without output constraints; "
                                                          "give two --objective and no constraint on a metric, or --method parego"]
    assert not (tmp_path / "x").exists()
