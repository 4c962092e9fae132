import datetime as dt

import pandas as pd
import pytest

from systems.base import new_row
from systems.synthetic import Synthetic
from tradeoff.errors import TradeoffError
from tradeoff.measurements import MeasurementStore, aggregate, schema_for, space_of


@pytest.fixture()
def system():
    return Synthetic.variant(n_options=3, model="2 + 3*o1")


def rows(system, values, status="ok"):
    out = []
    for repetition, (config, value) in enumerate(values):
        row = new_row(system, config, "model", repetition, [0], "c", "v")
        row.update(status=status, duration_s=0.1, **{"metric.perf": value})
        out.append(row)
    return out


def test_parts_append_and_read_as_one_table(system, tmp_path):
    store = MeasurementStore(tmp_path, schema_for(system.space, system.metric_names))
    config = {"o1": True, "o2": False, "o3": False}
    store.append(rows(system, [(config, 5.0), (config, 5.2)]))
    store.append(rows(system, [({**config, "o1": False}, 2.0)]))
    frame = pd.read_parquet(tmp_path / "measurements.parquet")  # what a user reads
    assert len(frame) == 3
    assert frame["opt.o1"].dtype == bool and frame["metric.perf"].dtype == float
    assert frame["started_at"].dt.tz is not None
    assert len(store.done()) == 3  # (config_id, repetition) pairs: (a, 0), (a, 1), (b, 0)
    store.compact()
    assert len(list((tmp_path / "measurements.parquet").glob("*.parquet"))) == 1
    assert len(store.read()) == 3


def test_a_folder_of_another_space_is_refused(system, tmp_path):
    MeasurementStore(tmp_path, schema_for(system.space, system.metric_names)).append(rows(system, [({"o1": True, "o2": False, "o3": False}, 1.0)]))
    other = Synthetic.variant(n_options=4)
    with pytest.raises(TradeoffError, match="other options or metrics; use another --out"):
        MeasurementStore(tmp_path, schema_for(other.space, other.metric_names)).check_compatible()


def test_failed_rows_keep_their_place_and_null_metrics(system, tmp_path):
    store = MeasurementStore(tmp_path, schema_for(system.space, system.metric_names))
    failed = new_row(system, system.space.default(), "model", 0, [], "c", "v")
    failed.update(status="timeout", error="killed", duration_s=3.0)
    store.append([failed])
    frame = store.read()
    assert frame.loc[0, "status"] == "timeout" and pd.isna(frame.loc[0, "metric.perf"])


def test_aggregate_takes_median_and_cv_of_successful_repetitions(system):
    config = {"o1": True, "o2": False, "o3": False}
    frame = pd.DataFrame(rows(system, [(config, 1.0), (config, 2.0), (config, 6.0)]))
    failed = rows(system, [(config, float("nan"))], status="failed")[0] | {"repetition": 3}
    frame = pd.concat([frame, pd.DataFrame([failed])], ignore_index=True)
    table = aggregate(frame)
    assert len(table) == 1
    assert table.loc[0, "metric.perf"] == 2.0
    assert table.loc[0, "reps_ok"] == 3
    assert table.loc[0, "cv.perf"] == pytest.approx(pd.Series([1.0, 2.0, 6.0]).std(ddof=0) / 3.0)


def test_space_of_a_stored_table(system):
    frame = pd.DataFrame(rows(system, [({"o1": True, "o2": False, "o3": False}, 1.0), ({"o1": False, "o2": True, "o3": False}, 1.0)]))
    space = space_of(frame)
    assert space.names == ["o1", "o2", "o3"] and len(space.population) == 2


def test_started_at_is_utc(system):
    row = new_row(system, system.space.default(), "model", 0, [], "c", "v")
    assert row["started_at"].tzinfo == dt.timezone.utc
