"""How close each multi-objective optimiser gets to the true Pareto front of the 8 FlexiBO Jetson
TX2 tables (inference time vs power) in 50 measurements, and what cost-aware choice saves.

    python -m bench.optimize_mo [--workloads xception-200x200,...] [--methods random,nsga2,optuna-tpe,optuna-nsga2,parego,parego-cost]
                                [--seeds 20] [--budget 50] [--processes 2] [--json bench/results/optimize_mo.json]

Each table (768 recorded configurations) is a replay: an optimiser measures recorded configurations
one at a time through the sampler loop without Ray (``tradeoff.samplers._pareto.offline``). The
error is FlexiBO's: 1 - HV(found)/HV(true), both objectives min-max normalised over the whole
table, reference point (1, 1) (``tradeoff.optimum.hypervolume``), after 50 measurements. A
measurement's cost is the configuration's recorded inference time (evaluating a configuration is
running inferences on it), so the cost of a run is the sum over what it measured. Cost-aware vs
cost-blind: the measurement seconds ``parego-cost`` needs (median over seeds) to reach the mean
error that ``parego`` reaches in 50 measurements, against ``parego``'s mean seconds for those 50.
Optuna's multi-objective TPE and NSGA-II (the ``bench`` extra) propose a recorded level of each
option, snapped to the nearest recorded configuration not measured yet, and are told the snapped
configuration's objectives; ``nsga2`` is pymoo's, as a Tradeoff sampler.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from bench.optimize import optuna_snapped
from systems import get_system
from systems.base import load_spec
from tradeoff.optimum import hypervolume, non_dominated
from tradeoff.samplers._pareto import offline
from tradeoff.samplers.base import SAMPLERS
from tradeoff.space import config_id

OBJECTIVES = (("inference_time", "min"), ("power_consumption", "min"))
COST = "inference_time"


def optuna_run(space, measure, budget: int, seed: int, kind: str) -> list[dict]:
    """Optuna's multi-objective TPE or NSGA-II, snapped to the recorded configurations (``bench.optimize.optuna_snapped``)."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed) if kind == "optuna-tpe" else optuna.samplers.NSGAIISampler(seed=seed)
    study = optuna.create_study(directions=["minimize"] * len(OBJECTIVES), sampler=sampler)
    return optuna_snapped(space, measure, budget, study, lambda metrics: [metrics[m] for m, _ in OBJECTIVES])


def one_run(workload: str, method: str, seed: int, budget: int) -> dict:
    system = get_system("flexibo", "TX2", workload)
    space = system.space

    def measure(config: dict) -> dict:
        return system.run(config, workload, 1.0, [])

    every = np.array([[measure(c)[m] for m, _ in OBJECTIVES] for c in space.population.to_dict("records")])
    lower, upper = every.min(axis=0), every.max(axis=0)
    true = hypervolume(every[non_dominated(every)], lower, upper)
    started = time.perf_counter()
    if method.startswith("optuna-"):
        measured = optuna_run(space, measure, budget, seed, method)
    else:
        runs = offline(SAMPLERS.get(method)(seed), space, measure, OBJECTIVES, budget=budget, seconds=lambda c, m: m[COST])
        assert len({config_id(c) for c, _, _ in runs}) == len(runs), "a configuration measured twice"
        measured = [m for _, m, _ in runs]
    costs = np.array([[m[name] for name, _ in OBJECTIVES] for m in measured])
    errors = [1 - hypervolume(costs[:n], lower, upper) / true for n in range(1, len(costs) + 1)]
    return {"workload": workload, "method": method, "seed": seed, "front_size": int(non_dominated(every).sum()),
            "measured": len(measured), "hv_error": errors[-1], "errors": errors, "seconds_spent": np.cumsum(costs[:, 0]).tolist(),
            "cost": float(costs[:, 0].sum()), "wall_s": time.perf_counter() - started}


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    table = runs.groupby(["workload", "method"], sort=False).agg(front=("front_size", "first"), hv_error=("hv_error", "mean"),
                                                                  cost_s=("cost", "mean"), wall_s=("wall_s", "mean")).reset_index()
    return table


def cost_saving(runs: pd.DataFrame) -> pd.DataFrame:
    """Per table: cost-blind parego's mean error and seconds at 50; cost-aware's median seconds to that error."""
    rows = []
    for workload, group in runs.groupby("workload", sort=False):
        blind, aware = group[group["method"] == "parego"], group[group["method"] == "parego-cost"]
        if blind.empty or aware.empty:
            continue
        target = blind["hv_error"].mean()
        needed = []
        for run in aware.itertuples():
            hit = np.flatnonzero(np.array(run.errors) <= target)
            needed.append(run.seconds_spent[hit[0]] if len(hit) else np.inf)
        median = float(np.median(needed))
        rows.append({"workload": workload, "blind_error": target, "blind_cost_s": blind["cost"].mean(),
                     "aware_cost_to_that_error_s": median, "saving": 1 - median / blind["cost"].mean(),
                     "aware_reached": float(np.mean(np.isfinite(needed))), "aware_error_at_50": aware["hv_error"].mean()})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(load_spec("flexibo")["workloads"]))
    parser.add_argument("--methods", default="random,nsga2,optuna-tpe,optuna-nsga2,parego,parego-cost")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write every run and the summaries here")
    args = parser.parse_args()
    started = time.perf_counter()
    jobs = [(w, m, s, args.budget) for w in args.workloads.split(",") for m in args.methods.split(",") for s in range(args.seeds)]
    done = []
    with ProcessPoolExecutor(args.processes) as pool:
        for run in pool.map(one_run, *zip(*jobs)):
            done.append(run)
            if len(done) % (args.seeds * len(args.methods.split(","))) == 0:  # a table finished: its line now
                print(summarise(pd.DataFrame(done[-args.seeds * len(args.methods.split(",")):])).to_string(index=False, header=False,
                                                                                                      float_format="%.4f"), flush=True)
    runs = pd.DataFrame(done)
    summary = summarise(runs)
    wide = summary.pivot(index="workload", columns="method", values="hv_error")[args.methods.split(",")]
    peers = [m for m in wide.columns if m not in ("random", "parego", "parego-cost")]
    print("mean hypervolume error at", args.budget, "measurements\n" + wide.to_string(float_format="%.4f"))
    for mine in ("parego", "parego-cost"):
        if mine in wide and "random" in wide:
            print(f"{mine}: <= 0.5x random on {(wide[mine] <= 0.5 * wide['random']).sum()}/{len(wide)}, "
                  f"<= best peer on {(wide[mine] <= wide[peers].min(axis=1)).sum()}/{len(wide)}")
    saving = cost_saving(runs)
    if len(saving):
        print("\ncost-aware vs cost-blind\n" + saving.to_string(index=False, float_format="%.4g"))
    print(f"total {time.perf_counter() - started:.0f} s, {args.seeds} seeds, budget {args.budget}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": runs.to_dict("records"), "summary": summary.to_dict("records"),
                                         "cost": saving.replace(np.inf, None).to_dict("records")}, indent=1, default=str))


if __name__ == "__main__":
    main()
