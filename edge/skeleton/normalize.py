"""Normalization per the adaptive-GCN paper, Sec. 2, Eq. 2.

p_norm = (p - c_n) / s_n with c_n the trunk centre and s_n the trunk length: the mean length of
the four trunk edges (shoulder line, hip line, left and right trunk sides). The paper writes the
centre as a mean over keypoints and calls it the trunk centre; we take the mean of the four trunk
joints (``centre="trunk"``, robust to arm swing) and offer the all-joint mean (``centre="all"``).
The paper computes c_n and s_n per frame n; ``per_frame=False`` uses the first-valid-frame centre
and the median scale instead, which keeps global translation (jump distance, flight) visible.
Missing joints stay NaN.
"""

from __future__ import annotations

import numpy as np

from edge.skeleton.joints import TORSO_EDGES, TORSO_JOINTS


def trunk_scale(joints: np.ndarray) -> np.ndarray:
    """(T,) mean length of the available trunk edges per frame; NaN where none is available."""
    j = np.asarray(joints, dtype=np.float64)
    lengths = np.stack([np.linalg.norm(j[:, a] - j[:, b], axis=-1) for a, b in TORSO_EDGES], axis=1)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(lengths)
        cnt = ok.sum(axis=1)
        s = np.where(cnt > 0, np.nansum(np.where(ok, lengths, 0.0), axis=1) / np.maximum(cnt, 1), np.nan)
    return s


def trunk_centre(joints: np.ndarray, centre: str = "trunk") -> np.ndarray:
    """(T, 3) centre per frame: mean of the available trunk joints (or of all joints)."""
    j = np.asarray(joints, dtype=np.float64)
    sel = j[:, list(TORSO_JOINTS)] if centre == "trunk" else j
    if centre not in ("trunk", "all"):
        raise ValueError(f"centre must be 'trunk' or 'all', got {centre!r}")
    ok = np.isfinite(sel).all(axis=-1)
    cnt = ok.sum(axis=1)
    total = np.where(ok[..., None], sel, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(cnt[:, None] > 0, total / np.maximum(cnt, 1)[:, None], np.nan)
    return c


def normalize(joints: np.ndarray, centre: str = "trunk", per_frame: bool = True) -> np.ndarray:
    """Eq. 2: (T, 17, 3) float32 in the canonical space (origin at the trunk, unit trunk length).

    Raises ValueError when no frame has a measurable trunk.
    """
    j = np.asarray(joints, dtype=np.float64)
    c = trunk_centre(j, centre)
    s = trunk_scale(j)
    valid = np.isfinite(s) & (s > 1e-6) & np.isfinite(c).all(axis=1)
    if not valid.any():
        raise ValueError("no frame has a visible trunk (shoulders and hips), so the skeleton cannot be normalized.")
    if per_frame:
        # Frames without a trunk borrow the nearest valid frame's centre and scale.
        idx = np.arange(len(j))
        vi = idx[valid]
        nearest = vi[np.clip(np.searchsorted(vi, idx), 0, len(vi) - 1)]
        prev = vi[np.clip(np.searchsorted(vi, idx) - 1, 0, len(vi) - 1)]
        nearest = np.where(np.abs(prev - idx) < np.abs(nearest - idx), prev, nearest)
        c = c[nearest]
        s = s[nearest]
        out = (j - c[:, None, :]) / s[:, None, None]
    else:
        c0 = c[np.argmax(valid)]
        s0 = float(np.median(s[valid]))
        out = (j - c0[None, None, :]) / s0
    return out.astype(np.float32)
