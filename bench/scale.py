"""How the engine scales with the size of a campaign, on a local two-node Ray cluster.

    python -m bench.scale [--sizes 1000,10000,100000]

For each size N, a campaign of N zero-cost synthetic measurements (distinct configurations of 20
binary options, one repetition) into a fresh folder, on Ray's in-process ``Cluster``: a head of no
CPUs and two labelled worker nodes of one CPU each, on 127.0.0.1, as a cluster of one environment
is run. Reported: measurements per second (after the cluster is up, worker start included), the
driver's peak resident memory so far (sizes run in increasing order, so each figure is that size's
peak), the Parquet part files the folder held before and after the engine's compaction, and the
time a rerun takes to find that nothing is left to measure with N rows stored (``to_measure``),
and to read the folder.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import ray

from systems.synthetic import Synthetic
from tasks.measure import Job, measure, to_measure
from tradeoff.measurements import MeasurementStore, schema_for

ENVIRONMENT = "bench"


def two_node_cluster():
    """A head of no CPUs and two worker nodes of one CPU labelled ``bench``, on loopback; connected."""
    from ray.cluster_utils import Cluster
    os.environ["RAY_AUTH_MODE"] = "disabled"  # explicit: never the user's ~/.ray/auth_token
    ray._private.ray_constants.ENABLE_RAY_CLUSTER = False  # every address on loopback
    cluster = Cluster(initialize_head=True, head_node_args=dict(num_cpus=0, node_ip_address="127.0.0.1",
                                                                include_dashboard=False))
    for name in ("n1", "n2"):
        cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1",
                         labels={"tradeoff-environment": ENVIRONMENT, "tradeoff-node": name})
    ray.init(address=cluster.address, logging_level="ERROR")
    return cluster


def configurations(count: int, options: int = 20) -> list[dict]:
    return [{f"o{i + 1}": bool(k >> i & 1) for i in range(options)} for k in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    cluster = two_node_cluster()
    system = Synthetic.variant(n_options=20, environment=ENVIRONMENT)
    print("| measurements | seconds | measurements/s | driver peak RSS | parts before / after compaction | "
          "rerun finds nothing to do | read the folder |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size in map(int, args.sizes.split(",")):
        configs = configurations(size)
        store = MeasurementStore(tempfile.mkdtemp(prefix="tradeoff-scale-"), schema_for(system.space, system.metric_names))
        parts, compact = [], store.compact
        store.compact = lambda: (parts.append(len(list(store.path.glob("*.parquet")))), compact())
        clock = time.perf_counter()
        written = measure(system, [Job(c, 0) for c in configs], "paper", 10, store, f"scale-{size}", progress=False)
        elapsed = time.perf_counter() - clock
        assert written == size, written
        after = len(list(store.path.glob("*.parquet")))
        clock = time.perf_counter()
        assert to_measure(store, system, "paper", configs, 1) == []
        resume = time.perf_counter() - clock
        clock = time.perf_counter()
        assert len(store.read()) == size
        read = time.perf_counter() - clock
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"| {size:,} | {elapsed:.1f} | {size / elapsed:,.0f} | {peak:,.0f} MiB | {parts[0]} / {after} | "
              f"{resume:.2f} s | {read:.2f} s |", flush=True)
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main()
