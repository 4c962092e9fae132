"""How close each multi-objective optimiser gets to the true Pareto front of a recorded table in 50
measurements, and what cost-aware choice saves.

    python -m bench.optimize_mo [--problem flexibo|x264] [--workloads xception-200x200,...]
                                [--methods random,nsga2,optuna-tpe,optuna-nsga2,parego,parego-cost,ehvi]
                                [--seeds 20] [--first-seed 0] [--budget 50] [--processes 2] [--json bench/results/optimize_mo.json]
    python -m bench.optimize_mo --combine part1.json part2.json [--json all.json]   # one run split across lock holds
    python -m bench.optimize_mo --spread [--draws 5000]   # how crowded each table is near its front, random's expected error

Problems: ``flexibo``, the 8 FlexiBO Jetson TX2 tables (inference time vs power, 768 configurations
each); a measurement's cost is the configuration's recorded inference time (evaluating a
configuration is running inferences on it; the tables record no other duration), so there the
cost is one of the objectives. ``x264``, 800 random configurations of the live x264 space measured
on this machine and stored as a campaign, ``bench/results/x264-sample``, made by
``tradeoff campaign x264 --workload clip-352x288-8 --sampler random --budget 800 --seed 0 --out bench/results/x264-sample``:
size vs PSNR, and the cost is the encode's measured time, which is not an objective and varies
tens of times across the sample (search method, subpixel refinement, references).

Each table is a replay: an optimiser measures recorded configurations one at a time through the
sampler loop without Ray (``tradeoff.samplers._pareto.offline``). The error is FlexiBO's: 1 -
HV(found)/HV(true), objectives min-max normalised over the whole table (a maximised one negated),
reference point (1, 1) (``tradeoff.optimum.hypervolume``), after 50 measurements. The cost of a
run is the sum of its measurements' costs. Cost-aware vs cost-blind: at the target of ``parego``'s
mean error at 50, the median over seeds of the measurement seconds each of ``parego-cost`` and
``parego`` had spent when first reaching it (``saving``), and against ``parego``'s mean seconds for
all 50 (``saving_vs_all``, the earlier, kinder comparison).
``--spread`` measures why random search does better on some tables than on others: the share of the
configurations within an additive epsilon of the true front (every normalised objective at most
epsilon worse than some front point), and random search's expected error at the budget over many
draws of that many configurations (a 20-seed mean varies by about its standard deviation / 4.5).
Optuna's multi-objective TPE and NSGA-II (the ``bench`` extra) propose a recorded level of each
option, snapped to the nearest recorded configuration not measured yet, and are told the snapped
configuration's objectives; ``nsga2`` is pymoo's, as a Tradeoff sampler. ``ehvi`` is ``parego``'s
GPs with expected hypervolume improvement instead of a random scalarisation.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.optimize import optuna_snapped
from systems import get_system
from systems.base import load_spec
from tradeoff.measurements import METRIC_PREFIX
from tradeoff.optimum import hypervolume, minimised, non_dominated
from tradeoff.samplers._pareto import offline
from tradeoff.samplers.base import SAMPLERS
from tradeoff.space import config_id

METHODS = ("random", "nsga2", "optuna-tpe", "optuna-nsga2", "parego", "parego-cost", "ehvi")
MINE = ("parego", "parego-cost", "ehvi")  # Tradeoff's: the rest (but random) are the peers
X264_SAMPLE = Path(__file__).resolve().parent / "results" / "x264-sample"


@dataclass(frozen=True)
class Problem:
    """A recorded table to optimise: the system (a name or a campaign folder), its environment and
    workloads, the objectives with their directions, and the metric a measurement costs."""
    system: str
    environment: str | None
    workloads: tuple[str, ...]
    objectives: tuple[tuple[str, str], ...]
    cost: str


PROBLEMS = {
    "flexibo": Problem("flexibo", "TX2", tuple(load_spec("flexibo")["workloads"]),
                       (("inference_time", "min"), ("power_consumption", "min")), "inference_time"),
    "x264": Problem(str(X264_SAMPLE), None, ("clip-352x288-8",), (("size", "min"), ("psnr", "max")), "time"),
}


def optuna_run(space, measure, budget: int, seed: int, kind: str, objectives) -> list[dict]:
    """Optuna's multi-objective TPE or NSGA-II, snapped to the recorded configurations (``bench.optimize.optuna_snapped``)."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed) if kind == "optuna-tpe" else optuna.samplers.NSGAIISampler(seed=seed)
    study = optuna.create_study(directions=["minimize" if goal == "min" else "maximize" for _, goal in objectives], sampler=sampler)
    return optuna_snapped(space, measure, budget, study, lambda metrics: [metrics[m] for m, _ in objectives])


def costs_of(measured: list[dict], objectives) -> np.ndarray:
    """Measurements' objectives as costs to minimise, one column each (``tradeoff.optimum.minimised``)."""
    return minimised(pd.DataFrame(measured).add_prefix(METRIC_PREFIX), objectives)


def recorded(problem: Problem, workload: str):
    """The table's system, a measure of one configuration, and every recorded configuration's costs."""
    system = get_system(problem.system, problem.environment, workload)

    def measure(config: dict) -> dict:
        return system.run(config, system.default_workload, 1.0, [])

    every = costs_of([measure(c) for c in system.space.population.to_dict("records")], problem.objectives)
    return system, measure, every


def one_run(workload: str, method: str, seed: int, budget: int, problem: str = "flexibo") -> dict:
    spec = PROBLEMS[problem]
    system, measure, every = recorded(spec, workload)
    lower, upper = every.min(axis=0), every.max(axis=0)
    true = hypervolume(every[non_dominated(every)], lower, upper)
    started = time.perf_counter()
    if method.startswith("optuna-"):
        measured = optuna_run(system.space, measure, budget, seed, method, spec.objectives)
    else:
        runs = offline(SAMPLERS.get(method)(seed), system.space, measure, spec.objectives, budget=budget,
                       seconds=lambda c, m: m[spec.cost])
        assert len({config_id(c) for c, _, _ in runs}) == len(runs), "a configuration measured twice"
        measured = [m for _, m, _ in runs]
    costs = costs_of(measured, spec.objectives)
    seconds = np.array([m[spec.cost] for m in measured])
    errors = [1 - hypervolume(costs[:n], lower, upper) / true for n in range(1, len(costs) + 1)]
    return {"problem": problem, "workload": workload, "method": method, "seed": seed, "front_size": int(non_dominated(every).sum()),
            "measured": len(measured), "hv_error": errors[-1], "errors": errors, "seconds_spent": np.cumsum(seconds).tolist(),
            "cost": float(seconds.sum()), "wall_s": time.perf_counter() - started}


def spread(workload: str, budget: int, draws: int, seed: int = 0, problem: str = "flexibo") -> dict:
    """How crowded a table is near its true front, and random search's error at ``budget`` over ``draws`` draws."""
    _, _, every = recorded(PROBLEMS[problem], workload)
    lower, upper = every.min(axis=0), every.max(axis=0)
    unit, front = (every - lower) / (upper - lower), non_dominated(every)
    true = hypervolume(every[front], lower, upper)
    # additive epsilon of each row to the front: the least e with a front point no more than e better in every objective
    epsilon = np.max(unit[:, None, :] - unit[front][None, :, :], axis=2).min(axis=1)
    rng = np.random.default_rng(seed)
    errors = np.array([1 - hypervolume(every[rng.choice(len(every), budget, replace=False)], lower, upper) / true for _ in range(draws)])
    return {"workload": workload, "front": int(front.sum()), **{f"within_{e:g}": float(np.mean(epsilon <= e)) for e in (0.01, 0.02, 0.05)},
            "power_max_over_min": float(upper[1] / lower[1]), "random_error": float(errors.mean()), "random_sd": float(errors.std()),
            "random_p10": float(np.quantile(errors, 0.1)), "random_p90": float(np.quantile(errors, 0.9))}


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    table = runs.groupby(["workload", "method"], sort=False).agg(front=("front_size", "first"), hv_error=("hv_error", "mean"),
                                                                  cost_s=("cost", "mean"), wall_s=("wall_s", "mean")).reset_index()
    return table


def first_reached(run, target: float) -> float:
    """The measurement seconds a run had spent when its error first reached ``target`` (inf: never within its budget)."""
    hit = np.flatnonzero(np.array(run.errors) <= target)
    return run.seconds_spent[hit[0]] if len(hit) else np.inf


def cost_saving(runs: pd.DataFrame) -> pd.DataFrame:
    """Per table, at the target of cost-blind parego's mean error at 50: the median seconds each of
    parego and parego-cost needed to first reach it (a seed that never did counts as inf), and
    parego's mean seconds for all 50 (the comparison of the previous run)."""
    rows = []
    for workload, group in runs.groupby("workload", sort=False):
        blind, aware = group[group["method"] == "parego"], group[group["method"] == "parego-cost"]
        if blind.empty or aware.empty:
            continue
        target = blind["hv_error"].mean()
        blind_needed = [first_reached(run, target) for run in blind.itertuples()]
        aware_needed = [first_reached(run, target) for run in aware.itertuples()]
        blind_median, aware_median = float(np.median(blind_needed)), float(np.median(aware_needed))
        rows.append({"workload": workload, "blind_error": target, "blind_cost_s": blind["cost"].mean(),
                     "blind_to_error_s": blind_median, "aware_to_error_s": aware_median,
                     "saving": 1 - aware_median / blind_median, "saving_vs_all": 1 - aware_median / blind["cost"].mean(),
                     "blind_reached": float(np.mean(np.isfinite(blind_needed))), "aware_reached": float(np.mean(np.isfinite(aware_needed))),
                     "aware_error": aware["hv_error"].mean(), "aware_cost_s": aware["cost"].mean()})
    return pd.DataFrame(rows)


def report(runs: pd.DataFrame, budget: int, methods: list[str], out: Path | None) -> None:
    """The tables of the benchmark from its runs (one run's, or several lock holds' combined)."""
    summary = summarise(runs)
    wide = summary.pivot(index="workload", columns="method", values="hv_error")[[m for m in methods if m in set(summary["method"])]]
    peers = [m for m in wide.columns if m not in ("random",) + MINE]
    seeds = sorted(runs["seed"].unique())
    print(f"mean hypervolume error at {budget} measurements, seeds {seeds[0]}-{seeds[-1]} ({len(seeds)})\n" + wide.to_string(float_format="%.4f"))
    for mine in MINE:
        if mine in wide and "random" in wide and peers:
            print(f"{mine}: <= 0.5x random on {(wide[mine] <= 0.5 * wide['random']).sum()}/{len(wide)}, "
                  f"<= best peer on {(wide[mine] <= wide[peers].min(axis=1)).sum()}/{len(wide)}")
    saving = cost_saving(runs)
    if len(saving):
        print("\ncost-aware vs cost-blind\n" + saving.to_string(index=False, float_format="%.4g"))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"runs": runs.to_dict("records"), "summary": summary.to_dict("records"),
                                   "cost": saving.replace([np.inf, -np.inf], None).to_dict("records")}, indent=1, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", choices=sorted(PROBLEMS), default="flexibo")
    parser.add_argument("--workloads", default=None, help="tables of the problem (default: all)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write every run and the summaries here")
    parser.add_argument("--combine", nargs="+", type=Path, default=None,
                        help="summarise the runs of these --json files together (one benchmark run split across lock holds)")
    parser.add_argument("--spread", action="store_true", help="per table: the share near the true front and random's expected error")
    parser.add_argument("--draws", type=int, default=5000, help="--spread: random draws of --budget configurations")
    args = parser.parse_args()
    methods = args.methods.split(",")
    workloads = args.workloads.split(",") if args.workloads else list(PROBLEMS[args.problem].workloads)
    if args.spread:
        table = pd.DataFrame([spread(w, args.budget, args.draws, problem=args.problem) for w in workloads])
        return print(table.to_string(index=False, float_format="%.4f"))
    if args.combine:
        runs = pd.concat([pd.DataFrame(json.loads(path.read_text())["runs"]) for path in args.combine], ignore_index=True)
        return report(runs, args.budget, methods, args.json)
    started = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(w, m, s, args.budget, args.problem) for w in workloads for m in methods for s in seeds]
    done = []
    with ProcessPoolExecutor(args.processes) as pool:
        for run in pool.map(one_run, *zip(*jobs)):
            done.append(run)
            if len(done) % (args.seeds * len(methods)) == 0:  # a table finished: its line now
                print(summarise(pd.DataFrame(done[-args.seeds * len(methods):])).to_string(index=False, header=False,
                                                                                          float_format="%.4f"), flush=True)
    report(pd.DataFrame(done), args.budget, methods, args.json)
    print(f"total {time.perf_counter() - started:.0f} s, {args.seeds} seeds, budget {args.budget}")


if __name__ == "__main__":
    main()
