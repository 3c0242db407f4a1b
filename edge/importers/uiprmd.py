"""UI-PRMD recordings (Vakanski, Jun, Paul, Baker, Data 2018, 3(1):2) -> COCO-17 sequences.

Two sensors recorded each repetition; both readers return metres, right-handed, y up, the floor at
y = 0, the subject facing +x (so the left side has smaller z) and the point between the ankles at
the start at x = z = 0. The face points (nose, eyes, ears) are NaN with confidence 0: neither
source measures them (the Kinect "head" joint is not the nose, and the Vicon head markers sit on a
headband). What was done to each file is recorded in ``meta``.

Kinect (``*_positions*.txt[.gz]`` + ``*_angles*.txt[.gz]``, 30 Hz, 66 columns = 22 joints x 3)
    A hierarchy like a BVH file: column 0-2 is the waist position (cm) in the recording frame, every
    other triple is the joint's offset from its parent (cm) in the parent's local frame, and the
    Angles file holds each joint's local rotation as three angles in degrees about x, y and z,
    composed as R = Rz . Rx . Ry (the "YXZ" order of the data set's documentation). The absolute
    position of joint j is ``pos[parent] + R_world[parent] @ offset[j]`` with
    ``R_world[j] = R_world[parent] @ R[j]``. This was checked on the data: of the 6 axis orders x
    8 sign conventions, this one keeps the feet stillest during a squat (mean 95th-percentile ankle
    drift 11 cm; 12.5 cm with the y and z angles negated; 25 cm or more for every other order).
    Units are centimetres (thigh offsets 29-45, the waist ~80 above the toes). The recording
    frame is right-handed with y up, the subject's left at +x and the subject facing +z (the toes
    lie at +z of the ankles). Kinect tracking errors remain: the tracker sometimes turns the whole
    body round (those frames are missing) or loses a leg at the bottom of the squat (that knee and
    ankle are missing), and it tracks each joint on its own, so its segment lengths vary.

Vicon (``*_positions*.txt[.gz]``, 100 Hz, 117 columns = 39 Plug-in Gait markers x 3, mm, Z up)
    Joint centres are estimated from skin markers (see :func:`vicon_joint_centres`): hip centres
    by the Harrington et al. (2007) regression, knee/ankle/elbow centres by the Plug-in Gait chord
    construction from the lateral markers, the shoulder centre below the acromion marker, the wrist
    centre between the two wrist markers. The lab floor is Vicon's Z = 0 (checked against the
    toe/heel markers).

Both readers by default fit the limbs to constant segment lengths (:func:`rigid_limbs`), since
neither source keeps them: Kinect thigh/shank lengths vary by ~6 cm within a squat, skin-marker
Vicon ones by 2.5-3.5 cm (median over files of the largest deviation from the median length).
``rigid=False`` gives the joints as the source has them.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import zlib
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from edge.importers.registry import ImportFormatError
from edge.skeleton.joints import N_JOINTS, Joint
from edge.skeleton.sequence import SkeletonSequence

KINECT_FPS = 30.0
VICON_FPS = 100.0

#: The 22 Kinect joints in column order. Each is named, as in the data set, by the segment that
#: starts there: "left_upper_arm" is the shoulder, "left_forearm" the elbow, "left_hand" the
#: wrist, "left_upper_leg" the hip, "left_lower_leg" the knee, "left_foot" the ankle.
KINECT_JOINTS: tuple[str, ...] = (
    "waist", "spine", "chest", "neck", "head", "head_tip",
    "left_collar", "left_upper_arm", "left_forearm", "left_hand",
    "right_collar", "right_upper_arm", "right_forearm", "right_hand",
    "left_upper_leg", "left_lower_leg", "left_foot", "left_toes",
    "right_upper_leg", "right_lower_leg", "right_foot", "right_toes",
)  # fmt: skip
#: Parent of each Kinect joint (-1: the root). Arms hang from the chest, legs from the waist.
KINECT_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 4, 2, 6, 7, 8, 2, 10, 11, 12, 0, 14, 15, 16, 0, 18, 19, 20)

_KINECT_TO_COCO: dict[int, int] = {
    Joint.LEFT_SHOULDER: 7, Joint.RIGHT_SHOULDER: 11,
    Joint.LEFT_ELBOW: 8, Joint.RIGHT_ELBOW: 12,
    Joint.LEFT_WRIST: 9, Joint.RIGHT_WRIST: 13,
    Joint.LEFT_HIP: 14, Joint.RIGHT_HIP: 18,
    Joint.LEFT_KNEE: 15, Joint.RIGHT_KNEE: 19,
    Joint.LEFT_ANKLE: 16, Joint.RIGHT_ANKLE: 20,
}  # fmt: skip
_KINECT_TOES = (17, 21)

#: The 39 markers of the Plug-in Gait full-body set, in the column order of the Vicon files.
VICON_MARKERS: tuple[str, ...] = tuple(
    "LFHD RFHD LBHD RBHD C7 T10 CLAV STRN RBAK LSHO LUPA LELB LFRM LWRA LWRB LFIN "
    "RSHO RUPA RELB RFRM RWRA RWRB RFIN LASI RASI LPSI RPSI LTHI LKNE LTIB LANK LHEE LTOE "
    "RTHI RKNE RTIB RANK RHEE RTOE".split()
)

#: Default body dimensions for the joint-centre offsets (metres). Plug-in Gait takes them as
#: subject measurements, which UI-PRMD does not publish; these are adult means (femoral
#: bicondylar breadth ~0.10 m, bimalleolar breadth ~0.07 m, humeral biepicondylar breadth
#: ~0.07 m) and the standard 14 mm Plug-in Gait marker.
KNEE_WIDTH = 0.100
ANKLE_WIDTH = 0.070
ELBOW_WIDTH = 0.070
MARKER_DIAMETER = 0.014
#: Glenohumeral centre below the acromion marker, along the thorax axis (metres): a typical
#: Plug-in Gait shoulder offset plus the marker radius. The arms barely move against the trunk in
#: this movement, so the data do not pin it down (0.04-0.06 m all give upper-arm length spreads
#: within 1 mm of each other).
SHOULDER_OFFSET = 0.050

#: A frame is "standing" when the mid-hip is within this share of the hip's range of its highest.
STANDING_SHARE = 0.2
#: Plausible height band (m) of the lowest toe/heel marker above the lab floor while standing.
FOOT_MARKER_BAND = (0.015, 0.10)

#: Movements in which the feet stay planted (UI-PRMD m01, the deep squat), and how far (m) a
#: Kinect ankle may lie from its standing position before the leg counts as lost by the tracker.
_PLANTED_FEET = ("m01",)
PLANTED_ANKLE_TOLERANCE = 0.2
_LEGS = ((Joint.LEFT_KNEE, Joint.LEFT_ANKLE), (Joint.RIGHT_KNEE, Joint.RIGHT_ANKLE))

_REP_NAME = re.compile(r"^(m\d+)_(s\d+)_(e\d+)_(positions|angles)(_inc)?\.txt(\.gz)?$", re.IGNORECASE)
_ACTIONS = {"m01": "deep_squat"}


# ---------------------------------------------------------------------------------------------
# Reading


def _read_table(path: Path, n_cols: int, what: str) -> np.ndarray:
    """A comma-separated numeric table (gzip or plain text) as float64 (rows, n_cols)."""
    if not path.exists():
        raise ImportFormatError(f"{path}: no such file.")
    if path.is_dir():
        raise ImportFormatError(f"{path}: is a directory, not a {what} file.")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("ascii")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise ImportFormatError(f"{path}: not a readable {what} file ({type(e).__name__}).") from None
    lines = [(k, ln) for k, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    if len(lines) < 2:
        raise ImportFormatError(f"{path}: a {what} file needs at least 2 rows, found {len(lines)}.")
    for k, ln in lines:
        n = ln.count(",") + 1
        if n != n_cols:
            raise ImportFormatError(f"{path}: line {k} has {n} values, but a {what} row has {n_cols}.")
    try:
        table = np.loadtxt(io.StringIO("\n".join(ln for _, ln in lines)), delimiter=",", ndmin=2)
    except ValueError:
        k = next(k for k, ln in lines if not _all_numbers(ln))
        raise ImportFormatError(f"{path}: line {k} holds a value that is not a number.") from None
    if not np.isfinite(table).all():
        k = lines[int(np.argwhere(~np.isfinite(table))[0, 0])][0]
        raise ImportFormatError(f"{path}: line {k} holds a NaN or infinite value.")
    return table


def _all_numbers(line: str) -> bool:
    try:
        [float(v) for v in line.split(",")]
    except ValueError:
        return False
    return True


def _rep_labels(path: Path) -> dict:
    """movement / subject / episode / label ("correct", "incorrect", "unknown") from the name."""
    m = _REP_NAME.match(path.name)
    if m is None:
        return {"movement": "", "subject": None, "episode": "", "label": "unknown"}
    return {
        "movement": m.group(1).lower(),
        "subject": m.group(2).lower(),
        "episode": m.group(3).lower(),
        "label": "incorrect" if m.group(5) else "correct",
    }


# ---------------------------------------------------------------------------------------------
# Common frame handling


def _standing(mid_hip_y: np.ndarray) -> np.ndarray:
    """Boolean (T,): frames where the mid-hip is near its highest (the standing start and end)."""
    hi, lo = float(np.nanmax(mid_hip_y)), float(np.nanmin(mid_hip_y))
    return mid_hip_y >= hi - STANDING_SHARE * (hi - lo)


def _yaw_to_face_x(left_hip: np.ndarray, right_hip: np.ndarray) -> tuple[np.ndarray, float]:
    """Rotation about y (3x3) that turns the facing direction up x (right_hip - left_hip) to +x.

    Inputs (N, 3) in a y-up right-handed frame (the median hip line is used). Returns the matrix
    (for row vectors: ``p @ rot.T``) and the original facing as a yaw in degrees, the angle about
    +y that turns +x into it.
    """
    r = np.median(right_hip - left_hip, axis=0)
    facing = np.cross([0.0, 1.0, 0.0], r)
    facing[1] = 0.0
    norm = float(np.linalg.norm(facing))
    if not np.isfinite(norm) or norm < 1e-6:
        raise ValueError("the hip line is vertical or missing, so the facing direction is unknown")
    fx, fz = facing[0] / norm, facing[2] / norm
    # Rotation by angle a about +y maps (x, z) -> (x cos a + z sin a, -x sin a + z cos a).
    # Choose a so that the facing (fx, fz) lands on (1, 0): cos a = fx, sin a = fz.
    rot = np.array([[fx, 0.0, fz], [0.0, 1.0, 0.0], [-fz, 0.0, fx]])
    return rot, float(np.degrees(np.arctan2(-fz, fx)))


_LIMBS = (
    ("left_leg", Joint.LEFT_HIP, Joint.LEFT_KNEE, Joint.LEFT_ANKLE),
    ("right_leg", Joint.RIGHT_HIP, Joint.RIGHT_KNEE, Joint.RIGHT_ANKLE),
    ("left_arm", Joint.LEFT_SHOULDER, Joint.LEFT_ELBOW, Joint.LEFT_WRIST),
    ("right_arm", Joint.RIGHT_SHOULDER, Joint.RIGHT_ELBOW, Joint.RIGHT_WRIST),
)
#: Mobility of a limb's end joints (hip/ankle, shoulder/wrist) in the length fit, relative to its
#: middle joint (knee, elbow), where skin markers slide most and depth tracking is least sure.
END_MOBILITY = 0.25
RIGID_ITERATIONS = 60


def fit_limb_lengths(
    proximal: np.ndarray,
    middle: np.ndarray,
    distal: np.ndarray,
    upper: float,
    lower: float,
    end_mobility: float = END_MOBILITY,
    iterations: int = RIGID_ITERATIONS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move a 3-joint limb (T, 3 each) as little as possible so its segments measure upper, lower.

    Alternating projection onto the two length constraints (each correction along the segment,
    shared between its two joints in proportion to their mobility: 1 for the middle joint,
    ``end_mobility`` for the ends). Corrections run along the segments, so a nearly straight limb
    is lengthened or shortened along itself instead of having its middle joint pushed sideways, as
    a fit with fixed end joints would do. Rows where a joint is missing (NaN) are left unchanged.
    """
    ok = np.isfinite(proximal).all(axis=-1) & np.isfinite(middle).all(axis=-1) & np.isfinite(distal).all(axis=-1)
    p, m, d = proximal[ok], middle[ok], distal[ok]
    w_end, w_mid = float(end_mobility), 1.0
    for _ in range(iterations):
        for a, b, target in ((p, m, upper), (m, d, lower)):
            v = b - a
            n = np.linalg.norm(v, axis=-1, keepdims=True)
            err = (n - target) * v / np.maximum(n, 1e-12)
            wa = w_mid if a is m else w_end
            wb = w_mid if b is m else w_end
            a += err * (wa / (wa + wb))
            b -= err * (wb / (wa + wb))
    out = [proximal.copy(), middle.copy(), distal.copy()]
    for arr, fitted in zip(out, (p, m, d)):
        arr[ok] = fitted
    return out[0], out[1], out[2]


def rigid_limbs(coco: np.ndarray, standing: np.ndarray) -> tuple[np.ndarray, dict]:
    """Give each limb the constant segment lengths it has while standing (a skeleton fit).

    coco: (T, 17, 3) metres; standing: boolean (T,) frames whose medians set the two segment
    lengths of each limb. Real segments do not stretch, but joint centres from skin markers (which
    slide most at the knee in deep flexion) or from a depth camera (each joint tracked on its own)
    do; after Lu & O'Connor (J Biomech 1999, global optimisation with joint constraints) the limb
    joints are moved the least that makes the lengths constant (:func:`fit_limb_lengths`). Returns
    the new array and figures for ``meta`` (lengths, largest move of each joint, metres).
    """
    out = coco.copy()
    figures: dict = {}
    for name, a, b, c in _LIMBS:
        upper = float(np.nanmedian(np.linalg.norm(coco[standing, b] - coco[standing, a], axis=-1)))
        lower = float(np.nanmedian(np.linalg.norm(coco[standing, c] - coco[standing, b], axis=-1)))
        out[:, a], out[:, b], out[:, c] = fit_limb_lengths(coco[:, a], coco[:, b], coco[:, c], upper, lower)
        moves = np.linalg.norm(out[:, [a, b, c]] - coco[:, [a, b, c]], axis=-1)
        figures[f"{name}_upper_m"] = upper
        figures[f"{name}_lower_m"] = lower
        figures[f"{name}_end_move_max_m"] = float(np.nanmax(moves[:, [0, 2]]))
        figures[f"{name}_middle_move_max_m"] = float(np.nanmax(moves[:, 1]))
    return out, figures


def _finish(
    coco: np.ndarray,
    floor_y: float,
    fps: float,
    labels: dict,
    meta: dict,
    what: str,
    path: Path,
) -> SkeletonSequence:
    """Floor to y = 0, face +x, start mid-ankle to x = z = 0; build and validate the sequence."""
    coco = coco.copy()
    coco[..., 1] -= floor_y
    standing = _standing(0.5 * (coco[:, Joint.LEFT_HIP, 1] + coco[:, Joint.RIGHT_HIP, 1]))
    try:
        rot, yaw = _yaw_to_face_x(coco[standing, Joint.LEFT_HIP], coco[standing, Joint.RIGHT_HIP])
    except ValueError as e:
        raise ImportFormatError(f"{path}: {e}.") from None
    coco = coco @ rot.T
    ankles = 0.5 * (coco[standing, Joint.LEFT_ANKLE] + coco[standing, Joint.RIGHT_ANKLE])
    origin = np.nanmedian(ankles, axis=0)
    coco[..., 0] -= origin[0]
    coco[..., 2] -= origin[2]
    meta = {
        **meta,
        "source_file": str(path),
        "movement": labels["movement"],
        "episode": labels["episode"],
        "label": labels["label"],
        "correct": labels["label"] == "correct",
        "floor_offset_m": float(floor_y),
        "facing_yaw_deg": yaw,
        "standing_frames": int(standing.sum()),
        "frame": "metres, right-handed, y up, floor y=0, facing +x (hip line at standing), "
        "x=z=0 between the ankles at standing",
    }
    seq = SkeletonSequence.from_positions(
        coco,
        fps,
        action=_ACTIONS.get(labels["movement"]),
        subject=labels["subject"],
        meta=meta,
    )
    try:
        return seq.validate()
    except ValueError as e:
        raise ImportFormatError(f"{path}: the imported {what} skeleton breaks the contract ({e})") from None


# ---------------------------------------------------------------------------------------------
# Kinect


def kinect_forward_kinematics(offsets: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """Absolute Kinect joint positions from the relative Positions and the Angles tables.

    offsets: (T, 66) as in the Positions file (root position, then offsets in the parent frame);
    angles_deg: (T, 66) local rotations, degrees about x, y, z, composed as Rz . Rx . Ry.
    Returns (T, 22, 3) in the units of ``offsets`` (cm for UI-PRMD), in the recording frame.
    """
    n = offsets.shape[0]
    off = offsets.reshape(n, 22, 3)
    ang = np.radians(angles_deg.reshape(n * 22, 3))
    # Intrinsic "ZXY" in scipy is the matrix product Rz(az) @ Rx(ax) @ Ry(ay).
    local = Rotation.from_euler("ZXY", ang[:, [2, 0, 1]]).as_matrix().reshape(n, 22, 3, 3)
    world = np.empty_like(local)
    pos = np.empty_like(off)
    for j, p in enumerate(KINECT_PARENTS):
        if p < 0:
            world[:, j] = local[:, j]
            pos[:, j] = off[:, j]
        else:
            pos[:, j] = pos[:, p] + np.einsum("tij,tj->ti", world[:, p], off[:, j])
            world[:, j] = world[:, p] @ local[:, j]
    return pos


def _tracking_flips(joints: np.ndarray) -> np.ndarray:
    """Boolean (T,): frames whose hip line turns more than 90 degrees from the recording's median.

    joints: (T, 22, 3) Kinect joints, y up. The Kinect tracker occasionally loses the body's
    orientation and turns the root by ~180 degrees (the legs then point sideways or backwards);
    such frames are tracking failures, not movement, and their joints are reported missing.
    """
    line = joints[:, 18] - joints[:, 14]
    line[:, 1] = 0.0
    line = line / np.maximum(np.linalg.norm(line, axis=-1, keepdims=True), 1e-12)
    ref = np.median(line, axis=0)
    return line @ ref < 0.0


def _lost_legs(coco: np.ndarray, standing: np.ndarray) -> np.ndarray:
    """Boolean (T, 2) for the left and right leg: the ankle is far from where it stood.

    Only for movements whose feet stay planted (the deep squat). 1.1 % of the Kinect ankle
    positions in the UI-PRMD squats lie more than :data:`PLANTED_ANKLE_TOLERANCE` from the
    ankle's standing position, up to 0.8 m, with the ankle raised to knee height or above: the
    tracker has lost the leg (mostly at the bottom of the squat, where the knees hide the feet from
    the camera). Below that distance the positions are a continuous spread around the standing
    ankle (95 % within 0.15 m).
    """
    out = np.zeros((coco.shape[0], 2), dtype=bool)
    for k, (_, ankle) in enumerate(_LEGS):
        ref = np.nanmedian(coco[standing, ankle], axis=0)
        dist = np.linalg.norm(coco[:, ankle] - ref, axis=-1)
        out[:, k] = dist > PLANTED_ANKLE_TOLERANCE
    return out


def _kinect_angles_path(positions_path: Path) -> Path:
    """The Angles file that belongs to a Positions file (sibling folder ``Angles``)."""
    name = re.sub("positions", "angles", positions_path.name, flags=re.IGNORECASE)
    folder = positions_path.parent
    if folder.name.lower() == "positions":
        folder = folder.parent / ("Angles" if folder.name == "Positions" else "angles")
    return folder / name


def read_uiprmd_kinect(
    positions_path: str | os.PathLike,
    angles_path: str | os.PathLike | None = None,
    *,
    rigid: bool = True,
) -> SkeletonSequence:
    """One UI-PRMD Kinect repetition as a COCO-17 sequence at 30 Hz (metres, y up, facing +x).

    angles_path: the matching Angles file; by default the file of the same name (``angles`` for
    ``positions``) in the sibling ``Angles`` folder. Shoulders, elbows, wrists, hips, knees and
    ankles come from the Kinect joints of the same name; the face points are NaN. The floor is the
    median height, over the standing frames, of the lower of the two Kinect toe joints.
    Frames in which the tracker turned the body round are missing (see ``_tracking_flips``); in
    the deep squat, whose feet stay planted, a leg whose ankle lies more than 0.2 m from its
    standing position has its knee and ankle missing (see ``_lost_legs``).
    rigid: the Kinect tracks each joint on its own, so its segment lengths (the offset lengths in
    the file) vary by 4-6 cm within a squat (up to 12 cm); with ``rigid`` the limbs are fitted
    to the segment lengths of the standing frames (:func:`rigid_limbs`).
    """
    positions_path = Path(positions_path)
    angles_path = _kinect_angles_path(positions_path) if angles_path is None else Path(angles_path)
    if not positions_path.exists():
        raise ImportFormatError(f"{positions_path}: no such file.")
    if not angles_path.exists():
        raise ImportFormatError(
            f"{positions_path}: the Kinect positions are relative to each parent joint, so the matching "
            f"Angles file is needed, but {angles_path} does not exist."
        )
    offsets = _read_table(positions_path, 66, "UI-PRMD Kinect positions")
    angles = _read_table(angles_path, 66, "UI-PRMD Kinect angles")
    if offsets.shape[0] != angles.shape[0]:
        raise ImportFormatError(
            f"{positions_path}: {offsets.shape[0]} position rows but {angles.shape[0]} angle rows in {angles_path}."
        )
    joints = kinect_forward_kinematics(offsets, angles) / 100.0  # cm -> m
    coco = np.full((joints.shape[0], N_JOINTS, 3), np.nan)
    for c, k in _KINECT_TO_COCO.items():
        coco[:, c] = joints[:, k]
    flipped = _tracking_flips(joints)
    if flipped.sum() * 2 >= len(flipped):
        raise ImportFormatError(f"{positions_path}: the Kinect body orientation flips in most frames.")
    coco[flipped] = np.nan
    standing = _standing(0.5 * (coco[:, Joint.LEFT_HIP, 1] + coco[:, Joint.RIGHT_HIP, 1]))
    floor_y = float(np.median(joints[standing][:, _KINECT_TOES, 1].min(axis=1)))
    labels = _rep_labels(positions_path)
    lost_legs = 0
    if labels["movement"] in _PLANTED_FEET:
        lost = _lost_legs(coco, standing)
        for (knee, ankle), bad in zip(_LEGS, lost.T):
            coco[bad, knee] = np.nan
            coco[bad, ankle] = np.nan
        lost_legs = int(lost.sum())
    figures: dict = {}
    if rigid:
        coco, figures = rigid_limbs(coco, standing)
    meta = {
        "source_format": "uiprmd-kinect",
        "angles_file": str(angles_path),
        "units_in_file": "cm",
        "euler": "R = Rz(az) Rx(ax) Ry(ay), angles in degrees, columns (ax, ay, az)",
        "floor_method": "median over standing frames of the lower Kinect toe joint",
        "face_points": "missing (the Kinect head joint is not the nose)",
        "rigid_limbs": rigid,
        "tracking_flip_frames": int(flipped.sum()),
        "lost_leg_frames": lost_legs,
        **figures,
    }
    return _finish(coco, floor_y, KINECT_FPS, labels, meta, "Kinect", positions_path)


# ---------------------------------------------------------------------------------------------
# Vicon


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def chord_joint_centre(proximal: np.ndarray, marker: np.ndarray, toward: np.ndarray, offset: float) -> np.ndarray:
    """Joint centre ``offset`` from a lateral marker, at a right angle seen from the proximal centre.

    The Plug-in Gait chord construction: the centre C lies in the plane of the proximal joint
    centre I, the marker J and the direction ``toward`` (pointing from J to the body's inside),
    with |C - J| = offset and (J - C) perpendicular to (I - C). All arrays (T, 3), same units as
    ``offset``. Closed form: with u = (I - J)/|I - J| and m the part of ``toward`` orthogonal to u,
    C = J + offset * (sqrt(1 - s^2) m + s u), s = offset / |I - J|.
    """
    d = proximal - marker
    length = np.linalg.norm(d, axis=-1, keepdims=True)
    u = d / length
    m = _unit(toward - np.sum(toward * u, axis=-1, keepdims=True) * u)
    s = offset / length
    return marker + offset * (np.sqrt(1.0 - s * s) * m + s * u)


def vicon_joint_centres(
    markers: np.ndarray,
    *,
    knee_width: float = KNEE_WIDTH,
    ankle_width: float = ANKLE_WIDTH,
    elbow_width: float = ELBOW_WIDTH,
    marker_diameter: float = MARKER_DIAMETER,
    shoulder_offset: float = SHOULDER_OFFSET,
) -> tuple[np.ndarray, dict]:
    """COCO-17 joint centres (T, 17, 3) from the 39 markers (T, 39, 3), metres, y up.

    The markers must already be in metres in a right-handed y-up frame. Returns the joints (face
    points NaN) and a dict of figures for ``meta``.

    - Hips: Harrington et al. 2007 (J Biomech 40:595-602) regression in the pelvis frame (origin
      mid-ASIS, z to the right ASIS, x forward through the mid-PSIS, y up), with pelvic width PW =
      |RASI - LASI| and depth PD = |mid-ASIS - mid-PSIS| (medians over the trial, mm):
      x = -0.24 PD - 9.9, y = -0.30 PW - 10.9, z = +/-(0.33 PW + 7.3).
    - Knees: chord construction from the hip centre and the lateral KNE marker, offset
      knee_width/2 + the marker radius towards the pelvis' medial direction.
    - Ankles: chord construction from the knee and the lateral ANK marker, offset ankle_width/2 +
      the marker radius towards the foot's medial side (from the HEE->TOE line and the vertical).
    - Shoulders: ``shoulder_offset`` below the SHO marker along the thorax axis (mid CLAV/C7 to
      mid STRN/T10), as Plug-in Gait offsets the shoulder centre from the acromion marker.
    - Elbows: chord construction from the shoulder centre and the lateral ELB marker, offset
      elbow_width/2 + the marker radius towards the wrist centre (the Plug-in Gait plane SJC-ELB-WJC).
    - Wrists: midpoint of the WRA and WRB markers.
    """
    mk = {name: markers[:, i] for i, name in enumerate(VICON_MARKERS)}
    r = marker_diameter / 2.0
    lasi, rasi, lpsi, rpsi = mk["LASI"], mk["RASI"], mk["LPSI"], mk["RPSI"]
    o = 0.5 * (lasi + rasi)
    fwd = o - 0.5 * (lpsi + rpsi)
    z_p = _unit(rasi - lasi)
    x_p = _unit(fwd - np.sum(fwd * z_p, axis=-1, keepdims=True) * z_p)
    y_p = np.cross(z_p, x_p)
    pw = float(np.median(np.linalg.norm(rasi - lasi, axis=-1))) * 1000.0
    pd = float(np.median(np.linalg.norm(fwd, axis=-1))) * 1000.0
    hx, hy, hz = (-0.24 * pd - 9.9) / 1000.0, (-0.30 * pw - 10.9) / 1000.0, (0.33 * pw + 7.3) / 1000.0
    down = _unit(0.5 * (mk["STRN"] + mk["T10"]) - 0.5 * (mk["CLAV"] + mk["C7"]))
    up = np.array([0.0, 1.0, 0.0])

    out = np.full((markers.shape[0], N_JOINTS, 3), np.nan)
    for s, side, sign in (("L", "LEFT", -1.0), ("R", "RIGHT", 1.0)):
        hip = o + hx * x_p + hy * y_p + sign * hz * z_p
        knee = chord_joint_centre(hip, mk[s + "KNE"], -sign * z_p, knee_width / 2 + r)
        foot = mk[s + "TOE"] - mk[s + "HEE"]
        foot[:, 1] = 0.0
        # Facing along ``foot`` with y up, the right side is foot x up: medial for the left foot.
        foot_medial = -sign * np.cross(foot, up)
        ankle = chord_joint_centre(knee, mk[s + "ANK"], foot_medial, ankle_width / 2 + r)
        shoulder = mk[s + "SHO"] + shoulder_offset * down
        wrist = 0.5 * (mk[s + "WRA"] + mk[s + "WRB"])
        elbow = chord_joint_centre(shoulder, mk[s + "ELB"], wrist - mk[s + "ELB"], elbow_width / 2 + r)
        for name, value in (
            ("HIP", hip), ("KNEE", knee), ("ANKLE", ankle),
            ("SHOULDER", shoulder), ("ELBOW", elbow), ("WRIST", wrist),
        ):  # fmt: skip
            out[:, Joint[f"{side}_{name}"]] = value
    return out, {"pelvic_width_m": pw / 1000.0, "pelvic_depth_m": pd / 1000.0}


def read_uiprmd_vicon(
    positions_path: str | os.PathLike,
    *,
    knee_width: float = KNEE_WIDTH,
    ankle_width: float = ANKLE_WIDTH,
    elbow_width: float = ELBOW_WIDTH,
    marker_diameter: float = MARKER_DIAMETER,
    shoulder_offset: float = SHOULDER_OFFSET,
    rigid: bool = True,
) -> SkeletonSequence:
    """One UI-PRMD Vicon repetition as a COCO-17 sequence at 100 Hz (not resampled).

    Markers are converted from mm to m and from Vicon axes (X forward in the lab, Y left, Z up) to
    ours with (x, y, z) = (X, Z, -Y), a proper rotation, so handedness is kept. Joint centres as
    in :func:`vicon_joint_centres` (body dimensions in metres). ``rigid``: skin markers slide in a
    deep squat (the lateral knee-to-ankle marker distance changes by 5-8 cm), so the chord knee
    stretches thigh and shank by several cm; with ``rigid`` the limbs are fitted to the segment
    lengths of the standing frames, where the markers were placed (:func:`rigid_limbs`). The floor is the lab's Z = 0; the lowest toe/heel marker while standing must lie
    1.5-10 cm above it, otherwise the file is rejected because Z = 0 would not be the floor.
    """
    path = Path(positions_path)
    for name, value in (
        ("knee_width", knee_width), ("ankle_width", ankle_width), ("elbow_width", elbow_width),
        ("marker_diameter", marker_diameter), ("shoulder_offset", shoulder_offset),
    ):  # fmt: skip
        if not (np.isfinite(value) and 0.0 <= value < 0.3):
            raise ValueError(f"{name} must be a length in metres between 0 and 0.3, got {value!r}.")
    table = _read_table(path, 3 * len(VICON_MARKERS), "UI-PRMD Vicon positions")
    vicon = table.reshape(table.shape[0], len(VICON_MARKERS), 3) / 1000.0
    markers = np.stack([vicon[..., 0], vicon[..., 2], -vicon[..., 1]], axis=-1)
    coco, figures = vicon_joint_centres(
        markers,
        knee_width=knee_width,
        ankle_width=ankle_width,
        elbow_width=elbow_width,
        marker_diameter=marker_diameter,
        shoulder_offset=shoulder_offset,
    )
    standing = _standing(0.5 * (coco[:, Joint.LEFT_HIP, 1] + coco[:, Joint.RIGHT_HIP, 1]))
    feet = [VICON_MARKERS.index(m) for m in ("LHEE", "LTOE", "RHEE", "RTOE")]
    lowest = float(np.median(markers[standing][:, feet, 1].min(axis=1)))
    lo, hi = FOOT_MARKER_BAND
    if not lo <= lowest <= hi:
        raise ImportFormatError(
            f"{path}: the lowest toe/heel marker stands {lowest:.3f} m above Vicon's Z = 0 while standing "
            f"(expected {lo}-{hi} m), so Z = 0 is not the floor of this recording."
        )
    if rigid:
        coco, limb_figures = rigid_limbs(coco, standing)
        figures.update(limb_figures)
    meta = {
        "source_format": "uiprmd-vicon",
        "units_in_file": "mm",
        "axes_in_file": "X forward, Y left, Z up -> (x, y, z) = (X, Z, -Y)",
        "floor_method": "lab floor (Vicon Z = 0), checked with the toe/heel markers",
        "foot_marker_height_m": lowest,
        "hip_method": "Harrington et al. 2007 regression (pelvic width and depth from ASIS/PSIS)",
        "knee_elbow_method": "Plug-in Gait chord from the lateral marker"
        + ("; limbs fitted to the standing segment lengths" if rigid else ""),
        "rigid_limbs": rigid,
        "knee_width_m": knee_width,
        "ankle_width_m": ankle_width,
        "elbow_width_m": elbow_width,
        "marker_diameter_m": marker_diameter,
        "shoulder_offset_m": shoulder_offset,
        "face_points": "missing (head markers sit on a headband, not on the face)",
        **figures,
    }
    return _finish(coco, 0.0, VICON_FPS, _rep_labels(path), meta, "Vicon", path)
