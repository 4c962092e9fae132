"""Environment comparison: ASE'17's Table II from the published tables, and the verdict's logic."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, OPTION_PREFIX
from tradeoff.transfer.compare import compare, influence_terms, pair


def _datasets_present() -> bool:
    from systems.replay import datasets_dir
    try:
        return (datasets_dir() / "ase17").is_dir()
    except TradeoffError:
        return False


needs_ase17 = pytest.mark.skipif(not _datasets_present(), reason="../shared/datasets/ase17 is absent (set TRADEOFF_DATASETS)")

METRICS = {"ase17-spear": "solving_time", "ase17-x264": "time", "ase17-sqlite": "us_per_op"}

# ASE'17 Table II: system, source, target (environment[:workload]), Pearson (M1), Spearman (M3).
# SQLite's readrandom -> readseq is the 10th operation of a block (readseq), not readseq100K.
TABLE_II = [
    ("ase17-spear", "feature1_2_7_10286", "feature8_2_7_10286", 1.00, 0.97),
    ("ase17-spear", "amazon_micro_2_7_10286", "feature8_2_7_10286", 0.59, 0.91),
    ("ase17-spear", "feature8_2_7_10286", "feature11_2_7_4435", 0.96, 0.17),
    ("ase17-spear", "feature8_2_7_10286", "feature12_2_7_18830", 0.90, -0.08),
    ("ase17-spear", "feature8_2_7_10286", "feature9_1_2_10286", 0.23, 0.35),
    ("ase17-spear", "feature9_1_2_10286", "feature11_2_7_4435", -0.10, -0.05),
    ("ase17-spear", "feature1_2_7_10286", "feature10_1_2_8287", -0.10, 0.14),
    ("ase17-x264", "feature1_2762_128", "feature8_2762_128", 0.97, 0.99),
    ("ase17-x264", "feature8_2762_8", "feature8_2762_32", 0.65, 0.63),
    ("ase17-x264", "feature8_2762_8", "feature8_2762_128", 0.67, 0.64),
    ("ase17-x264", "feature9_2389_128", "feature8_2762_128", 0.06, 0.43),
    ("ase17-sqlite", "feature7_3763:fillseq", "feature7_3763:fillseqbatch", 0.96, 0.83),
    ("ase17-sqlite", "feature7_3763:readrandom", "feature7_3763:readseq", 0.50, 0.43),
    ("ase17-sqlite", "feature4_3190:fillseq", "feature6_3763:fillseq", 0.95, 0.79),
]


@cache
def recorded(system: str, environment: str) -> pd.DataFrame:
    from systems.replay import environment_frame
    return environment_frame(f"{system}:{environment}")


@needs_ase17
@pytest.mark.parametrize("system, source, target, pearson, spearman",
                         # SPEAR's tables (16,384 configurations a side) take seconds each
                         [pytest.param(*r, marks=pytest.mark.slow) if r[0] == "ase17-spear" else r for r in TABLE_II],
                         ids=[f"{r[0]}:{r[1]}->{r[2]}" for r in TABLE_II])
def test_reproduces_ase17_table_ii(system, source, target, pearson, spearman):
    comparison, paired, _ = compare(recorded(system, source), recorded(system, target), METRICS[system],
                                    pairing="repetition", source_label=source, target_label=target)
    assert (round(comparison.pearson, 2), round(comparison.spearman, 2)) == (pearson, spearman)
    # Invalid records (SPEAR >= 5 s, x264 == 0, SQLite >= 1000 µs) are dropped in either environment.
    valid = {"ase17-spear": lambda v: v < 5, "ase17-x264": lambda v: v != 0, "ase17-sqlite": lambda v: v < 1000}[system]
    assert valid(paired.source).all() and valid(paired.target).all()


@needs_ase17
@pytest.mark.slow
def test_near_identical_machines_call_for_a_linear_shift():
    comparison, _, influences = compare(recorded("ase17-spear", "feature1_2_7_10286"), recorded("ase17-spear", "feature8_2_7_10286"),
                                        "solving_time", pairing="repetition")
    assert comparison.verdict.startswith("a linear shift suffices")
    assert comparison.option_overlap == 1.0 and comparison.option_correlation > 0.9
    assert comparison.source_noise is None  # one record per configuration: no repetitions
    assert set(influences.columns) == {"source", "target"} and any("*" in term for term in influences.index)


def _frame(values: np.ndarray, configs: pd.DataFrame, environment: str, repetitions: int = 1, noise: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(len(environment))
    rows = []
    for r in range(repetitions):
        part = configs.add_prefix(OPTION_PREFIX)
        part[METRIC_PREFIX + "time"] = values * (1 + noise * rng.standard_normal(len(values)))
        part["repetition"], part["status"] = r, "ok"
        rows.append(part)
    frame = pd.concat(rows, ignore_index=True)
    frame["system"], frame["environment"], frame["workload"] = "toy", environment, "w"
    frame["config_id"] = frame[[c for c in frame.columns if c.startswith(OPTION_PREFIX)]].astype(str).agg("|".join, axis=1)
    return frame


def _toy_configs(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({f"o{i}": rng.integers(0, 2, n).astype(bool) for i in range(6)}).drop_duplicates().reset_index(drop=True)


def test_verdicts_follow_what_carries_over():
    configs = _toy_configs()
    a, b, c = (configs[f"o{i}"].to_numpy(float) for i in range(3))
    source = 10 + 8 * a + 3 * b + 2 * a * b
    scaled = _frame(3 * source + 5, configs, "fast")
    comparison, _, _ = compare(_frame(source, configs, "slow"), scaled, "time")
    assert comparison.verdict.startswith("a linear shift suffices")
    assert comparison.slope == pytest.approx(3) and comparison.intercept == pytest.approx(5)
    assert comparison.top_source[:2] == ["o0", "o1"] == comparison.top_target[:2]

    # Same influential options, but their effects combine differently: no linear map, options carry over.
    reshaped = 10 + 8 * b + 3 * a + 9 * a * b
    comparison, _, _ = compare(_frame(source, configs, "slow"), _frame(reshaped, configs, "other"), "time")
    assert comparison.verdict.startswith("influential options carry over"), comparison.verdict

    unrelated = 10 + 8 * configs["o5"].to_numpy(float) + 5 * configs["o4"].to_numpy(float)
    comparison, _, _ = compare(_frame(source, configs, "slow"), _frame(unrelated, configs, "other"), "time")
    assert comparison.verdict.startswith("little carries over"), comparison.verdict


def test_noise_is_reported_from_repetitions():
    configs = _toy_configs()
    values = 10 + 5 * configs["o0"].to_numpy(float)
    comparison, _, _ = compare(_frame(values, configs, "quiet", repetitions=3, noise=0.01),
                               _frame(values, configs, "noisy", repetitions=3, noise=0.2), "time")
    assert comparison.source_noise < 0.02 < 0.1 < comparison.target_noise


def test_influence_terms_find_an_interaction():
    configs = _toy_configs()
    from tradeoff.space import Space, infer_options
    space = Space(infer_options(configs))
    y = 1 + 10 * configs["o2"].to_numpy(float) * configs["o3"].to_numpy(float)
    terms = influence_terms(space, configs, y)
    assert terms.index[0] == "o2*o3"


def test_bad_input_names_the_fix():
    configs = _toy_configs()
    frame = _frame(np.ones(len(configs)), configs, "a")
    with pytest.raises(TradeoffError, match="no metric 'latency'"):
        pair(frame, frame, "latency")
    with pytest.raises(TradeoffError, match="different options"):
        pair(frame, frame.drop(columns=[OPTION_PREFIX + "o0"]), "time")
    with pytest.raises(TradeoffError, match="common configurations"):
        pair(frame.head(3), frame.head(3), "time")
