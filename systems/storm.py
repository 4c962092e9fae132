"""Replay of the BO4CO Apache Storm tables: one environment per table."""

from __future__ import annotations

from systems.base import load_spec, metrics_from_spec
from systems.replay import Replay, datasets_dir, make_replay, read_table
from tradeoff.space import infer_options
from tradeoff.errors import TradeoffError


def environments() -> list[str]:
    return load_spec("storm")["environments"]


def make(environment: str | None = None) -> Replay:
    spec = load_spec("storm")
    environment = environment or spec["environments"][0]
    if environment not in spec["environments"]:
        raise TradeoffError(f"storm has no environment {environment!r}; its environments: {', '.join(spec['environments'])}")
    table = read_table(datasets_dir() / spec["folder"] / f"{environment}.csv")
    # The last two columns are the responses; option names lose BO4CO's '$' marker.
    records = table.rename(columns=lambda c: c.lstrip("<$"))
    options = infer_options(records.iloc[:, :-2])
    return make_replay("storm", records, options, metrics_from_spec(spec), environment, environment.split("-")[0],
                       spec["description"])
