"""The gcc system, for real: flags change the binary, a wrong output is a failed row."""

import pytest

from systems import get_system
from systems.base import measure_once, render_flags
from tradeoff.errors import TradeoffError


@pytest.fixture()
def gcc(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADEOFF_CACHE", str(tmp_path))
    system = get_system("gcc")
    system.check()
    return system


def test_flags_follow_the_spec(gcc):
    assert len(gcc.space) >= 20
    config = {**gcc.space.default(), "opt-level": "O3", "unroll-loops": True, "max-unroll-times": 4, "align-loops": "32"}
    args = render_flags(gcc.space, config)
    assert args[0] == "-O3" and "-funroll-loops" in args and "--param=max-unroll-times=4" in args
    assert "-falign-loops=32" in args and not any(a.startswith("-fvect-cost-model") for a in args)  # 'default' passes nothing


def test_compiles_runs_and_checks_kernels(gcc):
    small = gcc.run({**gcc.space.default(), "opt-level": "Os"}, "nbody-small", 60, [])
    unrolled = gcc.run({**gcc.space.default(), "opt-level": "O3", "unroll-loops": True, "max-unroll-times": 16,
                        "march-native": True}, "nbody-small", 60, [])
    assert unrolled["binary_size"] > small["binary_size"]
    assert small["time"] > 0 and small["compile_time"] > 0
    fast = gcc.run({**gcc.space.default(), "fast-math": True, "march-native": True}, "nbody-small", 60, [])  # within tolerance
    assert fast["time"] > 0


def test_a_wrong_output_is_a_failed_row(gcc, tmp_path):
    gcc.run(gcc.space.default(), "nw-small", 60, [])
    [reference] = (tmp_path / "gcc").glob("nw-small-*")
    reference.write_text(repr(float(reference.read_text()) + 1))  # as if the program had miscomputed
    row = measure_once(gcc, gcc.space.default(), "nw-small", 0, 60, [], "test", "")
    assert row["status"] == "failed" and "wrong output" in row["error"]


def test_unknown_kernel(gcc):
    with pytest.raises(TradeoffError, match="its kernels: nbody"):
        gcc.check_workload("matmul")
