import itertools

import numpy as np
import pandas as pd
import pytest

from systems import get_system
from tradeoff.errors import TradeoffError
from tradeoff.registry import Registry
from tradeoff.samplers._valid import levels
from tradeoff.samplers.base import SAMPLERS, Design, History, sample
from tradeoff.space import Option, Space, config_id


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
        for pair in itertools.product(levels(a), levels(b)):
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


def test_a_sampler_is_one_module_listed_without_importing_it(tmp_path, monkeypatch):
    import subprocess
    import sys
    listing = ("import sys; from tradeoff.samplers.base import SAMPLERS; names = SAMPLERS.names(); SAMPLERS.summaries(); "
               "print(' '.join(names)); print(sorted(m for m in sys.modules if m.startswith('tradeoff.samplers.')))")
    lines = subprocess.run([sys.executable, "-c", listing], capture_output=True, text=True, check=True).stdout.splitlines()
    assert {"random", "twise", "negative-optionwise", "active", "l2s"} <= set(lines[0].split())
    assert lines[1] == "['tradeoff.samplers.base']"  # no member imported to list them, nor numpy or pandas
    assert issubclass(SAMPLERS.get("negative-optionwise"), Design) and SAMPLERS.get("active").adaptive
    # A new family member is one module: no list to edit, no registration.
    package = tmp_path / "more_samplers"
    package.mkdir()
    (package / "__init__.py").write_text('"""Samplers of a test."""\n')
    (package / "every_default.py").write_text(
        '"""The default configuration only."""\nfrom tradeoff.samplers.base import Design\n\n\n'
        'class EveryDefault(Design):\n    def design(self, space, budget):\n        return [space.default()] * budget\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    more = Registry("sampler", "more_samplers", "tradeoff.samplers.base:Sampler")
    assert more.summaries() == {"every-default": "The default configuration only."}
    space = get_system("synthetic").space
    assert more.get("every-default")(seed=0).ask(History(space), 3) == [space.default()]


def _stored(system, configs: list[dict], failed: int = 0) -> pd.DataFrame:
    """Rows of a store holding one repetition of each configuration, the first ``failed`` ones failed."""
    rows = []
    for i, config in enumerate(configs):
        ok = i >= failed
        rows.append({"system": system.name, "environment": system.environment, "workload": "paper", "config_id": config_id(config),
                     "repetition": 0, "status": "ok" if ok else "failed",
                     "metric.perf": system.run(config, "paper", 1.0, [])["perf"] if ok else None,
                     **{"opt." + k: v for k, v in config.items()}})
    return pd.DataFrame(rows)


def test_active_asks_given_the_stored_measurements():
    system = get_system("synthetic")
    space, active = system.space, SAMPLERS.get("active")(seed=0)
    seed_design = active.ask(History(space, metric="perf", workers=4), 24)
    assert seed_design == sample(space, "random", 6, seed=0)  # nothing stored: the random seed design
    stored = seed_design + sample(space, "random", 10, seed=1)[:4]
    history = History(space, _stored(system, stored, failed=1), "perf", workers=4)
    asked = active.ask(history, 24)
    ids = [config_id(c) for c in asked]
    assert {config_id(c) for c in stored} == set(ids[:10])  # the stored ones first, the failed one too
    batch = asked[10:]
    assert len(batch) == 4 == len(set(ids[10:]) - set(ids[:10]))  # one batch for 4 workers, none measured
    assert all(space.is_valid(c) for c in batch) and active.ask(history, 24) == asked  # same rows, same batch
    assert {config_id(c) for c in active.ask(history, 10)} == set(ids[:10])  # the budget reached: only the stored
    with pytest.raises(TradeoffError, match="cannot print configurations without measuring"):
        sample(space, "active", 5)


def test_l2s_takes_its_source_from_the_history():
    space = Space([Option(f"o{i}", "bool", False) for i in range(6)])
    configs = space.enumerate()
    source = pd.DataFrame([{"config_id": config_id(c), "repetition": 0, "status": "ok", "system": "toy", "environment": "old",
                            "workload": "w", "metric.time": 1 + 5 * c["o3"] + 0.1 * c["o1"], **{"opt." + k: v for k, v in c.items()}}
                           for c in configs])
    history = History(space, sources=(source,), metric="time")
    drawn = SAMPLERS.get("l2s")(seed=3).ask(history, 16)
    assert drawn == sample(space, "l2s", 16, seed=3, sources=(source,), metric="time")
    assert len(drawn) == 16 and 0.3 <= np.mean([c["o3"] for c in drawn]) <= 0.7  # the strong option in balance
    with pytest.raises(TradeoffError, match="the l2s sampler needs a source"):
        sample(space, "l2s", 5)
