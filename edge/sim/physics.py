"""Whole-body centre of mass from COCO-17 joints, and ballistic flight.

Segment masses and centre-of-mass positions are Winter's (Biomechanics and Motor Control of Human
Movement, 4th ed., 2009, Table 4.1, after Dempster 1955), chosen so that every segment's centre
lies on a line between two COCO keypoints:

| segment            | mass / body mass | centre of mass                                   |
|--------------------|------------------|--------------------------------------------------|
| head and neck      | 0.081            | at the ear canal (mid-ear)                        |
| trunk              | 0.497            | 0.50 from mid-hip to mid-shoulder                 |
| upper arm (x2)     | 0.028            | 0.436 from shoulder to elbow                      |
| forearm + hand (x2)| 0.022            | 0.682 from elbow to wrist                         |
| thigh (x2)         | 0.100            | 0.433 from hip to knee                            |
| leg + foot (x2)    | 0.061            | 0.606 from knee to ankle                          |

The fractions sum to 1. Because the centre of mass is a fixed linear function of the 17 joints,
anyone holding the clean joints can recompute it exactly (the physics tests do).
"""

from __future__ import annotations

import numpy as np

from edge.skeleton.joints import Joint

G = 9.81  #: gravitational acceleration (m/s^2)

J = Joint
#: (mass fraction, proximal joint(s), distal joint(s), fraction from proximal)
SEGMENTS: tuple[tuple[float, tuple[int, ...], tuple[int, ...], float], ...] = (
    (0.081, (J.LEFT_EAR, J.RIGHT_EAR), (J.LEFT_EAR, J.RIGHT_EAR), 0.0),
    (0.497, (J.LEFT_HIP, J.RIGHT_HIP), (J.LEFT_SHOULDER, J.RIGHT_SHOULDER), 0.5),
    (0.028, (J.LEFT_SHOULDER,), (J.LEFT_ELBOW,), 0.436),
    (0.028, (J.RIGHT_SHOULDER,), (J.RIGHT_ELBOW,), 0.436),
    (0.022, (J.LEFT_ELBOW,), (J.LEFT_WRIST,), 0.682),
    (0.022, (J.RIGHT_ELBOW,), (J.RIGHT_WRIST,), 0.682),
    (0.100, (J.LEFT_HIP,), (J.LEFT_KNEE,), 0.433),
    (0.100, (J.RIGHT_HIP,), (J.RIGHT_KNEE,), 0.433),
    (0.061, (J.LEFT_KNEE,), (J.LEFT_ANKLE,), 0.606),
    (0.061, (J.RIGHT_KNEE,), (J.RIGHT_ANKLE,), 0.606),
)


def _com_weights() -> np.ndarray:
    w = np.zeros(17)
    for m, prox, dist, f in SEGMENTS:
        for j in prox:
            w[j] += m * (1.0 - f) / len(prox)
        for j in dist:
            w[j] += m * f / len(dist)
    return w


#: Per-joint weights (17,), summing to 1: CoM = sum_j w_j p_j.
COM_WEIGHTS = _com_weights()


def center_of_mass(joints: np.ndarray) -> np.ndarray:
    """Whole-body centre of mass (..., 3) of joints (..., 17, 3), metres."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.shape[-2:] != (17, 3):
        raise ValueError(f"joints must have shape (..., 17, 3), got {joints.shape}")
    return np.einsum("...jk,j->...k", joints, COM_WEIGHTS)


def ballistic(t: np.ndarray, t0: float, c0: np.ndarray, v0: np.ndarray) -> np.ndarray:
    """Centre of mass (n, 3) in free flight: c0 + v0 (t - t0) - g/2 (t - t0)^2 along y."""
    dt = np.asarray(t, dtype=np.float64) - t0
    out = np.asarray(c0)[None, :] + np.asarray(v0)[None, :] * dt[:, None]
    out[:, 1] -= 0.5 * G * dt * dt
    return out


def flight_time(vy: float, height_drop: float) -> float:
    """Time (s) for a projectile launched upward at vy (m/s) to end ``height_drop`` (m) lower."""
    disc = vy * vy + 2.0 * G * height_drop
    if disc < 0:
        raise ValueError(f"a take-off at {vy:.2f} m/s cannot rise {-height_drop:.2f} m")
    return (vy + np.sqrt(disc)) / G
