"""The clean motion an action plugin returns, and helpers to find events in it.

``Motion`` is in the world frame: metres, y up, floor at y = 0, the athlete facing/travelling +x,
sampled at ``fps`` from t = 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.sim.physics import center_of_mass
from edge.sim.scene import Scene
from edge.skeleton.joints import Joint


@dataclass
class Motion:
    """A clean simulated attempt.

    joints: float64 (T, 17, 3) world positions. keyframes: name -> frame for every keyframe of the
    action's spec, in spec order. contacts: bool (T, 2) left/right foot touching the floor.
    flat: bool (T, 2) foot planted with the sole flat. feet: (T, 2, 3, 3) heel, ball and toe tip of
    each foot. com: (T, 3) centre of mass. events: continuous times (s) of named events (e.g.
    ``takeoff``, ``landing``). info: JSON-able extras (e.g. take-off velocity).
    """

    joints: np.ndarray
    fps: float
    keyframes: dict[str, int]
    contacts: np.ndarray
    flat: np.ndarray
    feet: np.ndarray
    com: np.ndarray
    events: dict[str, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @classmethod
    def from_arrays(cls, arr: dict, fps: float, keyframes: dict[str, int], events: dict[str, float],
                    info: dict) -> "Motion":  # fmt: skip
        """The Motion of a plugin: ``arr`` is the kinematics' output (joints, contacts, flat, feet, com)."""
        return cls(joints=arr["joints"], fps=fps, keyframes=keyframes, contacts=arr["contacts"], flat=arr["flat"],
                   feet=arr["feet"], com=arr["com"], events=events, info=info)  # fmt: skip

    @property
    def n_frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def t(self) -> np.ndarray:
        return np.arange(self.n_frames) / self.fps


def n_frames_for(duration: float, fps: float) -> int:
    return int(np.floor(duration * fps + 1e-9)) + 1


def sample_scene(scene: Scene, duration: float, fps: float) -> tuple[np.ndarray, dict]:
    """Render a scene at frames t = k / fps, k = 0 .. floor(duration * fps).

    Returns t and a dict with joints, feet, contacts, flat, com arrays (the ``Motion`` fields).
    """
    t = np.arange(n_frames_for(duration, fps)) / fps
    fr = scene.render(t)
    planted, _, _ = scene.support(t)
    return t, {
        "joints": fr.joints,
        "feet": fr.feet,
        "contacts": planted,
        "flat": scene.flat(t, planted),
        "com": center_of_mass(fr.joints),
    }


def mid(joints: np.ndarray, a: int, b: int) -> np.ndarray:
    return 0.5 * (joints[:, a] + joints[:, b])


def mid_hip(joints: np.ndarray) -> np.ndarray:
    return mid(joints, Joint.LEFT_HIP, Joint.RIGHT_HIP)


def speed(points: np.ndarray, fps: float) -> np.ndarray:
    """(T,) speed (m/s) of a (T, 3) point track by central differences."""
    v = np.gradient(points, axis=0) * fps
    return np.linalg.norm(v, axis=-1)


def frame_before(t: float, fps: float) -> int:
    """Last frame whose time is <= t."""
    return int(np.floor(t * fps + 1e-9))


def frame_after(t: float, fps: float) -> int:
    """First frame whose time is >= t."""
    return int(np.ceil(t * fps - 1e-9))


def first_still(points: np.ndarray, fps: float, start: int, threshold: float = 0.1, hold: float = 0.2) -> int:
    """First frame >= start from which the point's speed stays below ``threshold`` (m/s) for
    ``hold`` seconds; the last frame if it never does."""
    sp = speed(points, fps)
    need = max(1, int(round(hold * fps)))
    below = sp < threshold
    run = 0
    for k in range(len(sp) - 1, start - 1, -1):
        run = run + 1 if below[k] else 0
        below[k] = run >= need
    idx = np.nonzero(below[start:])[0]
    return int(start + idx[0]) if idx.size else len(sp) - 1


def phases_from_keyframes(spec, keyframes: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Phase name -> (start frame, end frame) from the spec's phase boundaries."""
    missing = [k for k in spec.keyframe_names if k not in keyframes]
    if missing:
        raise ValueError(f"keyframes missing for {spec.id}: {', '.join(missing)}")
    return {p.name: (int(keyframes[p.start]), int(keyframes[p.end])) for p in spec.phases}


def check_keyframes(spec, keyframes: dict[str, int], n_frames: int) -> None:
    """Every spec keyframe present, in spec order (non-decreasing), inside [0, n_frames)."""
    names = spec.keyframe_names
    if list(keyframes) != names:
        raise ValueError(f"{spec.id}: keyframes must be {names} in this order, got {list(keyframes)}")
    frames = [keyframes[k] for k in names]
    if any(b < a for a, b in zip(frames, frames[1:])):
        raise ValueError(f"{spec.id}: keyframes out of order: {dict(keyframes)}")
    if frames[0] < 0 or frames[-1] >= n_frames:
        raise ValueError(f"{spec.id}: keyframes outside the {n_frames} frames: {dict(keyframes)}")
