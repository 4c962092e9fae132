"""The DNN training system, for real when PyTorch is installed (the dnn extra)."""

import importlib.util
import math

import pytest

from systems import dnn, get_system
from tradeoff.errors import TradeoffError


def test_missing_torch_is_one_clear_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(TradeoffError, match=r"pip install 'tradeoff\[dnn\]'"):
        get_system("dnn").check()


@pytest.mark.slow  # trains for real (about 20 s on 2 busy cores)
def test_trains_for_real_and_reports_energy_honestly(tmp_path, monkeypatch):
    pytest.importorskip("torch", reason="PyTorch (the dnn extra) is not installed")
    monkeypatch.setenv("TRADEOFF_CACHE", str(tmp_path))
    system = get_system("dnn")
    system.check()
    assert len(system.space) >= 10
    config = {**system.space.default(), "epochs": 3, "width": 64, "learning_rate": 0.01, "loader_workers": 1, "threads": 2}
    metrics = system.run(config, "digits", 120, [])
    assert metrics["accuracy"] > 0.8  # a real network learned the digits
    assert metrics["train_time"] > 0 and metrics["inference_ms"] > 0
    assert math.isnan(metrics["energy"]) != dnn.has_rapl()  # measured where RAPL exists, missing otherwise
    assert ("no RAPL" in system.program_version()) != dnn.has_rapl()


def test_quick_workload_trains_on_a_balanced_quarter_and_validates_on_the_same_images(tmp_path, monkeypatch):
    import numpy as np
    monkeypatch.setenv("TRADEOFF_CACHE", str(tmp_path))
    with np.load(dnn.digits_split("digits")) as full, np.load(dnn.digits_split("digits-360")) as quick:
        assert len(full["x_train"]) == 1437 and len(quick["x_train"]) == 360
        assert np.array_equal(full["x_val"], quick["x_val"]) and np.array_equal(full["y_val"], quick["y_val"])
        assert np.bincount(quick["y_train"]).min() >= 35  # every digit is there, about 36 of each
        assert {row.tobytes() for row in quick["x_train"]} <= {row.tobytes() for row in full["x_train"]}
