"""Causal debugging on the Unicorn Jetson faults (softsys4ai/unicorn data), beside a decision tree.

For each hardware (TX2, Xavier), workload (Image = Xception, NLP = BERT) and fault kind
(single objective: inference time or energy; multi: both at once):

* the data to learn from is ``initial/<mode>/<hw>/<sw>/<hw>_<sw>_initial.csv``: 25 measured
  configurations with 26 options, 22 perf events and both objectives (Unicorn's starting sample);
* each labelled fault is a row of ``bug/<mode>/...``; its known fix is the configuration in
  ``ground_truth/<mode>/...`` (one per case, not per fault; the Xavier Image energy file holds an
  unresolved git merge conflict, of which the first side is read). The ground-truth root causes
  of a fault are the options on which the fault differs from that fix. Xavier NLP time+energy
  has no ground-truth file (the file in its folder is a copy of the faults): it is scored for
  coverage only, never for precision or recall;
* the goal of a fault: each objective no worse than both the known fix and the median of the
  initial sample (a fault is fixed when it performs like a typical configuration);
* ``causal``: ``tradeoff.causal`` (FCI graph, path ACE, counterfactual fixes), the best fix;
  ``tree``: ``tradeoff.causal.baseline.decision_tree_fix`` (CART, move into the best leaf). For several
  objectives the tree learns the sum of each objective divided by its median.

Per fault: precision, recall, accuracy (Jaccard: |hit| / |changed or true|) and hit@1 (the
method's first-ranked changed option is a true root cause: the causal fix's top-path option, the
tree's split nearest its root) of the changed options against the ground-truth root causes, how
many changed values equal the known fix's, and the gain each method predicts with its own model
(beside the known fix's measured gain); a causal fix that rests on a fallback (no directed path
at FCI's level) is counted as weakly supported. No Jetson is here, so no fix is measured. (The
larger ``sampled/*_baseline.csv`` tables cannot serve as a referee: their objectives correlate
with no option, |Spearman rho| <= 0.12, against 0.9 for emc_freq in the initial sample.)

With ``--with-faults`` both methods also learn from the file's fault rows (measured
configurations whose counters are missing), as the debug loop would after measuring them.

    flock /tmp/tradeoff-bench.lock python -m bench.unicorn [--limit N] [--alpha A] [--with-faults] [--out FILE.csv]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from systems.replay import datasets_dir
from tradeoff.causal.baseline import decision_tree_fix
from tradeoff.causal.fixes import counterfactual_fixes
from tradeoff.causal.goals import Goal
from tradeoff.causal.graph import Variables
from tradeoff.causal.loop import DebugConfig, explain, label_support

OBJECTIVES = ("inference_time", "total_energy_consumption")
N_OPTIONS = 26


def read_csv_with_conflicts(path: Path) -> pd.DataFrame:
    """A CSV that may hold git conflict markers: the first side of each conflict is kept."""
    lines, skipping = [], False
    for line in path.read_text().splitlines():
        if line.startswith("<<<<<<<"):
            continue
        if line.startswith("======="):
            skipping = True
            continue
        if line.startswith(">>>>>>>"):
            skipping = False
            continue
        if not skipping:
            lines.append(line)
    from io import StringIO
    return pd.read_csv(StringIO("\n".join(lines)))


def cases(root: Path):
    for hw in ("TX2", "Xavier"):
        for sw in ("Image", "NLP"):
            for objective in OBJECTIVES:
                yield hw, sw, "single", (objective,), root / "bug/single" / hw / sw / f"{hw}_{sw}_{objective}.csv"
            yield hw, sw, "multi", OBJECTIVES, root / "bug/multi" / hw / sw / f"{hw}_{sw}_multi.csv"


def ground_truth(root: Path, hw: str, sw: str, mode: str, objectives: tuple[str, ...]) -> pd.Series | None:
    """The case's known fix, None where the case has no ground-truth file (Xavier NLP multi)."""
    folder = root / "ground_truth" / mode / hw / sw
    name = f"{hw}_{sw}_ground_truth_{objectives[0]}.csv" if mode == "single" else f"{hw}_{sw}_ground_truth_multi.csv"
    return read_csv_with_conflicts(folder / name).iloc[0] if (folder / name).exists() else None


def scores(recommended: list, truth: set | None) -> dict:
    """Precision, recall, accuracy (Jaccard) and hit@1 of the changed options; NaN without a truth."""
    if truth is None:
        return {"precision": np.nan, "recall": np.nan, "accuracy": np.nan, "hit@1": np.nan}
    changed = set(recommended)
    hit = len(changed & truth)
    # no recommendation has no precision (it is counted in no_fix), recall and accuracy 0
    return {"precision": hit / len(changed) if changed else np.nan, "recall": hit / len(truth) if truth else 1.0,
            "accuracy": hit / len(changed | truth) if changed | truth else 1.0,
            "hit@1": float(recommended[0] in truth) if recommended else 0.0}


def run(limit: int | None, out: Path | None, alpha: float = 0.05, with_faults: bool = False) -> pd.DataFrame:
    root = datasets_dir() / "unicorn" / "data"
    rows = []
    for hw, sw, mode, objectives, bug_path in cases(root):
        data = pd.read_csv(root / "initial" / mode / hw / sw / f"{hw}_{sw}_initial.csv")
        options = list(data.columns[:N_OPTIONS])
        events = [c for c in data.columns[N_OPTIONS:] if c not in OBJECTIVES]
        variables = Variables(tuple(options), tuple(events), objectives)
        bugs = read_csv_with_conflicts(bug_path)
        if with_faults:
            # the faults are measured configurations too (objectives, no counters): learn from them as well
            data = pd.concat([data, bugs[options + list(OBJECTIVES)]], ignore_index=True)
        if limit:
            bugs = bugs.head(limit)
        truth_fix = ground_truth(root, hw, sw, mode, objectives)
        initial = data.head(25)
        goals = [Goal(o, "<=", max(float(truth_fix[o]) if truth_fix is not None else -np.inf, float(initial[o].median())))
                 for o in objectives]
        clock = time.perf_counter()
        explanation = explain(data, variables, objectives, DebugConfig(alpha=alpha))
        fit_s = time.perf_counter() - clock
        tree_data = data.assign(scalarized=sum(data[o] / initial[o].median() for o in objectives))
        tree_goal = Goal("scalarized" if mode == "multi" else objectives[0], "<=", 0.0)
        tree_variables = Variables(tuple(options), (), (tree_goal.metric,))
        for index, bug in bugs.iterrows():
            truth = None if truth_fix is None else {o for o in options if not np.isclose(float(bug[o]), float(truth_fix[o]))}
            clock = time.perf_counter()
            fixes = counterfactual_fixes(explanation.model, bug[options], goals, explanation.top_paths, data)
            label_support(fixes, explanation.top_paths)
            fix_s = time.perf_counter() - clock
            best = fixes[0] if fixes else None
            tree_changes, tree_value = decision_tree_fix(tree_data, tree_variables, bug[options], tree_goal)
            ranked = [p.nodes[0] for p in explanation.top_paths]  # the causal fix's options in path order
            causal_order = sorted(best.changes, key=lambda o: ranked.index(o) if o in ranked else len(ranked)) if best else []
            for method, changes, order, predicted in (
                ("causal", best.changes if best else {}, causal_order, best.predicted if best else {}),
                ("tree", tree_changes, list(tree_changes)[::-1], {objectives[0]: tree_value} if mode == "single" else {}),
            ):
                row = {"hardware": hw, "software": sw, "mode": mode, "objectives": "+".join(objectives), "bug": index,
                       "method": method, "changes": ";".join(f"{k}={v:g}" for k, v in changes.items()),
                       "n_changes": len(changes), "n_truth": len(truth) if truth is not None else np.nan, **scores(order, truth),
                       "value_match": np.mean([np.isclose(float(v), float(truth_fix[k])) for k, v in changes.items()])
                       if changes and truth_fix is not None else np.nan,
                       "weak": (best.support != "causal") if method == "causal" and best else np.nan,
                       "potential": best.potential if method == "causal" and best else np.nan,
                       "fit_s": fit_s if method == "causal" else np.nan, "fix_s": fix_s if method == "causal" else np.nan}
                for objective in objectives:
                    before = float(bug[objective])
                    if truth_fix is not None:
                        row[f"truth_gain_{objective}"] = 100 * (before - float(truth_fix[objective])) / before
                    if objective in predicted:
                        row[f"predicted_gain_{objective}"] = 100 * (before - predicted[objective]) / before
                rows.append(row)
        print(f"{hw} {sw} {mode} {'+'.join(objectives)}: {len(bugs)} faults, graph {len(explanation.graph.directed)} edges, "
              f"root causes {[o for o, _ in explanation.root_causes[:4]]}", flush=True)
    table = pd.DataFrame(rows)
    if out:
        table.to_csv(out, index=False)
    return table


def markdown(table: pd.DataFrame) -> str:
    """Per case and overall, as the Markdown table of bench/RESULTS.md."""
    def mean(frame: pd.DataFrame, prefix: str) -> float:
        values = frame[[c for c in frame.columns if c.startswith(prefix)]].to_numpy(float)
        return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")

    def figures(frame: pd.DataFrame) -> str:
        return (f"{frame.precision.mean():.2f} / {frame.recall.mean():.2f} / {frame.accuracy.mean():.2f} / "
                f"{frame['hit@1'].mean():.2f} / {frame.n_changes.mean():.1f} / {(frame.n_changes > 0).mean():.0%}")

    lines = ["| case | objectives | faults | causal: precision / recall / accuracy / hit@1 / changes / coverage | weakly supported "
             "| causal predicted gain | tree: precision / recall / accuracy / hit@1 / changes / coverage | tree predicted gain "
             "| known fix's gain |", "|---|---|---|---|---|---|---|---|---|"]
    for (hw, sw, objectives), group in table.groupby(["hardware", "software", "objectives"], sort=False):
        ours, tree = group[group["method"] == "causal"], group[group["method"] == "tree"]
        short = objectives.replace("inference_time", "time").replace("total_energy_consumption", "energy")
        known = f"{mean(ours, 'truth_gain'):.0f}%" if ours.n_truth.notna().any() else "no ground truth: coverage only"
        lines.append(f"| {hw} {sw} | {short} | {len(ours)} | {figures(ours)} | {ours.weak.astype(float).mean():.0%} | "
                     f"{mean(ours, 'predicted_gain'):.0f}% | {figures(tree)} | {mean(tree, 'predicted_gain'):.0f}% | {known} |")
    for method, group in table.groupby("method"):
        scored = group[group.n_truth.notna()]
        lines.append(f"| **all, {method}** | | {len(group)} | coverage {(group.n_changes > 0).mean():.0%} of {len(group)}; on the "
                     f"{len(scored)} with a ground truth: precision {scored.precision.mean():.2f}, recall {scored.recall.mean():.2f}, "
                     f"accuracy {scored.accuracy.mean():.2f}, hit@1 {scored['hit@1'].mean():.2f}, changes {scored.n_changes.mean():.2f}, "
                     f"values equal to the known fix's {scored.value_match.mean():.2f} | | | | | |")
    # a random pick of options is right this often: the share of options on which fault and fix differ
    lines.append(f"\nPrecision of a random pick of options: {(table['n_truth'] / N_OPTIONS).mean():.2f}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="faults per file (default: all)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level of FCI's independence tests")
    parser.add_argument("--with-faults", action="store_true", help="learn from the fault rows too (their counters are missing)")
    parser.add_argument("--out", type=Path, default=None, help="CSV of per-fault results")
    args = parser.parse_args()
    clock = time.perf_counter()
    table = run(args.limit, args.out, args.alpha, args.with_faults)
    print(markdown(table))
    print(f"wall time {time.perf_counter() - clock:.0f} s")


if __name__ == "__main__":
    main()
