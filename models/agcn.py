"""Adaptive spatio-temporal GCN backbone (adaptive-GCN paper, Sec. 3, Eq. 5-8) and the scorer.

Tensor layout everywhere: ``(N, C, T, V)`` = (batch, channels, frames, joints). The network input
is the normalized skeleton (Eq. 2) with C = ``in_channels`` (x, y, z in trunk lengths; a
confidence channel may follow), T frames at 30 Hz (30-120 in use, any T >= ``min_frames`` works)
and V = 17 COCO-17 joints in the DESIGN.md order. ``input_from_joints`` builds it from (T, 17, 3).

One block (``STBlock``), for input H (N, C_in, T, V):

1. spatial attention M = sigmoid(MLP([h_i || h_j])) from the time-mean of H (Eq. 7), (N, V, V);
2. adaptive graph convolution relu(BN(D^-1/2 (A * M + B) D^-1/2 H W)) (Eq. 5): A is the COCO-17
   physical adjacency with self-loops (a buffer), B a learnable (V, V) parameter initialised to zero;
3. a per-joint temporal convolution (kernel 9, stride 1 or 2) + BN: the "temporal convolution" of the
   alternating structure of Sec. 3 and the carrier of the stride-2 downsampling (Eq. 6 works on the
   joint-mean sequence, so it cannot downsample the per-joint tensor). Table 8's 1.96 M parameters
   and 1.28 GFLOPs for the "adaptive graph convolution layer" are only reachable with such a
   convolution (the Eq. 5 weights W alone are 0.13 M);
4. temporal multi-scale aggregation (Eq. 6) on the joint-mean sequence: causal depthwise branches
   (3,1), (5,2), (9,4), (1,1), concatenated, 1x1 conv back to C, BN -> X_multi (N, C, T', 1);
5. temporal attention a = softmax_n(v_a . tanh(W_a X_multi[n] + b_a)) (Eq. 8), X_attn = (T' a) X_multi;
6. output relu(step 3 + X_attn broadcast to every joint + residual(H)).

Choices the paper leaves open, made here (each documented where it is coded): the degree of
Eq. 5 uses |A * M + B| so it stays positive when B learns negative entries (identical to Eq. 5
while A * M + B >= 0, e.g. at initialisation); attention weights are rescaled by the number of
frames (mean weight 1) so the feature scale does not depend on T.

The forward pass uses only Conv, MatMul, Gemm, elementwise ops, ReduceMean, Softmax, Sigmoid,
Tanh, Relu, Concat, Slice, (Un)Squeeze, Transpose and Flatten: it exports to ONNX opset 13 with
dynamic batch and time and builds with TensorRT 8.2 (see ``export/onnx_export.py``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edge.skeleton.joints import N_JOINTS, adjacency
from models.config import NetworkConfig, TemporalBranch
from models.head import HierarchicalHead, ScorerOutput

#: Added to the node degree before the inverse square root of Eq. 5.
DEGREE_EPS = 1e-4


def input_from_joints(joints: np.ndarray, confidence: np.ndarray | None = None) -> np.ndarray:
    """(T, 17, 3) normalized joints [+ (T, 17) confidence] -> (C, T, 17) float32 network input.

    Raises ValueError for a wrong shape or a NaN/inf coordinate (fill gaps before scoring).
    """
    j = np.asarray(joints, dtype=np.float32)
    if j.ndim != 3 or j.shape[1:] != (N_JOINTS, 3):
        raise ValueError(f"joints must have shape (T, 17, 3), got {j.shape}.")
    if not np.isfinite(j).all():
        raise ValueError("joints contain NaN or infinite values; fill the gaps before scoring.")
    x = j.transpose(2, 0, 1)  # (T, V, 3) -> (3, T, V)
    if confidence is not None:
        c = np.asarray(confidence, dtype=np.float32)
        if c.shape != j.shape[:2]:
            raise ValueError(f"confidence must have shape {j.shape[:2]}, got {c.shape}.")
        x = np.concatenate([x, c[None]], axis=0)  # (4, T, V)
    return np.ascontiguousarray(x)


def check_input(x: torch.Tensor, in_channels: int, min_frames: int) -> None:
    """Raise ValueError unless ``x`` is a finite float tensor (N, in_channels, T >= min_frames, 17)."""
    if x.dim() != 4 or x.shape[1] != in_channels or x.shape[3] != N_JOINTS:
        raise ValueError(f"scorer input must be (N, {in_channels}, T, {N_JOINTS}), got {tuple(x.shape)}.")
    if x.shape[2] < min_frames:
        raise ValueError(f"scorer input has {x.shape[2]} frames, fewer than the {min_frames} required.")
    if not x.is_floating_point():
        raise ValueError(f"scorer input must be a float tensor, got {x.dtype}.")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("scorer input contains NaN or infinite values; fill the gaps before scoring.")


class SpatialAttention(nn.Module):
    """Eq. 7: M[i, j] = sigmoid(MLP([h_i || h_j])), a two-layer MLP with hidden size C_in / 2.

    h_i is joint i's feature averaged over time, so M is one (V, V) matrix per sample. The first
    MLP layer acting on the concatenation is split as W1 [h_i || h_j] = W1a h_i + W1b h_j, which is
    the same function without materialising the (V, V, 2C) pair tensor.
    """

    def __init__(self, channels: int):
        super().__init__()
        hidden = max(1, channels // 2)
        self.first_i = nn.Linear(channels, hidden)  # W1a and the layer's bias b1
        self.first_j = nn.Linear(channels, hidden, bias=False)  # W1b
        self.second = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.mean(dim=2).transpose(1, 2)  # (N, C, T, V) -> (N, C, V) -> (N, V, C)
        u = self.first_i(h).unsqueeze(2)  # (N, V, 1, H): row joint i
        w = self.first_j(h).unsqueeze(1)  # (N, 1, V, H): column joint j
        z = torch.relu(u + w)  # (N, V, V, H)
        return torch.sigmoid(self.second(z).squeeze(-1))  # (N, V, V, 1) -> (N, V, V)


class AdaptiveGraphConv(nn.Module):
    """Eq. 5 with Eq. 7's attention: relu(BN(D^-1/2 (A * M + B) D^-1/2 H W)), (N, C_in, T, V) -> (N, C_out, T, V).

    ``physical_adjacency`` (buffer) is the 0/1 COCO-17 adjacency with self-loops;
    ``adaptive_adjacency`` (parameter, zeros at init) is B^(l); absent when ``adaptive`` is False.
    The degree D_ii = sum_j |(A * M + B)_ij| is computed in the forward pass because B and M change.
    """

    def __init__(self, in_channels: int, out_channels: int, adaptive: bool, attention: bool):
        super().__init__()
        a = torch.from_numpy(adjacency(self_loops=True))
        self.register_buffer("physical_adjacency", a)  # (V, V)
        if adaptive:
            self.adaptive_adjacency = nn.Parameter(torch.zeros(N_JOINTS, N_JOINTS))  # (V, V)
        else:
            self.register_parameter("adaptive_adjacency", None)
        self.attention = SpatialAttention(in_channels) if attention else None
        self.weight = nn.Conv2d(in_channels, out_channels, kernel_size=1)  # W^(l), per joint and frame
        self.bn = nn.BatchNorm2d(out_channels)

    def graph(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized graph (N or 1, V, V); entry [i, j] weighs joint j's message to joint i."""
        a = self.physical_adjacency.unsqueeze(0)  # (1, V, V)
        if self.attention is not None:
            a = a * self.attention(x)  # A * M: (N, V, V)
        if self.adaptive_adjacency is not None:
            a = a + self.adaptive_adjacency  # + B^(l)
        # Row sums of |a| as mean * V (ReduceMean keeps the ONNX graph free of ReduceSum's axes input).
        degree = a.abs().mean(dim=-1) * float(N_JOINTS)  # (., V)
        d = torch.pow(degree + DEGREE_EPS, -0.5)  # (., V); Pow, not Reciprocal (absent from TensorRT 8.2's ONNX parser)
        return a * d.unsqueeze(-1) * d.unsqueeze(-2)  # D^-1/2 a D^-1/2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.graph(x)  # (N|1, V, V)
        # y[n, c, t, i] = sum_j g[n, i, j] x[n, c, t, j]: (N, C, T, V) @ (N|1, 1, V, V) as a plain MatMul.
        y = torch.matmul(x, g.transpose(-1, -2).unsqueeze(1))  # (N, C_in, T, V)
        return torch.relu(self.bn(self.weight(y)))  # (N, C_out, T, V)


class CausalDepthwiseConv(nn.Module):
    """One Eq. 6 branch: Y[n, c] = sum_j X[n - d j, c] w[j, c], zero before the first frame.

    (N, C, T, 1) -> (N, C, T, 1). Implemented as a depthwise Conv2d padded by d (k - 1) on both
    sides whose first T outputs are kept (a Slice with constant bounds, so T stays dynamic).
    """

    def __init__(self, channels: int, kernel: int, dilation: int):
        super().__init__()
        self.kernel = kernel
        self.dilation = dilation
        self.pad = dilation * (kernel - 1)
        self.conv = nn.Conv2d(
            channels, channels, kernel_size=(kernel, 1), dilation=(dilation, 1), padding=(self.pad, 0), groups=channels
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)  # (N, C, T + pad, 1)
        return y[:, :, : -self.pad] if self.pad > 0 else y  # (N, C, T, 1): outputs that only see the past


class MultiScaleTemporal(nn.Module):
    """Eq. 6: joint-mean X_agg, parallel branches, concat, 1x1 conv back to C, BN -> X_multi.

    (N, C, T, V) -> (N, C, T, 1). With one (3, 1) branch this is ablation B's single-scale conv.
    """

    def __init__(self, channels: int, branches: tuple[TemporalBranch, ...]):
        super().__init__()
        self.branches = nn.ModuleList(CausalDepthwiseConv(channels, b.kernel, b.dilation) for b in branches)
        self.fuse = nn.Conv2d(len(branches) * channels, channels, kernel_size=1)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        agg = x.mean(dim=3, keepdim=True)  # X_agg: (N, C, T, V) -> (N, C, T, 1)
        y = torch.cat([b(agg) for b in self.branches], dim=1)  # (N, M C, T, 1)
        return self.bn(self.fuse(y))  # (N, C, T, 1)


class TemporalAttention(nn.Module):
    """Eq. 8: a[n] = softmax_n(v_a . tanh(W_a X_multi[n] + b_a)); (N, C, T, 1) -> (N, 1, T, 1), sums to 1."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.proj = nn.Conv2d(channels, hidden, kernel_size=1)  # W_a, b_a
        self.score = nn.Conv2d(hidden, 1, kernel_size=1, bias=False)  # v_a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.score(torch.tanh(self.proj(x)))  # (N, 1, T, 1)
        return torch.softmax(e, dim=2)


class STBlock(nn.Module):
    """One spatio-temporal block; (N, C_in, T, V) -> ((N, C_out, ceil(T/s), V), attention (N, 1, T', 1) | None)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, cfg: NetworkConfig):
        super().__init__()
        self.gcn = AdaptiveGraphConv(in_channels, out_channels, cfg.adaptive_graph, cfg.attention)
        k = cfg.unit_temporal_kernel
        self.tcn = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, kernel_size=(k, 1), stride=(stride, 1), padding=((k - 1) // 2, 0)),
            nn.BatchNorm2d(out_channels),
        )
        self.multiscale = MultiScaleTemporal(out_channels, cfg.temporal_branches)
        self.temporal_attention = TemporalAttention(out_channels, cfg.attention_dim) if cfg.attention else None
        if in_channels == out_channels and stride == 1:
            self.residual: nn.Module = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1)), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        y = self.tcn(self.gcn(x))  # (N, C_out, T', V)
        m = self.multiscale(y)  # X_multi: (N, C_out, T', 1)
        a = None
        if self.temporal_attention is not None:
            a = self.temporal_attention(m)  # (N, 1, T', 1), sums to 1 over T'
            # X_attn = (T' a) X_multi: a / mean(a) = T' a exactly, without reading T' from the shape.
            m = m * (a / a.mean(dim=2, keepdim=True))
        return torch.relu(y + m + self.residual(x)), a  # X_attn broadcast over V: (N, C_out, T', V)


class AdaptiveGCNBackbone(nn.Module):
    """Linear joint embedding (H^(0)) then the blocks; (N, C, T, V) -> Z (N, C_T, L', V) and the last attention."""

    def __init__(self, cfg: NetworkConfig):
        super().__init__()
        widths = cfg.block_channels()
        self.embed = nn.Conv2d(cfg.in_channels, widths[0], kernel_size=1)  # H^(0): linear embedding of coordinates
        blocks = []
        c_in = widths[0]
        for c_out, s in zip(widths, cfg.strides):
            blocks.append(STBlock(c_in, c_out, s, cfg))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = c_in

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.embed(x)  # (N, C_0, T, V)
        a = None
        for block in self.blocks:
            h, a = block(h)
        return h, a  # Z: (N, C_T, L', V); a: (N, 1, L', 1) or None


class AdaptiveGCNScorer(nn.Module):
    """The whole scorer: backbone (Sec. 3) + hierarchical scoring head (Sec. 4); x (N, C, T, 17) -> ScorerOutput."""

    def __init__(self, cfg: NetworkConfig | None = None):
        super().__init__()
        self.config = cfg or NetworkConfig()
        self.backbone = AdaptiveGCNBackbone(self.config)
        self.head = HierarchicalHead(self.backbone.out_channels, self.config)

    @property
    def frame_stride(self) -> int:
        """Input frames per backbone output frame (phase_assignment / temporal_attention resolution)."""
        return self.config.frame_stride()

    def forward(self, x: torch.Tensor) -> ScorerOutput:
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            check_input(x, self.config.in_channels, self.config.min_frames)
        z, a = self.backbone(x)
        return self.head(z, a)
