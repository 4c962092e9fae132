import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from systems.synthetic import Synthetic
from tradeoff import measurements
from tradeoff.errors import TradeoffError
from tradeoff.measurements import MeasurementStore, aggregate, failed, new_row, schema_for, space_of

OLD_CAMPAIGN = Path(__file__).parent / "data" / "campaign-v0"  # written before the schema could grow


@pytest.fixture()
def system():
    return Synthetic.variant(n_options=3, model="2 + 3*o1")


def row_of(system, config, repetition=0, workload="model", environment=None):
    return new_row(system=system.name, environment=environment or system.environment, workload=workload, config=config,
                   repetition=repetition, campaign="c", cpus=[0], version="v")


def rows(system, values, status="ok"):
    out = []
    for repetition, (config, value) in enumerate(values):
        row = measurements.measured(row_of(system, config, repetition), {"perf": value})
        row.update(duration_s=0.1)
        out.append(row if status == "ok" else failed(row, status, "broken"))
    return out


def store_of(system, folder):
    return MeasurementStore(folder, schema_for(system.space, system.metric_names))


def test_parts_append_and_read_as_one_table(system, tmp_path):
    store = store_of(system, tmp_path)
    config = {"o1": True, "o2": False, "o3": False}
    store.append(rows(system, [(config, 5.0), (config, 5.2)]))
    store.append(rows(system, [({**config, "o1": False}, 2.0)]))
    frame = pd.read_parquet(tmp_path / "measurements.parquet")  # what a user reads
    assert len(frame) == 3
    assert frame["opt.o1"].dtype == bool and frame["metric.perf"].dtype == float
    assert frame["started_at"].dt.tz is not None
    assert len(store.done()) == 3  # (a, 0), (a, 1), (b, 0)
    store.compact()
    assert len(list((tmp_path / "measurements.parquet").glob("*.parquet"))) == 1
    assert len(store.read()) == 3


def test_done_keys_on_system_environment_workload_configuration_part_and_repetition(system, tmp_path):
    store = store_of(system, tmp_path)
    config = {"o1": True, "o2": False, "o3": False}
    part = {**row_of(system, config, 0), "measured": "perf"}
    store.append([row_of(system, config, 0), row_of(system, config, 0, workload="paper"),
                  row_of(system, config, 0, environment="threads-2"), row_of(system, config, 1), part])
    cid = row_of(system, config)["config_id"]
    assert store.done() == {("synthetic", "local", "model", cid, None, 0), ("synthetic", "local", "paper", cid, None, 0),
                            ("synthetic", "threads-2", "model", cid, None, 0), ("synthetic", "local", "model", cid, None, 1),
                            ("synthetic", "local", "model", cid, "perf", 0)}
    # the same configuration of another workload or environment is no duplicate, nor a partial measurement of it
    assert len(store.read()) == 5
    store.compact()
    assert len(store.read()) == 5 and measurements.identity(part) in store.done()


def test_duplicates_of_one_identity_read_and_compact_as_one(system, tmp_path):
    store = store_of(system, tmp_path)
    config = {"o1": True, "o2": False, "o3": False}
    store.append(rows(system, [(config, 1.0)]))
    store.append(rows(system, [(config, 2.0)]))  # as a crash between compacting and removing the parts leaves it
    assert len(store.read()) == 1
    store.compact()
    assert len(pd.read_parquet(tmp_path / "measurements.parquet")) == 1


def test_a_folder_of_another_space_is_refused(system, tmp_path):
    store_of(system, tmp_path).append(rows(system, [({"o1": True, "o2": False, "o3": False}, 1.0)]))
    other = Synthetic.variant(n_options=4)
    with pytest.raises(TradeoffError, match="other options or metrics; use another --out"):
        store_of(other, tmp_path).check_compatible("synthetic", "local", "model")


@pytest.mark.parametrize("asked", [("synthetic", "local", "paper"), ("synthetic", "threads-2", "model"),
                                   ("other", "local", "model")])
def test_a_folder_of_another_system_environment_or_workload_is_refused(system, tmp_path, asked):
    store = store_of(system, tmp_path)
    store.append(rows(system, [({"o1": True, "o2": False, "o3": False}, 1.0)]))
    store.check_compatible("synthetic", "local", "model")
    with pytest.raises(TradeoffError) as refused:
        store.check_compatible(*asked)
    message = str(refused.value)
    assert "\n" not in message and "holds measurements of synthetic / local / model" in message
    assert " / ".join(asked) in message and message.endswith("use another --out")


def test_a_status_outside_the_declared_ones_is_a_bug(system, tmp_path):
    row = row_of(system, system.space.default())
    with pytest.raises(ValueError, match="no failure status"):
        failed(dict(row), "crashed", "boom")
    with pytest.raises(ValueError, match="no failure status"):
        failed(dict(row), "ok", "boom")
    with pytest.raises(ValueError, match="status 'weird'"):
        store_of(system, tmp_path).append([{**row, "status": "weird"}])


def test_failed_rows_keep_their_place_and_null_metrics(system, tmp_path):
    store = store_of(system, tmp_path)
    row = failed(row_of(system, system.space.default()), "timeout", "killed")
    row.update(duration_s=3.0)
    store.append([row])
    frame = store.read()
    assert frame.loc[0, "status"] == "timeout" and frame.loc[0, "error"] == "killed" and pd.isna(frame.loc[0, "metric.perf"])


def test_aggregate_takes_median_and_cv_of_successful_repetitions(system):
    config = {"o1": True, "o2": False, "o3": False}
    frame = pd.DataFrame(rows(system, [(config, 1.0), (config, 2.0), (config, 6.0)]))
    failure = rows(system, [(config, float("nan"))], status="failed")[0] | {"repetition": 3}
    frame = pd.concat([frame, pd.DataFrame([failure])], ignore_index=True)
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
    assert row_of(system, system.space.default())["started_at"].tzinfo == dt.timezone.utc


def test_a_new_nullable_base_column_leaves_old_folders_readable_appendable_and_compactable(system, tmp_path, monkeypatch):
    config = {"o1": True, "o2": False, "o3": False}
    store_of(system, tmp_path).append(rows(system, [(config, 1.0), (config, 1.5)]))  # an old part
    monkeypatch.setattr(measurements, "BASE_FIELDS", [*measurements.BASE_FIELDS, ("rack", pa.string())])
    store = store_of(system, tmp_path)
    store.check_compatible("synthetic", "local", "model")
    assert len(store.done()) == 2
    assert store.read()["rack"].isna().all()
    new = rows(system, [({**config, "o1": False}, 3.0)])[0] | {"rack": "n1"}
    store.append([new])
    nodes = lambda: store.read().sort_values("metric.perf")["rack"].tolist()  # parts read in no set order
    assert nodes()[2] == "n1" and pd.isna(nodes()[:2]).all()
    store.compact()
    parts = list((tmp_path / "measurements.parquet").glob("*.parquet"))
    assert len(parts) == 1 and "rack" in pd.read_parquet(parts[0]).columns
    assert nodes()[2] == "n1" and pd.isna(nodes()[:2]).all()


def test_a_lone_old_part_is_compacted_into_the_current_schema(system, tmp_path, monkeypatch):
    store_of(system, tmp_path).append(rows(system, [({"o1": True, "o2": False, "o3": False}, 1.0)]))
    monkeypatch.setattr(measurements, "BASE_FIELDS", [*measurements.BASE_FIELDS, ("rack_slot", pa.int64())])
    store_of(system, tmp_path).compact()
    frame = pd.read_parquet(tmp_path / "measurements.parquet")
    assert "rack_slot" in frame.columns and frame["rack_slot"].isna().all()


def test_an_old_campaign_folder_opens_resumes_and_takes_new_rows(tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(OLD_CAMPAIGN, folder)
    frame = MeasurementStore(folder).read()
    assert len(frame) == 6 and (frame["status"] == "ok").all() and set(frame["workload"]) == {"paper"}
    system = Synthetic.variant()
    store = store_of(system, folder)
    store.check_compatible("synthetic", "local", "paper")
    assert {key[:3] for key in store.done()} == {("synthetic", "local", "paper")} and len(store.done()) == 6
    config = measurements.options_of(frame).iloc[0].to_dict()
    store.append([measurements.measured(new_row(system="synthetic", environment="local", workload="paper", config=config,
                                                repetition=1, campaign="c"), {"perf": 1.0})])
    store.compact()
    assert len(list((folder / "measurements.parquet").glob("*.parquet"))) == 1 and len(store.read()) == 7


def test_an_old_store_reads_as_full_measurements_and_takes_partial_ones_beside_them(tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(OLD_CAMPAIGN, folder)
    store = store_of(Synthetic.variant(), folder)
    assert store.read()["measured"].isna().all()  # written before partial measurements existed: full ones
    config = measurements.options_of(store.read()).iloc[0].to_dict()
    partial = measurements.measured(new_row(system="synthetic", environment="local", workload="paper", config=config,
                                            repetition=0, campaign="c"), {"perf": 9.0})
    store.append([{**partial, "measured": measurements.part_label(["perf"])}])
    assert len(store.done()) == 7 and len(store.read()) == 7  # repetition 0 of the part is not repetition 0 of the whole
    store.compact()
    assert store.read()["measured"].tolist().count("perf") == 1


def test_aggregate_joins_a_configurations_partial_and_full_measurements_metric_by_metric():
    def row(config, repetition, measured, **metrics):
        return {"system": "s", "environment": "e", "workload": "w", "config_id": config, "repetition": repetition, "status": "ok",
                "measured": measured, "opt.a": config == "c1", **{"metric." + k: v for k, v in metrics.items()}}
    frame = pd.DataFrame([row("c1", 0, "latency", latency=2.0, accuracy=None), row("c1", 0, None, latency=4.0, accuracy=0.9),
                          row("c2", 0, "latency", latency=1.0, accuracy=None)])
    table = aggregate(frame).set_index("config_id")
    assert len(table) == 2
    assert table.loc["c1", "metric.latency"] == 3.0 and table.loc["c1", "metric.accuracy"] == 0.9  # each metric over the rows that hold it
    assert table.loc["c2", "metric.latency"] == 1.0 and pd.isna(table.loc["c2", "metric.accuracy"])  # not measured yet
