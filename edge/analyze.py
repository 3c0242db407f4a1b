"""One attempt through the analysis pipeline: validate, normalize, then each stage that exists.

Stages that have not landed yet leave their report fields null and are listed in
``not_computed``; nothing is invented.
"""

from __future__ import annotations

import time

import numpy as np

from edge.actions.spec import ActionSpecError, load_action
from edge.config import FieldCoachConfig
from edge.report import empty_report
from edge.skeleton.io import SkeletonFileError
from edge.skeleton.normalize import normalize
from edge.skeleton.sequence import SkeletonSequence


class AnalysisError(ValueError):
    """The input cannot be analysed; the message is one sentence."""


def resolve_action(seq: SkeletonSequence, action: str | None) -> str:
    """The action to analyse: the one asked for, checked against the file's own label."""
    if action is None:
        if seq.action is None:
            raise AnalysisError("the file does not say which action it holds; pass --action.")
        action = seq.action
    elif seq.action is not None and seq.action != action:
        raise AnalysisError(f"the file holds a {seq.action} attempt, not {action}.")
    try:
        load_action(action)
    except ActionSpecError as e:
        raise AnalysisError(str(e)) from None
    return action


def analyze_sequence(seq: SkeletonSequence, action: str | None, config: FieldCoachConfig) -> dict:
    """Analyse one attempt; returns the report dict (DESIGN.md keys plus ``input``, ``not_computed``)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        seq.validate()
    except SkeletonFileError as e:
        raise AnalysisError(str(e)) from None
    action = resolve_action(seq, action)
    seen = seq.visible(config.analysis.min_confidence)
    seen_fraction = float(seen.mean())
    if 1.0 - seen_fraction > config.analysis.max_missing_fraction:
        raise AnalysisError(
            f"only {100 * seen_fraction:.0f}% of the joints were seen, too few to analyse this attempt."
        )
    timings["validate"] = (time.perf_counter() - t0) * 1e3

    t1 = time.perf_counter()
    try:
        norm = normalize(seq.joints, config.analysis.normalize_centre, config.analysis.normalize_per_frame)
    except ValueError as e:
        raise AnalysisError(str(e)) from None
    timings["normalize"] = (time.perf_counter() - t1) * 1e3

    report = empty_report(action, seq.n_frames, seq.fps)
    report["timings_ms"] = timings
    report["input"] = {
        "duration_s": seq.duration,
        "seen_fraction": seen_fraction,
        "normalized_trunk_frames": int(np.isfinite(norm).all(axis=(1, 2)).sum()),
        "subject": seq.subject,
    }
    report["config_hash"] = config.config_hash()
    report["not_computed"] = [
        "score, grade, phase_scores (scorer not installed)",
        "keyframes, metrics, problems, strengths (MotionDTW/KISMAM not installed)",
        "guidance (SportsRAG not installed)",
    ]
    return report
