"""Synthetic long-jump-like motions with known timing, for MotionDTW tests and benchmarks.

Not an athlete simulator (that is ``edge.sim``): a planar two-sided stick figure whose eight
salient angles (knees, hips, shoulders, elbows) follow smooth bump profiles of a template time
tau in [0, 89] (90 frames at 30 Hz). An input is the same motion played through a known,
non-linear, monotone time warp, with optional amplitude changes, joint noise and idle lead-in and
lead-out frames; the true input frame of every template keyframe is therefore known.

Frame: metres, y up, +x forward, left joints at z = -0.15, right joints at z = +0.15.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.skeleton.joints import Joint

TEMPLATE_FRAMES = 90
FPS = 30.0
#: Template keyframes (standing_long_jump names) at moments where the motion is not still.
KEYFRAMES = {"start": 8, "countermovement_bottom": 28, "takeoff": 42, "peak": 50, "landing": 58, "stabilized": 76}

# Each profile: base + sum of amplitude * exp(-0.5 ((tau - centre) / width)^2), degrees.
_PROFILES = {
    "knee": (172.0, ((-70.0, 28.0, 7.0), (8.0, 42.0, 3.0), (-35.0, 50.0, 4.0), (-55.0, 64.0, 6.0))),
    "hip": (170.0, ((-80.0, 30.0, 8.0), (14.0, 43.0, 3.0), (-50.0, 52.0, 5.0), (-45.0, 66.0, 7.0))),
    "shoulder": (15.0, ((45.0, 14.0, 6.0), (25.0, 27.0, 4.0), (130.0, 42.0, 6.0), (50.0, 62.0, 9.0))),
    "elbow": (165.0, ((-25.0, 12.0, 5.0), (-30.0, 40.0, 5.0), (-20.0, 70.0, 8.0))),
    "lean": (8.0, ((35.0, 29.0, 8.0), (20.0, 45.0, 5.0), (25.0, 64.0, 7.0))),
}


def _profile(name: str, tau: np.ndarray, amp: float = 1.0) -> np.ndarray:
    base, bumps = _PROFILES[name]
    out = np.full_like(tau, base, dtype=np.float64)
    for a, c, w in bumps:
        out += amp * a * np.exp(-0.5 * ((tau - c) / w) ** 2)
    return out


def _rot(v: np.ndarray, deg: np.ndarray) -> np.ndarray:
    r = np.radians(deg)
    c, s = np.cos(r), np.sin(r)
    return np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1]], axis=1)


def pose_at(tau: np.ndarray, amps: np.ndarray | None = None, lag: float = 0.8) -> np.ndarray:
    """(T, 17, 3) skeleton at template times tau (float array). amps: 5 amplitude factors
    (knee, hip, shoulder, elbow, lean); the right side lags the left by ``lag`` frames."""
    tau = np.asarray(tau, dtype=np.float64)
    amps = np.ones(5) if amps is None else np.asarray(amps, dtype=np.float64)
    t_n = tau.shape[0]
    out = np.zeros((t_n, 17, 3), dtype=np.float64)
    hip_x = 2.0 / (1.0 + np.exp(-(tau - 50.0) / 5.0))
    hip_y = 0.95 - 0.25 * np.exp(-0.5 * ((tau - 28) / 7) ** 2) + 0.25 * np.exp(-0.5 * ((tau - 50) / 5) ** 2)
    for side, z, dt in (("left", -0.15, 0.0), ("right", 0.15, lag)):
        ts = tau - dt
        knee = _profile("knee", ts, amps[0])
        hipa = _profile("hip", ts, amps[1])
        sh = _profile("shoulder", ts, amps[2])
        el = _profile("elbow", ts, amps[3])
        lean = _profile("lean", ts, amps[4])
        hip = np.stack([hip_x, hip_y], axis=1)
        up = np.stack([np.sin(np.radians(lean)), np.cos(np.radians(lean))], axis=1)
        shoulder = hip + 0.5 * up
        thigh = _rot(up, -hipa)  # interior angle shoulder-hip-knee = hipa
        knee_p = hip + 0.45 * thigh
        shank = _rot(-thigh, knee)  # interior angle hip-knee-ankle = knee
        ankle = knee_p + 0.42 * shank
        uarm = _rot(-up, sh)  # interior angle hip-shoulder-elbow = sh
        elbow = shoulder + 0.30 * uarm
        farm = _rot(-uarm, -el)  # interior angle shoulder-elbow-wrist = el
        wrist = elbow + 0.27 * farm
        pts = {"shoulder": shoulder, "hip": hip, "knee": knee_p, "ankle": ankle, "elbow": elbow, "wrist": wrist}
        for part, p in pts.items():
            j = Joint[f"{side.upper()}_{part.upper()}"]
            out[:, j, :2] = p
            out[:, j, 2] = z
    neck = 0.5 * (out[:, Joint.LEFT_SHOULDER] + out[:, Joint.RIGHT_SHOULDER])
    head_up = neck - 0.5 * (out[:, Joint.LEFT_HIP] + out[:, Joint.RIGHT_HIP])
    head_up /= np.linalg.norm(head_up, axis=1, keepdims=True)
    head = neck + 0.22 * head_up
    for j, off in (
        (Joint.NOSE, (0.09, 0.0, 0.0)),
        (Joint.LEFT_EYE, (0.07, 0.03, -0.03)),
        (Joint.RIGHT_EYE, (0.07, 0.03, 0.03)),
        (Joint.LEFT_EAR, (0.0, 0.02, -0.07)),
        (Joint.RIGHT_EAR, (0.0, 0.02, 0.07)),
    ):
        out[:, j] = head + np.asarray(off)
    return out


@dataclass(frozen=True)
class SyntheticAttempt:
    """joints (T, 17, 3) float32; true_keyframes: name -> real-valued input frame; core: (first, last) warped frames."""

    joints: np.ndarray
    true_keyframes: dict[str, float]
    core: tuple[int, int]


def template_joints(amps=None) -> np.ndarray:
    """The reference motion at integer template frames 0..89, float32 (90, 17, 3)."""
    return pose_at(np.arange(TEMPLATE_FRAMES, dtype=np.float64), amps).astype(np.float32)


def make_attempt(
    rng: np.random.Generator,
    scale: float = 1.0,
    warp: tuple[float, float] = (0.0, 0.0),
    lead_in: int = 60,
    lead_out: int = 60,
    noise_m: float = 0.005,
    amp_jitter: float = 0.0,
) -> SyntheticAttempt:
    """One input: the template motion over round(90 * scale) frames through the warp
    h(x) = x + a sin(2 pi x) / (2 pi) + b sin(4 pi x) / (4 pi) (|a| + |b| < 1 keeps it monotone),
    between ``lead_in`` and ``lead_out`` idle frames (the first/last pose held), with amplitude
    factors 1 +- ``amp_jitter`` per angle profile, plus
    Gaussian joint noise of ``noise_m`` metres."""
    a, b = warp
    if abs(a) + abs(b) >= 1.0:
        raise ValueError("warp coefficients must satisfy |a| + |b| < 1 to stay monotone.")
    n_core = int(round(TEMPLATE_FRAMES * scale))
    last = TEMPLATE_FRAMES - 1

    def h(x):
        return x + a * np.sin(2 * np.pi * x) / (2 * np.pi) + b * np.sin(4 * np.pi * x) / (4 * np.pi)

    u = np.arange(n_core, dtype=np.float64)
    tau_core = last * h(u / (n_core - 1))
    tau = np.concatenate([np.zeros(lead_in), tau_core, np.full(lead_out, float(last))])
    amps = 1.0 + amp_jitter * rng.uniform(-1, 1, 5)
    joints = pose_at(tau, amps)
    joints += rng.normal(0.0, noise_m, joints.shape)
    fine = np.linspace(0.0, 1.0, 200001)
    hf = last * h(fine)
    true = {k: lead_in + float(np.interp(v, hf, fine)) * (n_core - 1) for k, v in KEYFRAMES.items()}
    return SyntheticAttempt(joints=joints.astype(np.float32), true_keyframes=true, core=(lead_in, lead_in + n_core - 1))
