"""Bad and hostile input, command by command (issue 16): one table, one row per kind of input.

Every row must end in exit code 2 and one ``error: ...`` line naming the problem, no traceback,
and -- for commands that measure -- nothing measured (the --out folder holds no measurements).
The rows run the command in this process: each is refused before Prefect or Ray start, so a
row costs well under a second. Paths in the arguments are written ``{name}`` and filled from
the files ``inputs`` writes.
"""

from __future__ import annotations

import importlib
import json
import sys
import time

import pytest
import yaml

from conftest import needs_datasets
from tradeoff.measurements import MeasurementStore

SPEC = {"system": "probe", "command": "echo value {level}",
        "options": [{"name": "level", "type": "int", "range": [1, 3], "default": 1}],
        "workloads": {"none": "nothing to read"},
        "metrics": [{"name": "value", "from": "regex", "pattern": r"value (\d+)", "stream": "stdout"}]}


def _spec(**changes) -> dict:
    return {**json.loads(json.dumps(SPEC)), **changes}


SPECS = {
    "spec_small": _spec(),
    "spec_range": _spec(options=[{"name": "level", "type": "int", "range": ["a", 3], "default": 1}]),
    "spec_slash": _spec(system="a/b"),
    "spec_dotdot": _spec(workloads={"../x": {"description": "escapes the cache", "setup": "echo 1 > {input}"}},
                         command="cat {input}; echo value {level}"),
    "spec_nosetup": _spec(workloads={"made": {"description": "never made", "setup": "true"}},
                          command="cat {input}; echo value {level}"),
    "spec_quoted": _spec(command="echo '{level}'; echo 'value 1'"),
    "spec_inf": _spec(command="echo value inf {level}", metrics=[{"name": "value", "from": "regex", "pattern": r"value (\S+)"}]),
}

CSV = "a,b,m\n" + "".join(f"{i % 3},{i % 2},{10 + i}\n" for i in range(12))


@pytest.fixture
def inputs(tmp_path, monkeypatch) -> dict[str, str]:
    """The files the rows name, written in a fresh folder that is also the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADEOFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # deploy and worker need one: its absence is a row
    files = {
        "good.csv": CSV,
        "empty.csv": "",
        "words.csv": "a,b,m\nx,y,z\nx,z,w\ny,y,q\nz,x,r\nq,q,q\n",
        "dup.csv": "a,a,m\n" + "".join(f"{i % 3},{i % 2},{10 + i}\n" for i in range(12)),
        "file": "not a folder\n",
        "trailing.json": '{"level": 2,}\n',
        "index_empty.txt": "",
        "index_words.txt": "a,b\nc,d\n",
        "notes.txt": "hello\n",
        "faulty.yaml": "o1: true\n",
        "faulty_outside.yaml": "o1: 7\n",
        "faulty_empty.yaml": "{}\n",
        "faulty_unknown.yaml": "nosuch: 1\n",
    }
    files.update({f"{name}.yaml": yaml.safe_dump(spec) for name, spec in SPECS.items()})
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    paths = {name.split(".")[0] if not name.endswith(".csv") else name.removesuffix(".csv") + "_csv": str(tmp_path / name)
             for name in files}
    paths.update(out=str(tmp_path / "out"), tmp=str(tmp_path), truncated=_truncated_campaign(tmp_path / "truncated"))
    return paths


def _truncated_campaign(folder) -> str:
    """A campaign folder of the synthetic system whose second Parquet part was cut short by a crash."""
    from systems import get_system
    from systems.base import measure_once
    from tradeoff.measurements import schema_for
    system = get_system("synthetic")
    store = MeasurementStore(folder, schema_for(system.space, system.metric_names))
    for config in system.space.sample_uniform(2, 0):
        store.append([measure_once(system, config, "paper", 0, 10, [], "c", "")])
    part = sorted(store.path.glob("*.parquet"))[-1]
    part.write_bytes(part.read_bytes()[:40])
    return str(folder)


ROWS = [
    # systems, space, sample
    (["systems", "extra"], "unexpected extra argument"),
    (["space", "nosuch"], "unknown system 'nosuch'"),
    (["space", "synthetic", "--workload", "nosuch"], "nosuch"),
    (["space", "{spec_range}"], "option 'level'"),
    (["space", "{spec_slash}"], "system name 'a/b'"),
    (["space", "{spec_dotdot}"], "workload name '../x'"),
    (["space", "{spec_quoted}"], "quotes of its own"),
    (["sample", "synthetic", "--sampler", "nosuch"], "unknown sampler 'nosuch'"),
    (["sample", "synthetic", "--budget", "0"], "budget must be a positive number"),
    (["sample", "synthetic", "--budget", "abc"], "Invalid value for '--budget'"),
    (["sample", "nosuch"], "unknown system 'nosuch'"),
    (["space", "ase17-x264", "--environment", "mars"], "no environment 'mars'"),
    # campaign: values
    (["campaign", "synthetic", "--nosuchoption", "3"], "No such option"),
    (["campaign", "synthetic", "--budget", "abc"], "Invalid value for '--budget'"),
    (["campaign", "synthetic", "--budget", "0"], "--budget"),
    (["campaign", "synthetic", "--budget", "-5"], "--budget"),
    (["campaign", "synthetic", "--reps", "0"], "--reps"),
    (["campaign", "synthetic", "--reps", "-3"], "--reps"),
    (["campaign", "synthetic", "--timeout", "0"], "--timeout"),
    (["campaign", "synthetic", "--concurrency", "0"], "--concurrency"),
    (["campaign", "synthetic", "--cores-per-run", "0"], "--cores-per-run"),
    (["campaign", "x264", "--cores-per-run", "4096"], "--cores-per-run 4096"),
    (["campaign", "synthetic", "--learner", "nosuch", "--budget", "5"], "unknown learner 'nosuch'"),
    (["campaign", "synthetic", "--sampler", "nosuch"], "unknown sampler 'nosuch'"),
    (["campaign", "synthetic", "--metric", "nosuch"], "no metric 'nosuch'"),
    (["campaign", "synthetic", "--workload", "nosuch"], "nosuch"),
    (["campaign", "nosuch"], "unknown system 'nosuch'"),
    # campaign: files and folders
    (["campaign", "synthetic", "--out", "{file}"], "is a file"),
    (["campaign", "synthetic", "--out", "/proc/x"], "cannot write"),
    (["campaign", "synthetic", "--config", "{tmp}/none.yaml"], "cannot read configurations"),
    (["campaign", "{spec_small}", "--config", "{trailing}"], "not valid JSON"),
    (["campaign", "synthetic", "--out", "{truncated}"], "delete it"),
    (["campaign", "{spec_range}"], "option 'level'"),
    (["campaign", "{spec_slash}"], "system name 'a/b'"),
    (["campaign", "{spec_dotdot}"], "workload name '../x'"),
    (["campaign", "{spec_nosetup}"], "did not write"),
    (["campaign", "{spec_quoted}"], "quotes of its own"),
    (["campaign", "{spec_inf}"], "is inf, not a finite number"),
    (["campaign", "{spec_small}", "--budget", "10"], "more than the 3 configurations probe has"),
    (["campaign", "synthetic", "--timeout", "-1"], "--timeout"),
    (["campaign", "synthetic", "--concurrency", "-2"], "--concurrency"),
    (["campaign", "synthetic", "--config", "{tmp}"], "no measurements in"),
    (["campaign", "ase17-x264", "--environment", "mars"], "no environment 'mars'"),
    (["campaign", "ase17-x264", "--budget", "100000"], "configurations ase17-x264 has; give --budget"),
    # campaign: tracking
    (["campaign", "synthetic", "--tracking-uri", "notascheme://x/y"], "--tracking-uri notascheme://x/y"),
    (["campaign", "synthetic", "--tracking-uri", "http://127.0.0.1:9"], "nothing answers"),
    # demo
    (["demo", "--budget", "0"], "--budget"),
    (["demo", "--out", "{file}"], "is a file"),
    # show
    (["show", "{tmp}/none"], "no measurements in"),
    (["show", "{truncated}"], "delete it"),
    (["show", "{file}"], "no measurements in"),
    (["show", "{truncated}", "--metric", "nosuch"], "delete it"),
    # import
    (["import", "{good_csv}", "--options", "a,a", "--metrics", "m", "--system", "s", "--out", "{out}"], "given twice"),
    (["import", "{good_csv}", "--options", "a,b", "--metrics", "a", "--system", "s", "--out", "{out}"], "both an option and a metric"),
    (["import", "{good_csv}", "--options", "a,c", "--metrics", "m", "--system", "s", "--out", "{out}"], "no column 'c'"),
    (["import", "{good_csv}", "--options", ",", "--metrics", "m", "--system", "s", "--out", "{out}"], "at least one option"),
    (["import", "{dup_csv}", "--options", "a", "--metrics", "m", "--system", "s", "--out", "{out}"], "column 'a' twice"),
    (["import", "{empty_csv}", "--options", "a", "--metrics", "m", "--system", "s", "--out", "{out}"], "is empty"),
    (["import", "{tmp}/none.csv", "--options", "a", "--metrics", "m", "--system", "s", "--out", "{out}"], "does not exist"),
    (["import", "{notes}", "--options", "a", "--metrics", "m", "--system", "s", "--out", "{out}"], "neither .csv nor .parquet"),
    (["import", "{good_csv}", "--options", "a,b", "--metrics", "m", "--system", "s", "--out", "{file}"], "is a file"),
    (["import", "{good_csv}", "--options", "a,b", "--metrics", "m", "--system", "s", "--out", "/proc/x"], "cannot write"),
    (["import", "{good_csv}", "--options", "a,b", "--metrics", ",", "--system", "s", "--out", "{out}"], "at least one option"),
    # learn
    (["learn", "{empty_csv}", "--metric", "m"], "is empty"),
    (["learn", "{words_csv}", "--metric", "m"], "0 usable (finite, numeric) values"),
    (["learn", "{dup_csv}", "--metric", "m"], "column 'a' twice"),
    (["learn", "{tmp}/none.csv", "--metric", "m"], "neither a campaign folder nor a CSV"),
    (["learn", "{good_csv}", "--metric", "nosuch"], "no column 'nosuch'"),
    (["learn", "{good_csv}", "--metric", "m", "--learner", "nosuch"], "unknown learner 'nosuch'"),
    (["learn", "{good_csv}", "--metric", "m", "--tracking-uri", "notascheme://x/y"], "--tracking-uri notascheme://x/y"),
    (["learn", "{good_csv}", "--metric", "m", "--tracking-uri", "http://127.0.0.1:9"], "nothing answers"),
    (["learn", "{good_csv}", "--metric", "m", "--out", "{tmp}/model", "--tracking-uri", "file:///proc/x/y"],
     "the measurements and files are kept: rerun"),
    # predict
    (["predict", "{good_csv}", "{good_csv}"], "not a model folder"),
    (["predict", "{tmp}/none", "{good_csv}"], "cannot load a model"),
    # evaluate
    (["evaluate", "{good_csv}", "--metric", "m", "--sizes", "0"], "sample size '0' is 0"),
    (["evaluate", "{good_csv}", "--metric", "m", "--sizes", "abc"], "cannot read sample size"),
    (["evaluate", "{good_csv}", "--metric", "m", "--repeats", "0"], "--repeats"),
    (["evaluate", "{good_csv}", "--metric", "m", "--repeats", "-3"], "--repeats"),
    (["evaluate", "{good_csv}", "--metric", "m", "--training-index", "{index_empty}"], "training index"),
    (["evaluate", "{good_csv}", "--metric", "m", "--training-index", "{index_words}"], "training index"),
    (["evaluate", "{good_csv}", "--metric", "m", "--training-index", "{tmp}/none.txt"], "training index"),
    (["evaluate", "{empty_csv}", "--metric", "m"], "is empty"),
    (["evaluate", "{good_csv}", "--metric", "m", "--sizes", "12"], "leaves no test rows"),
    (["evaluate", "{good_csv}", "--metric", "m", "--sizes", "-4"], "cannot read sample size"),
    (["evaluate", "{words_csv}", "--metric", "m"], "0 usable (finite, numeric) values"),
    (["evaluate", "{good_csv}", "--metric", "m", "--learner", "nosuch"], "unknown learner 'nosuch'"),
    (["evaluate", "{good_csv}", "--metric", "m", "--tracking-uri", "notascheme://x/y"], "--tracking-uri notascheme://x/y"),
    # compare-envs
    (["compare-envs", "{tmp}/none", "{tmp}/none2"], "none"),
    (["compare-envs", "{truncated}", "{truncated}"], "delete it"),
    (["compare-envs", "{truncated}", "{tmp}/none", "--pairing", "nosuch"], "nosuch"),
    (["compare-envs", "{truncated}", "{tmp}/none", "--top-k", "0"], "--top-k"),
    # transfer
    (["transfer", "--target", "synthetic"], "Missing option '--source'"),
    (["transfer", "--source", "{truncated}", "--target", "synthetic", "--method", "nosuch"], "nosuch"),
    (["transfer", "--source", "{truncated}", "--target", "nosuch"], "unknown system 'nosuch'"),
    (["transfer", "--source", "{truncated}", "--target", "synthetic", "--budget", "0"], "--budget"),
    (["transfer", "--source", "{truncated}", "--target", "synthetic", "--out", "{file}"], "is a file"),
    (["transfer", "--source", "{truncated}", "--target", "synthetic", "--tracking-uri", "notascheme://x/y"], "--tracking-uri"),
    # debug
    (["debug", "synthetic", "--config", "{trailing}"], "Missing option '--goal'"),
    (["debug", "synthetic", "--goal", "perf <= 1"], "--config"),
    (["debug", "synthetic", "--goal", "perf <= 1", "--config", "{trailing}", "--row", "x"], "exactly one of"),
    (["debug", "synthetic", "--goal", "nosuch <= 1", "--config", "{trailing}"], "nosuch"),
    (["debug", "synthetic", "--goal", "perf <= 1", "--objective", "other", "--config", "{trailing}"], "--objective other"),
    (["debug", "synthetic", "--goal", "perf <= 1", "--config", "{trailing}", "--initial", "2"], "--initial"),
    (["debug", "synthetic", "--goal", "perf <= 1", "--config", "{trailing}", "--budget", "0"], "--budget"),
    (["debug", "synthetic", "--goal", "perf <= 1", "--config", "{faulty}", "--alpha", "2"], "alpha"),
    (["debug", "synthetic", "--goal", "perf <= 1", "--config", "{faulty}", "--confirm", "-0.1"], "confirm is a fraction"),
    (["debug", "synthetic", "--goal", "perf <= 1", "--config", "{faulty}", "--confirm", "1"], "below 1, got 1.0"),
    (["debug", "synthetic", "--goal", "perf <= 1", "--config", "{faulty}", "--confirm", "nan"], "got nan"),
    (["debug", "synthetic", "--goal", "perf <<", "--config", "{faulty}"], "perf <<"),
    (["debug", "synthetic", "--goal", "perf <= 1", "--config", "{tmp}/none.yaml"], "no configuration file"),
    (["debug", "synthetic", "--goal", "perf <= 1", "--row", "abc"], "--data"),
    (["debug", "synthetic", "--goal", "perf <= 1", "--config", "{faulty}", "--out", "{file}"], "is a file"),
    (["debug", "synthetic", "--goal", "perf <= 1", "--config", "{faulty}", "--tracking-uri", "notascheme://x/y"], "--tracking-uri"),
    # report: what it reads, the run it downloads, where it writes
    (["report", "{tmp}"], "is not a campaign or study folder"),
    (["report", "{tmp}/nosuch"], "no folder"),
    (["report", "{file}"], "is a file"),
    (["report", "runs:/0123456789abcdef0123456789abcdef"], "no MLflow run 0123456789abcdef0123456789abcdef"),
    (["report", "runs:/"], "names no run"),
    (["report", "{truncated}", "--out", "{tmp}/nosuch/report.html"], "does not exist"),
    (["report", "{truncated}", "--out", "{file}/report.html"], "is a file"),
    (["report", "{truncated}", "--out", "{tmp}"], "it is a folder"),
    (["report", "{truncated}", "--tracking-uri", "notascheme://x/y"], "--tracking-uri"),
    (["report", "{truncated}", "--learner", "nosuch"], "unknown learner 'nosuch'"),
    (["debug", "synthetic", "--goal", "perf <= 1", "--config", "{faulty_outside}"], "option 'o1': value 7 is not allowed"),
    (["debug", "synthetic", "--goal", "perf <= 1", "--config", "{faulty_unknown}"], "nosuch"),
    (["debug", "x264", "--goal", "cpu_time <= -1", "--config", "{faulty_empty}"], "can never hold: cpu_time (in s) is never negative"),
    (["debug", "ase17-x264", "--goal", "time <= 0.001", "--config", "{faulty_empty}"], "no recorded configuration meets time <= 0.001"),
    # optimize: what a campaign refuses, and its own objective, method and initial design
    (["optimize", "nosuch", "--objective", "perf"], "unknown system 'nosuch'"),
    (["optimize", "synthetic", "--objective", "speed"], "synthetic has no metric 'speed'"),
    (["optimize", "synthetic", "--objective", "perf", "--method", "grid"], "unknown method 'grid'"),
    (["optimize", "synthetic", "--objective", "perf", "--budget", "3"], "smaller than bo's initial design"),
    (["optimize", "synthetic", "--objective", "perf", "--budget", "abc"], "Invalid value for '--budget'"),
    (["optimize", "synthetic", "--objective", "perf", "--out", "{file}"], "is a file"),
    (["optimize", "synthetic", "--objective", "perf", "--tracking-uri", "notascheme://x/y"], "--tracking-uri"),
    # deploy: the study is a command line of its own, checked as that command checks it; then the schedule and the server
    (["deploy"], "give the study to deploy"),
    (["deploy", "nosuch", "synthetic"], "cannot deploy 'nosuch'"),
    (["deploy", "debug", "synthetic", "--goal", "perf <= 1"], "cannot deploy 'debug'"),
    (["deploy", "--cron", "every night", "campaign", "synthetic"], "--cron 'every night' is not a cron schedule"),
    (["deploy", "--cron", "0 2 * * *", "--interval", "60", "campaign", "synthetic"], "not both"),
    (["deploy", "--interval", "0", "campaign", "synthetic"], "--interval must be a positive number"),
    (["deploy", "--interval", "soon", "campaign", "synthetic"], "Invalid value for '--interval'"),
    (["deploy", "--pool", "my/pool", "campaign", "synthetic"], "--pool 'my/pool' is not a work pool name"),
    (["deploy", "--name", "two words", "campaign", "synthetic"], "--name 'two words'"),
    (["deploy", "campaign", "synthetic", "--budget", "0"], "--budget"),
    (["deploy", "campaign", "nosuch"], "unknown system 'nosuch'"),
    (["deploy", "optimize", "synthetic", "--objective", "speed"], "synthetic has no metric 'speed'"),
    (["deploy", "campaign", "synthetic", "--out", "{tmp}/c"], "set PREFECT_API_URL"),
    # worker
    (["worker", "--pool", "my/pool"], "--pool 'my/pool' is not a work pool name"),
    (["worker"], "set PREFECT_API_URL"),
    # optimize: several objectives and constraints (issue 13)
    (["optimize", "sqlite", "--objective", "us_per_op", "--objective", "time", "--method", "bo"], "bo optimises one objective"),
    (["optimize", "sqlite", "--objective", "us_per_op", "--method", "ehvi"], "ehvi optimises two objectives, not 1"),
    (["optimize", "sqlite", "--objective", "us_per_op:up"], "METRIC:min / METRIC:max"),
    (["optimize", "sqlite", "--objective", "us_per_op", "--objective", "us_per_op"], "given twice"),
    (["optimize", "sqlite", "--objective", "us_per_op", "--objective", "nosuch"], "sqlite has no metric 'nosuch'"),
    (["optimize", "sqlite", "--objective", "us_per_op", "--constraint", "psnr >= 40"], "'psnr' is neither a metric nor an option"),
    (["optimize", "sqlite", "--objective", "us_per_op", "--constraint", "time => 3"], "write METRIC OP NUMBER"),
    (["optimize", "sqlite", "--objective", "us_per_op", "--constraint", "time >= 3", "--constraint", "time <= 1"], "leave no value"),
    (["optimize", "sqlite", "--objective", "us_per_op", "--constraint", "synchronous == 'nosuch'"], "'nosuch' is not allowed"),
    (["optimize", "sqlite", "--objective", "us_per_op", "--constraint", "synchronous == 'off' and synchronous == 'full'"],
     "no configuration (of 2000 drawn) meets"),
    (["optimize", "flexibo", "--objective", "inference_time", "--objective", "power_consumption", "--constraint", "core_freq > 2035200"],
     "no recorded configuration meets"),
    # optimize --warm-start: a source that exists, of the same system and options, in another environment
    (["optimize", "synthetic", "--objective", "perf", "--warm-start", "{tmp}/none"], "neither a campaign folder nor SYSTEM:ENVIRONMENT"),
    (["optimize", "storm", "--environment", "wc-6d-c1", "--objective", "latency", "--warm-start", "ase17-x264:feature1_2762_8"],
     "measures ase17-x264, not storm; give a campaign of storm"),
    (["optimize", "storm", "--environment", "wc-6d-c1", "--objective", "latency", "--warm-start", "storm:wc-3d-c4"],
     "give a source measured with the same options"),
    (["optimize", "storm", "--environment", "wc-6d-c1", "--objective", "latency", "--warm-start", "storm:wc-6d-c1"],
     "is the target environment itself"),
    (["optimize", "storm", "--environment", "wc-3d-c4", "--objective", "latency", "--method", "flash", "--warm-start", "storm:wc+rs-3d-c4"],
     "--warm-start feeds bo or bo-ei, not flash; give --method bo or auto"),
]


def _id(row) -> str:
    return " ".join(row[0])[:70]


@pytest.mark.parametrize("args, words", ROWS, ids=[_id(r) for r in ROWS])
def test_bad_input_is_one_line_exit_2_and_measures_nothing(tradeoff, inputs, monkeypatch, request, args, words):
    needs_datasets(request, args)
    def started(*_args, **_kwargs):
        raise AssertionError("the input was not refused: Ray or a flow was started")
    targets = [(importlib.import_module(module), name) for module, name in (
        ("tasks.measure", "connect"), ("flows.campaign", "campaign"), ("flows.transfer", "transfer"), ("flows.debug", "debug"),
        ("flows.optimize", "optimize"))]
    for module, name in targets:  # every module imported first: one imported while another's name is fake keeps the fake
        monkeypatch.setattr(module, name, started)
    args = [a.format(**inputs) for a in args]
    measures = args[0] in ("campaign", "demo", "transfer", "debug", "optimize")
    if measures and "--out" not in args:
        args += ["--out", inputs["out"]]
    result = tradeoff(*args)
    err = result.stderr
    assert result.returncode == 2, err + result.stdout
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert words.format(**inputs) in err, err
    assert "Traceback" not in err + result.stdout
    if measures:
        out = args[args.index("--out") + 1]
        assert out == inputs["truncated"] or not MeasurementStore(out).exists()


def test_the_table_covers_every_command():
    from flows.cli import app
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert commands <= {row[0][0] for row in ROWS}, commands - {row[0][0] for row in ROWS}


@pytest.mark.parametrize("options, budget, distinct", [
    ([{"name": "a", "type": "int", "range": [0, 9]}, {"name": "b", "type": "int", "range": [0, 9]}], 30, 30),
    ([{"name": f"o{i}", "type": "bool"} for i in range(10)], 1000, 1000),
    ([{"name": "a", "type": "int", "range": [1, 3]}], 10, 3),
])
def test_the_random_sampler_delivers_its_budget_without_repeats(options, budget, distinct):
    from tradeoff.samplers.base import sample
    from tradeoff.space import Space, config_id
    configs = sample(Space.from_spec({"options": options}), "random", budget, seed=0)
    assert len(configs) == len({config_id(c) for c in configs}) == distinct


def _measure_returning(value: float) -> dict:
    from systems.base import load_spec, measure_once
    from systems.synthetic import Synthetic

    class Broken(Synthetic):
        def run(self, config, workload, timeout, cpus):
            return {"perf": value}
    system = Broken.from_spec(load_spec("synthetic"))
    return measure_once(system, system.space.default(), "paper", 0, 10, [], "c", "")


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_a_metric_that_is_infinite_is_a_failed_row(value):
    row = _measure_returning(value)
    assert row["status"] == "failed" and "not a finite number" in row["error"] and row.get("metric.perf") is None


def test_a_metric_a_driver_cannot_measure_here_is_null_not_a_failure():
    """dnn's energy on a machine without RAPL: the row is ok, the metric null."""
    row = _measure_returning(float("nan"))
    assert row["status"] == "ok" and row.get("metric.perf") is None


def test_a_command_spec_pattern_that_reads_nan_is_a_failed_row():
    from systems.base import measure_once
    from systems.command import CommandSystem
    system = CommandSystem.from_spec(_spec(command="echo value nan {level}",
                                           metrics=[{"name": "value", "from": "regex", "pattern": r"value (\S+)"}]),
                                     source="nan-probe")
    row = measure_once(system, system.space.default(), "none", 0, 10, [], "c", "")
    assert row["status"] == "failed" and "not a finite number" in row["error"]


@pytest.mark.parametrize("command, name", [
    ("echo '{a}'", "a"), ('echo "x {a} y"', "a"), ("echo '{{a}}' {a}", None), ("echo {a} 'b'", None),
    ("echo \\'{a}", None), ("printf '%s' {flags}", None),
])
def test_a_shell_command_may_not_quote_a_placeholder_itself(command, name):
    from systems.command import quoted_placeholder
    assert quoted_placeholder(command) == name


def test_tracking_that_fails_is_one_line_that_says_the_data_are_kept_and_the_work_goes_on(tmp_path):
    from tasks.settings import Tracking
    from tasks.tracking import tracked
    with tracked(Tracking(uri="file:///proc/x/y"), "run", campaign="c0ffee", params={"a": 1}) as run:
        run.metrics({"m": 1.0})
        worked = True
    assert worked and run.uri == "file:///proc/x/y" and not run.run_id
    assert "\n" not in run.problem and "kept: rerun the same command" in run.problem


def _still_running(children: list, seconds: float) -> list:
    """The processes of ``children`` still running after up to ``seconds`` (a loaded machine ends Ray's late)."""
    import psutil

    def running():
        return [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    deadline = time.time() + seconds
    while running() and time.time() < deadline:
        time.sleep(0.5)
    return running()


@pytest.mark.slow
def test_ctrl_c_stores_what_arrived_says_how_many_ends_the_children_and_exits_130(tmp_path):
    """A terminal's Ctrl-C reaches the whole process group: the command, Ray and Prefect's server."""
    import os
    import signal
    import subprocess
    import time

    import psutil
    spec = _spec(command="sleep 0.3; echo value {level}", options=[{"name": "level", "type": "int", "range": [1, 1000]}])
    (tmp_path / "slow.yaml").write_text(yaml.safe_dump(spec))
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}", TRADEOFF_CACHE=str(tmp_path / "cache"))
    command = [sys.executable, "-m", "flows.cli", "campaign", "slow.yaml", "--budget", "200", "--concurrency", "1", "--out", "c"]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    store, deadline = MeasurementStore(tmp_path / "c"), time.time() + 180
    while not (store.exists() and len(store.done()) >= 3) and time.time() < deadline and process.poll() is None:
        time.sleep(0.3)
    children = psutil.Process(process.pid).children(recursive=True)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last == f"interrupted: {len(store.done())} measurements stored in c; run the same command again to resume", err
    assert len(store.done()) >= 3 and "Traceback" not in err
    assert not _still_running(children, 30)


def test_a_model_that_changed_after_it_was_saved_is_refused_before_it_is_loaded(tradeoff, inputs, tmp_path):
    import joblib

    from tradeoff.models.persist import save_model
    from tradeoff.space import Space
    folder = tmp_path / "model"
    save_model(folder, object(), Space.from_spec({"options": [{"name": "a", "type": "bool"}]}), "m", "cart")
    joblib.dump({"anything": "else"}, folder / "model.joblib")  # a crafted file would run code when unpickled
    result = tradeoff("predict", str(folder), inputs["good_csv"])
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "does not match its digest" in result.stderr
    (folder / "model.joblib.sha256").unlink()
    result = tradeoff("predict", str(folder), inputs["good_csv"])
    assert result.returncode == 2 and "has no digest" in result.stderr


@pytest.mark.slow
def test_a_killed_campaign_leaves_no_process_behind(tmp_path):
    """SIGKILL gives the command no chance to clean up: its watcher ends Ray, Prefect's server and the programs."""
    import os
    import signal
    import subprocess
    import time

    import psutil
    spec = _spec(command="sleep 0.3; echo value {level}", options=[{"name": "level", "type": "int", "range": [1, 1000]}])
    (tmp_path / "slow.yaml").write_text(yaml.safe_dump(spec))
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}", TRADEOFF_CACHE=str(tmp_path / "cache"))
    command = [sys.executable, "-m", "flows.cli", "campaign", "slow.yaml", "--budget", "200", "--concurrency", "1", "--out", "c"]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    store, deadline = MeasurementStore(tmp_path / "c"), time.time() + 180
    while not (store.exists() and len(store.done()) >= 2) and time.time() < deadline and process.poll() is None:
        time.sleep(0.3)
    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) > 3  # Ray's processes, a worker, the watcher
    process.kill()
    process.wait()
    left = _still_running(children, 20)
    for process in left:  # the test leaves nothing behind either
        process.kill()
    assert not left, [c.name() for c in left]
