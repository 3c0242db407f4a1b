"""What a depth camera would report of a clean motion: camera pose, jitter, drop-outs, occlusion.

Separate from the clean motion, drawn from its own random stream:

- camera: yaw U(-30, 30) deg about the vertical (the paper's view synthesis range, Eq. 4), a
  residual tilt of up to 2 deg about a random horizontal axis (imperfect IMU gravity alignment),
  and an offset of the origin (x, z U(-0.5, 0.5) m; floor height error N(0, 1 cm));
- jitter: about 1 cm per axis (per-joint factor 0.8–1.4, wrists and ankles noisier), AR(1) in
  time with correlation 0.5 frame to frame;
- confidence: per joint around 0.8–0.98 with small frame-to-frame variation;
- drop-outs: short runs (1–5 frames) of one joint with confidence < 0.5 and 3x jitter, some
  fully unseen (NaN, confidence 0, the DESIGN.md contract);
- conditions (adaptive-GCN paper Sec. 6.1/6.4): ``normal``; ``low_light`` (2.5x jitter, lower
  confidence, five times as many drop-outs, longer, more of them unseen); ``occlusion`` (one to
  three limb groups hidden for 15–40 % of the attempt, confidence < 0.5, partly unseen).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edge.skeleton.joints import Joint

CONDITIONS = ("normal", "low_light", "occlusion")
JITTER_SD = 0.01
JITTER_RHO = 0.5
YAW_RANGE_DEG = 30.0
TILT_MAX_DEG = 2.0

J = Joint
#: Per-joint jitter factors (face small and well detected, distal limb joints noisier).
JOINT_NOISE = np.array([0.8, 0.8, 0.8, 0.9, 0.9, 1.0, 1.0, 1.2, 1.2, 1.4, 1.4, 1.0, 1.0, 1.1, 1.1, 1.3, 1.3])
#: Limb groups that occlusion hides together.
OCCLUSION_GROUPS: dict[str, tuple[int, ...]] = {
    "left_arm": (J.LEFT_ELBOW, J.LEFT_WRIST),
    "right_arm": (J.RIGHT_ELBOW, J.RIGHT_WRIST),
    "left_leg": (J.LEFT_KNEE, J.LEFT_ANKLE),
    "right_leg": (J.RIGHT_KNEE, J.RIGHT_ANKLE),
    "face": (J.NOSE, J.LEFT_EYE, J.RIGHT_EYE, J.LEFT_EAR, J.RIGHT_EAR),
    "feet": (J.LEFT_ANKLE, J.RIGHT_ANKLE),
}

_PROFILE = {
    #            jitter, conf lo, conf hi, dropouts/s, max len, unseen share
    "normal": (1.0, 0.80, 0.98, 0.3, 5, 0.3),
    "low_light": (2.5, 0.62, 0.90, 1.5, 10, 0.5),
    "occlusion": (1.2, 0.78, 0.97, 0.4, 5, 0.3),
}


@dataclass(frozen=True)
class Camera:
    """How the observed frame relates to the world: observed = R_tilt R_yaw world + offset."""

    yaw_deg: float
    tilt_deg: float
    tilt_axis_deg: float
    offset: tuple[float, float, float]

    def rotation(self) -> np.ndarray:
        y = np.radians(self.yaw_deg)
        ry = np.array([[np.cos(y), 0.0, np.sin(y)], [0.0, 1.0, 0.0], [-np.sin(y), 0.0, np.cos(y)]])
        a, th = np.radians(self.tilt_axis_deg), np.radians(self.tilt_deg)
        k = np.array([np.cos(a), 0.0, np.sin(a)])  # horizontal tilt axis
        kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        rt = np.eye(3) + np.sin(th) * kx + (1 - np.cos(th)) * kx @ kx
        return rt @ ry

    def apply(self, points: np.ndarray) -> np.ndarray:
        return points @ self.rotation().T + np.asarray(self.offset)

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def sample_camera(rng: np.random.Generator) -> Camera:
    return Camera(
        yaw_deg=float(rng.uniform(-YAW_RANGE_DEG, YAW_RANGE_DEG)),
        tilt_deg=float(rng.uniform(0.0, TILT_MAX_DEG)),
        tilt_axis_deg=float(rng.uniform(0.0, 360.0)),
        offset=(float(rng.uniform(-0.5, 0.5)), float(rng.normal(0.0, 0.01)), float(rng.uniform(-0.5, 0.5))),
    )


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], rho: float) -> np.ndarray:
    """Stationary unit-variance AR(1) noise along axis 0."""
    e = rng.normal(size=shape)
    out = np.empty(shape)
    out[0] = e[0]
    s = np.sqrt(1 - rho * rho)
    for k in range(1, shape[0]):
        out[k] = rho * out[k - 1] + s * e[k]
    return out


def observe(joints: np.ndarray, fps: float, condition: str, rng: np.random.Generator):
    """Observed joints (T, 17, 3) float32, confidence (T, 17) float32 and the Camera.

    ``joints`` is the clean world motion (T, 17, 3). Unseen joints are NaN with confidence 0.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; choose one of {', '.join(CONDITIONS)}")
    joints = np.asarray(joints, dtype=np.float64)
    n = joints.shape[0]
    jit, c_lo, c_hi, rate, max_len, unseen_p = _PROFILE[condition]
    cam = sample_camera(rng)
    obs = cam.apply(joints)
    scale = np.full((n, 17), jit) * JOINT_NOISE[None, :]
    conf = np.clip(rng.uniform(c_lo, c_hi, 17)[None, :] + rng.normal(0, 0.02, (n, 17)), 0.5, 1.0)
    unseen = np.zeros((n, 17), bool)

    # Short drop-outs of single joints.
    n_drop = int(rng.poisson(rate * n / fps))
    for _ in range(n_drop):
        j = int(rng.integers(17))
        k0 = int(rng.integers(n))
        k1 = min(n, k0 + int(rng.integers(1, max_len + 1)))
        conf[k0:k1, j] = rng.uniform(0.05, 0.45)
        scale[k0:k1, j] *= 3.0
        if rng.random() < unseen_p:
            unseen[k0:k1, j] = True

    if condition == "occlusion":
        groups = list(OCCLUSION_GROUPS)
        for g in rng.choice(len(groups), size=int(rng.integers(1, 4)), replace=False):
            idx = list(OCCLUSION_GROUPS[groups[int(g)]])
            length = max(2, int(rng.uniform(0.15, 0.40) * n))
            k0 = int(rng.integers(0, max(1, n - length)))
            k1 = k0 + length
            conf[k0:k1, idx] = rng.uniform(0.05, 0.45, (k1 - k0, len(idx)))
            scale[k0:k1, idx] *= 2.5
            if rng.random() < 0.5:
                c0 = k0 + (k1 - k0) // 4
                c1 = k1 - (k1 - k0) // 4
                unseen[c0:c1, idx] = True

    noise = _ar1(rng, (n, 17, 3), JITTER_RHO) * (JITTER_SD * scale)[..., None]
    obs = obs + noise
    if unseen.all(axis=1).any():  # never hide a whole frame: keep the trunk
        full = unseen.all(axis=1)
        unseen[np.ix_(full, [J.LEFT_SHOULDER, J.RIGHT_SHOULDER, J.LEFT_HIP, J.RIGHT_HIP])] = False
    obs[unseen] = np.nan
    conf[unseen] = 0.0
    return obs.astype(np.float32), conf.astype(np.float32), cam
