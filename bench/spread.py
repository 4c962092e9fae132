"""How much each live system's options move its main metric: spread over random configurations.

    flock /tmp/tradeoff-bench.lock python -m bench.spread [--n 30] [--seed 0] [--systems sat gcc xz dnn]

For each system, ``n`` configurations drawn uniformly (the ``random`` sampler, seed ``seed``)
are measured once each, one after another, pinned to the system's cores per run (the last usable
ones: one core, two for flink), on a small workload.
Prints min, median, max and max/min of the main metric over the successful runs, and how many
runs failed (a failure is a row too: a timeout, a wrong answer, a miscompilation).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from systems import get_system
from systems.base import measure_once
from tradeoff.environment import usable_cores
from tradeoff.samplers.base import sample

# system -> (workload, main metric): small workloads, so 30 runs take minutes each
PLAN = {
    "sat": ("rand3-200-1", "time"),
    "gcc": ("nbody", "time"),
    "xz": ("words-1M", "time"),
    "dnn": ("digits", "train_time"),
    "x264": ("clip-352x288-32", "time"),
    "sqlite": ("fillrandom-1000", "us_per_op"),
    "flink": ("wordcount-1m", "throughput"),
}


def spread(name: str, n: int, seed: int, timeout: float) -> dict:
    workload, metric = PLAN[name]
    system = get_system(name)
    system.check()
    configs = sample(system.space, "random", n, seed)
    cpus = usable_cores()[-system.cores_per_run:]
    clock = time.perf_counter()
    rows = [measure_once(system, c, workload, 0, timeout, cpus, "bench-spread", "") for c in configs]
    values = np.array([r[f"metric.{metric}"] for r in rows if r["status"] == "ok"] or [np.nan])
    failures = [r["error"] for r in rows if r["status"] != "ok"]
    return {"system": name, "workload": workload, "metric": metric, "ok": int(np.isfinite(values).sum()), "failed": len(failures),
            "min": values.min(), "median": float(np.median(values)), "max": values.max(),
            "ratio": values.max() / values.min(), "wall_s": time.perf_counter() - clock,
            "first_failure": (failures[0] or "")[:120] if failures else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--systems", nargs="+", default=list(PLAN), choices=list(PLAN))
    args = parser.parse_args()
    print("| system | workload | metric | ok/failed | min | median | max | max/min | bench wall (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.systems:
        r = spread(name, args.n, args.seed, args.timeout)
        print(f"| {r['system']} | {r['workload']} | {r['metric']} | {r['ok']}/{r['failed']} | {r['min']:.3g} | {r['median']:.3g} "
              f"| {r['max']:.3g} | {r['ratio']:.1f} | {r['wall_s']:.0f} |", flush=True)
        if r["first_failure"]:
            print(f"<!-- first failure of {name}: {r['first_failure']} -->", flush=True)


if __name__ == "__main__":
    main()
