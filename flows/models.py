"""The work of ``tradeoff learn`` and ``tradeoff evaluate``: fit or score performance models, log to MLflow.

These are plain functions, not Prefect flows: they fit on one machine in seconds, and starting a
Prefect server and a Ray cluster for them would cost more than the work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.model_selection import KFold, cross_val_predict

from tasks.settings import EvaluateSettings, LearnSettings
from tasks.tracking import tracked
from tradeoff.errors import TradeoffError
from tradeoff.importing import read_any
from tradeoff.measurements import MeasurementStore
from tradeoff.models.accuracy import accuracy_words, mape, option_influences, rank_correlation
from tradeoff.models.evaluation import (learning_curve, load_table, parse_sizes, random_training_sets, read_training_index,
                                        summarise)
from tradeoff.models.learners.base import make_learner
from tradeoff.models.persist import save_model
from tradeoff.plots import campaign as plots
from tradeoff.plots import models as model_plots


@dataclass
class Learned:
    model: object
    description: str
    influences: pd.Series
    cv_mape: float
    folder: Path
    run_id: str
    tracking_uri: str
    tracking_problem: str | None = None  # why logging to MLflow failed, where it did (the model is saved)


def describe(model, feature_names: list[str]) -> str:
    """The model in words: an influence model's terms, auto's choice, a GP's lengthscales."""
    if hasattr(model, "chosen_"):
        scores = ", ".join(f"{name} {error:.2f}%" for name, error in model.scores_.items())
        why = f"cross-validated MAPE: {scores}" if scores else "too few rows to choose by cross-validation"
        return f"auto chose {model.chosen_} ({why})\n" + describe(model.model_, feature_names)
    if hasattr(model, "to_string"):
        return model.to_string(feature_names)
    if hasattr(model, "lengthscales"):
        shortest = model.lengthscales(feature_names).sort_values().head(8)
        return "GP, shortest ARD lengthscales: " + ", ".join(f"{n} {v:.3g}" for n, v in shortest.items())
    return type(getattr(model, "estimator_", model)).__name__


def learn(settings: LearnSettings) -> Learned:
    s, out = settings, settings.folder
    s.tracking.check()  # before the fit, so a tracking store that is not there costs nothing
    table = load_table(s.data, s.metric)
    if len(table.y) < s.folds:
        raise TradeoffError(f"{s.data} has {len(table.y)} configurations; cross-validation needs at least {s.folds}")
    folds = KFold(s.folds, shuffle=True, random_state=s.seed)
    predicted = cross_val_predict(make_learner(s.learner, s.seed), table.X, table.y, cv=folds)
    cv_mape = mape(table.y, predicted)
    model = make_learner(s.learner, s.seed).fit(table.X, table.y)
    shares = option_influences(model, table.space, table.X, table.y, s.seed)
    text = describe(model, table.space.feature_names())
    out.mkdir(parents=True, exist_ok=True)
    save_model(out, model, table.space, s.metric, s.learner)
    (out / "model.txt").write_text(text + "\n")
    shares.rename_axis("option").rename("share").to_csv(out / "influences.csv")
    plots.influences(shares, f"influence on {s.metric} ({s.learner})", out / "influences.png")
    model_plots.predicted_vs_measured(table.y, predicted, s.metric, out / "predicted_vs_measured.png")
    with tracked(s.tracking, f"learn {Path(s.data).name} {s.metric} {s.learner}",
                 params={"data": s.data, "metric": s.metric, "learner": s.learner, "seed": s.seed, "folds": s.folds,
                         "configurations": len(table.y)}) as run:
        run.dataset(Path(s.data), s.metric, context="training")
        run.metrics({"cv_mape": cv_mape})
        run.files(folders={"model-files": out})
        run.model(out, MeasurementStore(s.data).read() if Path(s.data).is_dir() else read_any(s.data))
        run.describe(f"### Model of `{s.metric}` from `{s.data}`\n`{s.learner}` on {len(table.y)} configurations, "
                     f"{accuracy_words(cv_mape, rank_correlation(table.y, predicted), len(table.y))}\n\n```\n{text[:3000]}\n```\n\n**Most influential options**: "
                     + ", ".join(f"`{o}` ({v:.0%})" for o, v in shares.head(5).items()))
    return Learned(model, text, shares, cv_mape, out, run.run_id, run.uri, run.problem)


def evaluate(settings: EvaluateSettings, progress=None) -> tuple[pd.DataFrame, str]:
    """Learning curves (see tradeoff.models.evaluation); returns the summary table and the MLflow run id."""
    s = settings
    s.tracking.check()
    table = load_table(s.data, s.metric)
    if s.training_index:
        training_sets = read_training_index(s.training_index)
        wanted = parse_sizes(s.sizes, len(table.space)) if s.sizes else list(training_sets)
        missing = [size for size in wanted if size not in training_sets]
        if missing:
            raise TradeoffError(f"{s.training_index} has no samples of size {missing[0]}; it has sizes {', '.join(map(str, training_sets))}")
        training_sets = {size: training_sets[size] for size in wanted}
    else:
        training_sets = random_training_sets(len(table.y), parse_sizes(s.sizes or "n,2n,3n,4n,5n", len(table.space)), s.repeats, s.seed)
    results = learning_curve(table, list(s.learners), training_sets, s.repeats, s.seed, progress)
    summary = summarise(results)
    if s.json_out:
        Path(s.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(s.json_out).write_text(json.dumps({"data": s.data, "metric": s.metric, "summary": summary.to_dict("records"),
                                                "runs": results.to_dict("records")}, indent=1))
    if s.plot:
        model_plots.learning_curve(summary, s.plot, f"{Path(s.data).name}: {s.metric}")
    with tracked(s.tracking, f"evaluate {Path(s.data).name} {s.metric}",
                 params={"data": s.data, "metric": s.metric, "learners": ",".join(s.learners), "repeats": s.repeats,
                         "seed": s.seed, "training_index": s.training_index or ""}) as run:
        run.dataset(Path(s.data), s.metric, context="evaluation")
        for row in summary.itertuples():  # one nested run per learner and size
            run.child(f"{row.learner} n={row.size}", params={"learner": row.learner, "size": row.size, "repeats": row.repeats},
                      metrics={"mre": row.mean, "margin": row.margin, "fit_s": row.fit_s})
        run.metrics({f"mre_{row.learner}_{row.size}": row.mean for row in summary.itertuples()})
        run.files([Path(p) for p in (s.json_out, s.plot) if p])
        best = summary.sort_values("mean").iloc[0] if len(summary) else None
        run.describe(f"### Learning curves of `{s.metric}` on `{s.data}`\n| learner | size | MRE % | 95% margin |\n|---|---|---|---|\n"
                     + "\n".join(f"| `{r.learner}` | {r.size} | {r.mean:.2f} | {r.margin:.2f} |" for r in summary.itertuples())
                     + (f"\n\nLowest error: `{best['learner']}` at {best['size']} configurations." if best is not None else ""))
    if run.problem:  # the summary and files are written; only the run is missing
        raise TradeoffError(run.problem)
    return summary, run.run_id
