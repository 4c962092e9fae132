"""Replay of the ASE'17 study's tables: SPEAR, x264, SQLite and SaC in every recorded environment."""

from __future__ import annotations

from functools import cache

import pandas as pd

from systems.base import Metric
from systems.replay import Replay, datasets_dir, read_table
from tradeoff.space import infer_options
from tradeoff.errors import TradeoffError


@cache
def _table(file: str) -> pd.DataFrame:
    # Headers repeat names (SQLite's operations, SPEAR's column 20): read by position.
    return read_table(datasets_dir() / "ase17" / file, header=None, skiprows=1)


@cache
def _header(file: str) -> tuple[str, ...]:
    with open(datasets_dir() / "ase17" / file) as handle:
        return tuple(handle.readline().strip().split(","))


def responses(spec: dict) -> dict[tuple[str, str], int]:
    """(environment, workload) -> column position of every response of a dataset."""
    header, n = _header(spec["file"]), spec["n_options"]
    if "blocks" in spec:
        ops = spec["operations"]
        return {(block, op): n + b * len(ops) + i for b, block in enumerate(spec["blocks"]) for i, op in enumerate(ops)}
    if spec.get("workload_columns"):
        return {(spec["environment"], header[i]): i for i in range(n, len(header))}
    renamed = {int(k): v for k, v in (spec.get("renamed") or {}).items()}
    # The workload is the last part of the environment name (SAT instance, frame count).
    columns = {}
    for i in range(n, len(header)):
        environment = renamed.get(i, header[i].removeprefix(spec["prefix"]))
        columns[(environment, environment.rsplit("_", 1)[1])] = i
    return columns


class Ase17(Replay):
    """One ASE'17 table: an environment picks its response columns, a workload one of them."""

    @classmethod
    def from_spec(cls, spec: dict, environment: str | None = None, workload: str | None = None) -> Ase17:
        name, columns = spec["system"], responses(spec)
        envs = list(dict.fromkeys(env for env, _ in columns))
        environment = environment or envs[0]
        if environment not in envs:
            raise TradeoffError(f"{name} has no environment {environment!r}; its environments: {', '.join(envs)}")
        workloads = [w for env, w in columns if env == environment]
        workload = workload or workloads[0]
        if workload not in workloads:
            raise TradeoffError(f"{name} in {environment} has no workload {workload!r}; its workloads: {', '.join(workloads)}")
        table, header = _table(spec["file"]), _header(spec["file"])
        n, metric = spec["n_options"], spec["metric"]
        records = table.iloc[:, :n].copy()
        records.columns = list(header[:n])
        records[metric["name"]] = table.iloc[:, columns[(environment, workload)]].to_numpy(dtype=float)
        rule = spec["invalid"]
        invalid = (lambda v: v >= rule["at_least"]) if "at_least" in rule else (lambda v: v == rule["equals"])
        return cls.from_records(name, records, infer_options(records.iloc[:, :n]), [Metric(metric["name"], metric["unit"], metric["goal"])],
                                environment, workload, spec["description"], {metric["name"]: invalid}, rule["status"], workloads)
