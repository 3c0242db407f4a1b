"""Keyframe error of MotionDTW, its ablations (SportsGPT Table 2) and the DTW baselines.

``fieldcoach eval align --action A --n N --seed S --json``. On N held-out simulated attempts
(:mod:`edge.evaluate.heldout`: population mix of faults, idle standing before and after, the
camera's noise and yaw) each method finds the keyframes of the action and is scored against the
simulator's true keyframes (events of the clean motion). The keyframe error of an attempt is the
mean over the action's keyframes of |found frame - true frame|; figures are means over attempts.

Methods (all with the shipped references and settings, ``calibration.reference``):

- ``motiondtw``: the shipped two-stage MotionDTW with multi-reference voting (as ``analyze``);
- ``no_dynamic``, ``no_joint_weights``, ``single_joint``: Table 2's feature ablations
  (``edge.align.features.ablation_config``: angles only; all joint weights 1; the knee only);
- ``one_stage``: no Stage-1 subsequence search, Stage 2 over the whole input (Table 2's One-Stage);
- ``dtw_raw``: plain unconstrained DTW on raw coordinates; ``fastdtw``: the fastdtw package on raw
  coordinates (:mod:`edge.evaluate.baselines`).

A method that finds no keyframes on an attempt (AlignmentError) is counted in ``failures`` and
left out of its means.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from edge.actions.spec import ACTION_IDS, ActionSpec, load_action
from edge.align import AlignmentError, align_multi, prepare_template
from edge.align.features import ablation_config
from edge.evaluate.baselines import fastdtw_keyframes, plain_dtw_keyframes
from edge.evaluate.heldout import heldout_samples

METHODS = ("motiondtw", "no_dynamic", "no_joint_weights", "single_joint", "one_stage", "dtw_raw", "fastdtw")
#: Table 2 row names of the paper for each method.
PAPER_NAMES = {
    "motiondtw": "Two-Stage, Full Model",
    "no_dynamic": "Two-Stage, w/o Dyn. Feat.",
    "no_joint_weights": "Two-Stage, w/o Joint Weights",
    "single_joint": "Two-Stage, w/o Multi-Joint",
    "one_stage": "One-Stage, Full Model",
    "dtw_raw": "plain DTW, raw coordinates",
    "fastdtw": "FastDTW, raw coordinates",
}

Aligner = Callable[[object], dict]


def load_evaluation(action: str, methods: Sequence[str], known: Sequence[str], reference_dir=None):
    """(spec, reference bundle) of ``action`` after checking ``methods`` against ``known``."""
    from calibration.reference import load_reference

    for m in methods:
        if m not in known:
            raise ValueError(f"unknown method {m!r}; choose from {', '.join(known)}.")
    return load_action(action), load_reference(action, reference_dir)


def keyframe_aligner(method: str, reference, spec: ActionSpec) -> Aligner:
    """A function seq -> keyframes (name -> frame) for one method with a loaded Reference."""
    cfg = reference.config
    if method in ("dtw_raw", "fastdtw"):
        fn = plain_dtw_keyframes if method == "dtw_raw" else fastdtw_keyframes
        return lambda seq: fn(reference.templates, seq, cfg.vote_cost_ratio).keyframes
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}.")
    if method == "one_stage":
        cfg = cfg.model_copy(update={"stage1": "none"})
    elif method != "motiondtw":
        cfg = cfg.model_copy(update={"features": ablation_config(method, spec, cfg.features)})
    prepared = [prepare_template(t, spec, cfg) for t in reference.templates]
    return lambda seq: align_multi(prepared, seq, spec, cfg).keyframes


def keyframe_errors(found: dict[str, int], true: dict[str, int], names: Sequence[str]) -> np.ndarray:
    """(K,) |found - true| in frames, in the spec's keyframe order."""
    return np.array([abs(int(found[k]) - int(true[k])) for k in names], dtype=np.float64)


def summarize(errors: list[np.ndarray], names: Sequence[str], failures: int, times_ms: list[float]) -> dict:
    """Figures of one method on one action from per-attempt (K,) error vectors."""
    if not errors:
        return {"n": 0, "failures": failures, "mean_keyframe_error_frames": None}
    e = np.vstack(errors)
    per_attempt = e.mean(axis=1)
    return {
        "n": int(len(e)),
        "failures": int(failures),
        "mean_keyframe_error_frames": float(e.mean()),
        "median_attempt_error_frames": float(np.median(per_attempt)),
        "p90_attempt_error_frames": float(np.percentile(per_attempt, 90)),
        "share_within_1_frame": float((e <= 1).mean()),
        "share_within_2_frames": float((e <= 2).mean()),
        "per_keyframe": {k: float(v) for k, v in zip(names, e.mean(axis=0))},
        "median_time_ms": float(np.median(times_ms)) if times_ms else None,
    }


def evaluate_align(
    action: str,
    n: int,
    seed: int,
    methods: Sequence[str] = METHODS,
    condition: str = "normal",
    reference_dir=None,
    faults=None,
) -> dict:
    """Keyframe errors of ``methods`` on ``n`` held-out attempts of ``action`` (module doc)."""
    spec, ref = load_evaluation(action, methods, METHODS, reference_dir)
    names = spec.keyframe_names
    aligners = {m: keyframe_aligner(m, ref, spec) for m in methods}
    errors: dict[str, list] = {m: [] for m in methods}
    times: dict[str, list] = {m: [] for m in methods}
    failures = {m: 0 for m in methods}
    n_faulty = 0
    for sample in heldout_samples(action, n, seed, condition, faults):
        n_faulty += bool(sample.faults)
        for m, fn in aligners.items():
            t0 = time.perf_counter()
            try:
                found = fn(sample.sequence)
            except AlignmentError:
                failures[m] += 1
                continue
            times[m].append((time.perf_counter() - t0) * 1e3)
            errors[m].append(keyframe_errors(found, sample.keyframes, names))
    res = {m: summarize(errors[m], names, failures[m], times[m]) for m in methods}
    main = res.get("motiondtw", next(iter(res.values())))
    return {
        "action": action,
        "n": int(n),
        "seed": int(seed),
        "condition": condition,
        "faults": "population mix" if faults is None else ("none" if not faults else faults),
        "attempts_with_faults": n_faulty,
        "reference_version": ref.version,
        "mean_keyframe_error_frames": main["mean_keyframe_error_frames"],
        "methods": res,
    }


def evaluate_align_actions(
    actions: Sequence[str] = ACTION_IDS,
    n: int = 50,
    seed: int = 0,
    methods: Sequence[str] = METHODS,
    condition: str = "normal",
    reference_dir=None,
    faults=None,
) -> dict:
    """``evaluate_align`` per action plus each method's mean over the actions."""
    per = {a: evaluate_align(a, n, seed, methods, condition, reference_dir, faults) for a in actions}
    means = {}
    for m in methods:
        vals = [per[a]["methods"][m]["mean_keyframe_error_frames"] for a in actions]
        means[m] = float(np.mean(vals)) if all(v is not None for v in vals) else None
    return {
        "actions": per,
        "n": int(n),
        "seed": int(seed),
        "condition": condition,
        "faults": "population mix" if faults is None else ("none" if not faults else faults),
        "mean_keyframe_error_frames": means.get("motiondtw", next(iter(means.values()))),
        "methods_mean_keyframe_error_frames": means,
    }


def format_align(res: dict) -> str:
    """A table for a terminal: one row per method, one column per action (mean keyframe error)."""
    per = res["actions"] if "actions" in res else {res["action"]: res}
    actions = list(per)
    methods = list(next(iter(per.values()))["methods"])
    head = f"{'method':34s}" + "".join(f"{a[:14]:>15s}" for a in actions) + ("       mean" if len(actions) > 1 else "")
    lines = [
        f"mean keyframe error (frames), n = {res['n']} per action, seed {res['seed']}, {res['condition']}, "
        f"faults: {res.get('faults', 'population mix')}",
        head,
    ]
    for m in methods:
        vals = [per[a]["methods"][m]["mean_keyframe_error_frames"] for a in actions]
        cells = "".join(f"{v:15.2f}" if v is not None else f"{'failed':>15s}" for v in vals)
        if len(actions) > 1:
            mean = res["methods_mean_keyframe_error_frames"][m]
            cells += f"{mean:11.2f}" if mean is not None else f"{'-':>11s}"
        fails = sum(per[a]["methods"][m]["failures"] for a in actions)
        lines.append(f"{PAPER_NAMES[m]:34s}{cells}" + (f"  ({fails} failed)" if fails else ""))
    for a in actions:
        mk = per[a]["methods"].get("motiondtw")
        if mk and mk.get("per_keyframe"):
            kf = ", ".join(f"{k} {v:.2f}" for k, v in mk["per_keyframe"].items())
            lines.append(f"  {a} per keyframe (MotionDTW): {kf}")
    return "\n".join(lines)
