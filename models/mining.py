"""Hard-sample mining with a memory buffer of easy samples (adaptive-GCN paper Sec. 5, Eq. 24).

Difficulty of sample i in a batch: h_i = |y_i - y_hat_i| exp(-eta |y_i - 50| / 50), eta = 0.5.
The M = ceil(N rho) hardest samples of the batch carry the gradient; the rest enter the logged loss
only. rho falls linearly from 0.6 (first epoch) to 0.3 (last epoch).

The memory buffer keeps the easy samples skipped during the last 10 epochs (their training-set
indices and the epoch they were skipped in); each epoch a random 20 % of the buffer is replayed
with full gradients, so the model does not forget them.
"""

from __future__ import annotations

import math

import numpy as np

ETA = 0.5
RHO_START, RHO_END = 0.6, 0.3


def hardness(errors: np.ndarray, targets: np.ndarray, eta: float = ETA) -> np.ndarray:
    """Eq. 24: (N,) h_i from absolute errors and true scores (points)."""
    e = np.abs(np.asarray(errors, dtype=np.float64))
    y = np.asarray(targets, dtype=np.float64)
    if e.shape != y.shape:
        raise ValueError(f"errors and targets must have the same shape, got {e.shape} and {y.shape}.")
    return e * np.exp(-eta * np.abs(y - 50.0) / 50.0)


def rho_at(epoch: int, epochs: int, start: float = RHO_START, end: float = RHO_END) -> float:
    """Share of hard samples in ``epoch`` (1-based) of ``epochs``: linear from ``start`` to ``end``."""
    if epochs <= 1:
        return start
    f = min(max((epoch - 1) / (epochs - 1), 0.0), 1.0)
    return start + (end - start) * f


def select_hard(h: np.ndarray, rho: float) -> np.ndarray:
    """Boolean (N,): the ceil(N rho) largest h (ties broken by position); at least one."""
    n = len(h)
    m = min(n, max(1, math.ceil(n * rho)))
    order = np.argsort(-np.asarray(h), kind="stable")
    mask = np.zeros(n, dtype=bool)
    mask[order[:m]] = True
    return mask


class EasyMemory:
    """Indices of easy samples skipped in the last ``keep_epochs`` epochs; replays a random share."""

    def __init__(self, keep_epochs: int = 10, replay_share: float = 0.2):
        if keep_epochs < 1 or not (0.0 < replay_share <= 1.0):
            raise ValueError("keep_epochs must be >= 1 and replay_share in (0, 1].")
        self.keep_epochs = keep_epochs
        self.replay_share = replay_share
        self._last_skipped: dict[int, int] = {}  # training index -> epoch it was last skipped

    def add(self, indices: np.ndarray, epoch: int) -> None:
        for i in np.asarray(indices).ravel():
            self._last_skipped[int(i)] = int(epoch)

    def forget_before(self, epoch: int) -> None:
        """Drop entries older than the ``keep_epochs`` epochs before ``epoch``."""
        oldest = epoch - self.keep_epochs
        self._last_skipped = {i: e for i, e in self._last_skipped.items() if e >= oldest}

    def __len__(self) -> int:
        return len(self._last_skipped)

    def replay(self, rng: np.random.Generator) -> np.ndarray:
        """A random ``replay_share`` of the buffer (sorted indices; empty when the buffer is)."""
        keys = np.fromiter(self._last_skipped.keys(), dtype=np.int64, count=len(self._last_skipped))
        if keys.size == 0:
            return keys
        k = max(1, int(round(self.replay_share * keys.size)))
        return np.sort(rng.choice(keys, size=k, replace=False))
