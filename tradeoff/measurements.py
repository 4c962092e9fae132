"""The measurement table: one schema for everything, and its incremental Parquet store.

One row is one repetition of one configuration. Columns:

| column            | type      | meaning                                                     |
|-------------------|-----------|-------------------------------------------------------------|
| campaign          | string    | campaign id (same settings give the same id)                |
| system            | string    | system name, e.g. ``x264``                                  |
| environment       | string    | environment name (hardware/version label, ``local`` live)   |
| workload          | string    | workload id, e.g. ``clip-352x288-32``                      |
| host, cpu_model   | string    | where it ran                                                |
| cores, memory_gb  | int/float | the host's logical cores and memory                         |
| os                | string    | operating system and kernel                                 |
| program_version   | string    | the measured program's version                              |
| cpus              | string    | cores the measurement was pinned to, e.g. ``0`` or ``0,1``  |
| config_id         | string    | stable hash of the configuration                            |
| repetition        | int       | 0-based repetition index                                    |
| status            | string    | ``ok``, ``failed``, ``timeout`` or ``invalid``               |
| exit_code         | int       | the program's exit code where one ran (null otherwise)      |
| error             | string    | what went wrong (tail of stderr), null when ok              |
| started_at        | timestamp | UTC start of the measurement                                |
| duration_s        | float     | wall time of the whole measurement, overhead included       |
| node, node_id     | string    | the Ray node it ran on: its ``tradeoff-node`` label (else   |
|                   |           | its host name) and Ray's node id                            |
| node_cpus         | int       | the CPUs that node gives Ray                                |
| attempt           | int       | 1-based: attempts before it were lost to infrastructure     |
| measured          | string    | the metrics a partial measurement measured, comma-joined    |
|                   |           | (``PART_SEP``); null: every metric (a full measurement)     |
| ``opt.<name>``    | typed     | one column per option (bool, int64, float64, string)        |
| ``metric.<name>`` | float64   | one column per metric (null when the run failed)            |

A measurement's identity is ``IDENTITY``: (system, environment, workload, config_id, measured,
repetition). Resuming (``done``), reading (de-duplication) and compacting all key on it, so a
measurement of one workload never stands in for another's, nor a partial measurement (a system
that measures some metrics alone, e.g. a DNN's inference time without training it) for a full one:
repetition 0 of the inference time alone and repetition 0 of the full run are two measurements.
Every row written before ``measured`` existed reads it as null: a full measurement, which it was.
The campaign id is not part of it: campaigns of other samplers or seeds on the same folder share
what is already measured.

A campaign folder holds one system, environment and workload. A campaign on a folder that holds
another one is refused before anything is measured (``check_compatible``), rather than measured
alongside: every reader (show, replay, models, transfer) takes a folder as one environment's table.

Rows are built here only (``new_row``, ``failed``, ``measured``), for live runs, replays, failures
and imports, so every writer fills the same columns and a status is one of ``STATUSES``.

On disk a campaign folder holds ``measurements.parquet/``, a folder of Parquet part files that
``pandas.read_parquet`` reads as one table. Each flush writes a new part atomically, so a killed
campaign loses only the measurements in flight. Part names start with their write time, so the
parts read in the order written and the last row of an identity is the newest (``_unique``). The
schema can grow: a part written before a base column existed reads with that column null, takes
new parts beside it, and ``compact`` rewrites it into the current schema (base columns must
therefore be nullable).

A measurement lost to the infrastructure (its node died, its worker became unreachable, the
driver stopped) is no row: it is an attempt (``attempts/``, ``ATTEMPT_FIELDS``) and is measured
again. Rows the engine wrote before it could tell such a loss from a hung measurement — ``timeout``
rows whose error begins "worker gave no result after" (``RETRIED``) — are not counted as done, so
a rerun measures them again and the new row supersedes them.

One driver writes a folder at a time: ``lock`` holds ``FOLDER/.lock`` (an flock, released by the
kernel however the holder ends) and names its holder in it; taking it removes the temporary
files a killed writer left behind. The holder keeps ``FOLDER/.in-flight.json`` (``note_in_flight``)
naming the measurements running now; a driver that finds it when it takes the lock records them
as attempts lost with the driver before it (killed, or interrupted).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import math
import os
import socket
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tradeoff.errors import TradeoffError
from tradeoff.space import Space, config_id, infer_options

OPTION_PREFIX = "opt."
METRIC_PREFIX = "metric."
STATUSES = ("ok", "failed", "timeout", "invalid")

BASE_FIELDS = [
    ("campaign", pa.string()), ("system", pa.string()), ("environment", pa.string()), ("workload", pa.string()),
    ("host", pa.string()), ("cpu_model", pa.string()), ("cores", pa.int64()), ("memory_gb", pa.float64()),
    ("os", pa.string()), ("program_version", pa.string()), ("cpus", pa.string()),
    ("config_id", pa.string()), ("repetition", pa.int64()), ("status", pa.string()), ("exit_code", pa.int64()),
    ("error", pa.string()), ("started_at", pa.timestamp("us", tz="UTC")), ("duration_s", pa.float64()),
    ("node", pa.string()), ("node_id", pa.string()), ("node_cpus", pa.int64()), ("attempt", pa.int64()),
    ("measured", pa.string()),
]
ATTEMPT_FIELDS = [
    ("config_id", pa.string()), ("repetition", pa.int64()), ("attempt", pa.int64()), ("node", pa.string()),
    ("node_id", pa.string()), ("error", pa.string()), ("started", pa.timestamp("us", tz="UTC")),
    ("ended", pa.timestamp("us", tz="UTC")),
]
RETRIED = ("timeout", "worker gave no result after")  # the old watchdog's rows: possibly a lost worker, not a hang
IDENTITY = ("system", "environment", "workload", "config_id", "measured", "repetition")
PART_SEP = ","  # between the metric names of a partial measurement's ``measured``
ERROR_CHARS = 2000  # the tail of an error kept in a row
_ARROW_TYPES = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "categorical": pa.string()}


def schema_for(space: Space, metrics: Iterable[str]) -> pa.Schema:
    fields = [pa.field(name, kind) for name, kind in BASE_FIELDS]
    fields += [pa.field(OPTION_PREFIX + o.name, _ARROW_TYPES[o.type]) for o in space.options]
    fields += [pa.field(METRIC_PREFIX + m, pa.float64()) for m in metrics]
    return pa.schema(fields)


def new_row(*, system: str, environment: str, workload: str, config: dict, repetition: int, campaign: str,
            cpus: list[int] | None = None, version: str | None = None, host: Mapping | None = None,
            started_at: dt.datetime | None = None) -> dict:
    """The row of one repetition of one configuration, status ``ok`` until ``failed`` says otherwise.

    ``host`` holds the facts of where it runs (``tradeoff.environment.host_facts``); they stay
    null, as do ``cpus`` and ``version``, where they are unknown (an imported table)."""
    row = dict.fromkeys(name for name, _ in BASE_FIELDS)
    row.update(host or {})
    row.update(campaign=campaign, system=system, environment=environment, workload=workload, program_version=version,
               cpus=None if cpus is None else ",".join(map(str, cpus)), config_id=config_id(config),
               repetition=repetition, status="ok", started_at=started_at or dt.datetime.now(dt.timezone.utc))
    row.update({OPTION_PREFIX + k: v for k, v in config.items()})
    return row


def measured(row: dict, metrics: Mapping[str, float]) -> dict:
    """``row`` with its metric values; a missing (NaN) value is stored as null."""
    values = {name: float(value) for name, value in metrics.items()}
    row.update({METRIC_PREFIX + name: None if math.isnan(value) else value for name, value in values.items()})
    return row


def part_label(metrics: Iterable[str] | None) -> str | None:
    """The ``measured`` of a measurement of ``metrics`` only (None or empty: a full measurement)."""
    return PART_SEP.join(sorted(metrics)) if metrics else None


def part_metrics(label) -> tuple[str, ...]:
    """The metrics a row's ``measured`` names; () for a full measurement (null, as every old row)."""
    return tuple(label.split(PART_SEP)) if isinstance(label, str) and label else ()


def failed(row: dict, status: str, error: str, exit_code: int | None = None) -> dict:
    """``row`` marked as a failure of one of the failure ``STATUSES``, keeping the error's tail."""
    check_failure(status)
    row.update(status=status, error=error[-ERROR_CHARS:], exit_code=exit_code)
    return row


def check_failure(status: str) -> None:
    if status == "ok" or status not in STATUSES:
        raise ValueError(f"{status!r} is no failure status; use one of {', '.join(STATUSES[1:])}")


def identity(row: Mapping) -> tuple:
    """What makes a measurement itself (``IDENTITY``), as ``MeasurementStore.done`` holds it (a
    full measurement's ``measured`` as None, however a reader spelt its null)."""
    return tuple(part_label(part_metrics(row.get(name))) if name == "measured" else row[name] for name in IDENTITY)


def option_names(frame: pd.DataFrame) -> list[str]:
    return [c[len(OPTION_PREFIX):] for c in frame.columns if c.startswith(OPTION_PREFIX)]


def options_of(frame: pd.DataFrame, names: Iterable[str] | None = None) -> pd.DataFrame:
    """The option columns of a measurement table (``names``, else all), named by option."""
    names = option_names(frame) if names is None else list(names)
    return frame[[OPTION_PREFIX + n for n in names]].rename(columns=lambda c: c[len(OPTION_PREFIX):])


def metric_names(frame: pd.DataFrame) -> list[str]:
    return [c[len(METRIC_PREFIX):] for c in frame.columns if c.startswith(METRIC_PREFIX)]


def space_of(frame: pd.DataFrame) -> Space:
    """A space inferred from a table's option columns, with the measured configurations as population."""
    names = option_names(frame)
    if not names:
        raise TradeoffError("the table has no option columns (named 'opt.<name>'); import it with 'tradeoff import --options'")
    population = frame[[OPTION_PREFIX + n for n in names]].drop_duplicates()
    population.columns = names
    return Space(infer_options(population), population=population)


def measured_configurations(folder: str | Path, space: Space) -> list[dict]:
    """The configurations a campaign folder measured successfully, in the order first measured, as
    configurations of ``space`` (options it lacks take defaults): to measure a source campaign's
    sample again in a target environment, so the two can be compared configuration by configuration."""
    frame = MeasurementStore(folder).read()
    ok = frame[frame["status"] == "ok"].sort_values("started_at", kind="stable").drop_duplicates("config_id")
    if ok.empty:
        raise TradeoffError(f"{folder} holds no successful measurement to take configurations from")
    extra = [name for name in option_names(ok) if name not in space.names]
    if extra:
        raise TradeoffError(f"{folder} sets option {extra[0]!r}, which this system and environment do not have; "
                            "give a campaign of the same system (a threads-N environment pins 'threads')")
    return [space.validate(config, fill_defaults=True) for config in options_of(ok).to_dict("records")]


def aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: options, the median of each metric over successful repetitions,
    its coefficient of variation (``cv.<metric>``), the number of successful repetitions, and a
    status that is ``ok`` when any repetition succeeded, else the first failure's status.

    Partial measurements (``measured`` set) join their configuration's row: a metric's median is
    over the successful rows that hold it, NaN where none does (a configuration whose inference
    time alone was measured has no accuracy yet), and ``reps_ok`` counts every successful row."""
    if frame.empty:
        return frame
    options = [OPTION_PREFIX + n for n in option_names(frame)]
    metrics = [METRIC_PREFIX + m for m in metric_names(frame)]
    keys = [name for name in IDENTITY if name not in ("repetition", "measured")]  # one configuration of one environment and workload
    ok = frame[frame["status"] == "ok"]
    first = frame.sort_values("repetition").groupby(keys, sort=False, dropna=False).first()
    summary = first[options].copy()
    grouped = ok.groupby(keys, sort=False, dropna=False)[metrics]
    median, mean, std = grouped.median(), grouped.mean(), grouped.std(ddof=0)
    for column in metrics:
        summary[column] = median[column].reindex(summary.index)
        summary["cv." + column[len(METRIC_PREFIX):]] = (std[column] / mean[column]).reindex(summary.index)
    summary["reps_ok"] = ok.groupby(keys, sort=False, dropna=False).size().reindex(summary.index).fillna(0).astype(int)
    summary["status"] = np.where(summary["reps_ok"] > 0, "ok", first["status"])
    return summary.reset_index()


class MeasurementStore:
    """The Parquet measurements of one campaign folder, appended part by part."""

    def __init__(self, folder: str | Path, schema: pa.Schema | None = None):
        self.folder = Path(folder)
        self.path = self.folder / "measurements.parquet"
        self.schema = schema

    def exists(self) -> bool:
        return self.path.is_dir() and any(self.path.glob("*.parquet"))

    def read(self) -> pd.DataFrame:
        if not self.exists():
            if self.schema is None:
                raise TradeoffError(f"no measurements in {self.folder}; run 'tradeoff campaign ... --out {self.folder}' first")
            return self.schema.empty_table().to_pandas()
        return _unique(self._read()).to_pandas()

    def distinct(self, column: str) -> list:
        """The values one column holds (its nulls left out), reading that column only."""
        if not self.exists():
            return []
        return [value for value in pc.unique(self._read(columns=[column]).column(column)).to_pylist() if value is not None]

    def done(self) -> set[tuple]:
        """The identity (``IDENTITY``) of every stored measurement, failed ones included, except
        the old watchdog's ``timeout`` rows (``RETRIED``): a rerun measures those again."""
        if not self.exists():
            return set()
        frame = _unique(self._read(columns=[*IDENTITY, "status", "error"])).to_pandas()
        retried = (frame["status"] == RETRIED[0]) & frame["error"].fillna("").str.startswith(RETRIED[1])
        return {identity(row) for row in frame.loc[~retried, list(IDENTITY)].to_dict("records")}

    @contextmanager
    def lock(self):
        """Hold the folder for this process (re-entrant); a second driver gets one line naming the holder."""
        key = str(self.folder.resolve())
        if key in _held:
            _held[key][1] += 1
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = open(self.folder / ".lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise TradeoffError(f"{self.folder} is being measured by {holder}; wait for it to finish, or give "
                                    "another --out") from None
            handle.seek(0)
            self._recover_in_flight(handle.read().strip())
            handle.truncate(0)
            handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S} "
                         f"UTC ({' '.join(sys.argv)[:300]})\n")
            handle.flush()
            for stale in [*self.path.glob(".*.tmp"), *(self.folder / "attempts").glob(".*.tmp")]:
                stale.unlink()  # a killed writer's half-written part: only the holder writes
            _held[key] = [handle, 1]
        try:
            yield self
        finally:
            _held[key][1] -= 1
            if not _held[key][1]:
                handle = _held.pop(key)[0]
                handle.truncate(0)
                handle.close()

    def note_in_flight(self, attempts: list[dict]) -> None:
        """Name the measurements running now (``ATTEMPT_FIELDS`` but error and ended), replacing the last note."""
        note = self.folder / IN_FLIGHT
        if not attempts:
            note.unlink(missing_ok=True)
            return
        hidden = self.folder / f"{IN_FLIGHT}.tmp"
        hidden.write_text(json.dumps(attempts, default=str))
        os.replace(hidden, note)

    def _recover_in_flight(self, holder: str) -> None:
        """The measurements a driver that ended without its results had running: lost attempts."""
        note = self.folder / IN_FLIGHT
        if not note.exists():
            return
        ended = dt.datetime.fromtimestamp(note.stat().st_mtime, dt.timezone.utc)
        why = f"its driver ({holder or 'a process'}) ended before its result"
        self.record_attempts([{**a, "started": a["started"] and dt.datetime.fromisoformat(a["started"]), "ended": ended,
                               "error": why[:ERROR_CHARS]} for a in json.loads(note.read_text())])
        note.unlink()

    def record_attempts(self, attempts: list[dict]) -> None:
        """Store measurements lost to the infrastructure (``ATTEMPT_FIELDS``), one part per call."""
        if attempts:
            self._write(pa.Table.from_pylist(attempts, schema=ATTEMPT_SCHEMA), _part_name(), self.folder / "attempts")

    def attempts(self) -> pd.DataFrame:
        """Every lost attempt, oldest first (empty where none was lost)."""
        folder = self.folder / "attempts"
        if not any(folder.glob("*.parquet")):
            return ATTEMPT_SCHEMA.empty_table().to_pandas()
        return pq.read_table(folder, schema=ATTEMPT_SCHEMA).to_pandas().sort_values("ended", kind="stable", ignore_index=True)

    def check_compatible(self, system: str, environment: str, workload: str) -> None:
        """Refuse, before anything is measured, a folder of other options or metrics, or one that
        holds another system, environment or workload (a folder holds one of each)."""
        if self.schema is None or not self.exists():
            return
        stored = self._stored_schema()
        if _extra_fields(stored) != _extra_fields(self.schema):
            raise TradeoffError(f"{self.folder} holds measurements with other options or metrics; use another --out")
        table = self._read(columns=["system", "environment", "workload"])
        held = set(zip(*(table.column(name).to_pylist() for name in ("system", "environment", "workload"))))
        if held != {(system, environment, workload)}:
            listed = "; ".join(" / ".join(map(str, h)) for h in sorted(held, key=str))
            raise TradeoffError(f"{self.folder} holds measurements of {listed} (system / environment / workload), not "
                                f"{system} / {environment} / {workload}; a folder holds one of each: use another --out")

    def _stored_schema(self) -> pa.Schema:
        """The schema the parts read as together: the current base columns (those an old part
        lacks read as null), then the option and metric columns the parts hold."""
        base = dict(BASE_FIELDS)
        extra: dict[str, pa.Field] = {}
        for part in sorted(self.path.glob("*.parquet")):
            try:
                fields = pq.read_schema(part)
            except Exception as error:
                raise TradeoffError(f"cannot read {part} ({str(error).splitlines()[0]}); if a crash cut it short, delete it "
                                    "and rerun: its rows are measured again") from None
            for stored in fields:
                known = pa.field(stored.name, base[stored.name]) if stored.name in base else extra.setdefault(stored.name, stored)
                if not stored.type.equals(known.type):
                    raise TradeoffError(f"{part} stores column {stored.name!r} as {stored.type}, not {known.type}; "
                                        "use another --out")
        return pa.schema([pa.field(name, kind) for name, kind in BASE_FIELDS] + list(extra.values()))

    def check_writable(self) -> None:
        """Refuse, before anything runs, a folder that is a file or that cannot be made or written
        (tried by making a file in the nearest existing folder: root passes every permission check)."""
        existing = next(p for p in (self.folder, *self.folder.parents) if p.exists())
        if not existing.is_dir():
            raise TradeoffError(f"{existing} is a file, not a folder; give --out a new folder or a campaign folder")
        try:
            with tempfile.TemporaryFile(dir=existing):
                pass
        except OSError as error:
            raise TradeoffError(f"cannot write {self.folder} ({error.strerror}); give --out a folder you can write") from None

    def append(self, rows: list[dict]) -> None:
        if not rows:
            return
        unknown = {row["status"] for row in rows} - set(STATUSES)
        if unknown:
            raise ValueError(f"status {sorted(unknown)[0]!r} is none of {', '.join(STATUSES)}")
        table = pa.Table.from_pylist(rows, schema=self.schema)
        self._write(table, _part_name())

    def compact(self) -> None:
        """Merge the part files into one in the current schema, so that reading a large campaign
        stays fast and an old part takes the columns added since."""
        parts = sorted(self.path.glob("part-*.parquet"))
        schema = self._stored_schema() if parts else None
        if len(parts) == 0 or len(parts) == 1 and pq.read_schema(parts[0]).remove_metadata().equals(schema):
            return
        self._write(_unique(self._read(schema=schema)), _part_name())
        for part in parts:
            part.unlink()

    def _read(self, columns: list[str] | None = None, schema: pa.Schema | None = None) -> pa.Table:
        schema = schema or self._stored_schema()
        try:
            return pq.read_table(self.path, columns=columns, schema=schema)
        except Exception as error:
            raise TradeoffError(f"cannot read {self.path}: {error}".splitlines()[0]) from None

    def _write(self, table: pa.Table, name: str, folder: Path | None = None) -> None:
        folder = folder or self.path
        folder.mkdir(parents=True, exist_ok=True)
        hidden = folder / f".{name}.tmp"  # pyarrow skips dot-files while we write
        pq.write_table(table, hidden)
        os.replace(hidden, folder / name)


IN_FLIGHT = ".in-flight.json"
ATTEMPT_SCHEMA = pa.schema([pa.field(name, kind) for name, kind in ATTEMPT_FIELDS])
_held: dict[str, list] = {}  # folders this process holds: [lock file, depth]


def _part_name() -> str:
    """A new part's name, in write order (the clock first, then a random tail)."""
    return f"part-t{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"  # "t": after the random hex names of old parts


def _unique(table: pa.Table) -> pa.Table:
    """The last row of each identity, in table order: a crash between writing a compacted part and
    removing its sources leaves duplicates."""
    order = "__order"
    last = table.select(list(IDENTITY)).append_column(order, pa.array(np.arange(len(table)))) \
        .group_by(list(IDENTITY), use_threads=False).aggregate([(order, "max")])
    return table.take(np.sort(last.column(order + "_max").to_numpy()))


def _extra_fields(schema: pa.Schema) -> list[pa.Field]:
    """The option and metric columns: what a base column added later does not change."""
    base = {name for name, _ in BASE_FIELDS}
    return [field.remove_metadata() for field in schema if field.name not in base]
