"""Several objectives and constraints (issue 13): the Pareto front and hypervolume of measured rows,
the multi-objective optimisers (parego, parego-cost, ehvi, nsga2) on the sampler contract, and live
optimisations through the CLI on Ray whose reported front and best are measured rows that meet
the constraints, with a rerun that measures nothing new."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from systems import get_system
from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, aggregate
from tradeoff.optimum import (best_feasible, hypervolume, non_dominated, pareto_front, parse_bound, restricted, split_constraints,
                              unmet)
from tradeoff.samplers._optimise import initial_size
from tradeoff.samplers._pareto import offline
from tradeoff.samplers.base import SAMPLERS, History
from tradeoff.space import config_id

OBJECTIVES = (("inference_time", "min"), ("power_consumption", "min"))


def test_non_dominated_keeps_exactly_the_rows_no_other_row_beats():
    costs = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [2, 2], [6, 6], [1, 6]])
    assert non_dominated(costs).tolist() == [True, True, True, False, True, False, False]  # ties kept, [1, 6] loses to [1, 5]


def test_hypervolume_is_pymoos_on_normalised_costs_with_reference_one():
    lower, upper = np.array([0.0, 0.0]), np.array([10.0, 10.0])
    assert hypervolume(np.array([[2.0, 5.0], [5.0, 2.0]]), lower, upper) == pytest.approx(0.8 * 0.5 + 0.5 * 0.3)
    assert hypervolume(np.array([[10.0, 0.0], [12.0, 1.0]]), lower, upper) == 0.0  # on or beyond the reference: nothing
    assert hypervolume(np.zeros((0, 2)), lower, upper) == 0.0


def _rows(values: list[tuple[float, float, float]], status=None) -> pd.DataFrame:
    return pd.DataFrame([{"system": "s", "environment": "e", "workload": "w", "config_id": f"c{i}", "repetition": 0,
                          "status": (status or {}).get(i, "ok"), "started_at": pd.Timestamp(i, unit="s", tz="UTC"), "duration_s": 1.0,
                          "metric.time": t, "metric.quality": q, "metric.psnr": p, "opt.a": i} for i, (t, q, p) in enumerate(values)])


def test_the_front_is_the_feasible_non_dominated_measured_rows_in_both_directions():
    frame = _rows([(1, 5, 41), (2, 9, 45), (3, 9, 39), (0.5, 1, 30), (4, 4, 50), (2, 8, 42)], status={5: "failed"})
    front = pareto_front(frame, (("time", "min"), ("quality", "max")), [parse_bound("psnr >= 40")])
    # c2 and c3 miss the psnr bound, c5 failed, c4 (time 4, quality 4) loses to c1 (time 2, quality 9)
    assert front["config_id"].tolist() == ["c0", "c1"]
    assert best_feasible(frame, "time", "min", [parse_bound("psnr >= 40")])["config_id"] == "c0"  # c3 is faster but misses it
    assert unmet(frame, [parse_bound("psnr >= 40")]) is None
    assert "the closest: psnr 50" in unmet(frame, [parse_bound("psnr > 50")])


def test_constraints_split_into_option_and_metric_ones_and_narrow_a_recorded_population(datasets):
    system = get_system("flexibo", "TX2", "xception-200x200")
    options, bounds = split_constraints(["inference_time <= 0.2", "core_freq >= 1000000"], system.space, system.metric_names)
    assert options == ["core_freq >= 1000000"] and bounds[0].text == "inference_time <= 0.2"
    narrowed = restricted(system.space, options)
    assert 0 < len(narrowed.population) < len(system.space.population) and (narrowed.population["core_freq"] >= 1e6).all()
    with pytest.raises(TradeoffError, match="neither a metric nor an option"):
        split_constraints(["psnr >= 40"], system.space, system.metric_names)


def _table(workload: str):
    system = get_system("flexibo", "TX2", workload)
    return system, lambda config: system.run(config, workload, 1.0, [])


@pytest.mark.parametrize("method", ["parego", "parego-cost", "ehvi", "nsga2"])
def test_a_multi_objective_optimiser_asks_from_the_store_never_repeats_and_stops_at_the_budget(datasets, method):
    system, measure = _table("xception-200x200")
    runs = offline(SAMPLERS.get(method)(1), system.space, measure, OBJECTIVES, budget=14, workers=3,
                   seconds=lambda c, m: m["inference_time"])
    assert len(runs) == 14 == len({config_id(c) for c, _, _ in runs})
    rows = pd.DataFrame([{"system": "s", "environment": "e", "workload": "w", "config_id": config_id(c), "repetition": 0,
                          "status": "ok", "duration_s": s, **{METRIC_PREFIX + k: v for k, v in m.items()},
                          **{"opt." + k: v for k, v in c.items()}} for c, m, s in runs[:10]])
    history = History(system.space, rows, "inference_time", objectives=OBJECTIVES, workers=3)
    asked = SAMPLERS.get(method)(1).ask(history, 14)
    assert asked == SAMPLERS.get(method)(1).ask(history, 14)  # the same store, the same batch: a resumed run continues alike
    assert len(asked) > 10 and not {config_id(c) for c in asked[10:]} & set(rows["config_id"])
    assert SAMPLERS.get(method)(1).ask(history, 10) == asked[:10]  # the budget spent: only the stored


def test_the_hypervolume_improvement_is_pymoos_hypervolume_gained_by_adding_the_point():
    from tradeoff.samplers.ehvi import improvement
    rng = np.random.default_rng(3)
    front = rng.random((7, 2))
    points = np.vstack([rng.random((40, 2)), front[:2], [[1.05, 0.0], [0.0, 1.05], [1.2, 0.1]]])  # measured rows, beyond the worst
    zero, reference = np.zeros(2), np.full(2, 1.1)  # pymoo's reference (1, 1) after scaling by 1.1
    before = hypervolume(front, zero, reference)
    exact = [1.1 ** 2 * (hypervolume(np.vstack([front, p]), zero, reference) - before) for p in points]
    assert np.allclose(improvement(points, front), exact) and improvement(points, front)[-1] == 0
    assert np.allclose(improvement(points[None].repeat(3, axis=0), front), np.tile(exact, (3, 1)))  # draws along a leading axis


def test_ehvi_refuses_other_than_two_objectives_before_measuring(datasets):
    system, _ = _table("xception-200x200")
    measured = []
    for objectives in (OBJECTIVES[:1], OBJECTIVES + (("inference_time", "max"),)):
        with pytest.raises(TradeoffError, match="two objectives.*parego"):
            offline(SAMPLERS.get("ehvi")(0), system.space, measured.append, objectives, budget=12)
    assert measured == []


def test_parego_under_a_constraint_measures_where_it_holds_and_beats_random(datasets):
    system, measure = _table("inceptionv3-400x400")  # about a third of the table meets the bound
    every = np.array([[measure(c)[m] for m, _ in OBJECTIVES] for c in system.space.population.to_dict("records")])
    design = initial_size(system.space)

    def run(method, seed):
        runs = offline(SAMPLERS.get(method)(seed), system.space, measure, OBJECTIVES, ("power_consumption <= 3000",), budget=24)
        costs = np.array([[m[k] for k, _ in OBJECTIVES] for _, m, _ in runs])
        feasible = costs[costs[:, 1] <= 3000]
        return hypervolume(feasible, every.min(axis=0), every.max(axis=0)), (costs[design:, 1] <= 3000).mean()
    volume, share = run("parego", 0)
    random = [run("random", seed) for seed in range(5)]
    assert share >= 0.75 and share > 2 * max(s for _, s in random)  # after the design it measures where the bound holds
    assert volume > np.mean([v for v, _ in random])


def test_a_live_x264_optimisation_reports_a_measured_feasible_front(tmp_path, tradeoff):  # a live rerun: test_optimize_split.py
    from conftest import run_cli
    out, uri = tmp_path / "x264", f"sqlite:///{tmp_path}/mlflow.db"
    args = ["optimize", "x264", "--workload", "clip-176x144-8", "--objective", "time", "--objective", "size", "--objective", "psnr",
            "--constraint", "psnr >= 38", "--budget", "26", "--out", str(out), "--tracking-uri", uri]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    table = aggregate(pd.read_parquet(out / "measurements.parquet")).set_index("config_id")
    front = pd.read_csv(out / "front.csv")
    assert len(front) and set(front["config_id"]) <= set(table.index)
    for column in ("metric.time", "metric.size", "metric.psnr"):  # the measured medians, not predictions
        assert np.allclose(front[column], table.loc[front["config_id"], column])
    assert (front["metric.psnr"] >= 38).all()
    ok = table[(table["status"] == "ok") & (table["metric.psnr"] >= 38)]
    costs = np.column_stack([ok["metric.time"], ok["metric.size"], -ok["metric.psnr"]])
    assert set(ok.index[non_dominated(costs)]) == set(front["config_id"])  # exactly the non-dominated feasible rows
    optimum = json.loads((out / "optimum.json").read_text())
    assert optimum["config_id"] == ok["metric.time"].idxmin() and optimum["value"] == ok["metric.time"].min()
    assert f"Pareto front: {len(front)} of 26 configurations" in first.stdout
    import mlflow
    run_id = first.stdout.split("MLflow run ")[1].split()[0]
    assert len(mlflow.MlflowClient(uri).get_metric_history(run_id, "hypervolume_so_far")) == 26
    shown = tradeoff("show", str(out))
    assert f"Pareto front ({len(front)} configurations)" in shown.stdout and front["config_id"][0] in shown.stdout


def test_the_spread_counts_the_front_as_within_every_epsilon_and_random_over_the_whole_table_as_exact(datasets):
    from bench.optimize_mo import spread
    whole = spread("xception-800x800", budget=768, draws=2)  # every configuration: the true front itself
    assert whole["random_error"] == pytest.approx(0.0, abs=1e-12) and whole["random_sd"] == pytest.approx(0.0, abs=1e-12)
    assert whole["front"] / 768 <= whole["within_0.01"] <= whole["within_0.02"] <= whole["within_0.05"] <= 1
    few = spread("xception-800x800", budget=5, draws=200)
    assert 0 < few["random_p10"] <= few["random_error"] <= few["random_p90"] < 1


def test_the_x264_problem_replays_the_stored_live_sample_with_psnr_maximised_and_the_encode_time_as_cost():
    from bench.optimize_mo import PROBLEMS, X264_SAMPLE, one_run, recorded
    problem = PROBLEMS["x264"]
    system, measure, every = recorded(problem, problem.workloads[0])
    stored = aggregate(pd.read_parquet(X264_SAMPLE / "measurements.parquet"))
    assert len(every) == (stored["status"] == "ok").sum()  # every measured configuration, the failed ones left out
    metrics = [measure(c) for c in system.space.population.to_dict("records")]
    psnr, size = np.array([m["psnr"] for m in metrics]), np.array([m["size"] for m in metrics])
    front = non_dominated(every)
    assert front[np.argmax(psnr)] and front[np.argmin(size)]  # both ends of the trade-off: PSNR is maximised, size minimised
    run = one_run(problem.workloads[0], "random", 0, 5, "x264")
    assert run["cost"] == pytest.approx(run["seconds_spent"][-1]) and run["cost"] > 0
    times = np.array([m["time"] for m in metrics])
    assert all(np.isclose(times, spent).any() for spent in np.diff([0, *run["seconds_spent"]]))  # each charged an encode's time


def test_auto_takes_ehvi_for_two_objectives_and_parego_for_more(datasets):
    from tasks.settings import auto_method
    system = get_system("flexibo", "TX2", "xception-200x200")  # 768 configurations: a budget of 50 leaves them to model
    assert auto_method(system, 50, False, 2)[0] == "ehvi"
    assert auto_method(system, 50, False, 3)[0] == "parego"
    assert auto_method(system, 768, False, 2)[0] == "random"  # the whole table measured: nothing to model
