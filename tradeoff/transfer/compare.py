"""What carries over from one environment (source) to another (target).

Environments are compared on the configurations measured in both, as in ASE'17 (Jamshidi et
al., "Transfer Learning for Performance Modeling of Configurable Systems: An Exploratory
Analysis"): correlation of the performance values, the linear fit that maps source onto target,
whether the influential options and interactions stay influential, and how noisy each side is.
Invalid measurements (status other than ``ok``) are dropped in either environment.
``successful`` and ``encoded`` give the rows the rest of the wing learns from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.linear_model import Ridge

from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, OPTION_PREFIX, aggregate, metric_names, option_names, options_of
from tradeoff.space import Space, infer_options

MIN_COMMON = 5
INFLUENCE_ROWS = 3000  # the influence model sees at most this many common configurations (seeded subsample)

# The verdict's thresholds: R² of the linear fit (= Pearson²) and agreement of influences.
LINEAR_SHIFT_R2 = 0.8
CARRY_OVER_OVERLAP = 0.6
CARRY_OVER_CORRELATION = 0.6
RANK_KEPT = 0.7  # below this Spearman correlation a good linear fit still reorders configurations


PAIRINGS = ("median", "repetition")


@dataclass
class Paired:
    """The configurations measured (successfully) in both environments."""

    space: Space  # over the common configurations
    configs: pd.DataFrame  # option columns, plain names
    source: np.ndarray
    target: np.ndarray


def successful(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per configuration with a successful measurement of ``metric`` (aggregated medians)."""
    _check_metric(frame, metric)
    table = aggregate(frame)
    return table[(table["status"] == "ok") & table[METRIC_PREFIX + metric].notna()].reset_index(drop=True)


def encoded(space: Space, frame: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """The successful configurations of a measurement table on ``space``'s encoding, their values and options."""
    missing = [name for name in space.names if name not in option_names(frame)]
    if missing:
        raise TradeoffError(f"the measurements lack option {missing[0]!r} of the target; use a source of the same system")
    table = successful(frame, metric)
    configs = options_of(table, space.names)
    return space.encode(space.to_frame(configs.to_dict("records"))), table[METRIC_PREFIX + metric].to_numpy(float), configs


def pair(source: pd.DataFrame, target: pd.DataFrame, metric: str, pairing: str = "median") -> Paired:
    """Join two measurement tables on their option values.

    ``median`` pairs each configuration's median over its successful repetitions. ``repetition``
    pairs repetition i in the source with repetition i in the target, so a configuration that
    both sides measured n times counts n times: this is how ASE'17 correlates its tables row by row
    (a configuration recorded twice in a table is two repetitions in its replay)."""
    if pairing not in PAIRINGS:
        raise TradeoffError(f"unknown pairing {pairing!r}; use one of {', '.join(PAIRINGS)}")
    options = option_names(source)
    if sorted(options) != sorted(option_names(target)):
        raise TradeoffError("source and target have different options; compare environments of the same system")
    keys = [OPTION_PREFIX + o for o in options]
    value = METRIC_PREFIX + metric
    if pairing == "median":
        left, right = successful(source, metric)[keys + [value]], successful(target, metric)[keys + [value]]
    else:
        _check_metric(source, metric), _check_metric(target, metric)
        ok = lambda f: f.loc[(f["status"] == "ok") & f[value].notna(), keys + ["repetition", value]]
        left, right = ok(source), ok(target)
        keys = keys + ["repetition"]
    right = right.astype({k: left[k].dtype for k in keys})
    both = left.merge(right, on=keys, suffixes=("_s", "_t"))
    if len(both) < MIN_COMMON:
        raise TradeoffError(f"only {len(both)} configurations were measured successfully in both environments; "
                            f"measure at least {MIN_COMMON} common configurations (e.g. 'tradeoff campaign SYSTEM "
                            "--config SOURCE_FOLDER' measures the source's configurations in the target)")
    configs = options_of(both, options)
    space = Space(infer_options(configs), population=configs.drop_duplicates())
    return Paired(space, configs, both[value + "_s"].to_numpy(float), both[value + "_t"].to_numpy(float))


def noise(frame: pd.DataFrame, metric: str) -> float | None:
    """Median coefficient of variation over the configurations measured at least twice; None without repetitions."""
    table = successful(frame, metric)
    cv = table.loc[table["reps_ok"] >= 2, "cv." + metric].dropna()
    return float(cv.median()) if len(cv) else None


def _check_metric(frame: pd.DataFrame, metric: str) -> None:
    if METRIC_PREFIX + metric not in frame.columns:
        raise TradeoffError(f"the measurements have no metric {metric!r}; their metrics: {', '.join(metric_names(frame)) or 'none'}")


def influence_terms(space: Space, configs: pd.DataFrame, y: np.ndarray, seed: int = 0) -> pd.Series:
    """Absolute effect of each option and each pairwise interaction on ``y``, as a share of the total.

    A ridge regression on the encoded options (numbers scaled to [0, 1]) and their pairwise
    products: an option's influence is the change in ``y`` from its lowest to its highest level
    (summed over the levels of a categorical option); an interaction's term is named ``a*b``.
    """
    if len(y) > INFLUENCE_ROWS:
        keep = np.random.default_rng(seed).choice(len(y), INFLUENCE_ROWS, replace=False)
        configs, y = configs.iloc[keep], y[keep]
    X = space.encode(configs)
    features = space.feature_names()
    owners = [name.split("=")[0] for name in features]
    pairs = [(i, j) for i, j in combinations(range(len(features)), 2) if owners[i] != owners[j]]
    design = np.hstack([X] + [X[:, [i]] * X[:, [j]] for i, j in pairs]) if pairs else X
    scale = np.std(y) or 1.0
    coefficients = Ridge(alpha=1e-3 * len(y)).fit(design, y / scale).coef_
    names = owners + [f"{owners[i]}*{owners[j]}" for i, j in pairs]
    terms = pd.Series(np.abs(coefficients), index=names).groupby(level=0, sort=False).sum()
    total = terms.sum()
    return (terms / total if total > 0 else terms).sort_values(ascending=False)


@dataclass
class Comparison:
    metric: str
    source: str
    target: str
    common: int  # pairs: configurations (or repetitions) measured successfully in both
    pearson: float
    spearman: float
    slope: float  # target ≈ slope * source + intercept
    intercept: float
    r2: float
    top_k: int
    top_source: list[str]  # the top-k influential options in each environment
    top_target: list[str]
    option_overlap: float  # share of the top-k options found in both top-k lists
    option_correlation: float  # Spearman correlation of every option's influence across environments
    interaction_overlap: float  # the same for the top-k pairwise interactions
    interaction_correlation: float
    source_noise: float | None  # median coefficient of variation over repetitions; None without repetitions
    target_noise: float | None
    verdict: str

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """A plain-text report."""
        noise = lambda v: "no repetitions" if v is None else f"{v:.1%} median CV"
        return [
            f"{self.source} -> {self.target}: {self.metric} on {self.common} common configurations",
            f"Pearson {self.pearson:.2f}, Spearman {self.spearman:.2f}",
            f"linear fit: target = {self.slope:.4g} * source + {self.intercept:.4g} (R² {self.r2:.2f})",
            f"top-{self.top_k} options: source {', '.join(self.top_source)}; target {', '.join(self.top_target)}",
            f"influential options: overlap {self.option_overlap:.0%}, correlation {self.option_correlation:.2f}; "
            f"interactions: overlap {self.interaction_overlap:.0%}, correlation {self.interaction_correlation:.2f}",
            f"noise: source {noise(self.source_noise)}, target {noise(self.target_noise)}",
            f"verdict: {self.verdict}",
        ]


def compare(source: pd.DataFrame, target: pd.DataFrame, metric: str, top_k: int = 5, source_label: str = "source",
            target_label: str = "target", pairing: str = "median", seed: int = 0) -> tuple[Comparison, Paired, pd.DataFrame]:
    """Compare two environments' measurement tables on ``metric``.

    Returns the comparison, the paired data and a table of influence terms (one row per option
    or interaction, columns ``source`` and ``target``) for plots."""
    paired = pair(source, target, metric, pairing)
    xs, yt = paired.source, paired.target
    constant = np.ptp(xs) == 0 or np.ptp(yt) == 0
    pearson = float("nan") if constant else float(stats.pearsonr(xs, yt)[0])
    spearman = float("nan") if constant else float(stats.spearmanr(xs, yt)[0])
    fit = stats.linregress(xs, yt) if np.ptp(xs) > 0 else None
    slope, intercept = (float(fit.slope), float(fit.intercept)) if fit else (0.0, float(np.mean(yt)))
    r2 = 0.0 if constant else pearson ** 2

    influences = pd.DataFrame({"source": influence_terms(paired.space, paired.configs, xs, seed),
                               "target": influence_terms(paired.space, paired.configs, yt, seed)}).fillna(0.0)
    is_pair = influences.index.str.contains(r"\*", regex=True)
    # With few options a top-k list holds nearly all of them and always overlaps: cap k at half of them.
    top_k = max(1, min(top_k, int((~is_pair).sum()) // 2))
    option_overlap, option_corr, top_s, top_t = _agreement(influences[~is_pair], top_k)
    interaction_overlap, interaction_corr, _, _ = _agreement(influences[is_pair], top_k)
    comparison = Comparison(
        metric, source_label, target_label, len(xs), pearson, spearman, slope, intercept, r2, top_k, top_s, top_t,
        option_overlap, option_corr, interaction_overlap, interaction_corr,
        noise(source, metric), noise(target, metric), "")
    comparison.verdict = verdict(comparison)
    return comparison, paired, influences


def verdict(c: Comparison) -> str:
    if c.r2 >= LINEAR_SHIFT_R2:
        caveat = "" if c.spearman >= RANK_KEPT else \
            f", but the ranking of configurations changes (Spearman {c.spearman:.2f}): the best source configuration may not be the best target one"
        return f"a linear shift suffices: R² {c.r2:.2f} of target on source{caveat}"
    if (c.option_overlap >= CARRY_OVER_OVERLAP and c.option_correlation >= 0) or c.option_correlation >= CARRY_OVER_CORRELATION:
        return (f"influential options carry over (top-{c.top_k} overlap {c.option_overlap:.0%}, influence correlation "
                f"{c.option_correlation:.2f}) but the values do not map linearly (R² {c.r2:.2f}): reuse the source to choose what to sample")
    return (f"little carries over: R² {c.r2:.2f}, top-{c.top_k} overlap {c.option_overlap:.0%}, influence correlation "
            f"{c.option_correlation:.2f}; learn the target on its own")


def _agreement(terms: pd.DataFrame, k: int) -> tuple[float, float, list[str], list[str]]:
    if terms.empty or k == 0:
        return float("nan"), float("nan"), [], []
    top_s = terms["source"].nlargest(k).index.tolist()
    top_t = terms["target"].nlargest(k).index.tolist()
    overlap = len(set(top_s) & set(top_t)) / k
    varies = terms["source"].nunique() > 1 and terms["target"].nunique() > 1
    correlation = float(stats.spearmanr(terms["source"], terms["target"])[0]) if varies else float("nan")
    return overlap, correlation, top_s, top_t
