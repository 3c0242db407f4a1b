"""The key joint-angle curve of an attempt, the reference band around it, and the normal ranges.

- Key joint: the action spec's highest-weight salient joint (first among equals). When its mirror
  (``left_`` <-> ``right_``) is also salient, the curve is the mean of both sides (one side may be
  hidden; the other still gives a curve). Degrees, interior angle at the vertex (180 = straight).
- Reference band: each reference performance (MotionDTW templates, ``<action>_ref<k>.npz``) gives
  the same curve; it is warped in time, piecewise linearly, so that its keyframes fall on the
  attempt's keyframes, and the band is the envelope of the warped references widened by
  ``BAND_MARGIN_DEG`` on each side (display choice: about the joint-angle noise of a depth camera).
  Without keyframes the references cannot be aligned and there is no band (said, not guessed).
- Normal ranges: the spec's ``joint_angle`` metrics on the key joint, drawn at their keyframes.
"""

from __future__ import annotations

import warnings

import numpy as np

from edge.actions.spec import ActionSpec
from edge.align.features import joint_angles

BAND_MARGIN_DEG = 5.0
MIN_CONFIDENCE = 0.3


def _mirror(name: str) -> str:
    if name.startswith("left_"):
        return "right_" + name[5:]
    if name.startswith("right_"):
        return "left_" + name[6:]
    return name


def key_joint(spec: ActionSpec) -> tuple[str, list[tuple[str, str, str]]]:
    """(label, triplets): the key joint's label ('knee') and its triplet(s), one or both sides."""
    main = max(spec.salient_joints, key=lambda s: s.weight)  # max keeps the first among equals
    triplets = [tuple(main.triplet)]
    mirror = tuple(_mirror(p) for p in main.triplet)
    if mirror != triplets[0] and any(tuple(s.triplet) == mirror for s in spec.salient_joints):
        triplets.append(mirror)
        label = main.name.replace("left_", "").replace("right_", "")
    else:
        label = main.name
    return label.replace("_", " "), triplets


def angle_curve(joints: np.ndarray, triplets, confidence: np.ndarray | None = None) -> np.ndarray:
    """(T,) degrees: the mean over ``triplets`` (sides) of the interior angle; NaN where no side is seen."""
    j = np.array(joints, dtype=np.float64, copy=True)
    if confidence is not None:
        j[np.asarray(confidence) < MIN_CONFIDENCE] = np.nan
    ang = joint_angles(j, [tuple(t) for t in triplets])  # (T, K)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all sides unseen in a frame -> NaN
        return np.nanmean(ang, axis=1)


def warp_to(n_frames: int, keyframes: dict[str, int], ref_keyframes: dict[str, int], ref_frames: int) -> np.ndarray | None:
    """(n_frames,) fractional reference frame for each attempt frame, NaN outside the reference;
    None when fewer than two keyframes are shared in the same order."""
    common = [k for k in keyframes if k in ref_keyframes]
    a = np.array([keyframes[k] for k in common], dtype=float)
    r = np.array([ref_keyframes[k] for k in common], dtype=float)
    order = np.argsort(a, kind="stable")
    a, r = a[order], r[order]
    if len(a) < 2 or np.any(np.diff(a) <= 0) or np.any(np.diff(r) <= 0):
        return None
    f = np.arange(n_frames, dtype=float)
    out = np.interp(f, a, r)
    out[f < a[0]] = r[0] - (a[0] - f[f < a[0]])  # outside the keyframes: same pace as the attempt
    out[f > a[-1]] = r[-1] + (f[f > a[-1]] - a[-1])
    out[(out < 0) | (out > ref_frames - 1)] = np.nan
    return out


def reference_band(n_frames: int, keyframes: dict[str, int], references, triplets) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(low, high, n_used): the band in degrees per attempt frame (NaN where no reference reaches),
    or None without keyframes or usable references."""
    curves = []
    for ref in references:
        w = warp_to(n_frames, keyframes, ref.keyframes, ref.n_frames)
        if w is None:
            continue
        rc = angle_curve(ref.joints, triplets)
        ok = np.isfinite(rc)
        if ok.sum() < 2:
            continue
        idx = np.arange(len(rc))
        rc = np.interp(idx, idx[ok], rc[ok])
        v = np.full(n_frames, np.nan)
        m = np.isfinite(w)
        v[m] = np.interp(w[m], idx, rc)
        curves.append(v)
    if not curves:
        return None
    c = np.array(curves)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames no reference reaches -> NaN
        low, high = np.nanmin(c, axis=0) - BAND_MARGIN_DEG, np.nanmax(c, axis=0) + BAND_MARGIN_DEG
    return np.clip(low, 0.0, 180.0), np.clip(high, 0.0, 180.0), len(curves)


def range_markers(spec: ActionSpec, triplets, keyframes: dict[str, int], t: np.ndarray) -> list[dict]:
    """The spec's normal ranges of ``joint_angle`` metrics on the key joint, at their keyframes."""
    sides = {tuple(tr) for tr in triplets}
    out = []
    for m in spec.metrics:
        d = m.definition
        if getattr(d, "type", None) != "joint_angle" or d.bilateral == "abs_diff" or d.keyframe not in keyframes:
            continue  # abs_diff is a left/right difference, not an angle on this plot
        sides_used = ("left", "right") if d.bilateral not in ("left", "right") else (d.bilateral,)
        expanded = {tuple(p.replace("{side}", s) for p in d.joints) for s in sides_used}
        if not expanded & sides:
            continue
        f = keyframes[d.keyframe]
        out.append(
            {"metric": m.id, "title": m.title, "keyframe": d.keyframe, "t": round(float(t[f] - t[0]), 3),
             "low": float(m.range[0]), "high": float(m.range[1])}
        )  # fmt: skip
    return out


def _rounded(a: np.ndarray, nd: int = 1) -> list:
    return [None if not np.isfinite(x) else round(float(x), nd) for x in a]


def curve_view(spec: ActionSpec, joints: np.ndarray, confidence: np.ndarray, t: np.ndarray,
               keyframes: dict[str, int], references=()) -> dict:
    """JSON-ready plot data: times (s from the start), the curve, the band, keyframes and ranges."""
    label, triplets = key_joint(spec)
    curve = angle_curve(joints, triplets, confidence)
    t0 = float(t[0])
    band = reference_band(len(t), keyframes, references, triplets) if keyframes else None
    if not keyframes:
        band_note = "no keyframes, so no reference band"
    elif band is None:
        band_note = "no reference performances installed" if not references else "references do not share keyframes"
    else:
        band_note = f"envelope of {band[2]} reference performance(s) ±{BAND_MARGIN_DEG:g}°"
    return {
        "joint": label,
        "unit": "deg",
        "t": [round(float(x - t0), 3) for x in t],
        "angle": _rounded(curve),
        "band_low": _rounded(band[0]) if band else None,
        "band_high": _rounded(band[1]) if band else None,
        "band_note": band_note,
        "keyframes": [{"name": k, "t": round(float(t[f] - t0), 3)} for k, f in keyframes.items()],
        "ranges": range_markers(spec, triplets, keyframes, t) if keyframes else [],
    }
