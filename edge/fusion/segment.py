"""Attempt segmentation: the continuous skeleton stream cut into samples, one attempt each.

What an attempt is (read from the action spec, the same for every action):

- the action's *primary joints* are its spec ``salient_joints`` (three-point angles) whose weight
  is at least 0.8 x the largest: the knees and hips of a jump or a squat, the hips of a sit-up,
  the shooting elbow, shoulder and knees of a free throw, elbows, shoulders and knees of a pass;
- *activity* a(t) is their weighted mean angular speed (deg/s);
- an attempt **starts** at the last still frame (a < ``still_deg_s``) before the primary joints
  move (a >= ``on_deg_s``) and **ends** at the first frame from which they are still again for
  ``hold_s``. On the stream, a move that has lasted half the spec's longest ``typical_duration_s``
  ends at a stillness of ``merge_s`` (0.3 s); a shorter one (a pause inside the attempt: a set
  point, a held follow-through, the bottom of a squat) waits up to ``merge_short_s`` (1 s) for
  the rest of the attempt.

On a clean (noise-free) motion :func:`movement_bounds` applies exactly this definition; the
simulator uses it for the ground truth. On the fused stream, :class:`AttemptSegmenter` finds the
same frames despite noise: activity from a 9-frame Savitzky-Golay derivative of the angles, the
noise floor of a(t) learnt from the stream's quiet frames and subtracted, and the onset (offset)
found by fitting the start (end) of the move with a cubic in time - a smooth human movement
leaves rest as c (t - t0)^3 (minimum jerk) - rather than waiting for a threshold crossing.

``sliding_windows`` is the other mode: fixed 90-frame windows (paper Sec. 7: 90-frame samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.actions.spec import ActionSpec
from edge.skeleton.joints import joint_index

PRIMARY_SHARE = 0.8
STILL_DEG_S = 2.0
ON_DEG_S = 20.0
HOLD_S = 0.4


# --- angles and activity -----------------------------------------------------------------------
def _point_indices(name: str) -> tuple[int, int]:
    """A spec point name -> (i, j) joint indices whose midpoint it is (i == j for a joint)."""
    if name.startswith("mid_"):
        base = name[4:]
        return joint_index(f"left_{base}"), joint_index(f"right_{base}")
    i = joint_index(name)
    return i, i


def primary_angles(spec: ActionSpec, share: float = PRIMARY_SHARE) -> tuple[np.ndarray, np.ndarray]:
    """The spec's primary salient angles: point indices int (n, 3, 2) and weights (n,)."""
    weights = np.array([s.weight for s in spec.salient_joints], dtype=np.float64)
    keep = weights >= share * weights.max()
    idx = np.array(
        [[_point_indices(p) for p in s.triplet] for s, k in zip(spec.salient_joints, keep) if k], dtype=np.int64
    )
    return idx, weights[keep]


def angle_series(joints: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Interior angles (degrees) (T, n) at the middle point of each triplet; NaN where a point is missing."""
    j = np.asarray(joints, dtype=np.float64)
    pts = 0.5 * (j[:, idx[..., 0]] + j[:, idx[..., 1]])  # (T, n, 3, 3)
    u = pts[:, :, 0] - pts[:, :, 1]
    v = pts[:, :, 2] - pts[:, :, 1]
    cos = np.einsum("tnk,tnk->tn", u, v) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def activity(joints: np.ndarray, fps: float, spec: ActionSpec) -> np.ndarray:
    """Weighted mean absolute angular speed (deg/s) (T,) of the primary angles, central differences."""
    idx, w = primary_angles(spec)
    ang = angle_series(joints, idx)
    speed = np.abs(np.gradient(ang, axis=0)) * fps if ang.shape[0] > 1 else np.zeros_like(ang)
    return (speed * w).sum(axis=1) / w.sum()


def movement_bounds(
    joints: np.ndarray, fps: float, spec: ActionSpec, first_keyframe: int, last_keyframe: int,
    *, still_deg_s: float = STILL_DEG_S, on_deg_s: float = ON_DEG_S, hold_s: float = HOLD_S,
) -> tuple[int, int]:
    """Start and end frame of the attempt in a clean motion, by the definition in the module docstring.

    first_keyframe / last_keyframe: the motion's first and last spec keyframes. The start is the
    last still frame before the first frame at or after ``first_keyframe`` where the primary
    joints move; the end the first frame at or after ``last_keyframe`` from which they stay still
    for ``hold_s``.
    """
    a = activity(joints, fps, spec)
    n = a.shape[0]
    moving = np.nonzero(a[first_keyframe:] >= on_deg_s)[0]
    k_on = first_keyframe + int(moving[0]) if moving.size else first_keyframe
    still = np.nonzero(a[: k_on + 1] < still_deg_s)[0]
    start = int(still[-1]) if still.size else 0
    hold = max(1, int(round(hold_s * fps)))
    below = a < still_deg_s
    end = n - 1
    for k in range(max(last_keyframe, start), n - hold + 1):
        if below[k : k + hold].all():
            end = k
            break
    return start, end


# --- streaming segmentation ----------------------------------------------------------------
SG_WINDOW = 9
COMPLETED_STATUS = 2  # edge.fusion.complete.COMPLETED
COMPLETED_WEIGHT = 0.25


@dataclass
class Attempt:
    """One detected attempt: stream frame indices [start, end] (inclusive) and their device
    timestamps (None when the stream has none), plus the skeleton frames in between as a
    SkeletonSequence (``meta['device_ts_usec']`` when known)."""

    action: str
    index: int
    start: int
    end: int
    start_ts_usec: int
    end_ts_usec: int
    sequence: object

    @property
    def n_frames(self) -> int:
        return self.end - self.start + 1

    @property
    def duration_s(self) -> float:
        t = self.sequence.t
        return float(t[-1] - t[0])


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The weighted median of values (n,) with non-negative weights (n,) (lower median on ties)."""
    order = np.argsort(values)
    v, w = np.asarray(values)[order], np.asarray(weights, dtype=np.float64)[order]
    c = np.cumsum(w)
    return float(v[int(np.searchsorted(c, 0.5 * c[-1]))])


def _deriv_weights(window: int = SG_WINDOW, order: int = 2) -> np.ndarray:
    from scipy.signal import savgol_coeffs

    return savgol_coeffs(window, order, deriv=1, use="dot")


class AttemptSegmenter:
    """Cut a skeleton stream into attempts of one action (definition in the module docstring).

    Feed frames (anything with ``t``, ``device_ts_usec``, ``joints`` (17, 3) and ``confidence``
    (17,), e.g. ``pipeline.SkeletonFrame``) to ``push``; it returns the attempts completed so
    far. Each primary angle counts with the confidence of its three points, so the better-seen
    side of a bilateral pair dominates. Thresholds adapt to the stream's own noise: the noise
    floor is the 25th percentile of the activity over the last ``floor_s`` seconds.
    """

    def __init__(
        self,
        spec: ActionSpec,
        fps: float = 30.0,
        *,
        on_deg_s: float = ON_DEG_S,
        still_deg_s: float = STILL_DEG_S,
        hold_s: float = HOLD_S,
        merge_s: float = 0.3,
        merge_short_s: float = 1.0,
        floor_s: float = 4.0,
        pad_frames: int = 0,
    ):
        self.spec = spec
        self.fps = float(fps)
        self.idx, self.w = primary_angles(spec)
        self.on_deg_s = float(on_deg_s)
        self.still_deg_s = float(still_deg_s)
        # the derivative filter smears a pause by half its window: look for a correspondingly shorter one
        self.hold = max(3, int(round(hold_s * fps)) - SG_WINDOW // 2)
        self.merge = max(1, int(round(merge_s * fps)))
        self.merge_short = max(1, int(round(merge_short_s * fps)))
        self.typical_frames = int(0.5 * spec.typical_duration_s[1] * fps)
        self.floor_n = max(10, int(round(floor_s * fps)))
        lo, hi = spec.typical_duration_s
        self.min_frames = max(3, int(0.5 * lo * fps))
        self.max_frames = int(2.0 * hi * fps) + 2 * self.hold
        self.pad = int(pad_frames)
        self._dw = _deriv_weights()
        self._half = SG_WINDOW // 2
        self._frames: list = []
        self._angles: list[np.ndarray] = []
        self._wconf: list[np.ndarray] = []
        self._act: list[float] = []
        self._offset = 0  # stream index of self._frames[0]
        self._state = "idle"
        self._on_at: int | None = None
        self._run = 0
        self._still_run = 0
        self._rest = 0
        self._end_at: int | None = None
        self._count = 0

    # -- public ------------------------------------------------------------------------------
    def push(self, frame) -> list[Attempt]:
        self._frames.append(frame)
        j = np.asarray(frame.joints, dtype=np.float64)
        c = np.asarray(frame.confidence, dtype=np.float64)
        ang = angle_series(j[None], self.idx)[0]
        status = getattr(frame, "status", None)
        if status is not None:  # keypoints placed by the body model count less than measured ones
            c = c * np.where(np.asarray(status) == COMPLETED_STATUS, COMPLETED_WEIGHT, 1.0)
        conf = np.min(0.5 * (c[self.idx[..., 0]] + c[self.idx[..., 1]]), axis=1)
        conf = np.where(np.isfinite(ang), conf, 0.0)
        self._angles.append(ang)
        self._wconf.append(conf * self.w)
        out: list[Attempt] = []
        n = len(self._frames)
        k = n - 1 - self._half  # the frame whose activity is now computable
        if k >= self._half:
            self._act.append(self._activity_at(k))
            out += self._step(self._offset + len(self._act) - 1)
        elif k >= 0:
            self._act.append(0.0)
        self._trim()
        return out

    def flush(self) -> list[Attempt]:
        out: list[Attempt] = []
        if self._state == "moving" and self._on_at is not None:
            last = self._offset + len(self._frames) - 1
            end = self._end_at if self._end_at is not None else last
            att = self._make(self._on_at, end)
            if att is not None:
                out.append(att)
        self._state = "idle"
        self._on_at = self._end_at = None
        return out

    # -- internals ---------------------------------------------------------------------------
    def _activity_at(self, k: int) -> float:
        a = np.stack(self._angles[k - self._half : k + self._half + 1])  # (window, n)
        wc = np.stack(self._wconf[k - self._half : k + self._half + 1]).min(axis=0)
        good = np.isfinite(a).all(axis=0) & (wc > 0)
        if not good.any():
            return np.nan
        speed = np.abs(self._dw @ a[:, good]) * self.fps
        return float((speed * wc[good]).sum() / wc[good].sum())

    def _floor(self) -> float:
        a = np.asarray(self._act[-self.floor_n :], dtype=np.float64)
        a = a[np.isfinite(a)]
        return float(np.percentile(a, 25)) if a.size >= 10 else 0.0

    def _thresholds(self) -> tuple[float, float]:
        f = self._floor()
        return max(self.on_deg_s, 3.0 * f + 10.0), max(self.still_deg_s, 1.5 * f + 2.0)

    def _step(self, s: int) -> list[Attempt]:
        """Advance the state machine with the activity of stream frame s."""
        a = self._act[s - self._offset]
        on, still = self._thresholds()
        out: list[Attempt] = []
        if self._state == "idle":
            if not np.isfinite(a):  # nobody (well) in view: an attempt cannot start from here
                self._rest, self._run = 0, 0
                return out
            if a < still:
                self._rest += 1
            if a >= on:
                self._run += 1
            else:
                if self._run:
                    self._rest = 0  # a twitch that did not last: the rest starts again
                self._run = 0
            if self._run >= 3 and self._rest >= self.hold:
                self._state = "moving"
                self._on_at = s - self._run + 1
                self._still_run = 0
                self._end_at = None
            return out
        if not np.isfinite(a):
            a = 0.0
        if a < still:
            self._still_run += 1
            if self._still_run == self.hold:
                self._end_at = s - self.hold + 1
        else:
            if a >= 0.5 * on and self._end_at is not None:
                self._end_at = None  # it moves again within the merge window: same attempt
            self._still_run = 0 if a >= still else self._still_run
        wait = self.merge_short
        if self._end_at is not None and self._end_at - self._on_at >= self.typical_frames:
            wait = self.merge
        if self._end_at is not None and s - self._end_at >= wait:
            att = self._make(self._on_at, self._end_at)
            if att is not None:
                out.append(att)
            self._state = "idle"
            self._on_at = self._end_at = None
            self._run = self._rest = 0
        elif self._on_at is not None and s - self._on_at > self.max_frames:
            self._state = "idle"  # never still again within the longest attempt: not an attempt
            self._on_at = self._end_at = None
            self._run = self._rest = 0
        return out

    def _deviation(self, lo: int, hi: int, ref_lo: int, ref_hi: int) -> np.ndarray:
        """Weighted |angle - rest angle| (deg) for stream frames [lo, hi]; rest = median over [ref_lo, ref_hi]."""
        a = np.stack([self._angles[i - self._offset] for i in range(lo, hi + 1)])
        wc = np.stack([self._wconf[i - self._offset] for i in range(lo, hi + 1)])
        r = np.stack([self._angles[i - self._offset] for i in range(ref_lo, ref_hi + 1)])
        rest = np.nanmedian(r, axis=0)
        d = np.abs(a - rest[None, :])
        ok = np.isfinite(d) & (wc > 0)
        num = np.where(ok, d * wc, 0.0).sum(axis=1)
        den = np.where(ok, wc, 0.0).sum(axis=1)
        return np.where(den > 0, num / np.maximum(den, 1e-12), np.nan)

    def _onset(self, k_on: int, direction: int) -> int:
        """Refine a movement onset (direction +1) or offset (-1) with a cubic onset model.

        Onset: the rest pose is the median over the frames before the first still frame found
        walking back from k_on; D(k) = deviation from it. With the noise level delta of D at
        rest, the first crossing k_d of 2 delta and the level D_on at k_on, a movement leaving
        rest as c (k - k0)^3 gives k0 = (k_d - r k_on) / (1 - r), r = (2 delta / D_on)^(1/3).
        """
        lo_lim = self._offset
        hi_lim = self._offset + len(self._frames) - 1
        n_rest = max(self.hold, 6)
        if direction > 0:
            ref_hi = k_on - 1
            ref_lo = max(lo_lim, ref_hi - n_rest - 5)
            if ref_hi - ref_lo < 3:
                return k_on
            d = self._deviation(ref_lo, min(k_on + 3, hi_lim), ref_lo, ref_hi)
            rest = d[: ref_hi - ref_lo + 1]
            seg = d[ref_hi - ref_lo + 1 :]
            base = ref_hi + 1
        else:
            ref_lo = k_on + 1
            ref_hi = min(hi_lim, ref_lo + n_rest + 5)
            if ref_hi - ref_lo < 3:
                return k_on
            d = self._deviation(max(lo_lim, k_on - 3), ref_hi, ref_lo, ref_hi)
            start = max(lo_lim, k_on - 3)
            rest = d[ref_lo - start :]
            seg = d[: ref_lo - start][::-1]
            base = ref_lo - 1
        rest = rest[np.isfinite(rest)]
        if rest.size < 3 or not np.isfinite(seg).any():
            return k_on
        delta = max(float(np.median(rest) + 2.0 * np.std(rest)), 0.5)
        above = np.nonzero(np.nan_to_num(seg) > delta)[0]
        if above.size == 0:
            return k_on
        i_d = int(above[0])
        i_on = len(seg) - 1
        d_on = float(np.nan_to_num(seg[i_on]))
        if d_on <= delta or i_on <= i_d:
            k0 = i_d - 1
        else:
            r = (delta / d_on) ** (1.0 / 3.0)
            k0 = (i_d - r * i_on) / (1.0 - r)
        k0 = int(np.clip(np.floor(k0), -3, i_d))
        return base + direction * k0 if direction > 0 else base - k0

    def _make(self, on_at: int, end_at: int) -> Attempt | None:
        start = self._onset(on_at, +1)
        end = self._onset(end_at, -1) if end_at is not None else end_at
        start = max(start - self.pad, self._offset)
        end = min(end + self.pad, self._offset + len(self._frames) - 1)
        if end - start + 1 < self.min_frames:
            return None
        from edge.skeleton.sequence import SkeletonSequence

        frames = self._frames[start - self._offset : end - self._offset + 1]
        joints = np.stack([np.asarray(f.joints, dtype=np.float32) for f in frames])
        conf = np.stack([np.asarray(f.confidence, dtype=np.float32) for f in frames])
        t = np.array([f.t for f in frames], dtype=np.float64)
        ts = [getattr(f, "device_ts_usec", None) for f in frames]
        meta = {"device_ts_usec": np.array(ts, dtype=np.int64)} if all(v is not None for v in ts) else {}
        seq = SkeletonSequence(joints=joints, confidence=conf, t=t, fps=self.fps, action=self.spec.id, meta=meta)
        ts0, ts1 = getattr(frames[0], "device_ts_usec", None), getattr(frames[-1], "device_ts_usec", None)
        att = Attempt(self.spec.id, self._count, start, end, None if ts0 is None else int(ts0),
                      None if ts1 is None else int(ts1), seq)
        self._count += 1
        return att

    def _trim(self) -> None:
        keep = self.max_frames + self.floor_n + 4 * SG_WINDOW
        if self._state == "moving" and self._on_at is not None:
            keep = max(keep, self._offset + len(self._frames) - self._on_at + 2 * SG_WINDOW + 20)
        drop = len(self._frames) - keep
        if drop > 0:
            del self._frames[:drop]
            del self._angles[:drop]
            del self._wconf[:drop]
            del self._act[:drop]
            self._offset += drop


def sliding_windows(n_frames: int, window: int = 90, stride: int = 30) -> list[tuple[int, int]]:
    """Fixed windows [start, end) of ``window`` frames every ``stride`` frames (the last one flush
    with the end); [] when the stream is shorter than one window."""
    if window < 1 or stride < 1:
        raise ValueError("window and stride must be positive.")
    if n_frames < window:
        return []
    starts = list(range(0, n_frames - window + 1, stride))
    if starts[-1] != n_frames - window:
        starts.append(n_frames - window)
    return [(s, s + window) for s in starts]


class SlidingWindower:
    """The fixed-window mode, streaming: every ``stride`` frames, the last ``window`` frames as an Attempt."""

    def __init__(self, action: str, window: int = 90, stride: int = 30, fps: float = 30.0):
        if window < 2 or stride < 1:
            raise ValueError("window must be at least 2 frames and stride at least 1.")
        self.action, self.window, self.stride, self.fps = action, int(window), int(stride), float(fps)
        self._frames: list = []
        self._seen = 0
        self._count = 0

    def push(self, frame) -> list[Attempt]:
        from edge.skeleton.sequence import SkeletonSequence

        self._frames.append(frame)
        self._seen += 1
        if len(self._frames) > self.window:
            del self._frames[0]
        if self._seen < self.window or (self._seen - self.window) % self.stride:
            return []
        f = self._frames
        seq = SkeletonSequence(
            joints=np.stack([np.asarray(x.joints, dtype=np.float32) for x in f]),
            confidence=np.stack([np.asarray(x.confidence, dtype=np.float32) for x in f]),
            t=np.array([x.t for x in f], dtype=np.float64), fps=self.fps, action=self.action,
        )
        start = self._seen - self.window
        ts0, ts1 = getattr(f[0], "device_ts_usec", None), getattr(f[-1], "device_ts_usec", None)
        att = Attempt(self.action, self._count, start, self._seen - 1, ts0, ts1, seq)
        self._count += 1
        return [att]

    def flush(self) -> list[Attempt]:
        return []
