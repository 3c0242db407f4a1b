"""The data behind each screen, as JSON-ready dicts: an attempt's result, a class's overview.

Works whatever report fields are null (a stage not installed): a missing score stays ``None`` and
the screen says "not computed"; nothing is filled in. Problems and cues not carried by the report
are looked up in the action spec by problem id (the spec is the source of titles and screen cues).
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np

from edge.actions.spec import ActionSpec, ActionSpecError, load_action
from edge.report import to_json
from edge.skeleton.sequence import SkeletonSequence
from edge.store.db import read_snapshot
from edge.store.repository import Attempt, best_scores, get_class, list_attempts, list_students
from edge.web.curves import curve_view
from edge.web.projection import poses_at

#: A class-view trend needs this many scored attempts; |slope| above TREND_FLAT points per attempt
#: is shown as rising or falling.
TREND_MIN_ATTEMPTS = 3
TREND_FLAT = 1.0


def spec_or_none(action: str) -> ActionSpec | None:
    try:
        return load_action(action)
    except ActionSpecError:
        return None


def _strength_text(s) -> str:
    if isinstance(s, str):
        return s
    if isinstance(s, dict):
        return str(s.get("text") or s.get("title") or "")
    return str(s)


def _problems(problems: list, effective_ids: list[str] | None, spec: ActionSpec | None) -> list[dict]:
    """Report problems (or the teacher's effective ids), each with title, cue, probability, evidence."""
    by_id = {p["id"]: p for p in problems if isinstance(p, dict) and "id" in p}
    spec_by_id = {p.id: p for p in spec.problems} if spec else {}
    ids = list(by_id) if effective_ids is None else list(effective_ids)
    out = []
    for pid in ids:
        p, sp = by_id.get(pid, {}), spec_by_id.get(pid)
        out.append(
            {
                "id": pid,
                "title": p.get("title") or (sp.title if sp else pid),
                "cue": p.get("cue") or (sp.cue if sp else None),
                "probability": p.get("probability"),
                "evidence": p.get("evidence"),
                "phase": p.get("phase") or (sp.phase if sp else None),
                "from_teacher": pid not in by_id,
            }
        )
    return out


def _phases(phase_scores: dict | None, spec: ActionSpec | None) -> list[dict] | None:
    if not phase_scores:
        return None
    names = [p.name for p in spec.phases] if spec else []
    names += [k for k in phase_scores if k not in names]
    return [{"name": n, "score": phase_scores.get(n)} for n in names]


def _keyframes(keyframes: list, skeleton: SkeletonSequence | None) -> list[dict]:
    kfs = [k for k in keyframes if isinstance(k, dict) and isinstance(k.get("frame"), int)]
    if skeleton is None:
        return [{"name": k.get("name"), "frame": k["frame"], "t": k.get("t"), "pose": None} for k in kfs]
    kfs = [k for k in kfs if 0 <= k["frame"] < skeleton.n_frames]
    poses = poses_at(skeleton.joints, skeleton.confidence, [k["frame"] for k in kfs])
    t0 = float(skeleton.t[0])
    return [
        {"name": k.get("name"), "frame": k["frame"], "t": round(float(skeleton.t[k["frame"]]) - t0, 3), "pose": p}
        for k, p in zip(kfs, poses)
    ]


def attempt_view(
    report: dict,
    skeleton: SkeletonSequence | None,
    *,
    references=(),
    student: dict | None = None,
    attempt: Attempt | None = None,
) -> dict:
    """The result screen of one attempt.

    ``report``: the analysis report (``edge.report`` keys), or for a stored attempt the same fields
    as saved. ``attempt``: the stored attempt, whose *effective* values (teacher overrides) win.
    ``references``: reference templates of the action for the angle plot's band.
    """
    report = json.loads(to_json(report, indent=None))  # numpy scalars -> numbers, NaN -> null
    action = report["action"]
    spec = spec_or_none(action)
    effective_ids = attempt.effective_problems if attempt is not None else None
    keyframes = _keyframes(report.get("keyframes") or [], skeleton)
    curve = None
    if skeleton is not None and spec is not None:
        kf = {k["name"]: k["frame"] for k in keyframes if k["name"]}
        curve = curve_view(spec, skeleton.joints, skeleton.confidence, skeleton.t, kf, references)
    view = {
        "action": action,
        "action_name": spec.name if spec else action,
        "student": student,
        "attempt_id": attempt.id if attempt else None,
        "created_at": attempt.created_at if attempt else None,
        "score": attempt.effective_score if attempt else report.get("score"),
        "grade": attempt.effective_grade if attempt else report.get("grade"),
        "model_score": report.get("score"),
        "model_grade": report.get("grade"),
        "overridden": bool(attempt.overridden) if attempt else False,
        "phase_scores": _phases(report.get("phase_scores"), spec),
        "keyframes": keyframes,
        "problems": _problems(report.get("problems") or [], effective_ids, spec),
        "strengths": [t for t in (_strength_text(s) for s in report.get("strengths") or []) if t],
        "guidance": report.get("guidance"),
        "metrics": [m for m in report.get("metrics") or [] if isinstance(m, dict)],
        "curve": curve,
        "model": report.get("model"),
        "n_frames": report.get("n_frames"),
        "fps": report.get("fps"),
        "not_computed": list(report.get("not_computed") or []),
    }
    return view


def stored_attempt_view(attempt: Attempt, student, references=()) -> dict:
    """``attempt_view`` of an attempt read from the store (with its skeleton)."""
    report = {
        "action": attempt.action,
        "n_frames": attempt.n_frames,
        "fps": attempt.fps,
        "score": attempt.score,
        "grade": attempt.grade,
        "phase_scores": attempt.phase_scores,
        "keyframes": attempt.keyframes,
        "metrics": attempt.metrics,
        "problems": attempt.problems,
        "strengths": attempt.strengths,
        "guidance": attempt.guidance,
        "timings_ms": {},
        "model": {"name": attempt.model_name, "version": attempt.model_version, "sha256": attempt.model_sha256}
        if attempt.model_name or attempt.model_version
        else None,
    }
    who = {"id": student.id, "label": student.label, "pseudonym": student.pseudonym}
    return attempt_view(report, attempt.skeleton, references=references, student=who, attempt=attempt)


def trend(scores: list[float]) -> dict | None:
    """Least-squares slope of the scores against attempt number (points per attempt) and its direction."""
    if len(scores) < TREND_MIN_ATTEMPTS:
        return None
    x = np.arange(len(scores), dtype=float)
    slope = float(np.polyfit(x, np.asarray(scores, dtype=float), 1)[0])
    direction = "up" if slope > TREND_FLAT else "down" if slope < -TREND_FLAT else "flat"
    return {"slope": round(slope, 2), "direction": direction}


def class_overview(conn: sqlite3.Connection, class_id: int, action: str) -> dict:
    """Students x attempts of ``action`` in the class: effective scores, best, trend."""
    with read_snapshot(conn):
        cls = get_class(conn, class_id)
        students = list_students(conn, class_id)
        attempts = list_attempts(conn, class_id=class_id, action=action)
        best = {b.student_id: b for b in best_scores(conn, class_id, action)}
    by_student: dict[int, list[Attempt]] = {}
    for a in attempts:
        by_student.setdefault(a.student_id, []).append(a)
    rows = []
    for s in students:
        mine = by_student.get(s.id, [])
        scored = [a.effective_score for a in mine if a.effective_score is not None]
        b = best.get(s.id)
        rows.append(
            {
                "id": s.id,
                "label": s.label,
                "pseudonym": s.pseudonym,
                "attempts": [
                    {"id": a.id, "score": a.effective_score, "grade": a.effective_grade,
                     "overridden": a.overridden, "created_at": a.created_at}
                    for a in mine
                ],  # fmt: skip
                "best": {"score": b.score, "attempt_id": b.attempt_id} if b else None,
                "trend": trend(scored),
            }
        )
    spec = spec_or_none(action)
    return {
        "class": {"id": cls.id, "name": cls.name},
        "action": action,
        "action_name": spec.name if spec else action,
        "students": rows,
        "n_attempts": len(attempts),
    }
