"""The command system: a program measured from a YAML spec alone, for real."""

import json
import sys

import pytest
import yaml

from systems import get_system
from systems.base import MeasurementFailed, measure_once
from systems.command import CommandSystem, load
from tradeoff.errors import TradeoffError

# A program that echoes what it was given: its flags, an environment variable and a config file.
PROBE = (
    "import json, os, sys; args = sys.argv[1:]; conf = open(args[0]).read().split(); "
    "json.dump({'args': args[1:], 'env': os.environ.get('PROBE_LEVEL'), 'conf': conf}, open(args[-1], 'w')); "
    "print('score', 2.5 * float(os.environ['PROBE_LEVEL']))"
)


def probe_spec(**changes) -> dict:
    spec = {
        "system": "probe",
        "command": [sys.executable, "-c", PROBE, "{config_file}", "{flags}", "--mode={mode}", "{workdir}/out.json"],
        "config_file": {"name": "probe.conf", "template": "block={block} fast={fast} {{literal}}"},
        "options": [
            {"name": "level", "type": "int", "range": [1, 9], "default": 3, "env": "PROBE_LEVEL"},
            {"name": "verbose", "type": "bool", "default": True, "flag": "-v"},
            {"name": "jobs", "type": "int", "range": [1, 4], "default": 2, "flag": "--jobs"},
            {"name": "ratio", "type": "float", "range": [0.0, 1.0], "default": 0.25, "flag": "--ratio={value}"},
            {"name": "mode", "type": "categorical", "values": ["a", "b"], "default": "b"},
            {"name": "block", "type": "int", "range": [1, 64], "default": 8},
            {"name": "fast", "type": "bool", "default": False, "bool_text": ["off", "on"]},
        ],
        "workloads": {"tiny": "nothing to read"},
        "metrics": [
            {"name": "time", "from": "wall_time"},
            {"name": "score", "from": "regex", "pattern": r"score ([\d.]+)", "stream": "stdout", "goal": "max"},
            {"name": "written", "from": "file_size", "file": "{workdir}/out.json"},
        ],
    }
    spec.update(changes)
    return spec


def test_options_reach_the_program_as_flags_env_and_config_file(tmp_path):
    system = CommandSystem.from_spec(probe_spec(metrics=probe_spec()["metrics"] + [
        {"name": "echoed_env", "from": "json", "file": "{workdir}/out.json", "key": "env"}]), source="probe")
    system.check()
    config = {**system.space.default(), "level": 7, "verbose": False, "fast": True, "mode": "a"}
    metrics = system.run(config, "tiny", 30, [])
    assert metrics["score"] == pytest.approx(17.5)  # 2.5 * PROBE_LEVEL: the env var arrived
    assert metrics["echoed_env"] == 7
    assert metrics["written"] > 0 and metrics["time"] > 0


def test_flag_rendering_and_config_template(tmp_path):
    # The probe writes what it saw into {workdir}; read it back through a json file we keep.
    keep = tmp_path / "seen.json"
    spec = probe_spec()
    spec["command"] = spec["command"][:-1] + [str(keep)]
    spec["metrics"] = spec["metrics"][:2]
    system = CommandSystem.from_spec(spec, source="probe")
    system.run({**system.space.default(), "verbose": True, "jobs": 3, "ratio": 0.5, "block": 16}, "tiny", 30, [])
    seen = json.loads(keep.read_text())
    assert seen["args"][:5] == ["-v", "--jobs", "3", "--ratio=0.5", "--mode=b"]
    assert seen["conf"] == ["block=16", "fast=off", "{literal}"]


def test_xz_example_spec_measures_real_compression(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADEOFF_CACHE", str(tmp_path))
    system = get_system("xz")
    assert len(system.space) >= 10
    source = tmp_path / "input.txt"
    source.write_text("tradeoff " * 20000)
    workload = system.check_workload(str(source))  # a user's own file as the workload
    fast = system.run({**system.space.default(), "preset": 0, "dict": "64KiB"}, workload, 60, [])
    assert fast["size"] < 5000 < source.stat().st_size  # highly repetitive text compresses well
    assert 0 < fast["ratio"] < 0.1
    row = measure_once(system, system.space.default(), workload, 0, 60, [], "test", "")
    assert row["status"] == "ok" and row["metric.size"] > 0


def test_spec_file_path_is_a_system(tmp_path):
    path = tmp_path / "probe.yaml"
    path.write_text(yaml.safe_dump(probe_spec()))
    system = get_system(str(path))
    assert system.name == "probe" and system.kind == "live"


OPTIONS = probe_spec()["options"]


@pytest.mark.parametrize("change, message", [
    ({"options": OPTIONS[1:] + [{"name": "level", "type": "int", "range": [1, 9], "flag_type": "long"}]}, "unknown key 'flag_type'"),
    ({"options": OPTIONS[1:] + [{"name": "level", "type": "int", "range": [1, 9]}]}, "option 'level' maps to nothing"),
    ({"command": ["prog", "{nope}"]}, "unknown placeholder {nope}"),
    ({"metrics": [{"name": "t", "from": "stopwatch"}]}, "unknown source 'stopwatch'"),
    ({"metrics": [{"name": "t", "from": "regex", "pattern": "no group"}]}, "needs a (group)"),
    ({"workloads": {}}, "missing 'workloads'"),
    ({"workloads": {"w": {"setup": "seq 9 > {output}"}}}, "may only use the placeholder {input}"),
])
def test_bad_specs_fail_with_one_line(change, message):
    with pytest.raises(TradeoffError, match=message.replace("(", r"\(").replace(")", r"\)").replace("{", r"\{").replace("}", r"\}")) as error:
        CommandSystem.from_spec(probe_spec(**change), source="bad.yaml")
    assert "\n" not in str(error.value) and str(error.value).startswith("bad.yaml:")


def test_missing_program_and_unmatched_regex_fail_before_measuring():
    missing = CommandSystem.from_spec(probe_spec(command=["no-such-program-tradeoff", "{flags}", "{mode}{block}{fast}{config_file}"]), source="bad.yaml")
    with pytest.raises(TradeoffError, match="program 'no-such-program-tradeoff' is not installed"):
        missing.check()
    silent = CommandSystem.from_spec(probe_spec(metrics=[{"name": "score", "from": "regex", "pattern": r"points (\d+)"}]), source="bad.yaml")
    with pytest.raises(TradeoffError, match="pattern .* matched nothing") as error:
        silent.check()
    assert "\n" not in str(error.value)
    with pytest.raises(MeasurementFailed):  # during a campaign the same problem is a failed row
        silent.run(silent.space.default(), "tiny", 30, [])


def test_unreadable_spec_file(tmp_path):
    with pytest.raises(TradeoffError, match="cannot read command spec"):
        load(tmp_path / "absent.yaml")
