"""How few measurements each optimiser needs to find the lowest latency of the BO4CO Storm tables,
and how many fewer a warm start from another environment needs.

    python -m bench.optimize [--environments wc-6d-c1,...] [--methods random,flash,bo,bo-ei,tpe] [--seeds 20]
                             [--first-seed 0] [--budget 50] [--json bench/results/optimize.json]
    python -m bench.optimize --transfer [--pairs storm-c1-c3,...] [--methods random,flash,tpe,bo,bo-warm] ...
                             [--processes 2]
    python -m bench.optimize --constrained [--problems wc-6d-c1:throughput>=9000,...]
                             [--methods random,flash,flash-blind,bo,bo-blind,bo-ei,bo-ei-blind] ...

Each table is a replay: an optimiser measures recorded configurations one at a time (one
worker, as BO4CO did) through the sampler loop without Ray (``tradeoff.samplers._optimise.offline``),
up to ``budget`` of them. Reported per table and method over the seeds: the measurements until
one within 5% of the table's true lowest latency (median over seeds, a seed that never gets there
counts as more than the budget; success: the share of seeds that got there), the mean gap of the
best so far to the optimum after 20 and 50 measurements, and the slowest single suggestion.
Optuna's TPE (``tpe``, when optuna is installed: the ``bench`` extra) proposes a recorded level
of each option, snapped to the nearest recorded configuration not measured yet, and is told the
snapped configuration's latency.

``--transfer`` re-optimises after an environment change: each pair (``PAIRS``) names a source
environment and a target of the same system (Storm across clusters, ASE'17 x264 across
machines, FlexiBO's image size 200 -> 400), and ``bo-warm`` is ``bo`` warm-started from the
source's whole recorded table (``History.warm``, as ``tradeoff optimize --warm-start`` gives it),
beside the cold peers. Each pair's Spearman correlation between source and target is printed:
it, not what a warm start achieves, tells the related pairs from the weakly related ones.

``--constrained`` minimises latency under an output constraint on throughput (``CONSTRAINED``:
bounds under which the table's lowest latency is infeasible), counting only feasible measurements:
measurements until a feasible one within 5% of the best feasible latency. ``bo``, ``bo-ei`` and
``flash`` are told the constraint and model it; their ``-blind`` twins are not (the behaviour
before the optimisers read output constraints), so the difference is what modelling it buys.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from systems import get_system
from systems.base import MeasurementFailed, load_spec
from systems.replay import environment_frame
from tradeoff.measurements import METRIC_PREFIX
from tradeoff.samplers._optimise import features, offline
from tradeoff.samplers.base import SAMPLERS
from tradeoff.space import config_id

METRIC = "latency"
WITHIN = 0.05
# Transfer pairs: name -> (system, source environment[:workload], target environment[:workload], metric).
PAIRS = {
    "storm-c1-c3": ("storm", "wc-c1-3d-c1", "wc-c3-3d-c1", "latency"),
    "storm-c3-c1": ("storm", "wc-c3-3d-c1", "wc-c1-3d-c1", "latency"),
    "x264-azure-nano": ("ase17-x264", "azure_2762_128", "amazon_nano_2762_128", "time"),
    "x264-f9-f10": ("ase17-x264", "feature9_2389_8", "feature10_2744_128", "time"),
    "flexibo-200-400": ("flexibo", "TX2:inceptionv3-200x200", "TX2:inceptionv3-400x400", "inference_time"),
}
# Constrained problems: label -> (Storm environment, output constraint); the bound makes the lowest latency infeasible.
CONSTRAINED = {
    "wc-6d-c1:throughput>=9000": ("wc-6d-c1", "throughput >= 9000"),
    "wc-6d-c1:throughput>=15000": ("wc-6d-c1", "throughput >= 15000"),
    "sol-6d-c2:throughput>=20000": ("sol-6d-c2", "throughput >= 20000"),
    "rs-6d-c3:throughput>=100000": ("rs-6d-c3", "throughput >= 100000"),
}
# BO4CO's mean gap to the optimum after 50 measurements, read off the paper's figures (issue 13).
BO4CO_GAP_50 = {"sol-6d-c2": 7.0, "rs-6d-c3": 4.1, "wc-3d-c4": 0.51, "wc-5d-c5": 1.4}


class Timed:
    """A sampler whose slowest ask is recorded."""

    def __init__(self, sampler):
        self.sampler, self.slowest = sampler, 0.0

    def ask(self, history, budget):
        started = time.perf_counter()
        asked = self.sampler.ask(history, budget)
        self.slowest = max(self.slowest, time.perf_counter() - started)
        return asked


def tpe(space, measure, budget: int, seed: int) -> list[float | None]:
    """Optuna's TPE, snapped to the recorded configurations (``optuna_snapped``)."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    return optuna_snapped(space, measure, budget, study, lambda value: None if value is None else [value])


def optuna_snapped(space, measure, budget: int, study, objective_values) -> list:
    """An Optuna study over each option's recorded levels (numbers by the index of their level, the
    ranks the other surrogates see), each suggestion snapped to the nearest recorded configuration
    not measured yet, and that configuration told to the study (what was measured). Returns what
    ``measure`` returned, in order; ``objective_values(result)`` is the study's values of one
    (None: a failed measurement)."""
    import optuna
    population = space.population
    levels = {o.name: (list(o.domain) if o.type in ("bool", "categorical") else np.sort(population[o.name].unique()).tolist())
              for o in space.options}
    distributions = {name: optuna.distributions.IntDistribution(0, len(values) - 1) for name, values in levels.items()}
    recorded, taken, results = features(space, population), np.zeros(len(population), dtype=bool), []
    for _ in range(min(budget, len(population))):
        trial = study.ask(distributions)
        wanted = {name: levels[name][index] for name, index in trial.params.items()}
        distance = np.abs(recorded - features(space, space.to_frame([wanted]))[0]).sum(axis=1)
        distance[taken] = np.inf
        index = int(np.argmin(distance))
        taken[index] = True
        config = population.iloc[index].to_dict()
        results.append(measure(config))
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # it learns from the snapped configuration instead
        snapped = {name: levels[name].index(config[name]) for name in levels}
        values = objective_values(results[-1])
        study.add_trial(optuna.trial.create_trial(params=snapped, distributions=distributions, values=values,
                                                  state=optuna.trial.TrialState.COMPLETE if values is not None else optuna.trial.TrialState.FAIL))
    return results


def run(environment: str, methods: list[str], seeds: range, budget: int, system_name: str = "storm", metric: str = METRIC,
        source: str | None = None, label: str | None = None) -> pd.DataFrame:
    """Every method on one replayed table (``environment[:workload]``), ``bo-warm`` warm-started from ``source``."""
    target, _, workload = environment.partition(":")
    system = get_system(system_name, target, workload or None)
    space, workload = system.space, system.default_workload if not workload else workload
    warm = (environment_frame(f"{system_name}:{source}"),) if source else ()

    def measure(config: dict) -> float | None:
        try:
            return system.run(config, workload, 1.0, [])[metric]
        except MeasurementFailed:
            return None

    truth = [v for v in (measure(c) for c in space.population.to_dict("records")) if v is not None]
    optimum = min(truth)
    rows = []
    for method in methods:
        for seed in seeds:
            started, slowest = time.perf_counter(), None
            if method == "tpe":
                values = tpe(space, measure, budget, seed)
            else:
                sampler = Timed(SAMPLERS.get(method.removesuffix("-warm"))(seed))
                measured = offline(sampler, space, measure, metric, "min", budget, warm=warm if method.endswith("-warm") else ())
                values, slowest = [v for _, v in measured], sampler.slowest
                assert len({config_id(c) for c, _ in measured}) == len(measured), "a configuration measured twice"
            best = np.minimum.accumulate([np.inf if v is None else v for v in values])
            hit = np.flatnonzero(best <= optimum * (1 + WITHIN))
            rows.append({"environment": label or environment, "method": method, "seed": seed, "configurations": len(space.population),
                         "within": len(np.flatnonzero(np.array(truth) <= optimum * (1 + WITHIN))),
                         "to_5pct": int(hit[0]) + 1 if len(hit) else np.inf,
                         "gap_20": 100 * (best[min(20, len(best)) - 1] / optimum - 1),
                         "gap_50": 100 * (best[min(50, len(best)) - 1] / optimum - 1),
                         "slowest_ask_s": slowest, "seconds": time.perf_counter() - started})
    return pd.DataFrame(rows)


def constrained(label: str, methods: list[str], seeds: range, budget: int) -> pd.DataFrame:
    """Every method on one constrained problem (``CONSTRAINED[label]``): latency minimised under the bound."""
    from tradeoff.optimum import parse_bound
    from tradeoff.samplers._pareto import offline as offline_constrained
    environment, constraint = CONSTRAINED[label]
    bound = parse_bound(constraint)
    system = get_system("storm", environment)
    space = system.space

    def measure(config: dict) -> dict | None:
        try:
            return system.run(config, system.default_workload, 1.0, [])
        except MeasurementFailed:
            return None

    def value(metrics: dict | None) -> float:
        """The latency of a feasible measurement, else inf."""
        ok = metrics is not None and bool(bound.holds(np.array([metrics[bound.metric]]))[0])
        return metrics[METRIC] if ok else np.inf

    truth = [value(m) for m in map(measure, space.population.to_dict("records"))]
    optimum = min(truth)
    rows = []
    for method in methods:
        for seed in seeds:
            started = time.perf_counter()
            given = () if method.endswith("-blind") else (constraint,)
            sampler = SAMPLERS.get(method.removesuffix("-blind"))(seed)
            runs = offline_constrained(sampler, space, measure, ((METRIC, "min"),), given, budget)
            values = [value(metrics) for _, metrics, _ in runs]
            best = np.minimum.accumulate(values)
            hit = np.flatnonzero(best <= optimum * (1 + WITHIN))
            rows.append({"environment": label, "method": method, "seed": seed, "configurations": len(space.population),
                         "within": int(np.sum(np.array(truth) <= optimum * (1 + WITHIN))),
                         "to_5pct": int(hit[0]) + 1 if len(hit) else np.inf,
                         "gap_20": 100 * (best[min(20, len(best)) - 1] / optimum - 1),
                         "gap_50": 100 * (best[min(50, len(best)) - 1] / optimum - 1),
                         "infeasible": float(np.mean(np.isinf(values))),
                         "slowest_ask_s": None, "seconds": time.perf_counter() - started})
    return pd.DataFrame(rows)


def correlation(system_name: str, source: str, target: str, metric: str) -> float:
    """Spearman's rank correlation of the metric over the configurations both environments measured."""
    frames = [environment_frame(f"{system_name}:{name}") for name in (source, target)]
    ok = [f[f["status"] == "ok"].set_index("config_id")[METRIC_PREFIX + metric] for f in frames]
    common = ok[0].index.intersection(ok[1].index)
    return float(spearmanr(ok[0][common], ok[1][common]).statistic)


def _run(job: tuple) -> pd.DataFrame:
    function, kwargs = job
    return function(**kwargs)


def summarise(results: pd.DataFrame, budget: int) -> pd.DataFrame:
    def median(values: pd.Series) -> str:
        m = float(np.median(values))
        return f">{budget}" if np.isinf(m) else f"{m:g}"
    table = results.groupby(["environment", "method"], sort=False).agg(
        configurations=("configurations", "first"), within=("within", "first"), median_to_5pct=("to_5pct", median),
        success=("to_5pct", lambda v: float(np.mean(np.isfinite(v)))), gap_20=("gap_20", "mean"), gap_50=("gap_50", "mean"),
        slowest_ask_s=("slowest_ask_s", "max"), seconds=("seconds", "mean"),
        **({"infeasible": ("infeasible", "mean")} if "infeasible" in results else {}))
    return table.reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environments", default=",".join(load_spec("storm")["environments"]))
    parser.add_argument("--methods", default=None, help="default: random,flash,bo,tpe (--transfer: and bo-warm)")
    parser.add_argument("--transfer", action="store_true", help="the transfer pairs, warm start against cold")
    parser.add_argument("--pairs", default=",".join(PAIRS))
    parser.add_argument("--constrained", action="store_true", help="latency under a throughput bound, constraint-aware against blind")
    parser.add_argument("--problems", default=",".join(CONSTRAINED), help="the --constrained problems")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--processes", type=int, default=1, help="jobs (a method on a table) run at once")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None, help="write every run and the summary here")
    parser.add_argument("--combine", nargs="+", type=Path, default=None,
                        help="summarise the runs of these --json files together (parts of one benchmark run separately)")
    args = parser.parse_args()
    if args.combine:
        return report(pd.concat(pd.DataFrame(json.loads(p.read_text())["runs"]) for p in args.combine).fillna({"to_5pct": np.inf, "gap_20": np.inf, "gap_50": np.inf}).astype({"to_5pct": float}),
                      args.budget, args.json)
    default = ("random,flash,flash-blind,bo,bo-blind,bo-ei,bo-ei-blind" if args.constrained else
               "random,flash,tpe,bo" + (",bo-warm" if args.transfer else ""))
    methods = (args.methods or default).split(",")
    if args.constrained and "tpe" in methods:
        parser.error("--constrained compares the repository's samplers with and without the constraint; leave out tpe")
    if "tpe" in methods:
        try:
            import optuna  # noqa: F401
        except ImportError:
            print("optuna is not installed (pip install '.[bench]'): tpe left out")
            methods.remove("tpe")
    started = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    problems = []  # (label, run or constrained, its arguments but the methods)
    for pair in args.pairs.split(",") if args.transfer else []:
        system_name, source, target, metric = PAIRS[pair]
        print(f"{pair}: {system_name} {source} -> {target}, {metric}: Spearman {correlation(system_name, source, target, metric):.2f}")
        problems.append((pair, run, dict(environment=target, seeds=seeds, budget=args.budget, system_name=system_name, metric=metric,
                                    source=source, label=pair)))
    for label in args.problems.split(",") if args.constrained else []:
        problems.append((label, constrained, dict(label=label, seeds=seeds, budget=args.budget)))
    for environment in [] if args.transfer or args.constrained else args.environments.split(","):
        problems.append((environment, run, dict(environment=environment, seeds=seeds, budget=args.budget)))
    jobs = [(function, dict(kwargs, methods=[method])) for _, function, kwargs in problems for method in methods]
    with ProcessPoolExecutor(args.processes) as pool:  # one method on one table per job
        frames = list(pool.map(_run, jobs))
    for label, _, _ in problems:
        print(summarise(pd.concat(f for f in frames if f["environment"].iloc[0] == label), args.budget)
              .to_string(index=False, float_format=lambda v: f"{v:.3g}"), flush=True)
    report(pd.concat(frames), args.budget, args.json)
    print(f"total {time.perf_counter() - started:.0f} s, {args.seeds} seeds, budget {args.budget}, methods {','.join(methods)}")


def report(results: pd.DataFrame, budget: int, path: Path | None) -> None:
    """Print the summary of every run and write both to ``path``."""
    summary = summarise(results, budget)
    print("\n" + summary.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"runs": results.replace(np.inf, None).to_dict("records"),
                                    "summary": summary.to_dict("records")}, indent=1, default=str))


if __name__ == "__main__":
    main()
