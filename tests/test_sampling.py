import itertools

import pytest

from systems import get_system
from tradeoff.errors import TradeoffError
from tradeoff.sampling import _levels, sample
from tradeoff.space import Space, config_id


@pytest.fixture(scope="module")
def x264_space() -> Space:
    return get_system("x264").space


@pytest.mark.parametrize("name", ["random", "optionwise", "pairwise"])
def test_samplers_are_deterministic_and_valid(x264_space, name):
    first = sample(x264_space, name, 60, seed=7)
    assert first == sample(x264_space, name, 60, seed=7)
    assert all(x264_space.is_valid(c) for c in first)
    assert len({config_id(c) for c in first}) == len(first)


def test_random_depends_on_seed(x264_space):
    assert sample(x264_space, "random", 20, seed=1) != sample(x264_space, "random", 20, seed=2)


def test_pairwise_covers_every_valid_pair_of_levels(x264_space):
    configs = sample(x264_space, "pairwise", 1000, seed=0)
    options = x264_space.options
    for a, b in itertools.combinations(options, 2):
        seen = {(c[a.name], c[b.name]) for c in configs}
        for pair in itertools.product(_levels(a), _levels(b)):
            if not x264_space.violates({a.name: pair[0], b.name: pair[1]}):
                assert pair in seen, f"pair {a.name}={pair[0]}, {b.name}={pair[1]} never sampled"


def test_optionwise_changes_one_option_at_a_time(x264_space):
    configs = sample(x264_space, "optionwise", 1000, seed=0)
    default = x264_space.default()
    assert configs[0] == default
    changed = [tuple(k for k in default if c[k] != default[k]) for c in configs[1:]]
    assert all(len(keys) == 1 for keys in changed)
    # every bool option is flipped unless a constraint forbids it (no-cabac needs trellis 0)
    flipped = {keys[0] for keys in changed}
    assert {o.name for o in x264_space.options if o.type == "bool"} - flipped == {"no-cabac"}


def test_factorial_enumerates_small_spaces_and_refuses_large():
    space = get_system("synthetic").space
    assert len(sample(space, "factorial", 1024, 0)) == 1024
    with pytest.raises(TradeoffError, match="1024 configurations, more than the budget 10"):
        sample(space, "factorial", 10, 0)


def test_bad_sampler_and_budget():
    space = get_system("synthetic").space
    with pytest.raises(TradeoffError, match="unknown sampler 'nope'"):
        sample(space, "nope", 5, 0)
    with pytest.raises(TradeoffError, match="budget must be a positive"):
        sample(space, "random", 0, 0)


def test_samplers_draw_from_a_replay_population(datasets):
    system = get_system("ase17-x264", "feature8_2762_32")
    recorded = {config_id(c) for c in system.space.population.to_dict("records")}
    for name in ("random", "optionwise", "pairwise"):
        configs = sample(system.space, name, 40, 0)
        assert configs and {config_id(c) for c in configs} <= recorded
