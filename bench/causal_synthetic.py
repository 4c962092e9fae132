"""Causal debugging on semi-synthetic Jetson faults whose exact root causes are known, the whole loop.

Unicorn's data cannot referee a debugger: its offline numbers are replays and its truth is one fix
configuration per case. This generator keeps the shape of that data and knows the answer:

* the 26 options of Unicorn's TX2 configuration with their level sets (``etc/config.yml`` of
  softsys4ai/unicorn: 12 core and GPU frequencies, 8 memory frequencies, 4 core counts, the kernel
  and vm knobs with 2-4 values), 22 events named after its perf counters and two objectives,
  ``inference_time`` and ``total_energy_consumption``;
* per seed a sparse random DAG: 7-10 options act, the others are inert; each event has one to three
  parents among the acting options and earlier events; each objective is the product of powers of
  three events (so its log is additive, as for real times), energy sharing one event with time.
  Mean degree 2-3 (printed). Each event's mechanism is one of four families: additive,
  multiplicative, a threshold (a level that trips a 2-6x penalty) or an interaction (two parents
  that matter together). Events and objectives carry 8% and 5% log-normal measurement noise;
* faults: configurations in the top 2% of one objective in a random sample of 2000 measured ones;
  the goal is Unicorn's query, the objective at most 20% of the fault's measured value;
* exact root causes: the minimal option sets whose change (to any levels) makes the noise-free
  objective meet the goal, found by enumeration over the acting options (sizes 1 to 3; a fault
  that needs more is dropped and counted). A recommendation is scored against the minimal set it
  matches best: precision, recall and accuracy (Jaccard: |hit| / |changed or true|) of the options
  the method changed; hit@1: the method's top-ranked option is in some minimal set. Each fix is
  also audited noise-free: does it meet the goal without the noise of its lucky measurement, and
  is it irreducible (no changed option's revert alone keeps the goal)?

Protocol, every method on the same fault: 25 random measured configurations to learn from (the
faulty one and its metrics given, as a user reports it), then at most 40 more measurements.
"Measurements to fix" counts the 25 and ends with the first measurement that meets the goal;
"spent" adds the causal loop's simplification (reverting changed options that the fix does not
need, one measurement each, inside the same budget). Methods: ``causal`` (``tradeoff.causal.loop.debug``),
``tree`` (``decision_tree_fix`` refitted on the grown data each round, applied to the fault),
``random`` (40 uniform configurations), ``flash`` (``tradeoff.samplers.flash`` through the offline
loop of ``tradeoff.samplers._optimise``, its own 27-row initial design inside the same 65
measurements) and ``copy-best`` (measure the best of the 25 initial configurations). CPU time is
the process time of each method's loop, the simulator's included.

    flock /tmp/tradeoff-bench.lock python -m bench.causal_synthetic [--seeds 1000-1009] [--faults 2] [--methods causal,tree,...]

Seeds 0-99 are for tuning; the reported figures use seeds from 1000 on, never used while tuning.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradeoff.causal.baseline import decision_tree_fix
from tradeoff.causal.goals import Goal
from tradeoff.causal.graph import Variables
from tradeoff.causal.loop import DebugConfig, debug
from tradeoff.samplers._optimise import offline
from tradeoff.samplers.flash import Flash
from tradeoff.space import Option, Space, config_id

# Unicorn's TX2 option values (softsys4ai/unicorn, etc/config.yml), in its data's column order
LEVELS: dict[str, list] = {
    "core_freq": [345600, 499200, 652800, 806400, 960000, 1113600, 1267200, 1420800, 1574400, 1728000, 1881600, 2035200],
    "gpu_freq": [140250000, 229500000, 318750000, 408000000, 497250000, 675750000, 765000000, 854250000, 1032750000,
                 1122000000, 1211250000, 1300500000],
    "emc_freq": [40800000, 68000000, 102000000, 204000000, 665600000, 1062400000, 1331200000, 1866000000],
    "num_cores": [1, 2, 3, 4], "memory_growth": [0.5, 0.9], "logical_devices": [0, 1], "scheduler.policy": [0, 1],
    "vm.swappiness": [10, 60, 100], "vm.vfs_cache_pressure": [0, 100, 500], "vm.dirty_background_ratio": [10, 80],
    "vm.drop_caches": [0, 1, 2, 3], "vm.nr_hugepages": [1, 2], "vm.overcommit_ratio": [50, 80], "vm.overcommit_memory": [0, 2],
    "vm.overcommit_hugepages": [0, 1, 2], "kernel.sched_child_runs_first": [0, 1], "kernel.sched_rt_runtime_us": [500000, 950000],
    "vm.dirty_bytes": [30, 60], "vm.dirty_background_bytes": [30, 60], "vm.dirty_ratio": [10, 50], "swap_memory": [1, 4],
    "kernel.max_pids": [32768, 65536], "kernel.sched_latency_ns": [24000000, 96000000], "kernel.sched_nr_migrate": [32, 64, 128],
    "kernel.cpu_time_max_percent": [10, 100], "kernel.sched_time_avg_ms": [1000, 2000],
}
OPTIONS = list(LEVELS)
EVENTS = ["migrations", "context-switches", "cache-misses", "branch-misses", "branch-load-misses", "major-faults",
          "minor-faults", "sched_sched_wakeup_new", "sched_sched_wakeup", "sched_sched_switch", "sched_sched_stat_runtime",
          "sched_sched_process_wait", "sched_sched_overutilized", "cycles", "sched_sched_load_avg_cpu", "raw_syscalls_sys_enter",
          "raw_syscalls_sys_exit", "instructions", "L1-dcache-load-misses", "L1-dcache-loads", "L1-dcache-stores", "branch-loads"]
OBJECTIVES = ("inference_time", "total_energy_consumption")
FAMILIES = ("additive", "multiplicative", "threshold", "interaction")
INITIAL, BUDGET, GOAL_SHARE, MAX_ROOT_CAUSES = 25, 40, 0.2, 3
EVENT_NOISE, OBJECTIVE_NOISE = 0.08, 0.05
METHODS = ("causal", "tree", "random", "flash", "copy-best")


@dataclass
class Mechanism:
    family: str
    parents: list[str]
    weights: np.ndarray
    flips: np.ndarray  # per parent: an option acts through 1 - level rank (low frequency is the slow one)
    threshold: float = 0.0
    jump: float = 0.0


class Generator:
    """One seed's structure; ``evaluate`` maps level ranks (rows x 26) to every event and objective."""

    def __init__(self, seed: int):
        rng = np.random.default_rng(seed)
        self.seed = seed
        hardware, kernel = OPTIONS[:6], OPTIONS[6:]
        acting = list(rng.choice(hardware, rng.integers(3, 6), replace=False)) + list(rng.choice(kernel, rng.integers(3, 6), replace=False))
        self.mechanisms: dict[str, Mechanism] = {}
        for j, event in enumerate(EVENTS):
            earlier = EVENTS[:j]
            parents = [str(rng.choice(acting))]
            for _ in range(rng.choice([0, 1, 2], p=[0.15, 0.45, 0.4])):
                pool = [o for o in acting if o not in parents] if (not earlier or rng.random() < 0.6) else [e for e in earlier if e not in parents]
                if pool:
                    parents.append(str(rng.choice(pool)))
            family = str(rng.choice(FAMILIES if len(parents) > 1 else FAMILIES[:3]))
            flips = np.array([p in OPTIONS and rng.random() < 0.5 for p in parents])
            self.mechanisms[event] = Mechanism(family, parents, rng.uniform(0.5, 2.0, len(parents)), flips,
                                               threshold=rng.uniform(0.55, 0.85), jump=rng.uniform(2.0, 6.0))
        # objectives: products of powers of three events each; energy shares one with time
        drivers = [e for e in EVENTS if self.mechanisms[e].parents]
        time_events = list(rng.choice(drivers, 3, replace=False))
        energy_events = [time_events[0], *rng.choice([e for e in drivers if e not in time_events], 2, replace=False)]
        self.objectives = {"inference_time": dict(zip(time_events, rng.uniform(0.6, 1.2, 3))),
                           "total_energy_consumption": dict(zip(energy_events, rng.uniform(0.6, 1.2, 3)))}
        self.scale = {name: 10 ** rng.uniform(3, 8) for name in EVENTS} | {"inference_time": 50.0, "total_energy_consumption": 8000.0}
        self.medians: dict[str, float] = {}
        calibration = rng.integers(0, [len(LEVELS[o]) for o in OPTIONS], size=(2000, len(OPTIONS)))
        self.evaluate(calibration, calibrate=True)

    def ancestors(self, objective: str) -> set[str]:
        found, todo = set(), list(self.objectives[objective])
        while todo:
            node = todo.pop()
            for parent in self.mechanisms[node].parents if node in self.mechanisms else []:
                if parent not in found:
                    found.add(parent)
                    todo.append(parent)
        return {n for n in found if n in LEVELS}

    def edges(self) -> int:
        return sum(len(m.parents) for m in self.mechanisms.values()) + sum(len(e) for e in self.objectives.values())

    def evaluate(self, levels: np.ndarray, rng: np.random.Generator | None = None, calibrate: bool = False) -> dict[str, np.ndarray]:
        """Every event and objective for rows of level indices; noise-free without ``rng``."""
        ranks = {o: levels[:, i] / (len(LEVELS[o]) - 1) for i, o in enumerate(OPTIONS)}
        relative: dict[str, np.ndarray] = {}
        values: dict[str, np.ndarray] = {}
        for event, m in self.mechanisms.items():
            x = np.stack([1 - ranks[p] if flip else ranks[p] if p in ranks else relative[p] for p, flip in zip(m.parents, m.flips)])
            w = m.weights[:, None]
            if m.family == "additive":
                v = 1 + (w * x).sum(axis=0)
            elif m.family == "multiplicative":
                v = np.prod(1 + w * x, axis=0)
            elif m.family == "threshold":
                trip = x[0] > (m.threshold if m.parents[0] in ranks else 1 + m.threshold)
                v = 1 + (w[1:] * x[1:]).sum(axis=0) + m.jump * trip
            else:
                v = 1 + (w * x).sum(axis=0) + m.jump * x[0] * x[1]
            if rng is not None:
                v = v * rng.lognormal(0, EVENT_NOISE, v.shape)
            if calibrate:
                self.medians[event] = float(np.median(v))
            relative[event] = v / self.medians[event]
            values[event] = self.scale[event] * relative[event]
        for objective, powers in self.objectives.items():
            v = self.scale[objective] * np.prod([relative[e] ** a for e, a in powers.items()], axis=0)
            values[objective] = v * rng.lognormal(0, OBJECTIVE_NOISE, v.shape) if rng is not None else v
        return values

    def measure(self, configs: list[dict], rng: np.random.Generator) -> list[dict]:
        values = self.evaluate(self.indices(configs), rng)
        return [{k: float(v[i]) for k, v in values.items()} for i in range(len(configs))]

    @staticmethod
    def indices(configs: list[dict]) -> np.ndarray:
        return np.array([[LEVELS[o].index(c[o]) for o in OPTIONS] for c in configs])

    def root_causes(self, fault: dict, goals: list[Goal]) -> list[frozenset]:
        """Every minimal option set (of at most MAX_ROOT_CAUSES) whose change meets the goals noise-free."""
        base = self.indices([fault])[0]
        acting = sorted(set().union(*(self.ancestors(g.metric) for g in goals)))
        for size in range(1, MAX_ROOT_CAUSES + 1):
            minimal = []
            for subset in itertools.combinations(acting, size):
                columns = [OPTIONS.index(o) for o in subset]
                choices = [[k for k in range(len(LEVELS[o])) if k != base[c]] for o, c in zip(subset, columns)]
                combos = np.array(list(itertools.product(*choices)))
                rows = np.repeat(base[None, :], len(combos), axis=0)
                rows[:, columns] = combos
                values = self.evaluate(rows)
                ok = np.ones(len(rows), dtype=bool)
                for goal in goals:
                    ok &= goal.holds(values[goal.metric])
                if ok.any():
                    minimal.append(frozenset(subset))
            if minimal:
                return minimal
        return []


def random_configs(n: int, rng: np.random.Generator) -> list[dict]:
    return [{o: LEVELS[o][rng.integers(len(LEVELS[o]))] for o in OPTIONS} for _ in range(n)]


@dataclass
class Fault:
    seed: int
    number: int
    config: dict
    metrics: dict
    goals: list[Goal]
    truth: list[frozenset]


def faults(generator: Generator, per_objective: int, rng: np.random.Generator) -> tuple[list[Fault], int]:
    """Faults from the top 2% of each objective in 2000 random measured configurations, with their
    exact root causes; and how many candidates were dropped for needing more than MAX_ROOT_CAUSES options."""
    sample = random_configs(2000, rng)
    measured = generator.measure(sample, rng)
    chosen, dropped = [], 0
    for objective in OBJECTIVES:
        values = np.array([m[objective] for m in measured])
        top = np.argsort(-values)[: len(values) // 50]
        taken = 0
        for index in rng.permutation(top):
            goals = [Goal(objective, "<=", GOAL_SHARE * values[index])]
            truth = generator.root_causes(sample[index], goals)
            if not truth:
                dropped += 1
                continue
            chosen.append(Fault(generator.seed, len(chosen), sample[index], measured[index], goals, truth))
            taken += 1
            if taken == per_objective:
                break
    return chosen, dropped


def score(changed: set, truth: list[frozenset]) -> dict:
    """Precision, recall and accuracy against the minimal root-cause set the change matches best."""
    if not changed:
        return {"precision": np.nan, "recall": 0.0, "accuracy": 0.0}
    best = max(truth, key=lambda t: (len(changed & t) / len(changed | t), -len(t)))
    hit = len(changed & best)
    return {"precision": hit / len(changed), "recall": hit / len(best), "accuracy": hit / len(changed | best)}


def run_fault(generator: Generator, fault: Fault, methods: list[str], rng_seed: int, confirm: float = DebugConfig.confirm) -> list[dict]:
    rng = np.random.default_rng(rng_seed)
    initial = random_configs(INITIAL, rng)
    initial_metrics = generator.measure(initial, rng)
    data = pd.DataFrame([{**c, **m} for c, m in zip(initial, initial_metrics)])
    goal = fault.goals[0]
    union = frozenset().union(*fault.truth)
    rows = []
    for method in methods:
        noise = np.random.default_rng(rng_seed + 1)  # every method meets the same noise draws
        measure = lambda configs: generator.measure(configs, noise)  # noqa: E731
        clock = time.process_time()
        fixed_at, best, top, spent = None, None, None, None
        if method == "causal":
            variables = Variables(tuple(OPTIONS), tuple(EVENTS), OBJECTIVES)
            result = debug(data, variables, fault.config, fault.goals, measure, DebugConfig(budget=BUDGET, confirm=confirm),
                           faulty_metrics=fault.metrics)
            best = result.best
            fixed_at = INITIAL + result.fixed_after if result.fixed else None
            spent = INITIAL + result.measurements
            causes = result.diagnosis.root_causes
            top = causes[0][0] if causes else (result.steps[0].fix.changes and next(iter(result.steps[0].fix.changes)) if result.steps else None)
            weak = bool(result.steps) and result.steps[0].fix.support != "causal"
            confirmations = sum(s.repeats > 1 for s in result.steps)
        elif method == "tree":
            fixed_at, best, top = tree_loop(data, fault, measure)
        elif method == "random":
            trials = random_configs(BUDGET, np.random.default_rng(rng_seed + 2))
            fixed_at, best = first_hit(trials, measure(trials), goal, INITIAL)
        elif method == "flash":
            space = Space([Option(o, "int", 0, lower=0, upper=len(LEVELS[o]) - 1) for o in OPTIONS])
            as_levels = lambda c: {o: LEVELS[o][int(c[o])] for o in OPTIONS}  # noqa: E731
            trials = offline(Flash(rng_seed), space, lambda c: measure([as_levels(c)])[0][goal.metric], goal.metric,
                             "min", budget=INITIAL + BUDGET)
            configs = [as_levels(c) for c, _ in trials]
            fixed_at, best = first_hit(configs, [{goal.metric: v} for _, v in trials], goal, 0)
        elif method == "copy-best":
            best = initial[int(np.argmin([m[goal.metric] for m in initial_metrics]))]
            fixed_at, best = first_hit([best], measure([best]), goal, INITIAL)
        cpu = time.process_time() - clock
        changed = {o for o in OPTIONS if best is not None and best[o] != fault.config[o]} if fixed_at else set()
        after = measure([best])[0][goal.metric] if best is not None else fault.metrics[goal.metric]
        rows.append({"seed": fault.seed, "fault": fault.number, "objective": goal.metric, "method": method,
                     "fixed": fixed_at is not None, "measurements": fixed_at, "spent": spent or fixed_at, "changed": len(changed),
                     "gain": 100 * (1 - after / fault.metrics[goal.metric]) if fixed_at else 0.0,
                     "hit@1": (top in union) if top is not None else np.nan, "n_truth": min(map(len, fault.truth)),
                     "truth_sets": len(fault.truth), "cpu_s": cpu, "weak": weak if method == "causal" else np.nan,
                     "confirmations": confirmations if method == "causal" else np.nan,
                     **score(changed, fault.truth), **audit(generator, fault, best if fixed_at else None)})
    return rows


def audit(generator: Generator, fault: Fault, fix: dict | None) -> dict:
    """Whether a fix meets its goals noise-free, and whether it is irreducible there (no changed
    option's revert alone keeps the goals): a fix can miss a minimum root-cause set because it met
    the goal on a lucky draw, or because it is another, larger set that needs every option it changes."""
    if fix is None:
        return {"holds_noise_free": np.nan, "irreducible": np.nan}
    changed = [o for o in OPTIONS if fix[o] != fault.config[o]]
    configs = [fix] + [{**fix, o: fault.config[o]} for o in changed]
    values = generator.evaluate(generator.indices(configs))
    ok = np.ones(len(configs), dtype=bool)
    for goal in fault.goals:
        ok &= goal.holds(values[goal.metric])
    return {"holds_noise_free": bool(ok[0]), "irreducible": bool(ok[0] and not ok[1:].any())}


def first_hit(configs: list[dict], metrics: list[dict], goal: Goal, before: int) -> tuple[int | None, dict | None]:
    for number, (config, m) in enumerate(zip(configs, metrics), 1):
        if m.get(goal.metric) is not None and goal.holds(m[goal.metric]):
            return before + number, config
    return None, None


def tree_loop(data: pd.DataFrame, fault: Fault, measure) -> tuple[int | None, dict | None, str | None]:
    """The decision tree's fix of the fault, refitted on the grown data until it holds, repeats itself or the budget ends."""
    goal = fault.goals[0]
    variables = Variables(tuple(OPTIONS), (), (goal.metric,))
    data = pd.concat([data, pd.DataFrame([{**fault.config, **fault.metrics}])], ignore_index=True)
    tried, top = {config_id(fault.config)}, None
    for number in range(1, BUDGET + 1):
        changes, _ = decision_tree_fix(data, variables, fault.config, goal, seed=number)
        config = {**fault.config, **changes}
        if top is None and changes:
            top = next(iter(changes))
        if not changes or config_id(config) in tried:
            return None, None, top
        tried.add(config_id(config))
        metrics = measure([config])[0]
        if goal.holds(metrics[goal.metric]):
            return INITIAL + number, config, top
        data = pd.concat([data, pd.DataFrame([{**config, **metrics}])], ignore_index=True)
    return None, None, top


def summary(table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for method, group in table.groupby("method", sort=False):
        fixed = group[group["fixed"]]
        rows.append({"method": method, "faults": len(group), "fixed %": 100 * group["fixed"].mean(),
                     "median to fix": fixed["measurements"].median(), "mean to fix": fixed["measurements"].mean(),
                     "mean spent": fixed["spent"].mean(),
                     "gain % (fixed)": fixed["gain"].mean(), "accuracy": fixed["accuracy"].mean(),
                     "precision": fixed["precision"].mean(), "recall": fixed["recall"].mean(),
                     "hit@1": group["hit@1"].mean(), "changed": fixed["changed"].mean(),
                     "holds noise-free": fixed["holds_noise_free"].astype(float).mean(),
                     "irreducible": fixed["irreducible"].astype(float).mean(), "confirmations": group["confirmations"].mean(),
                     "cpu s": group["cpu_s"].mean()})
    return pd.DataFrame(rows)


def seeds_of(text: str) -> list[int]:
    low, _, high = text.partition("-")
    return list(range(int(low), int(high or low) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1000-1009", help="structures, e.g. 1000-1009 (0-99: tuning)")
    parser.add_argument("--faults", type=int, default=1, help="faults per objective and seed")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", default=None, help="CSV of per-fault rows")
    parser.add_argument("--confirm", type=float, default=DebugConfig.confirm,
                        help="the causal loop's confirmation margin (DebugConfig.confirm; 0: never measure a narrow fix again)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    clock = time.perf_counter()
    rows, dropped, degrees = [], 0, []
    for seed in seeds_of(args.seeds):
        generator = Generator(seed)
        degrees.append(2 * generator.edges() / (len(OPTIONS) + len(EVENTS) + len(OBJECTIVES)))
        found, lost = faults(generator, args.faults, np.random.default_rng(seed + 10_000))
        dropped += lost
        for fault in found:
            fault_rows = run_fault(generator, fault, args.methods.split(","), seed * 100 + fault.number, args.confirm)
            rows += fault_rows
            print(f"seed {seed} fault {fault.number} ({fault.goals[0]}; truth {[sorted(t) for t in fault.truth]}): "
                  + "; ".join(f"{r['method']} {'fixed at ' + str(r['measurements']) if r['fixed'] else 'not fixed'}" for r in fault_rows),
                  flush=True)
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    pd.set_option("display.width", 250, "display.precision", 2, "display.max_columns", 20)
    print(summary(table).to_string(index=False))
    print(f"{table['seed'].nunique()} structures (mean degree {np.mean(degrees):.2f}), {len(table) // len(args.methods.split(','))} faults "
          f"({dropped} candidates dropped: no fix of <= {MAX_ROOT_CAUSES} options); wall {time.perf_counter() - clock:.0f} s")


if __name__ == "__main__":
    main()
