"""A DeepPerf-style L1-regularised deep network (Ha & Zhang, ICSE'19; torch, the optional 'dnn' extra).

A deep ReLU network whose *first* layer is L1-regularised: most inputs get (near) zero weights,
so the network fits the few options and interactions that matter from a small sample. As in
DeepPerf, the depth is chosen first and the L1 strength second, each on a held-out third of the
training sample; the network is then refitted on the whole sample. torch is the optional
``dnn`` extra (``pip install 'tradeoff[dnn]'``).
"""

from __future__ import annotations

import numpy as np

from tradeoff.errors import TradeoffError
from tradeoff.models.learners.base import Learner, floored_log, log_floor

DEPTHS = (2, 3, 4)
L1_STRENGTHS = (1e-4, 1e-3, 1e-2, 1e-1)


class SparseNetwork(Learner):
    """depth / l1: fixed hyper-parameters, or None to search them (DeepPerf's two-stage search).
    The target is modelled on the log scale when positive, standardised."""

    def __init__(self, depth: int | None = None, l1: float | None = None, width: int = 128, epochs: int = 1000,
                 learning_rate: float = 1e-3, seed: int = 0):
        self.depth = depth
        self.l1 = l1
        self.width = width
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.seed = seed

    def _fit(self, X, y):
        try:
            import torch  # noqa: F401  (imported here: torch is optional and slow to import)
        except ImportError:
            raise TradeoffError("the dnn learner needs torch; install it with: pip install 'tradeoff[dnn]' (or pip install torch)") from None
        X = X.astype(np.float32)
        floor = log_floor(y)
        self.log_ = floor is not None
        target = floored_log(y, floor) if self.log_ else y
        self.shift_, self.scale_ = float(target.mean()), float(target.std() or 1.0)
        target = ((target - self.shift_) / self.scale_).astype(np.float32)
        self.depth_, self.l1_ = self.depth, self.l1
        if self.depth is None or self.l1 is None:
            self.depth_, self.l1_ = self._search(X, target)
        self.network_ = self._train(X, target, self.depth_, self.l1_)
        return self

    def _predict(self, X):
        predicted = self._forward(self.network_, X.astype(np.float32)) * self.scale_ + self.shift_
        return np.exp(predicted) if self.log_ else predicted

    def _search(self, X, target):
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(target))
        validation, training = order[: max(1, len(order) // 3)], order[max(1, len(order) // 3):]

        def error(depth, l1):
            network = self._train(X[training], target[training], depth, l1)
            return float(np.mean((self._forward(network, X[validation]) - target[validation]) ** 2))

        depth = self.depth or min(DEPTHS, key=lambda d: error(d, self.l1 or L1_STRENGTHS[1]))
        l1 = self.l1 if self.l1 is not None else min(L1_STRENGTHS, key=lambda s: error(depth, s))
        return depth, l1

    def _train(self, X, target, depth, l1):
        import torch
        torch.set_num_threads(1)  # small matrices: threads cost more than they give, and runs stay reproducible
        torch.manual_seed(self.seed)
        layers, width_in = [], X.shape[1]
        for _ in range(depth):
            layers += [torch.nn.Linear(width_in, self.width), torch.nn.ReLU()]
            width_in = self.width
        network = torch.nn.Sequential(*layers, torch.nn.Linear(width_in, 1))
        optimiser = torch.optim.Adam(network.parameters(), lr=self.learning_rate)
        inputs, outputs = torch.from_numpy(X), torch.from_numpy(target)[:, None]
        first = network[0].weight
        for _ in range(self.epochs):  # full batch: performance samples are small
            optimiser.zero_grad()
            loss = torch.mean((network(inputs) - outputs) ** 2) + l1 * first.abs().sum() / len(target)
            loss.backward()
            optimiser.step()
        return network

    @staticmethod
    def _forward(network, X) -> np.ndarray:
        import torch
        with torch.no_grad():
            return network(torch.from_numpy(X)).numpy()[:, 0].astype(float)

