"""Reference templates for MotionDTW: medoids of elite simulated performances (SportsGPT Sec. 3.1).

The paper builds its target models from elite athletes' performances with annotated keyframes and
names multi-reference voting as the way to handle stylistic variation. Here, per action:

1. Elite candidates: attempts of the simulated athlete without injected faults (``faults=[]``)
   whose rubric score (``true_score``) is at least the median of a label-only pool twice the
   size (``edge.sim.draw_labels``, no rendering), i.e. the better half of fault-free students.
2. Each candidate becomes a template: its **clean** joints (world frame, no camera noise, no
   drop-outs) from ``margin_frames`` before its first keyframe to ``margin_frames`` after its
   last, with the simulator's keyframes (events of the motion itself). Clean, not observed: a
   reference is recorded once under controlled conditions (the paper's annotated elite models);
   the camera noise belongs to the input, and noise on both sides only adds to every distance.
   Features are joint angles, so the world frame vs camera yaw makes no difference. On the
   development attempts (seeds 500-519, three references) clean and observed references gave the
   same mean keyframe error (1.79 frames both, per action within 0.15 frame).
3. ``n_references`` medoids (k-medoids, PAM build + swap) under the MotionDTW distance between
   candidates (banded DTW of the Eq. 1 features, Eq. 2 distance, cost per path step). Medoids,
   not a DBA average: a medoid is a performance someone did, its keyframes are the events of that
   performance, and styles that differ (a long jump with or without the arm pre-swing, a squat
   with the arms forward or overhead) stay separate references instead of averaging into a
   motion nobody performs; MotionDTW's voting (``align_multi``) then lets the references that
   match the input best decide.

Seeds: calibration attempt i of any action is ``simulate(action, CALIBRATION_SEED_BASE + i)``
with ``CALIBRATION_SEED_BASE = 2**31``; templates use i in [0, 10**5), normal ranges
(``calibration.ranges``) i in [10**5, 2 * 10**5). Held-out evaluation seeds
(``edge.evaluate``) are below 2**31, so the two never meet.

Files: ``<action>_ref<k>.npz`` (``edge.align.Template`` format) in the reference directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge.actions.spec import ActionSpec, load_action
from edge.align import MotionDTWConfig, Template, TemplateError
from edge.align.dtw import banded_dtw_sqdist, windowed_sqdist
from edge.align.features import motion_features

#: First simulate() seed used for calibration; evaluation seeds are below it.
CALIBRATION_SEED_BASE = 2**31
#: Offset (within the calibration seeds) of the attempts used for normal ranges.
RANGES_SEED_OFFSET = 10**5
#: Template joints are rounded to this many decimals of a metre (1 mm).
JOINT_DECIMALS = 3


class ReferenceFileError(ValueError):
    """Reference files (templates or ranges) are missing or invalid; the message is one sentence."""


def read_versioned_json(path: Path, what: str, format_version: int, missing_hint: str) -> dict:
    """A versioned JSON document of the reference bundle; ReferenceFileError (one sentence) when it
    is missing (with ``missing_hint``), unreadable, or of another format version."""
    import json

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReferenceFileError(f"no {what} {path}; {missing_hint}.") from None
    except (OSError, ValueError) as e:
        raise ReferenceFileError(f"{path}: not a readable {what} ({e.__class__.__name__}).") from None
    if not isinstance(doc, dict) or doc.get("format_version") != format_version:
        raise ReferenceFileError(f"{path}: {what} format version must be {format_version}.")
    return doc


class TemplateBuildConfig(BaseModel):
    """How the reference templates of one action are chosen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_references: int = Field(10, ge=1, le=20, description="templates per action (medoids)")
    n_candidates: int = Field(40, ge=1, le=1000, description="elite attempts rendered and clustered")
    pool_factor: int = Field(2, ge=1, le=20, description="label-only pool = pool_factor x n_candidates")
    margin_frames: int = Field(15, ge=0, le=120, description="frames kept before the first / after the last keyframe")
    source: str = Field("clean", pattern="^(clean|observed)$", description="joints of the template: clean motion or observed")
    seed_offset: int = Field(0, ge=0, lt=RANGES_SEED_OFFSET, description="first calibration index used")


def calibration_seed(index: int) -> int:
    """The simulate() seed of calibration attempt ``index`` (>= 0)."""
    if index < 0:
        raise ValueError(f"calibration index must be >= 0, got {index}.")
    return CALIBRATION_SEED_BASE + int(index)


def is_calibration_seed(seed: int) -> bool:
    """True for seeds reserved for calibration (templates and ranges)."""
    return int(seed) >= CALIBRATION_SEED_BASE


def elite_seeds(action: str, config: TemplateBuildConfig) -> list[int]:
    """Seeds of the elite candidates: the fault-free pool's better half by rubric score, best first."""
    from edge.sim import draw_labels

    pool = [calibration_seed(config.seed_offset + i) for i in range(config.pool_factor * config.n_candidates)]
    scores = np.array([draw_labels(action, s, faults=[])["true_score"] for s in pool])
    order = np.argsort(-scores, kind="stable")
    return [pool[i] for i in order[: config.n_candidates]]


def template_from_sample(sample, margin: int, source: str = "clean") -> Template:
    """Template from a ``SimSample``: joints from ``margin`` frames before the first keyframe to
    ``margin`` after the last (rounded to 1 mm: ten times finer than the camera's jitter, and the
    file compresses to half), keyframes shifted accordingly; name ``sim-<action>-<seed>``."""
    kf = sample.keyframes
    first, last = min(kf.values()), max(kf.values())
    n = sample.sequence.n_frames
    a, b = max(0, first - margin), min(n - 1, last + margin)
    joints = sample.clean_joints if source == "clean" else sample.sequence.joints
    joints = np.round(np.asarray(joints[a : b + 1], dtype=np.float64), JOINT_DECIMALS)
    return Template(
        action=sample.action,
        joints=joints.astype(np.float32),
        fps=sample.sequence.fps,
        keyframes={k: int(v) - a for k, v in kf.items()},
        name=f"sim-{sample.action}-{sample.seed}",
    )


def dtw_distance_matrix(templates: list[Template], spec: ActionSpec, config: MotionDTWConfig | None = None) -> np.ndarray:
    """(k, k) MotionDTW distance between templates: banded DTW cost of their Eq. 1 features
    (Eq. 2 distance, ``config.cost``) divided by the warping-path length; symmetric, zero diagonal."""
    config = config or MotionDTWConfig()
    feats = [motion_features(t.joints, spec, config.features) for t in templates]
    k = len(templates)
    d = np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            fi, fj = feats[i], feats[j]
            sq = windowed_sqdist(fi.frames, fj.frames, fi.window, fi.frame_weights)
            radius = config.radius(min(fi.n_frames, fj.n_frames))
            cost, path = banded_dtw_sqdist(sq, radius, config.cost)
            d[i, j] = d[j, i] = cost / len(path)
    return d


def k_medoids(dist: np.ndarray, k: int) -> list[int]:
    """Indices of k medoids of a (n, n) distance matrix: PAM build, then swaps while the total
    distance of points to their nearest medoid falls. Deterministic (ties: lowest index)."""
    d = np.asarray(dist, dtype=np.float64)
    n = d.shape[0]
    if d.ndim != 2 or d.shape != (n, n) or n == 0:
        raise ValueError(f"the distance matrix must be square and non-empty, got {d.shape}.")
    if not 1 <= k <= n:
        raise ValueError(f"k must lie in [1, {n}], got {k}.")
    medoids = [int(np.argmin(d.sum(axis=1)))]
    while len(medoids) < k:
        near = d[:, medoids].min(axis=1)
        gains = np.array([np.maximum(near - d[:, c], 0.0).sum() if c not in medoids else -1.0 for c in range(n)])
        medoids.append(int(np.argmax(gains)))

    def total(ms):
        return float(d[:, ms].min(axis=1).sum())

    best = total(medoids)
    improved = True
    while improved:
        improved = False
        for mi in range(k):
            for c in range(n):
                if c in medoids:
                    continue
                trial = medoids[:mi] + [c] + medoids[mi + 1 :]
                t = total(trial)
                if t < best - 1e-12:
                    medoids, best, improved = trial, t, True
    return medoids


@dataclass(frozen=True)
class TemplateSet:
    """The chosen references of one action and how they were chosen.

    templates: the medoids, most central first. seeds: their simulate() seeds. candidate_seeds:
    every elite candidate. distances: (n_candidates, n_candidates) MotionDTW distances.
    """

    action: str
    templates: tuple[Template, ...]
    seeds: tuple[int, ...]
    candidate_seeds: tuple[int, ...]
    distances: np.ndarray


def build_templates(action: str, config: TemplateBuildConfig | None = None, align_config: MotionDTWConfig | None = None) -> TemplateSet:
    """Elite candidates -> templates -> ``n_references`` medoids (module doc)."""
    from edge.sim import simulate

    config = config or TemplateBuildConfig()
    if config.n_references > config.n_candidates:
        raise ValueError(
            f"n_references ({config.n_references}) cannot exceed n_candidates ({config.n_candidates})."
        )
    spec = load_action(action)
    seeds = elite_seeds(action, config)
    cands = [
        template_from_sample(simulate(action, s, faults=[], condition="normal"), config.margin_frames, config.source)
        for s in seeds
    ]
    dist = dtw_distance_matrix(cands, spec, align_config)
    chosen = k_medoids(dist, config.n_references)
    chosen.sort(key=lambda i: dist[i].sum())
    return TemplateSet(
        action=action,
        templates=tuple(cands[i] for i in chosen),
        seeds=tuple(seeds[i] for i in chosen),
        candidate_seeds=tuple(seeds),
        distances=dist,
    )


def template_file_name(action: str, k: int) -> str:
    return f"{action}_ref{k}.npz"


def save_templates(tset: TemplateSet, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``<action>_ref<k>.npz`` for each template (atomic, byte-reproducible); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, t in enumerate(tset.templates):
        p = out / template_file_name(tset.action, k)
        t.save(p)
        paths.append(p)
    return paths


def load_templates(ref_dir: str | os.PathLike, action: str) -> list[Template]:
    """Every ``<action>_ref<k>.npz`` in ``ref_dir`` (k = 0, 1, ...); ReferenceFileError when there
    are none or one is unreadable or for another action."""
    ref_dir = Path(ref_dir)
    paths = sorted(ref_dir.glob(f"{action}_ref*.npz"), key=lambda p: (len(p.name), p.name))
    if not paths:
        raise ReferenceFileError(
            f"no reference templates for {action} in {ref_dir}; build them with `python -m calibration.build`."
        )
    out = []
    for p in paths:
        try:
            t = Template.load(p)
        except TemplateError as e:
            raise ReferenceFileError(str(e)) from None
        if t.action != action:
            raise ReferenceFileError(f"{p}: template is for {t.action}, not {action}.")
        out.append(t)
    return out
