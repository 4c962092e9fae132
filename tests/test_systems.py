import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import systems
from systems import SYSTEMS, get_system
from systems.base import System, measure_once, render_flags
from systems.synthetic import Synthetic, parse_terms
from tradeoff.errors import TradeoffError
from tradeoff.space import Space


def measure(system, config, workload, timeout=60.0, repetition=0):
    return measure_once(system, config, workload, repetition, timeout, [0], "test", system.program_version())


def test_x264_encodes_a_generated_clip_for_real(cache):
    x264 = get_system("x264")
    row = measure(x264, x264.space.default(), "clip-176x144-8")
    assert row["status"] == "ok", row["error"]
    assert 0 < row["metric.time"] < 30 and row["metric.size"] > 1000
    assert 20 < row["metric.psnr"] < 99 and 0 < row["metric.ssim"] <= 1
    assert row["program_version"].startswith("x264") and row["cpus"] == "0" and row["cores"] >= 1
    # a faster, lower-quality configuration really changes size and quality
    fast = measure(x264, {**x264.space.default(), "crf": 45, "subme": 0, "me": "dia"}, "clip-176x144-8")
    assert fast["metric.size"] < row["metric.size"] and fast["metric.psnr"] < row["metric.psnr"]


def test_x264_crash_is_recorded_with_exit_code_and_stderr(tmp_path):
    broken = tmp_path / "broken.y4m"
    broken.write_bytes(b"YUV4MPEG2 W0 H0\nnot a video")
    x264 = get_system("x264")
    row = measure(x264, x264.space.default(), x264.check_workload(str(broken)))
    assert row["status"] == "failed" and row["exit_code"] not in (None, 0)
    assert "exit code" in row["error"]


def test_x264_timeout_is_recorded(cache):
    x264 = get_system("x264")
    slow = {**x264.space.default(), "me": "tesa", "subme": 11, "ref": 16}
    row = measure(x264, slow, "clip-640x360-128", timeout=0.3)
    assert row["status"] == "timeout" and "killed" in row["error"]


def test_missing_x264_is_reported(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(TradeoffError, match="x264 program is not installed"):
        get_system("x264").check()


def test_sqlite_runs_each_measurement_in_its_own_process_and_folder():
    sqlite = get_system("sqlite")
    durable = measure(sqlite, sqlite.space.default(), "fillseq-200")
    fast = measure(sqlite, {**sqlite.space.default(), "synchronous": "off", "journal_mode": "memory"}, "fillseq-200")
    assert durable["status"] == fast["status"] == "ok", (durable["error"], fast["error"])
    assert durable["program_version"].startswith("SQLite 3")
    # fsync on every commit is what synchronous=full buys; it must show
    assert durable["metric.us_per_op"] > fast["metric.us_per_op"]
    with pytest.raises(TradeoffError, match="not OPERATION-ROWS"):
        sqlite.check_workload("fillseq")


def test_synthetic_system_computes_its_terms_exactly():
    synthetic = get_system("synthetic")
    config = {name: name in ("o1", "o3", "o7") for name in synthetic.space.names}
    assert synthetic.run(config, "paper", 1, [])["perf"] == pytest.approx(1.2 + 3 + 5 + 0.9 + 0.8 + 4)
    assert parse_terms("2.5e-1*o2 - o3") == [(0.25, ("o2",)), (-1.0, ("o3",))]
    with pytest.raises(TradeoffError, match="uses o99"):
        synthetic.check_workload("1 + o99")


def _raw(datasets, file):
    with open(datasets / "ase17" / "data" / "processed" / file) as handle:
        rows = list(csv.reader(handle))
    return rows[0], np.array(rows[1:], dtype=float)


@pytest.mark.parametrize("name, file, n, environment, column, invalid", [
    ("ase17-spear", "spear.csv", 14, "feature8_2_7_10286", 15, lambda v: v >= 5),
    ("ase17-spear", "spear.csv", 14, "feature12_2_7_18830", 19, lambda v: v >= 5),
    ("ase17-x264", "x264.csv", 16, "feature8_2762_32", 20, lambda v: v == 0),
])
def test_replay_returns_exactly_the_recorded_values(datasets, name, file, n, environment, column, invalid):
    header, values = _raw(datasets, file)
    system = get_system(name, environment)
    seen, checked = set(), 0
    for row in values[:400]:
        config = dict(zip(header[:n], (bool(v) for v in row[:n])))
        key = tuple(row[:n])
        if key in seen:  # a repeated configuration serves its first record
            continue
        seen.add(key)
        result = measure(system, config, system.default_workload)
        if invalid(row[column]):
            assert result["status"] in ("invalid", "timeout")
        else:
            assert result["status"] == "ok" and result[f"metric.{system.metric_names[0]}"] == row[column]
            checked += 1
    assert checked > 50


def test_replay_of_sqlite_operations_and_storm(datasets):
    sqlite = get_system("ase17-sqlite", "feature7_3763", "readrandom")
    assert sqlite.environment == "feature7_3763" and sqlite.default_workload == "readrandom"
    storm = get_system("storm", "wc-6d-c1")
    first = storm.space.population.iloc[0].to_dict()
    assert measure(storm, first, storm.default_workload)["metric.throughput"] == 2221.3
    with pytest.raises(TradeoffError, match="has no environment 'bogus'"):
        get_system("ase17-x264", "bogus")


def test_unknown_system_is_reported():
    with pytest.raises(TradeoffError, match="unknown system 'nope'"):
        get_system("nope")


def test_datasets_dir_honours_the_environment_variable(monkeypatch, tmp_path):
    from systems.replay import datasets_dir
    monkeypatch.setenv("TRADEOFF_DATASETS", str(tmp_path))
    assert datasets_dir() == tmp_path


def test_x264_thread_setting_as_an_environment(cache):
    pinned, free = get_system("x264", "threads-2"), get_system("x264")
    assert "threads" not in pinned.space.names and "threads" in free.space.names
    assert pinned.cores_per_run == 2 and free.cores_per_run == 1
    assert pinned.flags(pinned.space.default())[-2:] == ["--threads", "2"]
    assert free.flags(free.space.default()).count("--threads") == 1  # the option's own flag only
    one = get_system("x264", "threads-1")
    row = measure(one, one.space.default(), "clip-176x144-8")
    assert row["status"] == "ok" and row["environment"] == "threads-1", row["error"]
    with pytest.raises(TradeoffError, match="threads-0 has no threads"):
        get_system("x264", "threads-0")
    with pytest.raises(TradeoffError, match="cores, but only"):
        get_system("x264", "threads-4096").check()


SPECS = sorted(Path(systems.__file__).parent.glob("*.yaml"))


def test_catalogue_lists_every_spec_without_importing_drivers():
    listing = subprocess.run([sys.executable, "-c", (
        "import sys; from systems import SYSTEMS; "
        "print(sorted((n, SYSTEMS.kind(n), d) for n, d in SYSTEMS.summaries().items())); "
        "print(sorted(m for m in sys.modules if m.startswith('systems.')))")], capture_output=True, text=True, check=True)
    listed, imported = map(eval, listing.stdout.splitlines())
    specs = {path.stem: yaml.safe_load(path.read_text()) for path in SPECS}
    members = {name: spec for name, spec in specs.items() if "driver" in spec}
    assert [name for name, _, _ in listed] == sorted(members) == SYSTEMS.names()
    assert not {f"systems.{spec['driver']}" for spec in members.values()} & set(imported)  # no driver module
    for name, kind, description in listed:
        spec = members[name]
        assert spec["system"] == name and kind == spec["kind"] in ("live", "replay", "synthetic") and description
        assert (Path(systems.__file__).parent / f"{spec['driver']}.py").is_file()
    with pytest.raises(TradeoffError, match="unknown system 'nope'; use one of ase17-sac, "):
        SYSTEMS.check("nope")


@pytest.mark.parametrize("name", [n for n in SYSTEMS.names() if SYSTEMS.kind(n) != "replay"])
def test_each_live_and_synthetic_system_builds_from_its_spec(name):
    system = SYSTEMS.get(name)
    driver = SYSTEMS.driver(name)
    assert type(system) is driver and issubclass(driver, System) and driver.__module__ == f"systems.{SYSTEMS.spec(name)['driver']}"
    assert system.name == name and system.kind == SYSTEMS.kind(name) and system.environment == "local"
    assert system.default_workload in system.workloads and system.metrics and len(system.space) >= 1
    assert system.space.is_valid(system.space.default())


@pytest.mark.parametrize("name", [n for n in SYSTEMS.names() if SYSTEMS.kind(n) == "replay"])
def test_each_replay_builds_from_its_spec(datasets, name):
    system = get_system(name)
    assert type(system) is SYSTEMS.driver(name) and system.name == name and system.kind == "replay"
    assert system.default_workload in system.workloads and len(system.space.population) > 0


def test_one_flag_renderer_follows_each_options_flag():
    space = Space.from_spec({"flag": "--{name}={value}", "options": [
        {"name": "fast", "type": "bool", "flag": "--fast"},                       # a bool: the flag when true
        {"name": "level", "type": "int", "range": [1, 9], "default": 3, "flag": "-l"},  # flag value
        {"name": "crf", "type": "float", "range": [0, 51], "default": 23.0, "flag": "--crf={value}"},
        {"name": "mode", "type": "categorical", "values": ["default", "a"], "default": "default", "flag": "-m{value}", "omit": "default"},
        {"name": "plain", "type": "int", "range": [0, 9], "default": 1},           # no flag: not rendered
    ]})
    config = {"fast": True, "level": 5, "crf": 22.5, "mode": "default", "plain": 4}
    assert render_flags(space, config) == ["--fast", "-l", "5", "--crf=22.5"]
    assert render_flags(space, {**config, "fast": False, "mode": "a"}) == ["-l", "5", "--crf=22.5", "-ma"]
    sat = get_system("sat")  # a spec-wide flag template --{name}={value}; preset as --{value}
    args = render_flags(sat.space, {**sat.space.default(), "preset": "unsat", "elim": False, "chrono": 2})
    assert args[:3] == ["--unsat", "--elim=false", "--subsume=true"] and "--chrono=2" in args and len(args) == len(sat.space)


def test_synthetic_variants_change_the_specs_parameters():
    system = Synthetic.variant(n_options=3, model="2 + 3*o1", cost=0.5)
    assert system.space.names == ["o1", "o2", "o3"] and system.default_workload == "model" and system.cost == 0.5
    assert system.run({"o1": True, "o2": False, "o3": False}, "model", 1, [])["perf"] == 5
    assert get_system("synthetic").noise == Synthetic.variant().noise == 0.0
