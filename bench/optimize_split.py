"""What measuring objectives separately saves (FlexiBO's decoupled choice) on a deeparch-xplorer table:
hypervolume error against cumulative measurement cost, flexibo vs parego-cost, parego and random.

    python -m bench.optimize_split [--environment feature3-tf] [--workload ElectricDevices] [--part-cost 0.1]
                                   [--methods flexibo,parego-cost,parego,random] [--seeds 10] [--first-seed 0]
                                   [--budget 50] [--processes 1] [--json bench/results/optimize_split.json]
    python -m bench.optimize_split --combine part1.json part2.json [--json all.json]   # one run split across lock holds

The table (L2S deeparch-xplorer, 4096 configurations of a CNN's 12 binary hyper-parameters, one
machine and data set) records each configuration's validation accuracy (it needs the network
trained) and inference time (it needs only inference). Objectives: val_acc max, inference_time
min. A full measurement (train, validate, time inference) costs 1; inference time alone costs
``--part-cost`` of that (the spec's ``separately`` cost unless given: the live dnn system's measured
share, see systems/dnn.yaml). Every optimiser runs through the sampler loop without Ray
(``tradeoff.samplers._pareto.offline``); only flexibo is told what can be measured alone. The
budget is in full measurements (``--budget 50``: cost 50).

The error is 1 - HV(found)/HV(true) over the configurations measured in full (both objectives
known), both objectives min-max normalised over the whole table, reference point (1, 1). The
saving: at the target of parego's mean error at the budget, the median over seeds of the cost each
method had spent when it first reached it (a seed that never did counts as infinite), and
1 - flexibo's / parego's.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from systems import get_system
from tradeoff.optimum import hypervolume, non_dominated
from tradeoff.samplers._pareto import offline
from tradeoff.samplers.base import SAMPLERS
from tradeoff.space import config_id

OBJECTIVES = (("val_acc", "max"), ("inference_time", "min"))
METHODS = ("flexibo", "parego-cost", "parego", "random")


def costs_of(metrics: dict) -> list[float]:
    """The objectives as costs to minimise (accuracy negated)."""
    return [-metrics["val_acc"], metrics["inference_time"]]


def one_run(environment: str, workload: str, method: str, seed: int, budget: int, part_cost: float | None) -> dict:
    system = get_system("deeparch", environment, workload)

    def measure(config: dict) -> dict:
        return system.run(config, workload, 1.0, [])

    every = np.array([costs_of(measure(c)) for c in system.space.population.to_dict("records")])
    lower, upper = every.min(axis=0), every.max(axis=0)
    true = hypervolume(every[non_dominated(every)], lower, upper)
    separately = tuple((p.metrics, part_cost or p.cost) for p in system.separately) if method == "flexibo" else ()
    started = time.perf_counter()
    runs = offline(SAMPLERS.get(method)(seed), system.space, measure, OBJECTIVES, budget=budget, separately=separately)
    units = [(config_id(c), tuple(sorted(m))) for c, m, _ in runs]
    assert len(set(units)) == len(units), "a measurement made twice"
    full, spent, errors, seconds = [], 0.0, [], []
    for config, metrics, cost in runs:
        spent += cost
        if set(metrics) >= {m for m, _ in OBJECTIVES}:
            full.append(costs_of(metrics))
            errors.append(1 - hypervolume(np.array(full), lower, upper) / true)
            seconds.append(spent)
    return {"table": f"{environment}/{workload}", "method": method, "seed": seed, "front_size": int(non_dominated(every).sum()),
            "full": len(full), "parts": len(runs) - len(full), "hv_error": errors[-1], "errors": errors, "cost_spent": seconds,
            "cost": spent, "part_cost": separately[0][1] if separately else None, "wall_s": time.perf_counter() - started}


def first_reached(run, target: float) -> float:
    """The cost a run had spent when its error first reached ``target`` (inf: never within its budget)."""
    hit = np.flatnonzero(np.array(run.errors) <= target + 1e-12)
    return run.cost_spent[hit[0]] if len(hit) else np.inf


def report(runs: pd.DataFrame, budget: int, methods: list[str], out: Path | None) -> None:
    seeds = sorted(runs["seed"].unique())
    summary = runs.groupby("method", sort=False).agg(hv_error=("hv_error", "mean"), full=("full", "mean"), parts=("parts", "mean"),
                                                     cost=("cost", "mean"), wall_s=("wall_s", "mean"))
    summary = summary.reindex([m for m in methods if m in summary.index])
    print(f"{runs['table'].iloc[0]}, budget {budget} full measurements, seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}), "
          f"a part costs {runs['part_cost'].dropna().iloc[0] if runs['part_cost'].notna().any() else '-'}\n"
          + summary.to_string(float_format="%.4f"))
    target = runs.loc[runs["method"] == "parego", "hv_error"].mean()
    rows = []
    for method in summary.index:
        needed = [first_reached(run, target) for run in runs[runs["method"] == method].itertuples()]
        rows.append({"method": method, "cost_to_parego_error": float(np.median(needed)), "reached": float(np.mean(np.isfinite(needed)))})
    saving = pd.DataFrame(rows).set_index("method")
    if "parego" in saving.index:
        saving["saving_vs_parego"] = 1 - saving["cost_to_parego_error"] / saving.loc["parego", "cost_to_parego_error"]
    for level in (0.5, 0.25, 0.1):  # the mean error each method reaches at a share of the budget
        saving[f"error_at_{level:g}B"] = [np.mean([_error_at(run, level * budget) for run in runs[runs["method"] == m].itertuples()])
                                          for m in saving.index]
    print(f"\nthe cost to first reach parego's mean error at {budget} ({target:.4f}), median over seeds\n"
          + saving.to_string(float_format="%.4g"))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"runs": runs.to_dict("records"), "summary": summary.reset_index().to_dict("records"),
                                   "saving": saving.replace([np.inf, -np.inf], None).reset_index().to_dict("records")},
                                  indent=1, default=str))


def _error_at(run, cost: float) -> float:
    """A run's error once it had spent ``cost`` (1 before any full measurement)."""
    reached = np.flatnonzero(np.array(run.cost_spent) <= cost + 1e-9)
    return run.errors[reached[-1]] if len(reached) else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environment", default="feature3-tf")
    parser.add_argument("--workload", default="ElectricDevices")
    parser.add_argument("--part-cost", type=float, default=None, help="an inference-only measurement's cost (a full one: 1)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write every run and the summaries here")
    parser.add_argument("--combine", nargs="+", type=Path, default=None,
                        help="summarise the runs of these --json files together (one benchmark run split across lock holds)")
    args = parser.parse_args()
    methods = args.methods.split(",")
    if args.combine:
        runs = pd.concat([pd.DataFrame(json.loads(path.read_text())["runs"]) for path in args.combine], ignore_index=True)
        return report(runs, args.budget, methods, args.json)
    started = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(args.environment, args.workload, m, s, args.budget, args.part_cost) for s in seeds for m in methods]
    with ProcessPoolExecutor(args.processes) as pool:
        done = list(pool.map(one_run, *zip(*jobs)))
    report(pd.DataFrame(done), args.budget, methods, args.json)
    print(f"total {time.perf_counter() - started:.0f} s, {args.seeds} seeds, budget {args.budget}")


if __name__ == "__main__":
    main()
