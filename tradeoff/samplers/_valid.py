"""Valid configurations, the samplers' common ground: drawn with some options fixed, snapped to a
recorded population, kept once each, and the levels a design uses for an option.

``Drawer`` draws them. Where every constraint is over boolean options, the constraints become CNF clauses (Tseitin
encoding) and a SAT solver (python-sat's MiniSat) finds valid configurations directly: random
or preferred values are given to the solver as *phases* (the value it tries first), fixed
values as assumptions, and "exactly d options enabled" as a totalizer cardinality constraint.
Rejection would be hopeless where few configurations are valid. Other constraints fall back to
rejection; a space with a population (a replay system) draws from its recorded rows.
"""

from __future__ import annotations

import ast

import numpy as np
from pysat.card import ITotalizer
from pysat.solvers import Solver

from tradeoff.space import Option, Space, _parse_constraint, config_id

REJECTION_TRIES = 200


def levels(option: Option) -> tuple:
    """The values a design uses for an option: every value of a finite one, bounds and default of a number."""
    if option.type in ("bool", "categorical"):
        return option.domain
    values = [option.lower, option.default, option.upper]
    return tuple(dict.fromkeys(int(v) if option.type == "int" else float(v) for v in values))


def lowest(option: Option):
    """The value counted as 'off' by option-wise and distance-based sampling."""
    return option.values[0] if option.type == "categorical" else (False if option.type == "bool" else option.lower)


def highest(option: Option):
    """The value counted as 'on' by negative option-wise and diversified distance-based sampling."""
    return option.values[-1] if option.type == "categorical" else True if option.type == "bool" else option.upper


def unique(configs: list[dict]) -> list[dict]:
    seen, kept = set(), []
    for config in configs:
        key = config_id(config)
        if key not in seen:
            seen.add(key)
            kept.append(config)
    return kept


def valid_or_snapped(space: Space, designs: list[dict]) -> list[dict]:
    """The valid designs, or on a space with a population each snapped to a recorded configuration."""
    if space.population is not None:
        return snap_to_population(space, designs)
    return [space.validate(d) for d in designs if space.is_valid(d)]


def snap_to_population(space: Space, designs: list[dict]) -> list[dict]:
    """Each design replaced by its nearest recorded configuration not chosen yet (encoded L1 distance)."""
    population = space.population
    encoded = space.encode(population)
    taken = np.zeros(len(population), dtype=bool)
    chosen = []
    for row in space.encode(space.to_frame(designs)):
        distance = np.abs(encoded - row).sum(axis=1)
        distance[taken] = np.inf
        index = int(np.argmin(distance))
        if np.isinf(distance[index]):
            break
        taken[index] = True
        chosen.append(population.iloc[index].to_dict())
    return chosen


class Drawer:
    """Valid configurations of a space, drawn with fixed values, preferred values and, for
    distance-based sampling, a given number of options away from their lowest value."""

    def __init__(self, space: Space, seed: int):
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.bools = [o.name for o in space.options if o.type == "bool"]
        self.var = {name: i + 1 for i, name in enumerate(self.bools)}
        self.solver = None
        if space.population is None and space.constraints and all(
                space[n].type == "bool" for c in space.constraints for n in c.options):
            self._build_solver()

    def _build_solver(self) -> None:
        clauses, top = [], len(self.bools)

        def literal(node: ast.expr) -> int:  # a literal equivalent to node, Tseitin-style
            nonlocal top
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                return -literal(node.operand)
            if isinstance(node, ast.Name):
                return self.var[self.space.options[int(node.id[5:-2])].name]
            if isinstance(node, ast.Compare):  # a bool option == / != True / False
                positive = literal(node.left)
                value = self.space.options[int(node.left.id[5:-2])].coerce(ast.literal_eval(node.comparators[0]))
                return positive if value == isinstance(node.ops[0], ast.Eq) else -positive
            parts = [literal(v) for v in node.values]
            top += 1
            if isinstance(node.op, ast.And):
                clauses.extend([[-top, p] for p in parts] + [[top] + [-p for p in parts]])
            else:
                clauses.extend([[-top] + parts] + [[top, -p] for p in parts])
            return top

        for constraint in self.space.constraints:
            clauses.append([literal(_parse_constraint(constraint.text, self.space))])
        # A totalizer bounds a count from above only: one over the enabled options caps them,
        # one over the disabled options caps those, i.e. keeps enough options enabled.
        enabled = [self.var[n] for n in self.bools]
        self.at_most = ITotalizer(lits=enabled, ubound=len(enabled), top_id=top)
        self.at_least = ITotalizer(lits=[-v for v in enabled], ubound=len(enabled), top_id=self.at_most.top_id)
        self.solver = Solver(name="m22", bootstrap_with=clauses + self.at_most.cnf.clauses + self.at_least.cnf.clauses)

    def draw(self, fixed: dict | None = None, prefer: dict | None = None, distance: int | None = None,
             at_levels: bool = False) -> dict | None:
        """A valid configuration with the ``fixed`` values, else None when none exists (or none was
        found by rejection). ``prefer`` gives values to try first, ``distance`` the number of
        options not at their lowest value (over bool options outside a population),
        ``at_levels`` draws free numbers from their design levels instead of their range."""
        fixed = fixed or {}
        if self.space.population is not None:
            return self._from_population(fixed, prefer, distance)
        if self.solver is not None:
            return self._from_solver(fixed, prefer, distance, at_levels)
        for attempt in range(REJECTION_TRIES):
            config = self._free_values(fixed, prefer if attempt == 0 else None, at_levels)
            if distance is not None:
                free = [n for n in self.bools if n not in fixed]
                needed = distance - sum(bool(fixed[n]) for n in self.bools if n in fixed)
                if not 0 <= needed <= len(free):
                    return None
                enabled = set(self.rng.choice(free, size=needed, replace=False)) if free else set()
                config.update({n: n in enabled for n in free})
            if self.space.is_valid(config):
                return self.space.validate(config)
        return None

    def feasible_distances(self) -> list[int]:
        if self.space.population is not None:
            return sorted(set(self.distances(self.space.population).tolist()))
        if self.solver is None:
            return list(range(len(self.bools) + 1))
        return [d for d in range(len(self.bools) + 1) if self.solver.solve(assumptions=self._cardinality(d))]

    def distances(self, frame) -> np.ndarray:
        """How many options of each row are not at their lowest value."""
        return sum((frame[o.name] != lowest(o)).to_numpy(int) for o in self.space.options)

    def _free_values(self, fixed: dict, prefer: dict | None, at_levels: bool) -> dict:
        config = {}
        for o in self.space.options:
            if o.name in fixed:
                config[o.name] = fixed[o.name]
            elif prefer and o.name in prefer:
                config[o.name] = prefer[o.name]
            elif o.type in ("bool", "categorical") or at_levels:
                choices = levels(o)
                config[o.name] = choices[int(self.rng.integers(len(choices)))]
            elif o.type == "int":
                config[o.name] = int(self.rng.integers(int(o.lower), int(o.upper) + 1))
            else:
                config[o.name] = float(self.rng.uniform(o.lower, o.upper))
        return config

    def _cardinality(self, distance: int | None) -> list[int]:
        if distance is None:
            return []
        n = len(self.bools)  # rhs[k] is forced true when more than k of the totalizer's literals are
        return ([-self.at_most.rhs[distance]] if distance < n else []) + ([-self.at_least.rhs[n - distance]] if distance > 0 else [])

    def _from_solver(self, fixed, prefer, distance, at_levels) -> dict | None:
        config = self._free_values(fixed, prefer, at_levels)
        assumptions = [self.var[n] if fixed[n] else -self.var[n] for n in self.bools if n in fixed]
        self.solver.set_phases([self.var[n] if config[n] else -self.var[n] for n in self.bools])
        if not self.solver.solve(assumptions=assumptions + self._cardinality(distance)):
            return None
        model = set(self.solver.get_model())
        config.update({n: self.var[n] in model for n in self.bools})
        return self.space.validate(config)

    def _from_population(self, fixed, prefer, distance) -> dict | None:
        population = self.space.population
        mask = np.ones(len(population), dtype=bool)
        for name, value in fixed.items():
            mask &= (population[name] == value).to_numpy()
        if distance is not None:
            mask &= self.distances(population) == distance
        rows = np.flatnonzero(mask)
        if not len(rows):
            return None
        if prefer:
            agreement = sum((population[n].to_numpy()[rows] == v).astype(int) for n, v in prefer.items())
            rows = rows[agreement == agreement.max()]
        return population.iloc[int(self.rng.choice(rows))].to_dict()
