"""The study report on real folders: a campaign with failures, an optimisation, a transfer study and
a debug session, each produced by the tradeoff command in this process (real Ray, Prefect, MLflow),
and a learning curve (``tradeoff evaluate --json``) in the campaign's folder;
the page read as HTML, then opened in headless Chromium (its DOM and a screenshot)."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys

import mlflow
import pytest
import yaml
from PIL import Image

from conftest import prefect_server

CHROMIUM = ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
# A command spec whose program fails above level 16: failed rows with their error, next to successful ones.
FAILING = {"system": "probe",
           "command": "test {level} -le 16 || {{ echo level {level} is too high >&2; exit 3; }}; echo value $(({level} * 10 + {extra}))",
           "options": [{"name": "level", "type": "int", "range": [1, 20], "default": 1},
                       {"name": "extra", "type": "int", "range": [0, 5], "default": 0}],
           "workloads": {"none": "nothing to read"},
           "metrics": [{"name": "value", "from": "regex", "pattern": r"value (\d+)", "stream": "stdout"}]}


def tradeoff(*args: str) -> tuple[int, str, str]:
    """The tradeoff command in this process: exit code, stdout, stderr."""
    from flows.cli import main
    stdout, stderr = io.StringIO(), io.StringIO()
    argv, sys.argv = sys.argv, ["tradeoff", *args]
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    finally:
        sys.argv = argv
    return code, stdout.getvalue(), stderr.getvalue()


def run_id(stdout: str) -> str:
    return re.search(r"MLflow run (\w+)", stdout).group(1)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from prefect.settings import PREFECT_API_URL, temporary_settings
    root = tmp_path_factory.mktemp("study")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    (root / "probe.yaml").write_text(yaml.safe_dump(FAILING))
    (root / "faulty.yaml").write_text("o3: 0\no8: 3\n")
    tracked = ("--tracking-uri", uri)
    commands = {
        "campaign": ["campaign", str(root / "probe.yaml"), "--budget", "24", "--out", str(root / "campaign")],
        "optimisation": ["optimize", "synthetic", "--objective", "perf", "--budget", "12", "--out", str(root / "optimisation")],
        "transfer": ["transfer", "--source", str(root / "optimisation"), "--target", "synthetic", "--environment", "other",
                     "--budget", "10", "--out", str(root / "transfer")],
        "debug": ["debug", "causal-synthetic", "--workload", "s3", "--goal", "latency <= 15", "--config", str(root / "faulty.yaml"),
                  "--initial", "30", "--budget", "3", "--out", str(root / "debug")],
    }
    runs = {}
    with temporary_settings({PREFECT_API_URL: prefect_server()}):
        for name, args in commands.items():
            code, stdout, stderr = tradeoff(*args, *tracked)
            assert code == 0, stderr[-3000:]
            runs[name] = run_id(stdout)
    code, _, stderr = tradeoff("evaluate", str(root / "campaign"), "--metric", "value", "--learner", "log-forest", "--sizes", "8",
                               "--repeats", "2", "--json", str(root / "campaign" / "evaluation.json"), *tracked)
    assert code == 0, stderr  # a learning curve in the folder: the report shows it
    parts = ["campaign", "optimisation", "transfer", "debug"]
    code, stdout, stderr = tradeoff("report", *(str(root / p) for p in parts), "--out", str(root / "report.html"), *tracked)
    assert code == 0, stderr
    return {"root": root, "uri": uri, "runs": runs, "stdout": stdout, "html": (root / "report.html").read_text()}


def articles(page: str) -> dict[str, list[str]]:
    """Each article's title and the ids of its sections, in order."""
    found = {}
    for article in re.findall(r"<article .*?</article>", page, re.S):
        title = re.search(r"<h2>(.*?)</h2>", article).group(1)
        found[title.split(":")[0]] = re.findall(r'data-section="([\w-]+)"', article)
    return found


@pytest.mark.slow  # the study: four flows and a learning curve, run for real
def test_the_report_has_every_section_that_applies_to_each_folder(study):
    page = study["html"]
    shown = articles(page)
    assert shown["campaign"] == ["measured", "distribution", "influences", "accuracy", "learning-curve", "failures"]
    assert shown["optimisation"] == ["measured", "optimisation", "distribution", "influences", "accuracy"]
    assert shown["transfer study"] == ["measured", "transfer", "distribution", "influences", "accuracy"]
    assert shown["debug session"] == ["measured", "causal", "distribution", "influences", "accuracy"]
    assert re.search(r"level (17|18|19|20) is too high", page)  # the failures' own errors
    assert "latency &lt;= 15" in page and "linear-shift" in page  # the debug goal, auto's transfer choice
    # self-contained: no file or address outside the page
    assert not re.search(r'(src|href)="(?!data:|#)', page) and "<link" not in page
    # the report went to the campaign's MLflow run, found by the campaign id the folder's rows carry
    client = mlflow.MlflowClient(study["uri"])
    assert f"logged to MLflow run {study['runs']['campaign']}" in study["stdout"]
    assert "report.html" in [a.path for a in client.list_artifacts(study["runs"]["campaign"])]


@pytest.mark.slow
def test_the_report_of_an_mlflow_run_downloads_its_artifacts_and_is_logged_there(study, tmp_path):
    """The optimisation's own run: its optimum and convergence, with the measurements of its campaign's run."""
    run = study["runs"]["optimisation"]
    code, stdout, stderr = tradeoff("report", f"runs:/{run}", "--out", str(tmp_path / "run.html"), "--tracking-uri", study["uri"])
    assert code == 0, stderr
    shown = articles((tmp_path / "run.html").read_text())
    assert shown == {"optimisation": ["measured", "optimisation", "distribution", "influences", "accuracy"]}
    assert f"logged to MLflow run {run}" in stdout
    assert "run.html" in [a.path for a in mlflow.MlflowClient(study["uri"]).list_artifacts(run)]


@pytest.mark.slow
def test_a_metric_the_folder_lacks_is_one_line(study, tmp_path):
    code, _, stderr = tradeoff("report", str(study["root"] / "campaign"), "--metric", "speed", "--out", str(tmp_path / "r.html"))
    assert code == 2 and stderr.count("\n") == 1 and "has no metric 'speed'; give --metric one of value" in stderr, stderr
    assert not (tmp_path / "r.html").exists()


@pytest.mark.slow
def test_chromium_decodes_every_image_and_draws_the_page(study, tmp_path):
    page = study["root"] / "report.html"
    browser = [*CHROMIUM, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    dom = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    images = int(re.search(r'data-images="(\d+)"', dom).group(1))
    assert images >= 20 and re.search(r'data-decoded="(\d+)"', dom).group(1) == str(images)
    assert articles(dom) == articles(study["html"])  # the browser's DOM holds every section
    shot = tmp_path / "report.png"
    subprocess.run([*browser, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120)
    grey = Image.open(shot).convert("L")
    histogram = grey.histogram()
    drawn = 1 - histogram[255] / sum(histogram)  # the share of the screen that is not white background
    assert grey.size == (1280, 2400) and drawn > 0.1, drawn


def test_the_command_the_description_and_the_report_word_a_model_alike():
    """One wording (tradeoff.models.accuracy.verdict): at 10% MAPE a model is one to act on, wherever it is read."""
    from tradeoff.models.accuracy import accuracy_words, verdict
    assert verdict(10.0, 0.1).startswith("accurate enough to act on")
    assert verdict(10.1, 0.8).startswith("good enough to rank configurations (Spearman 0.80)")
    assert verdict(30.0, 0.5).startswith("not accurate enough to act on (off by 30%, Spearman 0.50)")
    assert verdict(30.0, None).startswith("not accurate enough to act on (off by 30%)")
    assert accuracy_words(10.0, 0.1, 80) == f"cross-validated MAPE 10.0%: {verdict(10.0, 0.1)}."
    assert accuracy_words(None, None, 3).startswith("not fitted: 3 configurations")
