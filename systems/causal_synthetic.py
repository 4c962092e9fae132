"""A synthetic system with a known causal structure: options -> events -> latency and energy.

The workload names a seed (``s0``, ``s1``, ... or any integer) that draws the structure:
each event depends on one or two options; ``n_causes`` events drive latency and one more
drives energy; the remaining events are caused by options but drive nothing (distractors that
a correlation-based debugger may blame). ``truth(workload)`` gives the ground truth: the
options with a causal path to each objective.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from systems.base import System
from tradeoff.errors import TradeoffError


@dataclass(frozen=True)
class Structure:
    event_parents: dict[str, dict[str, float]]  # event -> {option: weight}
    latency: dict[str, float]  # event -> weight
    energy: dict[str, float]

    def root_causes(self, objective: str) -> set[str]:
        events = self.latency if objective == "latency" else self.energy
        return {o for e in events for o in self.event_parents[e]}


def structure(seed: int, n_options: int, n_events: int, n_causes: int) -> Structure:
    rng = random.Random(seed)
    options = [f"o{i}" for i in range(1, n_options + 1)]
    rng.shuffle(options)
    parents = {}
    for j in range(1, n_events + 1):
        chosen = [options.pop()] + ([options.pop()] if len(options) > n_events - j and rng.random() < 0.4 else [])
        parents[f"e{j}"] = {o: rng.choice([-1, 1]) * rng.uniform(1.0, 2.0) for o in chosen}
    events = list(parents)
    rng.shuffle(events)
    latency = {e: rng.uniform(2.0, 4.0) for e in events[:n_causes]}
    energy = {events[n_causes]: rng.uniform(1.0, 2.0), events[0]: 0.5}
    return Structure(parents, latency, energy)


@dataclass
class CausalSynthetic(System):
    noise: float = 0.5
    rng: random.Random | None = None  # set for a reproducible noise sequence (tests); else fresh noise per run
    n_events: int = 5
    n_causes: int = 2

    @classmethod
    def spec_arguments(cls, spec: dict, environment: str) -> dict:
        """Options o1..o``n_options`` (integers 0..3); the events e1..e``n_events`` are metrics too."""
        options = [{"name": f"o{i}", "type": "int", "range": [0, 3], "default": 0} for i in range(1, spec["n_options"] + 1)]
        events = [{"name": f"e{j}", "unit": "count", "goal": "min"} for j in range(1, spec["n_events"] + 1)]
        arguments = super().spec_arguments({**spec, "options": options, "metrics": spec["metrics"] + events}, environment)
        return {**arguments, "noise": spec["noise"], "n_events": spec["n_events"], "n_causes": spec["n_causes"]}

    @property
    def event_metrics(self) -> list[str]:
        """The metrics that are intermediate events, not objectives (causal debugging reads this)."""
        return [m.name for m in self.metrics if m.name not in ("latency", "energy")]

    def seed_of(self, workload: str) -> int:
        text = workload[1:] if workload.startswith("s") else workload
        try:
            return int(text)
        except ValueError:
            raise TradeoffError(f"workload {workload!r} is not a seed; use s0, s1, ... or an integer") from None

    def check_workload(self, workload: str) -> str:
        self.seed_of(workload)
        return workload

    def truth(self, workload: str) -> Structure:
        return structure(self.seed_of(workload), len(self.space), self.n_events, self.n_causes)

    def run(self, config: dict, workload: str, timeout: float, cpus: list[int]) -> dict[str, float]:
        truth = self.truth(workload)
        rng = self.rng or random.Random()
        metrics = {}
        for event, weights in truth.event_parents.items():
            # 3 + ... keeps events positive; a real event varies for reasons beyond the options too
            metrics[event] = 3 * len(weights) + sum(w * config[o] for o, w in weights.items()) + rng.gauss(0, 1.5 * self.noise)
        # objectives carry measurement noise too: without it they are exact sums of events
        metrics["latency"] = 1 + sum(w * metrics[e] for e, w in truth.latency.items()) + rng.gauss(0, 2 * self.noise)
        metrics["energy"] = 1 + sum(w * metrics[e] for e, w in truth.energy.items()) + rng.gauss(0, 2 * self.noise)
        return metrics

