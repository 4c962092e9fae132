"""Replays of Jetson and DNN measurements: FlexiBO (TX2), L2S deeparch-xplorer, Unicorn.

Each table is read from ../shared/datasets as published; environments are the recorded
hardware, workloads the recorded models or data sets (systems/jetson.yaml lists them).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from systems.base import load_spec, metrics_from_spec
from systems.replay import Replay, datasets_dir, make_replay, read_table
from tradeoff.errors import TradeoffError
from tradeoff.space import infer_options


def _pick(kind: str, value: str | None, allowed: list[str], name: str) -> str:
    value = value or allowed[0]
    if value not in allowed:
        raise TradeoffError(f"{name} has no {kind} {value!r}; its {kind}s: {', '.join(allowed)}")
    return value


def _replay(name: str, records: pd.DataFrame, options: list[str], spec: dict, environment: str, workload: str,
            workloads: list[str]) -> Replay:
    metrics = metrics_from_spec(spec)
    records = records.dropna(subset=[m.name for m in metrics]).reset_index(drop=True)
    system = make_replay(name, records, infer_options(records[options]), metrics, environment, workload, spec["description"])
    system.workloads = {w: spec["description"] for w in workloads}
    return system


def flexibo(environment: str | None = None, workload: str | None = None) -> Replay:
    spec = load_spec("jetson")["flexibo"]
    environment = _pick("environment", environment, spec["environments"], "flexibo")
    workload = _pick("workload", workload, spec["workloads"], "flexibo")
    model, size = workload.split("-")
    records = read_table(datasets_dir() / spec["folder"] / f"tx2_sampled_output_{model}_{size}.csv")
    return _replay("flexibo", records, spec["options"], spec, environment, workload, spec["workloads"])


def deeparch_files(machine: str) -> dict[str, Path]:
    """data set -> the measurement file of one machine (the one with most rows where a run repeats)."""
    files: dict[str, Path] = {}
    for path in sorted((datasets_dir() / load_spec("jetson")["deeparch"]["folder"] / machine).glob("exp_*.csv")):
        dataset = re.sub(r"_\d{4}-\d\d-\d\d.*$", "", path.stem.removeprefix("exp_"))
        if dataset not in files or _rows(path) > _rows(files[dataset]):
            files[dataset] = path
    return files


def _rows(path: Path) -> int:
    with open(path) as handle:
        return sum(1 for _ in handle)


def deeparch(environment: str | None = None, workload: str | None = None) -> Replay:
    spec = load_spec("jetson")["deeparch"]
    environment = _pick("environment", environment, spec["environments"], "deeparch")
    files = deeparch_files(environment)
    workload = _pick("workload", workload, sorted(files), f"deeparch on {environment}")
    folder = datasets_dir() / spec["folder"]
    configs = read_table(folder / "configurations_exp.csv", header=None, names=spec["options"]).astype(int)
    configs["config_id"] = range(1, len(configs) + 1)  # the measurement files name configurations by 1-based row
    records = read_table(files[workload]).merge(configs, on="config_id")
    return _replay("deeparch", records, spec["options"], spec, environment, workload, sorted(files))


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


def unicorn(environment: str | None = None, workload: str | None = None) -> Replay:
    spec = load_spec("jetson")["unicorn"]
    environment = _pick("environment", environment, spec["environments"], "unicorn")
    workload = _pick("workload", workload, spec["workloads"], "unicorn")
    table = read_table(datasets_dir() / spec["folder"] / environment / workload / f"{environment}_{workload}_baseline.csv")
    records = decode_one_hot(table)
    options = list(records.columns)
    for metric in metrics_from_spec(spec):
        records[metric.name] = table[metric.name].to_numpy()
    return _replay("unicorn", records, options, spec, environment, workload, spec["workloads"])
