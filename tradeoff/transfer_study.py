"""A transfer study: from source measurements and a small target sample to a target model and
its error, next to what the target sample alone achieves.

Methods (``METHODS``): ``target-only`` (the target learner, no source), ``linear-shift``,
``stack``, ``stack-gp``, ``mtgp``, ``auto`` (see ``tradeoff.models.transfer``), and ``l2s``: the target sample is
drawn by the L2S sampler from the source's influential terms, and the model reuses the source
data by stacking (L2S + data reuse, FSE'18). Every method is scored with MAPE on held-out target
measurements when there are any (a replay's rest of the table), else by cross-validation on
the target sample.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, cross_val_predict

from tradeoff.plots.common import plt, save
from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, option_names, options_of
from tradeoff.models.accuracy import mape
from tradeoff.models.learners.base import make_learner
from tradeoff.models.transfer import Bellwether, Source, bellwether, make_transfer
from tradeoff.space import Space
from tradeoff.transfer import successful

METHODS = ("auto", "linear-shift", "stack", "stack-gp", "mtgp", "l2s")
L2S_MODEL = "stack"  # the model L2S's sample is learned with: the source data is reused


def sampler_for(method: str, default: str = "random") -> str:
    if method not in METHODS:
        raise TradeoffError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    return "l2s" if method == "l2s" else default


def encoded(space: Space, frame: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """The successful configurations of a measurement table on ``space``'s encoding, their values and options."""
    missing = [name for name in space.names if name not in option_names(frame)]
    if missing:
        raise TradeoffError(f"the measurements lack option {missing[0]!r} of the target; use a source of the same system")
    table = successful(frame, metric)
    configs = options_of(table, space.names)
    return space.encode(space.to_frame(configs.to_dict("records"))), table[METRIC_PREFIX + metric].to_numpy(float), configs


def choose_source(sources: dict[str, pd.DataFrame], space: Space, metric: str, learner: str = "forest",
                  seed: int = 0) -> Bellwether:
    """The bellwether among the sources (the only one when there is one)."""
    if not sources:
        raise TradeoffError("give at least one source: --source DIR (a campaign folder) or --source SYSTEM:ENVIRONMENT")
    data = {name: encoded(space, frame, metric)[:2] for name, frame in sources.items()}
    for name, (_, y) in data.items():
        if len(y) < 5:
            raise TradeoffError(f"source {name} has {len(y)} successful measurements of {metric}; a source needs at least 5")
    return bellwether(data, learner, seed)


@dataclass
class StudyResult:
    method: str
    source: str
    bellwether: str  # why this source
    bellwether_confidence: float
    target_measurements: int
    evaluation: str
    errors: dict[str, float]  # method -> MAPE (%)
    chosen: str  # the model the method settled on (auto's choice; the method itself otherwise)
    reason: str
    cv_errors: dict[str, float] = field(default_factory=dict)  # auto's cross-validated candidates

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"source: {self.source} ({self.bellwether})",
               f"target sample: {self.target_measurements} configurations; evaluated on {self.evaluation}"]
        out += [f"  {name:<14} MAPE {value:6.2f}%" for name, value in sorted(self.errors.items(), key=lambda kv: kv[1])]
        out.append(f"{self.method}: {self.reason}")
        return out


def fit_and_evaluate(sources: dict[str, pd.DataFrame], target_sample: pd.DataFrame, space: Space, metric: str,
                     method: str, learner: str = "forest", seed: int = 0, holdout: pd.DataFrame | None = None,
                     chosen_source: Bellwether | None = None) -> tuple[StudyResult, dict]:
    """Fit ``method`` and target-only on the target sample; score both (and auto's pick).

    Returns the result and the fitted models by name."""
    sampler_for(method)
    choice = chosen_source or choose_source(sources, space, metric, learner, seed)
    Xs, ys, _ = encoded(space, sources[choice.choice], metric)
    source = Source(Xs, ys, learner, seed, choice.choice)
    X, y, sampled = encoded(space, target_sample, metric)
    if len(y) < 3:
        raise TradeoffError(f"the target sample holds {len(y)} successful measurements of {metric}; raise --budget to at least 3")
    model_name = L2S_MODEL if method == "l2s" else method
    models = {"target-only": make_learner(learner, seed), method: make_transfer(model_name, source, learner, seed)}
    errors, evaluation = {}, ""
    test = _held_out(space, holdout, sampled, metric) if holdout is not None else None
    if test is not None and len(test[1]) > 0:
        evaluation = f"{len(test[1])} held-out target configurations"
        for name, model in models.items():
            errors[name] = mape(test[1], model.fit(X, y).predict(test[0]))
    else:
        folds = min(5, len(y))
        evaluation = f"{folds}-fold cross-validation on the target sample"
        split = KFold(folds, shuffle=True, random_state=seed)
        for name, model in models.items():
            errors[name] = mape(y, cross_val_predict(model, X, y, cv=split))
            model.fit(X, y)
    fitted = models[method]
    if method == "auto":
        chosen, reason, cv = fitted.choice_, fitted.reason_, fitted.cv_mape_
    else:
        chosen, cv = method, {}
        verdict = "helps" if errors[method] < errors["target-only"] else "does not help"
        reason = f"the source {verdict}: {method} {errors[method]:.1f}% vs target-only {errors['target-only']:.1f}% MAPE"
    result = StudyResult(method, choice.choice, choice.reason, choice.confidence, len(y), evaluation,
                         {k: float(v) for k, v in errors.items()}, chosen, reason, cv)
    return result, models


def _held_out(space: Space, holdout: pd.DataFrame, sampled: pd.DataFrame, metric: str):
    X, y, configs = encoded(space, holdout, metric)
    keys = [tuple(r) for r in configs.astype(str).itertuples(index=False)]
    taken = {tuple(r) for r in sampled.astype(str).itertuples(index=False)}
    keep = np.array([k not in taken for k in keys], dtype=bool)
    return X[keep], y[keep]


def write_study(result: StudyResult, folder: Path) -> list[Path]:
    """transfer.json and a bar chart of each method's error."""
    folder.mkdir(parents=True, exist_ok=True)
    report = folder / "transfer.json"
    report.write_text(json.dumps(result.to_dict(), indent=2))
    errors = pd.Series(result.errors).sort_values()
    fig, ax = plt.subplots(figsize=(5.5, 0.5 * len(errors) + 1.3))
    ax.barh(errors.index[::-1], errors.to_numpy()[::-1], color=["#228833" if n != "target-only" else "#bbbbbb" for n in errors.index[::-1]])
    ax.set_xlabel("MAPE (%)")
    ax.set_title(f"{result.target_measurements} target measurements, {result.evaluation}", fontsize=9)
    return [report, save(fig, folder / "transfer-errors.png")]
