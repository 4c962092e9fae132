"""Turn an external measurement table into Tradeoff's schema."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from tradeoff.errors import TradeoffError
from tradeoff.measurements import MeasurementStore, failed, measured, new_row, schema_for
from tradeoff.space import Space, config_id, infer_options


def read_any(path: str | Path) -> pd.DataFrame:
    """A .csv or .parquet table; an empty file or a header that names a column twice is refused
    (pandas would rename the second ``a`` to ``a.1`` and make it an option of its own)."""
    path = Path(path)
    if not path.is_file():
        raise TradeoffError(f"table {path} does not exist; give a readable .csv or .parquet file")
    if path.stat().st_size == 0:
        raise TradeoffError(f"{path} is empty; give a table with a header row and one row per measurement")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".csv":
            with path.open(newline="") as file:
                header = next(csv.reader(file), [])
            twice = [name for name, count in Counter(header).items() if count > 1]
            if twice:
                raise TradeoffError(f"{path} has column {twice[0]!r} twice; give each column a name of its own")
            return pd.read_csv(path)
    except TradeoffError:
        raise
    except pd.errors.EmptyDataError:
        raise TradeoffError(f"{path} is empty; give a table with a header row and one row per measurement") from None
    except Exception as error:
        raise TradeoffError(f"cannot read {path}: {error}".splitlines()[0]) from None
    raise TradeoffError(f"table {path} is neither .csv nor .parquet; convert it to one of them")


def import_table(path: Path, options: list[str], metrics: list[str], system: str, environment: str, workload: str,
                 out: Path) -> pd.DataFrame:
    """Write ``out/measurements.parquet`` with one row per table row (repeated configurations
    become repetitions); non-numeric or missing metric values become failed rows."""
    twice = [name for name, count in Counter(options + metrics).items() if count > 1]
    if twice:
        role = "both an option and a metric" if twice[0] in options and twice[0] in metrics else "given twice"
        raise TradeoffError(f"column {twice[0]!r} is {role}; name each column once in --options or --metrics")
    MeasurementStore(out).check_writable()
    table = read_any(path)
    missing = [c for c in options + metrics if c not in table.columns]
    if missing:
        raise TradeoffError(f"{path} has no column {missing[0]!r}; its columns: {', '.join(map(str, table.columns))}")
    if not options or not metrics:
        raise TradeoffError("give at least one option column (--options) and one metric column (--metrics)")
    space = Space(infer_options(table[options]))
    store = MeasurementStore(out, schema_for(space, metrics))
    if store.exists():
        raise TradeoffError(f"{out} already holds measurements; import into a new folder")
    numbers = table[metrics].apply(pd.to_numeric, errors="coerce").replace([np.inf, -np.inf], np.nan)
    configs = space.to_frame(table[options].to_dict("records")).to_dict("records")
    seen: dict[str, int] = {}
    rows, now = [], dt.datetime.now(dt.timezone.utc)
    for config, (_, values) in zip(configs, numbers.iterrows()):
        cid = config_id(config)
        seen[cid] = seen.get(cid, -1) + 1
        row = measured(new_row(system=system, environment=environment, workload=workload, config=config,
                               repetition=seen[cid], campaign=f"import-{path.stem}", started_at=now), values)
        if not values.notna().all():
            failed(row, "failed", "the table has no finite number for every metric")
        rows.append(row)
    store.append(rows)
    return store.read()
