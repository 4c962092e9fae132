"""Train one MLP on the digits and print its metrics as one JSON line (run by systems/dnn.py).

Usage: python dnn_train.py CONFIG_JSON DATA_NPZ [--inference-only]. Runs in its own process so
that threads, data-loader workers and memory belong to this measurement alone; the data split
comes ready in an .npz file (systems/dnn.py writes it once) so the process need not import
scikit-learn. ``--inference-only`` times inference on the same network untrained and prints
``inference_ms`` alone: the time of a forward pass depends on the architecture, precision and
threads, not on the weights' values, so the metric needs no training (FlexiBO's cheap objective).
"""

import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
OPTIMISERS = {"sgd": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9), "adam": torch.optim.Adam,
              "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop}


def rapl_files() -> list[Path]:
    """The package-level RAPL energy counters, if this machine exposes any."""
    return sorted(Path("/sys/class/powercap").glob("intel-rapl:[0-9]*/energy_uj"))


def read_energy(files: list[Path]) -> float:
    return sum(int(f.read_text()) for f in files) / 1e6


def latency_ms(model, validation, autocast) -> float:
    """The median time of one single-image inference, as a served model sees them (200 images)."""
    model.eval()
    with torch.no_grad(), autocast():
        latencies = []
        for i in range(200):
            start = time.perf_counter()
            model(validation[i % len(validation)].unsqueeze(0))
            latencies.append(time.perf_counter() - start)
    return 1000 * statistics.median(latencies)


def main() -> None:
    config = json.loads(sys.argv[1])
    inference_only = sys.argv[3:] == ["--inference-only"]
    torch.manual_seed(0)
    torch.set_num_threads(config["threads"])
    dtype = torch.float64 if config["precision"] == "float64" else torch.float32
    with np.load(sys.argv[2]) as data:
        x_train, x_val, y_train, y_val = data["x_train"], data["x_val"], data["y_train"], data["y_val"]
    train = TensorDataset(torch.tensor(x_train, dtype=dtype), torch.tensor(y_train))
    loader = DataLoader(train, batch_size=int(config["batch_size"]), shuffle=True, num_workers=config["loader_workers"],
                        persistent_workers=config["loader_workers"] > 0, generator=torch.Generator().manual_seed(0))
    layers, width_in = [], 64
    for _ in range(config["depth"]):
        layers += [nn.Linear(width_in, config["width"]), ACTIVATIONS[config["activation"]](), nn.Dropout(config["dropout"])]
        width_in = config["width"]
    model = nn.Sequential(*layers, nn.Linear(width_in, 10)).to(dtype)
    optimiser = OPTIMISERS[config["optimiser"]](model.parameters(), config["learning_rate"])
    autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=config["precision"] == "bfloat16")
    validation = torch.tensor(x_val, dtype=dtype)
    if inference_only:
        print(json.dumps({"inference_ms": latency_ms(model, validation, autocast)}))
        return
    counters = [f for f in rapl_files() if f.stat().st_mode & 0o444]
    energy_before = read_energy(counters) if counters else math.nan
    clock = time.perf_counter()
    model.train()
    for _ in range(config["epochs"]):
        for batch, target in loader:
            optimiser.zero_grad()
            with autocast():
                loss = nn.functional.cross_entropy(model(batch), target)
            loss.backward()
            optimiser.step()
    train_time = time.perf_counter() - clock
    energy = read_energy(counters) - energy_before if counters else math.nan
    model.eval()
    with torch.no_grad(), autocast():
        accuracy = (model(validation).argmax(1).numpy() == y_val).mean()
    print(json.dumps({"train_time": train_time, "accuracy": float(accuracy),
                      "inference_ms": latency_ms(model, validation, autocast), "energy": energy}))


if __name__ == "__main__":
    main()
