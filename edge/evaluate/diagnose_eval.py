"""Diagnosis IoU (SportsGPT Eq. 6, Fig. 2): KISMAM's top problems against the simulator's faults.

``fieldcoach eval diagnose --action A --n N --seed S --json``. For each held-out attempt
(:mod:`edge.evaluate.heldout`) the keyframes come from one method, KISMAM runs with the shipped
normal ranges and settings (as ``analyze``), and the predicted set is the reported top problems.

Ground truth. The simulator records every injected fault and its severity (0.3-1.0 in the
population). A mild fault can leave every indicator metric inside its normal range: then no
method can see it, and calling it a miss would measure the simulator, not the diagnosis. So:

- ``detectable`` (the headline ``median_iou``): an injected fault counts when at least one of
  its spec indicators (metric and side, e.g. knee angle *high*) lies outside its calibrated range
  when measured on the **clean** motion at the **true** keyframes. Injected faults that are not
  detectable are "don't care": predicting them is not a false alarm (the fault is there).
- ``severity``: injected faults with severity >= ``SEVERITY_THRESHOLD`` (0.5) count; milder
  injected faults are don't care. Independent of the ranges.
- ``injected``: every injected fault counts, nothing is don't care (the strictest reading).

IoU = |P & G| / |P | G| with P the predicted set minus the don't-care faults (1.0 when both are
empty: a fault-free attempt with no finding is a perfect diagnosis). Methods: ``motiondtw``
(shipped MotionDTW), ``fastdtw`` (FastDTW keyframes on raw coordinates, the paper's baseline),
``true_keyframes`` (the simulator's keyframes: the ceiling of the diagnosis itself). Also
reported: ``false_alarm_rate`` (share of attempts without a detectable fault that get any finding)
and ``detection_rate`` (share of detectable faults found).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edge.actions.spec import ACTION_IDS, ActionSpec
from edge.align import AlignmentError
from edge.diagnose import assess, compute_metrics, problem_iou
from edge.evaluate.align_eval import keyframe_aligner, load_evaluation
from edge.evaluate.heldout import heldout_samples
from edge.skeleton.sequence import SkeletonSequence

METHODS = ("motiondtw", "fastdtw", "true_keyframes")
GT_MODES = ("detectable", "severity", "injected")
SEVERITY_THRESHOLD = 0.5


def ground_truth(sample, spec: ActionSpec, ranges) -> dict[str, tuple[set, set]]:
    """GT mode -> (counted faults, don't-care faults) of one SimSample (module doc)."""
    clean = SkeletonSequence.from_positions(np.asarray(sample.clean_joints, dtype=np.float32), sample.sequence.fps)
    a = assess(spec, compute_metrics(clean, spec, sample.keyframes), ranges)
    side = {m.id: m.side for m in a.metrics}
    injected = set(sample.faults)
    detectable = {
        p.id for p in spec.problems if p.id in injected and any(side[i.metric] == i.side for i in p.indicators)
    }
    severe = {f for f, s in sample.faults.items() if s >= SEVERITY_THRESHOLD}
    return {
        "detectable": (detectable, injected - detectable),
        "severity": (severe, injected - severe),
        "injected": (injected, set()),
    }


def iou_with_dont_care(predicted: set, truth: set, dont_care: set) -> float:
    """Eq. 6 after removing don't-care problems from the prediction."""
    return problem_iou(set(predicted) - set(dont_care), truth)


def _summary(ious: dict[str, list], found: int, detectable: int, alarms: int, clean_attempts: int, failures: int) -> dict:
    out: dict = {"failures": int(failures)}
    for mode, v in ious.items():
        arr = np.asarray(v, dtype=np.float64)
        out[mode] = {
            "median_iou": float(np.median(arr)) if arr.size else None,
            "mean_iou": float(arr.mean()) if arr.size else None,
            "quartiles": [float(x) for x in np.percentile(arr, [25, 75])] if arr.size else None,
            "share_iou_1": float((arr == 1.0).mean()) if arr.size else None,
        }
    out["median_iou"] = out["detectable"]["median_iou"]
    out["mean_iou"] = out["detectable"]["mean_iou"]
    out["detection_rate"] = found / detectable if detectable else None
    out["false_alarm_rate"] = alarms / clean_attempts if clean_attempts else None
    return out


def evaluate_diagnose(
    action: str,
    n: int,
    seed: int,
    methods: Sequence[str] = METHODS,
    condition: str = "normal",
    reference_dir=None,
) -> dict:
    """Diagnosis IoU of each method on ``n`` held-out attempts of ``action`` (module doc)."""
    spec, ref = load_evaluation(action, methods, METHODS, reference_dir)
    aligners = {m: keyframe_aligner(m, ref, spec) for m in methods if m != "true_keyframes"}
    ious = {m: {g: [] for g in GT_MODES} for m in methods}
    stats = {m: {"found": 0, "alarms": 0, "failures": 0} for m in methods}
    n_detectable = n_clean = n_injected = 0
    for sample in heldout_samples(action, n, seed, condition):
        gt = ground_truth(sample, spec, ref.ranges)
        det = gt["detectable"][0]
        n_detectable += len(det)
        n_injected += len(sample.faults)
        n_clean += not det
        for m in methods:
            try:
                kf = sample.keyframes if m == "true_keyframes" else aligners[m](sample.sequence)
            except AlignmentError:
                stats[m]["failures"] += 1
                continue
            d = ref.diagnose(sample.sequence, spec, kf)
            pred = {p.id for p in d.problems}
            for g, (truth, dont_care) in gt.items():
                ious[m][g].append(iou_with_dont_care(pred, truth, dont_care))
            stats[m]["found"] += len(pred & det)
            if not det and (pred - gt["detectable"][1]):
                stats[m]["alarms"] += 1
    res = {
        m: _summary(ious[m], stats[m]["found"], n_detectable, stats[m]["alarms"], n_clean, stats[m]["failures"])
        for m in methods
    }
    main = res.get("motiondtw", next(iter(res.values())))
    return {
        "action": action,
        "n": int(n),
        "seed": int(seed),
        "condition": condition,
        "severity_threshold": SEVERITY_THRESHOLD,
        "injected_faults": n_injected,
        "detectable_faults": n_detectable,
        "attempts_without_detectable_fault": n_clean,
        "reference_version": ref.version,
        "median_iou": main["median_iou"],
        "methods": res,
    }


def evaluate_diagnose_actions(
    actions: Sequence[str] = ACTION_IDS,
    n: int = 50,
    seed: int = 0,
    methods: Sequence[str] = METHODS,
    condition: str = "normal",
    reference_dir=None,
) -> dict:
    """``evaluate_diagnose`` per action plus the median of the per-action medians per method."""
    per = {a: evaluate_diagnose(a, n, seed, methods, condition, reference_dir) for a in actions}
    summary = {}
    for m in methods:
        meds = [per[a]["methods"][m]["median_iou"] for a in actions]
        means = [per[a]["methods"][m]["mean_iou"] for a in actions]
        summary[m] = {
            "median_of_action_medians": float(np.median(meds)) if None not in meds else None,
            "mean_iou": float(np.mean(means)) if None not in means else None,
        }
    return {
        "actions": per,
        "n": int(n),
        "seed": int(seed),
        "condition": condition,
        "median_iou": summary.get("motiondtw", next(iter(summary.values())))["median_of_action_medians"],
        "methods_summary": summary,
    }


def format_diagnose(res: dict) -> str:
    """Per action and method: median / mean IoU against each ground truth."""
    per = res["actions"] if "actions" in res else {res["action"]: res}
    lines = [f"diagnosis IoU (Eq. 6), n = {res['n']} per action, seed {res['seed']}, {res['condition']}"]
    for a, r in per.items():
        lines.append(
            f"{a}: {r['injected_faults']} injected faults, {r['detectable_faults']} detectable, "
            f"{r['attempts_without_detectable_fault']} attempts without a detectable fault"
        )
        for m, s in r["methods"].items():
            cells = "  ".join(
                f"{g} {s[g]['median_iou']:.2f}/{s[g]['mean_iou']:.2f}" for g in GT_MODES if s[g]["median_iou"] is not None
            )
            extra = []
            if s["detection_rate"] is not None:
                extra.append(f"found {100 * s['detection_rate']:.0f}%")
            if s["false_alarm_rate"] is not None:
                extra.append(f"false alarms {100 * s['false_alarm_rate']:.0f}%")
            if s["failures"]:
                extra.append(f"{s['failures']} failed")
            lines.append(f"  {m:15s} median/mean IoU: {cells}  ({', '.join(extra)})")
    return "\n".join(lines)
