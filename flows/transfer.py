"""The Prefect flow ``transfer``: source campaign(s) + target -> sample the target (L2S or any
sampler) -> measure on Ray -> transfer and target-only models -> evaluate -> report and MLflow.

``compare_environments`` is the work of ``tradeoff compare-envs``: no measuring, so no flow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow

from systems.replay import environment_frame
from tasks.campaign import measure_configurations
from tasks.settings import TransferSettings
from tasks.tracking import track
from tasks.transfer import evaluate_transfer, load_sources, pick_source, sample_target
from tradeoff.errors import TradeoffError
from tradeoff.measurements import metric_names
from tradeoff.plots import transfer as plots
from tradeoff.transfer.compare import PAIRINGS, compare
from tradeoff.transfer.study import StudyResult


@dataclass
class TransferOutcome:
    folder: Path
    result: StudyResult
    comparison: list[str] = field(default_factory=list)
    measured_now: int = 0
    tracking_uri: str = ""
    run_id: str = ""
    tracking_problem: str | None = None  # why logging to MLflow failed, where it did (the data are kept)


@flow(name="transfer")
def transfer(settings: TransferSettings, progress: bool = True) -> TransferOutcome:
    settings = settings.resolve()
    campaign = settings.campaign()
    folder = Path(settings.out)
    sources = load_sources(list(settings.sources), settings.tracking.uri)
    chosen = pick_source(sources, settings.target, settings.metric, settings.learner, settings.seed)
    configs = sample_target(campaign, sources[chosen.choice])
    measured_now = measure_configurations(campaign, configs, progress)
    result, files, comparison = evaluate_transfer(settings, sources, chosen)
    system = settings.target.build()
    params = {"sources": " ".join(settings.sources), "target": settings.target.system, "environment": settings.target.environment,
              "workload": settings.target.workload, "budget": settings.budget, "method": settings.method,
              "metric": settings.metric, "sampler": campaign.sampler, "learner": settings.learner, "seed": settings.seed,
              "reps": settings.execution.reps, "source": chosen.choice, "program_version": system.program_version(),
              **({"holdout": settings.holdout} if settings.holdout else {})}
    metrics = {f"mape_{name}": value for name, value in result.errors.items()} | {
        "target_measurements": result.target_measurements, "bellwether_confidence": result.bellwether_confidence}
    uri, run_id, problem = track(settings.tracking.experiment, settings.tracking.uri, folder.name, params, metrics,
                        tags={"chosen": result.chosen, "source": result.source, "reason": result.reason[:5000]},
                        files=files, folders={"measurements.parquet": folder / "measurements.parquet"})
    return TransferOutcome(folder, result, comparison, measured_now, uri, run_id, problem)


def compare_environments(source: str, target: str, metric: str | None, top_k: int, pairing: str, out: Path) -> list[str]:
    """What carries over from source to target; writes comparison.json and two plots to ``out``."""
    if pairing not in PAIRINGS:  # the values first: reading a replay's table takes seconds
        raise TradeoffError(f"unknown --pairing {pairing!r}; use one of {', '.join(PAIRINGS)}")
    if top_k < 1:
        raise TradeoffError(f"--top-k must be at least 1, not {top_k}")
    frames = environment_frame(source), environment_frame(target)
    common = [m for m in metric_names(frames[0]) if m in metric_names(frames[1])]
    if not common:
        raise TradeoffError("source and target share no metric; compare environments of the same system")
    comparison, paired, influences = compare(*frames, metric or common[0], top_k, str(source), str(target), pairing)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps(comparison.to_dict(), indent=2))
    plots.scatter(paired, comparison, out / "scatter.png")
    plots.influences(influences, comparison, out / "influences.png")
    return [*comparison.lines(), f"report: {out / 'comparison.json'}, plots: {out / 'scatter.png'}, {out / 'influences.png'}"]
