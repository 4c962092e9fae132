"""Learning and evaluating performance models from measured tables, tracked in MLflow.

Plain functions behind ``tradeoff learn`` and ``tradeoff evaluate``: they fit on one machine in
seconds, so no Prefect flow or Ray cluster is started for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from sklearn.model_selection import KFold, cross_val_predict

from tasks.tracking import use_experiment
from tradeoff.errors import TradeoffError
from tradeoff.models.accuracy import mape, option_influences
from tradeoff.models.evaluation import (learning_curve, load_table, parse_sizes, random_training_sets, read_training_index,
                                        summarise)
from tradeoff.models.learners.base import LEARNERS, make_learner
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


def learn(data: Path, metric: str, learner: str, out: Path, seed: int, folds: int = 5,
          tracking_uri: str | None = None, experiment: str = "tradeoff") -> Learned:
    table = load_table(data, metric)
    if len(table.y) < folds:
        raise TradeoffError(f"{data} has {len(table.y)} configurations; cross-validation needs at least {folds}")
    predicted = cross_val_predict(make_learner(learner, seed), table.X, table.y, cv=KFold(folds, shuffle=True, random_state=seed))
    cv_mape = mape(table.y, predicted)
    model = make_learner(learner, seed).fit(table.X, table.y)
    shares = option_influences(model, table.space, table.X, table.y, seed)
    text = describe(model, table.space.feature_names())
    out.mkdir(parents=True, exist_ok=True)
    save_model(out, model, table.space, metric, learner)
    (out / "model.txt").write_text(text + "\n")
    shares.rename_axis("option").rename("share").to_csv(out / "influences.csv")
    plots.influences(shares, f"influence on {metric} ({learner})", out / "influences.png")
    model_plots.predicted_vs_measured(table.y, predicted, metric, out / "predicted_vs_measured.png")
    uri = use_experiment(experiment, tracking_uri)
    with mlflow.start_run(run_name=f"learn {Path(data).name} {metric} {learner}") as run:
        mlflow.log_params({"data": str(data), "metric": metric, "learner": learner, "seed": seed, "folds": folds,
                           "configurations": len(table.y)})
        mlflow.log_metric("cv_mape", cv_mape)
        mlflow.log_artifacts(str(out), "model")
    return Learned(model, text, shares, cv_mape, out, run.info.run_id, uri)


def evaluate(data: Path, metric: str, learners: list[str], sizes: str, training_index: Path | None, repeats: int,
             seed: int, json_out: Path | None, plot: Path | None, tracking_uri: str | None = None,
             experiment: str = "tradeoff", progress=None) -> tuple[pd.DataFrame, str]:
    """Learning curves (see tradeoff.models.evaluation); returns the summary table and the MLflow run id."""
    table = load_table(data, metric)
    for name in learners:
        LEARNERS.check(name)  # an unknown name fails before any fitting
    if training_index:
        training_sets = read_training_index(training_index)
        wanted = parse_sizes(sizes, len(table.space)) if sizes else list(training_sets)
        missing = [s for s in wanted if s not in training_sets]
        if missing:
            raise TradeoffError(f"{training_index} has no samples of size {missing[0]}; it has sizes {', '.join(map(str, training_sets))}")
        training_sets = {s: training_sets[s] for s in wanted}
    else:
        training_sets = random_training_sets(len(table.y), parse_sizes(sizes or "n,2n,3n,4n,5n", len(table.space)), repeats, seed)
    results = learning_curve(table, learners, training_sets, repeats, seed, progress)
    summary = summarise(results)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"data": str(data), "metric": metric, "summary": summary.to_dict("records"),
                                        "runs": results.to_dict("records")}, indent=1))
    if plot:
        model_plots.learning_curve(summary, plot, f"{Path(data).name}: {metric}")
    use_experiment(experiment, tracking_uri)
    with mlflow.start_run(run_name=f"evaluate {Path(data).name} {metric}") as run:
        mlflow.log_params({"data": str(data), "metric": metric, "learners": ",".join(learners), "repeats": repeats,
                           "seed": seed, "training_index": str(training_index or "")})
        for row in summary.itertuples():
            mlflow.log_metric(f"mre_{row.learner}_{row.size}", row.mean)
        for path in (json_out, plot):
            if path:
                mlflow.log_artifact(str(path))
    return summary, run.info.run_id
