"""Prefect tasks of causal debugging: measure configurations on Ray and read their metrics back,
and draw the initial sample to learn from."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NONE

from tasks.campaign import measure_missing
from tasks.settings import Execution, Target
from tradeoff.measurements import METRIC_PREFIX, MeasurementStore, aggregate
from tradeoff.samplers.base import sample
from tradeoff.space import config_id


@task(cache_policy=NONE)
def measure_configs(target: Target, configs: list[dict], execution: Execution, folder: Path, campaign: str,
                    rounds: list[int] | None = None) -> list[dict | None]:
    """Measure what the folder does not hold yet (on Ray); each configuration's median metrics over
    the repetitions of its round (``rounds``, 0 for each by default: round k is repetitions
    k * reps to (k + 1) * reps - 1, a measurement asked for again), None where every one failed."""
    rounds = rounds or [0] * len(configs)
    for k in sorted(set(rounds)):
        measure_missing(target, [c for c, r in zip(configs, rounds) if r == k], replace(execution, reps=(k + 1) * execution.reps),
                        folder, campaign, progress=False)
    frame = MeasurementStore(folder).read()
    results, tables = [], {}
    for config, k in zip(configs, rounds):
        if k not in tables:
            repetitions = frame[frame["repetition"] // execution.reps == k]
            tables[k] = aggregate(repetitions).set_index("config_id")  # the folder holds this workload only
        table, key = tables[k], config_id(config)
        if key not in table.index or table.at[key, "status"] != "ok":
            results.append(None)
        else:
            metrics = [c for c in table.columns if c.startswith(METRIC_PREFIX)]
            results.append({c[len(METRIC_PREFIX):]: float(table.at[key, c]) for c in metrics if pd.notna(table.at[key, c])})
    return results


def asked_again(asked: dict[str, int], configs: list[dict]) -> list[int]:
    """Each configuration's round: how often it was asked for before in this session (``asked``
    counts). A rerun of a killed session asks in the same order, so its rounds find the same stored
    repetitions: nothing is measured twice and nothing measured is lost."""
    rounds = []
    for config in configs:
        key = config_id(config)
        rounds.append(asked.get(key, 0))
        asked[key] = rounds[-1] + 1
    return rounds


@task(cache_policy=NONE)
def initial_sample(target: Target, budget: int, seed: int) -> list[dict]:
    return sample(target.build().space, "random", budget, seed)
