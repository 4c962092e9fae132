"""Synthetic systems: performance is a given sum of option terms, optionally noisy and costly."""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass

from systems.base import System, load_spec
from tradeoff.errors import TradeoffError

OPTION = re.compile(r"^o\d+$")


def parse_terms(model: str) -> list[tuple[float, tuple[str, ...]]]:
    """'1.2 + 3*o1 - 0.5*o2*o3' -> [(1.2, ()), (3.0, ('o1',)), (-0.5, ('o2', 'o3'))]."""
    terms = []
    for chunk in re.split(r"(?<![eE])(?=[+-])", model.replace(" ", "")):
        if chunk in ("", "+", "-"):
            continue
        sign = -1.0 if chunk[0] == "-" else 1.0
        coefficient, options = sign, []
        for factor in chunk.lstrip("+-").split("*"):
            if OPTION.match(factor):
                options.append(factor)
                continue
            try:
                coefficient *= float(factor)
            except ValueError:
                raise TradeoffError(f"cannot read term {chunk!r} of model {model!r}; write terms like '3*o1*o2'") from None
        terms.append((coefficient, tuple(options)))
    if not terms:
        raise TradeoffError(f"model {model!r} has no terms; write e.g. '1.2 + 3*o1 + 0.8*o3*o7'")
    return terms


@dataclass
class Synthetic(System):
    noise: float = 0.0
    cost: float = 0.0

    @classmethod
    def spec_arguments(cls, spec: dict, environment: str) -> dict:
        """Options o1..o``n_options`` (binary); a ``model`` given in the spec becomes the default workload."""
        options = [{"name": f"o{i}", "type": "bool", "default": False} for i in range(1, spec["n_options"] + 1)]
        spec = {**spec, "options": options}
        if spec.get("model"):
            spec.update(workloads={"model": spec["model"], **spec["workloads"]}, default_workload="model")
        return {**super().spec_arguments(spec, environment), "noise": spec["noise"], "cost": spec["cost"]}

    @classmethod
    def variant(cls, n_options: int | None = None, noise: float | None = None, cost: float | None = None,
                model: str | None = None, environment: str | None = None) -> Synthetic:
        """The catalogue's synthetic system with some of its spec's parameters changed (tests, benchmarks)."""
        changes = {k: v for k, v in dict(n_options=n_options, noise=noise, cost=cost, model=model).items() if v is not None}
        return cls.from_spec({**load_spec("synthetic"), **changes}, environment)

    def check_workload(self, workload: str) -> str:
        model = self.workloads.get(workload, workload)
        unknown = {o for _, options in parse_terms(model) for o in options} - set(self.space.names)
        if unknown:
            raise TradeoffError(f"model {model!r} uses {sorted(unknown)[0]} but the space has options o1..o{len(self.space)}")
        return workload

    def run(self, config: dict, workload: str, timeout: float, cpus: list[int]) -> dict[str, float]:
        value = sum(c * math.prod(config[o] for o in options) for c, options in parse_terms(self.workloads.get(workload, workload)))
        if self.noise:
            value *= 1 + random.gauss(0.0, self.noise)
        if self.cost:
            time.sleep(self.cost)
        return {"perf": value}

