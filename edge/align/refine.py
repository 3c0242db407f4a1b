"""Keyframe refinement after the DTW transfer: boundary and extremum events located on the input's own hips.

Beyond the paper. SportsGPT (Sec. 3.1) carries every reference keyframe through the warping
path. That is well conditioned where the pose changes quickly, but not for keyframes that are
defined by an event at the edge of a nearly static stretch: the onset of a movement out of a
still stance, the moment the body becomes still again, the lowest point of a squat with a pause
at the bottom. There the local distances along the path are flat, the warping path can slide
along the static stretch and the transferred frame is off by several frames (on simulated
attempts the deep squat's ``start`` by 4.6 frames and the long jump's ``stabilized`` by 4.6,
against 0.2-1.1 for the other keyframes). This module moves such keyframes to the event itself,
measured on the input's mid-hip track, within a window around the transferred frame.

Which keyframes, and what event, comes from the spec: each keyframe's ``description`` is "the
event that defines this moment", and :func:`keyframe_events` recognises three definitions in it
(:data:`EVENT_PATTERNS`); keyframes with any other definition keep their DTW frame.

- ``still`` -- "... still (hip speed below V m/s)": the first frame after the previous keyframe
  from which the mid-hip speed stays below V for ``hold_s``. The speed is the norm of a
  Savitzky-Golay (quadratic) derivative over ``speed_window_s``, with the input's noise floor
  (the 10th percentile of the speed, squared) subtracted in quadrature; the search covers the
  previous keyframe + 1 up to ``still_radius_s`` after the transferred frame.
- ``descent_onset`` -- "... before the descent begins": the hips' descent towards the next
  extremum keyframe crosses ``onset_levels`` (fractions of the drop from the standing height to
  the lowest height) at frames i1 < i2; the onset is i1 - r (i2 - i1), with r the median over
  the references of the same ratio measured at their own keyframe (a local affine time map
  fitted where the signal is far above the noise, then extrapolated to where it is not).
- ``hip_min`` -- "lowest hip position ...": the frame of the lowest mid-hip height (smoothed
  over ``extremum_window_s``) within ``extremum_radius_s`` of the transferred frame.

Each detector is also run on the references (clean recordings with known keyframes); the median
of (detected - keyframe) over them is subtracted from the input's detection (:func:`calibrate`),
so that a detector's systematic lag (the smoothing of a speed that is still decaying, the flat
bottom of a paused squat) is not carried into the result. Truth is never used: only the input,
the references and the spec. The cost is a few small filters over the input's hip track
(well under a millisecond).

Refined keyframes are then put back into the spec's order (each at least the previous one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.ndimage import convolve1d
from scipy.signal import savgol_coeffs

from edge.actions.spec import ActionSpec
from edge.skeleton.joints import Joint

EventKind = Literal["still", "descent_onset", "hip_min"]

#: (kind, pattern on the keyframe description); ``v`` is the speed threshold of ``still`` (m/s).
EVENT_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("still", re.compile(r"\bstill\b.*\bhip speed below (?P<v>\d+(?:\.\d+)?) ?m/s", re.IGNORECASE)),
    ("descent_onset", re.compile(r"\bbefore the descent begins\b", re.IGNORECASE)),
    ("hip_min", re.compile(r"^lowest hip position\b", re.IGNORECASE)),
)


class RefineError(ValueError):
    """Keyframes cannot be refined on this input; the message is one sentence."""


class RefineConfig(BaseModel):
    """Settings of the keyframe refinement (module doc); times in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="refine event keyframes after the DTW transfer (False: the paper's transfer only)")
    speed_window_s: float = Field(0.4, gt=0.0, le=2.0, description="Savitzky-Golay window of the hip speed")
    height_window_s: float = Field(0.17, gt=0.0, le=2.0, description="'descent_onset': Savitzky-Golay window of the hip height")
    extremum_window_s: float = Field(0.3, gt=0.0, le=2.0, description="'hip_min': Savitzky-Golay window of the hip height")
    hold_s: float = Field(0.2, gt=0.0, le=2.0, description="'still': the speed stays below the threshold this long")
    noise_percentile: float = Field(10.0, ge=0.0, le=50.0, description="percentile of the speed taken as its noise floor")
    still_radius_s: float = Field(1.0, gt=0.0, le=5.0, description="'still': search up to this long after the transferred frame")
    onset_levels: tuple[float, float] = Field((0.1, 0.5), description="'descent_onset': fractions of the drop fitted, 0 < L1 < L2 < 1")
    onset_radius_s: float = Field(0.5, gt=0.0, le=5.0, description="'descent_onset': standing height from this long before the transferred frame")
    extremum_radius_s: float = Field(0.1, ge=0.0, le=2.0, description="'hip_min': search this far either side")
    extremum_tolerance_m: float = Field(
        0.0, ge=0.0, le=0.1, description="'hip_min': the first frame within this height of the lowest (0: the lowest)"
    )

    @model_validator(mode="after")
    def _levels(self):
        a, b = self.onset_levels
        if not 0.0 < a < b < 1.0:
            raise ValueError(f"onset_levels must satisfy 0 < L1 < L2 < 1, got {self.onset_levels}.")
        return self


@dataclass(frozen=True)
class KeyframeEvent:
    """The event that defines one keyframe: kind, index in the spec's order, ``still`` threshold (m/s)."""

    name: str
    index: int
    kind: str
    threshold: float = float("nan")


def keyframe_events(spec: ActionSpec) -> dict[str, KeyframeEvent]:
    """The spec's keyframes whose description names a recognised event (module doc)."""
    return dict(_events(tuple((kf.name, kf.description) for kf in spec.keyframes)))


@lru_cache(maxsize=64)
def _events(keyframes: tuple[tuple[str, str], ...]) -> tuple[tuple[str, KeyframeEvent], ...]:
    out = []
    for i, (name, description) in enumerate(keyframes):
        for kind, pat in EVENT_PATTERNS:
            m = pat.search(description)
            if m:
                thr = float(m.group("v")) if "v" in pat.groupindex else float("nan")
                out.append((name, KeyframeEvent(name, i, kind, thr)))
                break
    return tuple(out)


def hip_track(joints: np.ndarray) -> np.ndarray:
    """(T, 3) float64 mid-hip positions of (T, 17, 3) joints; frames with a hip unseen are filled
    linearly in time (held at the ends). RefineError if the hips are never both seen."""
    j = np.asarray(joints, dtype=np.float64)
    h = 0.5 * (j[:, Joint.LEFT_HIP] + j[:, Joint.RIGHT_HIP])
    ok = np.isfinite(h).all(axis=1)
    if not ok.any():
        raise RefineError("the hips are never seen, so hip events cannot be located.")
    if not ok.all():
        idx = np.arange(len(h))
        h = np.stack([np.interp(idx, idx[ok], h[ok, c]) for c in range(3)], axis=1)
    return h


def _odd_window(seconds: float, fps: float, n: int) -> int:
    w = max(3, int(round(seconds * fps)) | 1)
    return min(w, n if n % 2 else n - 1)


@lru_cache(maxsize=64)
def _sg_kernel(window: int, deriv: int) -> np.ndarray:
    return savgol_coeffs(window, 2, deriv=deriv, use="conv")


def savgol(x: np.ndarray, window: int, deriv: int = 0) -> np.ndarray:
    """Quadratic Savitzky-Golay smoothing (deriv 0) or derivative per frame (deriv 1) along axis 0
    over an odd ``window`` of frames; the ends are padded with the first and last value."""
    return convolve1d(np.asarray(x, dtype=np.float64), _sg_kernel(window, deriv), axis=0, mode="nearest")


def hip_speed(hip: np.ndarray, fps: float, window_s: float, noise_percentile: float) -> np.ndarray:
    """(T,) mid-hip speed (m/s) from a quadratic Savitzky-Golay derivative, with its noise floor
    (the ``noise_percentile`` percentile of the speed) removed in quadrature."""
    w = _odd_window(window_s, fps, len(hip))
    if w < 3:
        return np.zeros(len(hip))
    sp = np.linalg.norm(savgol(hip, w, 1) * fps, axis=1)
    floor = np.percentile(sp, noise_percentile)
    return np.sqrt(np.maximum(sp * sp - floor * floor, 0.0))


def hip_height(hip: np.ndarray, fps: float, window_s: float) -> np.ndarray:
    """(T,) smoothed mid-hip height (m): quadratic Savitzky-Golay over ``window_s``."""
    w = _odd_window(window_s, fps, len(hip))
    return savgol(hip[:, 1], w) if w >= 3 else hip[:, 1].copy()


def first_still(speed: np.ndarray, lo: int, hi: int, threshold: float, hold: int) -> int:
    """First frame in [lo, hi] from which ``speed`` stays below ``threshold`` for ``hold`` frames
    (frames past the end count as still); ``hi`` if none."""
    below = np.append(speed < threshold, np.ones(hold, dtype=bool))
    ok = np.lib.stride_tricks.sliding_window_view(below, hold).all(axis=1)[max(lo, 0) : hi + 1]
    return max(lo, 0) + int(np.argmax(ok)) if ok.any() else hi


@dataclass(frozen=True)
class _Signals:
    """One recording's hip signals: speed (m/s), height for the onset fit and for the extremum (m);
    a signal no event of the action needs is None."""

    fps: float
    n: int
    speed: np.ndarray | None
    height: np.ndarray | None
    low_height: np.ndarray | None


def _signals(joints: np.ndarray, fps: float, cfg: RefineConfig, kinds: set[str]) -> _Signals:
    hip = hip_track(joints)
    return _Signals(
        fps,
        len(hip),
        hip_speed(hip, fps, cfg.speed_window_s, cfg.noise_percentile) if "still" in kinds else None,
        hip_height(hip, fps, cfg.height_window_s) if "descent_onset" in kinds else None,
        hip_height(hip, fps, cfg.extremum_window_s) if "hip_min" in kinds else None,
    )


def _level_frames(height: np.ndarray, lo: int, low: int, base: float, levels: Sequence[float]) -> list[int] | None:
    """First frame in [lo, low] at which the height is at or below base - L (base - height[low]), per L."""
    drop = base - height[low]
    if not drop > 0:
        return None
    seg = height[lo : low + 1]
    out = []
    for lev in levels:
        m = seg <= base - lev * drop
        if not m.any():
            return None
        out.append(lo + int(np.argmax(m)))
    return out


def detect(event: KeyframeEvent, sig: _Signals, keyframes: dict[str, int], names: Sequence[str], cfg: RefineConfig,
           onset_ratio: float | None = None) -> int | float | None:
    """Frame of ``event`` on one recording's signals near its current ``keyframes`` (None: not found).

    For ``descent_onset`` without ``onset_ratio`` the ratio r itself is returned (a reference's)."""
    n = sig.n
    f = int(keyframes[event.name])
    if event.kind == "still":
        prev = int(keyframes[names[event.index - 1]]) + 1 if event.index > 0 else 0
        hi = min(n - 1, f + int(round(cfg.still_radius_s * sig.fps)))
        if prev > hi:
            return None
        return first_still(sig.speed, prev, hi, event.threshold, max(1, int(round(cfg.hold_s * sig.fps))))
    if event.kind == "hip_min":
        r = int(round(cfg.extremum_radius_s * sig.fps))
        lo, hi = max(0, f - r), min(n - 1, f + r)
        seg = sig.low_height[lo : hi + 1]
        return lo + int(np.argmax(seg <= seg.min() + cfg.extremum_tolerance_m))
    # descent_onset: the descent from the standing height before f to the lowest hips between f
    # and the last keyframe
    r = int(round(cfg.onset_radius_s * sig.fps))
    lo = max(0, f - r)
    end = min(n - 1, max(int(keyframes[k]) for k in names))
    if end <= f:
        return None
    low = f + int(np.argmin(sig.height[f : end + 1]))
    base = float(np.median(sig.height[lo : f + 1]))
    lv = _level_frames(sig.height, lo, low, base, cfg.onset_levels)
    if lv is None or lv[1] <= lv[0]:
        return None
    i1, i2 = lv
    if onset_ratio is None:
        return (f - i1) / (i2 - i1)  # a reference: its own keyframe's ratio (negative: before i1)
    return int(np.floor(i1 + onset_ratio * (i2 - i1) + 0.5))


def reference_events(joints: np.ndarray, fps: float, keyframes: dict[str, int], spec: ActionSpec,
                     config: RefineConfig) -> dict[str, float]:
    """One reference (joints (T, 17, 3), fps, its keyframes): per event keyframe the detector's
    offset (detected - keyframe, frames) or, for ``descent_onset``, the ratio r; events the
    detector does not find on this reference are left out."""
    events = keyframe_events(spec)
    if not events or not config.enabled:
        return {}
    sig = _signals(joints, fps, config, {e.kind for e in events.values()})
    names = spec.keyframe_names
    out = {}
    for name, ev in events.items():
        d = detect(ev, sig, keyframes, names, config)
        if d is not None:
            out[name] = float(d) if ev.kind == "descent_onset" else float(d - keyframes[name])
    return out


def calibrate(per_reference: Sequence[dict[str, float]]) -> dict[str, float]:
    """Median over references of each event's offset or ratio (``reference_events`` results)."""
    names = {k for r in per_reference for k in r}
    return {k: float(np.median([r[k] for r in per_reference if k in r])) for k in sorted(names)}


def refine_keyframes(joints: np.ndarray, fps: float, keyframes: dict[str, int], spec: ActionSpec,
                     calibration: dict[str, float], config: RefineConfig) -> dict[str, int]:
    """Keyframes of one input with its event keyframes moved to the calibrated events (module doc).

    calibration: :func:`calibrate` of the references' :func:`reference_events`; an event keyframe
    without a calibration value, or whose event is not found on the input, keeps its frame."""
    out = {k: int(v) for k, v in keyframes.items()}
    events = keyframe_events(spec)
    if not config.enabled or not events:
        return out
    names = spec.keyframe_names
    missing = [k for k in names if k not in out]
    if missing:
        raise RefineError(f"keyframes to refine must include every keyframe of {spec.id}; missing {', '.join(missing)}.")
    sig = _signals(joints, fps, config, {e.kind for e in events.values()})
    n = sig.n
    # extrema first (the onset fit looks for the lowest hips), then onsets, then stillness
    for ev in sorted(events.values(), key=lambda e: ("hip_min", "descent_onset", "still").index(e.kind)):
        if ev.name not in calibration:
            continue
        if ev.kind == "descent_onset":
            d = detect(ev, sig, out, names, config, onset_ratio=calibration[ev.name])
        else:
            d = detect(ev, sig, out, names, config)
            if d is not None:
                d = int(np.floor(d - calibration[ev.name] + 0.5))
        if d is not None:
            out[ev.name] = int(np.clip(d, 0, n - 1))
    for a, b in zip(names, names[1:]):  # keep the spec's order
        out[b] = max(out[b], out[a])
    return out
