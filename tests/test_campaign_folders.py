"""Campaign folders through the tradeoff command: one system, environment and workload per folder,
and folders written by earlier versions still open, show, resume and replay."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import run_cli
from systems import get_system

OLD_CAMPAIGN = Path(__file__).parent / "data" / "campaign-v0"  # `tradeoff campaign synthetic --budget 6`, before the schema could grow

pytestmark = pytest.mark.slow  # each case runs the command (Prefect, Ray, MLflow)


def campaign(out: Path, *args: str):
    return run_cli("campaign", "synthetic", "--budget", "6", "--out", str(out),
                   "--tracking-uri", f"sqlite:///{out.parent}/mlflow.db", *args)


@pytest.fixture(scope="module")
def used_folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("used") / "campaign"
    first = campaign(out, "--workload", "linear")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "6 new in this run" in first.stdout
    return out


@pytest.mark.parametrize("other", [["--workload", "paper"], ["--workload", "linear", "--environment", "lab2"]])
def test_a_campaign_of_another_workload_or_environment_is_refused_on_a_used_folder(used_folder, tmp_path, other, tradeoff):
    out = tmp_path / "campaign"
    shutil.copytree(used_folder, out)
    stored = pd.read_parquet(out / "measurements.parquet")
    second = tradeoff("campaign", "synthetic", "--budget", "6", "--out", str(out), *other)  # refused before Prefect or Ray start
    assert second.returncode == 2, second.stdout[-2000:] + second.stderr[-2000:]
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "use another --out" in lines[0], second.stderr
    assert "holds measurements of synthetic / local / linear" in lines[0]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "measurements.parquet"), stored)  # nothing new stored


def test_an_old_campaign_folder_shows_resumes_and_replays(tmp_path, tradeoff):
    out = tmp_path / "old"
    shutil.copytree(OLD_CAMPAIGN, out)
    shown = tradeoff("show", str(out))
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "system synthetic, environment local, workload paper" in shown.stdout and "ok 6" in shown.stdout
    before = pd.read_parquet(out / "measurements.parquet")
    again = campaign(out)  # the settings that wrote it: the same campaign id, so it resumes
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 new in this run" in again.stdout
    after = pd.read_parquet(out / "measurements.parquet")
    assert len(after) == 6 and set(after["started_at"]) == set(before["started_at"])
    replay = get_system(str(out))
    assert replay.name == "synthetic" and len(replay.space.population) == 6
