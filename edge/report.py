"""The analysis report (DESIGN.md "Analysis report"): its keys, construction and text rendering.

Every key is always present. A value the pipeline has not computed is ``None`` (JSON null) or an
empty list — never invented.
"""

from __future__ import annotations

import json
import math

REPORT_KEYS: tuple[str, ...] = (
    "action",
    "n_frames",
    "fps",
    "score",
    "grade",
    "phase_scores",
    "keyframes",
    "metrics",
    "problems",
    "strengths",
    "guidance",
    "timings_ms",
    "model",
)


def empty_report(action: str, n_frames: int, fps: float) -> dict:
    """A report with every DESIGN.md key; nothing beyond the input facts is filled in."""
    return {
        "action": action,
        "n_frames": int(n_frames),
        "fps": float(fps),
        "score": None,
        "grade": None,
        "phase_scores": None,
        "keyframes": [],
        "metrics": [],
        "problems": [],
        "strengths": [],
        "guidance": None,
        "timings_ms": {},
        "model": None,
    }


def json_safe(obj):
    """JSON-safe copy: numpy scalars to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "shape", None) == ():
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def to_json(report: dict, indent: int | None = 2) -> str:
    missing = [k for k in REPORT_KEYS if k not in report]
    if missing:
        raise ValueError(f"report lacks keys: {', '.join(missing)}")
    return json.dumps(json_safe(report), indent=indent, allow_nan=False)


def _fmt(v, unit: str = "") -> str:
    if v is None:
        return "not computed"
    if isinstance(v, float):
        return f"{v:.1f}{unit}"
    return f"{v}{unit}"


def format_text(report: dict) -> str:
    """A readable report for a terminal; says plainly what is not computed yet."""
    r = report
    lines = [
        f"FieldCoach analysis — {r['action']}",
        f"  frames: {r['n_frames']} at {r['fps']:.1f} Hz",
    ]
    inp = r.get("input") or {}
    if inp:
        lines.append(
            f"  duration: {inp.get('duration_s', 0):.2f} s, joints seen: {100 * inp.get('seen_fraction', 0):.0f}%"
        )
    lines.append(f"  score: {_fmt(r['score'])}   grade: {_fmt(r['grade'])}")
    if r["phase_scores"]:
        lines.append("  phases: " + ", ".join(f"{k} {_fmt(v)}" for k, v in r["phase_scores"].items()))
    else:
        lines.append("  phases: not computed")
    if r["keyframes"]:
        lines.append("  keyframes: " + ", ".join(f"{k['name']}@{k['frame']}" for k in r["keyframes"]))
    if r["problems"]:
        lines.append("  problems:")
        for p in r["problems"]:
            lines.append(f"    - {p['title']} ({100 * p['probability']:.0f}%)")
    else:
        lines.append("  problems: not computed" if not r["metrics"] else "  problems: none")
    if r["strengths"]:
        lines.append("  strengths: " + ", ".join(s if isinstance(s, str) else s.get("title", "") for s in r["strengths"]))
    g = r["guidance"]
    lines.append("  guidance: " + (g["text"] if g else "not computed"))
    pending = r.get("not_computed") or []
    if pending:
        lines.append("  not computed yet: " + ", ".join(pending))
    if r["timings_ms"]:
        lines.append("  timings: " + ", ".join(f"{k} {v:.1f} ms" for k, v in r["timings_ms"].items()))
    return "\n".join(lines)
