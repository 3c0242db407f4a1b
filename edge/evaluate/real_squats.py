"""The shipped deep-squat references on real recordings: UI-PRMD m01, correct vs incorrect.

``evaluate_real_squats(data_dir)`` runs the analysis chain of ``fieldcoach analyze`` (MotionDTW
against the shipped simulated references, then KISMAM with the calibrated ranges) on every
repetition of ``data_dir/{correct,incorrect}/{Kinect,Vicon}/Positions`` and reports:

- separation: ROC AUC (Mann-Whitney: the probability that an incorrect repetition scores above a
  correct one, ties half) of the total deviation (sum over metrics of Eq. 4 deviations in range
  widths, ``deviation_norm``), of the number of reported problems and of the summed Eq. 5 problem
  scores; plus the mean of each for both groups;
- the bottom keyframe against the real deepest frame (the frame of lowest mid-hip height of the
  recording): the mean / median / 90th percentile absolute difference in 30 Hz frames, the
  share within 2 frames, the signed mean, and the share of bottoms whose hips are within 5 mm of
  their lowest height (the "plateau": in the Kinect recordings a median of 5 frames lie within
  5 mm of the minimum, so the single deepest frame is itself uncertain by a few frames).

Inputs as the recordings are: Kinect at 30 Hz; Vicon at 100 Hz, resampled to the references'
30 Hz (:func:`resample`: linear interpolation of each joint coordinate on a 30 Hz clock from
the first sample, NaN where a neighbouring sample is NaN; the deepest frame is then looked up on
that 30 Hz clock). UI-PRMD repetitions are cut at the start and end of the movement, while the
references (like live input) include half a second of standing before and after; each
repetition gets ``pad_s`` = 1 s of still standing (its first and last frame held,
:func:`pad_still`) at both ends, and keyframes are mapped back by subtracting the padding. The
face points are missing in UI-PRMD, so head metrics are not measured (KISMAM leaves them out).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from edge.skeleton.joints import Joint
from edge.skeleton.sequence import SkeletonSequence

ACTION = "deep_squat"
SENSORS = ("kinect", "vicon")
#: Hip heights this close to the lowest one form the "bottom plateau" (Kinect jitter is a few mm).
PLATEAU_M = 0.005


def resample(seq: SkeletonSequence, fps: float) -> SkeletonSequence:
    """``seq`` on a clock of ``fps`` Hz from its first sample (linear; NaN next to NaN samples)."""
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}.")
    t = np.asarray(seq.t, dtype=np.float64)
    new_t = t[0] + np.arange(int(np.floor((t[-1] - t[0]) * fps + 1e-9)) + 1) / fps
    idx = np.clip(np.searchsorted(t, new_t, side="right") - 1, 0, len(t) - 2) if len(t) > 1 else np.zeros(len(new_t), int)
    if len(t) == 1:
        joints, conf = seq.joints[idx], seq.confidence[idx]
    else:
        w = ((new_t - t[idx]) / (t[idx + 1] - t[idx]))[:, None, None]
        a, b = seq.joints[idx].astype(np.float64), seq.joints[idx + 1].astype(np.float64)
        joints = (1.0 - w) * a + w * b  # NaN if either neighbour is NaN
        conf = np.minimum(seq.confidence[idx], seq.confidence[idx + 1])
    out = SkeletonSequence.from_positions(joints, fps, confidence=conf, t0=float(t[0]), action=seq.action,
                                          subject=seq.subject, meta=dict(seq.meta))
    return out.validate()


def pad_still(seq: SkeletonSequence, seconds: float) -> tuple[SkeletonSequence, int]:
    """``seq`` with its first and last frame held for ``seconds`` before and after; returns the
    padded sequence and the number of frames added at the front."""
    k = int(round(seconds * seq.fps))
    if k <= 0:
        return seq, 0
    joints = np.concatenate([np.repeat(seq.joints[:1], k, 0), seq.joints, np.repeat(seq.joints[-1:], k, 0)])
    conf = np.concatenate([np.repeat(seq.confidence[:1], k, 0), seq.confidence, np.repeat(seq.confidence[-1:], k, 0)])
    padded = SkeletonSequence.from_positions(joints, seq.fps, confidence=conf, action=seq.action, subject=seq.subject,
                                             meta=dict(seq.meta))
    return padded, k


def deepest_frame(seq: SkeletonSequence) -> int:
    """Frame of the lowest mid-hip height (y) among frames where both hips are seen."""
    hip = 0.5 * (seq.joints[:, Joint.LEFT_HIP, 1].astype(np.float64) + seq.joints[:, Joint.RIGHT_HIP, 1])
    if not np.isfinite(hip).any():
        raise ValueError("the hips are never seen, so the deepest frame is undefined.")
    return int(np.nanargmin(hip))


def hip_within(seq: SkeletonSequence, frame: int, tolerance_m: float) -> bool:
    """Whether the mid-hip at ``frame`` is within ``tolerance_m`` of its lowest height."""
    hip = 0.5 * (seq.joints[:, Joint.LEFT_HIP, 1].astype(np.float64) + seq.joints[:, Joint.RIGHT_HIP, 1])
    return bool(np.isfinite(hip[frame]) and hip[frame] <= np.nanmin(hip) + tolerance_m)


def roc_auc(positive, negative) -> float:
    """P(score of a positive > score of a negative) + P(equal) / 2 (Mann-Whitney U / n1 n0)."""
    p = np.asarray(positive, dtype=np.float64)[:, None]
    n = np.asarray(negative, dtype=np.float64)[None, :]
    if p.size == 0 or n.size == 0:
        raise ValueError("ROC AUC needs at least one positive and one negative score.")
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def repetition_files(data_dir: str | Path, sensor: str) -> list[tuple[Path, bool]]:
    """(positions file, correct?) of every repetition of one sensor, correct ones first."""
    if sensor not in SENSORS:
        raise ValueError(f"sensor must be one of {', '.join(SENSORS)}, got {sensor!r}.")
    root = Path(data_dir)
    folder = "Kinect" if sensor == "kinect" else "Vicon"
    out = []
    for group, correct in (("correct", True), ("incorrect", False)):
        d = root / group / folder / "Positions"
        if not d.is_dir():
            raise FileNotFoundError(f"{d} does not exist; is {root} the UI-PRMD deep-squat folder?")
        out += [(p, correct) for p in sorted(d.glob("m01_*"))]
    return out


def read_repetition(path: Path, sensor: str, fps: float) -> SkeletonSequence:
    """One repetition at ``fps`` (the Vicon's 100 Hz resampled)."""
    from edge.importers.uiprmd import read_uiprmd_kinect, read_uiprmd_vicon

    seq = read_uiprmd_kinect(path) if sensor == "kinect" else read_uiprmd_vicon(path)
    if abs(seq.fps - fps) > 1e-6:
        seq = resample(seq, fps)
    return replace(seq, action=ACTION)


def analyse_repetition(seq: SkeletonSequence, reference, prepared, spec, pad_s: float) -> dict:
    """Keyframes (in ``seq``'s frames), total deviation, problems of one repetition."""
    from edge.align import align_multi

    padded, k = pad_still(seq, pad_s)
    t0 = time.perf_counter()
    res = align_multi(prepared, padded, spec, reference.config)
    kf = {name: int(np.clip(f - k, 0, seq.n_frames - 1)) for name, f in res.keyframes.items()}
    d = reference.diagnose(seq, spec, kf)
    ms = (time.perf_counter() - t0) * 1e3
    return {
        "keyframes": kf,
        "total_deviation": float(sum(m.deviation_norm or 0.0 for m in d.metrics)),
        "problem_score": float(sum(p.score for p in d.ranking)),
        "n_problems": len(d.problems),
        "problems": [p.id for p in d.problems],
        "deepest_frame": deepest_frame(seq),
        "bottom_plateau": bool(hip_within(seq, kf["bottom"], PLATEAU_M)),
        "time_ms": ms,
    }


def evaluate_real_squats(
    data_dir: str | Path, sensors=SENSORS, reference_dir=None, pad_s: float = 1.0, limit: int | None = None
) -> dict:
    """Separation of correct vs incorrect and bottom-frame error per sensor (module doc).

    limit: at most this many files per group and sensor (spread over the subjects), for quick tests.
    """
    from calibration.reference import load_reference
    from edge.actions.spec import load_action
    from edge.align import AlignmentError, prepare_template

    spec = load_action(ACTION)
    ref = load_reference(ACTION, reference_dir)
    fps = ref.templates[0].fps
    prepared = [prepare_template(t, spec, ref.config) for t in ref.templates]
    out: dict = {"reference_version": ref.version, "pad_s": pad_s, "fps": fps}
    for sensor in sensors:
        files = repetition_files(data_dir, sensor)
        if limit is not None:
            files = _spread(files, limit)
        rows, failures = [], []
        for path, correct in files:
            seq = read_repetition(path, sensor, fps)
            try:
                r = analyse_repetition(seq, ref, prepared, spec, pad_s)
            except AlignmentError as e:
                failures.append(f"{path.name}: {e}")
                continue
            rows.append({"file": path.name, "correct": correct, **r})
        out[sensor] = _sensor_summary(rows, failures)
    return out


def _spread(files: list[tuple[Path, bool]], limit: int) -> list[tuple[Path, bool]]:
    out = []
    for correct in (True, False):
        group = [f for f in files if f[1] == correct]
        idx = np.unique(np.linspace(0, len(group) - 1, min(limit, len(group))).round().astype(int))
        out += [group[i] for i in idx]
    return out


def _sensor_summary(rows: list[dict], failures: list[str]) -> dict:
    good = [r for r in rows if r["correct"]]
    bad = [r for r in rows if not r["correct"]]
    err = np.array([abs(r["keyframes"]["bottom"] - r["deepest_frame"]) for r in rows], dtype=np.float64)
    summary: dict = {
        "n_correct": len(good),
        "n_incorrect": len(bad),
        "failures": failures,
        "bottom_error_frames": {
            "mean": float(err.mean()) if err.size else None,
            "median": float(np.median(err)) if err.size else None,
            "p90": float(np.percentile(err, 90)) if err.size else None,
            "share_within_2": float((err <= 2).mean()) if err.size else None,
            "signed_mean": float(np.mean([r["keyframes"]["bottom"] - r["deepest_frame"] for r in rows])) if rows else None,
            "share_on_5mm_plateau": float(np.mean([r["bottom_plateau"] for r in rows])) if rows else None,
        },
        "median_time_ms": float(np.median([r["time_ms"] for r in rows])) if rows else None,
    }
    for key in ("total_deviation", "n_problems", "problem_score"):
        g = [r[key] for r in good]
        b = [r[key] for r in bad]
        summary[key] = {
            "mean_correct": float(np.mean(g)) if g else None,
            "mean_incorrect": float(np.mean(b)) if b else None,
            "roc_auc": roc_auc(b, g) if g and b else None,
        }
    summary["auc_total_deviation"] = summary["total_deviation"]["roc_auc"]
    counts: dict[str, list[int]] = {}
    for r in rows:
        for p in r["problems"]:
            counts.setdefault(p, [0, 0])[0 if r["correct"] else 1] += 1
    summary["problem_counts_correct_incorrect"] = dict(sorted(counts.items()))
    summary["repetitions"] = [
        {k: r[k] for k in ("file", "correct", "total_deviation", "n_problems", "problems", "deepest_frame")}
        | {"bottom": r["keyframes"]["bottom"]}
        for r in rows
    ]
    return summary


def format_real_squats(res: dict) -> str:
    lines = [f"UI-PRMD deep squats against the shipped references (version {res['reference_version']})"]
    for sensor in SENSORS:
        s = res.get(sensor)
        if not s:
            continue
        b = s["bottom_error_frames"]
        td = s["total_deviation"]
        npb = s["n_problems"]
        lines.append(
            f"  {sensor}: {s['n_correct']} correct, {s['n_incorrect']} incorrect, {len(s['failures'])} failed; "
            f"ROC AUC total deviation {td['roc_auc']:.3f} (mean {td['mean_correct']:.2f} vs {td['mean_incorrect']:.2f}), "
            f"problems {npb['roc_auc']:.3f} (mean {npb['mean_correct']:.2f} vs {npb['mean_incorrect']:.2f}); "
            f"bottom vs deepest frame: mean {b['mean']:.2f}, median {b['median']:.1f}, p90 {b['p90']:.1f} frames, "
            f"{100 * b['share_within_2']:.0f}% within 2, signed mean {b['signed_mean']:+.2f}, "
            f"{100 * b['share_on_5mm_plateau']:.0f}% on the 5 mm plateau"
        )
    return "\n".join(lines)
