"""The study report: one self-contained HTML page showing what campaign and study folders hold.

An auditor should not need Tradeoff, MLflow or a network to read what a study found: the page
inlines its pictures (base64 PNG) and its CSS, so it opens from a mail attachment or an artifact
store. A person would rather look than read, so every section puts its plot first and the table
beside it.

Sections follow the files each command leaves in its folder, and a section appears only where its
files are there:

| file                                   | written by                      | sections                                   |
|----------------------------------------|---------------------------------|--------------------------------------------|
| measurements.parquet                   | every measuring command         | measured where, distribution, influences and interactions, model accuracy, failures |
| attempts/*.parquet                     | the measuring engine (retries)  | failures (failed attempts)                 |
| a JSON with "summary" and "runs"       | evaluate --json                 | learning curve                             |
| optimum.json, convergence.png          | optimize                        | optimisation                               |
| transfer.json, transfer-errors.png, compare-*.png | transfer             | transfer                                   |
| comparison.json, scatter.png, influences.png | compare-envs              | environment comparison                     |
| debug.json, causal_graph.png, steps/paths/fixes.csv | debug              | causal diagnosis and fixes                 |

Distribution, influences and accuracy are recomputed from the measurements for one metric (the
optimisation's objective, the debug goal's metric, else the first metric), so they agree with each
other; the flows' own plots of those are then not repeated. Every other PNG in a folder is shown
at the end, so a plot a command starts writing is never hidden from the report.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, OPTION_PREFIX, MeasurementStore, aggregate, metric_names, options_of, space_of
from tradeoff.models.accuracy import mape, rank_correlation, verdict
from tradeoff.models.summary import fit_learner
from tradeoff.plots import campaign as campaign_plots
from tradeoff.plots import models as model_plots
from tradeoff.transfer.compare import influence_terms, successful

MARKERS = ("measurements.parquet", "optimum.json", "transfer.json", "comparison.json", "debug.json")
LEARNER = "log-forest"  # the campaign's default learner
WIDE = 8  # options beyond which the best configurations are shown one per column
FOLDS = 5
MODEL_ROWS = 2000  # configurations the accuracy check fits on at most (a replay holds thousands)
FRONT_WORDS = ("front", "pareto", "hypervolume")


def kind(folder: Path) -> str:
    """What a folder holds, in words (its title in the report)."""
    for marker, name in (("debug.json", "debug session"), ("transfer.json", "transfer study"), ("optimum.json", "optimisation"),
                         ("comparison.json", "environment comparison"), ("measurements.parquet", "campaign")):
        if (folder / marker).exists():
            return name
    raise TradeoffError(f"{folder} is not a campaign or study folder (it has none of {', '.join(MARKERS)}); give a folder "
                        "written by tradeoff campaign, optimize, transfer, debug or compare-envs, or runs:/RUN_ID")


def check_folder(folder: Path) -> None:
    if not folder.is_dir():
        what = f"{folder} is a file" if folder.exists() else f"no folder {folder}"
        raise TradeoffError(f"{what}; give a campaign or study folder, or runs:/RUN_ID of an MLflow run")
    kind(folder)


# HTML pieces -----------------------------------------------------------------------------------

def _e(value) -> str:
    return html.escape(str(value))


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}"><figcaption>{_e(alt)}</figcaption></figure>'


def _number(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(value)
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return ""
        if value == 0 or not 1e-3 <= abs(value) < 1e7:
            return f"{value:.4g}"
        text = f"{value:.{max(0, 3 - int(np.floor(np.log10(abs(value)))))}f}"  # 4 significant digits, no exponent
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def _table(frame: pd.DataFrame | list[tuple[str, object]], caption: str = "") -> str:
    """A table from a frame (its columns as header) or from (label, value) pairs."""
    head = f"<caption>{_e(caption)}</caption>" if caption else ""
    if isinstance(frame, list):
        body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_number(v))}</td></tr>" for k, v in frame)
        return f'<table class="facts">{head}{body}</table>'
    header = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f'<td class="{"num" if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else ""}">'
                                    f"{_e(_number(v))}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False))
    return f"<table>{head}<thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"


def _row(*parts: str) -> str:
    return '<div class="row">' + "".join(p for p in parts if p) + "</div>"


@dataclass
class Section:
    id: str
    title: str
    body: str


@dataclass
class _Part:
    """One folder being reported on: its measurements, the metric its sections show, the plots drawn."""
    label: str
    folder: Path
    scratch: Path
    learner: str = LEARNER
    metric: str | None = None
    goal: str | None = None
    frame: pd.DataFrame | None = None
    shown: set[str] = field(default_factory=set)  # PNG names of the folder already in a section

    def png(self, name: str, alt: str) -> str:
        path = self.folder / name
        if not path.exists():
            return ""
        self.shown.add(name)
        return _image(path, alt)

    def json(self, name: str) -> dict | None:
        path = self.folder / name
        return json.loads(path.read_text()) if path.exists() else None

    def csv(self, name: str) -> pd.DataFrame | None:
        path = self.folder / name
        return pd.read_csv(path) if path.exists() and path.stat().st_size else None


# Sections --------------------------------------------------------------------------------------

def _measured(part: _Part) -> Section | None:
    frame = part.frame
    if frame is None or frame.empty:
        return None
    first = frame.iloc[0]
    where = "node" if "node" in frame and frame["node"].notna().any() else "host"
    places = frame[where].fillna("unknown")
    counts = frame.assign(place=places).groupby(["place", "status"]).size().unstack(fill_value=0)
    plot = campaign_plots.statuses(counts, f"measurements per {where} and status", part.scratch / "statuses.png")
    started = pd.to_datetime(frame["started_at"], utc=True)
    facts = [("system", first["system"]), ("environment", first["environment"]), ("workload", first["workload"]),
             ("program version", ", ".join(sorted(frame["program_version"].dropna().astype(str).unique())) or "unknown"),
             ("campaign id", ", ".join(sorted(frame["campaign"].dropna().astype(str).unique()))),
             ("configurations", frame["config_id"].nunique()), ("measurements", len(frame)),
             ("repetitions per configuration", int(frame.groupby("config_id")["repetition"].nunique().max())),
             ("by status", ", ".join(f"{s} {n}" for s, n in frame["status"].value_counts().items())),
             ("measured from", f"{started.min():%Y-%m-%d %H:%M:%S} to {started.max():%Y-%m-%d %H:%M:%S} UTC"),
             ("measuring time", f"{frame['duration_s'].sum():.1f} s in all")]
    nodes = frame.assign(place=places).groupby("place").agg(
        cpu=("cpu_model", lambda s: ", ".join(s.dropna().astype(str).unique()) or "unknown"),
        cores=("cores", "max"), os=("os", lambda s: ", ".join(s.dropna().astype(str).unique()))).reset_index()
    nodes = nodes.rename(columns={"place": where}).merge(counts.reset_index().rename(columns={"place": where}), on=where)
    return Section("measured", "What was measured where",
                   _row(_image(plot, f"measurements per {where}"), _table(facts)) + _row(_table(nodes, f"per {where}")))


def _distribution(part: _Part) -> Section | None:
    if part.frame is None or part.metric is None:
        return None
    table = aggregate(part.frame)
    ok = table[table["status"] == "ok"]
    values = ok[METRIC_PREFIX + part.metric].dropna().to_numpy(float)
    if not len(values):
        return None
    part.shown.add("distribution.png")
    plot = campaign_plots.distribution(values, part.metric, part.scratch / "distribution.png")
    rows = []
    for metric in metric_names(part.frame):
        v = ok[METRIC_PREFIX + metric].dropna()
        noise = ok["cv." + metric].dropna()
        if len(v):
            rows.append({"metric": metric, "min": v.min(), "median": v.median(), "max": v.max(),
                         "max/min": v.max() / v.min() if v.min() > 0 else float("nan"),
                         "noise (median CV)": noise.median() if len(noise) and (ok["reps_ok"] > 1).any() else float("nan")})
    best = ok.dropna(subset=[METRIC_PREFIX + part.metric]).sort_values(METRIC_PREFIX + part.metric, ascending=part.goal != "max").head(5)
    word = "highest" if part.goal == "max" else "lowest"
    options = [c for c in best.columns if c.startswith(OPTION_PREFIX)]
    best = best[["config_id", METRIC_PREFIX + part.metric, *options]].rename(columns=lambda c: c.removeprefix(OPTION_PREFIX).removeprefix(METRIC_PREFIX))
    if len(options) > WIDE:  # one configuration per column, so the options read down the page
        best = best.set_index("config_id").T.rename_axis("config_id").reset_index()
        best.columns = [str(c) for c in best.columns]
    return Section("distribution", f"Distribution of {part.metric}",
                   _row(_image(plot, f"distribution of {part.metric}"), _table(pd.DataFrame(rows), "every metric, over configurations"))
                   + _row(_table(best, f"{word} {part.metric}")))


@dataclass
class _Fit:
    configs: pd.DataFrame
    y: np.ndarray
    predicted: np.ndarray
    shares: pd.Series
    terms: pd.Series


def _fit(part: _Part) -> _Fit | None:
    """Cross-validated predictions and influences of the campaign's default learner on the report's metric."""
    if part.frame is None or part.metric is None:
        return None
    ok = successful(part.frame, part.metric)
    if len(ok) < 2 * FOLDS:
        return None
    if len(ok) > MODEL_ROWS:
        ok = ok.sample(MODEL_ROWS, random_state=0)
    space = space_of(part.frame)
    configs = options_of(ok, space.names)
    y = ok[METRIC_PREFIX + part.metric].to_numpy(float)
    fitted = fit_learner(space.encode(configs), y, space, part.learner, folds=FOLDS)
    return _Fit(configs, y, fitted.predicted, fitted.influences, influence_terms(space, configs, y))


def _influences(part: _Part, fit: _Fit | None) -> Section | None:
    if fit is None:
        return None
    part.shown.add("influences.png")
    options = campaign_plots.influences(fit.shares, f"influence on {part.metric} ({part.learner})", part.scratch / "influences.png")
    pairs = fit.terms[fit.terms.index.str.contains("*", regex=False)].head(10)
    terms = campaign_plots.influences(fit.terms, "options and pairwise interactions (ridge)", part.scratch / "terms.png")
    return Section("influences", f"Influential options and interactions on {part.metric}", _row(
        _image(options, "share of influence per option"),
        _table(_percent(fit.shares.head(10), "option"), "options")) + _row(
        _image(terms, "options and interactions"),
        _table(_percent(pairs, "interaction"), "strongest interactions")))


def _percent(shares: pd.Series, name: str) -> pd.DataFrame:
    return (shares * 100).round(1).rename("share %").rename_axis(name).reset_index()


def _accuracy(part: _Part, fit: _Fit | None) -> Section | None:
    if fit is None:
        return None
    error = mape(fit.y, fit.predicted)
    spearman = rank_correlation(fit.y, fit.predicted)
    plot = model_plots.predicted_vs_measured(fit.y, fit.predicted, part.metric, part.scratch / "predicted.png")
    facts = [("learner", part.learner), ("configurations", len(fit.y)), ("validation", f"{FOLDS}-fold cross-validation"),
             ("MAPE", f"{error:.1f}%"), ("Spearman (ranking)", spearman), ("verdict", verdict(error, spearman))]
    return Section("accuracy", f"How accurate a model of {part.metric} is", _row(_image(plot, "cross-validated predictions"), _table(facts)))


def _learning_curve(part: _Part) -> Section | None:
    rows = []
    for path in sorted(part.folder.glob("*.json")):
        try:
            content = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(content, dict) and {"summary", "runs"} <= content.keys():
            summary = pd.DataFrame(content["summary"])
            plot = model_plots.learning_curve(summary, part.scratch / f"{path.stem}.png", f"{content.get('metric', '')} ({path.name})")
            shown = summary[[c for c in ("learner", "size", "mean", "margin", "repeats") if c in summary]]
            rows.append(_row(_image(plot, "mean relative error against sample size"),
                             _table(shown.rename(columns={"mean": "MRE %", "margin": "95% margin"}), path.name)))
    return Section("learning-curve", "Learning curves (tradeoff evaluate)", "".join(rows)) if rows else None


def _optimisation(part: _Part) -> Section | None:
    optimum = part.json("optimum.json")
    if optimum is None:
        return None
    scalars = [(k, v) for k, v in optimum.items() if not isinstance(v, (dict, list))]
    config = optimum.get("config") or {}
    figures = [part.png("convergence.png", "convergence: best so far")]
    figures += [part.png(p.name, p.stem) for p in sorted(part.folder.glob("*.png")) if any(w in p.name for w in FRONT_WORDS)]
    fronts = [_table(pd.read_csv(p), p.name) for p in sorted(part.folder.glob("*.csv")) if any(w in p.name for w in FRONT_WORDS)]
    return Section("optimisation", "Optimisation", _row(figures[0], _table(scalars, "best measured"),
                                                        _table(list(config.items()), "its configuration"))
                   + _row(*figures[1:], *fronts))


def _transfer(part: _Part) -> Section | None:
    study = part.json("transfer.json")
    if study is None:
        return None
    errors = pd.DataFrame(sorted(study.get("errors", {}).items(), key=lambda kv: kv[1]), columns=["model", "MAPE %"])
    candidates = pd.DataFrame(sorted(study.get("cv_errors", {}).items(), key=lambda kv: kv[1]), columns=["candidate", "cross-validated MAPE %"])
    facts = [(k, study[k]) for k in ("method", "chosen", "source", "bellwether", "bellwether_confidence", "target_measurements", "evaluation") if k in study]
    body = _row(part.png("transfer-errors.png", "error of each model"), _table(errors, "error on the target"), _table(facts))
    body += _row(_table(candidates, "auto's candidates") if len(candidates) else "", _table([("why", study.get("reason", ""))]))
    body += _row(part.png("compare-scatter.png", "target against source"), part.png("compare-influences.png", "influences in both environments"))
    return Section("transfer", "Transfer across environments", body)


def _comparison(part: _Part) -> Section | None:
    comparison = part.json("comparison.json")
    if comparison is None:
        return None
    facts = [(k, ", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in comparison.items()]
    return Section("comparison", "What carries over between the environments",
                   _row(part.png("scatter.png", "target against source"), _table(facts)) + _row(part.png("influences.png", "influences in both")))


def _causal(part: _Part) -> Section | None:
    session = part.json("debug.json")
    if session is None:
        return None
    goals = session.get("goals", [])
    metrics = list(dict.fromkeys(g.split()[0] for g in goals))
    before, after = session.get("faulty_metrics", {}), session.get("best_metrics", {})
    outcome = pd.DataFrame([{"metric": m, "faulty": before.get(m), "best measured": after.get(m)} for m in metrics])
    facts = [("goals", "; ".join(goals)), ("fixed", bool(session.get("fixed"))), ("measurements", session.get("measurements")),
             ("wall time", f"{session.get('wall_s', 0):.1f} s"),
             ("root causes", ", ".join(f"{o} ({e:.2f})" for o, e in session.get("root_causes", [])[:6]))]
    changed = {k: v for k, v in (session.get("best") or {}).items() if (session.get("faulty") or {}).get(k) != v}
    baseline = session.get("baseline") or {}
    facts += [("the fix", ", ".join(f"{k}={v}" for k, v in changed.items()) or "no change"),
              ("decision-tree baseline", ", ".join(f"{k}={v}" for k, v in (baseline.get("changes") or {}).items()) or "no change"),
              ("baseline fixed it", bool(baseline.get("fixed")))]
    body = _row(part.png("causal_graph.png", "causal graph (red: the paths to the objectives)"))
    body += _row(_table(facts), _table(outcome, "objectives"))
    for name, caption in (("steps.csv", "steps of the loop"), ("paths.csv", "causal paths"), ("fixes.csv", "candidate fixes")):
        table = part.csv(name)
        if table is not None:
            body += _row(_table(table.head(10), caption))
    return Section("causal", "Causal diagnosis and fixes", body)


def _failures(part: _Part) -> Section | None:
    tables = []
    if part.frame is not None:
        bad = part.frame[part.frame["status"] != "ok"]
        if len(bad):
            tables.append(_grouped_errors(bad.assign(error=bad["error"].fillna("")), ["status"], "failed measurements (kept as rows)"))
    attempts = sorted((part.folder / "attempts").glob("*.parquet")) if (part.folder / "attempts").is_dir() else []
    if attempts:
        frame = pd.concat([pd.read_parquet(p) for p in attempts], ignore_index=True)
        failed = frame[frame["error"].notna()]
        if len(failed):
            tables.append(_grouped_errors(failed, [c for c in ("node",) if c in failed], "failed attempts (retried)"))
    return Section("failures", "Failures and their errors", "".join(_row(t) for t in tables)) if tables else None


def _grouped_errors(frame: pd.DataFrame, keys: list[str], caption: str) -> str:
    first_line = frame["error"].astype(str).str.strip().str.split("\n").str[-1].str[:300]
    grouped = (frame.assign(error=first_line).groupby([*keys, "error"], dropna=False)
               .agg(count=("config_id", "size"), example=("config_id", "first")).reset_index()
               .sort_values("count", ascending=False))
    return _table(grouped.head(20), caption)


def _figures(part: _Part) -> Section | None:
    rest = [p for p in sorted(part.folder.glob("*.png")) if p.name not in part.shown]
    if not rest:
        return None
    return Section("figures", "Other figures", _row(*(part.png(p.name, p.stem) for p in rest)))


# The page --------------------------------------------------------------------------------------

def _metric_and_goal(part: _Part, metric: str | None) -> None:
    optimum, session = part.json("optimum.json"), part.json("debug.json")
    metrics = metric_names(part.frame) if part.frame is not None else []
    if metric is not None:
        if part.frame is not None and metric not in metrics:
            raise TradeoffError(f"{part.label} has no metric {metric!r}; give --metric one of {', '.join(metrics)}")
        part.metric = metric
    elif optimum and optimum.get("metric"):
        part.metric, part.goal = optimum["metric"], optimum.get("goal")
    elif session and session.get("goals"):
        part.metric = session["goals"][0].split()[0]
        part.goal = "max" if ">" in session["goals"][0] else "min"
    else:
        usable = [m for m in metrics if part.frame[METRIC_PREFIX + m].notna().any()]
        part.metric = usable[0] if usable else None
    if optimum and part.metric == optimum.get("metric"):
        part.goal = optimum.get("goal")


def sections(label: str, folder: Path, scratch: Path, metric: str | None = None, learner: str = LEARNER) -> list[Section]:
    """Every section that applies to what ``folder`` holds, in reading order."""
    folder = Path(folder)
    kind(folder)
    store = MeasurementStore(folder)
    part = _Part(label, folder, scratch, learner, frame=store.read() if store.exists() else None)
    _metric_and_goal(part, metric)
    fit = _fit(part)
    found = [_measured(part), _optimisation(part), _transfer(part), _comparison(part), _causal(part), _distribution(part),
             _influences(part, fit), _accuracy(part, fit), _learning_curve(part), _failures(part)]
    found.append(_figures(part))
    return [s for s in found if s is not None]


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fff}
header{background:#2b4a6f;color:#fff;padding:18px 32px}header h1{margin:0 0 4px;font-size:24px}
header p{margin:0;opacity:.85}nav{padding:8px 32px;background:#eef2f7;font-size:14px}
nav a{margin-right:14px;color:#2b4a6f}main{padding:0 32px 40px;max-width:1400px}
article>h2{margin:28px 0 4px;font-size:21px;border-bottom:3px solid #2b4a6f;padding-bottom:4px}
section h3{margin:22px 0 8px;font-size:17px;color:#2b4a6f}
.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start;margin-bottom:14px}
figure{margin:0;flex:0 1 auto}figure img{max-width:100%;height:auto;border:1px solid #e3e3e3}
figcaption{font-size:12px;color:#666}
table{border-collapse:collapse;font-size:13px;max-width:100%}caption{text-align:left;font-weight:600;padding:2px 0 4px}
th,td{padding:3px 9px;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}thead th{background:#f3f5f8}
table.facts th{color:#555;font-weight:500;white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums}
td{max-width:440px;overflow-wrap:anywhere}td.num{white-space:nowrap}
"""
# The browser counts the images it decoded onto <body> (data-images / data-decoded), for checks through --dump-dom.
SCRIPT = ("<script>addEventListener('load',function(){var i=Array.prototype.slice.call(document.images);"
          "document.body.dataset.images=i.length;document.body.dataset.decoded=i.filter(function(x){"
          "return x.complete&&x.naturalWidth>0}).length})</script>")


def build(parts: list[tuple[str, Path]], metric: str | None = None, learner: str = LEARNER) -> str:
    """The page for (label, folder) pairs: one article per folder, every section that applies."""
    articles, links = [], []
    with tempfile.TemporaryDirectory(prefix="tradeoff-report-") as scratch:
        for number, (label, folder) in enumerate(parts, 1):
            own = Path(scratch) / str(number)
            own.mkdir()
            found = sections(label, Path(folder), own, metric, learner)
            anchor = f"part{number}"
            title = f"{kind(Path(folder))}: {label}"
            links.append(f'<a href="#{anchor}">{_e(title)}</a>')
            body = "".join(f'<section id="{anchor}-{s.id}" data-section="{s.id}"><h3>{_e(s.title)}</h3>{s.body}</section>' for s in found)
            articles.append(f'<article id="{anchor}"><h2>{_e(title)}</h2>{body}</article>')
    now = dt.datetime.now(dt.timezone.utc)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tradeoff report</title>'
            f'<style>{STYLE}</style></head><body><header><h1>Tradeoff study report</h1>'
            f"<p>{len(parts)} folder{'s' if len(parts) > 1 else ''}, written {now:%Y-%m-%d %H:%M} UTC</p></header>"
            f'<nav>{"".join(links)}</nav><main>{"".join(articles)}</main>{SCRIPT}</body></html>')


def write(parts: list[tuple[str, Path]], out: Path, metric: str | None = None, learner: str = LEARNER) -> Path:
    out = Path(out)
    page = build(parts, metric, learner)
    out.write_text(page, encoding="utf-8")
    return out
