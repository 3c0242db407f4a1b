"""Fill the analysis report's ``score``, ``grade``, ``phase_scores`` and ``model`` from the shipped scorer.

``attach_score(report, seq, action, models_dir)`` loads (once per process, per directory and
action) the verified bundle ``models_dir/<action>/`` and scores the attempt. When the model is
missing, corrupt, fails its sha256 or golden check, or the attempt cannot be prepared, the four
fields stay null and one sentence saying why goes to ``report["not_computed"]``: the rest of the
analysis still runs. ``models_dir`` relative paths are taken from the repository root when they do
not exist relative to the working directory (the default ``models/shipped``).
"""

from __future__ import annotations

import time
from pathlib import Path

from edge.score.backends import BackendUnavailable
from edge.score.bundle import ModelFileError
from edge.score.scorer import Scorer
from edge.skeleton.sequence import SkeletonSequence

REPO_ROOT = Path(__file__).resolve().parents[2]
_CACHE: dict[tuple[str, str, str], Scorer] = {}


def resolve_models_dir(models_dir: str | Path) -> Path:
    p = Path(models_dir)
    if p.is_absolute() or p.exists():
        return p
    return REPO_ROOT / p


def get_scorer(models_dir: str | Path, action: str, backend: str = "auto") -> Scorer:
    """A cached ``Scorer.load`` (the golden check runs once per process and model)."""
    d = resolve_models_dir(models_dir)
    key = (str(d.resolve()), action, backend)
    if key not in _CACHE:
        _CACHE[key] = Scorer.load(d, action, backend=backend)
    return _CACHE[key]


def attach_score(report: dict, seq: SkeletonSequence, action: str, models_dir: str | Path, backend: str = "auto") -> None:
    """Fill score, grade, phase_scores, model and timings_ms['score'] in place (see the module docstring)."""
    t0 = time.perf_counter()
    notes = report.setdefault("not_computed", [])
    try:
        scorer = get_scorer(models_dir, action, backend)
        result = scorer.score(seq)
    except (ModelFileError, BackendUnavailable, ValueError) as e:
        notes.append(f"score, grade, phase_scores: {e}")
        return
    report["score"] = round(result.score, 1)
    report["grade"] = result.grade
    report["phase_scores"] = {k: round(v, 1) for k, v in (result.phase_scores or {}).items()} or None
    report["model"] = {k: result.model[k] for k in ("name", "version", "sha256")} | {"backend": result.model["backend"]}
    report.setdefault("timings_ms", {})["score"] = (time.perf_counter() - t0) * 1e3
