"""What every system provides: one constructor from its spec, one flag renderer, and how one measurement
becomes one row of the table.

Some metrics cost far less to measure than the others (FlexiBO's observation: a DNN's accuracy
needs training, its inference time only inference). A spec declares those as ``separately``:
each entry names metrics a run can measure without the rest and its cost relative to a full
measurement; ``run_part`` measures them, and the row records which (``measured``).

A measured program dies with the worker that started it (``PR_SET_PDEATHSIG``), also when the
worker is SIGKILLed or its node goes: an orphan would hold a core that the next measurement on
that node is pinned to, and disturb its timing.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import re
import resource
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tradeoff.environment import host_facts
from tradeoff.errors import TradeoffError
from tradeoff import measurements
from tradeoff.space import Option, Space

SPEC_DIR = Path(__file__).parent
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str = ""
    goal: str = "min"  # which direction is better: min or max


@dataclass(frozen=True)
class Separate:
    """Metrics a run measures without the others, at ``cost`` times a full measurement's (0 < cost < 1)."""

    metrics: tuple[str, ...]
    cost: float


class MeasurementFailed(Exception):
    """One run did not produce metrics; the row records status, exit code and error."""

    def __init__(self, error: str, status: str = "failed", exit_code: int | None = None):
        measurements.check_failure(status)
        super().__init__(error)
        self.status, self.exit_code = status, exit_code


@dataclass
class System:
    """A measurable system: its space, metrics, workloads and a way to run one configuration.

    Subclasses implement ``run``. ``kind`` is ``live`` (a real program, timings matter),
    ``replay`` (recorded measurements) or ``synthetic`` (a known ground truth).
    """

    name: str
    space: Space
    metrics: list[Metric]
    workloads: dict[str, str]
    default_workload: str
    kind: str = "live"
    environment: str = "local"
    description: str = ""
    cores_per_run: int = 1
    spec: dict = field(default_factory=dict, repr=False)
    separately: tuple[Separate, ...] = ()  # metrics measured alone, cheaper (``run_part``)

    @classmethod
    def from_spec(cls, spec: dict, environment: str | None = None, workload: str | None = None) -> System:
        """The one constructor: a system from its spec (``systems/<name>.yaml``) in ``environment``.

        A live or synthetic system's workload is chosen per measurement, so ``workload`` matters only
        to replays (their classes override this to load the recorded table)."""
        return cls(**cls.spec_arguments(spec, environment or "local"))

    @classmethod
    def spec_arguments(cls, spec: dict, environment: str) -> dict:
        """The constructor's arguments read from the spec; a subclass adapts them (its environment, its parameters)."""
        if "flag" in spec:  # a spec-wide flag template, e.g. --{name}={value}, for options without their own
            spec = {**spec, "options": [{"flag": spec["flag"], **entry} for entry in spec.get("options") or []]}
        workloads = dict(spec["workloads"])
        return dict(name=str(spec["system"]), kind=spec.get("kind", "live"), space=Space.from_spec(spec),
                    metrics=metrics_from_spec(spec), workloads=workloads,
                    default_workload=spec.get("default_workload") or next(iter(workloads)), environment=environment,
                    description=spec.get("description", ""), cores_per_run=spec.get("cores_per_run", 1), spec=spec,
                    separately=separately_from_spec(spec))

    @property
    def metric_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    @property
    def timing_sensitive(self) -> bool:
        """Live timings are disturbed by a neighbour on the same core; replayed values are not."""
        return self.kind == "live"

    def metric(self, name: str) -> Metric:
        for m in self.metrics:
            if m.name == name:
                return m
        raise TradeoffError(f"{self.name} has no metric {name!r}; its metrics: {', '.join(self.metric_names)}")

    def check(self) -> None:
        """Raise a TradeoffError when the system cannot run here (e.g. a missing program)."""

    def check_workload(self, workload: str) -> str:
        if workload not in self.workloads:
            raise TradeoffError(f"{self.name} has no workload {workload!r}; its workloads: {', '.join(self.workloads)}")
        return workload

    def program_version(self) -> str:
        return ""

    def run(self, config: dict, workload: str, timeout: float, cpus: list[int]) -> dict[str, float]:
        """Measure one configuration once; return its metrics or raise MeasurementFailed."""
        raise NotImplementedError

    def run_part(self, config: dict, workload: str, timeout: float, cpus: list[int], metrics: tuple[str, ...]) -> dict[str, float]:
        """Measure only ``metrics`` (one of ``separately``) of one configuration once; a system that
        declares ``separately`` implements it."""
        raise NotImplementedError(f"{self.name} declares no metrics measured alone")

    def part(self, metrics) -> Separate:
        """The declared ``Separate`` of exactly ``metrics``, else a TradeoffError naming those declared."""
        for entry in self.separately:
            if set(entry.metrics) == set(metrics):
                return entry
        declared = "; ".join(", ".join(e.metrics) for e in self.separately) or "none"
        raise TradeoffError(f"{self.name} cannot measure {', '.join(metrics)} alone (it declares: {declared})")


def cache_dir(*parts: str) -> Path:
    """Where generated workloads and builds are kept: $TRADEOFF_CACHE, else ~/.cache/tradeoff."""
    return Path(os.environ.get("TRADEOFF_CACHE", Path.home() / ".cache" / "tradeoff")).joinpath(*parts)


def load_spec(name: str) -> dict:
    """The declarative spec ``systems/<name>.yaml``."""
    return yaml.load((SPEC_DIR / f"{name}.yaml").read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def metrics_from_spec(spec: dict) -> list[Metric]:
    return [Metric(m["name"], m.get("unit", ""), m.get("goal", "min")) for m in spec["metrics"]]


def separately_from_spec(spec: dict) -> tuple[Separate, ...]:
    """The spec's ``separately`` entries, checked: metrics of the system, a cost in (0, 1), not every metric."""
    names = [m["name"] for m in spec["metrics"]]
    entries = []
    for entry in spec.get("separately") or []:
        metrics, cost = tuple(entry.get("metrics") or ()), entry.get("cost")
        unknown = [m for m in metrics if m not in names]
        if not metrics or unknown or set(metrics) == set(names):
            raise TradeoffError(f"{spec['system']}'s spec: separately {list(metrics)} must name some, not all, of its metrics "
                                f"({', '.join(names)})")
        if not isinstance(cost, (int, float)) or not 0 < cost < 1:
            raise TradeoffError(f"{spec['system']}'s spec: separately {list(metrics)} needs a cost between 0 and 1 (of a full "
                                f"measurement), not {cost!r}")
        entries.append(Separate(metrics, float(cost)))
    return tuple(entries)


def placeholders(template: str) -> list[str]:
    return [m.group(1) for m in PLACEHOLDER.finditer(template) if m.group(1)]


def render(template: str, values: dict[str, str], quote: bool = False) -> str:
    """``template`` with each ``{name}`` replaced by its value (shell-quoted if ``quote``, except
    ``{flags}``); ``{{`` and ``}}`` are literal braces."""
    def replace(match: re.Match) -> str:
        if match.group(0) in ("{{", "}}"):
            return match.group(0)[0]
        return shlex.quote(values[match.group(1)]) if quote and match.group(1) != "flags" else values[match.group(1)]
    return PLACEHOLDER.sub(replace, template)


def option_text(option: Option, value) -> str:
    """How a value is written for a program: a bool by its ``bool_text`` (default false/true), a float as %g."""
    if option.type == "bool":
        return str(option.extra.get("bool_text", ["false", "true"])[int(bool(value))])
    return f"{value:g}" if isinstance(value, float) else str(value)


def render_flags(space: Space, config: dict, values: dict[str, str] | None = None) -> list[str]:
    """The command-line arguments of a configuration, from each option's ``flag`` in the spec.

    A flag holding ``{value}`` is one argument with the value filled in (``--level={value}``,
    ``-{value}``); otherwise a bool adds its flag when true and another option adds ``flag value``.
    ``{name}`` is the option's name, other placeholders come from ``values``; an option whose value
    equals its ``omit`` (e.g. ``default``) adds nothing, and an option without a flag is skipped."""
    args = []
    for option in space.options:
        flag, value = option.extra.get("flag"), config[option.name]
        if flag is None or ("omit" in option.extra and value == option.extra["omit"]):
            continue
        text = option_text(option, value)
        rendered = render(flag, {**(values or {}), "name": option.name, "value": text})
        if "value" in placeholders(flag):
            args.append(rendered)
        elif option.type == "bool":
            args += [rendered] if value else []
        else:
            args += [rendered, text]
    return args


def finite(metrics: dict[str, float], missing_ok: bool = True) -> dict[str, float]:
    """``metrics``, or MeasurementFailed naming the first that is not a finite number: an infinity
    is never a measurement. A NaN is a metric the driver cannot measure here (dnn's energy on a
    machine without RAPL), stored as null, unless ``missing_ok`` is False: a command spec's pattern
    that reads ``nan`` has measured nothing."""
    for name, value in metrics.items():
        value = float(value)
        if math.isinf(value) or (math.isnan(value) and not missing_ok):
            raise MeasurementFailed(f"metric {name!r} is {value}, not a finite number")
    return metrics


def measure_once(system: System, config: dict, workload: str, repetition: int, timeout: float,
                 cpus: list[int], campaign: str, version: str, only: tuple[str, ...] = ()) -> dict:
    """Run one measurement (of the metrics ``only``, where given) and return its row; a failure is a
    row too, never an exception."""
    row = measurements.new_row(system=system.name, environment=system.environment, workload=workload, config=config,
                               repetition=repetition, campaign=campaign, cpus=cpus, version=version, host=host_facts())
    row["measured"] = measurements.part_label(only)
    clock = time.perf_counter()
    try:
        if only:
            values = system.run_part(config, workload, timeout, cpus, tuple(only))
            measurements.measured(row, finite({m: values[m] for m in only}))  # what the part names, nothing else
        else:
            measurements.measured(row, finite(system.run(config, workload, timeout, cpus)))
    except MeasurementFailed as failure:
        measurements.failed(row, failure.status, str(failure), failure.exit_code)
    except Exception as error:  # a driver bug must not lose the campaign: record it
        measurements.failed(row, "failed", f"{type(error).__name__}: {error}")
    row["duration_s"] = time.perf_counter() - clock
    return row


def _in_child(cpus: list[int], parent: int):
    """What a measured program's process does before it execs: die with its parent, take its cores."""
    def setup() -> None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)
        if cpus:
            os.sched_setaffinity(0, cpus)
    return setup


@dataclass
class ProcessResult:
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float

    def metrics(self, what: str) -> dict[str, float]:
        """The metrics a measured script prints as one JSON object on its last line of stdout."""
        try:
            return json.loads(self.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise MeasurementFailed(f"{what} printed no result: " + self.stderr.strip()[-300:]) from None


def run_process(command: list[str], timeout: float, cpus: list[int], cwd: str | Path | None = None,
                env: dict | None = None, ok_codes: tuple[int, ...] = (0,)) -> ProcessResult:
    """Run a program pinned to ``cpus``; kill its whole process group on timeout.

    An exit code outside ``ok_codes`` raises MeasurementFailed with the tail of stderr; a timeout raises it with
    status ``timeout``. CPU time is the children's user+system time, exact because a worker
    runs one measurement at a time.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    clock = time.perf_counter()
    try:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True, preexec_fn=_in_child(cpus, os.getpid()))
    except FileNotFoundError:
        raise MeasurementFailed(f"program not found: {command[0]}", exit_code=127) from None
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise MeasurementFailed(f"no result after {timeout:g} s; killed", status="timeout") from None
    wall = time.perf_counter() - clock
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode not in ok_codes:
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        raise MeasurementFailed(f"exit code {process.returncode}: {tail}", exit_code=process.returncode)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ProcessResult(stdout, stderr, wall, cpu)
