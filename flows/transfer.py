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
from tasks.tracking import target_tags, tracked
from tasks.transfer import evaluate_transfer, load_sources, pick_source, sample_target
from tradeoff.errors import TradeoffError
from tradeoff.measurements import MeasurementStore, metric_names
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
    model_uri: str | None = None  # runs:/ID/model: the study's model, logged on the campaign run


@flow(name="transfer")
def transfer(settings: TransferSettings, progress: bool = True) -> TransferOutcome:
    settings = settings.resolve()
    campaign = settings.campaign()
    folder = Path(settings.out)
    system = settings.target.build()
    params = {"sources": " ".join(settings.sources), "target": settings.target.system, "environment": settings.target.environment,
              "workload": settings.target.workload, "budget": settings.budget, "method": settings.method,
              "metric": settings.metric, "sampler": campaign.sampler, "learner": settings.learner, "seed": settings.seed,
              "reps": settings.execution.reps, **({"holdout": settings.holdout} if settings.holdout else {})}
    with tracked(settings.tracking, f"{folder.name} transfer", campaign=campaign.campaign_id(), campaign_name=folder.name,
                 params=params, tags=target_tags(system, settings.target.workload), campaign_params=campaign.identity()) as run:
        sources = load_sources(list(settings.sources), settings.tracking.uri)
        chosen = pick_source(sources, settings.target, settings.metric, settings.learner, settings.seed)
        configs = sample_target(campaign, sources[chosen.choice])
        run.watch(folder, len(configs) * settings.execution.reps)
        measured_now = measure_configurations(campaign, configs, progress)
        result, files, comparison, models = evaluate_transfer(settings, sources, chosen)
        target = MeasurementStore(folder).read()
        for method, error in result.errors.items():  # one nested run per method: its error and fitted model beside the others'
            run.child(f"{folder.name} {method}", params={"method": method, "source": result.source},
                      metrics={"mape": error, "cv_mape": result.cv_errors.get(method)},
                      tags={"chosen": method == result.chosen, "study_model": method == result.method},  # auto: the model; chosen: its pick
                      model=models.get(method), example=target)
        for method in set(result.cv_errors) - set(result.errors):
            run.child(f"{folder.name} {method} (candidate)", params={"method": method, "source": result.source},
                      metrics={"cv_mape": result.cv_errors[method]}, tags={"chosen": method == result.chosen})
        for spec in settings.sources:
            if Path(spec).is_dir():
                run.dataset(Path(spec), settings.metric, context="source")
        run.tags({"chosen": result.chosen, "source": result.source, "reason": result.reason[:5000]})
        run.metrics({"measured_this_run": measured_now}, campaign=False)
        model_uri = run.record(
            folder=folder, metric=settings.metric, files=files, folders={"measurements.parquet": folder / "measurements.parquet"},
            metrics={f"mape_{name}": value for name, value in result.errors.items()} | {
                "target_measurements": result.target_measurements, "bellwether_confidence": result.bellwether_confidence},
            model=models[result.method], description=transfer_note(settings, system, result))
    return TransferOutcome(folder, result, comparison, measured_now, run.uri, run.campaign_run_id, run.problem, model_uri)


def transfer_note(settings: TransferSettings, system, result: StudyResult) -> str:
    """The description: the decision, the model, the bellwether of the sources, each method's error."""
    errors = "\n".join(f"| `{name}` | {value:.2f} |" for name, value in sorted(result.errors.items(), key=lambda kv: kv[1]))
    using = f" (it predicts with `{result.chosen}`)" if result.chosen != result.method else ""
    # Decision and model first: the UI shows a description's first lines until "Show more".
    return (f"### Transfer to `{system.name}` {system.program_version()}, environment `{system.environment}`\n"
            f"**Decision** (`{result.method}`): `{result.chosen}`; {result.reason}\n\n"
            f"**Model** (`model`, loadable with `tradeoff predict runs:/RUN_ID/model`): the fitted `{result.method}`{using}, "
            f"MAPE {result.errors[result.method]:.1f}% on {result.evaluation}; each method's nested run holds its own.\n\n"
            f"**Bellwether**: `{result.source}` ({result.bellwether}; confidence {result.bellwether_confidence:.2f}) of "
            f"{', '.join(f'`{s}`' for s in settings.sources)}\n\n| method | MAPE % |\n|---|---|\n{errors}\n\n"
            f"{result.target_measurements} target configurations measured; evaluated on {result.evaluation}.")


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
