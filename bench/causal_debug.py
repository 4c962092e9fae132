"""Time to fix: causal debugging against a decision-tree loop, on synthetic systems and live faults.

Synthetic (the default): for each seed, ``causal-synthetic`` (workload ``s<seed>``) draws options ->
events -> latency and energy. Both methods learn from the same random sample; the faulty
configuration is the slowest of 200 other random configurations; the goal is latency at most the
sample's 40th percentile. Each method loops: recommend a fix of the faulty configuration, measure
it, add it to the data, until the goal holds or the budget is spent. The causal loop is
``tradeoff.causal.loop.debug``; the tree loop refits ``decision_tree_fix`` on the grown data each
round. Reported per method: faults fixed, measurements to the fix (the faulty one included),
options changed, and the share of changed options that are true root causes (options with a
causal path to latency).

Live (``--live``): the faults of ``bench/faults/faults.yaml`` on the real programs. The causal side
is the real command, ``tradeoff debug`` (Prefect flow, Ray engine, MLflow), run in a subprocess;
the tree loop then learns from the same initial sample and measures through the same engine, with
the same budget. Root causes are known by measurement: ``--verify`` measures each fault, each
option changed alone to each alternative value and each listed interacting fix, so a user can
check that the listed options, and only they, restore the goals. Reported per fault and method:
fixed, measurements (the faulty one included), the options changed against the true root causes
(precision, recall), and the measured gain of each goal metric.

    flock /tmp/tradeoff-bench.lock python -m bench.causal_debug [--seeds 10] [--sample 60] [--budget 5]
    flock /tmp/tradeoff-bench.lock python -m bench.causal_debug --verify x264-asm-search,sat-php-shrink
    flock /tmp/tradeoff-bench.lock python -m bench.causal_debug --live all [--out /tmp/live-faults]
    (a run of some faults replaces their rows of OUT/live.csv and keeps the others': split long runs by fault)
    python -m bench.causal_debug --rescore --out /tmp/live-faults   # the same sessions, root causes edited
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from systems import get_system
from tradeoff.causal.baseline import decision_tree_fix
from tradeoff.causal.goals import Goal, goals_hold, parse_goals
from tradeoff.causal.graph import Variables, from_measurements
from tradeoff.causal.loop import DebugConfig, debug
from tradeoff.measurements import MeasurementStore, aggregate
from tradeoff.space import config_id

FAULTS = Path(__file__).parent / "faults"


def tree_loop(data, variables, faulty, faulty_metrics, goals, measure, budget, valid=lambda config: True):
    """Refit the decision tree on the grown data each round and measure its fix, until every goal
    holds, the tree repeats itself (or proposes what cannot be measured) or ``budget`` measurements
    (the faulty one included) are spent. Returns (fixed, measurements, the best fix's changes, its metrics)."""
    tried, measurements, data = {config_id(faulty)}, 1, data.copy()
    data = pd.concat([data, pd.DataFrame([{**faulty, **faulty_metrics}])], ignore_index=True)
    best, best_metrics = {}, faulty_metrics
    while measurements < budget:
        changes, _ = decision_tree_fix(data, variables, faulty, goals[0], seed=measurements)
        config = {**faulty, **changes}
        if not changes or config_id(config) in tried or not valid(config):
            break
        tried.add(config_id(config))
        metrics = measure([config])[0]
        measurements += 1
        if metrics is None:
            continue
        if goals_hold(metrics, goals):
            return True, measurements, changes, metrics
        if _closer(metrics, best_metrics, goals):
            best, best_metrics = changes, metrics
        data = pd.concat([data, pd.DataFrame([{**config, **metrics}])], ignore_index=True)
    return False, measurements, best, best_metrics


def _closer(metrics: dict, than: dict, goals: list[Goal]) -> bool:
    """Fewer goals missed, then the first goal's metric better."""
    def key(m: dict) -> tuple:
        value = m[goals[0].metric]
        return sum(not goals_hold(m, [g]) for g in goals), value if goals[0].minimize else -value
    return key(metrics) < key(than)


def run(seeds: int, sample: int, budget: int) -> pd.DataFrame:
    system = get_system("causal-synthetic")
    rows = []
    for seed in range(seeds):
        workload = f"s{seed}"
        system.rng = random.Random(seed)
        measure = lambda configs: [system.run(c, workload, 10, []) for c in configs]  # noqa: E731
        configs = system.space.sample_uniform(sample, seed)
        data = pd.DataFrame([{**c, **m} for c, m in zip(configs, measure(configs))])
        candidates = system.space.sample_uniform(200, seed + 1000)
        measured = measure(candidates)
        worst = max(range(len(candidates)), key=lambda i: measured[i]["latency"])
        faulty, faulty_metrics = candidates[worst], measured[worst]
        goal = Goal("latency", "<=", float(data["latency"].quantile(0.4)))
        truth = system.truth(workload).root_causes("latency")
        variables = Variables(tuple(system.space.names), tuple(system.event_metrics), ("latency",))

        clock = time.perf_counter()
        result = debug(data, variables, faulty, [goal], measure, DebugConfig(budget=budget), faulty_metrics=faulty_metrics)
        changed = {k for k in result.best if result.best[k] != faulty[k]}
        rows.append({"seed": seed, "method": "causal", "fixed": result.fixed, "measurements": 1 + result.measurements,
                     "changed": len(changed), "precision": len(changed & truth) / len(changed) if changed else float("nan"),
                     "faulty": faulty_metrics["latency"], "after": result.best_metrics["latency"], "goal": goal.threshold,
                     "wall_s": time.perf_counter() - clock})

        clock = time.perf_counter()
        tree_variables = Variables(tuple(system.space.names), (), ("latency",))
        fixed, measurements, changes, _ = tree_loop(data, tree_variables, faulty, faulty_metrics, [goal], measure, budget + 1)
        rows.append({"seed": seed, "method": "tree", "fixed": fixed, "measurements": measurements, "changed": len(changes),
                     "precision": len(set(changes) & truth) / len(changes) if changes else float("nan"),
                     "faulty": faulty_metrics["latency"], "goal": goal.threshold, "wall_s": time.perf_counter() - clock})
        print(f"seed {seed}: truth {sorted(truth)}; causal {'fixed' if result.fixed else 'not fixed'} by {sorted(changed)}; "
              f"tree {'fixed' if fixed else 'not fixed'} by {sorted(changes)}", flush=True)
    return pd.DataFrame(rows)


def load_faults(names: str) -> dict[str, dict]:
    """The faults of bench/faults/faults.yaml named in ``names`` (comma-separated, or ``all``)."""
    faults = yaml.safe_load((FAULTS / "faults.yaml").read_text())
    chosen = list(faults) if names == "all" else names.split(",")
    unknown = [n for n in chosen if n not in faults]
    if unknown:
        sys.exit(f"error: no fault {unknown[0]!r} in {FAULTS / 'faults.yaml'}; faults: {', '.join(faults)}")
    return {n: faults[n] for n in chosen}


def faulty_config(fault: dict) -> dict:
    system = get_system(fault["system"])
    return system.space.validate(yaml.safe_load((FAULTS / fault["config"]).read_text()), fill_defaults=True)


def alternatives(option, value) -> list:
    """The values one option is moved to when testing it alone: the others of a bool or a category,
    a number's bounds and default."""
    if option.type == "bool":
        return [not value]
    if option.type == "categorical":
        return [v for v in option.values if v != value]
    return [v for v in dict.fromkeys((option.lower, option.default, option.upper)) if v != value]


def verify(name: str, fault: dict, reps: int, sweep: bool = True) -> pd.DataFrame:
    """Measure the fault, each listed fix (with each of its options alone) and, with ``sweep``,
    every option alone at each alternative value: which changes restore the goals. Measured by the
    system's own driver, in this process, on the system's cores (the median of ``reps`` runs)."""
    system, workload, goals = get_system(fault["system"]), fault["workload"], parse_goals(fault["goals"])
    faulty = faulty_config(fault)
    cpus = list(range(system.cores_per_run))

    def measure(changes: dict) -> dict | None:
        runs = []
        for _ in range(reps):
            try:
                runs.append(system.run({**faulty, **changes}, workload, 300, cpus))
            except Exception as error:  # a failed run is a row, as in a campaign
                print(f"  {changes}: failed ({str(error)[:80]})", flush=True)
        return pd.DataFrame(runs).median().to_dict() if runs else None

    trials = [("fault", {})]
    for fix in fault.get("fixes", []):
        trials.append(("listed fix", fix))
        trials += [("one option of it", {o: v}) for o, v in fix.items()] if len(fix) > 1 else []
    for option in system.space.options if sweep else ():
        trials += [("one option", {option.name: v}) for v in alternatives(option, faulty[option.name])]
    rows = []
    for kind, changes in trials:
        if not system.space.is_valid({**faulty, **changes}):
            continue
        metrics = measure(changes)
        row = {"fault": name, "kind": kind, "changes": ", ".join(f"{k}={v}" for k, v in changes.items()) or "-",
               **{g.metric: None if metrics is None else metrics.get(g.metric) for g in goals},
               "restores": metrics is not None and goals_hold(metrics, goals)}
        rows.append(row)
        print(f"  {kind:17s} {row['changes']:45s} " + " ".join(f"{g.metric}={row[g.metric]:.4g}" for g in goals
                                                            if row[g.metric] is not None) + ("  RESTORES" if row["restores"] else ""), flush=True)
    table = pd.DataFrame(rows)
    single = table[(table["kind"] == "one option") & table["restores"]]
    restoring = sorted({c.split("=")[0] for c in single["changes"]})
    fixes = table[table["kind"] == "listed fix"]
    print(f"{name}: options that restore the goals alone: {restoring if sweep else 'not swept'}; listed fixes restore: "
          f"{list(fixes['restores']) or '-'}; listed root-cause sets: {fault['root_causes']}", flush=True)
    return table


def causal_run(name: str, fault: dict, out: Path) -> dict:
    """``tradeoff debug`` on the fault, as a user types it; returns its debug.json (``loop_s``: the loop's wall time)."""
    folder = out / name / "causal"
    command = [sys.executable, "-m", "flows.cli", "debug", fault["system"], "--workload", fault["workload"],
               "--config", str(FAULTS / fault["config"]), *[a for g in fault["goals"] for a in ("--goal", g)],
               "--initial", str(fault["initial"]), "--budget", str(fault["budget"]), "--alpha", str(fault.get("alpha", 0.05)),
               "--out", str(folder), "--tracking-uri", f"sqlite:///{out / 'mlflow.db'}"]
    print("$ tradeoff " + " ".join(command[3:]), flush=True)
    subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(Path.cwd()))})
    summary = json.loads((folder / "debug.json").read_text())
    return {**summary, "loop_s": summary["wall_s"]}


def tree_run(name: str, fault: dict, out: Path, causal: dict) -> dict:
    """The tree loop on the causal run's initial sample, measuring through the same engine (Ray)
    into its own folder, with the same budget; the faulty measurement is the causal run's (counted)."""
    from prefect import flow

    from flows.debug import _measurable
    from tasks.debug import initial_sample, measure_configs
    from tasks.settings import Execution, Target

    @flow(name="tree-loop")
    def tree_flow() -> dict:
        system, target = Target(system=fault["system"], workload=fault["workload"]).resolve()
        goals, folder = parse_goals(fault["goals"]), out / name / "tree"
        initial = {config_id(c) for c in initial_sample(target, fault["initial"], 0)}
        table = aggregate(MeasurementStore(out / name / "causal").read())
        data, variables = from_measurements(table[table["config_id"].isin(initial)], [g.metric for g in goals])
        variables = Variables(variables.options, (), variables.objectives)
        faulty = {o: causal["faulty"][o] for o in variables.options}

        def measure(configs):
            return measure_configs(target, configs, Execution(), folder, f"tree-{name}")
        clock = time.perf_counter()
        fixed, measurements, changes, metrics = tree_loop(data[[*variables.options, *variables.objectives]], variables, faulty,
                                                          causal["faulty_metrics"], goals, measure, fault["budget"], _measurable(system))
        return {"fixed": fixed, "measurements": measurements, "changes": changes, "best_metrics": metrics,
                "loop_s": time.perf_counter() - clock}
    return tree_flow()


def score(changed: set, causes: list[list[str]]) -> dict:
    """Precision: the share of changed options that are root causes (in any minimal set); recall:
    the largest share of one minimal set the changes cover (a fix needs one set, not all)."""
    truth = {o for c in causes for o in c}
    return {"precision": len(changed & truth) / len(changed) if changed else float("nan"),
            "recall": max(len(changed & set(c)) / len(c) for c in causes)}


def to_fix(method: str, result: dict) -> float:
    """Measurements until every goal first held (the faulty one included): the causal loop goes on
    to simplify its fix (one measurement per reverted option), the tree loop stops at its fix."""
    if not result["fixed"]:
        return float("nan")
    return result["fixed_after"] if method == "causal" else result["measurements"]


def live(faults: dict[str, dict], out: Path) -> pd.DataFrame:
    rows = []
    for name, fault in faults.items():
        goals = parse_goals(fault["goals"])
        try:
            causal = causal_run(name, fault, out)
        except subprocess.CalledProcessError as error:  # kept as a row: the benchmark goes on
            rows.append({"fault": name, "method": "causal", "fixed": False, "changed": f"tradeoff debug failed ({error.returncode})"})
            continue
        tree = tree_run(name, fault, out, causal)
        faulty = causal["faulty"]
        changed = {"causal": {k: v for k, v in causal["best"].items() if v != faulty[k]}, "tree": tree["changes"]}
        for method, result in (("causal", causal), ("tree", tree)):
            row = {"fault": name, "method": method, "fixed": result["fixed"], "measurements": result["measurements"],
                   "to fix": to_fix(method, result),
                   "changed": ", ".join(f"{k}={v}" for k, v in changed[method].items()) or "-",
                   **score(set(changed[method]), fault["root_causes"]), "loop_s": result["loop_s"]}
            for goal in goals:
                before, after = causal["faulty_metrics"][goal.metric], result["best_metrics"].get(goal.metric)
                row[f"faulty {goal.metric}"], row[f"fixed {goal.metric}"] = before, after
                row[f"gain {goal.metric} %"] = (before - after) / abs(before) * 100 * (1 if goal.minimize else -1)
            rows.append(row)
            print(row, flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sample", type=int, default=60, help="random configurations to learn from")
    parser.add_argument("--budget", type=int, default=5, help="fix measurements each method may spend")
    parser.add_argument("--live", metavar="FAULTS", help="comma-separated faults of bench/faults/faults.yaml, or 'all'")
    parser.add_argument("--verify", metavar="FAULTS", help="measure which changes restore these faults' goals")
    parser.add_argument("--reps", type=int, default=1, help="runs per measurement of --verify (their median)")
    parser.add_argument("--no-sweep", action="store_true", help="--verify measures the listed fixes only (for slow systems)")
    parser.add_argument("--rescore", action="store_true", help="score OUT/live.csv again against the root causes listed now")
    parser.add_argument("--out", type=Path, default=Path("/tmp/live-faults"), help="folder of the --live sessions")
    args = parser.parse_args()
    clock = time.perf_counter()
    pd.set_option("display.width", 250, "display.precision", 3, "display.max_columns", 30, "display.max_colwidth", 60)
    if args.verify:
        for name, fault in load_faults(args.verify).items():
            verify(name, fault, args.reps, sweep=not args.no_sweep)
    elif args.rescore:
        table, faults = pd.read_csv(args.out / "live.csv"), load_faults("all")
        table["to fix"] = float("nan")
        for i, row in table.iterrows():
            changed = {c.split("=")[0] for c in str(row["changed"]).split(", ") if "=" in c}
            for key, value in score(changed, faults[row["fault"]]["root_causes"]).items():
                table.at[i, key] = value
            record = args.out / row["fault"] / "causal" / "debug.json"  # the session's own (none if it failed)
            if row["method"] == "causal" and record.exists():
                table.at[i, "to fix"] = to_fix("causal", json.loads(record.read_text()))
            elif row["method"] == "tree":
                table.at[i, "to fix"] = to_fix("tree", row)
        print(table.to_string(index=False))
        table.to_csv(args.out / "live.csv", index=False)
    elif args.live:
        table = live(load_faults(args.live), args.out)
        earlier = args.out / "live.csv"  # runs split by fault (short lock holds) add up in one table
        if earlier.exists():
            kept = pd.read_csv(earlier)
            table = pd.concat([kept[~kept["fault"].isin(table["fault"])], table], ignore_index=True)
        print(table.to_string(index=False))
        table.to_csv(earlier, index=False)
    else:
        table = run(args.seeds, args.sample, args.budget)
        fixed = table[table["fixed"]]
        summary = table.groupby("method").agg(faults=("seed", "size"), fixed=("fixed", "sum"), changed=("changed", "mean"),
                                              precision=("precision", "mean"), wall_s=("wall_s", "mean"))
        summary["measurements_when_fixed"] = fixed.groupby("method")["measurements"].mean()
        print(summary.to_string())
    print(f"wall time {time.perf_counter() - clock:.0f} s")


if __name__ == "__main__":
    main()
