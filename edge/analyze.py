"""One attempt through the analysis pipeline: validate, normalize, then each stage that exists.

Stages that have not landed yet leave their report fields null and are listed in
``not_computed``; nothing is invented.

Keyframes and diagnosis: the action's shipped references (``calibration.reference``: templates,
calibrated normal ranges and the settings they were made with, hash-checked against their
manifest) -> MotionDTW against every template with voting (``edge.align.align_multi``; the input
may be a whole recording with idle time before and after the attempt) -> KISMAM
(``edge.diagnose.diagnose`` with the calibrated ranges). Missing or changed reference files stop
the analysis with one sentence (AnalysisError). An input in which no reference finds a match of
an allowed length (e.g. shorter than half the reference) is reported with the keyframe fields
empty and the reason under ``not_computed``.
"""

from __future__ import annotations

import atexit
import time
from pathlib import Path

import numpy as np

from edge.actions.spec import ActionSpecError, load_action
from edge.align import AlignmentError, FeatureError, align_multi, prepare_template
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


def analyze_sequence(
    seq: SkeletonSequence, action: str | None, config: FieldCoachConfig, reference_dir=None
) -> dict:
    """Analyse one attempt; returns the report dict (DESIGN.md keys plus ``input``, ``not_computed``,
    ``reference``, ``alignment``). reference_dir: the reference bundle (default: the shipped one)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        seq.validate()
    except SkeletonFileError as e:
        raise AnalysisError(str(e)) from None
    timings["validate"] = (time.perf_counter() - t0) * 1e3
    t_spec = time.perf_counter()
    action = resolve_action(seq, action)  # parses the action's spec on first use
    timings["load_spec"] = (time.perf_counter() - t_spec) * 1e3
    t0 = time.perf_counter()
    seen = seq.visible(config.analysis.min_confidence)
    seen_fraction = float(seen.mean())
    if 1.0 - seen_fraction > config.analysis.max_missing_fraction:
        raise AnalysisError(
            f"only {100 * seen_fraction:.0f}% of the joints were seen, too few to analyse this attempt."
        )
    timings["validate"] += (time.perf_counter() - t0) * 1e3

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
    not_computed: list[str] = []
    skipped = keyframes_and_diagnosis(seq, action, report, reference_dir)
    if skipped:
        not_computed.append(f"keyframes, metrics, problems, strengths ({skipped})")
    not_computed.append("guidance (not asked for)")
    report["not_computed"] = not_computed
    # Scorer (edge/score): score, grade, phase_scores, model; a missing or bad model leaves them null with a reason.
    from edge.score.attach import attach_score

    attach_score(report, seq, action, config.paths.models_dir)
    if config.guidance_in_analyze:
        attach_guidance(report, config)
    return report


def attach_guidance(report: dict, config: FieldCoachConfig, on_token=None) -> dict:
    """SportsRAG guidance into ``report['guidance']``; a missing index or embedder leaves it null
    with the reason in ``not_computed`` (never invented)."""
    from edge.guide.embed import EmbeddingError
    from edge.guide.guide import Guide, add_guidance
    from edge.guide.retrieve import ReportError
    from edge.guide.store import StoreError

    pending = [p for p in report.get("not_computed", []) if not str(p).startswith("guidance")]
    try:
        key = config.guide.model_dump_json()
        guide = _GUIDES.get(key)
        if guide is None:  # opened once per process and configuration: store, embedder, model
            guide = _GUIDES[key] = Guide(config.guide)
            atexit.register(guide.close)
        add_guidance(report, guide, on_token)
    except (StoreError, EmbeddingError, ReportError) as e:
        report["not_computed"] = pending + [f"guidance ({str(e).rstrip('.')})"]
    return report


_GUIDES: dict = {}


_REFERENCES: dict[tuple, tuple] = {}


def _reference(action: str, reference_dir, load_reference, spec):
    """The action's Reference and prepared templates, loaded (hash-checked) once per process and
    manifest version: a session analysing many attempts pays the ~30 ms of loading once."""
    from calibration.reference import DEFAULT_REFERENCE_DIR, MANIFEST_FILE

    folder = Path(reference_dir) if reference_dir is not None else DEFAULT_REFERENCE_DIR
    try:
        stamp = (folder / MANIFEST_FILE).stat().st_mtime_ns
    except OSError:
        stamp = None  # load_reference says what is missing
    key = (action, str(folder.resolve()), stamp)
    hit = _REFERENCES.get(key)
    if hit is None:
        ref = load_reference(action, folder)
        hit = (ref, [prepare_template(t, spec, ref.config) for t in ref.templates])
        if stamp is not None:
            _REFERENCES[key] = hit
    return hit


def keyframes_and_diagnosis(seq: SkeletonSequence, action: str, report: dict, reference_dir=None) -> str | None:
    """MotionDTW keyframes and the KISMAM diagnosis into ``report`` (timings ``load_reference``,
    ``align``, ``diagnose``); returns None, or why no keyframes were found (one sentence)."""
    from calibration.reference import load_reference
    from calibration.templates import ReferenceFileError

    timings = report["timings_ms"]
    spec = load_action(action)
    t0 = time.perf_counter()
    try:
        ref, prepared = _reference(action, reference_dir, load_reference, spec)
    except ReferenceFileError as e:
        raise AnalysisError(str(e)) from None
    timings["load_reference"] = (time.perf_counter() - t0) * 1e3
    report["reference"] = ref.describe()

    t1 = time.perf_counter()
    try:
        result = align_multi(prepared, seq, spec, ref.config)
    except AlignmentError as e:
        if "fps" in str(e):
            raise AnalysisError(str(e)) from None
        return f"MotionDTW found no {action} in this input: {str(e).rstrip('.')}"
    except FeatureError as e:
        return f"MotionDTW could not measure this input: {str(e).rstrip('.')}"
    timings["align"] = (time.perf_counter() - t1) * 1e3
    report["alignment"] = {
        "interval": list(result.interval),
        "cost": result.cost,
        "best_reference": result.reference,
        "votes": {k: list(v) for k, v in result.votes.items()},
        "references_voting": len(next(iter(result.votes.values()), ())),
    }

    t2 = time.perf_counter()
    diag = ref.diagnose(seq, spec, result.keyframes)
    timings["diagnose"] = (time.perf_counter() - t2) * 1e3
    report.update(diag.to_report())
    return None
