"""Keyframe baselines for the MotionDTW evaluation: plain DTW and FastDTW on raw coordinates.

Both are the classic use of DTW for keyframes that the SportsGPT paper compares against: each
reference's raw joint coordinates (metres, as recorded: no angles, no joint weights, no
subsequence search) are aligned with the whole input, and each reference keyframe is carried
through the warping path exactly as MotionDTW does (median of the input frames matched to it,
``edge.align.motiondtw.transfer_keyframes``). Several references vote as in MotionDTW
(``edge.align.vote``, same cost ratio), so the comparison isolates the alignment itself.

- ``plain_dtw_keyframes``: exact DTW without a band (our banded kernel with a radius covering
  the whole matrix), local distance the Euclidean distance of the 51 coordinates, path cost the
  sum of local distances (Eq. 3 without the constraint).
- ``fastdtw_keyframes``: the ``fastdtw`` package (Salvador & Chan 2007, the paper's [31]) with
  its radius (default 1, the package default) and the same Euclidean distance.

Raw coordinates: (T, 17, 3) -> (T, 51); a joint missing in some frames is linearly interpolated
over time (held at the ends); joints never seen in the template or the input are left out of both.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edge.align import AlignmentError, KeyframeResult, Template, vote
from edge.align.dtw import banded_dtw
from edge.align.motiondtw import transfer_keyframes


def _fill(joints: np.ndarray) -> np.ndarray:
    """(T, 17, 3) float64 with NaN gaps of each joint coordinate interpolated over time."""
    j = np.array(joints, dtype=np.float64, copy=True)
    t = np.arange(j.shape[0], dtype=np.float64)
    flat = j.reshape(j.shape[0], -1)
    for c in range(flat.shape[1]):
        ok = np.isfinite(flat[:, c])
        if ok.any() and not ok.all():
            flat[:, c] = np.interp(t, t[ok], flat[ok, c])
    return flat.reshape(j.shape)


def raw_coordinates(template_joints: np.ndarray, input_joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3J) and (T, 3J) gap-filled raw coordinates over the J joints seen in both sequences."""
    a, b = _fill(template_joints), _fill(input_joints)
    seen = np.isfinite(a).all(axis=(0, 2)) & np.isfinite(b).all(axis=(0, 2))
    if not seen.any():
        raise AlignmentError("no joint is seen in both the template and the input.")
    return a[:, seen].reshape(len(a), -1), b[:, seen].reshape(len(b), -1)


def _check(templates: Sequence[Template], fps: float) -> None:
    if not templates:
        raise AlignmentError("a baseline needs at least one template.")
    for t in templates:
        if abs(t.fps - fps) > 0.01 * t.fps:
            raise AlignmentError(f"input is at {fps:g} fps but template {t.name!r} at {t.fps:g} fps.")


def _result(path: np.ndarray, total: float, template: Template, n_input: int) -> KeyframeResult:
    path = np.asarray(path, dtype=np.int64)
    return KeyframeResult(
        keyframes=transfer_keyframes(path, template.keyframes),
        interval=(0, n_input - 1),
        cost=float(total / len(path)),
        path=path,
        reference=template.name,
    )


def plain_dtw_keyframes(templates: Sequence[Template], seq, cost_ratio: float = 1.1) -> KeyframeResult:
    """Keyframes by unconstrained DTW of raw coordinates against the whole input, voted."""
    _check(templates, seq.fps)
    results = []
    for t in templates:
        x, y = raw_coordinates(t.joints, seq.joints)
        total, path = banded_dtw(x, y, max(len(x), len(y)), cost="sum_euclidean")
        results.append(_result(path, total, t, len(y)))
    return vote(results, cost_ratio)


def fastdtw_keyframes(templates: Sequence[Template], seq, cost_ratio: float = 1.1, radius: int = 1) -> KeyframeResult:
    """Keyframes by the ``fastdtw`` package on raw coordinates against the whole input, voted."""
    try:
        from fastdtw import fastdtw
    except ImportError as e:  # a missing baseline is an error, not a silent skip
        raise RuntimeError(f"the FastDTW baseline needs the fastdtw package ({e}).") from None
    from scipy.spatial.distance import euclidean

    _check(templates, seq.fps)
    results = []
    for t in templates:
        x, y = raw_coordinates(t.joints, seq.joints)
        total, path = fastdtw(x, y, radius=radius, dist=euclidean)
        results.append(_result(np.array(path), total, t, len(y)))
    return vote(results, cost_ratio)
