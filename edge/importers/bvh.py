"""Biovision hierarchy (BVH) files -> COCO-17 skeleton sequences.

A BVH file has a HIERARCHY (ROOT / JOINT / End Site nodes, each with an OFFSET from its parent and
the CHANNELS it animates) and a MOTION section (``Frames:``, ``Frame Time:``, one row of channel
values per frame). Forward kinematics follows the usual BVH reading:

- a node's translation from its parent is its OFFSET; position channels (``Xposition`` ...) replace
  the matching OFFSET components (the root's channels give its position);
- its local rotation is the product of its rotation channels in the order they are declared,
  as intrinsic rotations in degrees: ``Zrotation Xrotation Yrotation`` means R = Rz . Rx . Ry;
- ``world_R = parent_world_R @ R`` and ``world_pos = parent_world_pos + parent_world_R @ translation``.

BVH does not state handedness; it is taken as right-handed (as CMU and Mixamo exports are).
The result is converted to metres (``scale`` or a guess from the rest-pose height), to y up
(``up_axis`` or a guess from the rest pose: the legs point down) and, with ``ground``, the floor is
put at y = 0. The subject's facing direction is kept as in the file.

COCO joints are found by name (:data:`DEFAULT_NAME_MAP`, case-, space-, underscore- and
namespace-insensitive); a joint the file lacks is NaN with confidence 0. The BVH ``Head`` joint is
not mapped: it is the head's base, not the nose.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from edge.importers.registry import ImportFormatError
from edge.skeleton.joints import JOINT_NAMES, N_JOINTS, Joint
from edge.skeleton.sequence import SkeletonSequence

#: COCO joint -> BVH joint names that sit at that joint, in order of preference, written in the
#: normalised form of :func:`normalize_joint_name`. Conventions covered: CMU / Mixamo
#: (LeftArm, LeftForeArm, LeftHand, LeftUpLeg, LeftLeg, LeftFoot), Poser / DAZ (lShldr, lForeArm,
#: lHand, lThigh, lShin, lFoot), 3ds Max Biped ("Bip01 L UpperArm", "L Forearm", "L Thigh",
#: "L Calf"), SMPL (L_Shoulder, L_Elbow, L_Wrist, L_Hip, L_Knee, L_Ankle) and Unreal
#: (upperarm_l, lowerarm_l, hand_l, thigh_l, calf_l, foot_l). CMU's "LeftShoulder" is the clavicle
#: and is deliberately absent.
DEFAULT_NAME_MAP: dict[str, tuple[str, ...]] = {
    "nose": ("nose",),
    "left_eye": ("lefteye", "leye", "eyel"),
    "right_eye": ("righteye", "reye", "eyer"),
    "left_ear": ("leftear", "lear", "earl"),
    "right_ear": ("rightear", "rear", "earr"),
    "left_shoulder": ("leftarm", "leftupperarm", "lshldr", "lupperarm", "upperarml", "lshoulder"),
    "right_shoulder": ("rightarm", "rightupperarm", "rshldr", "rupperarm", "upperarmr", "rshoulder"),
    "left_elbow": ("leftforearm", "leftlowerarm", "lforearm", "llowerarm", "lowerarml", "lelbow", "leftelbow"),
    "right_elbow": ("rightforearm", "rightlowerarm", "rforearm", "rlowerarm", "lowerarmr", "relbow", "rightelbow"),
    "left_wrist": ("lefthand", "lhand", "handl", "lwrist", "leftwrist"),
    "right_wrist": ("righthand", "rhand", "handr", "rwrist", "rightwrist"),
    "left_hip": ("leftupleg", "leftupperleg", "leftthigh", "lthigh", "thighl", "lupleg", "lhip", "lefthip"),
    "right_hip": ("rightupleg", "rightupperleg", "rightthigh", "rthigh", "thighr", "rupleg", "rhip", "righthip"),
    "left_knee": ("leftleg", "leftlowerleg", "leftshin", "lshin", "lcalf", "calfl", "lknee", "leftknee"),
    "right_knee": ("rightleg", "rightlowerleg", "rightshin", "rshin", "rcalf", "calfr", "rknee", "rightknee"),
    "left_ankle": ("leftfoot", "lfoot", "footl", "lankle", "leftankle"),
    "right_ankle": ("rightfoot", "rfoot", "footr", "rankle", "rightankle"),
}

#: Units tried by the automatic scale guess: (name, metres per unit, plausible rest-pose heights
#: in file units). A human rest pose is 0.5-2.5 m tall.
UNIT_GUESSES: tuple[tuple[str, float, tuple[float, float]], ...] = (
    ("m", 1.0, (0.5, 2.5)),
    ("in", 0.0254, (20.0, 90.0)),
    ("cm", 0.01, (90.0, 250.0)),
)

_CHANNEL = re.compile(r"^([xyz])(position|rotation)$", re.IGNORECASE)
_NAME_PREFIXES = ("bip001", "bip01")


@dataclass(frozen=True)
class BvhNode:
    """One hierarchy node. ``channels`` are (kind, axis) with kind "position"/"rotation", axis "X"/"Y"/"Z"."""

    name: str
    parent: int
    offset: tuple[float, float, float]
    channels: tuple[tuple[str, str], ...]
    end_site: bool


@dataclass(frozen=True)
class BvhFile:
    """A parsed BVH file: nodes in file order (parents before children), motion (frames, channels)."""

    nodes: tuple[BvhNode, ...]
    frame_time: float
    motion: np.ndarray  # float64 (n_frames, n_channels), in node order

    @property
    def n_frames(self) -> int:
        return int(self.motion.shape[0])


def normalize_joint_name(name: str) -> str:
    """Lower case, no namespace (``mixamorig:``), no spaces/underscores/dashes/dots, no Biped prefix."""
    n = name.rsplit(":", 1)[-1].lower()
    n = re.sub(r"[\s_\-.]+", "", n)
    for prefix in _NAME_PREFIXES:
        if n.startswith(prefix) and len(n) > len(prefix):
            n = n[len(prefix) :]
    return n


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_bvh(text: str, source: str = "<bvh>") -> BvhFile:
    """Parse BVH text; ImportFormatError (one sentence naming ``source`` and the line) on any fault."""
    lines = text.splitlines()

    def fail(k: int, msg: str) -> ImportFormatError:
        return ImportFormatError(f"{source}: line {k + 1}: {msg}.")

    k = 0
    while k < len(lines) and not lines[k].strip():
        k += 1
    if k >= len(lines) or lines[k].strip().upper() != "HIERARCHY":
        raise ImportFormatError(f"{source}: not a BVH file (it does not start with HIERARCHY).")
    nodes, k = _parse_hierarchy(lines, k + 1, fail, source)
    n_channels = sum(len(n.channels) for n in nodes)
    frame_time, motion = _parse_motion(lines, k, n_channels, fail, source)
    return BvhFile(nodes=nodes, frame_time=frame_time, motion=motion)


def _parse_hierarchy(lines: list[str], k: int, fail, source: str) -> tuple[tuple[BvhNode, ...], int]:
    """Nodes from line k on, and the index of the MOTION line."""
    nodes: list[dict] = []
    stack: list[int] = []  # open nodes
    pending: int | None = None  # declared, waiting for "{"
    seen_root = False
    while k < len(lines):
        tokens = lines[k].split()
        if not tokens:
            k += 1
            continue
        key = tokens[0].upper()
        if key == "MOTION":
            break
        if key in ("ROOT", "JOINT") or (key == "END" and len(tokens) >= 2 and tokens[1].upper().startswith("SITE")):
            if pending is not None:
                raise fail(k, f"node {nodes[pending]['name']!r} has no opening brace")
            if key == "ROOT":
                if seen_root or stack:
                    raise fail(k, "only one ROOT is supported and it must be at the top level")
                seen_root = True
            elif not stack:
                raise fail(k, f"{tokens[0]} outside of any ROOT")
            rest = lines[k].strip()[len(tokens[0]) :].strip()
            opens = rest.endswith("{")
            name = rest[:-1].strip() if opens else rest
            end_site = key == "END"
            if end_site:
                name = f"{nodes[stack[-1]]['name']}_end"
            elif not name:
                raise fail(k, f"{tokens[0]} without a name")
            nodes.append(
                {"name": name, "parent": stack[-1] if stack else -1, "offset": None, "channels": (), "end": end_site}
            )
            pending = len(nodes) - 1
            if opens:
                stack.append(pending)
                pending = None
        elif key == "{":
            if pending is None or len(tokens) != 1:
                raise fail(k, "unexpected '{'")
            stack.append(pending)
            pending = None
        elif key == "}":
            if not stack or len(tokens) != 1:
                raise fail(k, "unexpected '}'")
            node = nodes[stack.pop()]
            if node["offset"] is None:
                raise fail(k, f"node {node['name']!r} has no OFFSET")
        elif key == "OFFSET":
            if not stack:
                raise fail(k, "OFFSET outside of any node")
            if len(tokens) != 4:
                raise fail(k, f"OFFSET needs 3 numbers, got {len(tokens) - 1}")
            try:
                offset = tuple(float(v) for v in tokens[1:])
            except ValueError:
                raise fail(k, "OFFSET holds a value that is not a number") from None
            if not all(np.isfinite(offset)):
                raise fail(k, "OFFSET holds a NaN or infinite value")
            nodes[stack[-1]]["offset"] = offset
        elif key == "CHANNELS":
            if not stack or nodes[stack[-1]]["end"]:
                raise fail(k, "CHANNELS outside of a ROOT or JOINT")
            try:
                n = int(tokens[1])
            except (IndexError, ValueError):
                raise fail(k, "CHANNELS must be followed by the channel count") from None
            names = tokens[2:]
            if n != len(names):
                raise fail(k, f"CHANNELS says {n} channels but names {len(names)}")
            chans = []
            for c in names:
                m = _CHANNEL.match(c)
                if m is None:
                    raise fail(k, f"unknown channel {c!r}")
                chans.append((m.group(2).lower(), m.group(1).upper()))
            if len(set(chans)) != len(chans):
                raise fail(k, "a channel is listed twice")
            # Distinct rotation axes (checked above) always form one Euler sequence of <= 3 axes.
            nodes[stack[-1]]["channels"] = tuple(chans)
        else:
            raise fail(k, f"unexpected {tokens[0]!r} in the HIERARCHY")
        k += 1

    if not seen_root:
        raise ImportFormatError(f"{source}: the HIERARCHY has no ROOT.")
    if stack or pending is not None:
        raise ImportFormatError(f"{source}: the HIERARCHY ends with unclosed braces.")
    if k >= len(lines):
        raise ImportFormatError(f"{source}: the file has no MOTION section.")
    built = tuple(
        BvhNode(name=n["name"], parent=n["parent"], offset=n["offset"], channels=n["channels"], end_site=n["end"])
        for n in nodes
    )
    return built, k


def _parse_motion(lines: list[str], k: int, n_channels: int, fail, source: str) -> tuple[float, np.ndarray]:
    """Frame time and the (n_frames, n_channels) motion; k is the index of the MOTION line."""
    k += 1

    def header(label: str) -> tuple[int, str]:
        nonlocal k
        while k < len(lines) and not lines[k].strip():
            k += 1
        if k >= len(lines) or not lines[k].strip().lower().startswith(label.lower()):
            raise ImportFormatError(f"{source}: the MOTION section has no '{label}' line.")
        value = lines[k].strip()[len(label) :].strip()
        k += 1
        return k - 1, value

    kf, frames_text = header("Frames:")
    try:
        n_frames = int(frames_text)
    except ValueError:
        raise fail(kf, f"'Frames:' must be a whole number, got {frames_text!r}") from None
    kt, time_text = header("Frame Time:")
    try:
        frame_time = float(time_text)
    except ValueError:
        raise fail(kt, f"'Frame Time:' must be a number, got {time_text!r}") from None
    if not (np.isfinite(frame_time) and frame_time > 0):
        raise fail(kt, f"'Frame Time:' must be positive, got {time_text}")
    if n_frames < 0:
        raise fail(kf, "'Frames:' is negative")

    rows = [(j, ln) for j, ln in enumerate(lines[k:], k) if ln.strip()]
    if len(rows) < n_frames:
        raise ImportFormatError(
            f"{source}: the motion is truncated: 'Frames:' says {n_frames} but only {len(rows)} rows follow."
        )
    if len(rows) > n_frames:
        raise fail(rows[n_frames][0], f"more motion rows than the {n_frames} 'Frames:' declares")
    motion = np.empty((n_frames, n_channels))
    for i, (j, ln) in enumerate(rows):
        vals = ln.split()
        if len(vals) != n_channels:
            raise fail(j, f"motion row has {len(vals)} values but the HIERARCHY declares {n_channels} channels")
        try:
            motion[i] = [float(v) for v in vals]
        except ValueError:
            raise fail(j, "motion row holds a value that is not a number") from None
    if not np.isfinite(motion).all():
        j = rows[int(np.argwhere(~np.isfinite(motion))[0, 0])][0]
        raise fail(j, "motion row holds a NaN or infinite value")

    return frame_time, motion


# ---------------------------------------------------------------------------------------------
# Kinematics


def bvh_forward_kinematics(bvh: BvhFile, rest: bool = False) -> np.ndarray:
    """World positions (n_frames, n_nodes, 3) of every node, end sites included, in file units/axes.

    rest: ignore the motion and return the rest pose (offsets only) as (1, n_nodes, 3).
    """
    n = 1 if rest else bvh.n_frames
    n_nodes = len(bvh.nodes)
    pos = np.zeros((n, n_nodes, 3))
    world = np.zeros((n, n_nodes, 3, 3))
    col = 0
    for j, node in enumerate(bvh.nodes):
        trans = np.broadcast_to(np.asarray(node.offset, dtype=np.float64), (n, 3)).copy()
        axes, angle_cols = [], []
        for kind, axis in node.channels:
            if kind == "position":
                if not rest:
                    trans[:, "XYZ".index(axis)] = bvh.motion[:, col]
            else:
                axes.append(axis)
                angle_cols.append(col)
            col += 1
        if axes and not rest:
            # Upper-case axes: intrinsic rotations, R = R_first @ R_second @ R_third.
            local = Rotation.from_euler("".join(axes), bvh.motion[:, angle_cols], degrees=True).as_matrix()
        else:
            local = np.broadcast_to(np.eye(3), (n, 3, 3))
        if node.parent < 0:
            pos[:, j] = trans
            world[:, j] = local
        else:
            p = node.parent
            pos[:, j] = pos[:, p] + np.einsum("fij,fj->fi", world[:, p], trans)
            world[:, j] = world[:, p] @ local
    return pos


def _resolve_map(bvh: BvhFile, name_map: Mapping[str, str | Sequence[str]] | None, source: str) -> dict[int, int]:
    """COCO index -> node index."""
    table: dict[str, tuple[str, ...]] = dict(DEFAULT_NAME_MAP)
    explicit: set[str] = set()
    for coco, names in (name_map or {}).items():
        if coco not in JOINT_NAMES:
            raise ValueError(f"name_map key {coco!r} is not a COCO-17 joint; expected one of {', '.join(JOINT_NAMES)}.")
        names = (names,) if isinstance(names, str) else tuple(names)
        table[coco] = tuple(normalize_joint_name(n) for n in names)
        if names:
            explicit.add(coco)
    by_name: dict[str, int] = {}
    for j, node in enumerate(bvh.nodes):
        if not node.end_site:
            by_name.setdefault(normalize_joint_name(node.name), j)
    found: dict[int, int] = {}
    for c, coco in enumerate(JOINT_NAMES):
        hit = next((by_name[n] for n in table.get(coco, ()) if n in by_name), None)
        if hit is not None:
            found[c] = hit
        elif coco in explicit:
            raise ImportFormatError(
                f"{source}: the name map places {coco} at {', '.join(table[coco])}, but the file has no such joint."
            )
    return found


def _up_rotation(up: str) -> np.ndarray:
    """Proper rotation taking the file's up axis to +y (applied to row vectors as p @ R.T)."""
    if up == "y":
        return np.eye(3)
    if up == "z":  # (x, y, z) -> (x, z, -y): -90 degrees about x
        return np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    raise ValueError(f"up_axis must be 'auto', 'y' or 'z', got {up!r}.")


def read_bvh(
    path: str | os.PathLike,
    *,
    name_map: Mapping[str, str | Sequence[str]] | None = None,
    scale: float | None = None,
    up_axis: str = "auto",
    ground: bool = True,
) -> SkeletonSequence:
    """Read a BVH file as a COCO-17 sequence (metres, y up; floor at y = 0 with ``ground``).

    name_map: COCO joint name -> BVH joint name or names (any case/spacing), overriding
        :data:`DEFAULT_NAME_MAP` for those joints; an empty list unmaps a joint. A joint named here
        that the file lacks is an error; default names that are absent just leave the joint NaN.
    scale: metres per file unit; None guesses m / inches / cm from the rest-pose height.
    up_axis: "y", "z" or "auto" (the axis opposite to the legs in the rest pose).
    ground: shift y so the floor, the 5th percentile over frames of the lowest node (end sites
        included), is at 0.
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise ImportFormatError(f"{source}: no such file.")
    if path.is_dir():
        raise ImportFormatError(f"{source}: is a directory, not a BVH file.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ImportFormatError(f"{source}: not a readable BVH text file ({type(e).__name__}).") from None
    bvh = parse_bvh(text, source)
    if bvh.n_frames < 2:
        raise ImportFormatError(f"{source}: a skeleton sequence needs at least 2 frames, the file has {bvh.n_frames}.")
    mapping = _resolve_map(bvh, name_map, source)
    if not mapping:
        raise ImportFormatError(f"{source}: no joint of the file matches the COCO-17 name map; pass name_map.")

    rest = bvh_forward_kinematics(bvh, rest=True)[0]
    up_detected = up_axis == "auto"
    if up_detected:
        ankles = [mapping[c] for c in (Joint.LEFT_ANKLE, Joint.RIGHT_ANKLE) if c in mapping]
        hips = [mapping[c] for c in (Joint.LEFT_HIP, Joint.RIGHT_HIP) if c in mapping]
        if not ankles or not hips:
            raise ImportFormatError(
                f"{source}: the up axis cannot be detected without mapped hips and ankles; pass up_axis."
            )
        legs = rest[ankles].mean(axis=0) - rest[hips].mean(axis=0)
        axis = int(np.argmax(np.abs(legs)))
        if abs(legs[axis]) < 0.8 * np.linalg.norm(legs) or axis == 0 or legs[axis] > 0:
            raise ImportFormatError(
                f"{source}: the legs in the rest pose do not point down along -y or -z; pass up_axis."
            )
        up_axis = "yz"[axis - 1]
    rot = _up_rotation(up_axis)

    rest_height = float(np.ptp((rest @ rot.T)[:, 1]))
    if scale is None:
        guess = next((g for g in UNIT_GUESSES if g[2][0] <= rest_height < g[2][1]), None)
        if guess is None:
            raise ImportFormatError(
                f"{source}: the rest pose is {rest_height:g} units tall, which is no human height in m, "
                f"inches or cm; pass scale."
            )
        units, scale = guess[0], guess[1]
    else:
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive number of metres per file unit, got {scale!r}.")
        units = "given"

    pos = (bvh_forward_kinematics(bvh) @ rot.T) * float(scale)
    floor = float(np.percentile(pos[:, :, 1].min(axis=1), 5)) if ground else 0.0
    pos[:, :, 1] -= floor

    coco = np.full((bvh.n_frames, N_JOINTS, 3), np.nan)
    for c, j in mapping.items():
        coco[:, c] = pos[:, j]
    meta = {
        "source_format": "bvh",
        "source_file": source,
        "scale_m_per_unit": float(scale),
        "units": units,
        "rest_height_m": rest_height * float(scale),
        "up_axis": up_axis,
        "up_axis_detected": up_detected,
        "floor_offset_m": floor,
        "joint_map": "; ".join(f"{JOINT_NAMES[c]}={bvh.nodes[j].name}" for c, j in sorted(mapping.items())),
        "unmapped": ", ".join(JOINT_NAMES[c] for c in range(N_JOINTS) if c not in mapping),
        "facing": "as in the file",
    }
    seq = SkeletonSequence.from_positions(coco, 1.0 / bvh.frame_time, meta=meta)
    try:
        return seq.validate()
    except ValueError as e:
        raise ImportFormatError(f"{source}: the imported skeleton breaks the contract ({e})") from None
