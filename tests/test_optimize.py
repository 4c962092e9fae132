"""The optimisers (bo, flash): they find a known optimum in few measurements, better than random,
ask deterministically from the store, keep every worker busy and stop at the budget."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from systems import get_system
from tradeoff.errors import TradeoffError
from tradeoff.samplers._optimise import initial_size, offline
from tradeoff.samplers.base import SAMPLERS, History
from tradeoff.space import config_id

# One optimum (-22: every option on but o3), which o3's interaction with o7 hides from a linear view.
MODEL = "30 - 1*o1 - 2*o2 - 3*o3 - 4*o4 - 5*o5 - 6*o6 - 7*o7 - 8*o8 - 9*o9 - 10*o10 + 12*o3*o7"
OPTIMUM = -22.0


def _perf(system, goal_sign: float = 1.0):
    return lambda config: goal_sign * system.run(config, MODEL, 1.0, [])["perf"]


@pytest.mark.parametrize("method", ["bo", "flash"])
def test_optimisers_find_the_optimum_of_a_known_model_better_than_random(method):
    system = get_system("synthetic")
    best, random_best, found = [], [], 0
    for seed in range(3):
        measured = offline(SAMPLERS.get(method)(seed), system.space, _perf(system), "perf", "min", budget=40)
        values = [v for _, v in measured]
        assert len(values) == 40 == len({config_id(c) for c, _ in measured})  # the budget, nothing measured twice
        best.append(min(values))
        found += min(values) == OPTIMUM
        random_best.append(min(v for _, v in offline(SAMPLERS.get("random")(seed), system.space, _perf(system), "perf", "min", 40)))
    assert found >= 2, f"{method} found the optimum in {found} of 3 seeds: {best}"
    assert np.mean(best) < np.mean(random_best)


@pytest.mark.parametrize("method", ["bo", "flash"])
def test_optimisers_maximise_a_metric_declared_max(method):
    system = get_system("synthetic")
    measured = offline(SAMPLERS.get(method)(0), system.space, _perf(system, -1.0), "perf", "max", budget=40)
    assert max(v for _, v in measured) == -OPTIMUM


def _stored(system, configs) -> pd.DataFrame:
    return pd.DataFrame([{"system": "synthetic", "environment": system.environment, "workload": "paper", "config_id": config_id(c),
                          "repetition": 0, "status": "ok", "metric.perf": system.run(c, MODEL, 1.0, [])["perf"],
                          **{"opt." + k: v for k, v in c.items()}} for c in configs])


@pytest.mark.parametrize("method", ["bo", "flash"])
def test_an_optimiser_asks_from_the_store_a_batch_per_worker_and_stops_at_the_budget(method):
    system = get_system("synthetic")
    optimiser, space = SAMPLERS.get(method)(seed=3), system.space
    assert SAMPLERS.get(method).adaptive
    design = optimiser.ask(History(space, metric="perf", workers=4), 30)
    assert len(design) == initial_size(space) == 11 and all(space.is_valid(c) for c in design)
    history = History(space, _stored(system, design), "perf", workers=4)
    asked = optimiser.ask(history, 30)
    assert [config_id(c) for c in asked[:11]] == [config_id(c) for c in design]  # the stored ones first
    batch = asked[11:]
    assert len(batch) == 4 == len({config_id(c) for c in batch} - {config_id(c) for c in design})  # one per worker, all new
    assert optimiser.ask(history, 30) == asked  # the same store, the same batch: a resumed run continues alike
    assert optimiser.ask(history, 13)[11:] == batch[:2]  # the budget caps the batch
    assert optimiser.ask(history, 11) == asked[:11]  # the budget spent: only the stored
    with pytest.raises(TradeoffError, match="--objective"):
        optimiser.ask(History(space, _stored(system, design)), 30)


def test_a_bo_suggestion_on_a_4000_configuration_table_takes_at_most_half_a_second(datasets):
    system = get_system("storm", "rs-6d-c3")  # 3,840 recorded configurations, all scored
    bo = SAMPLERS.get("bo")(0)
    design = bo.ask(History(system.space, metric="latency"), 50)  # then 38 more: a late round, the GP on 45 rows
    population = design + [c for c in system.space.population.sample(60, random_state=0).to_dict("records") if c not in design][:45 - len(design)]
    rows = pd.DataFrame([{"system": "storm", "environment": "rs-6d-c3", "workload": "rs", "config_id": config_id(c), "repetition": 0,
                          "status": "ok", "metric.latency": system.run(c, "rs", 1.0, [])["latency"],
                          **{"opt." + k: v for k, v in c.items()}} for c in population])
    started = time.perf_counter()
    asked = bo.ask(History(system.space, rows, "latency", workers=1), 50)
    assert time.perf_counter() - started <= 0.5 and len(asked) == 46


@pytest.mark.parametrize("args, message", [
    (["--objective", "speed"], "storm has no metric 'speed'; its metrics: throughput, latency"),
    (["--objective", "latency", "--budget", "3"], "--budget 3 is smaller than bo's initial design of 7 configurations; give --budget 7 or more"),
    (["--objective", "latency", "--method", "grid"], "unknown method 'grid'; use one of bo, flash, random, parego, parego-cost, nsga2"),
])
def test_bad_optimisation_input_is_one_line_before_anything_is_measured(tradeoff, tmp_path, datasets, args, message):
    result = tradeoff("optimize", "storm", "--environment", "wc-6d-c1", "--out", str(tmp_path / "run"), *args)
    assert result.returncode == 2 and result.stderr == f"error: {message}\n"
    assert not (tmp_path / "run" / "measurements.parquet").exists()


@pytest.mark.slow  # Prefect, Ray and MLflow, twice
def test_an_optimisation_through_the_cli_reports_a_measured_best_and_a_rerun_measures_nothing(tmp_path, datasets):
    from conftest import run_cli
    out = tmp_path / "wc"
    args = ["optimize", "storm", "--environment", "wc-3d-c4", "--objective", "latency", "--method", "bo", "--budget", "12",
            "--out", str(out), "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "of 12 configurations (12 new measurements in this run)" in first.stdout
    stored = pd.read_parquet(out / "measurements.parquet")
    optimum = pd.read_json(out / "optimum.json", typ="series")
    ok = stored[stored["status"] == "ok"]
    best = ok.loc[ok["metric.latency"].idxmin()]
    assert optimum["value"] == best["metric.latency"] and optimum["config_id"] == best["config_id"]  # the best measured row
    system = get_system("storm", "wc-3d-c4")
    assert system.run(dict(optimum["config"]), "wc", 1.0, [])["latency"] == optimum["value"]  # a recorded value, not a prediction
    assert (out / "convergence.png").stat().st_size > 0 and f"best latency (min) {optimum['value']:.4g} measured" in first.stdout
    import mlflow
    run_id = first.stdout.split("MLflow run ")[1].split()[0]
    history = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_metric_history(run_id, "best_so_far")
    assert [m.step for m in history] == list(range(1, 13)) and history[-1].value == optimum["value"]  # one step per configuration
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "(0 new measurements in this run)" in second.stdout
    assert len(pd.read_parquet(out / "measurements.parquet")) == len(stored)
