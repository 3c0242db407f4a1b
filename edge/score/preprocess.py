"""From one observed attempt to the scorer's fixed-size input, without torch (runs on the appliance).

Steps, for a ``SkeletonSequence`` (joints (T, 17, 3) metres, NaN where unseen; confidence (T, 17)):

1. gaps: a joint below ``min_confidence`` (or NaN) is filled by linear interpolation in time from
   its seen frames (held constant before the first / after the last); a joint never seen takes
   its left/right partner, or else the mean of the frame's filled joints;
2. Eq. 2 normalization with one centre and one scale per sequence (``per_frame=False``): the
   translation of the body (jump distance, take-off speed) stays visible to the network;
3. heading: the sequence is turned about y so that the mean hip line (left -> right hip) points
   along +z, i.e. the athlete faces +x (DESIGN.md convention), whatever the camera's yaw;
4. window (``window_mode``): ``span`` — a ``window_s`` window (3 s = the paper's standard 90-frame
   input) centred on the span that holds 3-97 % of the motion energy (frame-to-frame joint
   displacement above the idle level), widened by 0.3 s on each side; a longer span is taken whole
   (time-compressed, so the network's time scale varies from attempt to attempt); ``fixed`` — a
   ``window_s`` window centred on the energy's centroid, never compressed, so that one input frame is
   always ``window_s / frames`` seconds (durations such as the free throw's dip-to-release time stay
   readable); in both, frames beyond the recording repeat its first/last frame; the window's
   first-frame trunk centre becomes the origin;
5. resampling of the window to ``frames`` frames (linear interpolation in time);
6. layout (C, frames, 17): x, y, z, then the observed confidence when ``confidence_channel``.

``prepare_input(seq, spec)`` returns that array; ``InputSpec`` is recorded in each model card so
training and run time use the same recipe.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge.skeleton.joints import LR_PAIRS, N_JOINTS, TORSO_JOINTS, Joint
from edge.skeleton.normalize import normalize
from edge.skeleton.sequence import SkeletonSequence

#: Share of the motion energy left out at each end when finding the active span.
ENERGY_TAIL = 0.03
#: Percentile of the per-frame energy taken as the idle (sensor jitter) level.
IDLE_PERCENTILE = 20.0
#: Seconds added before and after the active span (slow starts and the settling at the end).
SPAN_MARGIN_S = 0.3


class InputSpec(BaseModel):
    """How an attempt becomes the scorer's input (recorded in the model card)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_s: float = Field(3.0, gt=0.2, le=20.0, description="window length in seconds around the action")
    frames: int = Field(60, ge=8, le=512, description="frames of the network input after resampling")
    min_confidence: float = Field(0.5, ge=0.0, le=1.0, description="joints below this confidence are gap-filled")
    confidence_channel: bool = Field(True, description="append the observed confidence as a 4th channel")
    window_mode: Literal["span", "fixed"] = Field(
        "span", description="span: cover the active span (compressing longer ones); fixed: window_s at a constant time scale"
    )

    @property
    def channels(self) -> int:
        return 4 if self.confidence_channel else 3


def fill_gaps(joints: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """(T, 17, 3) float64 with every unseen entry filled (see the module docstring, step 1)."""
    j = np.asarray(joints, dtype=np.float64)
    t_idx = np.arange(j.shape[0])
    out = np.full_like(j, np.nan)
    for k in range(N_JOINTS):
        ok = seen[:, k]
        if ok.any():
            for a in range(3):
                out[:, k, a] = np.interp(t_idx, t_idx[ok], j[ok, k, a])
    partner = {}
    for a, b in LR_PAIRS:
        partner[int(a)], partner[int(b)] = int(b), int(a)
    for k in range(N_JOINTS):
        if np.isnan(out[:, k, 0]).any() and k in partner and not np.isnan(out[:, partner[k], 0]).any():
            out[:, k] = out[:, partner[k]]
    missing = np.isnan(out).any(axis=(0, 2))
    if missing.all():
        raise ValueError("no joint was seen in any frame, so the attempt cannot be scored.")
    if missing.any():
        mean = out[:, ~missing].mean(axis=1)  # (T, 3)
        out[:, missing] = mean[:, None, :]
    return out


def heading_rotation(joints: np.ndarray) -> np.ndarray:
    """(3, 3) rotation about y that turns the mean left->right hip line of (T, 17, 3) onto +z."""
    hip = joints[:, Joint.RIGHT_HIP] - joints[:, Joint.LEFT_HIP]  # (T, 3)
    hx, hz = float(np.mean(hip[:, 0])), float(np.mean(hip[:, 2]))
    if np.hypot(hx, hz) < 1e-9:
        return np.eye(3)
    th = np.arctan2(-hx, hz)  # x' = cos th x + sin th z = 0, z' > 0
    c, s = np.cos(th), np.sin(th)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _excess_energy(joints: np.ndarray) -> np.ndarray:
    """(T-1,) mean joint displacement between frames above the idle level (5-frame moving mean)."""
    e = np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(axis=1)
    e = np.convolve(e, np.ones(5) / 5.0, mode="same")
    return np.clip(e - np.percentile(e, IDLE_PERCENTILE), 0.0, None)


def fixed_window(joints: np.ndarray, fps: float, window_s: float) -> tuple[float, float]:
    """(first, last) fractional frame indices of a ``window_s`` window centred on the centroid of the
    excess motion energy of (T, 17, 3) ``joints`` (the recording's middle when nothing moves); never
    compressed, it may reach past the recording (those frames repeat the first/last one)."""
    n = joints.shape[0]
    length = max(1.0, window_s * fps - 1.0)
    centre = (n - 1) / 2.0
    if n >= 3:
        excess = _excess_energy(joints)
        if excess.sum() > 1e-12:  # displacement k lies between frames k and k + 1
            centre = float((excess * (np.arange(excess.size) + 0.5)).sum() / excess.sum())
    return centre - length / 2.0, centre + length / 2.0


def active_window(joints: np.ndarray, fps: float, window_s: float) -> tuple[float, float]:
    """(first, last) fractional frame indices of the ``span`` analysis window (module docstring, step 4)."""
    n = joints.shape[0]
    length = max(1.0, window_s * fps - 1.0)
    if n < 3:
        mid = (n - 1) / 2.0
        return mid - length / 2, mid + length / 2
    excess = _excess_energy(joints)
    total = excess.sum()
    if total <= 1e-12:
        lo, hi = 0.0, float(n - 1)
    else:
        cum = np.cumsum(excess) / total
        lo = float(np.searchsorted(cum, ENERGY_TAIL))
        hi = float(np.searchsorted(cum, 1.0 - ENERGY_TAIL)) + 1.0
    lo = max(0.0, lo - SPAN_MARGIN_S * fps)
    hi = min(float(n - 1), hi + SPAN_MARGIN_S * fps)
    if hi - lo >= length:
        return lo, hi
    mid = (lo + hi) / 2.0
    first = mid - length / 2.0
    # Keep the window inside the recording where the recording is long enough.
    if n - 1 >= length:
        first = min(max(first, 0.0), n - 1 - length)
    return first, first + length


def prepare_input(seq: SkeletonSequence, spec: InputSpec | None = None) -> np.ndarray:
    """The scorer input (C, frames, 17) float32 for one attempt; raises ValueError on unusable input."""
    spec = spec or InputSpec()
    joints = np.asarray(seq.joints, dtype=np.float64)
    conf = np.asarray(seq.confidence, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (N_JOINTS, 3) or conf.shape != joints.shape[:2]:
        raise ValueError(f"an attempt needs joints (T, 17, 3) and confidence (T, 17), got {joints.shape} and {conf.shape}.")
    if joints.shape[0] < 2:
        raise ValueError("an attempt needs at least 2 frames to be scored.")
    seen = np.isfinite(joints).all(axis=-1) & (conf >= spec.min_confidence)
    filled = fill_gaps(joints, seen)
    norm = normalize(filled, "trunk", per_frame=False).astype(np.float64)
    norm = norm @ heading_rotation(norm).T
    window = fixed_window if spec.window_mode == "fixed" else active_window
    first, last = window(norm, float(seq.fps), spec.window_s)
    pos = np.linspace(first, last, spec.frames)
    pos = np.clip(pos, 0.0, norm.shape[0] - 1.0)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, norm.shape[0] - 1)
    w = (pos - i0)[:, None, None]
    win = (1.0 - w) * norm[i0] + w * norm[i1]  # (frames, 17, 3)
    win = win - win[0, list(TORSO_JOINTS)].mean(axis=0)
    x = win.transpose(2, 0, 1)  # (3, frames, 17)
    if spec.confidence_channel:
        c = np.where(np.isfinite(joints).all(axis=-1), conf, 0.0)
        cw = (1.0 - w[:, :, 0]) * c[i0] + w[:, :, 0] * c[i1]  # (frames, 17)
        x = np.concatenate([x, cw[None]], axis=0)
    out = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(out).all():
        raise ValueError("the prepared scorer input is not finite; the skeleton has no usable trunk.")
    return out
