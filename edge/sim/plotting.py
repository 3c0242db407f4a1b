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


def _side(a: int, b: int) -> str:
    names = (JOINT_NAMES[a], JOINT_NAMES[b])
    if all(n.startswith("left") for n in names):
        return "left"
    if all(n.startswith("right") for n in names):
        return "right"
    return "centre"


_SIDE_COLOURS = {"left": "tab:blue", "right": "tab:red", "centre": "0.2"}


def plot_sample(sample, spec, path) -> Path:
    """Write a PNG: a strip of side-view stick figures (x-y, clean world frame), one panel per
    keyframe (left limbs blue, right red; each figure centred on its own hips, all panels on one
    scale), and the highest-weight salient joint angle over time with the keyframes marked."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge.skeleton.io import atomic_write_bytes

    joints = sample.clean_joints
    fps = sample.sequence.fps
    kf = sample.keyframes
    main = max(spec.salient_joints, key=lambda s: s.weight)
    n = len(kf)
    fig = plt.figure(figsize=(max(10, 2.0 * n), 7.5))
    grid = fig.add_gridspec(2, n, height_ratios=[1.25, 1.0])
    frames = [joints[f] for f in kf.values()]
    half_w = max(0.6, max(np.nanmax(np.abs(p[:, 0] - p[[11, 12], 0].mean())) for p in frames) + 0.1)
    top = max(np.nanmax(p[:, 1]) for p in frames) + 0.1
    colours = plt.cm.viridis(np.linspace(0, 0.9, n))
    for k, ((name, f), col) in enumerate(zip(kf.items(), colours)):
        ax = fig.add_subplot(grid[0, k])
        p = joints[f]
        cx = float(p[[11, 12], 0].mean())
        for a, b in EDGES:
            ax.plot([p[a, 0] - cx, p[b, 0] - cx], [p[a, 1], p[b, 1]], color=_SIDE_COLOURS[_side(a, b)], lw=2.0)
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.set_xlim(-half_w, half_w)
        ax.set_ylim(-0.05, top)
        ax.set_aspect("equal")
        ax.set_title(f"{name}\nframe {f}, {f / fps:.2f} s", fontsize=8, color=col)
        ax.tick_params(labelsize=6)
        if k == 0:
            ax.set_ylabel("height (m)", fontsize=8)
    faults = ", ".join(f"{k} {v:.2f}" for k, v in sample.faults.items()) or "no faults"
    fig.suptitle(f"{spec.name}: score {sample.score:.1f} ({sample.grade}); {faults}", fontsize=10)

    ax1 = fig.add_subplot(grid[1, :])
    t = np.arange(joints.shape[0]) / fps
    ang = triplet_angle(joints, main.triplet)
    ax1.plot(t, ang, color="k", lw=1.2)
    for (name, f), col in zip(kf.items(), colours):
        ax1.axvline(t[f], color=col, ls="--", lw=1.0)
        ax1.text(t[f], ang.max() + 2, name, rotation=90, fontsize=7, va="bottom", color=col)
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel(f"{main.name} angle (deg)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path
