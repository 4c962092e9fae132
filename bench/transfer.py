"""Transfer learning across environments: target error against the number of target measurements.

    flock /tmp/tradeoff-bench.lock python -m bench.transfer [--reps 3] [--budgets 10,20,33,50,100]
        [--methods target-only,METHOD,...] [--scenarios NAME,...] [--out DIR]
        [--recorded-source]

For each environment change (a source and a target table of ASE'17's SPEAR, x264, SQLite and
SaC, and of BO4CO's Storm), each repetition and each target budget: draw the target sample
from the target's valid configurations (random, or L2S for the l2s methods), fit every method,
and score its MAPE on the target's other valid configurations (a seeded subsample of at most
``--test`` of them). A budget counts successful target measurements.

Methods: target-only (the learner on the target sample), every transfer method of
tradeoff.transfer.methods (``--help`` lists them); l2s = L2S sample + target-only learner;
l2s+reuse = L2S sample + stacking on the source (L2S with data reuse). The severity of a change
is read from the full tables: small when Pearson >= 0.9, medium when >= 0.5, else severe.

Prints, and writes to bench/results/transfer.csv (every run) and transfer-summary-{mape,mdape}.csv:
the mean MAPE (and median relative error, MdAPE, which a few near-zero values cannot dominate) per
scenario, method and budget, and the smallest budget at which each method's mean error reaches
target-only's at the largest budget. transfer-noise-{mape,mdape}.csv holds each method's spread
over the repetitions and its paired difference from target-only (same repetition, same seed) with
a 95% t margin: the measured noise against which "worse than target-only" is judged.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from systems import get_system
from systems.replay import recorded_frame
from tradeoff.models.accuracy import mape
from tradeoff.models.learners.base import make_learner
from tradeoff.samplers.base import sample
from tradeoff.samplers.l2s import L2S, guidance
from tradeoff.space import config_id
from tradeoff.transfer.compare import compare, encoded
from tradeoff.transfer.methods.base import METHODS, Source, make_transfer

RESULTS = Path(__file__).parent / "results"
ALL_METHODS = ("target-only", *METHODS.names(), "l2s", "l2s+reuse")


@dataclass(frozen=True)
class Scenario:
    name: str
    system: str
    source: str  # environment[:workload]
    target: str
    metric: str


SCENARIOS = [
    Scenario("spear-hardware", "ase17-spear", "feature1_2_7_10286", "feature8_2_7_10286", "solving_time"),
    Scenario("spear-cloud", "ase17-spear", "amazon_micro_2_7_10286", "feature8_2_7_10286", "solving_time"),
    Scenario("spear-version+instance", "ase17-spear", "feature8_2_7_10286", "feature9_1_2_10286", "solving_time"),
    Scenario("x264-hardware", "ase17-x264", "feature1_2762_128", "feature8_2762_128", "time"),
    Scenario("x264-workload", "ase17-x264", "feature8_2762_8", "feature8_2762_32", "time"),
    Scenario("x264-version", "ase17-x264", "feature9_2389_128", "feature8_2762_128", "time"),
    Scenario("sqlite-version+hardware", "ase17-sqlite", "feature4_3190:fillseq", "feature6_3763:fillseq", "us_per_op"),
    Scenario("sqlite-workload", "ase17-sqlite", "feature7_3763:readrandom", "feature7_3763:readseq", "us_per_op"),
    Scenario("sac-workload-close", "ase17-sac", "ase17:srad", "ase17:hotspot", "time"),
    Scenario("sac-workload-medium", "ase17-sac", "ase17:particle_filter", "ase17:srad", "time"),
    Scenario("sac-workload-far", "ase17-sac", "ase17:kmeans", "ase17:nw", "time"),
    Scenario("storm-cluster", "storm", "wc-c1-3d-c1", "wc-c3-3d-c1", "latency"),
    Scenario("storm-colocation", "storm", "wc-3d-c4", "wc+rs-3d-c4", "latency"),
]


def environment(system: str, spec: str):
    env, _, workload = spec.partition(":")
    return get_system(system, env, workload or None)


class RecordedSource(Source):
    """A perfect source model: the source's recorded value (the mean of its measurements) wherever a
    configuration was measured in the source, the fitted model elsewhere: whether a better source
    model would help at all."""

    def __init__(self, X: np.ndarray, y: np.ndarray, learner: str, seed: int, name: str):
        super().__init__(X, y, learner, seed, name)
        sums: dict[bytes, list[float]] = {}
        for row, value in zip(self.X, self.y):
            sums.setdefault(row.tobytes(), []).append(value)
        self.recorded = {key: float(np.mean(values)) for key, values in sums.items()}

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, float)
        modelled = self.model.predict(X)
        return np.array([self.recorded.get(row.tobytes(), m) for row, m in zip(X, modelled)])


def severity(pearson: float) -> str:
    return "small" if pearson >= 0.9 else "medium" if pearson >= 0.5 else "severe"


def run_scenario(s: Scenario, budgets: list[int], reps: int, methods: list[str], learner: str, test_size: int,
                 recorded_source: bool = False) -> list[dict]:
    source_frame = recorded_frame(environment(s.system, s.source))
    target_system = environment(s.system, s.target)
    target_frame = recorded_frame(target_system)
    comparison, _, _ = compare(source_frame, target_frame, s.metric)
    space = target_system.space
    Xs, ys, _ = encoded(space, source_frame, s.metric)
    X, y, configs = encoded(space, target_frame, s.metric)
    ids = [config_id(c) for c in configs.to_dict("records")]
    valid = space.with_population(configs.drop_duplicates())  # budgets count successful measurements
    index_of = {cid: i for i, cid in enumerate(ids)}
    source = (RecordedSource if recorded_source else Source)(Xs, ys, learner, 0, s.source)
    steer = guidance(source_frame, s.metric)
    rows = []
    for rep in range(reps):
        for budget in budgets:
            seed = 1000 * rep + budget
            drawn = {"random": sample(valid, "random", budget, seed)}
            if any(m.startswith("l2s") for m in methods):
                drawn["l2s"] = L2S(seed).guided(valid, steer, budget)
            for method in methods:
                picked = drawn["l2s" if method.startswith("l2s") else "random"]
                train = np.array([index_of[config_id(c)] for c in picked])
                rest = np.setdiff1d(np.arange(len(y)), train)
                test = np.random.default_rng(seed).choice(rest, min(test_size, len(rest)), replace=False)
                if method in ("target-only", "l2s"):
                    model = make_learner(learner, rep)
                else:
                    model = make_transfer("stack" if method == "l2s+reuse" else method, source, learner, rep)
                clock = time.perf_counter()
                model.fit(X[train], y[train])
                predicted = model.predict(X[test])
                error = mape(y[test], predicted)
                median_error = float(np.median(np.abs(predicted - y[test])[y[test] != 0] / np.abs(y[test][y[test] != 0])) * 100)
                rows.append({"scenario": s.name, "system": s.system, "source": s.source, "target": s.target,
                             "metric": s.metric, "pearson": comparison.pearson, "severity": severity(comparison.pearson),
                             "method": method, "budget": budget, "rep": rep, "mape": error, "mdape": median_error,
                             "fit_s": time.perf_counter() - clock, "auto_choice": getattr(model, "choice_", "")})
    return rows


def summarise(runs: pd.DataFrame, error: str = "mape") -> pd.DataFrame:
    """Mean error per scenario x method x budget, and the budget at which each method reaches
    target-only's mean error at the largest budget."""
    mean = runs.groupby(["scenario", "severity", "pearson", "method", "budget"], sort=False)[error].mean().unstack("budget")
    largest = mean.columns.max()
    reference = mean.xs("target-only", level="method")[largest]
    needed = []
    for (scenario, *_), row in mean.iterrows():
        reached = [b for b in mean.columns if row[b] <= reference.xs(scenario, level="scenario").iloc[0]]
        needed.append(min(reached) if reached else np.nan)
    mean[f"budget to reach target-only@{largest}"] = needed
    return mean.reset_index()


def against_target_only(runs: pd.DataFrame, error: str = "mape") -> pd.DataFrame:
    """Per scenario x method x budget: mean and standard deviation of the error over repetitions, and
    the mean paired difference from target-only with its 95% t margin; the verdict says whether the
    difference exceeds that margin (worse / better) or not (within noise)."""
    keys = ["scenario", "budget", "rep"]
    reference = runs[runs["method"] == "target-only"].set_index(keys)[error]
    rows = []
    for (scenario, severity, method, budget), group in runs.groupby(["scenario", "severity", "method", "budget"], sort=False):
        values = group.set_index(keys)[error]
        diff = (values - reference.loc[values.index]).to_numpy()
        n = len(diff)
        margin = stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
        verdict = "worse" if diff.mean() > margin else "better" if diff.mean() < -margin else "within noise"
        rows.append({"scenario": scenario, "severity": severity, "method": method, "budget": budget, "reps": n,
                     "mean": values.mean(), "std": values.std(ddof=1), "diff": diff.mean(), "margin": margin,
                     "verdict": verdict if method != "target-only" else ""})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--budgets", default="10,20,33,50,100")
    parser.add_argument("--methods", default=",".join(ALL_METHODS), help="comma-separated, of: %(default)s (default: all)")
    parser.add_argument("--scenarios", default="", help="comma-separated scenario names (default: all)")
    parser.add_argument("--learner", default="log-forest")
    parser.add_argument("--test", type=int, default=2000, help="most held-out target configurations scored per run")
    parser.add_argument("--recorded-source", action="store_true",
                        help="transfer from the source's recorded values (a perfect source model)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the CSVs (a partial rerun: not bench/results)")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    if "target-only" not in methods:
        parser.error("--methods must include target-only: every method is compared with it")
    chosen = [s for s in SCENARIOS if not args.scenarios or s.name in args.scenarios.split(",")]
    clock, rows = time.perf_counter(), []
    for scenario in chosen:
        started = time.perf_counter()
        rows += run_scenario(scenario, budgets, args.reps, methods, args.learner, args.test, args.recorded_source)
        print(f"{scenario.name}: {time.perf_counter() - started:.0f} s", flush=True)
    runs = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "transfer.csv", index=False)
    for error in ("mape", "mdape"):
        summary = summarise(runs, error)
        summary.to_csv(args.out / f"transfer-summary-{error}.csv", index=False)
        with pd.option_context("display.width", 200, "display.max_rows", 500, "display.float_format", "{:.2f}".format):
            print(f"mean {error.upper()} (%)")
            print(summary.to_string(index=False))
            noise = against_target_only(runs, error)
            noise.to_csv(args.out / f"transfer-noise-{error}.csv", index=False)
            print(f"auto against target-only, {error.upper()} (mean paired difference, 95% margin):")
            print(noise[noise["method"] == "auto"].to_string(index=False))
    choices = runs[runs["method"] == "auto"].groupby(["scenario", "auto_choice"]).size()
    print("auto's choices:", choices.to_dict())
    print(f"total {time.perf_counter() - clock:.0f} s")


if __name__ == "__main__":
    main()
