"""Settings objects: frozen, keyword-only, checked once; bad input is one line before anything runs."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from tasks.settings import CampaignSettings, DebugSettings, Execution, Target, TransferSettings
from conftest import run_cli
from tradeoff.errors import TradeoffError


def test_settings_are_frozen_and_keyword_only():
    with pytest.raises(TypeError):
        CampaignSettings(Target(system="synthetic"))  # positional: a bare 10 can no longer mean top_k
    settings = CampaignSettings(target=Target(system="synthetic"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.budget = 3


@pytest.mark.parametrize("build, words", [
    (lambda: CampaignSettings(target=Target(system="synthetic"), budget=0), "--budget"),
    (lambda: CampaignSettings(target=Target(system="synthetic"), sampler="nosuch"), "unknown sampler 'nosuch'"),
    (lambda: CampaignSettings(target=Target(system="synthetic"), learner="nosuch"), "unknown learner 'nosuch'"),
    (lambda: Execution(reps=0), "--reps"),
    (lambda: Execution(timeout=-1), "--timeout"),
    (lambda: Execution(cores_per_run=0), "--cores-per-run"),
    (lambda: TransferSettings(sources=(), target=Target(system="synthetic")), "--source"),
    (lambda: TransferSettings(sources=("a",), target=Target(system="synthetic"), method="nosuch"), "nosuch"),
    (lambda: DebugSettings(target=Target(system="synthetic"), goals=("perf <= 1",)), "--config"),
])
def test_bad_values_are_refused_when_the_settings_are_made(build, words):
    with pytest.raises(TradeoffError, match=words.replace("(", r"\(")):
        build()


def test_resolve_fills_what_the_system_decides_once():
    settings = CampaignSettings(target=Target(system="synthetic"), budget=4).resolve()
    assert settings.resolved and settings.metric == "perf" and settings.target.workload and settings.out
    assert settings.resolve() is settings
    with pytest.raises(TradeoffError, match="no metric 'nosuch'"):
        CampaignSettings(target=Target(system="synthetic"), metric="nosuch").resolve()


@pytest.mark.parametrize("args, words", [
    (["campaign", "synthetic", "--nosuchoption", "3"], "No such option"),
    (["campaign", "synthetic", "--budget", "abc"], "Invalid value for '--budget'"),
    (["campaign", "synthetic", "--learner", "nosuch", "--budget", "5"], "unknown learner 'nosuch'"),
    (["campaign", "synthetic", "--sampler", "nosuch"], "unknown sampler 'nosuch'"),
    (["campaign", "synthetic", "--budget", "0"], "--budget"),
    (["evaluate", "x.csv", "--metric", "m", "--learner", "nosuch"], "unknown learner 'nosuch'"),
])
def test_bad_input_is_one_line_before_anything_runs(tradeoff, tmp_path, args, words):
    result = tradeoff(*args, *(["--out", str(tmp_path / "x")] if args[0] == "campaign" else []))
    code, err = result.returncode, result.stderr
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err, err
    assert "Traceback" not in err and not (tmp_path / "x").exists()


@pytest.mark.slow
def test_a_command_spec_campaign_of_one_configuration_runs_the_program_twice(tmp_path):
    """One smoke check (before anything is measured) and one measurement; settings resolved once."""
    counter = tmp_path / "runs.txt"
    spec = {"system": "counted", "command": f"echo run {{level}} >> {counter}; echo 'value 1'",
            "options": [{"name": "level", "type": "int", "range": [1, 3], "default": 1}],
            "workloads": {"none": "nothing to read"},
            "metrics": [{"name": "value", "from": "regex", "pattern": r"value (\d+)", "stream": "stdout"}]}
    path = tmp_path / "counted.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = run_cli("campaign", str(path), "--budget", "1", "--out", str(tmp_path / "c"),
                     "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert result.returncode == 0, result.stderr
    assert Path(counter).read_text().count("run") == 2
