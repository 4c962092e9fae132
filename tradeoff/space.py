"""Configuration spaces: options, defaults, constraints, validation and encoding.

A space is declared in a system's YAML spec and built on ConfigSpace: ConfigSpace holds the
options' types, ranges, defaults and log scales, and each constraint becomes one ConfigSpace
forbidden clause. A space may also carry a finite *population* (the configurations a replay
system has recorded); samplers then draw from it instead of from the whole space.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import ConfigSpace as cs
import numpy as np
import pandas as pd
import yaml

from tradeoff.errors import TradeoffError

OPTION_TYPES = ("bool", "int", "float", "categorical")


@dataclass(frozen=True)
class Option:
    name: str
    type: str
    default: Any
    lower: float | None = None
    upper: float | None = None
    values: tuple = ()
    log: bool = False
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def domain(self) -> tuple:
        """Every value of a finite option (bool, categorical, int)."""
        if self.type == "bool":
            return (False, True)
        if self.type == "categorical":
            return self.values
        if self.type == "int":
            return tuple(range(int(self.lower), int(self.upper) + 1))
        raise TradeoffError(f"option {self.name!r} is a float and has no finite set of values; give it 'levels' or use another sampler")

    def allowed(self) -> str:
        if self.type == "bool":
            return "true or false"
        if self.type == "categorical":
            return "one of " + ", ".join(map(str, self.values))
        return f"a{'n integer' if self.type == 'int' else ' number'} in [{_fmt(self.lower)}, {_fmt(self.upper)}]"

    def coerce(self, value: Any) -> Any:
        """The value in this option's Python type, or a TradeoffError naming what is allowed."""
        bad = TradeoffError(f"option {self.name!r}: value {value!r} is not allowed; expected {self.allowed()}")
        if isinstance(value, np.generic):
            value = value.item()
        if self.type == "bool":
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered in ("true", "1", "yes", "on"):
                    return True
                if lowered in ("false", "0", "no", "off"):
                    return False
                raise bad
            if value in (0, 1):  # also True/False and 0.0/1.0
                return bool(value)
            raise bad
        if self.type == "categorical":
            for allowed in self.values:
                if value == allowed or str(value) == str(allowed):
                    return allowed
            raise bad
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad from None
        if self.type == "int":
            if not number.is_integer():
                raise bad
            number = int(number)
        if not (self.lower <= number <= self.upper):
            raise bad
        return number


def _fmt(number: float | None) -> str:
    return str(int(number)) if number is not None and float(number).is_integer() else str(number)


def _option_from_spec(entry: dict) -> Option:
    if not isinstance(entry, dict) or "name" not in entry:
        raise TradeoffError(f"option entry {entry!r} has no 'name'; each option needs name, type and default")
    name, kind = str(entry["name"]), entry.get("type")
    if kind not in OPTION_TYPES:
        raise TradeoffError(f"option {name!r}: unknown type {kind!r}; use one of {', '.join(OPTION_TYPES)}")
    extra = {k: v for k, v in entry.items() if k not in ("name", "type", "default", "range", "values", "log")}
    if kind == "bool":
        option = Option(name, kind, False, extra=extra)
    elif kind == "categorical":
        values = tuple(entry.get("values") or ())
        if len(values) < 1:
            raise TradeoffError(f"option {name!r}: a categorical option needs 'values'")
        option = Option(name, kind, values[0], values=values, extra=extra)
    else:
        bounds = entry.get("range")
        numbers = isinstance(bounds, (list, tuple)) and len(bounds) == 2 and all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b) for b in bounds)
        if not (numbers and bounds[0] <= bounds[1]):
            raise TradeoffError(f"option {name!r}: a numeric option needs 'range: [low, high]' of two finite numbers with low <= high, not {bounds!r}")
        option = Option(name, kind, bounds[0], lower=bounds[0], upper=bounds[1], log=bool(entry.get("log", False)), extra=extra)
    default = entry.get("default", option.default)
    return Option(option.name, kind, option.coerce(default), option.lower, option.upper, option.values, option.log, extra)


@dataclass(frozen=True)
class Constraint:
    text: str
    clause: Any  # the ConfigSpace forbidden clause: configurations where the constraint is false
    options: tuple[str, ...]


class Space:
    """The options of a system, its constraints and, optionally, a finite population."""

    def __init__(self, options: Iterable[Option], constraints: Iterable[str] = (), population: pd.DataFrame | None = None):
        self.options: list[Option] = list(options)
        if not self.options:
            raise TradeoffError("a space needs at least one option")
        self._by_name = {o.name: o for o in self.options}
        if len(self._by_name) != len(self.options):
            raise TradeoffError("option names must be unique")
        self.configspace = cs.ConfigurationSpace()
        self.configspace.add([_hyperparameter(o) for o in self.options])
        self.constraints: list[Constraint] = []
        for text in constraints:
            clause = _forbidden_clause(text, self)
            self.configspace.add(clause)
            self.constraints.append(Constraint(text, clause, tuple(n for n in self.names if _replace_word(text, n, "") != text)))
        self.population = None if population is None else self._checked_population(population)

    @classmethod
    def from_spec(cls, spec: dict) -> Space:
        options = [_option_from_spec(entry) for entry in spec.get("options") or []]
        return cls(options, spec.get("constraints") or [])

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.options]

    def __getitem__(self, name: str) -> Option:
        try:
            return self._by_name[name]
        except KeyError:
            raise TradeoffError(f"unknown option {name!r}; known options: {', '.join(self.names)}") from None

    def __len__(self) -> int:
        return len(self.options)

    def default(self) -> dict:
        return {o.name: o.default for o in self.options}

    def validate(self, config: dict, fill_defaults: bool = False) -> dict:
        """The configuration with typed values in option order; a TradeoffError names what is wrong."""
        unknown = [name for name in config if name not in self._by_name]
        if unknown:
            raise TradeoffError(f"unknown option {unknown[0]!r}; known options: {', '.join(self.names)}")
        missing = [o.name for o in self.options if o.name not in config]
        if missing and not fill_defaults:
            raise TradeoffError(f"configuration lacks option {missing[0]!r}; give every option or fill defaults")
        values = {o.name: o.coerce(config[o.name]) if o.name in config else o.default for o in self.options}
        for constraint in self.constraints:
            if constraint.clause.is_forbidden_value(values):
                involved = ", ".join(f"{n}={values[n]}" for n in constraint.options)
                raise TradeoffError(f"configuration violates constraint '{constraint.text}' ({involved})")
        return values

    def violates(self, partial: dict) -> bool:
        """Whether a partial configuration already breaks a constraint whose options it all sets."""
        return any(c.clause.is_forbidden_value(partial) for c in self.constraints if all(n in partial for n in c.options))

    def is_valid(self, config: dict) -> bool:
        try:
            self.validate(config)
        except TradeoffError:
            return False
        return True

    def to_frame(self, configs: Iterable[dict]) -> pd.DataFrame:
        """Configurations as a frame with one typed column per option."""
        frame = pd.DataFrame(list(configs), columns=self.names)
        for o in self.options:
            frame[o.name] = frame[o.name].astype(_pandas_dtype(o))
        return frame

    def encode(self, configs: pd.DataFrame | Iterable[dict]) -> np.ndarray:
        """A numeric matrix shared by all models: bool 0/1, categorical one-hot, numeric scaled to [0, 1]."""
        frame = configs if isinstance(configs, pd.DataFrame) else self.to_frame(configs)
        columns = []
        for o in self.options:
            values = frame[o.name].to_numpy()
            if o.type == "bool":
                columns.append(values.astype(float)[:, None])
            elif o.type == "categorical":
                columns.append(np.stack([(values == v) | (values.astype(str) == str(v)) for v in o.values], axis=1).astype(float))
            else:
                x = values.astype(float)
                low, high = o.lower, o.upper
                if o.log and low > 0:
                    x, low, high = np.log(x), math.log(low), math.log(high)
                columns.append(((x - low) / (high - low) if high > low else np.zeros_like(x))[:, None])
        return np.hstack(columns)

    def feature_names(self) -> list[str]:
        names = []
        for o in self.options:
            names.extend([f"{o.name}={v}" for v in o.values] if o.type == "categorical" else [o.name])
        return names

    def sample_uniform(self, n: int, seed: int) -> list[dict]:
        """n valid configurations drawn uniformly (from the population when there is one)."""
        if self.population is not None:
            rows = self.population.sample(n=min(n, len(self.population)), random_state=seed)
            return rows.to_dict("records")
        self.configspace.seed(seed)
        sampled = self.configspace.sample_configuration(n) if n > 1 else [self.configspace.sample_configuration()]
        return [self.validate(dict(c)) for c in sampled]

    def count(self, limit: int = 100_000) -> int | None:
        """How many valid configurations the space holds where that is cheap to know (a population,
        no constraints, or at most ``limit`` combinations to check); else None (a float option: infinitely many)."""
        if self.population is not None:
            return len(self.population)
        if any(o.type == "float" for o in self.options):
            return None
        product = math.prod(int(o.upper - o.lower + 1) if o.type == "int" else len(o.domain) for o in self.options)
        if not self.constraints:
            return product
        return len(self.enumerate()) if product <= limit else None

    def enumerate(self) -> list[dict]:
        """Every valid configuration of a finite space."""
        if self.population is not None:
            return self.population.to_dict("records")
        size = math.prod(len(o.domain) for o in self.options)
        if size > 1_000_000:
            raise TradeoffError(f"the space has {size} configurations, too many to enumerate; use a sampler with a budget")
        return [c for c in (dict(zip(self.names, values)) for values in itertools.product(*(o.domain for o in self.options))) if self.is_valid(c)]

    def with_population(self, population: pd.DataFrame) -> Space:
        return Space(self.options, [c.text for c in self.constraints], population)

    def _checked_population(self, population: pd.DataFrame) -> pd.DataFrame:
        missing = [n for n in self.names if n not in population.columns]
        if missing:
            raise TradeoffError(f"population lacks option column {missing[0]!r}")
        frame = population[self.names].reset_index(drop=True)
        for o in self.options:
            frame[o.name] = frame[o.name].astype(_pandas_dtype(o))
        return frame

    def describe(self) -> pd.DataFrame:
        rows = []
        for o in self.options:
            rows.append({"option": o.name, "type": o.type, "default": o.default, "allowed": o.allowed() + (" (log)" if o.log else "")})
        return pd.DataFrame(rows)


def load_configurations(path: str | Path, space: Space) -> list[dict]:
    """Configurations from a YAML or JSON file: one mapping or a list of them; missing options take defaults."""
    try:
        text = Path(path).read_text()
        # A .json file is read as JSON: YAML would accept what JSON refuses (a trailing comma, comments).
        loaded = json.loads(text) if Path(path).suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise TradeoffError(f"cannot read configurations from {path}: not valid JSON ({error}); fix it or write YAML") from None
    except (OSError, yaml.YAMLError) as error:
        raise TradeoffError(f"cannot read configurations from {path}: {error}".splitlines()[0]) from None
    entries = loaded if isinstance(loaded, list) else [loaded]
    if not entries or not all(isinstance(e, dict) for e in entries):
        raise TradeoffError(f"{path} must hold a mapping of option: value, or a list of such mappings")
    return [space.validate(entry, fill_defaults=True) for entry in entries]


def infer_options(frame: pd.DataFrame) -> list[Option]:
    """Options typed by recorded values: 0/1 columns are bools, integral numbers ints, text categories."""
    options = []
    for name in frame.columns:
        column = frame[name].dropna()
        if pd.api.types.is_bool_dtype(column) or (pd.api.types.is_numeric_dtype(column) and set(column.unique()) <= {0, 1}):
            options.append(Option(str(name), "bool", bool(column.iloc[0]) if len(column) else False))
        elif pd.api.types.is_numeric_dtype(column):
            integral = bool(np.all(np.mod(column, 1) == 0))
            low, high = (int(column.min()), int(column.max())) if integral else (float(column.min()), float(column.max()))
            if low == high:  # a constant column (SaC's initmheap): one value, which ConfigSpace cannot range over
                options.append(Option(str(name), "categorical", low, values=(low,)))
            else:
                options.append(Option(str(name), "int" if integral else "float", low, lower=low, upper=high))
        else:
            values = tuple(sorted(column.astype(str).unique()))
            options.append(Option(str(name), "categorical", values[0], values=values))
    return options


def config_id(config: dict) -> str:
    """A stable id of a configuration: the same values give the same id in every process."""
    canonical = json.dumps({k: _plain(v) for k, v in sorted(config.items())}, sort_keys=True)
    return hashlib.sha1(canonical.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _pandas_dtype(o: Option) -> str:
    return {"bool": "bool", "int": "int64", "float": "float64", "categorical": "string"}[o.type]


def _hyperparameter(o: Option):
    if o.type == "bool":
        return cs.Categorical(o.name, [False, True], default=o.default)
    if o.type == "categorical":
        return cs.Categorical(o.name, list(o.values), default=o.default)
    if o.type == "int":
        return cs.Integer(o.name, (int(o.lower), int(o.upper)), default=int(o.default), log=o.log)
    return cs.Float(o.name, (float(o.lower), float(o.upper)), default=float(o.default), log=o.log)


# Constraints -------------------------------------------------------------------------------
# A constraint is a boolean expression over options that every valid configuration satisfies,
# written in Python syntax plus implication: "bframes == 0 -> not weightb",
# "not (no-cabac and trellis > 0)", "me in ['umh', 'esa'] -> subme >= 6".
# It becomes one ConfigSpace forbidden clause: the configurations where it is false.

_FLIPPED = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In}


def _parse_constraint(text: str, space: Space) -> ast.expr:
    # Option names may hold '-' (x264's no-cabac): map each to an identifier before parsing.
    source = text
    for name in sorted(space.names, key=len, reverse=True):
        source = _replace_word(source, name, f"__opt{space.names.index(name)}__")
    if source.count("->") > 1:
        raise TradeoffError(f"constraint '{text}': use at most one '->'")
    if "->" in source:
        premise, conclusion = source.split("->")
        source = f"not ({premise.strip()}) or ({conclusion.strip()})"
    try:
        return ast.parse(source, mode="eval").body
    except SyntaxError:
        raise TradeoffError(f"constraint '{text}' is not an expression; write e.g. 'bframes == 0 -> not weightb'") from None


def _replace_word(source: str, word: str, replacement: str) -> str:
    out, i = [], 0
    while i < len(source):
        if source.startswith(word, i) and not _ident_char(source, i - 1) and not _ident_char(source, i + len(word)):
            out.append(replacement)
            i += len(word)
        else:
            out.append(source[i])
            i += 1
    return "".join(out)


def _ident_char(source: str, i: int) -> bool:
    return 0 <= i < len(source) and (source[i].isalnum() or source[i] in "_-")


def _forbidden_clause(text: str, space: Space):
    return _clause(_parse_constraint(text, space), False, space, text)


def _clause(node: ast.expr, truth: bool, space: Space, text: str):
    """A ConfigSpace clause that matches the configurations where node evaluates to truth."""
    if isinstance(node, ast.BoolOp):
        parts = [_clause(v, truth, space, text) for v in node.values]
        conjunctive = isinstance(node.op, ast.And) == truth
        return cs.ForbiddenAndConjunction(*parts) if conjunctive else cs.ForbiddenOrConjunction(*parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _clause(node.operand, not truth, space, text)
    if isinstance(node, ast.Name):
        option = _option_of(node, space, text)
        if option.type != "bool":
            raise TradeoffError(f"constraint '{text}': {option.name!r} is not a bool; compare it, e.g. '{option.name} == {option.default!r}'")
        return cs.ForbiddenEqualsClause(space.configspace[option.name], truth)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        option = _option_of(node.left, space, text)
        op = type(node.ops[0]) if truth else _FLIPPED[type(node.ops[0])]
        try:
            value = ast.literal_eval(node.comparators[0])
        except ValueError:
            raise TradeoffError(f"constraint '{text}': compare an option with a literal value") from None
        return _comparison(option, op, value, space, text)
    raise TradeoffError(f"constraint '{text}' is not supported; use and, or, not, ->, ==, !=, <, <=, >, >=, in")


def _option_of(node: ast.expr, space: Space, text: str) -> Option:
    if isinstance(node, ast.Name) and node.id.startswith("__opt"):
        return space.options[int(node.id[5:-2])]
    raise TradeoffError(f"constraint '{text}': the left side of each comparison must be an option name")


def _comparison(option: Option, op: type, value: Any, space: Space, text: str):
    hp = space.configspace[option.name]
    if op in (ast.In, ast.NotIn):
        chosen = [option.coerce(v) for v in value]
    else:
        try:
            value = option.coerce(value)
        except TradeoffError as error:
            raise TradeoffError(f"constraint '{text}': {error}") from None
    if option.type in ("bool", "categorical"):
        if op in (ast.Eq, ast.In):
            return cs.ForbiddenInClause(hp, chosen) if op is ast.In else cs.ForbiddenEqualsClause(hp, value)
        if op in (ast.NotEq, ast.NotIn):
            excluded = chosen if op is ast.NotIn else [value]
            return cs.ForbiddenInClause(hp, [v for v in option.domain if v not in excluded])
        raise TradeoffError(f"constraint '{text}': {option.name!r} is {option.type}; use ==, != or in")
    # ConfigSpace 1.2's sampler ignores the <= and >= clauses; build them from < or > and ==.
    if op is ast.Lt:
        return cs.ForbiddenLessThanClause(hp, value)
    if op is ast.Gt:
        return cs.ForbiddenGreaterThanClause(hp, value)
    if op is ast.LtE:
        return cs.ForbiddenOrConjunction(cs.ForbiddenLessThanClause(hp, value), cs.ForbiddenEqualsClause(hp, value))
    if op is ast.GtE:
        return cs.ForbiddenOrConjunction(cs.ForbiddenGreaterThanClause(hp, value), cs.ForbiddenEqualsClause(hp, value))
    if op is ast.Eq:
        return cs.ForbiddenEqualsClause(hp, value)
    if op is ast.In:
        return cs.ForbiddenInClause(hp, chosen)
    excluded = chosen if op is ast.NotIn else [value]
    return cs.ForbiddenAndConjunction(*[cs.ForbiddenOrConjunction(cs.ForbiddenLessThanClause(hp, v), cs.ForbiddenGreaterThanClause(hp, v)) for v in excluded]) \
        if len(excluded) > 1 else cs.ForbiddenOrConjunction(cs.ForbiddenLessThanClause(hp, excluded[0]), cs.ForbiddenGreaterThanClause(hp, excluded[0]))
