"""Learnt boundary correction, an experiment (not shipped): where the rules placed an attempt's
start or end, a small network reads the segmenter's signals around it and moves it to where the
truth most likely is.

The rule-based segmenter (``edge.fusion.segment``) finds about 94 % of attempts within 3 frames on
sessions nobody tuned it on (``docs/results_segmentation.md``). The simulator gives the truth for as
many fused sessions as we care to make, so session 14 tried learning the correction from them. It
is **not used by the appliance**: on the seed sets it was measured on it gained 7 and 13 attempts on
two and lost 9 and 3 on two others (the figures are in the results file): no gain. ``AttemptSegmenter(refiner=...)`` takes one for experiments, and the replay runs a trained
one (``python -m edge.fusion.replay run --refiner DIR``).

Input (``boundary_features``): for each stream frame in [k0 - W, k0 + W] around the rule's boundary
k0, ``N_CHANNELS`` values: the overall activity and each angle group's over their start thresholds,
the overall activity itself, the pose's distance from the attempt's start pose and from its end
pose over the move's largest excursion and each angle group's own distance from them (deg),
the hips' speed along travel and up and sideways and the fastest primary point's speed
(over ``STILL_M_S``), a flag for frames the segmenter has not got (outside its buffer, or not yet
computable when the attempt is emitted: nothing after emission is read), the offset from k0 over W,
and the action (one-hot over ``ACTION_IDS``).

Network (``BoundaryNet``): three 1-D convolutions over the window (kernels 5, 5 dilated 2, 1; 16
channels) giving one score per frame; the boundary is the best-scoring frame that the segmenter has.
It is fully convolutional (the same evidence counts the same wherever it falls in the window); the
offset channel lets it prefer the rule's frame when the evidence is flat. One network for starts and
one for ends, all actions together. Inference is numpy (``BoundaryNet.scores``). Training
(``python -m edge.fusion.boundary_train``) uses PyTorch on replay records and writes
``boundary.npz`` with a ``card.json`` (sha256 of the weights, training records, figures), which
``load_boundary`` checks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.actions.spec import ACTION_IDS

W = 16  # frames either side of the rule's boundary
FRAME_CHANNELS = ("valid", "act", "group0", "group1", "group2", "d_start", "d_end", "hip_fwd_up", "hip_side",
                  "point", "offset", "act_abs", "g0_start", "g1_start", "g2_start", "g0_end", "g1_end", "g2_end")
CH = {name: i for i, name in enumerate(FRAME_CHANNELS)}  # channel of each per-frame signal
N_CHANNELS = len(FRAME_CHANNELS) + len(ACTION_IDS)
PARAMS = ("w1", "b1", "w2", "b2", "w3", "b3")  # BoundaryNet's arrays, in PyTorch's parameter order
KINDS = ("start", "end")


def _sg_speed(x: np.ndarray, k: int, dw: np.ndarray, fps: float) -> np.ndarray | None:
    """Savitzky-Golay velocity (..., 3) at buffer index k of x (m, ..., 3); None without a whole window."""
    h = dw.shape[0] // 2
    if k - h < 0 or k + h >= x.shape[0]:
        return None
    return np.tensordot(dw, x[k - h : k + h + 1], axes=(0, 0)) * fps


def boundary_features(seg, cand, k0: int, end_pose: np.ndarray | None) -> np.ndarray:
    """Features (N_CHANNELS, 2W + 1) float32 around stream frame k0 from an ``AttemptSegmenter``'s
    buffers, for its candidate ``cand`` (start pose, thresholds, largest excursion) and the pose it
    ended in (``end_pose``, primary angles; None: not known yet). Frames outside what the segmenter
    has are all zero but for the offset and the action."""
    from edge.fusion.segment import STILL_M_S

    L = 2 * W + 1
    out = np.zeros((N_CHANNELS, L), dtype=np.float32)
    out[CH["offset"]] = np.arange(-W, W + 1) / W
    out[len(FRAME_CHANNELS) + ACTION_IDS.index(seg.spec.id)] = 1.0
    n_act = len(seg._act)
    scale = max(cand.far, seg.far_min)
    hips = np.stack(seg._hip)
    pts = np.stack(seg._pts)
    g_on = np.asarray(cand.group_on if cand.group_on is not None else np.full(seg.n_groups, cand.on_deg_s))
    for j in range(L):
        i = k0 - W + j - seg._offset  # buffer index
        if i < 0 or i >= n_act or not np.isfinite(seg._act[i]):
            continue
        out[CH["valid"], j] = 1.0
        out[CH["act"], j] = min(seg._act[i] / cand.on_deg_s, 6.0)
        g = np.nan_to_num(seg._gact[i] / g_on, nan=0.0)
        out[CH["group0"] : CH["group0"] + min(3, g.size), j] = np.minimum(g[:3], 6.0)
        d = seg._dist(seg._smooth[i], cand.start_pose)
        out[CH["d_start"], j] = min(d / scale, 2.0) if np.isfinite(d) else 0.0
        if end_pose is not None:
            d = seg._dist(seg._smooth[i], end_pose)
            out[CH["d_end"], j] = min(d / scale, 2.0) if np.isfinite(d) else 0.0
        out[CH["act_abs"], j] = min(seg._act[i] / 50.0, 6.0)
        for c, pose in ((CH["g0_start"], cand.start_pose), (CH["g0_end"], end_pose)):  # each group's distance (deg / 10) from the pose
            if pose is not None:
                dev = np.abs(seg._smooth[i] - pose)
                ok = np.isfinite(dev)
                num = np.bincount(seg._groups[ok], (seg.w * dev)[ok], seg.n_groups)
                den = np.bincount(seg._groups[ok], seg.w[ok], seg.n_groups)
                gd = np.divide(num, den, out=np.zeros(seg.n_groups), where=den > 0)[:3]
                out[c : c + gd.size, j] = np.minimum(gd / 10.0, 6.0)
        v = _sg_speed(hips, i, seg._dw, seg.fps)
        if v is not None and np.isfinite(v).all():
            out[CH["hip_fwd_up"], j] = min(float(np.hypot(v[0], v[1])) / STILL_M_S, 10.0)
            out[CH["hip_side"], j] = min(abs(float(v[2])) / STILL_M_S, 10.0)
        v = _sg_speed(pts, i, seg._dw, seg.fps)
        if v is not None:
            sp = np.linalg.norm(v[:, :2], axis=-1)
            if np.isfinite(sp).any():
                out[CH["point"], j] = min(float(np.nanmax(sp)) / STILL_M_S, 10.0)
    return out


@dataclass
class BoundaryNet:
    """Three 1-D convolutions (weights as numpy arrays, PyTorch's layout: (out, in, kernel))."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    w3: np.ndarray
    b3: np.ndarray
    dilation2: int = 2

    @staticmethod
    def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, dilation: int = 1) -> np.ndarray:
        k = w.shape[2]
        pad = dilation * (k // 2)
        xp = np.pad(x, ((0, 0), (pad, pad)))
        cols = np.stack([xp[:, t * dilation : t * dilation + x.shape[1]] for t in range(k)], axis=-1)  # (in, L, k)
        return np.einsum("oik,ilk->ol", w, cols) + b[:, None]

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Score per window frame (2W + 1,) for features x (N_CHANNELS, 2W + 1)."""
        h = np.maximum(self._conv(x, self.w1, self.b1), 0.0)
        h = np.maximum(self._conv(h, self.w2, self.b2, self.dilation2), 0.0)
        return self._conv(h, self.w3, self.b3)[0]

    def offset(self, x: np.ndarray) -> int:
        """The boundary's offset from the rule's frame (-W..W): the best-scoring frame the segmenter has."""
        s = np.where(x[CH["valid"]] > 0, self.scores(x), -np.inf)
        s[W] = max(s[W], -1e30)  # the rule's own frame is always allowed
        return int(np.argmax(s)) - W


class BoundaryRefiner:
    """Moves an attempt's start and end (``AttemptSegmenter(refiner=...)``) by the learnt networks."""

    def __init__(self, nets: dict[str, BoundaryNet], version: str = ""):
        missing = [k for k in KINDS if k not in nets]
        if missing:
            raise ValueError(f"a boundary refiner needs a network for {', '.join(missing)}.")
        self.nets = nets
        self.version = version

    def __call__(self, seg, cand, start: int, end: int, end_pose: np.ndarray | None) -> tuple[int, int]:
        s = start + self.nets["start"].offset(boundary_features(seg, cand, start, end_pose))
        e = end + self.nets["end"].offset(boundary_features(seg, cand, end, end_pose))
        return s, max(e, s + 1)


def save_boundary(path: Path, nets: dict[str, BoundaryNet]) -> str:
    """Write the networks to ``path`` (.npz); returns its sha256."""
    arrays = {f"{k}/{name}": getattr(net, name) for k, net in nets.items() for name in PARAMS}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_boundary(directory: Path) -> BoundaryRefiner:
    """The refiner in ``directory`` (``boundary.npz`` and ``card.json``), its sha256 checked against the card."""
    directory = Path(directory)
    card_path, weights = directory / "card.json", directory / "boundary.npz"
    if not card_path.is_file() or not weights.is_file():
        raise FileNotFoundError(f"no boundary model in {directory} (it needs card.json and boundary.npz).")
    card = json.loads(card_path.read_text())
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if digest != card.get("sha256"):
        raise ValueError(f"{weights} does not match its card (sha256 {digest[:12]}, card {str(card.get('sha256'))[:12]}).")
    with np.load(weights) as z:
        nets = {k: BoundaryNet(*(z[f"{k}/{n}"] for n in PARAMS)) for k in KINDS}
    if any(net.w1.shape[1] != N_CHANNELS for net in nets.values()):
        raise ValueError(f"{weights} was trained on {nets['start'].w1.shape[1]} feature channels; this code makes {N_CHANNELS}.")
    return BoundaryRefiner(nets, card.get("version", ""))
