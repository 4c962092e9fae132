"""Our learners against the published DECART and DeepPerf accuracy, with DeepPerf's protocol.

    python -m bench.deepperf [--systems Apache,BDBC,LLVM,SQL,x264] [--learners auto,influence,cart,log-forest,boosting,gp]
                             [--repeats 30] [--jobs 2] [--json FILE]

For each of the five DeepPerf systems and each sample size of its training-index file (n..5n):
train on the published training samples (the first ``repeats`` of the 30 experiments), test on
every other row, and print our mean relative error (%) with its 95% margin next to the
published DECART (``GeneralizedError``) and DeepPerf means. The published numbers are read from
the data's result files, never typed in. ``--jobs`` worker processes fit the independent
(size, experiment, learner) cases; the numbers do not depend on it.
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd

from systems.replay import datasets_dir
from tradeoff.models.evaluation import learning_curve, load_table, read_training_index, summarise
from tradeoff.models.learners.base import LEARNERS

SYSTEMS = {"Apache": "Apache", "BDBC": "BDBC", "LLVM": "LLVM", "SQL": "SQL", "x264": "X264"}  # data name -> file prefix


def published(folder, system: str) -> pd.DataFrame:
    """Mean MRE per sample size as published: DECART (CART with grid search) and DeepPerf."""
    deepperf = pd.read_csv(folder / "DeepPerf_results" / f"result_{system}.csv", comment="#", header=None,
                           names=["size", "deepperf", "deepperf_margin"])
    decart = pd.read_csv(folder / "DECART_results" / f"CART_{SYSTEMS[system]}_Stat_crossvalidation_gridsearch.csv")
    decart = decart[pd.to_numeric(decart["SamplingSize"], errors="coerce").notna()].iloc[:, [0, 5]]
    decart.columns = ["size", "decart"]
    table = deepperf.astype({"size": int}).merge(decart.astype({"size": int, "decart": float}), on="size", how="outer")
    return table.set_index("size")


def run(systems: list[str], learners: list[str], repeats: int, jobs: int = 2) -> pd.DataFrame:
    folder = datasets_dir() / "deepperf" / "Data"
    rows = []
    for system in systems:
        started = time.perf_counter()
        table = load_table(folder / f"{system}_AllNumeric.csv", "PERF")
        training_sets = read_training_index(folder / f"{SYSTEMS[system]}_training_index.csv")
        results = learning_curve(table, learners, training_sets, repeats, jobs=jobs)
        summary = summarise(results).pivot(index="size", columns="learner", values=["mean", "margin"])
        reference = published(folder, system)
        for size in training_sets:
            row = {"system": system, "size": size}
            for name in learners:
                row[name], row[f"{name}_margin"] = summary.loc[size, ("mean", name)], summary.loc[size, ("margin", name)]
            row.update(reference.loc[size].to_dict() if size in reference.index else {})
            chosen = results[(results["learner"] == "auto") & (results["size"] == size)]["chosen"]
            row["auto_chose"] = ",".join(f"{k}×{v}" for k, v in chosen.value_counts().items())
            rows.append(row)
        print(f"{system}: {time.perf_counter() - started:.0f} s", flush=True)
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame, learners: list[str]) -> str:
    header = ["system", "size"] + learners + ["DECART", "DeepPerf"] + (["auto <= best published"] if "auto" in learners else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in frame.to_dict("records"):
        best = min(row.get("decart", float("inf")), row.get("deepperf", float("inf")))
        cells = [row["system"], str(row["size"])] + [f"{row[n]:.2f} ± {row[n + '_margin']:.2f}" for n in learners]
        cells += [f"{row.get('decart', float('nan')):.2f}", f"{row.get('deepperf', float('nan')):.2f}"]
        if "auto" in learners:
            cells.append("yes" if row["auto"] <= best else "no")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    auto = LEARNERS.get("auto")()
    parser.add_argument("--learners", default=f"auto,{auto.candidates}",
                        help=f"comma-separated, of: {', '.join(LEARNERS.names())} (default: auto and its candidates)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--json", help="write every row to this JSON file")
    args = parser.parse_args()
    learners = [LEARNERS.check(n) for n in args.learners.split(",") if n]
    started = time.perf_counter()
    frame = run([s for s in args.systems.split(",") if s], learners, args.repeats, args.jobs)
    print(markdown(frame, learners))
    if "auto" in learners:
        print("auto chose: " + "; ".join(f"{r['system']} {r['size']}: {r['auto_chose']}" for r in frame.to_dict("records")))
    print(f"total {time.perf_counter() - started:.0f} s, {args.repeats} repeats per size, {args.jobs} jobs")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(frame.to_dict("records"), handle, indent=1)


if __name__ == "__main__":
    main()
