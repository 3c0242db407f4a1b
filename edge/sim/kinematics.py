"""Kinematic body model: pose channels -> COCO-17 joint positions (metres, y up, facing +x).

A pose is a vector of named channels (``CHANNELS``). Body segments are described by *global*
inclinations in the body's heading frame, the way a coach describes a position ("trunk leaning
45 degrees", "arms 60 degrees back"), all in degrees:

- ``heading``: yaw of the whole body about +y; 0 faces +x, positive turns left (towards -z).
- limbs (``uarm``/``farm`` upper arm/forearm, ``thigh``/``shank``), side suffix ``_l``/``_r``:
  ``*_sag`` is the angle of the proximal->distal vector from straight *down*, positive forward
  (0 hanging, 90 pointing forward, 180 overhead, -60 swung back); ``*_lat`` is the outward
  (abduction) angle, positive away from the midline. The knee interior angle of a leg in the
  sagittal plane is ``180 - (thigh_sag - shank_sag)``; the elbow's is ``180 - (farm_sag - uarm_sag)``
  (see ``set_leg`` and ``set_arm``).
- ``trunk_sag``/``head_sag``: angle of mid-hip->mid-shoulder (mid-shoulder->ear centre) from
  straight *up*, positive leaning forward; ``*_lat`` lean to the right (+z); ``trunk_twist`` turns
  the shoulder line (right shoulder forward positive); ``head_yaw`` turns the face left (positive).
- ``pelvis_roll`` (right hip up positive) and ``pelvis_yaw`` (right hip forward positive) orient
  the hip line when no foot is planted or one foot is planted; with both feet planted the hip
  line follows from the legs.
- ``foot_pitch``: sole angle to the floor, positive heel up (pivoting on the ball of the foot
  when planted), negative toes up (pivoting on the heel); ``foot_yaw``: toe-out, positive
  outward; ``toe``: toe bend (metatarsophalangeal dorsiflexion) of a foot in the air.
- ``root_x/y/z``: pelvis centre (mid-hip) position, used when the root is not derived from
  planted feet or from ballistic flight.

Joint limits: a knee never hyperextends (the shank is never inclined ahead of its thigh) and
neither does an elbow; ``solve`` clamps such channel values.

``solve`` turns poses (n, C) into joint positions. Bone lengths are constant by construction:
every segment is a unit direction times its length, and planted legs are placed by analytic
two-link inverse kinematics (exact lengths). With feet planted (``FootAnchor``), the root is
computed from the feet up: each leg's authored angles give a hip position above its planted
ankle, the pelvis is centred between them, and both legs are then solved by IK onto their planted
ankles, so a planted ankle never slides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.sim.anthropometry import Body
from edge.skeleton.joints import Joint

SIDES = ("l", "r")
#: Lateral sign of each side: left joints have smaller z.
SIDE_SIGN = {"l": -1.0, "r": 1.0}

_LIMB = ("uarm_sag", "uarm_lat", "farm_sag", "farm_lat")
_LEG = ("thigh_sag", "thigh_lat", "shank_sag", "shank_lat", "foot_pitch", "foot_yaw", "toe")
CHANNELS: tuple[str, ...] = (
    ("heading", "pelvis_roll", "pelvis_yaw", "trunk_sag", "trunk_lat", "trunk_twist", "head_sag", "head_lat", "head_yaw")
    + tuple(f"{c}_{s}" for s in SIDES for c in _LIMB)
    + tuple(f"{c}_{s}" for s in SIDES for c in _LEG)
    + ("root_x", "root_y", "root_z")
)
N_CHANNELS = len(CHANNELS)
CH: dict[str, int] = {c: i for i, c in enumerate(CHANNELS)}
#: Channels in degrees (all but the root position).
ANGLE_CHANNELS = tuple(c for c in CHANNELS if not c.startswith("root_"))

#: Numerical margin keeping a planted leg off full extension (m).
REACH_MARGIN = 1e-6


def channel_index(name: str) -> int:
    try:
        return CH[name]
    except KeyError:
        raise ValueError(f"unknown pose channel {name!r}; see edge.sim.kinematics.CHANNELS") from None


class Pose:
    """One key pose: a float64 vector of ``CHANNELS`` with name access. Immutable by convention:
    ``set`` returns a new pose. ``pose.set(thigh_sag=40)`` sets both ``thigh_sag_l`` and ``_r``."""

    __slots__ = ("v",)

    def __init__(self, values=None):
        v = np.zeros(N_CHANNELS) if values is None else np.array(values, dtype=np.float64)
        if v.shape != (N_CHANNELS,):
            raise ValueError(f"a pose has {N_CHANNELS} channels, got shape {v.shape}")
        self.v = v

    def __getitem__(self, name: str) -> float:
        return float(self.v[channel_index(name)])

    def set(self, **values: float) -> "Pose":
        v = self.v.copy()
        for name, value in values.items():
            if name in CH:
                v[CH[name]] = value
            elif f"{name}_l" in CH:
                v[CH[f"{name}_l"]] = value
                v[CH[f"{name}_r"]] = value
            else:
                raise ValueError(f"unknown pose channel {name!r}; see edge.sim.kinematics.CHANNELS")
        return Pose(v)

    def add(self, **deltas: float) -> "Pose":
        """Add to channels (same naming rules as ``set``)."""
        cur = {}
        for name in deltas:
            if name in CH:
                cur[name] = self[name] + deltas[name]
            elif f"{name}_l" in CH:
                cur[f"{name}_l"] = self[f"{name}_l"] + deltas[name]
                cur[f"{name}_r"] = self[f"{name}_r"] + deltas[name]
            else:
                raise ValueError(f"unknown pose channel {name!r}; see edge.sim.kinematics.CHANNELS")
        return self.set(**cur)

    def blend(self, other: "Pose", w: float) -> "Pose":
        return Pose((1.0 - w) * self.v + w * other.v)

    def to_dict(self) -> dict[str, float]:
        return {c: float(x) for c, x in zip(CHANNELS, self.v)}

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        nz = {c: round(x, 2) for c, x in self.to_dict().items() if abs(x) > 1e-9}
        return f"Pose({nz})"


def set_leg(pose: Pose, side: str, knee: float, shank_sag: float) -> Pose:
    """Leg by knee interior angle (deg, 180 straight) and shank inclination (deg from down,
    positive when the ankle is in front of the knee). ``side`` 'l', 'r' or 'both'."""
    thigh = shank_sag + (180.0 - knee)
    sides = SIDES if side == "both" else (side,)
    out = pose
    for s in sides:
        out = out.set(**{f"thigh_sag_{s}": thigh, f"shank_sag_{s}": shank_sag})
    return out


def set_arm(pose: Pose, side: str, shoulder_sag: float, elbow: float) -> Pose:
    """Arm by upper-arm inclination (deg from down, forward positive) and elbow interior angle."""
    sides = SIDES if side == "both" else (side,)
    out = pose
    for s in sides:
        out = out.set(**{f"uarm_sag_{s}": shoulder_sag, f"farm_sag_{s}": shoulder_sag + (180.0 - elbow)})
    return out


def knee_angle(pose: Pose, side: str) -> float:
    """Sagittal knee interior angle of a pose (deg)."""
    return 180.0 - (pose[f"thigh_sag_{side}"] - pose[f"shank_sag_{side}"])


def standing_pose(body: Body, stance_width: float | None = None, toe_out: float = 8.0) -> Pose:
    """Relaxed standing: arms hanging, elbows slightly bent, ankles ``stance_width`` apart (m,
    default the hip keypoint width) and the feet turned out by ``toe_out`` degrees."""
    w = body.pelvis_width if stance_width is None else stance_width
    lat = float(np.degrees(np.arcsin(np.clip((w - body.pelvis_width) / 2.0 / body.leg_length, -0.5, 0.5))))
    p = Pose().set(
        trunk_sag=2.0,
        head_sag=0.0,
        uarm_sag=2.0,
        uarm_lat=7.0,
        farm_sag=12.0,
        farm_lat=4.0,
        thigh_sag=1.0,
        thigh_lat=lat,
        shank_sag=0.0,
        shank_lat=lat,
        foot_yaw=toe_out,
        root_y=body.standing_hip_height,
    )
    return p


# ------------------------------------------------------------------------------------------
# Feet


@dataclass(frozen=True)
class FootAnchor:
    """A planted foot: where its ankle is when the sole is flat (world, m) and its yaw (deg,
    absolute, same sense as ``heading``). While planted the foot pivots on its ball when
    ``foot_pitch`` > 0 and on its heel when < 0; the pivot point never moves."""

    ankle: tuple[float, float, float]
    yaw: float


def foot_anchor_from_point(body: Body, point: str, where, yaw_deg: float, pitch_deg: float = 0.0) -> FootAnchor:
    """The anchor of a foot whose ``point`` ('heel' or 'ball') touches the floor at ``where``
    (x, z or x, y, z; y is set to 0) with the given yaw and pitch."""
    where = np.asarray(where, dtype=np.float64)
    x, z = (where[0], where[-1])
    fwd = _yaw_vec(np.radians(yaw_deg))
    off = body.foot_offset(point)
    ankle = np.array([x, 0.0, z]) - off * fwd + np.array([0.0, body.ankle_height, 0.0])
    return FootAnchor(ankle=tuple(float(a) for a in ankle), yaw=float(yaw_deg))


def _yaw_vec(yaw: np.ndarray) -> np.ndarray:
    """Forward unit vector(s) for yaw (rad): 0 -> +x, positive turns towards -z."""
    yaw = np.asarray(yaw, dtype=np.float64)
    out = np.zeros(yaw.shape + (3,))
    out[..., 0] = np.cos(yaw)
    out[..., 2] = -np.sin(yaw)
    return out


def _rot_sag(pf, py, pitch):
    """Rotate (forward, up) coordinates by a foot pitch (rad, positive heel up)."""
    c, s = np.cos(pitch), np.sin(pitch)
    return pf * c + py * s, -pf * s + py * c


def _planted_foot(body: Body, ankle0: np.ndarray, yaw: np.ndarray, pitch: np.ndarray):
    """Planted foot geometry. ankle0 (n, 3), yaw, pitch (n,) rad -> ankle (n, 3), points (n, 3, 3)
    (heel, ball, toe). The toes stay flat on the floor when the heel is up."""
    fwd = _yaw_vec(yaw)
    up = np.array([0.0, 1.0, 0.0])
    h = body.ankle_height
    off = {k: body.foot_offset(k) for k in ("heel", "ball", "toe")}
    heel_up = pitch >= 0.0
    pivot_f = np.where(heel_up, off["ball"], off["heel"])  # pivot position along the sole, rel. ankle0
    pivot = ankle0 + pivot_f[:, None] * fwd - h * up
    out = {}
    for name in ("ankle", "heel", "ball", "toe"):
        pf = (0.0 if name == "ankle" else off[name]) - pivot_f
        py = h if name == "ankle" else 0.0
        rf, ry = _rot_sag(pf, py * np.ones_like(pitch), pitch)
        out[name] = pivot + rf[:, None] * fwd + ry[:, None] * up
    # Toes bend at the ball and stay on the floor while the heel is raised.
    flat_toe = out["ball"] + (off["toe"] - off["ball"]) * fwd
    out["toe"] = np.where(heel_up[:, None], flat_toe, out["toe"])
    return out["ankle"], np.stack([out["heel"], out["ball"], out["toe"]], axis=1)


def _free_foot(body: Body, ankle: np.ndarray, yaw: np.ndarray, pitch: np.ndarray, toe: np.ndarray) -> np.ndarray:
    """Foot points (n, 3, 3) of a foot in the air from its ankle, yaw, pitch and toe bend (rad)."""
    fwd = _yaw_vec(yaw)
    up = np.array([0.0, 1.0, 0.0])
    h = body.ankle_height
    pts = []
    for name in ("heel", "ball"):
        rf, ry = _rot_sag(body.foot_offset(name) * np.ones_like(pitch), -h * np.ones_like(pitch), pitch)
        pts.append(ankle + rf[:, None] * fwd + ry[:, None] * up)
    seg = body.foot_offset("toe") - body.foot_offset("ball")
    tf, ty = _rot_sag(seg * np.ones_like(pitch), np.zeros_like(pitch), pitch - toe)
    pts.append(pts[1] + tf[:, None] * fwd + ty[:, None] * up)
    return np.stack(pts, axis=1)


# ------------------------------------------------------------------------------------------
# Directions


def _rotated(x: np.ndarray, y: np.ndarray, z: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """(n, 3) vectors with local components x, y, z rotated by heading psi (n,) rad about +y."""
    c, s = np.cos(psi), np.sin(psi)
    out = np.empty((x.shape[0], 3))
    out[:, 0] = x * c + z * s
    out[:, 1] = y
    out[:, 2] = z * c - x * s
    return out


def limb_dir(sag: np.ndarray, lat: np.ndarray, side_sign: float, psi: np.ndarray) -> np.ndarray:
    """Unit proximal->distal direction of a limb segment (n, 3) from degrees."""
    s, l = np.radians(sag), np.radians(lat)
    cl = np.cos(l)
    return _rotated(np.sin(s) * cl, -np.cos(s) * cl, side_sign * np.sin(l), psi)


def up_dir(sag: np.ndarray, lat: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """Unit upward segment direction (trunk, neck) from degrees."""
    s, l = np.radians(sag), np.radians(lat)
    cl = np.cos(l)
    return _rotated(np.sin(s) * cl, np.cos(s) * cl, np.sin(l), psi)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


def _ortho(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Unit component of v orthogonal to the unit vector axis."""
    return _unit(v - (v * axis).sum(-1, keepdims=True) * axis)


def two_link_ik(hip: np.ndarray, ankle: np.ndarray, l1: float, l2: float, pole: np.ndarray) -> np.ndarray:
    """Knee (n, 3) of a two-link chain hip->knee->ankle with exact lengths l1, l2, bending towards
    ``pole`` (n, 3). The caller guarantees |ankle - hip| <= l1 + l2 (see ``solve``)."""
    r = ankle - hip
    d = np.linalg.norm(r, axis=-1)
    d = np.clip(d, abs(l1 - l2) + 1e-9, l1 + l2)
    u = r / d[:, None]
    a = (l1 * l1 - l2 * l2 + d * d) / (2.0 * d)
    h = np.sqrt(np.maximum(l1 * l1 - a * a, 0.0))
    return hip + a[:, None] * u + h[:, None] * _ortho(pole, u)


def synced_to(pose: Pose, joints: np.ndarray) -> Pose:
    """``pose`` with its leg (thigh, shank) and hip-line (pelvis roll, yaw) channels and its root
    replaced by what the solved ``joints`` (17, 3) actually show. With planted feet the IK may bend
    the legs away from their channel values; syncing before the feet leave the ground makes the
    free (flight) kinematics continue from exactly the same positions."""
    j = np.asarray(joints, dtype=np.float64)
    psi = np.radians(pose["heading"])
    c, s = np.cos(psi), np.sin(psi)

    def local(v):
        v = v / np.linalg.norm(v)
        return np.array([v[0] * c - v[2] * s, v[1], v[0] * s + v[2] * c])

    J = Joint
    out = {}
    for side, (hip, knee, ankle) in (("l", (J.LEFT_HIP, J.LEFT_KNEE, J.LEFT_ANKLE)),
                                     ("r", (J.RIGHT_HIP, J.RIGHT_KNEE, J.RIGHT_ANKLE))):
        sg = SIDE_SIGN[side]
        for seg, (a, b) in (("thigh", (hip, knee)), ("shank", (knee, ankle))):
            v = local(j[b] - j[a])
            out[f"{seg}_lat_{side}"] = float(np.degrees(np.arcsin(np.clip(sg * v[2], -1.0, 1.0))))
            out[f"{seg}_sag_{side}"] = float(np.degrees(np.arctan2(v[0], -v[1])))
    lat = local(j[J.RIGHT_HIP] - j[J.LEFT_HIP])
    out["pelvis_roll"] = float(np.degrees(np.arcsin(np.clip(lat[1], -1.0, 1.0))))
    out["pelvis_yaw"] = float(np.degrees(np.arctan2(lat[0], lat[2])))
    root = 0.5 * (j[J.LEFT_HIP] + j[J.RIGHT_HIP])
    out.update(root_x=float(root[0]), root_y=float(root[1]), root_z=float(root[2]))
    return pose.set(**out)


# ------------------------------------------------------------------------------------------
# The solver


@dataclass
class Frames:
    """Solved frames: joints (n, 17, 3), feet (n, 2, 3, 3) heel/ball/toe of left/right foot,
    root (n, 3) pelvis centre, all metres in the world frame."""

    joints: np.ndarray
    feet: np.ndarray
    root: np.ndarray

    def translate(self, d: np.ndarray) -> "Frames":
        d = np.asarray(d, dtype=np.float64)
        return Frames(self.joints + d[:, None, :], self.feet + d[:, None, None, :], self.root + d)


ROOT_FEET, ROOT_CHANNELS = 0, 1


def solve(
    body: Body,
    q: np.ndarray,
    planted: np.ndarray | None = None,
    anchors: np.ndarray | None = None,
    anchor_yaw: np.ndarray | None = None,
    root_mode: np.ndarray | None = None,
) -> Frames:
    """Joint positions for poses ``q`` (n, C).

    planted: bool (n, 2) left/right foot planted; anchors (n, 2, 3) flat-foot ankle positions and
    anchor_yaw (n, 2) degrees of the planted feet (ignored where not planted). root_mode (n,):
    ROOT_FEET (root from the planted feet where any, else the root channels) or ROOT_CHANNELS
    (root from the channels; planted legs are still solved onto their anchors by IK).
    If a planted leg cannot reach its ankle, the root is lowered until it can.
    """
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != N_CHANNELS:
        raise ValueError(f"poses must have shape (n, {N_CHANNELS}), got {q.shape}")
    n = q.shape[0]
    planted = np.zeros((n, 2), bool) if planted is None else np.asarray(planted, bool)
    if planted.any() and (anchors is None or anchor_yaw is None):
        raise ValueError("planted feet need anchors and anchor_yaw")
    root_mode = np.full(n, ROOT_FEET) if root_mode is None else np.asarray(root_mode)
    c = lambda name: q[:, CH[name]]  # noqa: E731
    psi = np.radians(c("heading"))
    lt, ls = body.thigh, body.shank
    w2 = body.pelvis_width / 2.0
    up = np.array([0.0, 1.0, 0.0])

    d_thigh, d_shank, pole, ankle_p, feet_p = {}, {}, {}, {}, {}
    for k, s in enumerate(SIDES):
        sg = SIDE_SIGN[s]
        d_thigh[s] = limb_dir(c(f"thigh_sag_{s}"), c(f"thigh_lat_{s}"), sg, psi)
        # Joint limit: the knee does not hyperextend (shank never inclined ahead of the thigh).
        d_shank[s] = limb_dir(np.minimum(c(f"shank_sag_{s}"), c(f"thigh_sag_{s}")), c(f"shank_lat_{s}"), sg, psi)
        pole[s] = limb_dir(c(f"thigh_sag_{s}") + 90.0, c(f"thigh_lat_{s}"), sg, psi) + limb_dir(
            c(f"shank_sag_{s}") + 90.0, c(f"shank_lat_{s}"), sg, psi
        )
        if planted[:, k].any():
            a0 = np.where(planted[:, k, None], anchors[:, k], 0.0)
            yaw = np.radians(np.where(planted[:, k], anchor_yaw[:, k], 0.0))
            ankle_p[s], feet_p[s] = _planted_foot(body, a0, yaw, np.radians(c(f"foot_pitch_{s}")))
        else:
            ankle_p[s] = np.zeros((n, 3))
            feet_p[s] = np.zeros((n, 3, 3))

    # Hip line from the channels (used unless both feet are planted in feet mode).
    pr, py = np.radians(c("pelvis_roll")), np.radians(c("pelvis_yaw"))
    lat_ch = _rotated(np.sin(py) * np.cos(pr), np.sin(pr), np.cos(py) * np.cos(pr), psi)
    root = np.stack([c("root_x"), c("root_y"), c("root_z")], axis=1)
    lat = lat_ch.copy()

    pl, prr = planted[:, 0], planted[:, 1]
    feet_mode = root_mode == ROOT_FEET
    hip_star = {s: ankle_p[s] - ls * d_shank[s] - lt * d_thigh[s] for s in SIDES}
    both = feet_mode & pl & prr
    if both.any():
        mid = 0.5 * (hip_star["l"] + hip_star["r"])
        axis = _unit(hip_star["r"] - hip_star["l"])
        root = np.where(both[:, None], mid, root)
        lat = np.where(both[:, None], axis, lat)
    only_l = feet_mode & pl & ~prr
    only_r = feet_mode & prr & ~pl
    root = np.where(only_l[:, None], hip_star["l"] + w2 * lat_ch, root)
    root = np.where(only_r[:, None], hip_star["r"] - w2 * lat_ch, root)

    # Lower the root where a planted leg could not reach its ankle.
    lmax = (lt + ls) * (1.0 - REACH_MARGIN)
    drop = np.zeros(n)
    for k, s in enumerate(SIDES):
        if not planted[:, k].any():
            continue
        hip = root + SIDE_SIGN[s] * w2 * lat
        r = ankle_p[s] - hip
        d2 = (r * r).sum(-1)
        disc = np.maximum(r[:, 1] ** 2 - d2 + lmax * lmax, 0.0)
        need = np.where(planted[:, k] & (d2 > lmax * lmax), -r[:, 1] - np.sqrt(disc), 0.0)
        drop = np.maximum(drop, need)
    root = root - drop[:, None] * up

    hips = {s: root + SIDE_SIGN[s] * w2 * lat for s in SIDES}
    knees, ankles, feet = {}, {}, {}
    for k, s in enumerate(SIDES):
        knee_free = hips[s] + lt * d_thigh[s]
        ankle_free = knee_free + ls * d_shank[s]
        if planted[:, k].any():
            knee_ik = two_link_ik(hips[s], ankle_p[s], lt, ls, pole[s])
            knees[s] = np.where(planted[:, k, None], knee_ik, knee_free)
            ankles[s] = np.where(planted[:, k, None], ankle_p[s], ankle_free)
        else:
            knees[s], ankles[s] = knee_free, ankle_free
        yaw_free = psi - SIDE_SIGN[s] * np.radians(c(f"foot_yaw_{s}"))
        f_free = _free_foot(body, ankles[s], yaw_free, np.radians(c(f"foot_pitch_{s}")), np.radians(c(f"toe_{s}")))
        feet[s] = np.where(planted[:, k, None, None], feet_p[s], f_free) if planted[:, k].any() else f_free

    # Trunk, shoulders, arms.
    t_up = up_dir(c("trunk_sag"), c("trunk_lat"), psi)
    mid_sh = root + body.trunk * t_up
    tw = np.radians(c("trunk_twist"))
    sh_axis = _ortho(_rotated(np.sin(tw), np.zeros(n), np.cos(tw), psi), t_up)
    shoulders, elbows, wrists = {}, {}, {}
    for s in SIDES:
        sg = SIDE_SIGN[s]
        shoulders[s] = mid_sh + sg * (body.shoulder_width / 2.0) * sh_axis
        elbows[s] = shoulders[s] + body.upper_arm * limb_dir(c(f"uarm_sag_{s}"), c(f"uarm_lat_{s}"), sg, psi)
        # Joint limit: the elbow does not hyperextend.
        farm = np.maximum(c(f"farm_sag_{s}"), c(f"uarm_sag_{s}"))
        wrists[s] = elbows[s] + body.forearm * limb_dir(farm, c(f"farm_lat_{s}"), sg, psi)

    # Head.
    h_up = up_dir(c("head_sag"), c("head_lat"), psi)
    h_fwd = _ortho(_yaw_vec(psi + np.radians(c("head_yaw"))), h_up)
    h_lat = np.cross(h_fwd, h_up)
    ear_mid = mid_sh + body.neck * h_up

    j = np.empty((n, 17, 3))
    J = Joint
    j[:, J.NOSE] = ear_mid + body.nose_forward * h_fwd + body.nose_up * h_up
    for s, eye, ear in (("l", J.LEFT_EYE, J.LEFT_EAR), ("r", J.RIGHT_EYE, J.RIGHT_EAR)):
        sg = SIDE_SIGN[s]
        j[:, eye] = ear_mid + body.eye_forward * h_fwd + body.eye_up * h_up + sg * body.eye_half_width * h_lat
        j[:, ear] = ear_mid + sg * body.ear_half_width * h_lat
    for s, (sh, el, wr, hp, kn, an) in (
        ("l", (J.LEFT_SHOULDER, J.LEFT_ELBOW, J.LEFT_WRIST, J.LEFT_HIP, J.LEFT_KNEE, J.LEFT_ANKLE)),
        ("r", (J.RIGHT_SHOULDER, J.RIGHT_ELBOW, J.RIGHT_WRIST, J.RIGHT_HIP, J.RIGHT_KNEE, J.RIGHT_ANKLE)),
    ):
        j[:, sh], j[:, el], j[:, wr] = shoulders[s], elbows[s], wrists[s]
        j[:, hp], j[:, kn], j[:, an] = hips[s], knees[s], ankles[s]
    return Frames(joints=j, feet=np.stack([feet["l"], feet["r"]], axis=1), root=root)
