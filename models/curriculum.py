"""Curriculum by temporal complexity (adaptive-GCN paper Sec. 5, Eq. 25) and the loss-weight schedules.

``motion_intensity`` is Eq. 25: d_i = sqrt(mean over joints and frame pairs of ||p_{n+1} - p_n||^2)
on the normalized positions (channels 0-2 of the (C, T, V) input). ``difficulty`` rescales it to
[0, 1] over the training set (min-max). Levels: low d < 0.3, medium 0.3 <= d < 0.6, high d >= 0.6.

``Curriculum.sample_mask(epoch)`` (epochs count from 1): the paper uses only low-difficulty samples in
epochs 1-10, adds medium ones with a probability rising linearly from 0 to 1 over epochs 11-25 and
uses everything from epoch 26. ``low_until`` and ``ramp_until`` hold those two boundaries (10, 25)
so a shorter run can scale them; high-difficulty samples join with everything at ``ramp_until + 1``.

Loss-weight schedules (Sec. 5): lambda_1(t) = lambda_1^0 min(1, t / 5) and
lambda_2(t) = lambda_2^0 0.9^floor(t / 10); lambda_3 stays fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.config import LossConfig

LOW, HIGH = 0.3, 0.6
T_WARM = 5


def motion_intensity(x: np.ndarray) -> np.ndarray:
    """Eq. 25 per sample of (N, C, T, V): (N,) root-mean-square frame-to-frame joint displacement."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4 or x.shape[1] < 3 or x.shape[2] < 2:
        raise ValueError(f"inputs must be (N, C>=3, T>=2, V), got {x.shape}.")
    d = np.diff(x[:, :3], axis=2)  # (N, 3, T-1, V)
    return np.sqrt((d**2).sum(axis=1).mean(axis=(1, 2)))


def difficulty(x: np.ndarray) -> np.ndarray:
    """Eq. 25 rescaled to [0, 1] over the given samples (all zeros when they are all alike)."""
    d = motion_intensity(x)
    span = d.max() - d.min()
    return (d - d.min()) / span if span > 0 else np.zeros_like(d)


@dataclass(frozen=True)
class Curriculum:
    """Which training samples an epoch uses, from their difficulty in [0, 1]."""

    difficulty: np.ndarray
    low_until: int = 10
    ramp_until: int = 25
    low: float = LOW
    high: float = HIGH

    def __post_init__(self):
        if not (0 <= self.low_until <= self.ramp_until):
            raise ValueError(f"curriculum epochs must satisfy 0 <= low_until <= ramp_until, got {self.low_until}, {self.ramp_until}.")
        if not (0.0 < self.low <= self.high <= 1.0):
            raise ValueError(f"curriculum thresholds must satisfy 0 < low <= high <= 1, got {self.low}, {self.high}.")

    def medium_probability(self, epoch: int) -> float:
        """Sampling probability of a medium sample in ``epoch`` (1-based)."""
        if epoch <= self.low_until:
            return 0.0
        if epoch > self.ramp_until:
            return 1.0
        span = self.ramp_until - self.low_until
        return (epoch - self.low_until) / span

    def sample_mask(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
        """Boolean (N,): samples used in ``epoch``; never empty (the easiest sample at least)."""
        d = self.difficulty
        if epoch > self.ramp_until:
            return np.ones(d.shape, dtype=bool)
        mask = d < self.low
        medium = (d >= self.low) & (d < self.high)
        mask |= medium & (rng.random(d.shape) < self.medium_probability(epoch))
        if not mask.any():
            mask[int(np.argmin(d))] = True
        return mask


def scaled_curriculum(difficulty_: np.ndarray, epochs: int) -> Curriculum:
    """The paper's boundaries (10, 25) for a 40-epoch run, scaled to ``epochs`` (at least one full epoch at the end)."""
    low = int(round(10 * epochs / 40))
    ramp = min(int(round(25 * epochs / 40)), max(epochs - 1, 0))
    return Curriculum(difficulty_, low_until=min(low, ramp), ramp_until=ramp)


def loss_weights(base: LossConfig, epoch: int, t_warm: int = T_WARM) -> LossConfig:
    """The Sec. 5 schedules at ``epoch`` (1-based): lambda_1 warm-up, lambda_2 decay 10 % per 10 epochs."""
    lam1 = base.lambda_rank * min(1.0, epoch / float(t_warm))
    lam2 = base.lambda_local * 0.9 ** (epoch // 10)
    return base.model_copy(update={"lambda_rank": lam1, "lambda_local": lam2})
