"""MotionDTW features (SportsGPT paper, Sec. 3.1, Eq. 1–2) from COCO-17 skeletons.

For each salient joint k of an action spec (``SalientJoint``: points A, B, C with B the vertex;
points are joint names or ``mid_<pair>`` midpoints) and each frame t:

- theta_k(t): the interior angle ABC in degrees (180 = straight);
- dtheta_k(t): central difference (theta(t+1) - theta(t-1)) / 2, degrees per frame;
- ddtheta_k(t): central second difference theta(t+1) - 2 theta(t) + theta(t-1), degrees per
  frame squared. At the first and last frame both derivatives repeat their nearest interior value
  (one frame: zero). Derivatives are per frame at the recording's nominal rate, so template and
  input must share that rate (MotionDTW checks).

Per frame F(t) = [theta_1..theta_K, alpha dtheta_1..alpha dtheta_K, beta ddtheta_1..beta
ddtheta_K] (Eq. 1, alpha = 0.39, beta = 0.25). The temporal window (w = 4) concatenates
F(t-w), ..., F(t+w), frame indices clamped to the sequence (edge padding): the feature of frame t
is ``(2w+1) * 3K`` long, offset-major. Each feature carries its joint's weight w_k (Eq. 2), so the
weight vector repeats the K spec weights per derivative block and per window offset.

Missing joints (NaN) make the angle NaN at that frame; such gaps are filled by linear
interpolation of the angle over time (held constant before the first and after the last seen
frame). A salient joint with no seen frame at all is refused with FeatureError.

Ablations of the paper's Table 2: ``dynamic=False`` (angles only), ``joint_weights=False`` (all
weights 1) and ``single_joint`` (one salient joint, the knee in the paper); ``ablation_config``
builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge.actions.spec import ActionSpec, SalientJoint
from edge.skeleton.joints import JOINT_NAMES, N_JOINTS
from edge.skeleton.sequence import SkeletonSequence

ABLATIONS = ("full", "no_dynamic", "no_joint_weights", "single_joint")


class FeatureError(ValueError):
    """Features cannot be built from this skeleton; the message is one sentence."""


class FeatureConfig(BaseModel):
    """How MotionDTW turns a skeleton into feature vectors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(0.39, ge=0.0, le=100.0, description="weight of the angular velocity (Eq. 1)")
    beta: float = Field(0.25, ge=0.0, le=100.0, description="weight of the angular acceleration (Eq. 1)")
    window: int = Field(4, ge=0, le=60, description="frames each side concatenated into a frame's feature")
    dynamic: bool = Field(True, description="include velocity and acceleration (False: ablation 'w/o Dyn. Feat.')")
    joint_weights: bool = Field(True, description="use the spec's joint weights (False: all 1, 'w/o Joint Weights')")
    single_joint: str | None = Field(
        None, description="name of the one salient joint to keep ('w/o Multi-Joint' ablation); None keeps all"
    )


def ablation_config(name: str, spec: ActionSpec, base: FeatureConfig | None = None) -> FeatureConfig:
    """FeatureConfig for one of ABLATIONS; 'single_joint' keeps the spec's first knee joint."""
    base = base or FeatureConfig()
    if name == "full":
        return base
    if name == "no_dynamic":
        return base.model_copy(update={"dynamic": False})
    if name == "no_joint_weights":
        return base.model_copy(update={"joint_weights": False})
    if name == "single_joint":
        knees = [s.name for s in spec.salient_joints if s.triplet[1].endswith("knee")]
        if not knees:
            raise FeatureError(f"action {spec.id} has no knee among its salient joints for the single-joint ablation.")
        return base.model_copy(update={"single_joint": knees[0]})
    raise ValueError(f"unknown ablation {name!r}; choose one of {', '.join(ABLATIONS)}.")


@dataclass(frozen=True)
class MotionFeatures:
    """features float64 (T, D) and weights (D,) after the temporal window; frames (T, F) and
    frame_weights (F,) before it (D = (2 window + 1) F); joints: salient joint names in order."""

    features: np.ndarray
    weights: np.ndarray
    joints: tuple[str, ...]
    frames: np.ndarray
    frame_weights: np.ndarray
    window: int

    @property
    def n_frames(self) -> int:
        return int(self.features.shape[0])


def resolve_point(joints: np.ndarray, name: str) -> np.ndarray:
    """(T, 3) positions of a joint name or a ``mid_<pair>`` midpoint of its left/right joints."""
    if name in JOINT_NAMES:
        return joints[:, JOINT_NAMES.index(name)]
    if name.startswith("mid_"):
        part = name[4:]
        left, right = f"left_{part}", f"right_{part}"
        if left in JOINT_NAMES and right in JOINT_NAMES:
            return 0.5 * (joints[:, JOINT_NAMES.index(left)] + joints[:, JOINT_NAMES.index(right)])
    raise FeatureError(f"unknown point {name!r}; use a COCO-17 joint name or mid_<pair>.")


def _joints_array(joints) -> np.ndarray:
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (N_JOINTS, 3):
        raise FeatureError(f"joints must have shape (T, 17, 3), got {j.shape}.")
    if j.shape[0] < 1:
        raise FeatureError("joints must have at least one frame.")
    return j


def joint_angles(joints, triplets: Sequence[tuple[str, str, str]]) -> np.ndarray:
    """(T, K) interior angles at B of each triplet (A, B, C), degrees; NaN where undefined."""
    j = _joints_array(joints)
    names: list[str] = []
    for trip in triplets:
        for p in trip:
            if "{side}" in p:
                raise FeatureError(f"point {p!r} has a {{side}} placeholder; a salient joint names one side.")
            if p not in names:
                names.append(p)
    pts = np.stack([resolve_point(j, p) for p in names], axis=1)  # (T, P, 3)
    ia, ib, ic = (np.array([names.index(t[q]) for t in triplets], dtype=np.intp) for q in range(3))
    pts = np.moveaxis(pts, 2, 0)  # (3, T, P): components first, so products stay elementwise
    ux, uy, uz = pts[:, :, ia] - pts[:, :, ib]  # each (T, K)
    vx, vy, vz = pts[:, :, ic] - pts[:, :, ib]
    cx = uy * vz - uz * vy
    cy = uz * vx - ux * vz
    cz = ux * vy - uy * vx
    cross = np.sqrt(cx * cx + cy * cy + cz * cz)
    dot = ux * vx + uy * vy + uz * vz
    with np.errstate(invalid="ignore"):
        ang = np.degrees(np.arctan2(cross, dot))
        degenerate = (ux * ux + uy * uy + uz * uz < 1e-18) | (vx * vx + vy * vy + vz * vz < 1e-18)
    return np.where(degenerate, np.nan, ang)


def fill_gaps(angles: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Linearly interpolate NaN frames of each (T, K) angle column; FeatureError if a column is all NaN."""
    a = np.array(angles, dtype=np.float64, copy=True)
    t = np.arange(a.shape[0], dtype=np.float64)
    for k in range(a.shape[1]):
        ok = np.isfinite(a[:, k])
        if not ok.any():
            raise FeatureError(f"salient joint {names[k]!r} is missing in every frame, so its angle cannot be measured.")
        if not ok.all():
            a[:, k] = np.interp(t, t[ok], a[ok, k])
    return a


def derivatives(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central first and second differences along axis 0 (per frame), edges repeat the nearest interior value."""
    th = np.asarray(theta, dtype=np.float64)
    d1 = np.zeros_like(th)
    d2 = np.zeros_like(th)
    if th.shape[0] >= 3:
        d1[1:-1] = 0.5 * (th[2:] - th[:-2])
        d2[1:-1] = th[2:] - 2.0 * th[1:-1] + th[:-2]
        d1[0], d1[-1] = d1[1], d1[-2]
        d2[0], d2[-1] = d2[1], d2[-2]
    elif th.shape[0] == 2:
        d1[:] = th[1] - th[0]
    return d1, d2


def temporal_window(frame_features: np.ndarray, w: int) -> np.ndarray:
    """(T, (2w+1) D): for each frame t the features of frames t-w..t+w concatenated (offset-major), edge-padded."""
    f = np.asarray(frame_features, dtype=np.float64)
    t = f.shape[0]
    idx = np.clip(np.arange(t)[:, None] + np.arange(-w, w + 1)[None, :], 0, t - 1)  # (T, 2w+1)
    return np.ascontiguousarray(f[idx].reshape(t, -1))


def selected_joints(spec: ActionSpec, config: FeatureConfig) -> list[SalientJoint]:
    joints = list(spec.salient_joints)
    if config.single_joint is not None:
        joints = [s for s in joints if s.name == config.single_joint]
        if not joints:
            names = ", ".join(s.name for s in spec.salient_joints)
            raise FeatureError(f"{config.single_joint!r} is not a salient joint of {spec.id} ({names}).")
    return joints


def motion_features(joints, spec: ActionSpec, config: FeatureConfig | None = None) -> MotionFeatures:
    """Features (T, D) and weights (D,) of a (T, 17, 3) skeleton for an action spec (module doc)."""
    config = config or FeatureConfig()
    sel = selected_joints(spec, config)
    names = tuple(s.name for s in sel)
    theta = fill_gaps(joint_angles(joints, [s.triplet for s in sel]), names)
    jw = np.array([s.weight if config.joint_weights else 1.0 for s in sel], dtype=np.float64)
    if config.dynamic:
        d1, d2 = derivatives(theta)
        frame = np.concatenate([theta, config.alpha * d1, config.beta * d2], axis=1)
        fw = np.tile(jw, 3)
    else:
        frame, fw = theta, jw
    feats = temporal_window(frame, config.window)
    weights = np.tile(fw, 2 * config.window + 1)
    return MotionFeatures(
        features=feats, weights=weights, joints=names, frames=frame, frame_weights=fw, window=config.window
    )


def sequence_features(seq: SkeletonSequence, spec: ActionSpec, config: FeatureConfig | None = None) -> MotionFeatures:
    """``motion_features`` of a SkeletonSequence's joints."""
    return motion_features(seq.joints, spec, config)
