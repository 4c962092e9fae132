"""Time to fix on synthetic systems with a known causal structure: causal debugging against a decision tree.

For each seed, ``causal-synthetic`` (workload ``s<seed>``) draws options -> events -> latency and
energy. Both methods learn from the same random sample; the faulty configuration is the slowest
of 200 other random configurations; the goal is latency at most the sample's 40th percentile.
Each method loops: recommend a fix of the faulty configuration, measure it, add it to the data,
until the goal holds or the budget is spent. The causal loop is ``tradeoff.causal.loop.debug``; the
tree loop refits ``decision_tree_fix`` on the grown data each round. Reported per method: faults
fixed, measurements to the fix (the faulty one included), options changed, and the share of
changed options that are true root causes (options with a causal path to latency).

    flock /tmp/tradeoff-bench.lock python -m bench.causal_debug [--seeds 10] [--sample 60] [--budget 5]
"""

from __future__ import annotations

import argparse
import random
import time

import pandas as pd

from systems import get_system
from tradeoff.causal.baseline import decision_tree_fix
from tradeoff.causal.goals import Goal
from tradeoff.causal.graph import Variables
from tradeoff.causal.loop import DebugConfig, debug
from tradeoff.space import config_id


def tree_loop(data, variables, faulty, faulty_metrics, goal, measure, budget):
    tried, measurements, data = {config_id(faulty)}, 1, data.copy()
    data = pd.concat([data, pd.DataFrame([{**faulty, **faulty_metrics}])], ignore_index=True)
    while measurements < budget:
        changes, _ = decision_tree_fix(data, variables, faulty, goal, seed=measurements)
        config = {**faulty, **changes}
        if not changes or config_id(config) in tried:
            return False, measurements, changes
        tried.add(config_id(config))
        metrics = measure([config])[0]
        measurements += 1
        if goal.holds(metrics[goal.metric]):
            return True, measurements, changes
        data = pd.concat([data, pd.DataFrame([{**config, **metrics}])], ignore_index=True)
    return False, measurements, {}


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
        fixed, measurements, changes = tree_loop(data, tree_variables, faulty, faulty_metrics, goal, measure, budget + 1)
        rows.append({"seed": seed, "method": "tree", "fixed": fixed, "measurements": measurements, "changed": len(changes),
                     "precision": len(set(changes) & truth) / len(changes) if changes else float("nan"),
                     "faulty": faulty_metrics["latency"], "goal": goal.threshold, "wall_s": time.perf_counter() - clock})
        print(f"seed {seed}: truth {sorted(truth)}; causal {'fixed' if result.fixed else 'not fixed'} by {sorted(changed)}; "
              f"tree {'fixed' if fixed else 'not fixed'} by {sorted(changes)}", flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sample", type=int, default=60, help="random configurations to learn from")
    parser.add_argument("--budget", type=int, default=5, help="fix measurements each method may spend")
    args = parser.parse_args()
    clock = time.perf_counter()
    table = run(args.seeds, args.sample, args.budget)
    fixed = table[table["fixed"]]
    summary = table.groupby("method").agg(faults=("seed", "size"), fixed=("fixed", "sum"), changed=("changed", "mean"),
                                          precision=("precision", "mean"), wall_s=("wall_s", "mean"))
    summary["measurements_when_fixed"] = fixed.groupby("method")["measurements"].mean()
    pd.set_option("display.width", 200, "display.precision", 2)
    print(summary.to_string())
    print(f"wall time {time.perf_counter() - clock:.0f} s")


if __name__ == "__main__":
    main()
