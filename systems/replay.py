"""Replay systems: serve recorded measurements as if the system were run.

A replay space is the finite set of recorded configurations; samplers draw from it. Measuring a
configuration returns its recorded metrics exactly; a value that the data marks invalid (a
timeout, a crash) comes back as a row with status ``invalid`` or ``timeout``. Where a table
records one configuration twice, the first record is served.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

import pyarrow as pa

from systems.base import MeasurementFailed, Metric, System
from tradeoff.environment import host_facts
from tradeoff.errors import TradeoffError
from tradeoff.measurements import (METRIC_PREFIX, OPTION_PREFIX, MeasurementStore, aggregate, failed, measured, new_row,
                                   schema_for, space_of)
from tradeoff.space import Option, Space, config_id


def datasets_dir() -> Path:
    """The published datasets: $TRADEOFF_DATASETS, else ../shared/datasets beside the project."""
    if os.environ.get("TRADEOFF_DATASETS"):
        return Path(os.environ["TRADEOFF_DATASETS"])
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        candidate = base.parent / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    raise TradeoffError("the published datasets were not found; set TRADEOFF_DATASETS to the folder that holds ase17/, storm-bo4co/, ...")


def read_table(path: Path, **kwargs) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **kwargs)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise TradeoffError(f"cannot read {path}: {error}".splitlines()[0]) from None


class Replay(System):
    """The recorded measurements of one environment."""

    @classmethod
    def from_records(cls, name: str, records: pd.DataFrame, options: list[Option], metrics: list[Metric], environment: str,
                     workload: str, description: str, invalid: dict | None = None, invalid_status: str = "invalid",
                     workloads: list[str] | None = None, separately: tuple = ()) -> Replay:
        """A replay serving ``records`` as recorded in ``environment`` on ``workload`` (``workloads``: all recorded there)."""
        system = cls(name=name, kind="replay", space=Space(options), metrics=metrics,
                     workloads={w: description for w in workloads or [workload]}, default_workload=workload,
                     environment=environment, description=description, separately=tuple(separately))
        system.index(records, invalid, invalid_status)
        return system

    def index(self, records: pd.DataFrame, invalid: dict | None = None, invalid_status: str = "invalid") -> None:
        """Serve ``records`` (option and metric columns); ``invalid`` maps a metric to a rule that marks bad values."""
        configs = self.space.to_frame(records[self.space.names].to_dict("records"))
        ids = [config_id(c) for c in configs.to_dict("records")]
        metrics = records[self.metric_names].to_numpy(dtype=float)
        bad = np.zeros(len(records), dtype=bool)
        for metric, rule in (invalid or {}).items():
            bad |= rule(records[metric].to_numpy(dtype=float))
        self._by_config = {}
        self._records = list(zip(configs.to_dict("records"), metrics, bad))  # every record, repeated ones too
        for cid, values, is_bad in zip(ids, metrics, bad):
            self._by_config.setdefault(cid, (values, is_bad))
        self._invalid_status = invalid_status
        self.space = self.space.with_population(configs.drop_duplicates())

    def run(self, config: dict, workload: str, timeout: float, cpus: list[int]) -> dict[str, float]:
        record = self._by_config.get(config_id(config))
        if record is None:
            raise MeasurementFailed("this configuration was never recorded; replay systems serve recorded configurations only")
        values, is_bad = record
        if is_bad:
            raise MeasurementFailed(f"recorded as {self._invalid_status} ({', '.join(f'{v:g}' for v in values)})", status=self._invalid_status)
        return dict(zip(self.metric_names, values.tolist()))

    def run_part(self, config: dict, workload: str, timeout: float, cpus: list[int], metrics: tuple[str, ...]) -> dict[str, float]:
        recorded = self.run(config, workload, timeout, cpus)
        return {m: recorded[m] for m in metrics}


def from_campaign(folder: str | Path) -> Replay:
    """Replay any stored campaign or imported table: each configuration serves its median metrics."""
    frame = MeasurementStore(folder).read()
    summary = aggregate(frame)
    summary = summary[summary["status"] == "ok"]
    if summary.empty:
        raise TradeoffError(f"{folder} holds no successful measurement to replay")
    space = space_of(frame)
    records = summary.rename(columns=lambda c: c[len(OPTION_PREFIX):] if c.startswith(OPTION_PREFIX) else
                             c[len(METRIC_PREFIX):] if c.startswith(METRIC_PREFIX) else c)
    metrics = [Metric(m) for m in [c[len(METRIC_PREFIX):] for c in frame.columns if c.startswith(METRIC_PREFIX)]]
    first = frame.iloc[0]
    return Replay.from_records(str(first["system"]), records, space.options, metrics, str(first["environment"]),
                               str(first["workload"]), f"replay of {folder}")


def recorded_frame(system: Replay) -> pd.DataFrame:
    """Every record of a replay as a measurement table, without Ray (replaying costs nothing).

    A configuration recorded n times gives repetitions 0..n-1 in table order; invalid records
    are rows with the replay's invalid status."""
    workload, campaign, seen, rows, host = system.default_workload, f"recorded-{system.environment}", {}, [], host_facts()
    for config, values, is_bad in system._records:
        key = config_id(config)
        seen[key] = seen.get(key, -1) + 1
        row = new_row(system=system.name, environment=system.environment, workload=workload, config=config,
                      repetition=seen[key], campaign=campaign, cpus=[], version="", host=host)
        if is_bad:
            failed(row, system._invalid_status, "recorded as " + system._invalid_status)
        else:
            measured(row, dict(zip(system.metric_names, values)))
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=schema_for(system.space, system.metric_names)).to_pandas()


def environment_frame(spec: str | Path) -> pd.DataFrame:
    """The measurements of one environment: a campaign folder, or ``SYSTEM:ENVIRONMENT[:WORKLOAD]``
    naming a replay system's recorded table (e.g. ``ase17-x264:feature8_2762_128``)."""
    if Path(spec).is_dir():
        return MeasurementStore(spec).read()
    from systems import SYSTEMS, get_system
    name, _, rest = str(spec).partition(":")
    environment, _, workload = rest.partition(":")
    if name not in SYSTEMS.names() or SYSTEMS.kind(name) != "replay":
        raise TradeoffError(f"{spec!r} is neither a campaign folder nor SYSTEM:ENVIRONMENT[:WORKLOAD] of a replay system "
                            "(e.g. ase17-x264:feature8_2762_128); check the path or run 'tradeoff systems'")
    return recorded_frame(get_system(name, environment or None, workload or None))
