"""A picture of one simulated attempt: side-view stick figures at the keyframes and the main
joint-angle curve (the spec's highest-weight salient joint) with the keyframes marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.skeleton.joints import EDGES, JOINT_NAMES


def _point(joints: np.ndarray, name: str) -> np.ndarray:
    """(T, 3) track of a joint name or ``mid_<pair>``."""
    if name.startswith("mid_"):
        base = name[4:]
        return 0.5 * (joints[:, JOINT_NAMES.index(f"left_{base}")] + joints[:, JOINT_NAMES.index(f"right_{base}")])
    return joints[:, JOINT_NAMES.index(name)]


def triplet_angle(joints: np.ndarray, triplet) -> np.ndarray:
    """Interior angle (deg) at the middle point of a (A, B, C) triplet over time, (T,)."""
    a, b, c = (_point(joints, p) for p in triplet)
    u, v = a - b, c - b
    cos = (u * v).sum(-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def plot_sample(sample, spec, path) -> Path:
    """Write a PNG: stick figures (x-y side view, clean world frame) at each keyframe, and the
    highest-weight salient joint angle over time with the keyframes marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    joints = sample.clean_joints
    fps = sample.sequence.fps
    kf = sample.keyframes
    main = max(spec.salient_joints, key=lambda s: s.weight)
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(10, 7), gridspec_kw={"height_ratios": [1.2, 1.0]})
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(kf)))
    for (name, f), col in zip(kf.items(), colors):
        p = joints[f]
        for a, b in EDGES:
            ax0.plot([p[a, 0], p[b, 0]], [p[a, 1], p[b, 1]], color=col, lw=1.6)
        ax0.text(p[:, 0].mean(), p[:, 1].max() + 0.05, name, color=col, ha="center", fontsize=7)
    ax0.axhline(0.0, color="0.5", lw=0.8)
    ax0.set_aspect("equal")
    ax0.set_xlabel("x (m, direction of travel)")
    ax0.set_ylabel("y (m)")
    faults = ", ".join(f"{k} {v:.2f}" for k, v in sample.faults.items()) or "no faults"
    ax0.set_title(f"{spec.name}: score {sample.score:.1f} ({sample.grade}); {faults}", fontsize=9)

    t = np.arange(joints.shape[0]) / fps
    ang = triplet_angle(joints, main.triplet)
    ax1.plot(t, ang, color="k", lw=1.2)
    for (name, f), col in zip(kf.items(), colors):
        ax1.axvline(t[f], color=col, ls="--", lw=1.0)
        ax1.text(t[f], ang.max() + 2, name, rotation=90, fontsize=7, va="bottom", color=col)
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel(f"{main.name} angle (deg)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
