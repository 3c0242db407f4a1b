"""Attempt segmentation: the continuous skeleton stream cut into samples, one attempt each.

What an attempt is (read from the action spec, the same for every action):

- the action's *primary joints* are its spec ``salient_joints`` (three-point angles) whose weight
  is at least 0.8 x the largest: the knees and hips of a jump or a squat, the hips of a sit-up,
  the shooting elbow, shoulder and knees of a free throw, elbows, shoulders and knees of a pass;
- *activity* a(t) is their weighted mean angular speed (deg/s);
- an attempt **starts** at the last still frame (a < ``still_deg_s``, 5 deg/s) before the primary
  joints move (a >= ``on_deg_s``, 20 deg/s) and **ends** at the first frame at or after the last
  spec keyframe from which a stays below ``on_deg_s`` for 0.15 s (``END_PAUSE_S``): the first
  pause of the primary joints once the action is done. A later settling move (the free-throw
  legs straightening to a relaxed stance after the arm is down) is a recovery, not the attempt.

Both thresholds sit where the frame they give does not depend on the threshold (measured on clean
simulated attempts; the figures, the history of every rule below and the misses left are in
``docs/results_segmentation.md``).

On a clean (noise-free) motion :func:`movement_bounds` applies exactly this definition; the
simulator uses it for the ground truth. On the fused stream, :class:`AttemptSegmenter` looks for
the same frames: activity from a 9-frame Savitzky-Golay derivative with each angle weighted by its
inverse noise variance, a knee read as its signed flexion about the hips' left-right axis
(:func:`hinge_angles`: the fused straight knee often sits a few degrees past straight, and its
interior angle, folded at 180, then hides the last degrees of a squat's rise and the first of its
descent); the primary angles are also taken by body part (:func:`angle_groups`: legs, arms,
trunk), each group with its own activity, noise floor and start threshold (the overall threshold
for the group moving alone: ``on_deg_s`` over the group's share of the spec weight), and a move
starts where the overall activity *or any group's* leaves rest (a free throw's knee dip, diluted
in the overall activity by the less noisy arm angles, then starts it); a move starts a
*candidate*, and each pause of the candidate is judged
from the pose it pauses in, with what the spec says about the action (``direction_of_travel``):
an on-the-spot attempt is over when the body is back near the pose it started from (a held
follow-through or the bottom of a squat is far from it: the attempt goes on); a travelling one
once the hips have moved forward (the jump ended on landing; the later stand-up is no attempt);
a move from the last attempt's end pose back to its start pose (ball back to the chest, standing
up) is a reset, and a move that comes back having covered little angle a fidget: both dropped.
A dropped move that had left the rest pose (``far_min_deg``) and is followed by the next move
within ``RESUME_S`` (0.1 s) of being dropped is taken back as the start of that move: a free
throw's knee dip comes back before the arm rises, its fused activity stays at 20-39 deg/s between
the two (a pause for the 40 deg/s quiet threshold), and the attempt otherwise started at the arm,
12 frames late. A reset, and a drop after a 2 s pause (that is rest), are never taken back.
Before the move's first strong frame (its lead-in) the candidate does not pause while any angle
group moves over that group's own quiet threshold (``quiet_deg_s`` over the group's share of the
spec weight, as for the start): a free throw's deep knee dip reads 50-100 deg/s in the legs but
25-30 deg/s overall, and was otherwise judged back mid-dip and dropped, the attempt then starting
at the arm, 14-19 frames late.

Where the attempt's end is an event of the move itself (not ``ends_still``: the free throw's arm
down, the sit-up's shoulders on the mat), the first pause of the truth's ``END_PAUSE_S`` in which
every angle group is quiet and the move already qualifies as an attempt (back near the start pose
after a long enough path) is its end, unless what follows takes the pose further from the start
pose again (the attempt goes on). What only brings the body back nearer its start pose (the
free-thrower's legs straightening 0.15 s after the arm is down, the fused elbow glitching back) is
a recovery: waiting for the segmenter's 0.3 s pause had merged it, the end 7-11 frames late.

An on-the-spot candidate that pauses at the pose the last attempt started from (the ready pose,
within the reset tolerance) before it has an attempt-sized path is dropped: its start pose was
measured on the tail of the move before (a reset with a fused elbow glitch in it), so the pause did
not read as back, and the candidate ran on into the next attempt, which then started 36-56 frames
early. Likewise a *setup* (``setup_drops``): an on-the-spot candidate that starts at the last
attempt's end pose (within the reset tolerance, and not at its start pose) and pauses, before an
attempt-sized path, in a pose that is neither (a new ready stance: a passer crouching deeper for the
next ball) is dropped as a reset is; it had run on through the 1-2.5 s hold into the next attempt,
which then started 55-68 frames early. The path is what tells it from an attempt: the setups
measured 5-18 deg, a sit-up from where the last one ended 103.

The end is then placed by a least-squares fit of the move reaching rest (:func:`fit_boundary`)
with the definition applied to the fitted model; where the spec's last keyframe is the body still
(:func:`ends_still`: the pass's ``recovery``, the squat's ``end``) an on-the-spot attempt's end is
not placed before the points of the primary angles (left and right as one midpoint: the hands, the
hips) are slower than 0.1 m/s by a fit of their positions reaching rest (a whole minimum-jerk
polynomial): on clean simulated passes the angles' pause comes 1-2 frames before that keyframe,
and "points slower than 0.1 m/s" gives the truth's end exactly in 95 of 96. A travelling attempt's
end is not placed before its hips have come to rest (the spec's last keyframe, ``stabilized``: hip
speed below 0.1 m/s, is part of the truth's definition). Along travel and up the segmenter takes the
hips' first stop; sideways (the depth axis, after smoothing the least noisy of the three) it waits
for the sway after the landing to stay under ``SWAY_M_S`` for 0.2 s (``sideways_sway``: where it
swung back over 0.1 m/s after the hips first stopped, the end had come 10-25 frames early), and if
the student moves again (stands up) before the sway has settled, the attempt ends where the hips
stopped along travel and up (waiting on had merged the stand-up in). A long jumper's balance step after the
landing counts in the truth (the hips have not settled) and is followed only when the hips keep
moving through it; the first frame of the hips' deceleration below 0.1 m/s is taken for the
settling (the spec asks it to hold for 0.2 s, which the fused hips' 2-3 cm wobble breaks), less
one frame (``HIP_SPEED_LAG``: the 9-frame derivative reads a decelerating hip's speed about a frame
late, the window's curvature; travelling ends had run 1.6 frames late on average). The start is found
from the confirmed run over the threshold that leads into the move's first strong frame (a run of
wobble that fell back under the threshold before it, the pose not having left the rest pose, is not
the start), then placed as the end is: a least-squares fit of the move leaving rest over the frames
around that run, the truth's 20 deg/s read on the fitted model, one frame earlier (``START_LAG``).
On the fused stream the run itself began on wobble a few frames early, or late where the wobble
held the activity under the raised threshold (``fit_start``; before it the squat's starts, 4-8
frames off now and then, were the widest spread of the five actions). The squat's two fits use a
lower-order model (``low_order``, ``LOW_ORDER_ACTIONS``: u^2 alone, 2 coefficients per angle
instead of 3), and its end is the fitted angles' pause alone, not held back for the points' rest
(chosen on the development sets, session 17: its ends had been 4-6 frames early or late, its
starts 4-5 late). On clean simulated squats both models are right; the likely reason is noise:
the squat's slow onset and finish reach the threshold where the fused knees' wobble is as large
as the move, and the three-coefficient fit bends to it.

Last, each action's boundaries are moved by whole frames (``boundary_bias``, ``BOUNDARY_BIAS``):
minus the mean signed error of each boundary on the development sets, rounded (session 18: sit-up
starts +0.78 frames, free-throw ends +1.02, long-jump starts -1.03 and ends +0.90; the others
within half a frame). These are the rules' systematic lags (the derivative window, the fits'
thresholds), which a fresh set shows again (1700-1723: +0.83, +1.03, -0.93, +0.85).

Where it still goes wrong (details in the results file): the fused stream's correlated joint-angle
wobble (5-20 deg over a few frames, mostly on joints the body model placed) is comparable to a slow
move, so a lead-in slower than the threshold (a free throw's shallow knee dip) is found late, and
wobble that runs into a move with the pose already off the rest pose makes an early start; errors
of the fused stream itself (an elbow overshooting after it stops, knees lagging after a landing)
move an end by 4-6 frames; a long jump's end still comes 5-25 frames early now and then where
the hips' sideways sway peaks near 0.1 m/s (the truth's stabilised hips, a threshold tie); squat
ends are still 4-6 frames off now and then, and sit-up and free-throw starts 4-15 frames late; a
candidate that starts on the tail of the move before (its start pose measured in motion) can
merge with the next attempt.

A learnt correction of the boundaries (``refiner``, ``edge.fusion.boundary``) was tried in session
14 and is not used: over the seed sets it was measured on it gained as often as it lost
(results file).

``sliding_windows`` is the other mode: fixed 90-frame windows (paper Sec. 7: 90-frame samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.actions.spec import ActionSpec
from edge.fusion.gaps import COMPLETED
from edge.skeleton.joints import JOINT_NAMES, joint_index

PRIMARY_SHARE = 0.8
STILL_DEG_S = 5.0
ON_DEG_S = 20.0
HOLD_S = 0.4
REST_S = 0.3  # the streaming segmenter's pause before it judges a move (not the truth's end pause)
JUDGE_S = 0.15  # ... before it may already call the move an attempt (emitted then: sooner on the screen)
EARLY_BACK_SHARE = 0.5  # that early, only with the pose back within this share of its largest excursion
END_PAUSE_S = 0.15  # the truth's end: the first pause this long after the last keyframe
QUIET_DEG_S = 40.0
RESUME_S = 0.1
BACK_SHARE = 0.8


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
    *, still_deg_s: float = STILL_DEG_S, on_deg_s: float = ON_DEG_S, rest_s: float = END_PAUSE_S,
) -> tuple[int, int]:
    """Start and end frame of the attempt in a clean motion, by the definition in the module docstring.

    first_keyframe / last_keyframe: the motion's first and last spec keyframes. The start is the
    last still frame (activity < ``still_deg_s``) before the first frame at or after
    ``first_keyframe`` where the primary joints move (>= ``on_deg_s``); the end the first frame at
    or after ``last_keyframe`` from which their activity stays below ``on_deg_s`` for ``rest_s``
    (the first pause, ``END_PAUSE_S`` by default; the last frame if it never pauses).
    """
    a = activity(joints, fps, spec)
    n = a.shape[0]
    moving = np.nonzero(a[first_keyframe:] >= on_deg_s)[0]
    k_on = first_keyframe + int(moving[0]) if moving.size else first_keyframe
    still = np.nonzero(a[: k_on + 1] < still_deg_s)[0]
    start = int(still[-1]) if still.size else 0
    rest = max(1, int(round(rest_s * fps)))
    quiet = a < on_deg_s
    end = n - 1
    for k in range(max(last_keyframe, start), n - rest + 1):
        if quiet[k : k + rest].all():
            end = k
            break
    return start, end


def hinge_angles(joints: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Signed flexion angles (degrees) (T, n) of the triplets idx (n, 3, 2) about the body's
    left-right axis (left hip -> right hip), in [0, 360): 180 is straight, below it flexed, above it
    hyperextended for a body facing +x. NaN where a point or a hip is missing.

    Unlike the interior angle (``angle_series``), which folds at 180 (noise on a straight knee always
    reads as a bend of several degrees), this reading passes smoothly through straight: the last
    degrees of a knee locking straight, or the first of it unlocking, are not hidden in the fold.
    It equals the interior angle for a triplet moving in the body's sagittal plane (a knee)."""
    j = np.asarray(joints, dtype=np.float64)
    pts = 0.5 * (j[:, idx[..., 0]] + j[:, idx[..., 1]])  # (T, n, 3, 3)
    u = pts[:, :, 0] - pts[:, :, 1]
    v = pts[:, :, 2] - pts[:, :, 1]
    axis = j[:, HIP_R] - j[:, HIP_L]  # (T, 3)
    norm = np.linalg.norm(axis, axis=-1, keepdims=True)
    axis = np.divide(axis, norm, out=np.full_like(axis, np.nan), where=norm > 1e-9)
    sn = np.einsum("tnk,tk->tn", np.cross(u, v), axis)
    deg = np.degrees(np.arctan2(sn, np.einsum("tnk,tnk->tn", u, v)))
    return np.where(deg < 0, deg + 360.0, deg)


def knee_triplets(spec: ActionSpec, share: float = PRIMARY_SHARE) -> np.ndarray:
    """Bool (n,) over the primary angles (``primary_angles``): True where the triplet's vertex is a knee."""
    weights = np.array([s.weight for s in spec.salient_joints], dtype=np.float64)
    keep = weights >= share * weights.max()
    return np.array([s.triplet[1].endswith("knee") for s, k in zip(spec.salient_joints, keep) if k], dtype=bool)


LIMB_OF_VERTEX = {"knee": "legs", "ankle": "legs", "elbow": "arms", "wrist": "arms", "shoulder": "arms"}


def angle_groups(spec: ActionSpec, share: float = PRIMARY_SHARE) -> np.ndarray:
    """Group label int (n,) of each primary angle (``primary_angles``) by the body part of its vertex:
    the legs (knee, ankle), the arms (elbow, wrist, shoulder) or the trunk (hip, neck), labelled
    0..G-1 in the order of first appearance (a free throw: shooting elbow and shoulder | knees; a
    squat: knees | hips; a sit-up: the hips alone, one group)."""
    weights = np.array([s.weight for s in spec.salient_joints], dtype=np.float64)
    keep = weights >= share * weights.max()
    parts = [LIMB_OF_VERTEX.get(s.triplet[1].split("_")[-1], "trunk")
             for s, k in zip(spec.salient_joints, keep) if k]
    order = list(dict.fromkeys(parts))
    return np.array([order.index(p) for p in parts], dtype=np.int64)


def ends_still(spec: ActionSpec) -> bool:
    """True when the spec's last keyframe is the body coming to rest (``Keyframe.at_rest``: the
    squat's ``end``, the long jump's ``stabilized``, the pass's ``recovery``), so the attempt ends no
    earlier than the points of the primary angles have stopped; False when it is an event of the
    move itself (the free throw's arm starting down, the sit-up's shoulders on the mat)."""
    return bool(spec.keyframes[-1].at_rest)


def primary_points(spec: ActionSpec, share: float = PRIMARY_SHARE) -> np.ndarray:
    """Point indices int (p, 2) of the body points the primary angles move, left and right taken
    together as their midpoint (the mid-hip, the mid-wrist: the hands; a midline joint twice)."""
    idx, _ = primary_angles(spec, share)
    out = set()
    for i, j in np.unique(idx.reshape(-1, 2), axis=0).tolist():
        name = JOINT_NAMES[i]
        side = name.split("_", 1)
        if side[0] in ("left", "right"):
            out.add((joint_index(f"left_{side[1]}"), joint_index(f"right_{side[1]}")))
        else:
            out.add((i, j))
    return np.array(sorted(out), dtype=np.int64)


# --- streaming segmentation ----------------------------------------------------------------
HIP_L, HIP_R = joint_index("left_hip"), joint_index("right_hip")
SG_WINDOW = 9
COMPLETED_WEIGHT = 0.25
START_LAG = 1
# A run reaching STRONG_SHARE x the start threshold is a move, not the fusion's wobble (measured on
# simulated sessions: the wobble's runs peak at 1.0-1.4 x, a free throw's shallow dip at 1.8 x or
# more; 1.6 and 1.75 gave the same starts, 2 lost the dips' starts).
STRONG_SHARE = 1.75
STILL_M_S = 0.1  # a point at rest (the specs' at_rest keyframes: hip speed below 0.1 m/s; a travelling attempt's hips)
POINT_POWERS = (3, 4, 5)  # the points' move reaching rest: a whole minimum-jerk polynomial
SETTLE_BACK = 8  # the hips' settling is looked for from this many frames before the pause
# The 9-frame derivative of a decelerating hip crosses STILL_M_S late: on the development sets
# (tuning, untuned 700-1011 and 2000-2079 seeds) travelling ends were 1.6 frames late on average;
# the frame before the first one below is taken (one frame: +6, -1 attempts there; shorter
# derivative windows, 5 or 7 frames, let the wobble through and lost 4-10).
HIP_SPEED_LAG = 1
# The start's onset fit (``AttemptSegmenter._fit_onset``): frames before and after the threshold run's
# first frame, and how far before and after it the change point is looked for.
FIT_BEFORE, FIT_AFTER = 16, 14
FIT_GRID = (8, 3)
# Actions whose boundaries (the start's and the end's fit) are read with a lower-order model, u^2
# alone (a constant acceleration from or into rest; 2 coefficients per angle instead of the
# minimum-jerk leading terms' 3): the squat. Chosen on the development sets (results file,
# session 17); on clean simulated squats both models place the boundaries within 3 frames, so the
# likely reason is noise: the squat's slow onset and finish reach the 20 deg/s threshold only where
# the fused knees' wobble is as large as the move, and the 3-coefficient fit bends to it.
LOW_ORDER_ACTIONS = frozenset({"deep_squat"})
LOW_ORDER_POWERS = (2,)
SWAY_M_S = 0.09  # a travelling attempt's hips: the sideways sway read as settled (``_hips_settled``)
SWAY_HOLD_S = 0.2  # ... held this long, as the spec's ``stabilized`` holds its 0.1 m/s
#: Frames added to the rules' (start, end) per action (``boundary_bias``): minus the mean signed error
#: of each boundary, rounded, on the development sets (attempts found within 5 frames; session 18,
#: ``python -m edge.fusion.replay run`` prints it per action). Actions not listed: (0, 0).
BOUNDARY_BIAS: dict[str, tuple[int, int]] = {
    "basketball_free_throw": (0, -1),  # measured +0.25, +1.02
    "sit_up": (-1, 0),  # +0.78, -0.46
    "standing_long_jump": (1, -1),  # -1.03, +0.90
}


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


def _deriv_weights(window: int = SG_WINDOW, order: int = 2, deriv: int = 1) -> np.ndarray:
    from scipy.signal import savgol_coeffs

    return savgol_coeffs(window, order, deriv=deriv, use="dot")


def fit_boundary(x: np.ndarray, weights: np.ndarray, grid: np.ndarray, direction: int,
                 powers: tuple[int, ...] = (3, 4)) -> tuple[float, np.ndarray]:
    """Least-squares change point of a movement leaving (direction +1) or reaching (-1) rest.

    x: angles (m, n) on consecutive frames 0..m-1 (NaN: missing); weights (n,) >= 0 per angle
    (inverse noise variance); grid: candidate change points (frames, fractional allowed). Each
    angle is modelled as its rest value r on the resting side of the change point t0 and
    r + c u^3 + d u^4 on the moving side, u = |t - t0| (frames): the leading terms of a
    minimum-jerk move leaving (or reaching) rest (``powers``: the powers of u in the model; (3, 4, 5)
    is a whole minimum-jerk move). Returns (t0, coef (n, 1 + len(powers)) = r, c, d, ... per
    angle) of the candidate with the least weighted residual sum of squares.
    """
    x = np.asarray(x, dtype=np.float64)
    m, n = x.shape
    t = np.arange(m, dtype=np.float64)
    ok = np.isfinite(x)
    y = np.where(ok, x, 0.0)
    nb = 1 + len(powers)
    best = (np.inf, float(grid[0]), np.zeros((n, nb)))
    use = (np.asarray(weights) > 0) & (ok.sum(axis=0) >= nb + 2)
    full = use & ok.all(axis=0)  # angles seen on every frame: one least-squares solve for all of them
    for t0 in grid:
        u = np.maximum(direction * (t - t0), 0.0)
        basis = np.stack([np.ones(m)] + [u**q for q in powers], axis=1)  # (m, nb)
        sse = 0.0
        coef = np.zeros((n, nb))
        if full.any():
            c, *_ = np.linalg.lstsq(basis, y[:, full], rcond=None)
            r = y[:, full] - basis @ c
            sse += float((np.asarray(weights)[full] * (r * r).sum(axis=0)).sum())
            coef[full] = c.T
        for i in np.nonzero(use & ~full)[0]:
            A, b = basis[ok[:, i]], y[ok[:, i], i]
            c, *_ = np.linalg.lstsq(A, b, rcond=None)
            r = b - A @ c
            sse += weights[i] * float(r @ r)
            coef[i] = c
        if sse < best[0]:
            best = (sse, float(t0), coef)
    return best[1], best[2]


def model_rate(coef: np.ndarray, u: np.ndarray, powers: tuple[int, ...]) -> np.ndarray:
    """Rate of change (per frame) (m, n) of the fitted boundary model (``fit_boundary``'s coef
    (n, 1 + len(powers))) at u (m,) frames from its change point, on the moving side."""
    return sum(q * coef[None, :, i + 1] * u[:, None] ** (q - 1) for i, q in enumerate(powers))


def model_activity(coef: np.ndarray, spec_w: np.ndarray, t0: float, frames: np.ndarray, direction: int,
                   fps: float, powers: tuple[int, ...] = (3, 4)) -> np.ndarray:
    """Activity (deg/s) of the fitted boundary model (``fit_boundary`` with these ``powers``) at
    ``frames``, weighted by ``spec_w``."""
    u = np.maximum(direction * (np.asarray(frames, dtype=np.float64) - t0), 0.0)
    speed = np.abs(model_rate(coef, u, powers)) * fps
    used = np.abs(coef).sum(axis=1) > 0
    w = np.where(used, spec_w, 0.0)
    return (speed * w[None, :]).sum(axis=1) / max(w.sum(), 1e-12)


def _nanmedian(a: np.ndarray) -> np.ndarray:
    """Column medians (n,) of a (m, n) over its finite values; NaN for a column with none."""
    out = np.full(a.shape[1], np.nan)
    for i in range(a.shape[1]):
        v = a[np.isfinite(a[:, i]), i]
        if v.size:
            out[i] = np.median(v)
    return out


@dataclass
class _Candidate:
    """A move under way: its onset (stream frame), the pose before it (primary angles (n,), deg)
    and hip x (m), the noise floor, quiet threshold and start thresholds (overall and per angle
    group, ``AttemptSegmenter._group_threshold``) (deg/s) when it started, its farthest distance
    from the start pose so far (deg, ``AttemptSegmenter._dist``), its angular path (deg: activity
    over the floor, integrated), the current pause (frames, from ``quiet_at``), whether its main
    move has begun (``strong``: activity at ``STRONG_SHARE`` x its
    threshold) and the first pause at which it qualified as an attempt (``recovery``: that pause's
    first frame and its distance from the start pose; None while there is none or once the pose
    has moved further away again). ``settled_along``: while a travelling attempt waits for the
    hips' sideways sway alone (``sideways_sway``), the pause's first frame and the frame at which
    the hips settled along travel and up."""

    on_at: int
    start_pose: np.ndarray
    start_hip: float
    floor: float = 0.0
    quiet_below: float = QUIET_DEG_S
    on_deg_s: float = ON_DEG_S
    group_on: np.ndarray | None = None
    far: float = 0.0
    path: float = 0.0
    quiet: int = 0
    quiet_at: int | None = None
    settling: bool = False
    settled_along: tuple[int, int] | None = None
    strong: bool = False
    recovery: tuple[int, float] | None = None


class AttemptSegmenter:
    """Cut a skeleton stream into attempts of one action (definition in the module docstring).

    Feed frames (anything with ``t``, ``device_ts_usec``, ``joints`` (17, 3) and ``confidence``
    (17,), e.g. ``pipeline.SkeletonFrame``) to ``push``; it returns the attempts completed so
    far. Each primary angle counts with its spec weight, the confidence of its three points and
    the inverse of its own noise variance (learnt from the stream: median |second difference| over
    the last ``floor_s`` seconds), so a badly seen or folded angle (a straight knee) cannot drown
    the others. The activity's noise floor (25th percentile over ``floor_s``) sets the thresholds.

    A *candidate* starts when the activity stays over the threshold (``on_deg_s``, raised over
    the noise floor), or that of an angle group (``angle_groups``) over its own
    (``_group_threshold``), for 3 frames after ``hold_s`` of rest (a shorter twitch counts as rest); if
    its pose has not left the rest pose by ``far_min_deg`` within ``confirm_s``, it was noise and
    is forgotten. Each time the candidate has been quiet (activity below ``quiet_deg_s``: fusion
    errors wobble the angles at up to 30-40 deg/s, so the pause is found with a higher threshold
    and the end then placed by the fit) for ``rest_s``, the pose of the pause decides (poses are
    median primary angles; distances spec-weighted mean absolute angle differences, deg):

    - travelling action (spec ``direction_of_travel`` not "none"), hips ``travel_m`` further along
      +x than before the move and an angular path (activity over the floor, integrated) of at
      least ``min_path_deg`` -> an attempt (it ended on landing);
    - on-the-spot action, pose within ``back_share`` x the candidate's largest excursion of its
      start pose and the path long enough -> an attempt; a pause far from the start pose (a held
      follow-through, the bottom of a squat, the crouch before a take-off) -> it goes on;
    - a move from the previous attempt's end pose to its start pose (within ``reset_tol_deg`` or
      half their distance: the ball back to the chest, standing up after a landing) -> a reset,
      dropped; back without a long enough path (or, travelling, without travel) -> dropped; a
      move that starts within ``resume_s`` of such a drop continues the dropped candidate.

    ``lead_in_groups``: before the main move, an angle group over its own quiet threshold keeps the
    candidate from pausing; ``recovery_ends``: an event-ended on-the-spot attempt ends at its first
    qualifying pause when only a recovery follows; ``ready_drops``: an on-the-spot candidate that
    pauses, before an attempt-sized path, at the pose the last attempt started from (within the
    reset tolerance) is dropped (module docstring; all three True as the appliance runs, False for
    the rules as they were before session 15); ``setup_drops``: an on-the-spot candidate from the
    last attempt's end pose that pauses, before an attempt-sized path, at a pose that is neither
    that attempt's start nor its end pose (a new ready stance) is dropped as a reset;
    ``boundary_bias``: each boundary moved by ``BOUNDARY_BIAS`` (both True as the appliance runs,
    False for the rules before session 18).

    A pause of ``long_quiet_s``, or the person leaving the view, ends whatever is under way (an
    attempt if it qualifies); a candidate that never pauses within twice the spec's longest
    ``typical_duration_s`` is dropped. An attempt is emitted ``judge_s`` + 4 frames after its
    end (the 9-frame derivative's half window) when its pose is clearly back then (within
    ``EARLY_BACK_SHARE`` of its largest excursion; on-the-spot actions whose end is not the body
    still: with ``ends_still`` the points' pause needs the whole ``rest_s``), else ``rest_s`` + 4
    frames after it: a drop, or an attempt that is not yet clear, waits for the whole pause (a
    pass's 0.2 s pause at the forehead is no end); a travelling one, if its hips are still moving then, as soon as they are seen below
    ``STILL_M_S`` (along travel and up; with ``sideways_sway``, the default, and the sway under
    ``SWAY_M_S`` for ``SWAY_HOLD_S``), its end not before that frame. Its end is placed by
    a least-squares fit of the move reaching rest (``fit_boundary``) and the truth's definition applied to the fitted model
    (when the spec's last keyframe is the body still, ``ends_still``, not before the points have
    stopped: ``_points_rest``, unless ``low_order``); its start one frame before the threshold crossing of a fit of the
    move leaving rest (``_fit_onset``) around the confirmed run over the threshold (the overall one
    or any group's) that leads into the first frame at ``STRONG_SHARE`` x the threshold
    (``_refine_start``; ``fit_start=False``: before that run itself). ``low_order``: both fits with
    ``LOW_ORDER_POWERS`` (None, the default: for the actions in ``LOW_ORDER_ACTIONS``, the squat;
    False: the minimum-jerk model for every action, as before session 17). ``refiner`` (a callable
    ``(segmenter, candidate, start, end, end_pose) -> (start, end)``, an experiment:
    ``edge.fusion.boundary``) then moves both; None (the default, as the appliance runs) keeps the
    rules' frames.
    """

    def __init__(
        self,
        spec: ActionSpec,
        fps: float = 30.0,
        *,
        on_deg_s: float = ON_DEG_S,
        still_deg_s: float = STILL_DEG_S,
        hold_s: float = HOLD_S,
        rest_s: float = REST_S,
        judge_s: float = JUDGE_S,
        back_share: float = BACK_SHARE,
        travel_m: float = 0.5,
        min_path_deg: float = 50.0,
        reset_tol_deg: float = 10.0,
        long_quiet_s: float = 2.0,
        far_min_deg: float = 10.0,
        resume_s: float = RESUME_S,
        quiet_deg_s: float = QUIET_DEG_S,
        confirm_s: float = 0.4,
        floor_s: float = 4.0,
        pad_frames: int = 0,
        lead_in_groups: bool = True,
        recovery_ends: bool = True,
        ready_drops: bool = True,
        setup_drops: bool = True,
        fit_start: bool = True,
        low_order: bool | None = None,
        sideways_sway: bool = True,
        boundary_bias: bool = True,
        refiner=None,
    ):
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}.")
        if not 0 < back_share <= 1:
            raise ValueError(f"back_share must be in (0, 1], got {back_share}.")
        if min(on_deg_s, quiet_deg_s, rest_s, judge_s, long_quiet_s, confirm_s) <= 0:
            raise ValueError("thresholds and durations must be positive.")
        if resume_s < 0:
            raise ValueError(f"resume_s must be >= 0 (0: a dropped move is never resumed), got {resume_s}.")
        self.spec = spec
        self.fps = float(fps)
        self.idx, self.w = primary_angles(spec)
        self._knee = knee_triplets(spec)
        self._groups = angle_groups(spec)
        self.n_groups = int(self._groups.max()) + 1
        # a group moving alone: the overall activity is its activity x its share of the spec weight
        self._group_scale = self.w.sum() / np.bincount(self._groups, self.w, self.n_groups)
        self._pts_idx = primary_points(spec)
        self._still_end = ends_still(spec) and spec.direction_of_travel == "none"
        self.travels = spec.direction_of_travel != "none"
        self.on_deg_s = float(on_deg_s)
        self.still_deg_s = float(still_deg_s)
        self.hold = max(3, int(round(hold_s * fps)) - SG_WINDOW // 2)
        self.rest = max(2, int(round(rest_s * fps)))
        self.judge = min(self.rest, max(2, int(round(judge_s * fps))))
        self.back_share = float(back_share)
        self.travel_m = float(travel_m)
        self.min_path = float(min_path_deg)
        self.reset_tol = float(reset_tol_deg)
        self.long_quiet = max(self.rest + 1, int(round(long_quiet_s * fps)))
        self.far_min = float(far_min_deg)
        self.resume = int(round(resume_s * fps))
        self.quiet_deg_s = float(quiet_deg_s)
        self.confirm = max(1, int(round(confirm_s * fps)))
        self.end_pause = max(1, int(round(END_PAUSE_S * fps)))  # the truth's end pause (frames), as movement_bounds
        self.lead_in_groups = bool(lead_in_groups)
        self.recovery_ends = bool(recovery_ends) and not self.travels and not self._still_end
        self.ready_drops = bool(ready_drops) and not self.travels
        self.setup_drops = bool(setup_drops) and not self.travels
        self.fit_start = bool(fit_start)
        self.low_order = spec.id in LOW_ORDER_ACTIONS if low_order is None else bool(low_order)
        self.sideways_sway = bool(sideways_sway) and self.travels
        self._sway_hold = max(1, int(round(SWAY_HOLD_S * fps)))
        self.floor_n = max(10, int(round(floor_s * fps)))
        lo, hi = spec.typical_duration_s
        self.min_frames = max(3, int(0.75 * lo * fps))
        self.max_frames = int(2.0 * hi * fps) + 2 * self.hold
        self.pad = int(pad_frames)
        self.bias = BOUNDARY_BIAS.get(spec.id, (0, 0)) if boundary_bias else (0, 0)
        self.refiner = refiner  # learnt boundary correction (edge.fusion.boundary), or None: the rules alone
        self._dw = _deriv_weights()
        self._sw = _deriv_weights(deriv=0)
        self._half = SG_WINDOW // 2
        self._frames: list = []
        self._angles: list[np.ndarray] = []
        self._wconf: list[np.ndarray] = []
        self._hip: list[np.ndarray] = []  # mid-hip (3,) (m), same frames as _frames
        self._pts: list[np.ndarray] = []  # the primary angles' points (p, 3) (m), same frames as _frames
        self._pconf: list[np.ndarray] = []  # their confidence (p,) (body-model points count less)
        self._d2: list[np.ndarray] = []
        self._act: list[float] = []
        self._gact: list[np.ndarray] = []  # activity (deg/s) of each angle group (G,), same frames as _act
        self._smooth: list[np.ndarray] = []  # Savitzky-Golay smoothed primary angles, same frames as _act
        self._offset = 0  # stream index of self._frames[0]
        self._state = "idle"
        self._cand: _Candidate | None = None
        self._prev: tuple[np.ndarray, np.ndarray] | None = None  # (start pose, end pose) of the last attempt
        self._dropped: tuple[_Candidate, int] | None = None  # the last move dropped as back, and when
        self._run = 0
        self._rest = 0
        self._count = 0

    # -- public ------------------------------------------------------------------------------
    @property
    def moving(self) -> bool:
        """True while a move is under way that may be an attempt (started, not yet judged)."""
        return self._state == "moving"

    def push(self, frame) -> list[Attempt]:
        """Add one frame; returns the attempts that ended with it (usually none)."""
        j = np.asarray(frame.joints, dtype=np.float64)
        c = np.asarray(frame.confidence, dtype=np.float64)
        if j.shape != (17, 3) or c.shape != (17,):
            raise ValueError(f"a frame needs joints (17, 3) and confidence (17,), got {j.shape} and {c.shape}.")
        self._frames.append(frame)
        ang = angle_series(j[None], self.idx)[0]
        if self._knee.any():  # knees: the signed reading, which does not fold at straight
            ang = np.where(self._knee, hinge_angles(j[None], self.idx)[0], ang)
        status = getattr(frame, "status", None)
        if status is not None:  # keypoints placed by the body model count less than measured ones
            c = c * np.where(np.asarray(status) == COMPLETED, COMPLETED_WEIGHT, 1.0)
        conf = np.min(0.5 * (c[self.idx[..., 0]] + c[self.idx[..., 1]]), axis=1)
        conf = np.where(np.isfinite(ang), conf, 0.0)
        self._angles.append(ang)
        self._wconf.append(conf * self.w)
        self._hip.append(0.5 * (j[HIP_L] + j[HIP_R]))
        pi = self._pts_idx
        self._pts.append(0.5 * (j[pi[:, 0]] + j[pi[:, 1]]))
        self._pconf.append(np.minimum(c[pi[:, 0]], c[pi[:, 1]]))
        if len(self._angles) >= 3:
            a3 = self._angles[-3:]
            self._d2.append(np.abs(a3[1] - 0.5 * (a3[0] + a3[2])))
        out: list[Attempt] = []
        n = len(self._frames)
        k = n - 1 - self._half  # the frame whose activity is now computable
        if k >= self._half:
            act, sm, gact = self._activity_at(k)
            self._act.append(act)
            self._gact.append(gact)
            self._smooth.append(sm)
            out += self._step(self._offset + len(self._act) - 1)
        elif k >= 0:
            self._act.append(np.nan)
            self._gact.append(np.full(self.n_groups, np.nan))
            self._smooth.append(np.full(self.idx.shape[0], np.nan))
        self._trim()
        return out

    def flush(self) -> list[Attempt]:
        """End of the stream: the attempt under way, if it qualifies as one so far."""
        out: list[Attempt] = []
        cand = self._cand
        if self._state == "moving" and cand is not None:
            last = self._offset + len(self._frames) - 1
            quiet_at = cand.quiet_at if cand.quiet_at is not None else last
            verdict = self._judge(cand, quiet_at, last, final=True)
            if verdict == "attempt":
                if cand.recovery is not None:  # it had ended; the stream stopped during the recovery
                    att = self._make(cand, cand.recovery[0])
                else:
                    att = self._make(cand, quiet_at, refine_end=cand.quiet_at is not None)
                if att is not None:
                    out.append(att)
        self._reset()
        return out

    # -- internals ---------------------------------------------------------------------------
    def _noise_var(self) -> np.ndarray:
        """Per-angle noise variance (deg^2) (n,) from the recent second differences."""
        if len(self._d2) < 10:
            return np.full(self.idx.shape[0], 25.0)
        d = np.stack(self._d2[-self.floor_n :])
        fin = np.isfinite(d)
        med = np.array([np.median(d[fin[:, i], i]) if fin[:, i].any() else np.nan for i in range(d.shape[1])])
        sd = np.where(np.isfinite(med), 1.4826 * med / np.sqrt(1.5), 5.0)
        return np.maximum(sd, 0.5) ** 2

    def _activity_at(self, k: int) -> tuple[float, np.ndarray, np.ndarray]:
        """Activity (deg/s) at stream-buffer frame k, the smoothed primary angles (n,) there and the
        activity of each angle group (G,) (``angle_groups``; NaN for a group not seen)."""
        a = np.stack(self._angles[k - self._half : k + self._half + 1])  # (window, n)
        sm = self._sw @ a
        wc = np.stack(self._wconf[k - self._half : k + self._half + 1]).min(axis=0) / self._noise_var()
        good = np.isfinite(a).all(axis=0) & (wc > 0)
        gact = np.full(self.n_groups, np.nan)
        if not good.any():
            return np.nan, sm, gact
        w = np.where(good, wc, 0.0)
        speed = np.where(good, np.abs(self._dw @ np.where(np.isfinite(a), a, 0.0)), 0.0) * self.fps
        num = np.bincount(self._groups, speed * w, self.n_groups)
        den = np.bincount(self._groups, w, self.n_groups)
        np.divide(num, den, out=gact, where=den > 0)
        return float(num.sum() / den.sum()), sm, gact

    def _floor(self) -> float:
        a = np.asarray(self._act[-self.floor_n :], dtype=np.float64)
        a = a[np.isfinite(a)]
        return float(np.percentile(a, 25)) if a.size >= 10 else 0.0

    def _threshold(self, floor: float) -> float:
        """The start threshold (deg/s) over the noise floor ``floor`` (``_floor``)."""
        return max(self.on_deg_s, 2.0 * floor + 8.0)

    def _group_threshold(self) -> np.ndarray:
        """Each angle group's start threshold (deg/s) (G,): the group activity that makes the overall
        activity ``on_deg_s`` when the group moves alone (``on_deg_s`` over the group's share of the
        spec weight: the truth's start for a move of that group), raised over the group's own noise
        floor as ``_threshold`` is (twice the 25th percentile over ``floor_s``, + 8 deg/s)."""
        g = np.stack(self._gact[-self.floor_n :]) if self._gact else np.full((0, self.n_groups), np.nan)
        fin = np.isfinite(g)
        if g.shape[0] >= 10 and fin.all():  # every group seen throughout (the usual case): one call
            floor = np.percentile(g, 25, axis=0)
        else:
            floor = np.array([np.percentile(g[fin[:, i], i], 25) if fin[:, i].sum() >= 10 else 0.0
                              for i in range(self.n_groups)])
        return np.maximum(self.on_deg_s * self._group_scale, 2.0 * floor + 8.0)

    def _reset(self) -> None:
        self._state = "idle"
        self._cand = None
        self._run = self._rest = 0

    def _pose(self, lo: int, hi: int) -> tuple[np.ndarray, float]:
        """Median primary angles (n,) (deg) and hip x (m) over stream frames [lo, hi] (NaN where unseen)."""
        lo, hi = max(lo, self._offset), min(hi, self._offset + len(self._frames) - 1)
        if hi < lo:
            return np.full(self.idx.shape[0], np.nan), np.nan
        a = np.stack(self._angles[lo - self._offset : hi - self._offset + 1])
        x = np.stack(self._hip[lo - self._offset : hi - self._offset + 1])[:, :1]  # along travel
        return _nanmedian(a), float(_nanmedian(x)[0])

    def _dist(self, p: np.ndarray, q: np.ndarray) -> float:
        """Spec-weighted mean absolute difference (deg) of two primary-angle poses; NaN if none comparable."""
        ok = np.isfinite(p) & np.isfinite(q)
        if not ok.any():
            return np.nan
        return float((self.w[ok] * np.abs(p[ok] - q[ok])).sum() / self.w[ok].sum())

    def _groups_quiet(self, cand: "_Candidate", lo: int, hi: int) -> bool:
        """True when no angle group's activity reaches its quiet threshold on stream frames [lo, hi]:
        the candidate's quiet threshold over the group's share of the spec weight (as its start
        threshold is), not below the group's start threshold."""
        g = np.stack(self._gact[lo - self._offset : hi - self._offset + 1])
        below = np.maximum(cand.group_on, cand.quiet_below * self._group_scale)
        return not (np.isfinite(g) & (g >= below)).any()

    def _track_recovery(self, cand: "_Candidate", s: int, d: float) -> None:
        """Keep ``cand.recovery`` at stream frame s (d: the smoothed pose's distance from the start
        pose there): set at the first pause of ``end_pause`` frames, every group quiet, at which the
        move already qualifies as an attempt (``_judge``); cleared when a move after it takes the pose
        further from the start pose than it was in that pause."""
        if cand.recovery is None:
            if cand.quiet == self.end_pause and self._groups_quiet(cand, cand.quiet_at, s):
                if self._judge(cand, cand.quiet_at, s, final=False) == "attempt":
                    cand.recovery = (cand.quiet_at, self._dist(self._pose(cand.quiet_at, s)[0], cand.start_pose))
        elif cand.quiet == 0 and np.isfinite(d) and d > cand.recovery[1]:
            cand.recovery = None  # it moves away from the start pose again: the attempt goes on

    def _step(self, s: int) -> list[Attempt]:
        """Advance the state machine with the activity of stream frame s."""
        a = self._act[s - self._offset]
        if self._state == "idle":
            if not np.isfinite(a):  # nobody (well) in view: an attempt cannot start from here
                self._rest, self._run = 0, 0
                return []
            floor = self._floor()
            on, group_on = self._threshold(floor), self._group_threshold()
            if a >= on or (self._gact[s - self._offset] >= group_on).any():  # any group moving: a move
                self._run += 1
            else:  # a twitch too short to confirm counts as rest (a longer one becomes a candidate)
                self._rest += self._run + 1
                self._run = 0
            if self._run >= 3 and self._rest >= self.hold:
                on_at = s - self._run + 1
                dropped, self._dropped = self._dropped, None
                if dropped is not None and on_at - dropped[1] <= self.resume:  # no rest since: the same move
                    self._cand = dropped[0]
                    self._cand.quiet, self._cand.quiet_at = 0, None
                else:
                    pose, hip = self._pose(on_at - min(self._rest, 2 * self.hold), on_at - 1)
                    self._cand = _Candidate(on_at, pose, hip, floor=floor, quiet_below=max(on, self.quiet_deg_s),
                                            on_deg_s=on, group_on=group_on)
                self._state = "moving"
            return []
        cand = self._cand
        seen = np.isfinite(a)
        if not seen:
            a = 0.0
        cand.path += max(a - cand.floor, 0.0) / self.fps
        d = self._dist(self._smooth[s - self._offset], cand.start_pose)
        if np.isfinite(d):
            cand.far = max(cand.far, d)
        if a >= STRONG_SHARE * cand.on_deg_s:
            cand.strong = True
        quiet = a < cand.quiet_below
        if quiet and self.lead_in_groups and not cand.strong:  # the lead-in: no group may be moving
            quiet = self._groups_quiet(cand, s, s)
        if quiet:
            cand.quiet += 1
            if cand.quiet == 1:
                cand.quiet_at = s
        else:
            cand.quiet = 0
            cand.quiet_at = None
        if self.recovery_ends:
            self._track_recovery(cand, s, d)
        verdict = None
        if cand.settling:  # a travelling attempt, over but for the hips coming to rest
            if cand.quiet == 0 and cand.settled_along is not None:
                # it moves again while only the sideways sway was awaited (a stand-up): the attempt
                # ended when the hips settled along travel and up
                cand.quiet_at, along = cand.settled_along
                return self._finish(cand, s, "attempt", along)
            if cand.quiet == 0:
                cand.settling = False  # it moves again first: the attempt goes on
            else:
                settled = self._hips_settled(cand, cand.quiet_at - SETTLE_BACK)
                if settled is not None or cand.quiet >= self.long_quiet:
                    return self._finish(cand, s, "attempt", settled)
                return []
        if s - cand.on_at == self.confirm and cand.far < self.far_min:
            verdict = "noise"  # the pose has not left the rest pose: noise, not a move
        elif cand.quiet == self.judge < self.rest and not self._still_end:  # a still end needs the points' whole pause
            # only a clear attempt is sure this early; the rest waits
            early = self._judge(cand, cand.quiet_at, s, final=False, back_share=EARLY_BACK_SHARE)
            verdict = "attempt" if early == "attempt" else None
        elif cand.quiet == self.rest or cand.quiet == self.long_quiet:
            verdict = self._judge(cand, cand.quiet_at, s, final=cand.quiet >= self.long_quiet)
        elif cand.quiet == 0 and s - cand.on_at > self.max_frames:
            verdict = "drop"  # never still again within the longest attempt: not an attempt
        if verdict is None:
            return []
        settled = None
        if verdict == "attempt" and self.travels:
            settled = self._hips_settled(cand, cand.quiet_at - SETTLE_BACK)
            if settled is None and cand.quiet < self.long_quiet:
                cand.settling = True  # wait for the hips (emitted as soon as they are below STILL_M_S)
                return []
        return self._finish(cand, s, verdict, settled)

    def _finish(self, cand: "_Candidate", s: int, verdict: str, settled: int | None) -> list[Attempt]:
        """Emit (verdict 'attempt', its end not before frame ``settled`` when given) or drop the
        candidate at stream frame s, and go back to idle."""
        out: list[Attempt] = []
        if verdict == "attempt":
            end_at = cand.quiet_at if cand.recovery is None else cand.recovery[0]
            att = self._make(cand, end_at, not_before=settled)
            if att is not None:
                out.append(att)
                end_pose, _ = self._pose(cand.quiet_at, s)
                self._prev = (cand.start_pose, end_pose)
        quiet = self.hold if verdict == "noise" else cand.quiet
        self._reset()
        self._rest = quiet
        # a move that left the rest pose and came back may be the first part of an attempt that
        # goes straight on (a free throw's knee dip, then the arm): kept for ``resume`` frames
        self._dropped = (cand, s) if verdict == "drop" and 0 < cand.quiet < self.long_quiet and cand.far >= self.far_min else None
        return out

    def _judge(self, cand: "_Candidate", e: int, s: int, final: bool, back_share: float | None = None) -> str | None:
        """What the candidate is at the pause [e, s]: 'attempt', 'drop' or None (it goes on);
        ``back_share``: the share of the largest excursion within which the pose is back (default
        ``self.back_share``)."""
        pose, hip = self._pose(e, s)
        if not np.isfinite(pose).any():  # the person left: judge on what was seen
            final = True
        big = cand.path >= self.min_path
        d0 = self._dist(pose, cand.start_pose)
        back = bool(np.isfinite(d0) and d0 <= (self.back_share if back_share is None else back_share) * cand.far)
        moved = bool(np.isfinite(hip) and np.isfinite(cand.start_hip) and hip - cand.start_hip >= self.travel_m)
        if self.travels and moved and big:
            return "attempt"
        if not self.travels and back and big:
            return "attempt"
        at_ready = False  # the pause at the pose the last attempt started from
        if self._prev is not None:  # from the last attempt's end pose back to its start pose
            ps, pe = self._prev
            tol = max(0.5 * self._dist(ps, pe), self.reset_tol)
            at_ready = self._dist(pose, ps) < tol
            from_end = self._dist(cand.start_pose, pe) < tol
            if at_ready and from_end:
                return "reset"
            if (self.setup_drops and from_end and not back and not big and not final
                    and self._dist(cand.start_pose, ps) >= tol):
                return "reset"  # a setup: from the last end pose into a new ready stance, held
        if back:
            return "drop"
        if self.ready_drops and at_ready and not big and not final:
            return "drop"  # back at the ready pose, no attempt made (its start pose was taken in motion)
        if final:
            if self.travels:
                return "attempt" if moved and big else "drop"
            return "attempt" if big else "drop"
        return None

    def _window(self, lo: int, hi: int) -> tuple[np.ndarray, int]:
        lo = max(lo, self._offset)
        hi = min(hi, self._offset + len(self._frames) - 1)
        return np.stack(self._angles[lo - self._offset : hi - self._offset + 1]), lo

    def _fit_activity(self, x: np.ndarray, lo: int, grid: np.ndarray, direction: int) -> tuple[float, np.ndarray]:
        """A boundary fit (``fit_boundary``) of the primary angles x (m, n) on the stream frames from lo,
        each angle weighted by its mean confidence there (spec-weighted) over its noise variance:
        the change point (frames from lo) and the fitted model's activity (m,) (deg/s). With
        ``low_order`` the model is ``LOW_ORDER_POWERS`` instead of a minimum-jerk move's leading terms."""
        w = np.nanmean(np.stack(self._wconf[lo - self._offset : lo - self._offset + len(x)]), axis=0) / self._noise_var()
        powers = LOW_ORDER_POWERS if self.low_order else (3, 4)
        t, coef = fit_boundary(x, w, grid, direction, powers=powers)
        return t, model_activity(coef, self.w, t, np.arange(len(x)), direction, self.fps, powers)

    def _refine_start(self, cand: "_Candidate", k_end: int) -> int:
        """The start from the confirmed run above the candidate's threshold ``on`` (deg/s), or an angle
        group's above its own, that leads into the move's first strong frame (activity >=
        ``STRONG_SHARE`` x ``on``, or a group's x its own, looked for in [onset, k_end]): an earlier
        run that dropped back under ``on`` with the pose still within
        ``far_min_deg`` of the rest pose (it had not left it: the fused stream's wobble, and the move
        started from the pause after it) is not the start. The 9-frame derivative
        sees a move from rest one frame early; measured on simulated sessions the run begins one
        frame after the truth's last still frame (``START_LAG``).

        With ``fit_start`` the crossing is then read on a least-squares fit of the move leaving rest
        (``_fit_onset``) rather than on the noisy activity itself.
        """
        k_on, on = cand.on_at, cand.on_deg_s
        hi = min(k_end, self._offset + len(self._act) - 1)
        act = np.asarray(self._act[k_on - self._offset : hi - self._offset + 1], dtype=np.float64)
        gact = np.stack(self._gact[k_on - self._offset : hi - self._offset + 1])
        up = (act >= on) | (gact >= cand.group_on).any(axis=1)  # the move or any group of it on
        strong = np.nonzero((act >= STRONG_SHARE * on) | (gact >= STRONG_SHARE * cand.group_on).any(axis=1))[0]
        if strong.size:
            k = int(strong[0])
            while k > 0 and up[k - 1]:
                k -= 1
            if k > 0:  # a pause before the strong run: was what came before it the wobble?
                d = self._dist(self._smooth[k_on + k - 1 - self._offset], cand.start_pose)
                if np.isfinite(d) and d < self.far_min:
                    k_on += k
        if self.fit_start:
            k_on = self._fit_onset(k_on)
        return max(k_on - START_LAG, self._offset)

    def _fit_onset(self, k_on: int) -> int:
        """The first stream frame at which the fitted move leaving rest reaches ``on_deg_s`` (the
        truth's threshold: the model has no noise to rise over), near the threshold run that began at
        ``k_on``; ``k_on`` itself where the fit finds no such frame.

        The primary angles over [k_on - ``FIT_BEFORE``, k_on + ``FIT_AFTER``] are fitted as rest, then
        the leading terms of a minimum-jerk move (``fit_boundary``, direction +1, change points within
        ``FIT_GRID`` of k_on), each angle weighted by its confidence over its noise variance as the
        end's fit is. The fitted model's activity crosses the threshold once, where a run of the noisy
        activity may start a few frames early or late on wobble (the fit reads every frame of the
        window); its crossing, less ``START_LAG``, is the start, as for the run. (The fitted change
        point itself, and the model's last frame under ``still_deg_s``, are 1-4 frames early,
        depending on the action, on the true joints as on the fused ones: the move is not the
        polynomial that far from its onset. The crossing is within a frame or two.)
        """
        x, lo = self._window(k_on - FIT_BEFORE, k_on + FIT_AFTER)
        grid = np.arange(k_on - FIT_GRID[0] - lo, k_on + FIT_GRID[1] - lo + 0.01, 0.25)
        grid = grid[(grid >= 4) & (grid <= len(x) - 4)]
        if grid.size == 0:
            return k_on
        _, act = self._fit_activity(x, lo, grid, +1)
        on = np.nonzero(act >= self.on_deg_s)[0]
        return lo + int(on[0]) if on.size else k_on

    def _hips_settled(self, cand: "_Candidate", lo: int) -> int | None:
        """First stream frame >= lo where the mid-hip speed along travel and up (m/s, 9-frame
        Savitzky-Golay) is below ``STILL_M_S`` and, with ``sideways_sway``, from which its sideways
        (depth) speed stays below ``SWAY_M_S`` for ``SWAY_HOLD_S``; None if none yet (the frame
        along travel and up alone, when that one is found, kept in ``cand.settled_along``), lo when
        the hips are unseen.

        The spec's ``stabilized`` keyframe asks for the 3-D speed to *stay* below 0.1 m/s for
        0.2 s; on the fused stream the hips' 2-3 cm wobble along travel and up reads 0.1-0.2 m/s now
        and then, so there the first frame of the landing's deceleration below the threshold is
        taken, less ``HIP_SPEED_LAG``. The sideways component (the depth axis for a side-on camera)
        is, after the pipeline's smoothing, the least noisy of the three (9-frame derivative error
        0.018 m/s rms, against 0.044-0.052), so a sway after the landing is waited for there, held
        as the spec holds it; the smoothing and the derivative read a 1.4 Hz sway's peak at about
        75 %, hence ``SWAY_M_S`` a little under the truth's 0.1 m/s."""
        lo = max(lo, self._offset + self._half)
        last = self._offset + len(self._frames) - 1 - self._half  # the last frame with a centred window
        if last < lo:
            return None
        h = np.stack(self._hip[lo - self._half - self._offset : last + self._half - self._offset + 1])
        if not np.isfinite(h).all():
            return lo
        v = np.lib.stride_tricks.sliding_window_view(h, SG_WINDOW, axis=0) @ self._dw * self.fps  # (m, 3) m/s
        below = np.nonzero(np.linalg.norm(v[:, :2], axis=1) < STILL_M_S)[0]
        if not below.size:
            return None
        along = max(lo, lo + int(below[0]) - HIP_SPEED_LAG)
        if not self.sideways_sway:
            return along
        calm = np.abs(v[:, 2]) < SWAY_M_S
        held = np.nonzero(np.lib.stride_tricks.sliding_window_view(calm, self._sway_hold).all(axis=1))[0] \
            if len(calm) >= self._sway_hold else np.zeros(0, dtype=np.int64)
        if not held.size:
            cand.settled_along = (cand.quiet_at, along)
            return None
        return max(along, lo + int(held[0]))

    def _refine_end(self, k_end: int) -> int:
        x, lo = self._window(k_end - 14, k_end + self.rest)
        grid = np.arange(k_end - 6 - lo, min(k_end + 8 - lo, len(x) - 3) + 0.01, 0.25)
        grid = grid[grid >= 4]
        if grid.size == 0:
            return k_end
        t1, act = self._fit_activity(x, lo, grid, -1)
        moving = np.nonzero(act >= self.on_deg_s)[0]
        k = moving[-1] + 1 if moving.size else int(np.ceil(t1))
        if self._still_end and not self.low_order:  # the body still: not before the points have stopped
            k = max(k, self._points_rest(lo, len(x), grid))
        return int(lo + k)

    def _points_rest(self, lo: int, m: int, grid: np.ndarray) -> int:
        """The first frame (relative to stream frame lo, window of m frames) from which the point of
        the primary angles that moved most in the window (``primary_points``; the best seen move, and
        the last to stop) is slower than ``STILL_M_S`` along travel and up, by a least-squares fit of
        the points reaching rest (``fit_boundary`` on their coordinates, powers ``POINT_POWERS``,
        weighted by confidence over each coordinate's noise variance); 0 when no point is seen well
        enough. (The fastest of all points was tried: the noisiest point's fit then sets the end, a
        frame late on average; a fit with powers 3 and 4 only was a frame late on clean passes.)

        The angles' pause (activity below ``on_deg_s``) comes 1-2 frames before a point-speed rest
        (a hand 0.6 m out moves 0.2 m/s at 20 deg/s), and up to 4 after a slow finish."""
        a = lo - self._offset
        p = np.stack(self._pts[a : a + m])  # (m, p, 3)
        n_p = p.shape[1]
        hist = np.stack(self._pts[-self.floor_n :])  # recent history: the noise of each coordinate
        d2 = np.abs(hist[1:-1] - 0.5 * (hist[:-2] + hist[2:])).reshape(-1, n_p * 3)
        var = np.array([np.median(c[np.isfinite(c)]) if np.isfinite(c).sum() >= 10 else np.nan for c in d2.T])
        var = np.maximum(1.4826 * var / np.sqrt(1.5), 0.005) ** 2
        conf = np.repeat(np.nanmean(np.stack(self._pconf[a : a + m]), axis=0), 3)
        w = np.where(np.isfinite(var), conf / var, 0.0)
        if not (w > 0).any():
            return 0
        t1, coef = fit_boundary(p.reshape(m, n_p * 3), w, grid, -1, powers=POINT_POWERS)
        u = np.maximum(t1 - np.arange(m, dtype=np.float64), 0.0)
        v = model_rate(coef, u, POINT_POWERS) * self.fps
        speed = np.linalg.norm(v.reshape(m, n_p, 3)[:, :, :2], axis=-1)  # (m, p) m/s, along travel and up
        used = (w.reshape(n_p, 3) > 0).all(axis=1) & (np.abs(coef).reshape(n_p, -1).sum(axis=1) > 0)
        if not used.any():
            return 0
        travel = np.linalg.norm(sum(coef[:, i + 1] * u[0] ** q for i, q in enumerate(POINT_POWERS)).reshape(n_p, 3), axis=1)
        far = int(np.argmax(np.where(used, travel, -1.0)))  # the point that moved most: the best seen move
        moving = np.nonzero(speed[:, far] >= STILL_M_S)[0]
        return int(moving[-1] + 1) if moving.size else 0

    def _make(self, cand: "_Candidate", end_at: int, refine_end: bool = True,
              not_before: int | None = None) -> Attempt | None:
        start = self._refine_start(cand, end_at)
        end = self._refine_end(end_at) if refine_end else end_at
        if not_before is not None:
            end = max(end, not_before)
        start, end = start + self.bias[0], end + self.bias[1]
        if self.refiner is not None:
            end_pose, _ = self._pose(end_at, self._offset + len(self._frames) - 1)
            start, end = self.refiner(self, cand, start, end, end_pose)
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
        if self._state == "moving" and self._cand is not None:
            keep = max(keep, self._offset + len(self._frames) - self._cand.on_at + 2 * SG_WINDOW + 20)
        drop = len(self._frames) - keep
        if drop > 0:
            del self._frames[:drop]
            del self._angles[:drop]
            del self._wconf[:drop]
            del self._hip[:drop]
            del self._pts[:drop]
            del self._pconf[:drop]
            del self._act[:drop]
            del self._gact[:drop]
            del self._smooth[:drop]
            self._offset += drop
        extra = len(self._d2) - self.floor_n
        if extra > 0:
            del self._d2[:extra]



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
