"""The samplers of issue 3: 3-wise, negative option-wise, designs of experiments, distance-based."""

import itertools
import time
from collections import Counter

import pytest

from systems import get_system
from tradeoff.samplers._valid import Drawer
from tradeoff.errors import TradeoffError
from tradeoff.samplers.base import sample
from tradeoff.space import Option, Space, config_id

NEW_SAMPLERS = ["twise", "negative-optionwise", "plackett-burman", "box-behnken", "central-composite",
                "latin-hypercube", "distance", "diversified-distance"]


@pytest.fixture(scope="module")
def mixed() -> Space:
    """Bools under constraints, numbers, a category."""
    options = [Option(f"b{i}", "bool", i == 4) for i in range(8)]
    options += [Option("n1", "int", 1, 1, 10), Option("n2", "float", 0.5, 0.0, 1.0), Option("n3", "int", 2, 0, 4),
                Option("c", "categorical", "a", values=("a", "b", "c"))]
    return Space(options, ["b0 -> b1", "not (b2 and b3)", "b4 or b5"])


@pytest.mark.parametrize("name", NEW_SAMPLERS)
def test_samplers_are_deterministic_and_valid(mixed, name):
    first = sample(mixed, name, 40, seed=5)
    assert first and first == sample(mixed, name, 40, seed=5)
    assert all(mixed.is_valid(c) for c in first)
    assert len({config_id(c) for c in first}) == len(first) <= 40


@pytest.mark.parametrize("name", ["twise", "negative-optionwise", "latin-hypercube", "distance"])
def test_samplers_honour_x264_constraints(name):
    space = get_system("x264").space
    assert all(space.is_valid(c) for c in sample(space, name, 30, seed=1))


def test_three_wise_covers_every_valid_triple_of_levels():
    options = [Option(f"b{i}", "bool", False) for i in range(6)] + [Option("c", "categorical", "x", values=("x", "y", "z"))]
    space = Space(options, ["b0 -> not b1", "c == 'z' -> b2"])
    configs = sample(space, "twise", 1000, seed=0)
    valid = space.enumerate()
    for triple in itertools.combinations(space.names, 3):
        possible = {tuple(c[n] for n in triple) for c in valid}
        assert {tuple(c[n] for n in triple) for c in configs} == possible, triple
    assert len(configs) < len(valid) / 3  # a covering array, not the whole space


def test_negative_optionwise_turns_each_option_off_from_all_on(mixed):
    configs = sample(mixed, "negative-optionwise", 100, seed=0)
    base = configs[0]
    assert base["b7"] and base["n1"] == 10 and base["c"] == "c"
    assert any(not c["b7"] and c["b6"] for c in configs[1:])


def test_distance_sampling_spreads_over_distances_through_a_sat_solver():
    # 30 options, 20 of them forced on: rejection would need about a million draws per configuration
    space = Space([Option(f"o{i}", "bool", i < 20) for i in range(30)], [f"o{i}" for i in range(20)])
    started = time.perf_counter()
    configs = sample(space, "distance", 60, seed=2)
    assert time.perf_counter() - started < 10
    assert all(space.is_valid(c) for c in configs)
    distances = Counter(sum(c.values()) for c in configs)
    assert min(distances) <= 22 and max(distances) >= 28 and len(distances) >= 8
    assert Drawer(space, 0).feasible_distances() == list(range(20, 31))


def test_diversified_distance_balances_how_often_options_are_enabled(mixed):
    def spread(configs):
        counts = [sum(c[f"b{i}"] for c in configs) for i in range(8)]
        return max(counts) - min(counts)
    assert spread(sample(mixed, "diversified-distance", 60, 0)) < spread(sample(mixed, "distance", 60, 0))


def test_designs_for_numeric_options_need_them(mixed):
    configs = sample(mixed, "box-behnken", 100, seed=0)
    assert {c["n1"] for c in configs} == {1, 6, 10} and len(configs) == 13
    with pytest.raises(TradeoffError, match="at least 3 numeric options"):
        sample(Space([Option("a", "bool", False)]), "box-behnken", 10, 0)
    hypercube = sample(mixed, "latin-hypercube", 20, seed=0)
    assert len(hypercube) == 20 and len({c["n2"] // 0.05 for c in hypercube}) == 20  # one value per stratum


def test_new_samplers_draw_from_a_replay_population(datasets):
    system = get_system("ase17-x264", "feature8_2762_32")
    recorded = {config_id(c) for c in system.space.population.to_dict("records")}
    for name in ["twise", "negative-optionwise", "plackett-burman", "latin-hypercube", "distance", "diversified-distance"]:
        configs = sample(system.space, name, 30, 0)
        assert configs and {config_id(c) for c in configs} <= recorded, name


def test_sample_command_prints_configurations_without_measuring(tmp_path):
    from io import StringIO

    import pandas as pd

    from conftest import run_cli
    result = run_cli("sample", "synthetic", "--sampler", "diversified-distance", "--budget", "12", "--seed", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(StringIO(result.stdout))
    assert len(frame) == 12 and list(frame.columns) == [f"o{i}" for i in range(1, 11)]
    assert not list(tmp_path.iterdir())  # nothing measured, nothing stored
