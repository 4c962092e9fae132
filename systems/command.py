"""Any program, declared in YAML: options map to flags, environment variables or a config file.

A spec (see ``systems/xz.yaml``) names the command, its options, its workloads and how to read
each metric. Templates (the command, a flag, the config file) use ``{name}`` placeholders: an
option's value, or one of

- ``{flags}``: every option that has a ``flag`` (a bool adds its flag when true; another adds
  ``flag value``, or the flag itself when it holds ``{value}``, e.g. ``--opt={value}``; a value
  equal to the option's ``omit`` adds nothing; a top-level ``flag`` such as ``--{name}={value}``
  serves every option without one: ``systems.base.render_flags``, shared with the live systems);
- ``{input}``: the workload's input file (a user's file, or the file its ``setup`` command made);
- ``{workdir}``: a fresh empty folder for this run; ``{config_file}``: the rendered config file;
- ``{workload}``: the workload's name.

``{{`` and ``}}`` are literal braces. A command given as a string runs under ``/bin/sh -c``
(values are shell-quoted); a list runs as is, and the element ``{flags}`` expands to its flags.

Metrics come from ``wall_time``, ``cpu_time``, a ``regex`` on stdout/stderr (first group), a
``json`` file (``key`` a.b.c) or a ``file_size``. ``check()`` validates the spec and runs the
default configuration once on the default workload (within ``check_timeout`` seconds, default
60), so a missing program or a regex that never matches fails with one line before any
measurement starts; during a campaign the same problem makes a failed row.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from systems.base import (PLACEHOLDER, SPEC_DIR, MeasurementFailed, System, cache_dir, finite, option_text, placeholders,
                          render, render_flags, run_process)
from tradeoff.errors import TradeoffError
from tradeoff.space import Space

BUILT_INS = ("flags", "input", "workdir", "config_file", "workload")
MAPPINGS = ("flag", "env")
OPTION_KEYS = {"name", "type", "default", "range", "values", "log", "levels", "unit", "description", "bool_text", "omit", *MAPPINGS}
SOURCES = ("wall_time", "cpu_time", "regex", "json", "file_size")
STREAMS = ("stdout", "stderr", "both")


@dataclass
class CommandSystem(System):
    """A program measured through its declarative spec only."""

    source: str = ""  # where the spec came from, named by every error about it

    @classmethod
    def from_spec(cls, spec: dict, environment: str | None = None, workload: str | None = None,
                  source: str | None = None) -> CommandSystem:
        source = source or (str(SPEC_DIR / f"{spec['system']}.yaml") if isinstance(spec, dict) and spec.get("system") else "command spec")
        return cls(**cls.spec_arguments(validate_spec(spec, source), environment or "local"), source=source)

    @classmethod
    def spec_arguments(cls, spec: dict, environment: str) -> dict:
        workloads = {name: (w if isinstance(w, str) else w.get("description", "")) for name, w in spec["workloads"].items()}
        return {**super().spec_arguments(spec, environment), "workloads": workloads, "kind": "live"}

    # -- checks -----------------------------------------------------------------------------

    def program(self) -> str:
        command = self.spec["command"]
        return self.spec.get("program") or (shlex.split(command)[0] if isinstance(command, str) else command[0])

    def check(self) -> None:
        program = self.program()
        if shutil.which(program) is None:
            raise TradeoffError(f"{self.source}: program {program!r} is not installed or not on PATH; install it or fix 'program'/'command'")
        workload = self.check_workload(self.default_workload)
        try:
            self.run(self.space.default(), workload, float(self.spec.get("check_timeout", 60)), [])
        except MeasurementFailed as failure:
            first = str(failure).strip().splitlines()[0] if str(failure).strip() else failure.status
            raise TradeoffError(f"{self.source}: the default configuration failed on workload {self.default_workload!r}: {first}") from None

    def check_workload(self, workload: str) -> str:
        if workload in self.workloads:
            return workload
        if Path(workload).is_file():
            return str(Path(workload).resolve())
        raise TradeoffError(f"{self.name} has no workload {workload!r}; use one of {', '.join(self.workloads)} or an existing input file")

    def program_version(self) -> str:
        probe = self.spec.get("version_command")
        if not probe:
            return ""
        try:
            out = subprocess.run(shlex.split(probe), capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unknown"

    # -- one run ----------------------------------------------------------------------------

    def input_file(self, workload: str, timeout: float) -> str:
        """The workload's input: a user's file, or the cached file its setup command makes once."""
        entry = self.spec["workloads"].get(workload)
        if entry is None:
            return workload
        if isinstance(entry, str) or "setup" not in entry:
            return entry.get("input", "") if isinstance(entry, dict) else ""
        path = cache_dir("command", self.name, workload)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}")
            run_process(["/bin/sh", "-c", render(entry["setup"], {"input": shlex.quote(str(partial))})], max(timeout, 300), [])
            if not partial.is_file():
                raise MeasurementFailed(f"workload {workload!r}: its setup command exited 0 but did not write {{input}}; "
                                        "make it write its output to the file {input} names")
            os.replace(partial, path)  # atomic: concurrent workers never see a half-written input
        return str(path)

    def run(self, config: dict, workload: str, timeout: float, cpus: list[int]) -> dict[str, float]:
        with tempfile.TemporaryDirectory(prefix=f"tradeoff-{self.name}-") as workdir:
            values = {o.name: option_text(o, config[o.name]) for o in self.space.options}
            values.update(input=self.input_file(workload, timeout), workdir=workdir, workload=workload)
            flags = render_flags(self.space, config, values)
            if "config_file" in self.spec:
                path = Path(workdir) / self.spec["config_file"]["name"]
                path.write_text(render(self.spec["config_file"]["template"], values))
                values["config_file"] = str(path)
            env = {**os.environ, **{o.extra["env"]: values[o.name] for o in self.space.options if "env" in o.extra}}
            env.update({str(k): render(str(v), values) for k, v in (self.spec.get("env") or {}).items()})
            command = self.spec["command"]
            if isinstance(command, str):
                argv = ["/bin/sh", "-c", render(command, {**values, "flags": " ".join(map(shlex.quote, flags))}, quote=True)]
            else:
                argv = [a for part in command for a in (flags if part == "{flags}" else [render(part, values)])]
            result = run_process(argv, timeout, cpus, cwd=workdir, env=env)
            return finite({m["name"]: self._read(m, result, values) for m in self.spec["metrics"]}, missing_ok=False)

    def _read(self, metric: dict, result, values: dict) -> float:
        source, name = metric["from"], metric["name"]
        if source == "wall_time":
            return result.wall_s
        if source == "cpu_time":
            return result.cpu_s
        if source == "regex":
            text = {"stdout": result.stdout, "stderr": result.stderr, "both": result.stdout + "\n" + result.stderr}[metric.get("stream", "both")]
            match = re.search(metric["pattern"], text, re.MULTILINE)
            if not match:
                tail = (result.stdout + result.stderr).strip()[-200:].replace("\n", " | ")
                raise MeasurementFailed(f"metric {name!r}: pattern {metric['pattern']!r} matched nothing in the output: {tail}")
            return float(match.group(1)) * float(metric.get("scale", 1))
        path = Path(render(metric["file"], values))
        if not path.is_file():
            raise MeasurementFailed(f"metric {name!r}: the program wrote no file {path}")
        if source == "file_size":
            return float(path.stat().st_size)
        try:
            value = json.loads(path.read_text())
            for key in str(metric["key"]).split("."):
                value = value[int(key)] if isinstance(value, list) else value[key]
            return float(value) * float(metric.get("scale", 1))
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise MeasurementFailed(f"metric {name!r}: no number at key {metric['key']!r} of {path.name}: {error}") from None


SAFE_NAME = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9_.+-]*")  # a system or workload name names folders and cache files


def quoted_placeholder(command: str) -> str | None:
    """The first placeholder a shell command puts inside quotes of its own, else None.

    Values are shell-quoted when rendered; inside the template's own quotes that quoting ends the
    quote instead, so an allowed value with a space and a ``;`` would run as a second command."""
    quote, i = None, 0
    while i < len(command):
        char = command[i]
        if char == "\\" and quote != "'":
            i += 2
            continue
        match = PLACEHOLDER.match(command, i)
        if match:
            if quote and match.group(1):
                return match.group(1)
            i = match.end()
            continue
        if char in "'\"" and quote in (None, char):
            quote = None if quote else char
        i += 1
    return None


def validate_spec(spec: dict, origin: str) -> dict:
    """The spec, or a one-line TradeoffError naming the first problem and the fix."""
    def bad(problem: str) -> TradeoffError:
        return TradeoffError(f"{origin}: {problem}")

    if not isinstance(spec, dict):
        raise bad("a command spec is a mapping with system, command, options, workloads and metrics")
    for key in ("system", "command", "options", "workloads", "metrics"):
        if not spec.get(key):
            raise bad(f"missing '{key}'; a command spec needs system, command, options, workloads and metrics")
    command = spec["command"]
    if not (isinstance(command, str) or (isinstance(command, list) and all(isinstance(a, str) for a in command))):
        raise bad("'command' must be a string (run by /bin/sh) or a list of arguments")
    if not isinstance(spec["system"], str) or not SAFE_NAME.fullmatch(spec["system"]):
        raise bad(f"system name {spec['system']!r} names folders; use letters, digits and . _ + - only (no '/')")
    if isinstance(command, str) and quoted_placeholder(command):
        name = quoted_placeholder(command)
        raise bad(f"'command' puts {{{name}}} inside quotes of its own, which lets a value escape them; "
                  f"write it bare ({{{name}}}): values are shell-quoted already")
    option_names = [o.get("name") for o in spec["options"] if isinstance(o, dict)]
    templates = [command] if isinstance(command, str) else list(command)
    if "config_file" in spec:
        config_file = spec["config_file"]
        if not (isinstance(config_file, dict) and config_file.get("name") and isinstance(config_file.get("template"), str)):
            raise bad("'config_file' needs 'name' (a file name) and 'template' (its text with {option} placeholders)")
        templates.append(config_file["template"])
    templates += [str(v) for v in (spec.get("env") or {}).values()]
    templates += [str(m["file"]) for m in spec["metrics"] if isinstance(m, dict) and m.get("file")]
    used = {p for t in templates for p in placeholders(t)}
    known = set(option_names) | set(BUILT_INS)
    for template in templates:
        for name in placeholders(template):
            if name not in known:
                raise bad(f"unknown placeholder {{{name}}}; use an option name or one of {', '.join(BUILT_INS)}")
    for entry in spec["options"]:
        name = entry.get("name") if isinstance(entry, dict) else None
        unknown = sorted(set(entry) - OPTION_KEYS) if isinstance(entry, dict) else []
        if unknown:
            raise bad(f"option {name!r}: unknown key {unknown[0]!r}; map an option with flag, env or a {{{name}}} placeholder")
        if not any(k in entry for k in MAPPINGS) and name not in used and "flag" not in spec:
            raise bad(f"option {name!r} maps to nothing; give it 'flag', 'env', or use {{{name}}} in the command or config_file")
        if "flag" in entry and not (isinstance(entry["flag"], str) and entry["flag"]):
            raise bad(f"option {name!r}: 'flag' must be a non-empty string such as --level or --level={{value}}")
    if "config_file" not in spec and "config_file" in used:
        raise bad("{config_file} is used but the spec has no 'config_file' section")
    if not isinstance(spec["workloads"], dict):
        raise bad("'workloads' maps a workload name to a description or to {description, setup}")
    for name, entry in spec["workloads"].items():
        if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
            raise bad(f"workload name {name!r} names a file in the cache; use letters, digits and . _ + - only (no '/' or '..')")
        if isinstance(entry, dict) and set(entry) - {"description", "setup", "input"}:
            raise bad(f"workload {name!r}: unknown key {sorted(set(entry) - {'description', 'setup', 'input'})[0]!r}; use description, setup or input")
        if isinstance(entry, dict) and any(p != "input" for p in placeholders(str(entry.get("setup", "")))):
            raise bad(f"workload {name!r}: its setup command may only use the placeholder {{input}} (the file it writes)")
    for metric in spec["metrics"]:
        if not isinstance(metric, dict) or not metric.get("name"):
            raise bad("each metric needs a 'name' and 'from'")
        source = metric.get("from")
        if source not in SOURCES:
            raise bad(f"metric {metric['name']!r}: unknown source {source!r}; use one of {', '.join(SOURCES)}")
        if metric.get("goal", "min") not in ("min", "max"):
            raise bad(f"metric {metric['name']!r}: goal must be min or max")
        if source == "regex":
            try:
                groups = re.compile(str(metric.get("pattern", ""))).groups
            except re.error as error:
                raise bad(f"metric {metric['name']!r}: pattern does not compile ({error})") from None
            if not metric.get("pattern") or groups < 1:
                raise bad(f"metric {metric['name']!r}: 'pattern' needs a (group) that captures the number")
            if metric.get("stream", "both") not in STREAMS:
                raise bad(f"metric {metric['name']!r}: stream must be one of {', '.join(STREAMS)}")
        if source in ("json", "file_size") and not metric.get("file"):
            raise bad(f"metric {metric['name']!r}: source {source} needs 'file' (e.g. {{workdir}}/result.json)")
        if source == "json" and not metric.get("key"):
            raise bad(f"metric {metric['name']!r}: source json needs 'key' (e.g. results.time)")
    Space.from_spec(spec)  # option types, ranges and constraints
    return spec


def load(path: str | Path, environment: str | None = None) -> CommandSystem:
    """The command system declared in the YAML file ``path``."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise TradeoffError(f"cannot read command spec {path}: {error}".splitlines()[0]) from None
    return CommandSystem.from_spec(spec, environment, source=str(path))
