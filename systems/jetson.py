"""Replays of Jetson and DNN measurements: FlexiBO (TX2), L2S deeparch-xplorer, Unicorn.

Each table is read from ../shared/datasets as published; environments are the recorded
hardware, workloads the recorded models or data sets (each spec, e.g. systems/flexibo.yaml, lists
them); a spec's ``layout`` names how its published table is read.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from systems.base import metrics_from_spec, separately_from_spec
from systems.replay import Replay, datasets_dir, read_table
from tradeoff.errors import TradeoffError
from tradeoff.space import infer_options


def _pick(kind: str, value: str | None, allowed: list[str], name: str) -> str:
    value = value or allowed[0]
    if value not in allowed:
        raise TradeoffError(f"{name} has no {kind} {value!r}; its {kind}s: {', '.join(allowed)}")
    return value


def deeparch_files(folder: Path) -> dict[str, Path]:
    """data set -> the measurement file of one machine's folder (the one with most rows where a run repeats)."""
    files: dict[str, Path] = {}
    for path in sorted(folder.glob("exp_*.csv")):
        dataset = re.sub(r"_\d{4}-\d\d-\d\d.*$", "", path.stem.removeprefix("exp_"))
        if dataset not in files or _rows(path) > _rows(files[dataset]):
            files[dataset] = path
    return files


def _rows(path: Path) -> int:
    with open(path) as handle:
        return sum(1 for _ in handle)


def decode_one_hot(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns 'option@value' (one-hot) back to one column per option holding its value."""
    options: dict[str, list[str]] = {}
    for column in frame.columns:
        if "@" in column:
            option, _ = column.split("@", 1)
            options.setdefault(option, []).append(column)
    decoded = {}
    for option, columns in options.items():
        values = pd.to_numeric(pd.Series([c.split("@", 1)[1] for c in columns]))
        chosen = frame[columns].to_numpy().argmax(axis=1)
        decoded[option] = values.to_numpy()[chosen]
    return pd.DataFrame(decoded)


class Jetson(Replay):
    """One published table, read as its spec's ``layout`` (flexibo, deeparch, unicorn) says."""

    @classmethod
    def from_spec(cls, spec: dict, environment: str | None = None, workload: str | None = None) -> Jetson:
        name = spec["system"]
        environment = _pick("environment", environment, spec["environments"], name)
        records, options, workload, workloads = getattr(cls, f"_{spec['layout']}")(spec, environment, workload)
        metrics = metrics_from_spec(spec)
        records = records.dropna(subset=[m.name for m in metrics]).reset_index(drop=True)
        return cls.from_records(name, records, infer_options(records[options]), metrics, environment, workload,
                                spec["description"], workloads=workloads, separately=separately_from_spec(spec))

    @staticmethod
    def _flexibo(spec: dict, environment: str, workload: str | None) -> tuple[pd.DataFrame, list[str], str, list[str]]:
        workload = _pick("workload", workload, spec["workloads"], spec["system"])
        model, size = workload.split("-")
        records = read_table(datasets_dir() / spec["folder"] / f"tx2_sampled_output_{model}_{size}.csv")
        return records, spec["options"], workload, spec["workloads"]

    @staticmethod
    def _deeparch(spec: dict, environment: str, workload: str | None) -> tuple[pd.DataFrame, list[str], str, list[str]]:
        folder = datasets_dir() / spec["folder"]
        files = deeparch_files(folder / environment)
        workload = _pick("workload", workload, sorted(files), f"{spec['system']} on {environment}")
        configs = read_table(folder / "configurations_exp.csv", header=None, names=spec["options"]).astype(int)
        configs["config_id"] = range(1, len(configs) + 1)  # the measurement files name configurations by 1-based row
        return read_table(files[workload]).merge(configs, on="config_id"), spec["options"], workload, sorted(files)

    @staticmethod
    def _unicorn(spec: dict, environment: str, workload: str | None) -> tuple[pd.DataFrame, list[str], str, list[str]]:
        workload = _pick("workload", workload, spec["workloads"], spec["system"])
        table = read_table(datasets_dir() / spec["folder"] / environment / workload / f"{environment}_{workload}_baseline.csv")
        records = decode_one_hot(table)
        options = list(records.columns)
        for metric in metrics_from_spec(spec):
            records[metric.name] = table[metric.name].to_numpy()
        return records, options, workload, spec["workloads"]
