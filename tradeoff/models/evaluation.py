"""How accurate a learner is for a sample size: learning curves with the published protocol.

DeepPerf's protocol (Ha & Zhang, ICSE'19, also DECART's): for each sample size, train on a
sample of the measured configurations and test on *every other* row; repeat (30 times in the
papers) and report the mean relative error (%) with the 95% margin of its mean
(t-distribution). The training samples come from DeepPerf's training-index files when given,
so that our numbers compare with theirs sample for sample, else from seeded random draws.
"""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats
from threadpoolctl import threadpool_limits

from tradeoff.errors import TradeoffError
from tradeoff.importing import read_any
from tradeoff.measurements import METRIC_PREFIX, OPTION_PREFIX, MeasurementStore, aggregate, options_of, space_of
from tradeoff.models.accuracy import mape
from tradeoff.models.learners.base import make_learner
from tradeoff.space import Space, infer_options


@dataclass
class Table:
    """A measured table ready to learn from: its space, encoded options and one metric."""
    space: Space
    configs: pd.DataFrame
    X: np.ndarray
    y: np.ndarray


def load_table(path: str | Path, metric: str) -> Table:
    """A campaign folder (its successful configurations, medians of their repetitions), or a CSV
    with one column per option and a column for the metric (named ``M`` or ``metric.M``); a CSV's
    rows keep their order, so training-index files refer to them."""
    path = Path(path)
    if path.is_dir():
        frame = MeasurementStore(path).read()
        summary = aggregate(frame)
        summary = summary[summary["status"] == "ok"].reset_index(drop=True)
        column = METRIC_PREFIX + metric
        if column not in summary.columns:
            raise TradeoffError(f"{path} has no metric {metric!r}; it has {', '.join(c[len(METRIC_PREFIX):] for c in summary.columns if c.startswith(METRIC_PREFIX))}")
        space = space_of(frame)
        configs = options_of(summary, space.names)
        y = summary[column].to_numpy(float)
    elif path.is_file():
        frame = read_any(path)
        column = next((c for c in (metric, METRIC_PREFIX + metric) if c in frame.columns), None)
        if column is None:
            raise TradeoffError(f"{path} has no column {metric!r}; give --metric one of its columns: {', '.join(map(str, frame.columns))}")
        options = [c for c in frame.columns if c != column and not str(c).startswith(METRIC_PREFIX)]
        options_frame = frame[options].rename(columns=lambda c: str(c).removeprefix(OPTION_PREFIX))
        space = Space(infer_options(options_frame))
        configs = space.to_frame(options_frame.to_dict("records"))
        y = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)  # text becomes NaN, then unusable
    else:
        raise TradeoffError(f"{path} is neither a campaign folder nor a CSV file")
    keep = np.isfinite(y)
    if keep.sum() < 4:
        raise TradeoffError(f"{path} has {int(keep.sum())} usable (finite, numeric) values of {metric!r}; learning needs at least 4")
    configs = configs[keep].reset_index(drop=True)
    return Table(space, configs, space.encode(configs), y[keep])


def parse_sizes(text: str, n_options: int) -> list[int]:
    """'16,32,64' or 'n,2n,3n,4n,5n' (n = the number of options) as sample sizes."""
    sizes = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d*)\s*(n?)\s*", part)
        if not match or not (match.group(1) or match.group(2)):
            raise TradeoffError(f"cannot read sample size {part!r}; write sizes like 16,32 or n,2n,3n")
        factor = int(match.group(1) or 1)
        if factor == 0:
            raise TradeoffError(f"sample size {part.strip()!r} is 0; each size must be at least 1, e.g. 16,32 or n,2n,3n")
        sizes.append(factor * n_options if match.group(2) else factor)
    return sizes


def read_training_index(path: str | Path) -> dict[int, list[np.ndarray]]:
    """A DeepPerf training-index file: row 0 holds each column's sample size, each further row
    one experiment; the columns of one size hold that experiment's 0-based row indices."""
    try:
        with warnings.catch_warnings():  # an empty file is refused below, not warned about on stderr
            warnings.simplefilter("ignore", UserWarning)
            table = np.loadtxt(path, delimiter=",", ndmin=2)
    except (OSError, ValueError) as error:
        raise TradeoffError(f"cannot read training index {path}: {error}".splitlines()[0]) from None
    if len(table) < 2 or table.shape[1] == 0:
        raise TradeoffError(f"training index {path} holds no experiment; row 0 gives each column's sample size, each further row one experiment")
    sizes = table[0].astype(int)
    return {int(size): [row[sizes == size].astype(int) for row in table[1:]] for size in dict.fromkeys(sizes)}


def random_training_sets(n_rows: int, sizes: list[int], repeats: int, seed: int) -> dict[int, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    too_big = [s for s in sizes if s >= n_rows]
    if too_big:
        raise TradeoffError(f"sample size {too_big[0]} leaves no test rows in a table of {n_rows}; use smaller sizes")
    return {size: [np.sort(rng.choice(n_rows, size=size, replace=False)) for _ in range(repeats)] for size in sizes}


def learning_curve(table: Table, learners: list[str], training_sets: dict[int, list[np.ndarray]],
                   repeats: int | None = None, seed: int = 0, progress=None, jobs: int = 1) -> pd.DataFrame:
    """One row per (learner, size, repeat): the test MRE (%) on every row outside the training
    sample, and the fit time. ``repeats`` keeps the first experiments of each size. ``jobs``
    worker processes fit independent (size, repeat, learner) cases; each fit has its own seed and
    one BLAS thread whatever ``jobs`` is, so the rows are the same for any ``jobs``."""
    cases = []
    for size, samples in training_sets.items():
        for repeat, train in enumerate(samples[:repeats]):
            if train.max(initial=-1) >= len(table.y):
                raise TradeoffError(f"the training index refers to row {int(train.max())}, but the table has {len(table.y)} rows")
            cases += [(name, size, repeat, train) for name in learners]
    fits = Parallel(n_jobs=jobs, return_as="generator")(
        delayed(_fit_and_test)(table.X, table.y, train, name, seed + repeat) for name, size, repeat, train in cases)
    rows = []
    for (name, size, repeat, _), (error, fit_s, chosen) in zip(cases, fits):  # in submission order
        rows.append({"learner": name, "size": size, "repeat": repeat, "mre": error, "fit_s": fit_s, "chosen": chosen})
        if progress:
            progress(rows[-1])
    return pd.DataFrame(rows)


def _fit_and_test(X: np.ndarray, y: np.ndarray, train: np.ndarray, name: str, seed: int) -> tuple[float, float, str]:
    # One BLAS thread: the matrices are small, and the result must not depend on the thread count.
    with threadpool_limits(1, "blas"):
        test = np.setdiff1d(np.arange(len(y)), train)
        model = make_learner(name, seed)
        started = time.perf_counter()
        model.fit(X[train], y[train])
        fit_s = time.perf_counter() - started
        return mape(y[test], model.predict(X[test])), fit_s, getattr(model, "chosen_", name)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean MRE per learner and size with the 95% margin of the mean (t-distribution, as DeepPerf)."""
    def margin(values: pd.Series) -> float:
        return float(stats.sem(values) * stats.t.ppf(0.975, len(values) - 1)) if len(values) > 1 else float("nan")
    grouped = results.groupby(["learner", "size"], sort=False)["mre"]
    return pd.DataFrame({"mean": grouped.mean(), "margin": grouped.agg(margin), "repeats": grouped.size(),
                         "fit_s": results.groupby(["learner", "size"], sort=False)["fit_s"].mean()}).reset_index()

