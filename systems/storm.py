"""Replay of the BO4CO Apache Storm tables: one environment per table."""

from __future__ import annotations

from systems.base import metrics_from_spec
from systems.replay import Replay, datasets_dir, read_table
from tradeoff.space import infer_options
from tradeoff.errors import TradeoffError


class Storm(Replay):
    """One topology's table; its workload is the topology (the environment's first part)."""

    @classmethod
    def from_spec(cls, spec: dict, environment: str | None = None, workload: str | None = None) -> Storm:
        environment = environment or spec["environments"][0]
        if environment not in spec["environments"]:
            raise TradeoffError(f"storm has no environment {environment!r}; its environments: {', '.join(spec['environments'])}")
        table = read_table(datasets_dir() / spec["folder"] / f"{environment}.csv")
        # The last two columns are the responses; option names lose BO4CO's '$' marker.
        records = table.rename(columns=lambda c: c.lstrip("<$"))
        options = infer_options(records.iloc[:, :-2])
        return cls.from_records(spec["system"], records, options, metrics_from_spec(spec), environment, environment.split("-")[0],
                                spec["description"])
