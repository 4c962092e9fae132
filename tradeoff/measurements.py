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
| ``opt.<name>``    | typed     | one column per option (bool, int64, float64, string)        |
| ``metric.<name>`` | float64   | one column per metric (null when the run failed)            |

On disk a campaign folder holds ``measurements.parquet/``, a folder of Parquet part files that
``pandas.read_parquet`` reads as one table. Each flush writes a new part atomically, so a killed
campaign loses only the measurements in flight.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tradeoff.errors import TradeoffError
from tradeoff.space import Space, infer_options

OPTION_PREFIX = "opt."
METRIC_PREFIX = "metric."
STATUSES = ("ok", "failed", "timeout", "invalid")

BASE_FIELDS = [
    ("campaign", pa.string()), ("system", pa.string()), ("environment", pa.string()), ("workload", pa.string()),
    ("host", pa.string()), ("cpu_model", pa.string()), ("cores", pa.int64()), ("memory_gb", pa.float64()),
    ("os", pa.string()), ("program_version", pa.string()), ("cpus", pa.string()),
    ("config_id", pa.string()), ("repetition", pa.int64()), ("status", pa.string()), ("exit_code", pa.int64()),
    ("error", pa.string()), ("started_at", pa.timestamp("us", tz="UTC")), ("duration_s", pa.float64()),
]
_ARROW_TYPES = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "categorical": pa.string()}


def schema_for(space: Space, metrics: Iterable[str]) -> pa.Schema:
    fields = [pa.field(name, kind) for name, kind in BASE_FIELDS]
    fields += [pa.field(OPTION_PREFIX + o.name, _ARROW_TYPES[o.type]) for o in space.options]
    fields += [pa.field(METRIC_PREFIX + m, pa.float64()) for m in metrics]
    return pa.schema(fields)


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
    status that is ``ok`` when any repetition succeeded, else the first failure's status."""
    if frame.empty:
        return frame
    options = [OPTION_PREFIX + n for n in option_names(frame)]
    metrics = [METRIC_PREFIX + m for m in metric_names(frame)]
    keys = ["system", "environment", "workload", "config_id"]
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
        try:
            frame = pd.read_parquet(self.path)
        except Exception as error:
            raise TradeoffError(f"cannot read {self.path}: {error}".splitlines()[0]) from None
        # A crash between writing a compacted part and removing its sources leaves duplicates.
        return frame.drop_duplicates(["campaign", "config_id", "repetition", "environment", "workload"], keep="last").reset_index(drop=True)

    def done(self) -> set[tuple[str, int]]:
        """(config_id, repetition) of every stored measurement, failed ones included."""
        if not self.exists():
            return set()
        table = pq.read_table(self.path, columns=["config_id", "repetition"])
        return set(zip(table.column("config_id").to_pylist(), table.column("repetition").to_pylist()))

    def check_compatible(self) -> None:
        """Refuse to mix measurements of another space or metric set into this folder."""
        if self.schema is None or not self.exists():
            return
        stored = pq.read_schema(next(self.path.glob("*.parquet")))
        if not stored.remove_metadata().equals(self.schema):
            raise TradeoffError(f"{self.folder} holds measurements with other options or metrics; use another --out")

    def append(self, rows: list[dict]) -> None:
        if not rows:
            return
        table = pa.Table.from_pylist(rows, schema=self.schema)
        self._write(table, f"part-{uuid.uuid4().hex}.parquet")

    def compact(self) -> None:
        """Merge the part files into one, so that reading a large campaign stays fast."""
        parts = sorted(self.path.glob("part-*.parquet"))
        if len(parts) <= 1:
            return
        table = pa.concat_tables([pq.read_table(p, schema=self.schema) for p in parts])
        self._write(table, f"part-{uuid.uuid4().hex}.parquet")
        for part in parts:
            part.unlink()

    def _write(self, table: pa.Table, name: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        hidden = self.path / f".{name}.tmp"  # pyarrow skips dot-files while we write
        pq.write_table(table, hidden)
        os.replace(hidden, self.path / name)
