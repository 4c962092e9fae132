"""Prefect tasks of a transfer study: thin wrappers around tradeoff/ and systems/."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from prefect import task
from prefect.cache_policies import NONE

from systems.replay import Replay, environment_frame, recorded_frame
from tasks.settings import CampaignSettings, Target, TransferSettings
from tasks.tracking import point_mlflow_at, tracking_uri
from tradeoff.errors import TradeoffError
from tradeoff.measurements import MeasurementStore
from tradeoff.models.persist import save_model
from tradeoff.plots import transfer as plots
from tradeoff.samplers.base import sample
from tradeoff.transfer.bellwether import Bellwether, choose_source
from tradeoff.transfer.compare import compare
from tradeoff.transfer.study import StudyResult, fit_and_evaluate, write_study

MLFLOW_PREFIX = "runs:/"


def read_source(spec: str, tracking: str | None = None) -> pd.DataFrame:
    """A source's measurements: a campaign folder, SYSTEM:ENVIRONMENT[:WORKLOAD] of a replay, or
    runs:/RUN_ID, an earlier MLflow run that logged its measurements.parquet."""
    if not spec.startswith(MLFLOW_PREFIX):
        return environment_frame(spec)
    run_id = spec[len(MLFLOW_PREFIX):].strip("/")
    point_mlflow_at(tracking_uri(tracking))
    folder = Path(tempfile.mkdtemp(prefix="tradeoff-source-"))
    try:
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="measurements.parquet", dst_path=str(folder))
    except Exception as error:
        raise TradeoffError(f"cannot fetch measurements.parquet of MLflow run {run_id}: {error}".splitlines()[0]) from None
    return MeasurementStore(folder).read()


@task(cache_policy=NONE)
def load_sources(specs: list[str], tracking: str | None) -> dict[str, pd.DataFrame]:
    return {spec: read_source(spec, tracking) for spec in specs}


@task(cache_policy=NONE)
def pick_source(sources: dict[str, pd.DataFrame], target: Target, metric: str, learner: str, seed: int) -> Bellwether:
    return choose_source(sources, target.build().space, metric, learner, seed)


@task(cache_policy=NONE)
def sample_target(campaign: CampaignSettings, source: pd.DataFrame | None) -> list[dict]:
    """The target sample; L2S draws it from the source's influential options and interactions."""
    return sample(campaign.target.build().space, campaign.sampler, campaign.budget, campaign.seed,
                  sources=() if source is None else (source,), metric=campaign.metric)


@task(cache_policy=NONE)
def evaluate_transfer(settings: TransferSettings, sources: dict[str, pd.DataFrame],
                      chosen: Bellwether) -> tuple[StudyResult, list[Path], list[str], dict[str, Path]]:
    """Fit the method and target-only, score them (on the holdout campaign, a replay on the rest of its
    table, else by cross-validation), write the report and save each fitted model in FOLDER/models/NAME.
    Returns the result, its files, the comparison of the chosen source with the target's measurements
    and the model bundles' folders by method."""
    system, folder, metric, holdout = settings.target.build(), Path(settings.out), settings.metric, settings.holdout
    target = MeasurementStore(folder).read()
    held = MeasurementStore(holdout).read() if holdout else recorded_frame(system) if isinstance(system, Replay) else None
    result, models = fit_and_evaluate(sources, target, system.space, metric, settings.method, settings.learner, settings.seed,
                                      held, chosen)
    bundles = {name: save_model(folder / "models" / name, model, system.space, metric,
                                settings.learner if name == "target-only" else f"{name} ({settings.learner})").parent
               for name, model in models.items()}
    files = write_study(result, folder)
    # A holdout campaign (e.g. the source's sample measured again) gives the comparison its common configurations.
    measured = pd.concat([target, held], ignore_index=True) if holdout else target
    try:
        comparison, paired, influences = compare(sources[chosen.choice], measured, metric, source_label=chosen.choice,
                                                 target_label=f"{system.name}:{system.environment}")
    except TradeoffError as reason:  # too few configurations in common: the study stands without it
        return result, files, [f"no environment comparison: {reason}"], bundles
    files += [plots.scatter(paired, comparison, folder / "compare-scatter.png"),
              plots.influences(influences, comparison, folder / "compare-influences.png")]
    return result, files, comparison.lines(), bundles
