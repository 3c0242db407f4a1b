"""Points, sides, angles, velocities and directions on a COCO-17 skeleton sequence.

Frame: metres, y up (floor at y = 0 where known), right-handed. Arrays are float64; a joint that
was not seen is NaN and every result that needs it is NaN too (callers turn NaN into a reason).

Points are what action specs name: a joint (``left_knee``) or the midpoint ``mid_<pair>`` of a
left/right pair (``mid_hip`` = mean of ``left_hip`` and ``right_hip``; NaN when either is missing,
because one side alone is not the midpoint). ``{side}`` in a name is a placeholder expanded to
``left``/``right``; the two values are combined per the spec's ``bilateral`` rule
(:func:`combine_bilateral`).

Observed data may be turned about the vertical axis (camera yaw), so the athlete's forward
direction is estimated, never assumed: :func:`estimate_heading`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from edge.skeleton.joints import JOINT_NAMES

UP = np.array([0.0, 1.0, 0.0])
SIDES = ("left", "right")

#: Horizontal travel (m) between the first and last keyframes above which the travel direction
#: is trusted as "forward" for actions that travel (long jump: 1.5-3 m; a stand still: < 0.1 m).
MIN_TRAVEL_M = 0.25
#: A left->right line shorter than this horizontally (m) gives no facing direction in that frame.
MIN_LINE_M = 0.05
#: Concentration (mean resultant length of the doubled per-frame facing angles) below which the
#: facing is unreliable (the body turned a lot within the attempt, or the lines are noise).
MIN_FACING_CONCENTRATION = 0.5
#: Mean forward offset of the nose from the ear midpoint (m) that decides the facing sign; a
#: standing head has the nose about 0.08-0.11 m in front of the ear canals.
MIN_NOSE_OFFSET_M = 0.02
#: Mean forward offset of the knees from the hips (m) that decides the facing sign when the nose
#: does not (knees come forward in squats, landings and sit-ups, never backwards).
MIN_KNEE_OFFSET_M = 0.05
#: Standing height from joint-centre segments (Winter 2009, Fig. 4.1, after Drillis & Contini):
#: thigh 0.245 H, shank 0.246 H, mid-hip to mid-shoulder 0.288 H.
STATURE_SEGMENT_FRACTION = 0.245 + 0.246 + 0.288

_INDEX = {n: i for i, n in enumerate(JOINT_NAMES)}
Bilateral = Literal["mean", "left", "right", "min", "max", "abs_diff"]


# Points ---------------------------------------------------------------------------------------
def expand_side(name: str, side: str | None) -> str:
    """``{side}_knee`` -> ``left_knee`` for side ``left``; names without the placeholder unchanged."""
    if "{side}" not in name:
        return name
    if side not in SIDES:
        raise ValueError(f"point {name!r} needs a side (left or right).")
    return name.replace("{side}", side)


def point_joints(name: str) -> tuple[str, ...]:
    """The joints a point is made of: ``('left_hip', 'right_hip')`` for ``mid_hip``."""
    if name in _INDEX:
        return (name,)
    if name.startswith("mid_"):
        pair = (f"left_{name[4:]}", f"right_{name[4:]}")
        if all(p in _INDEX for p in pair):
            return pair
    raise ValueError(f"unknown point {name!r}; use a joint name or mid_<pair>.")


def point_track(joints: np.ndarray, name: str) -> np.ndarray:
    """(T, 3) float64 trajectory of one point from (T, 17, 3) joints; NaN where not seen."""
    idx = [_INDEX[j] for j in point_joints(name)]
    if len(idx) == 1:
        return joints[:, idx[0], :]
    return 0.5 * (joints[:, idx[0], :] + joints[:, idx[1], :])


def combine_bilateral(left: float | None, right: float | None, how: Bilateral) -> tuple[float | None, str | None]:
    """Combine a left and a right value (None = not measurable) per the spec's ``bilateral``.

    mean: the mean; when one side is missing, the other side alone, said in the returned note.
    left/right: that side. min/max/abs_diff (|left - right|): both sides are needed.
    Returns (value or None, note or None).
    """
    if how == "left":
        return left, None
    if how == "right":
        return right, None
    if left is not None and right is not None:
        if how == "mean":
            return 0.5 * (left + right), None
        if how == "min":
            return min(left, right), None
        if how == "max":
            return max(left, right), None
        if how == "abs_diff":
            return abs(left - right), None
        raise ValueError(f"unknown bilateral rule {how!r}.")
    if how == "mean" and (left is not None or right is not None):
        side, v = ("left", left) if left is not None else ("right", right)
        return v, f"{side} side only (the other side was not seen)"
    return None, None


# Angles -----------------------------------------------------------------------------------------
def interior_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Interior angle at vertex b between b->a and b->c, degrees in [0, 180]; (..., 3) inputs.

    NaN where a point is missing or a segment is shorter than 1 mm.
    """
    u = np.asarray(a, dtype=np.float64) - b
    v = np.asarray(c, dtype=np.float64) - b
    ux, uy, uz = u[..., 0], u[..., 1], u[..., 2]
    vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
    cross = np.sqrt((uy * vz - uz * vy) ** 2 + (uz * vx - ux * vz) ** 2 + (ux * vy - uy * vx) ** 2)
    ang = np.degrees(np.arctan2(cross, ux * vx + uy * vy + uz * vz))
    ok = (ux * ux + uy * uy + uz * uz > 1e-6) & (vx * vx + vy * vy + vz * vz > 1e-6)
    return np.where(ok, ang, np.nan)


def angle_at(a, b, c) -> float:
    """:func:`interior_angle` for single points (3,), as a Python float (NaN when undefined)."""
    (ax, ay, az), (bx, by, bz), (cx, cy, cz) = a, b, c
    ux, uy, uz = ax - bx, ay - by, az - bz
    vx, vy, vz = cx - bx, cy - by, cz - bz
    if ux * ux + uy * uy + uz * uz <= 1e-6 or vx * vx + vy * vy + vz * vz <= 1e-6:
        return math.nan
    cross = math.sqrt((uy * vz - uz * vy) ** 2 + (uz * vx - ux * vz) ** 2 + (ux * vy - uy * vx) ** 2)
    return math.degrees(math.atan2(cross, ux * vx + uy * vy + uz * vz))


def horizontal(v: np.ndarray) -> np.ndarray:
    """The horizontal part of (..., 3) vectors (y set to 0)."""
    h = np.array(v, dtype=np.float64, copy=True)
    h[..., 1] = 0.0
    return h


# Heading ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Heading:
    """The athlete's forward direction in the recording's frame.

    forward: (3,) unit horizontal vector. lateral: the athlete's right, forward x up.
    source: 'travel' (displacement between the first and last keyframes), 'body' (facing from the
    hip and shoulder lines) or 'fallback' (+x, nothing reliable). sign_cue: what chose the facing
    sign ('travel', 'nose', 'knees', 'left_right_labels', 'none'). reliable: False for the
    fallback. note: why, in words, when something was doubtful.
    """

    forward: np.ndarray
    source: Literal["travel", "body", "fallback"]
    sign_cue: Literal["travel", "nose", "knees", "left_right_labels", "none"]
    reliable: bool
    note: str | None = None
    lateral: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        f = np.asarray(self.forward, dtype=np.float64)
        object.__setattr__(self, "forward", f)
        object.__setattr__(self, "lateral", np.cross(f, UP))

    @property
    def yaw_deg(self) -> float:
        """Angle of forward from +x about +y (right-handed), degrees."""
        return float(np.degrees(np.arctan2(-self.forward[2], self.forward[0])))


def _unit_h(v: np.ndarray) -> tuple[np.ndarray, float]:
    h = np.array([v[0], 0.0, v[2]], dtype=np.float64)
    n = float(np.hypot(h[0], h[2]))
    return (h / n if n > 0 else h), n


def _mean_offset(track_a: np.ndarray, track_b: np.ndarray, direction: np.ndarray) -> float | None:
    """Mean over frames of (a - b) . direction, frames where both are seen; None if none."""
    d = (track_a - track_b) @ direction
    d = d[np.isfinite(d)]
    return float(d.mean()) if d.size else None


def estimate_heading(
    joints: np.ndarray,
    direction_of_travel: str,
    first: int = 0,
    last: int | None = None,
) -> Heading:
    """Estimate the forward direction from frames ``first..last`` (inclusive) of (T, 17, 3) joints.

    Rule, in order:
    1. Actions that travel (``direction_of_travel == 'forward'``): the horizontal displacement of
       ``mid_ankle`` (else ``mid_hip``) from ``first`` to ``last``, if at least MIN_TRAVEL_M.
    2. Otherwise the facing direction. Axis: the horizontal normal of the hip line and of the
       shoulder line, per frame, ``up x (right - left)``, averaged over the frames as an
       orientation (doubled angles, so frames with swapped left/right labels do not cancel);
       unreliable when the concentration (mean resultant length of the doubled angles) is below
       MIN_FACING_CONCENTRATION. Sign: the nose in front of the ear midpoint (mean offset >=
       MIN_NOSE_OFFSET_M); else the knees in front of the hips (mean offset >= MIN_KNEE_OFFSET_M:
       squats, landings, sit-ups); else the left/right labels themselves (in a right-handed y-up
       frame ``up x (right - left)`` points forward, averaged over the frames). A sign that
       contradicts the labels is kept and noted (the labels may be swapped).
    3. Nothing usable: +x, ``reliable=False``, with the reason in ``note``.
    """
    joints = np.asarray(joints, dtype=np.float64)
    n = joints.shape[0]
    last = n - 1 if last is None else last
    if not 0 <= first <= last < n:
        raise ValueError(f"heading frames {first}..{last} are outside the sequence of {n} frames.")
    win = joints[first : last + 1]
    note = None
    if direction_of_travel == "forward":
        for name in ("mid_ankle", "mid_hip"):
            tr = point_track(joints, name)
            d = tr[last] - tr[first]
            if np.all(np.isfinite(d)):
                f, dist = _unit_h(d)
                if dist >= MIN_TRAVEL_M:
                    return Heading(f, "travel", "travel", True)
                note = f"the body travelled only {dist:.2f} m, so the facing direction was used"
                break
        else:
            note = "the travel could not be measured (ankles and hips not seen), so the facing was used"

    normals = []
    for pair in (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder")):
        lr = win[:, _INDEX[pair[1]]] - win[:, _INDEX[pair[0]]]
        nv = np.stack([lr[:, 2], -lr[:, 0]], axis=1)  # (x, z) of up x (right - left)
        length = np.hypot(nv[:, 0], nv[:, 1])
        ok = np.isfinite(length) & (length >= MIN_LINE_M)
        normals.append(nv[ok] / length[ok, None])
    normals = np.concatenate(normals)
    if normals.shape[0] == 0:
        return Heading(np.array([1.0, 0.0, 0.0]), "fallback", "none", False,
                       "neither the hips nor the shoulders were seen, so +x was assumed")
    # The axis is averaged as an orientation (doubled angles), so frames whose left/right labels
    # are swapped reinforce it instead of cancelling it.
    c2 = float(np.mean(normals[:, 0] ** 2 - normals[:, 1] ** 2))
    s2 = float(np.mean(2.0 * normals[:, 0] * normals[:, 1]))
    conc = float(np.hypot(c2, s2))
    if conc < MIN_FACING_CONCENTRATION:
        return Heading(np.array([1.0, 0.0, 0.0]), "fallback", "none", False,
                       f"the hip and shoulder lines disagree on the facing (concentration {conc:.2f}), "
                       "so +x was assumed")
    half = 0.5 * np.arctan2(s2, c2)
    axis = np.array([np.cos(half), 0.0, np.sin(half)])
    label_sign = 1.0 if float(np.mean(normals @ axis[[0, 2]])) >= 0 else -1.0

    nose = _mean_offset(win[:, _INDEX["nose"]], point_track(win, "mid_ear"), axis)
    knees = _mean_offset(point_track(win, "mid_knee"), point_track(win, "mid_hip"), axis)
    if nose is not None and abs(nose) >= MIN_NOSE_OFFSET_M:
        sign, cue = float(np.sign(nose)), "nose"
    elif knees is not None and abs(knees) >= MIN_KNEE_OFFSET_M:
        sign, cue = float(np.sign(knees)), "knees"
    else:
        sign, cue = label_sign, "left_right_labels"
    if sign != label_sign:
        extra = f"the facing sign from the {cue} contradicts the left/right labels (they may be swapped)"
        note = extra if note is None else f"{note}; {extra}"
    return Heading(sign * axis, "body", cue, True, note)


# Kinematics -------------------------------------------------------------------------------------
def smoothed_velocity(track: np.ndarray, t: np.ndarray, frames: np.ndarray, half_width: int = 2) -> np.ndarray:
    """Velocity (m/s) of a (T, 3) track at the given frames: least-squares slope over +-half_width.

    The slope of a straight line fitted to the seen samples in frames [i - h, i + h] (clipped to the
    sequence) against ``t``: the central difference smoothed over the window (a first-degree
    Savitzky-Golay derivative; exact for motion with constant acceleration and a symmetric window).
    (len(frames), 3); NaN where fewer than 3 samples are seen in the window.
    """
    frames = np.asarray(frames, dtype=np.int64)
    n = track.shape[0]
    offs = np.arange(-half_width, half_width + 1)
    idx = frames[:, None] + offs[None, :]
    inside = (idx >= 0) & (idx < n)
    idx_c = np.clip(idx, 0, n - 1)
    p = track[idx_c]  # (F, W, 3)
    w = (inside & np.isfinite(p).all(axis=-1)).astype(np.float64)
    tt = t[idx_c]
    cnt = w.sum(axis=1)
    safe = np.maximum(cnt, 1.0)
    tbar = (w * tt).sum(axis=1) / safe
    dt = (tt - tbar[:, None]) * w
    p0 = np.where(w[..., None] > 0, p, 0.0)
    pbar = p0.sum(axis=1) / safe[:, None]
    num = np.einsum("fw,fwk->fk", dt, p0 - pbar[:, None, :] * w[..., None])
    den = (dt * dt).sum(axis=1)
    ok = (cnt >= 3) & (den > 0)
    v = num / np.where(ok, den, 1.0)[:, None]
    v[~ok] = np.nan
    return v


# Body measures ----------------------------------------------------------------------------------
def estimate_stature(joints: np.ndarray) -> float | None:
    """Standing height (m) from joint-centre segment lengths, posture-independent.

    H = (thigh + shank + trunk) / (0.245 + 0.246 + 0.288) with Winter's (2009) proportions, each
    segment the median over the frames where it is seen (thigh and shank: mean of both sides where
    both are seen, else the one seen; trunk: mid_hip to mid_shoulder). The top of the head is not a
    COCO keypoint, and the first frame is not always a standing one (sit-ups), so no height above
    the floor is used. None when a segment is never seen.
    """
    j = np.asarray(joints, dtype=np.float64)

    def seg(a: str, b: str) -> np.ndarray:
        return np.linalg.norm(point_track(j, a) - point_track(j, b), axis=-1)

    parts = []
    for a, b in (("hip", "knee"), ("knee", "ankle")):
        both = np.stack([seg(f"left_{a}", f"left_{b}"), seg(f"right_{a}", f"right_{b}")])
        seen = np.isfinite(both)
        count = seen.sum(axis=0)
        total_len = np.where(seen, both, 0.0).sum(axis=0)
        parts.append(np.where(count > 0, total_len / np.maximum(count, 1), np.nan))
    parts.append(seg("mid_hip", "mid_shoulder"))
    total = 0.0
    for p in parts:
        p = p[np.isfinite(p)]
        if p.size == 0:
            return None
        total += float(np.median(p))
    return total / STATURE_SEGMENT_FRACTION
