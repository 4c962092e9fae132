"""Live DNN training: an MLP on scikit-learn's digits with PyTorch, one fresh process per run.

Its inference time is measured alone (``run_part``, declared ``separately`` in dnn.yaml) on the
untrained network of the configuration: no training, so a fraction of a full measurement's cost.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import sys
from pathlib import Path

from systems.base import System, cache_dir, run_process
from tradeoff.errors import TradeoffError

TRAINER = Path(__file__).with_name("dnn_train.py")


def digits_split(workload: str = "digits") -> Path:
    """scikit-learn's digits, scaled to [0, 1], split 80/20 (stratified, seed 0), cached as .npz.

    ``digits-360`` trains on a stratified 360-image part of the same training images (a quick
    workload: a quarter of the data per epoch) and validates on the same 360 images."""
    path = cache_dir("dnn", f"{workload}-split.npz")
    if not path.exists():
        import numpy as np
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        images, labels = load_digits(return_X_y=True)
        x_train, x_val, y_train, y_val = train_test_split(images / 16.0, labels, test_size=0.2, random_state=0, stratify=labels)
        if workload == "digits-360":
            x_train, _, y_train, _ = train_test_split(x_train, y_train, train_size=360, random_state=0, stratify=y_train)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{os.getpid()}.npz")
        np.savez(partial, x_train=x_train, x_val=x_val, y_train=y_train, y_val=y_val)
        os.replace(partial, path)
    return path


def has_rapl() -> bool:
    return any(Path("/sys/class/powercap").glob("intel-rapl:[0-9]*/energy_uj"))


class DnnTraining(System):
    def check(self) -> None:
        if importlib.util.find_spec("torch") is None:
            raise TradeoffError("the dnn system needs PyTorch; install it with: pip install 'tradeoff[dnn]' (or pip install torch)")

    def program_version(self) -> str:
        try:
            torch = f"torch {importlib.metadata.version('torch')}"
        except importlib.metadata.PackageNotFoundError:
            torch = "torch missing"
        return f"{torch}; energy: {'RAPL' if has_rapl() else 'no RAPL (energy not measured)'}"

    def run(self, config: dict, workload: str, timeout: float, cpus: list[int]) -> dict[str, float]:
        result = run_process([sys.executable, str(TRAINER), json.dumps(config), str(digits_split(workload))], timeout, cpus)
        return result.metrics("the training")

    def run_part(self, config: dict, workload: str, timeout: float, cpus: list[int], metrics: tuple[str, ...]) -> dict[str, float]:
        self.part(metrics)  # only what dnn.yaml declares
        result = run_process([sys.executable, str(TRAINER), json.dumps(config), str(digits_split(workload)), "--inference-only"],
                             timeout, cpus)
        return result.metrics("the inference")

