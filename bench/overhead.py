"""Orchestration overhead and parallel efficiency of the Ray measurement engine.

    python -m bench.overhead [--n 2000] [--costly 20] [--cost 0.5] [--nodes 1|2] [--rounds 1]

1. n zero-cost synthetic measurements: a plain loop calling the driver (``measure_once``) and
   appending the rows to the Parquet store, against the engine (Ray workers, Parquet flushes);
   both after start-up (Ray is already running). Overhead = (engine - loop) / n.
2. ``costly`` measurements that each sleep ``cost`` seconds on 2 workers: efficiency =
   ideal time (costly * cost / 2) / measured time. With ``--rounds R`` they come in R rounds, as
   an adaptive campaign asks for them, with the workers kept warm across rounds (``keep_warm``).

``--nodes 1`` runs on a local Ray (one node, this machine's CPUs); ``--nodes 2`` on Ray's
in-process cluster of a CPU-less head and two labelled one-CPU worker nodes (``bench.scale``).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import pandas as pd

from systems.base import measure_once
from systems.synthetic import Synthetic
from bench.scale import ENVIRONMENT, two_node_cluster
from tasks.measure import Job, connect, keep_warm, measure
from tradeoff.measurements import MeasurementStore, schema_for
from tradeoff.samplers.base import sample


def store_for(system) -> MeasurementStore:
    return MeasurementStore(tempfile.mkdtemp(prefix="tradeoff-bench-"), schema_for(system.space, system.metric_names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--costly", type=int, default=20)
    parser.add_argument("--cost", type=float, default=0.5)
    parser.add_argument("--nodes", type=int, choices=(1, 2), default=1)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    environment = ENVIRONMENT if args.nodes == 2 else None

    free = Synthetic.variant(n_options=11, environment=environment)
    configs = sample(free.space, "random", args.n, 0)
    clock = time.perf_counter()
    store = store_for(free)
    store.append([measure_once(free, c, "paper", 0, 10, [], "plain", "") for c in configs])
    plain = time.perf_counter() - clock

    two_node_cluster() if args.nodes == 2 else connect()
    measure(free, [Job(c, 0) for c in configs[:50]], "paper", 10, store_for(free), "warm-up", progress=False)
    clock = time.perf_counter()
    measure(free, [Job(c, 0) for c in configs], "paper", 10, store_for(free), "engine", progress=False)
    engine = time.perf_counter() - clock
    with keep_warm():  # the same with the workers already up, as in a campaign's later rounds
        measure(free, [Job(c, 0) for c in configs[:50]], "paper", 10, store_for(free), "warm", progress=False)
        clock = time.perf_counter()
        measure(free, [Job(c, 0) for c in configs], "paper", 10, store_for(free), "warm", progress=False)
        warm = time.perf_counter() - clock
    print(f"zero-cost measurements: {args.n} on {args.nodes} node(s)")
    print(f"  plain loop                 {plain:7.2f} s  {plain / args.n * 1e3:6.3f} ms/measurement")
    print(f"  Ray engine, workers start  {engine:7.2f} s  {engine / args.n * 1e3:6.3f} ms/measurement")
    print(f"  Ray engine, workers warm   {warm:7.2f} s  {warm / args.n * 1e3:6.3f} ms/measurement")
    print(f"  overhead                   {(engine - plain) / args.n * 1e3:6.3f} ms/measurement with worker start, "
          f"{(warm - plain) / args.n * 1e3:6.3f} warm (target < 5)")

    costly = Synthetic.variant(n_options=11, cost=args.cost, environment=environment)
    jobs = [Job(c, 0) for c in sample(costly.space, "random", args.costly, 1)]
    store = store_for(costly)
    clock = time.perf_counter()
    with keep_warm():
        for round in range(args.rounds):
            measure(costly, jobs[round::args.rounds], "paper", 60, store, "parallel", concurrency=2, progress=False)
    elapsed = time.perf_counter() - clock
    rows = store.read()
    ends = rows["started_at"] + pd.to_timedelta(rows["duration_s"], unit="s")
    busy = (ends.max() - rows["started_at"].min()).total_seconds()  # first start to last end: workers up
    ideal = args.costly * args.cost / 2
    print(f"{args.costly} measurements of {args.cost} s on 2 workers in {args.rounds} round(s), ideal {ideal:.2f} s:")
    print(f"  with worker start-up   {elapsed:6.2f} s  parallel efficiency {ideal / elapsed:.3f}")
    print(f"  workers running        {busy:6.2f} s  parallel efficiency {ideal / busy:.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
