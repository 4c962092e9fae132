"""A transfer study: from source measurements and a small target sample to a target model and
its error, next to what the target sample alone achieves.

The study's methods (``METHODS``) are every transfer method of ``tradeoff.transfer.methods`` and
``l2s``: the target sample is drawn by the L2S sampler from the source's influential terms, and
the model reuses the source data by stacking (L2S + data reuse, FSE'18); ``l2s`` is a sampler plus
a method, so it is the study's, not a member of the registry. ``target-only`` (the target learner,
no source) is not chosen: every study fits it as the baseline. Every method is scored with MAPE on
held-out target measurements when there are any (a replay's rest of the table), else by
cross-validation on the target sample.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, cross_val_predict

from tradeoff.errors import TradeoffError
from tradeoff.models.accuracy import mape
from tradeoff.models.learners.base import make_learner
from tradeoff.plots import transfer as plots
from tradeoff.space import Space
from tradeoff.transfer.bellwether import Bellwether, choose_source
from tradeoff.transfer.compare import encoded
from tradeoff.transfer.methods.base import STUDY_METHODS as METHODS
from tradeoff.transfer.methods.base import Source, make_transfer

L2S_MODEL = "stack"  # the model L2S's sample is learned with: the source data is reused


def sampler_for(method: str, default: str = "random") -> str:
    if method not in METHODS:
        raise TradeoffError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    return "l2s" if method == "l2s" else default


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
    return [report, plots.study_errors(result.errors, result.target_measurements, result.evaluation,
                                       folder / "transfer-errors.png")]
