"""Depth for keypoints the camera cannot see: self-occlusion resolved with the body model.

A depth camera at the side of the field sees one side of the athlete; the far hip, shoulder,
ear and eye sit behind the near ones, and a far arm or leg often behind the trunk. Their depth
sample is then the skin of whatever is in front - 10-30 cm too near. Each keypoint still has its
2D line of sight, and its distance to an already placed neighbour is a known bone length
(``BodyModel``), so it lies where its ray meets a sphere around that neighbour (two candidate
depths, or none). Keypoints are placed in a fixed order from the near shoulder outwards, the
near side's head before the far side (``_plan``), with these rules:

- which side is near: the sign of the 2D cross product of the trunk (mid-hip -> mid-shoulder)
  and the face direction (mid-ear -> nose) in the image (standing or lying, facing right in the
  image, the right side is near), smoothed over frames; undecided when the face is frontal;
- a keypoint's own depth is rejected when its surface sample lies on another body segment
  already placed (``occupied``: within the segment's radius + 1.5 cm; the skull counts, so
  hands behind the head are hidden): something hides it;
- a joint centre is never in front of the first surface on its ray: a completed keypoint is
  kept at least at its surface sample minus ``front_tol_m``, a hidden one at least its own
  radius behind the skin that hides it; when its sagittal plane lies in front of that skin,
  it takes the farther candidate (the plane assumption fails: a hand behind the head);
- a far-side partner of a width (far shoulder from the near one, far hip, far ear, far eye) is
  hidden behind its partner in a side view, so its own depth sample is never its own (it is the
  near side's skin, or something behind the body): it is the farther candidate, or, when its
  ray misses the sphere, the point on the ray nearest the partner moved one width along the
  left-right axis; then it is moved ``WIDTH_PRIOR`` of the way to that partner + width point
  (its 2D keypoint is noisier than the prediction). Without its near partner, it is its own
  depth moved one width further across the body;
- the near ear hidden (an arm in front of the head) in a side view: where its ray crosses the
  plane half the shoulders' and ears' width difference in from the near shoulder;
- face keypoints in a side view (nose, both eyes), once the near ear is placed: the nose on the
  midline half the ears' width in from the near ear, the eyes half the eyes' width either side
  of it, where their rays cross those planes (``FACE_PULL`` of the way from their own depth);
- any other keypoint keeps its own depth when it lies between the two candidates (within
  ``tol_m``) - a far elbow, knee or ankle only when that is also within ``RAW_PLANE_TOL`` of its
  plane crossing (below); otherwise it goes where its ray crosses its sagittal plane - the plane through its
  neighbour across the athlete's left-right axis (``lateral_axis``, averaged over frames by the
  pipeline); a far arm or leg uses the near one's sideways offset, mirrored (a symmetric stance);
  a hip placed from a shoulder is moved in by half the shoulder-hip width difference, the nose
  (from the near eye) by half the eyes' width, to the midline. If that
  crossing lies between the candidates it is used as is (the bone looks short: it points along
  the line of sight less than the sphere would say), else ``TARGET_PULL`` of the way from the
  nearer candidate to it; without an axis yet, the candidate at the neighbour's depth
  (continuity with the last frame breaks ties);
- no depth and no candidate: that crossing, or the point on the ray closest to the neighbour;
  no neighbour: missing.

Returns, per keypoint, the point (depth frame) and a status: MISSING, RAW (own depth), COMPLETED.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from edge.fusion.body import BONES, BodyModel
from edge.fusion.gaps import COMPLETED, MISSING, RAW  # the status codes (re-exported here)
from edge.fusion.lift import LiftResult
from edge.skeleton.joints import Joint

J = Joint
#: Share of the way a far-side partner of a width is moved off its line of sight towards the near
#: partner + the width along the left-right axis: the 2D keypoint of a hidden joint carries 2.5x
#: the noise of a seen one, the near partner and the averaged axis less (tuned on simulated
#: sessions 600-603: 0.3 / 0.5 / 0.7 gave 25.3 / 25.2 / 25.4 mm).
WIDTH_PRIOR = 0.5
#: When a limb's sagittal-plane crossing lies outside its two sphere candidates, the share of the
#: way from the nearer candidate to the crossing: with a bone near the image plane the sphere's
#: roots swing with every pixel of 2D noise (sqrt of a small difference), the plane does not.
TARGET_PULL = 0.7
#: Face keypoints in a side view: the share of the way from their own depth (the skin of the
#: side of the head, in front of the eyes and well in front of the nose) to their plane.
FACE_PULL = 0.8
#: A far elbow's, knee's or ankle's own depth is not its own when it lies further than this (m)
#: from the mirrored stance's plane crossing (the surface of a near limb or the trunk at the edge
#: of a segment). Not the wrists (``RAW_PLANE_FREE``): a hand moves far from the mirrored stance
#: (a guide hand crossing under the ball), and when it is seen its own depth is the better guess.
RAW_PLANE_TOL = 0.2
RAW_PLANE_FREE = frozenset({int(J.LEFT_WRIST), int(J.RIGHT_WRIST)})
_SIDE = {"l": {}, "r": {}}
for _name in ("EYE", "EAR", "SHOULDER", "ELBOW", "WRIST", "HIP", "KNEE", "ANKLE"):
    _SIDE["l"][_name.lower()] = int(J[f"LEFT_{_name}"])
    _SIDE["r"][_name.lower()] = int(J[f"RIGHT_{_name}"])


#: far limb joint -> (its mirror joint, the chain's base: "hip" or "shoulder"), for both sides.
_MIRROR: dict[int, tuple[int, str]] = {}
for _a, _b in (("l", "r"), ("r", "l")):
    for _j, _base in (("knee", "hip"), ("ankle", "hip"), ("elbow", "shoulder"), ("wrist", "shoulder")):
        _MIRROR[_SIDE[_a][_j]] = (_SIDE[_b][_j], _base)


def _side_of(joint: int) -> str | None:
    return "l" if joint in _SIDE["l"].values() else ("r" if joint in _SIDE["r"].values() else None)


@lru_cache(maxsize=3)  # one plan per near side (None, "l", "r"); callers only iterate it
def _plan(near: str | None) -> list[tuple[int, list[tuple[int, str, str]]]]:
    """(child, [(parent, bone, kind), ...]) in solving order. The first option whose parent is
    placed is used; with none (or an empty list: a root) the keypoint's own depth is taken.
    kind: 'far' (far-side partner of a width) or 'limb'."""
    n = near or "r"
    f = "l" if n == "r" else "r"
    N, F = _SIDE[n], _SIDE[f]
    far = "far" if near else "limb"
    nose = int(J.NOSE)
    return [
        (N["shoulder"], []),
        (N["elbow"], [(N["shoulder"], "upper_arm", "limb")]),
        (N["wrist"], [(N["elbow"], "forearm", "limb")]),
        (N["hip"], [(N["shoulder"], "trunk", "limb")]),
        (N["ear"], []),  # the head early: it can hide a far arm (hands behind the head)
        (N["eye"], [(N["ear"], "ear_eye", "limb")]),
        (nose, [(N["eye"], "eye_nose", "limb")]),
        (F["shoulder"], [(N["shoulder"], "shoulders", far)]),
        (F["hip"], [(N["hip"], "hips", far), (F["shoulder"], "trunk", "limb")]),
        (N["knee"], [(N["hip"], "thigh", "limb")]),
        (N["ankle"], [(N["knee"], "shank", "limb")]),
        (F["elbow"], [(F["shoulder"], "upper_arm", "limb")]),
        (F["wrist"], [(F["elbow"], "forearm", "limb")]),
        (F["knee"], [(F["hip"], "thigh", "limb")]),
        (F["ankle"], [(F["knee"], "shank", "limb")]),
        (F["ear"], [(N["ear"], "ears", far)]),
        (F["eye"], [(N["eye"], "eyes", far), (F["ear"], "ear_eye", "limb")]),
    ]


#: Body segments that can hide a keypoint: (a, b, radius m); 17 = mid-hip, 18 = mid-shoulder,
#: 19 / 20 = left / right skull point (``HEAD_AT`` of the way from that ear to the nose: the skull
#: is a ball around the ear-to-skull-point segment, reaching back behind the ear and forward to
#: about the face, not in front of it, so a hand in front of the face still sees its own depth).
_MID_HIP, _MID_SHOULDER, _HEAD_L, _HEAD_R = 17, 18, 19, 20
HEAD_AT = 0.3
_N_EXT = 21
_SEGMENTS: tuple[tuple[int, int, float], ...] = tuple(
    (int(a), int(b), r)
    for a, b, r in (
        (_MID_HIP, _MID_SHOULDER, 0.12),
        (J.LEFT_HIP, J.LEFT_SHOULDER, 0.07),
        (J.RIGHT_HIP, J.RIGHT_SHOULDER, 0.07),
        (J.LEFT_HIP, J.RIGHT_HIP, 0.09),
        (J.LEFT_SHOULDER, J.RIGHT_SHOULDER, 0.06),
        (J.LEFT_SHOULDER, J.LEFT_ELBOW, 0.045),
        (J.RIGHT_SHOULDER, J.RIGHT_ELBOW, 0.045),
        (J.LEFT_ELBOW, J.LEFT_WRIST, 0.04),
        (J.RIGHT_ELBOW, J.RIGHT_WRIST, 0.04),
        (J.LEFT_HIP, J.LEFT_KNEE, 0.065),
        (J.RIGHT_HIP, J.RIGHT_KNEE, 0.065),
        (J.LEFT_KNEE, J.LEFT_ANKLE, 0.05),
        (J.RIGHT_KNEE, J.RIGHT_ANKLE, 0.05),
        (J.LEFT_EAR, _HEAD_L, 0.075),  # the head
        (J.RIGHT_EAR, _HEAD_R, 0.075),
    )
)
_SEG_A = np.array([s[0] for s in _SEGMENTS], dtype=np.int64)
_SEG_B = np.array([s[1] for s in _SEGMENTS], dtype=np.int64)
_SEG_R = np.array([s[2] for s in _SEGMENTS])
_TRUNK = {int(J.LEFT_HIP), int(J.RIGHT_HIP), int(J.LEFT_SHOULDER), int(J.RIGHT_SHOULDER)}
_FACE = {int(J.NOSE), int(J.LEFT_EYE), int(J.RIGHT_EYE), int(J.LEFT_EAR), int(J.RIGHT_EAR)}
_MIDFACE = {int(J.NOSE), int(J.LEFT_EYE), int(J.RIGHT_EYE)}
_HEAD_SEGMENTS = {k for k, s in enumerate(_SEGMENTS) if s[1] in (_HEAD_L, _HEAD_R)}
#: Segments that contain a joint (its own body parts cannot hide it); the trunk core belongs to
#: the trunk joints, the head to the five face keypoints.
_OWN = [
    np.array([k for k, s in enumerate(_SEGMENTS)
              if j in s[:2] or (j in _TRUNK and k == 0) or (j in _FACE and k in _HEAD_SEGMENTS)], dtype=np.int64)
    for j in range(17)
]


_OWN_MASK = np.zeros((17, len(_SEGMENTS)), dtype=np.bool_)
for _j in range(17):
    _OWN_MASK[_j, _OWN[_j]] = True


@njit(cache=True)
def _occupied_kernel(point, ext, seg_a, seg_b, seg_r, own, margin):  # pragma: no cover - compiled
    for k in range(seg_a.shape[0]):
        if own[k]:
            continue
        a = ext[seg_a[k]]
        b = ext[seg_b[k]]
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            continue
        ab = b - a
        den = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2]
        t = 0.0
        if den > 1e-12:
            t = ((point[0] - a[0]) * ab[0] + (point[1] - a[1]) * ab[1] + (point[2] - a[2]) * ab[2]) / den
            t = min(max(t, 0.0), 1.0)
        dx = a[0] + t * ab[0] - point[0]
        dy = a[1] + t * ab[1] - point[1]
        dz = a[2] + t * ab[2] - point[2]
        if dx * dx + dy * dy + dz * dz < (seg_r[k] + margin) ** 2:
            return True
    return False


def _extended(placed: np.ndarray) -> np.ndarray:
    ext = np.empty((_N_EXT, 3))
    ext[:17] = placed
    ext[_MID_HIP] = 0.5 * (placed[J.LEFT_HIP] + placed[J.RIGHT_HIP])
    ext[_MID_SHOULDER] = 0.5 * (placed[J.LEFT_SHOULDER] + placed[J.RIGHT_SHOULDER])
    ext[_HEAD_L] = placed[J.LEFT_EAR] + HEAD_AT * (placed[J.NOSE] - placed[J.LEFT_EAR])
    ext[_HEAD_R] = placed[J.RIGHT_EAR] + HEAD_AT * (placed[J.NOSE] - placed[J.RIGHT_EAR])
    return ext


def occupied(point: np.ndarray, joint: int, placed: np.ndarray, margin_m: float = 0.025) -> bool:
    """Whether a surface point lies on another placed body segment (so it hides ``joint``).

    placed: (17, 3) points placed so far (NaN where not yet); a segment containing ``joint``
    never counts. Numba kernel; :func:`occupied_reference` is the plain numpy version.
    """
    return bool(_occupied_kernel(np.asarray(point, dtype=np.float64), _extended(np.asarray(placed, dtype=np.float64)),
                                 _SEG_A, _SEG_B, _SEG_R, _OWN_MASK[joint], float(margin_m)))


def occupied_reference(point: np.ndarray, joint: int, placed: np.ndarray, margin_m: float = 0.025) -> bool:
    """Slow, obviously correct version of :func:`occupied` (for tests)."""
    ext = _extended(np.asarray(placed, dtype=np.float64))
    for k, (a, b, r) in enumerate(_SEGMENTS):
        if _OWN_MASK[joint, k] or not (np.isfinite(ext[a]).all() and np.isfinite(ext[b]).all()):
            continue
        ab = ext[b] - ext[a]
        t = float(np.clip((point - ext[a]) @ ab / max(ab @ ab, 1e-12), 0.0, 1.0))
        if np.linalg.norm(ext[a] + t * ab - point) < r + margin_m:
            return True
    return False


class NearSide:
    """Which side of the athlete faces the camera, from 2D keypoints, smoothed (see module docstring)."""

    def __init__(self, alpha: float = 0.3, decide: float = 0.35):
        self.alpha = float(alpha)
        self.decide = float(decide)
        self.value = 0.0

    def reset(self) -> None:
        self.value = 0.0

    def update(self, uv: np.ndarray, conf: np.ndarray, min_conf: float = 0.3) -> str | None:
        ok = np.isfinite(uv).all(axis=1) & (conf >= min_conf)
        need = [J.LEFT_HIP, J.RIGHT_HIP, J.LEFT_SHOULDER, J.RIGHT_SHOULDER, J.NOSE]
        if all(ok[i] for i in need) and (ok[J.LEFT_EAR] or ok[J.RIGHT_EAR]):
            hip = 0.5 * (uv[J.LEFT_HIP] + uv[J.RIGHT_HIP])
            sh = 0.5 * (uv[J.LEFT_SHOULDER] + uv[J.RIGHT_SHOULDER])
            ears = [uv[i] for i in (J.LEFT_EAR, J.RIGHT_EAR) if ok[i]]
            ear = np.mean(ears, axis=0)
            a, b = sh - hip, uv[J.NOSE] - ear
            na, nb = np.linalg.norm(a), np.linalg.norm(b)
            if na > 1 and nb > 1:
                c = (a[0] * b[1] - a[1] * b[0]) / (na * nb)
                self.value = (1 - self.alpha) * self.value + self.alpha * float(c)
        if self.value > self.decide:
            return "r"
        if self.value < -self.decide:
            return "l"
        return None


def _sphere_roots(o: np.ndarray, d: np.ndarray, centre: np.ndarray, radius: float) -> tuple[float, float] | None:
    oc = o - centre
    a = float(d @ d)
    b = float(d @ oc)
    c = float(oc @ oc) - radius * radius
    h = b * b - a * c
    if h < 0 or a <= 0:
        return None
    s = np.sqrt(h)
    return (-b - s) / a, (-b + s) / a


def _face_plane(child: int, near: str | None, lateral: np.ndarray | None, placed: np.ndarray,
                body: BodyModel) -> float | None:
    """The face keypoint's plane across the left-right axis (its coordinate along ``lateral``),
    from the near ear: the midline half the ears' width in, the eyes half the eyes' width either
    side of it. None when there is no side view, no axis or no near ear yet."""
    if near is None or lateral is None:
        return None
    f = "l" if near == "r" else "r"
    ear = placed[_SIDE[near]["ear"]]
    if not np.isfinite(ear).all():
        return None
    mid = float(ear @ lateral) + 0.5 * body.length("ears")
    if child == J.NOSE:
        return mid
    if child == _SIDE[near]["eye"]:
        return mid - 0.5 * body.length("eyes")
    if child == _SIDE[f]["eye"]:
        return mid + 0.5 * body.length("eyes")
    return None


def lateral_axis(points: np.ndarray, near: str | None, up: np.ndarray | None = None) -> np.ndarray | None:
    """Unit vector from the near to the far side of the trunk (depth frame), or None.

    up: gravity's up (depth frame); the athlete's left-right axis is horizontal whether standing,
    squatting or lying, so the component along ``up`` is removed.
    """
    if near is None:
        return None
    n, f = ("r", "l") if near == "r" else ("l", "r")
    v = np.zeros(3)
    for part in ("hip", "shoulder"):
        d = points[_SIDE[f][part]] - points[_SIDE[n][part]]
        if np.isfinite(d).all():
            v += d
    if up is not None:
        v = v - (v @ up) * up
    norm = np.linalg.norm(v)
    return v / norm if norm > 1e-6 else None


def _per_keypoint(lift: LiftResult, confidence: np.ndarray, min_conf: float, raw_conf: float, front_tol_m: float):
    """What both versions of ``complete`` start from, per keypoint: has a ray, has its own depth,
    the ray's length, how far in front of its first surface it may not be placed (a joint centre
    lies behind the surface its ray hits first: its own skin, or what hides it; -inf without one),
    and that surface point."""
    rays = lift.rays
    conf = np.asarray(confidence)
    has_ray = np.isfinite(rays).all(axis=1) & (conf >= min_conf)
    raw_ok = has_ray & np.isfinite(lift.lam_raw) & (conf >= raw_conf)
    norms = np.linalg.norm(np.where(np.isfinite(rays), rays, 0.0), axis=1)
    behind = np.where(raw_ok & np.isfinite(lift.lam_surface), lift.lam_surface - front_tol_m / np.maximum(norms, 1e-9), -np.inf)
    surface = lift.origin[None, :] + lift.lam_surface[:, None] * rays
    return has_ray, raw_ok, norms, behind, surface


def complete_reference(
    lift: LiftResult,
    confidence: np.ndarray,
    body: BodyModel,
    near: str | None,
    previous: np.ndarray | None = None,
    lateral: np.ndarray | None = None,
    *,
    min_conf: float = 0.05,
    raw_conf: float = 0.3,
    tol_m: float = 0.06,
    front_tol_m: float = 0.02,
) -> tuple[np.ndarray, np.ndarray]:
    """``complete`` in plain Python and numpy: the readable statement of the rules, which the
    compiled ``complete`` reproduces to the last bit (a test checks it on fused sessions).

    previous: the last frame's points (17, 3) in the depth frame (NaN unknown); lateral: the last
    frame's ``lateral_axis`` (unit, depth frame) for the sagittal-plane choice, or None.
    """
    o, rays = lift.origin, lift.rays
    status = np.zeros(17, dtype=np.int64)
    placed = np.full((17, 3), np.nan)
    has_ray, raw_ok, norms, behind, surface = _per_keypoint(lift, confidence, min_conf, raw_conf, front_tol_m)
    ext = np.full((_N_EXT, 3), np.nan)  # placed points plus the trunk's mid points and the skull, for occupied()

    def put(j: int, value: float, st: int, toward: np.ndarray | None = None) -> None:
        """Place j at ray parameter value; toward: a predicted point it is moved WIDTH_PRIOR of
        the way to (off its ray: Eq. 1's reprojection term pulls it back by its confidence)."""
        if st == COMPLETED:
            value = max(value, behind[j])
        status[j] = st
        placed[j] = o + value * rays[j]
        if toward is not None:
            placed[j] += WIDTH_PRIOR * (toward - placed[j])
        ext[j] = placed[j]
        if j in _TRUNK:
            ext[_MID_HIP] = 0.5 * (placed[J.LEFT_HIP] + placed[J.RIGHT_HIP])
            ext[_MID_SHOULDER] = 0.5 * (placed[J.LEFT_SHOULDER] + placed[J.RIGHT_SHOULDER])
        if j in _FACE:
            ext[_HEAD_L] = placed[J.LEFT_EAR] + HEAD_AT * (placed[J.NOSE] - placed[J.LEFT_EAR])
            ext[_HEAD_R] = placed[J.RIGHT_EAR] + HEAD_AT * (placed[J.NOSE] - placed[J.RIGHT_EAR])

    for child, options in _plan(near):
        if not has_ray[child]:
            continue
        raw = lift.lam_raw[child] if raw_ok[child] else None
        if raw is not None and _occupied_kernel(surface[child], ext, _SEG_A, _SEG_B, _SEG_R, _OWN_MASK[child], 0.015):
            raw = None  # its depth sample is the skin of another body part in front of it
            behind[child] = lift.lam_raw[child]  # ... so the joint is behind that skin by at least its own radius
            hidden = True
        else:
            hidden = False
        face = _face_plane(child, near, lateral, placed, body) if child in _MIDFACE else None
        if face is not None and abs(float(rays[child] @ lateral)) > 0.5 * norms[child]:
            t = (face - float(o @ lateral)) / float(rays[child] @ lateral)
            if raw is not None:
                t = raw + FACE_PULL * (t - raw)
            put(child, t, COMPLETED)
            continue
        option = next(((p, b, k) for p, b, k in options if status[p] != MISSING), None)
        if option is None:
            if raw is not None and options and options[0][2] == "far" and lateral is not None:
                # a far partner without its near one: its own sample is the near side's skin, the
                # joint lies one width further across the body
                d = rays[child]
                den = float(d @ lateral)
                if abs(den) > 0.5 * norms[child]:
                    put(child, raw + body.length(options[0][1]) / den, COMPLETED)
                    continue
            if raw is not None:
                put(child, raw, RAW)
            elif near is not None and lateral is not None and child == _SIDE[near]["ear"]:
                # the near ear hidden (an arm in front of the head): in the plane half the
                # shoulders' and ears' width difference in from the near shoulder
                sh = placed[_SIDE[near]["shoulder"]]
                den = float(rays[child] @ lateral)
                if np.isfinite(sh).all() and abs(den) > 0.5 * norms[child]:
                    plane = float(sh @ lateral) + 0.5 * (body.length("shoulders") - body.length("ears"))
                    put(child, (plane - float(o @ lateral)) / den, COMPLETED)
            continue
        parent, bone, kind = option
        d = rays[child]
        p = placed[parent]
        length = body.length(bone)
        roots = _sphere_roots(o, d, p, length)
        closest = -float(d @ (o - p)) / float(d @ d)
        if kind == "far":  # hidden behind its near partner in a side view: its own depth is never its own
            across = p + length * lateral if lateral is not None else None
            if roots is not None:
                put(child, roots[1], COMPLETED, across)
            elif across is not None:  # the ray misses the sphere: nearest to the partner moved across the body
                put(child, -float(d @ (o - across)) / float(d @ d), COMPLETED, across)
            else:
                put(child, closest, COMPLETED)
            continue
        tol = tol_m / norms[child]
        raw_fits = raw is not None and (roots is None or roots[0] - tol <= raw <= roots[1] + tol)
        plane_check = (near is not None and lateral is not None and child in _MIRROR and _side_of(child) != near
                       and child not in RAW_PLANE_FREE)
        if raw_fits and not plane_check:
            put(child, raw, RAW)
            continue
        target = None  # where the ray crosses the joint's sagittal plane
        mirrored = False
        if lateral is not None:
            den = float(d @ lateral) / norms[child]
            if abs(den) > 0.5:  # the ray crosses the plane steeply enough to be well defined
                plane = float(p @ lateral)
                if bone == "trunk":  # the hips sit inside the shoulders: half the width difference
                    inset = 0.5 * (body.length("shoulders") - body.length("hips"))
                    plane += inset if child in (J.LEFT_HIP, J.RIGHT_HIP) else -inset
                    if near is not None and _side_of(child) != near:
                        plane -= 2 * (inset if child in (J.LEFT_HIP, J.RIGHT_HIP) else -inset)
                if child == J.NOSE and near is not None:  # the nose is on the midline, half the eyes' width in
                    plane += 0.5 * body.length("eyes")
                mirror = _MIRROR.get(child) if near is not None else None
                if mirror is not None:  # a far limb: the near limb's stance, mirrored
                    m, base = mirror
                    nb = _SIDE[near][base]
                    if np.isfinite(placed[m]).all() and np.isfinite(placed[nb]).all():
                        across = body.length("hips" if base == "hip" else "shoulders")
                        plane = float(placed[nb] @ lateral) + across - float((placed[m] - placed[nb]) @ lateral)
                        mirrored = True
                t = (plane - float(o @ lateral)) / float(d @ lateral)
                if abs(t - closest) * norms[child] <= 2.0 * length:
                    target = t
        if raw_fits and not (mirrored and target is not None and abs(raw - target) * norms[child] > RAW_PLANE_TOL):
            put(child, raw, RAW)
            continue
        if roots is None:
            put(child, target if target is not None else closest, COMPLETED)
            continue
        cand = np.array(roots)
        if target is None and abs(d[2]) > 1e-9:
            target = (p[2] - o[2]) / d[2]  # no body orientation yet: the parent's depth
        if hidden and target is not None and target < behind[child] <= roots[1]:
            put(child, float(roots[1]), COMPLETED)  # the plane lies in front of what hides the joint: the far candidate
            continue
        if target is not None and roots[0] <= target <= roots[1]:
            put(child, float(target), COMPLETED)  # between the candidates: the bone looks short, stay in the plane
            continue
        if target is not None:
            pick = int(np.argmin(np.abs(cand - target)))
            if cand[pick] < behind[child] <= cand[1 - pick]:
                pick = 1 - pick  # the nearer candidate would lie in front of the surface seen there
            else:
                put(child, float(cand[pick] + TARGET_PULL * (target - cand[pick])), COMPLETED)
                continue
        else:
            gap = np.abs(o[2] + cand * d[2] - p[2])
            pick = int(np.argmin(gap))
            if abs(gap[0] - gap[1]) < 0.04 and previous is not None and np.isfinite(previous[child]).all():
                pts = o[None, :] + cand[:, None] * d[None, :]
                pick = int(np.argmin(np.linalg.norm(pts - previous[child], axis=1)))
        put(child, float(cand[pick]), COMPLETED)
    return placed, status


# --- the compiled version ------------------------------------------------------------------------
_BONE_NAMES = tuple(BONES)
_BONE = {name: k for k, name in enumerate(_BONE_NAMES)}
_KIND = {"limb": 1, "far": 2}
_PARTS = ("eye", "ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle")
#: (side: 0 left, 1 right, part index in _PARTS) -> joint
_SIDE_IDX = np.array([[_SIDE[side][part] for part in _PARTS] for side in ("l", "r")], dtype=np.int64)
_P_EYE, _P_EAR, _P_SHOULDER, _P_HIP = 0, 1, 2, 5
_SIDE_CODE = {None: -1, "l": 0, "r": 1}
#: joint -> its side (0 left, 1 right, -1 the nose); far-limb mirror joint and base part (or -1)
_SIDE_OF = np.array([_SIDE_CODE[_side_of(j)] for j in range(17)], dtype=np.int64)
_MIRROR_J = np.array([_MIRROR[j][0] if j in _MIRROR else -1 for j in range(17)], dtype=np.int64)
_MIRROR_BASE = np.array([(_P_HIP if _MIRROR[j][1] == "hip" else _P_SHOULDER) if j in _MIRROR else -1
                         for j in range(17)], dtype=np.int64)
_PLANE_FREE = np.array([j in RAW_PLANE_FREE for j in range(17)], dtype=np.bool_)
_MIDFACE_A = np.array([j in _MIDFACE for j in range(17)], dtype=np.bool_)
_TRUNK_A = np.array([j in _TRUNK for j in range(17)], dtype=np.bool_)
_FACE_A = np.array([j in _FACE for j in range(17)], dtype=np.bool_)
_NOSE, _LEFT_HIP, _RIGHT_HIP = int(J.NOSE), int(J.LEFT_HIP), int(J.RIGHT_HIP)
_LEFT_SHOULDER, _RIGHT_SHOULDER, _LEFT_EAR, _RIGHT_EAR = (int(J.LEFT_SHOULDER), int(J.RIGHT_SHOULDER), int(J.LEFT_EAR),
                                                          int(J.RIGHT_EAR))
_BONE_TRUNK, _BONE_SHOULDERS, _BONE_HIPS = _BONE["trunk"], _BONE["shoulders"], _BONE["hips"]
_BONE_EARS, _BONE_EYES = _BONE["ears"], _BONE["eyes"]


@lru_cache(maxsize=3)
def _plan_arrays(near: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``_plan`` as arrays for the kernel: child (17,), number of options (17,), and per option
    (17, 2) the parent joint, the bone index in ``BONES`` and the kind (1 limb, 2 far)."""
    plan = _plan(near)
    child = np.array([c for c, _ in plan], dtype=np.int64)
    n_opt = np.array([len(o) for _, o in plan], dtype=np.int64)
    parent = np.full((17, 2), -1, dtype=np.int64)
    bone = np.full((17, 2), -1, dtype=np.int64)
    kind = np.zeros((17, 2), dtype=np.int64)
    for i, (_, options) in enumerate(plan):
        for k, (p, b, knd) in enumerate(options):
            parent[i, k], bone[i, k], kind[i, k] = p, _BONE[b], _KIND[knd]
    for a in (child, n_opt, parent, bone, kind):
        a.setflags(write=False)
    return child, n_opt, parent, bone, kind


def complete(
    lift: LiftResult,
    confidence: np.ndarray,
    body: BodyModel,
    near: str | None,
    previous: np.ndarray | None = None,
    lateral: np.ndarray | None = None,
    *,
    min_conf: float = 0.05,
    raw_conf: float = 0.3,
    tol_m: float = 0.06,
    front_tol_m: float = 0.02,
) -> tuple[np.ndarray, np.ndarray]:
    """Points (17, 3) (depth frame, NaN = missing) and status (17,) int for every keypoint (rules in the module docstring).

    previous: the last frame's points (17, 3) in the depth frame (NaN unknown); lateral: the last
    frame's ``lateral_axis`` (unit, depth frame) for the sagittal-plane choice, or None.
    Compiled (``_complete_kernel``); ``complete_reference`` is the same in plain numpy.
    """
    has_ray, raw_ok, norms, behind, surface = _per_keypoint(lift, confidence, min_conf, raw_conf, front_tol_m)
    lengths = np.array([body.length(name) for name in _BONE_NAMES])
    child, n_opt, parent, bone, kind = _plan_arrays(near)
    return _complete_kernel(
        np.ascontiguousarray(lift.origin, dtype=np.float64), np.ascontiguousarray(lift.rays, dtype=np.float64),
        np.ascontiguousarray(lift.lam_raw, dtype=np.float64), raw_ok, has_ray, behind, surface, norms,
        child, n_opt, parent, bone, kind, lengths, _SIDE_CODE[near],
        np.zeros(3) if lateral is None else np.ascontiguousarray(lateral, dtype=np.float64), lateral is not None,
        np.full((17, 3), np.nan) if previous is None else np.ascontiguousarray(previous, dtype=np.float64),
        float(tol_m),
    )


@njit(cache=True)
def _argmin2(a0, a1):  # pragma: no cover - compiled
    """np.argmin of two values (the first NaN wins, ties go to the first)."""
    if np.isnan(a0):
        return 0
    if np.isnan(a1):
        return 1
    return 0 if a0 <= a1 else 1


@njit(cache=True)
def _finite3(v):  # pragma: no cover - compiled
    return np.isfinite(v[0]) and np.isfinite(v[1]) and np.isfinite(v[2])


@njit(cache=True)
def _complete_kernel(o, rays, lam_raw, raw_ok, has_ray, behind, surface, norms, plan_child, plan_n, plan_parent,
                     plan_bone, plan_kind, lengths, near, lateral, has_lateral, previous,
                     tol_m):  # pragma: no cover - compiled
    """``complete_reference``'s loop, compiled, with the same arithmetic in the same order (dot
    products through np.dot, as numpy's ``@``). near: -1 undecided, 0 left, 1 right."""
    status = np.zeros(17, dtype=np.int64)
    placed = np.full((17, 3), np.nan)
    ext = np.full((_N_EXT, 3), np.nan)
    behind = behind.copy()
    far_side = 1 - near if near >= 0 else -1
    o_lat = np.dot(o, lateral) if has_lateral else 0.0
    for i in range(plan_child.shape[0]):
        child = plan_child[i]
        if not has_ray[child]:
            continue
        d = rays[child]
        has_raw = raw_ok[child]
        raw = lam_raw[child]
        hidden = False
        if has_raw and _occupied_kernel(surface[child], ext, _SEG_A, _SEG_B, _SEG_R, _OWN_MASK[child], 0.015):
            has_raw = False  # its depth sample is the skin of another body part in front of it
            behind[child] = lam_raw[child]
            hidden = True
        # face keypoints in a side view: the planes from the near ear
        if _MIDFACE_A[child] and near >= 0 and has_lateral:
            ear = placed[_SIDE_IDX[near, _P_EAR]]
            if _finite3(ear):
                mid = np.dot(ear, lateral) + 0.5 * lengths[_BONE_EARS]
                face = np.nan
                if child == _NOSE:
                    face = mid
                elif child == _SIDE_IDX[near, _P_EYE]:
                    face = mid - 0.5 * lengths[_BONE_EYES]
                elif child == _SIDE_IDX[far_side, _P_EYE]:
                    face = mid + 0.5 * lengths[_BONE_EYES]
                if not np.isnan(face):
                    den = np.dot(d, lateral)
                    if abs(den) > 0.5 * norms[child]:
                        t = (face - o_lat) / den
                        if has_raw:
                            t = raw + FACE_PULL * (t - raw)
                        _put(child, t, COMPLETED, o, rays, behind, status, placed, ext, None)
                        continue
        opt = -1
        for k in range(plan_n[i]):
            if status[plan_parent[i, k]] != MISSING:
                opt = k
                break
        if opt < 0:
            if has_raw and plan_n[i] > 0 and plan_kind[i, 0] == 2 and has_lateral:
                den = np.dot(d, lateral)
                if abs(den) > 0.5 * norms[child]:
                    _put(child, raw + lengths[plan_bone[i, 0]] / den, COMPLETED, o, rays, behind, status, placed, ext,
                         None)
                    continue
            if has_raw:
                _put(child, raw, RAW, o, rays, behind, status, placed, ext, None)
            elif near >= 0 and has_lateral and child == _SIDE_IDX[near, _P_EAR]:
                sh = placed[_SIDE_IDX[near, _P_SHOULDER]]
                den = np.dot(d, lateral)
                if _finite3(sh) and abs(den) > 0.5 * norms[child]:
                    plane = np.dot(sh, lateral) + 0.5 * (lengths[_BONE_SHOULDERS] - lengths[_BONE_EARS])
                    _put(child, (plane - o_lat) / den, COMPLETED, o, rays, behind, status, placed, ext, None)
            continue
        par = plan_parent[i, opt]
        bone = plan_bone[i, opt]
        p = placed[par]
        length = lengths[bone]
        # the ray's crossings of the sphere of radius length around the parent
        oc = o - p
        a = np.dot(d, d)
        b = np.dot(d, oc)
        c = np.dot(oc, oc) - length * length
        h = b * b - a * c
        has_roots = not (h < 0 or a <= 0)
        r0 = r1 = np.nan
        if has_roots:
            sq = np.sqrt(h)
            r0, r1 = (-b - sq) / a, (-b + sq) / a
        closest = -np.dot(d, o - p) / np.dot(d, d)
        if plan_kind[i, opt] == 2:  # a far partner: hidden behind its near one in a side view
            if has_lateral:
                across = p + length * lateral
                if has_roots:
                    _put(child, r1, COMPLETED, o, rays, behind, status, placed, ext, across)
                else:
                    _put(child, -np.dot(d, o - across) / np.dot(d, d), COMPLETED, o, rays, behind, status, placed,
                         ext, across)
            elif has_roots:
                _put(child, r1, COMPLETED, o, rays, behind, status, placed, ext, None)
            else:
                _put(child, closest, COMPLETED, o, rays, behind, status, placed, ext, None)
            continue
        tol = tol_m / norms[child]
        raw_fits = has_raw and (not has_roots or (r0 - tol <= raw and raw <= r1 + tol))
        plane_check = (near >= 0 and has_lateral and _MIRROR_J[child] >= 0 and _SIDE_OF[child] != near
                       and not _PLANE_FREE[child])
        if raw_fits and not plane_check:
            _put(child, raw, RAW, o, rays, behind, status, placed, ext, None)
            continue
        has_target = False
        target = np.nan
        mirrored = False
        if has_lateral:
            den = np.dot(d, lateral) / norms[child]
            if abs(den) > 0.5:
                plane = np.dot(p, lateral)
                if bone == _BONE_TRUNK:  # the hips sit inside the shoulders: half the width difference
                    inset = 0.5 * (lengths[_BONE_SHOULDERS] - lengths[_BONE_HIPS])
                    is_hip = child == _LEFT_HIP or child == _RIGHT_HIP
                    plane += inset if is_hip else -inset
                    if near >= 0 and _SIDE_OF[child] != near:
                        plane -= 2 * (inset if is_hip else -inset)
                if child == _NOSE and near >= 0:
                    plane += 0.5 * lengths[_BONE_EYES]
                if near >= 0 and _MIRROR_J[child] >= 0:  # a far limb: the near limb's stance, mirrored
                    m = _MIRROR_J[child]
                    nb = _SIDE_IDX[near, _MIRROR_BASE[child]]
                    if _finite3(placed[m]) and _finite3(placed[nb]):
                        across_w = lengths[_BONE_HIPS] if _MIRROR_BASE[child] == _P_HIP else lengths[_BONE_SHOULDERS]
                        plane = np.dot(placed[nb], lateral) + across_w - np.dot(placed[m] - placed[nb], lateral)
                        mirrored = True
                t = (plane - o_lat) / np.dot(d, lateral)
                if abs(t - closest) * norms[child] <= 2.0 * length:
                    target = t
                    has_target = True
        if raw_fits and not (mirrored and has_target and abs(raw - target) * norms[child] > RAW_PLANE_TOL):
            _put(child, raw, RAW, o, rays, behind, status, placed, ext, None)
            continue
        if not has_roots:
            _put(child, target if has_target else closest, COMPLETED, o, rays, behind, status, placed, ext, None)
            continue
        if not has_target and abs(d[2]) > 1e-9:
            target = (p[2] - o[2]) / d[2]  # no body orientation yet: the parent's depth
            has_target = True
        if hidden and has_target and target < behind[child] and behind[child] <= r1:
            _put(child, r1, COMPLETED, o, rays, behind, status, placed, ext, None)
            continue
        if has_target and r0 <= target and target <= r1:
            _put(child, target, COMPLETED, o, rays, behind, status, placed, ext, None)
            continue
        cand0, cand1 = r0, r1
        if has_target:
            pick = _argmin2(abs(cand0 - target), abs(cand1 - target))
            cp, cq = (cand0, cand1) if pick == 0 else (cand1, cand0)
            if cp < behind[child] and behind[child] <= cq:
                pick = 1 - pick  # the nearer candidate would lie in front of the surface seen there
            else:
                _put(child, cp + TARGET_PULL * (target - cp), COMPLETED, o, rays, behind, status, placed, ext, None)
                continue
        else:
            g0 = abs(o[2] + cand0 * d[2] - p[2])
            g1 = abs(o[2] + cand1 * d[2] - p[2])
            pick = _argmin2(g0, g1)
            if abs(g0 - g1) < 0.04 and _finite3(previous[child]):
                e0 = o + cand0 * d - previous[child]
                e1 = o + cand1 * d - previous[child]
                pick = _argmin2(np.sqrt(e0[0] * e0[0] + e0[1] * e0[1] + e0[2] * e0[2]),
                                np.sqrt(e1[0] * e1[0] + e1[1] * e1[1] + e1[2] * e1[2]))
        _put(child, cand0 if pick == 0 else cand1, COMPLETED, o, rays, behind, status, placed, ext, None)
    return placed, status


@njit(cache=True)
def _put(j, value, st, o, rays, behind, status, placed, ext, toward):  # pragma: no cover - compiled
    """``complete_reference``'s put: place j at ray parameter value (a completed one never in front
    of ``behind``), moved WIDTH_PRIOR of the way to ``toward`` when given; keep ``ext`` in step."""
    if st == COMPLETED and behind[j] > value:
        value = behind[j]
    status[j] = st
    for c in range(3):
        placed[j, c] = o[c] + value * rays[j, c]
    if toward is not None:
        for c in range(3):
            placed[j, c] += WIDTH_PRIOR * (toward[c] - placed[j, c])
    ext[j] = placed[j]
    if _TRUNK_A[j]:
        for c in range(3):
            ext[_MID_HIP, c] = 0.5 * (placed[_LEFT_HIP, c] + placed[_RIGHT_HIP, c])
            ext[_MID_SHOULDER, c] = 0.5 * (placed[_LEFT_SHOULDER, c] + placed[_RIGHT_SHOULDER, c])
    if _FACE_A[j]:
        for c in range(3):
            ext[_HEAD_L, c] = placed[_LEFT_EAR, c] + HEAD_AT * (placed[_NOSE, c] - placed[_LEFT_EAR, c])
            ext[_HEAD_R, c] = placed[_RIGHT_EAR, c] + HEAD_AT * (placed[_NOSE, c] - placed[_RIGHT_EAR, c])

