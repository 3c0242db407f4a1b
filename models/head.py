"""Hierarchical action-quality scoring head (adaptive-GCN paper, Sec. 4, Eq. 9-18).

Input: the backbone's Z (N, C_T, L', V) in the (batch, channels, frames, joints) layout and the
last block's temporal attention a (N, 1, L', 1) (None in ablation C).

- Global-local joint encoder (Eq. 9-12): f_global = attention-weighted mean of Z; per limb
  region r, f_local^r = FC_r(concat of the region's time-mean joint features) in R^{C_L};
  cross-attention beta_r = softmax(q . k_r / sqrt(d_k)) with q = W_Q f_global, k_r = W_K f_local^r,
  v_r = W_V f_local^r; f_joint = FC2(relu(FC1([f_global || sum_r beta_r v_r]))) in R^{C_J}.
- Segmented phase head (Eq. 13-14): a lightweight temporal conv net labels each of the L'
  frames with phase probabilities; Eq. 13's average of Z over [s_p, e_p] becomes the average
  weighted by phase p's probability (identical for a one-hot, contiguous assignment, and
  differentiable and free of data-dependent shapes otherwise); y_p = FC_phase^p(f_phase^p).
- Bias correction (Eq. 16): Delta = 10 tanh(FC_bias(f_joint)).
- Dual output (Eq. 17-18): score = clip(w_cont . f_joint + Delta + mean_p y_p, 0, 100) and the
  grade logits W_class dropout(f_joint) + b_class (softmax left to the consumer).

Eq. 9's alpha is the temporal attention broadcast to every joint; with alpha = L' a (mean weight 1,
since a sums to 1) Eq. 9 is the attention-weighted mean and its scale does not depend on T.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from edge.skeleton.joints import N_JOINTS, joint_index
from models.config import LimbRegion, NetworkConfig

#: Keeps Eq. 13's per-phase normalisation finite when a phase gets (almost) no frames.
PHASE_MASS_EPS = 1e-6


class ScorerOutput(NamedTuple):
    """What the scorer returns; shapes for a batch of N with L' backbone frames.

    score              (N,)       clipped continuous score in [0, 100] (Eq. 17)
    grade_logits       (N, G)     grade classifier logits, index order ``GRADE_NAMES`` (Eq. 18)
    region_attention   (N, R)     cross-attention beta_r over the limb regions (Eq. 11)
    embedding          (N, C_J)   joint encoding f_joint (Eq. 12), for the contrastive loss (Eq. 15)
    score_unclipped    (N,)       Eq. 17 before the clip (training diagnostics)
    phase_scores       (N, P)     phase scores y_p (Eq. 14); None without a phase head (ablation D)
    phase_assignment   (N, P, L') per-frame phase probabilities of the phase detector (sum 1 over P);
                                  backbone frame n covers input frames [n s, n s + s - 1], s = frame stride
    temporal_attention (N, L')    last block's temporal attention (Eq. 8, sums to 1); None in ablation C
    bias_correction    (N,)       Delta (Eq. 16); None in ablation E
    """

    score: torch.Tensor
    grade_logits: torch.Tensor
    region_attention: torch.Tensor
    embedding: torch.Tensor
    score_unclipped: torch.Tensor
    phase_scores: torch.Tensor | None
    phase_assignment: torch.Tensor | None
    temporal_attention: torch.Tensor | None
    bias_correction: torch.Tensor | None


class RegionEncoder(nn.Module):
    """Eq. 10 for one region: (N, C, V) time-mean joint features -> f_local^r (N, C_L).

    The joints are picked by a constant one-hot matrix (buffer ``select``, (V, k)) and a MatMul,
    so the exported graph needs no Gather.
    """

    def __init__(self, region: LimbRegion, channels: int, local_dim: int):
        super().__init__()
        idx = [joint_index(name) for name in region.joints]
        select = torch.zeros(N_JOINTS, len(idx))
        for col, j in enumerate(idx):
            select[j, col] = 1.0
        self.register_buffer("select", select)  # (V, k)
        self.fc = nn.Linear(len(idx) * channels, local_dim)  # FC_r, not shared between regions

    def forward(self, joint_features: torch.Tensor) -> torch.Tensor:
        z = torch.matmul(joint_features, self.select)  # (N, C, V) @ (V, k) -> (N, C, k)
        z = z.transpose(1, 2).flatten(1)  # (N, k, C) -> (N, k C): joint-major concatenation
        return self.fc(z)  # (N, C_L)


class GlobalLocalEncoder(nn.Module):
    """Eq. 9-12: Z (N, C, L', V), a (N, 1, L', 1) | None -> f_joint (N, C_J), beta (N, R)."""

    def __init__(self, channels: int, cfg: NetworkConfig):
        super().__init__()
        self.regions = nn.ModuleList(RegionEncoder(r, channels, cfg.local_dim) for r in cfg.regions)
        self.d_k = cfg.local_dim
        self.query = nn.Linear(channels, cfg.local_dim, bias=False)  # W_Q
        self.key = nn.Linear(cfg.local_dim, cfg.local_dim, bias=False)  # W_K
        self.value = nn.Linear(cfg.local_dim, cfg.local_dim, bias=False)  # W_V
        self.fc1 = nn.Linear(channels + cfg.local_dim, cfg.joint_dim)  # FC_joint^(1)
        self.fc2 = nn.Linear(cfg.joint_dim, cfg.joint_dim)  # FC_joint^(2)

    def forward(self, z: torch.Tensor, a: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if a is None:
            f_global = z.mean(dim=(2, 3))  # (N, C): plain mean over frames and joints
        else:
            zf = z.mean(dim=3)  # (N, C, L', V) -> (N, C, L')
            f_global = torch.matmul(zf, a.squeeze(1)).squeeze(-1)  # (N, C, L') @ (N, L', 1) -> (N, C)
        per_joint = z.mean(dim=2)  # (N, C, V): (1/L') sum_n Z_{i,n}
        local = torch.stack([r(per_joint) for r in self.regions], dim=1)  # (N, R, C_L)
        q = self.query(f_global).unsqueeze(-1)  # (N, d_k, 1)
        k = self.key(local)  # (N, R, d_k)
        v = self.value(local)  # (N, R, C_L)
        beta = torch.softmax(torch.matmul(k, q).squeeze(-1) / math.sqrt(self.d_k), dim=-1)  # (N, R)
        context = torch.matmul(beta.unsqueeze(1), v).squeeze(1)  # (N, 1, R) @ (N, R, C_L) -> (N, C_L)
        f_joint = self.fc2(torch.relu(self.fc1(torch.cat([f_global, context], dim=1))))  # (N, C_J)
        return f_joint, beta


class PhaseDetector(nn.Module):
    """Lightweight temporal conv net: joint-mean Z (N, C, L', 1) -> phase logits (N, P, L', 1)."""

    def __init__(self, channels: int, hidden: int, phases: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=(3, 1), padding=(1, 0)),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, kernel_size=(3, 1), padding=(2, 0), dilation=(2, 1)),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, phases, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PhaseScoringHead(nn.Module):
    """Eq. 13-14: Z (N, C, L', V) -> phase scores y (N, P) and assignment probabilities (N, P, L')."""

    def __init__(self, channels: int, cfg: NetworkConfig):
        super().__init__()
        self.channels = channels
        self.detector = PhaseDetector(channels, cfg.phase_detector_dim, cfg.num_phases)
        bound = 1.0 / math.sqrt(channels)
        # FC_phase^p for p = 1..P stacked: row p is phase p's own weight vector (no sharing).
        self.phase_weight = nn.Parameter(torch.empty(cfg.num_phases, channels).uniform_(-bound, bound))  # (P, C)
        self.phase_bias = nn.Parameter(torch.full((cfg.num_phases,), float(cfg.score_init)))  # (P,)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zbar = z.mean(dim=3, keepdim=True)  # (N, C, L', 1): (1/K) sum_i Z_{i,n}
        assign = torch.softmax(self.detector(zbar), dim=1)  # (N, P, L', 1)
        # Soft Eq. 13: f_p = sum_n assign[p, n] zbar_n / sum_n assign[p, n], written with means only.
        w = assign / (assign.mean(dim=2, keepdim=True) + PHASE_MASS_EPS)  # (N, P, L', 1)
        f_phase = (w * zbar.permute(0, 3, 2, 1)).mean(dim=2)  # (N, P, L', 1) * (N, 1, L', C) -> (N, P, C)
        # Eq. 14: y_p = w_p . f_p + b_p (sum over C as mean * C).
        y = (f_phase * self.phase_weight).mean(dim=-1) * float(self.channels) + self.phase_bias  # (N, P)
        return y, assign.squeeze(-1)  # (N, P), (N, P, L')


class HierarchicalHead(nn.Module):
    """Sec. 4 as a whole: Z (N, C, L', V), a (N, 1, L', 1) | None -> ScorerOutput."""

    def __init__(self, channels: int, cfg: NetworkConfig):
        super().__init__()
        self.encoder = GlobalLocalEncoder(channels, cfg)
        self.phase = PhaseScoringHead(channels, cfg) if cfg.phase_head else None
        self.bias_branch = nn.Linear(cfg.joint_dim, 1) if cfg.bias_correction else None  # FC_bias
        self.bias_range = float(cfg.bias_range)
        # w_cont (Eq. 17 has no bias: the phase mean carries the offset); without a phase head a
        # bias initialised to score_init takes that role.
        self.score_layer = nn.Linear(cfg.joint_dim, 1, bias=not cfg.phase_head)
        if not cfg.phase_head:
            nn.init.constant_(self.score_layer.bias, float(cfg.score_init))
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.joint_dim, cfg.num_grades)  # W_class, b_class

    def forward(self, z: torch.Tensor, a: torch.Tensor | None) -> ScorerOutput:
        f_joint, beta = self.encoder(z, a)  # (N, C_J), (N, R)
        raw = self.score_layer(f_joint).squeeze(-1)  # w_cont . f_joint: (N,)
        phase_scores = assignment = delta = None
        if self.bias_branch is not None:
            delta = self.bias_range * torch.tanh(self.bias_branch(f_joint).squeeze(-1))  # Eq. 16: (N,)
            raw = raw + delta
        if self.phase is not None:
            phase_scores, assignment = self.phase(z)  # (N, P), (N, P, L')
            raw = raw + phase_scores.mean(dim=-1)  # + (1/P) sum_p y_p
        score = torch.clamp(raw, 0.0, 100.0)  # Eq. 17
        logits = self.classifier(self.dropout(f_joint))  # Eq. 18 before the softmax: (N, G)
        attention = a.flatten(1) if a is not None else None  # (N, 1, L', 1) -> (N, L')
        return ScorerOutput(
            score=score,
            grade_logits=logits,
            region_attention=beta,
            embedding=f_joint,
            score_unclipped=raw,
            phase_scores=phase_scores,
            phase_assignment=assignment,
            temporal_attention=attention,
            bias_correction=delta,
        )


def ordered_phase_segments(assignment: np.ndarray, frame_stride: int, n_frames: int) -> np.ndarray:
    """Hard phase boundaries from one sample's (P, L') assignment probabilities.

    Finds the segmentation into P contiguous, ordered, non-empty phases that maximises the summed
    log-probability (dynamic programming, O(P L')), then maps backbone frames to input frames.
    Returns int64 (P, 2): first and last input frame of each phase (inclusive). Raises ValueError
    when L' < P or the probabilities are not finite.
    """
    p = np.asarray(assignment, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"assignment must be (P, L'), got shape {p.shape}.")
    n_phases, length = p.shape
    if length < n_phases:
        raise ValueError(f"{length} backbone frames cannot hold {n_phases} ordered phases.")
    if not np.isfinite(p).all():
        raise ValueError("assignment probabilities contain NaN or infinite values.")
    logp = np.log(np.clip(p, 1e-12, None))
    best = np.full((n_phases, length), -np.inf)
    from_prev = np.zeros((n_phases, length), dtype=bool)  # True: frame n starts phase q
    best[0, 0] = logp[0, 0]
    for n in range(1, length):
        best[0, n] = best[0, n - 1] + logp[0, n]
        for q in range(1, n_phases):
            stay, enter = best[q, n - 1], best[q - 1, n - 1]
            from_prev[q, n] = enter > stay
            best[q, n] = max(stay, enter) + logp[q, n]
    starts = np.zeros(n_phases, dtype=np.int64)
    q = n_phases - 1
    for n in range(length - 1, 0, -1):
        if q > 0 and from_prev[q, n]:
            starts[q] = n
            q -= 1
    s = int(frame_stride)
    first = starts * s
    last = np.append(starts[1:] * s - 1, n_frames - 1)
    return np.stack([np.minimum(first, n_frames - 1), np.minimum(last, n_frames - 1)], axis=1)
