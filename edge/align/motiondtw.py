"""MotionDTW: two-stage alignment of an attempt to reference templates -> keyframes (SportsGPT Sec. 3.1).

Stage 1 (subsequence search) finds the interval [t_start, t_end] of the input that best matches
the template. Default ``stage1="open_end"``: one open-begin/open-end subsequence DTW pass over the
whole input (matches spanning 0.7–1.4 times the template length). ``"windows"`` is the paper's
sliding-window search (banded DTW of the whole template against windows of 0.7–1.4 times its
length, cost normalized by the template length). On synthetic jumps with idle lead-in/out both
gave the same keyframes; open_end found tighter intervals and is about 4x faster over the whole
alignment (``python -m edge.align.bench``). ``"none"`` skips Stage 1 and aligns the whole input
(the paper's One-Stage ablation).

Stage 2 aligns the template to the interval with banded DTW (Eq. 3) and carries each template
keyframe k through the warping path: the keyframe's input frame is the median of the input frames
matched to template frame k (a half frame rounds up), plus t_start.

Both stages share one matrix of weighted squared feature distances (Eq. 2) between the template
and the whole input (computed from per-frame features with ``windowed_sqdist``). Band radii are
fractions of the template length (at least ``min_radius``); the band is ``edge.align.dtw``'s.

Entry points: ``align`` (Template or PreparedTemplate + SkeletonSequence + ActionSpec),
``align_multi`` (several references, voting), ``align_features`` (feature arrays) and
``align_sqdist`` (a precomputed distance matrix); all return ``KeyframeResult``.

Several references vote (``align_multi``): each is aligned on its own (a reference with no
Stage-1 match of an allowed length does not vote; if none matches, the first one's
AlignmentError is raised); references whose Stage-2 cost exceeds ``vote_cost_ratio`` times the
best are dropped, and each keyframe is the median of the remaining references' frames (rounded
half up). Keyframes are input frame indices; the caller turns them into times with the
sequence's ``t``.

Beyond the paper: after the transfer (and the vote), ``align`` and ``align_multi`` refine the
keyframes that the spec defines by an event on the hips (the onset of the descent, stillness
after the movement, the lowest hip position) on the input's own mid-hip track
(:mod:`edge.align.refine`, ``config.refine``), each detector calibrated on the references that
voted. ``KeyframeResult.transferred`` keeps the frames before refinement. ``align_sqdist`` and
``align_features`` (no skeleton) return the transferred keyframes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge.actions.spec import ActionSpec
from edge.align.dtw import banded_dtw_sqdist, pairwise_sqdist, windowed_sqdist
from edge.align.features import FeatureConfig, MotionFeatures, motion_features
from edge.align.refine import RefineConfig, RefineError, calibrate, reference_events, refine_keyframes
from edge.align.subsequence import subsequence_dtw_sqdist, subsequence_search_sqdist
from edge.align.template import Template
from edge.skeleton.sequence import SkeletonSequence


class AlignmentError(ValueError):
    """An alignment cannot be done with these inputs; the message is one sentence."""


class MotionDTWConfig(BaseModel):
    """The one validated configuration of MotionDTW."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: FeatureConfig = Field(default_factory=FeatureConfig, description="feature construction (Eq. 1)")
    stage1: Literal["windows", "open_end", "none"] = Field(
        "open_end", description="Stage 1: open-begin/open-end DTW, sliding windows (paper), or 'none' (One-Stage ablation)"
    )
    radius_fraction: float = Field(0.15, gt=0.0, le=1.0, description="Stage 2 band radius / template length")
    search_radius_fraction: float = Field(0.1, gt=0.0, le=1.0, description="Stage 1 band radius / template length")
    min_radius: int = Field(2, ge=0, le=1000, description="smallest band radius, frames")
    step: int = Field(1, ge=1, le=100, description="Stage 1 window start step, frames")
    min_scale: float = Field(0.7, gt=0.0, le=10.0, description="shortest Stage 1 window / template length")
    max_scale: float = Field(1.4, gt=0.0, le=10.0, description="longest Stage 1 window / template length")
    n_scales: int = Field(8, ge=1, le=100, description="number of Stage 1 window lengths")
    cost: Literal["sum_euclidean", "sqrt_sum_squared"] = Field("sum_euclidean", description="path cost (Eq. 3)")
    normalize: Literal["path", "query"] = Field("query", description="Stage 1 window cost normalization")
    vote_cost_ratio: float = Field(2.0, ge=1.0, le=100.0, description="multi-reference: drop costs above ratio x best")
    fps_tolerance: float = Field(0.01, ge=0.0, le=0.5, description="allowed relative fps mismatch template/input")
    refine: RefineConfig = Field(
        default_factory=RefineConfig, description="event-keyframe refinement after the transfer (beyond the paper)"
    )

    def radius(self, n_template: int) -> int:
        return max(self.min_radius, int(round(self.radius_fraction * n_template)))

    def search_radius(self, n_template: int) -> int:
        return max(self.min_radius, int(round(self.search_radius_fraction * n_template)))


@dataclass(frozen=True)
class KeyframeResult:
    """Keyframes of one input.

    keyframes: name -> input frame index. interval: (t_start, t_end) input frames, inclusive,
    from Stage 1. cost: Stage-2 path cost divided by the path length (mean D for sum_euclidean,
    RMS D for sqrt_sum_squared). path: int64 (L, 2) of (template frame, input frame).
    search_cost: Stage-1 normalized cost (NaN for stage1='none'). reference: template name.
    votes (multi-reference only): name -> each kept reference's frame; references: per-reference
    results (all, including dropped ones). transferred: the keyframes before the event
    refinement (empty when nothing was refined, e.g. from ``align_sqdist``).
    """

    keyframes: dict[str, int]
    interval: tuple[int, int]
    cost: float
    path: np.ndarray
    search_cost: float = float("nan")
    reference: str = ""
    votes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    references: tuple["KeyframeResult", ...] = ()
    transferred: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedTemplate:
    """A template with its features computed once (for repeated alignments).

    events: the refinement detectors' offsets (or onset ratio) on this template
    (``edge.align.refine.reference_events``).
    """

    template: Template
    features: MotionFeatures
    config: MotionDTWConfig
    events: dict[str, float] = field(default_factory=dict)


def prepare_template(template: Template, spec: ActionSpec, config: MotionDTWConfig | None = None) -> PreparedTemplate:
    """Check a template against the spec and compute its features."""
    config = config or MotionDTWConfig()
    if template.action != spec.id:
        raise AlignmentError(f"template {template.name!r} is for {template.action!r}, not {spec.id!r}.")
    names = spec.keyframe_names
    if set(template.keyframes) != set(names):
        raise AlignmentError(
            f"template {template.name!r} must give exactly the keyframes of {spec.id} ({', '.join(names)}), "
            f"got {', '.join(template.keyframes)}."
        )
    frames = [template.keyframes[k] for k in names]
    if any(b < a for a, b in zip(frames, frames[1:])):
        raise AlignmentError(f"template {template.name!r} keyframes are not in the spec's temporal order.")
    try:
        events = reference_events(template.joints, template.fps, template.keyframes, spec, config.refine)
    except RefineError as e:
        raise AlignmentError(f"template {template.name!r}: {e}") from None
    return PreparedTemplate(template, motion_features(template.joints, spec, config.features), config, events)


def _refined(result: KeyframeResult, seq: SkeletonSequence, spec: ActionSpec, config: MotionDTWConfig,
             calibration: dict[str, float]) -> KeyframeResult:
    """``result`` with its event keyframes refined on ``seq`` (module doc)."""
    if not config.refine.enabled or not calibration:
        return result
    try:
        kf = refine_keyframes(seq.joints, seq.fps, result.keyframes, spec, calibration, config.refine)
    except RefineError as e:
        raise AlignmentError(str(e)) from None
    return replace(result, keyframes=kf, transferred=dict(result.keyframes))


def _round_half_up(v: float) -> int:
    return int(np.floor(v + 0.5))


def transfer_keyframes(path: np.ndarray, keyframes: dict[str, int], offset: int = 0) -> dict[str, int]:
    """Input frame of each template keyframe: median of the input frames matched to it, + offset."""
    out = {}
    for name, k in keyframes.items():
        js = path[path[:, 0] == k, 1]
        if js.size == 0:
            raise AlignmentError(f"the warping path does not visit template frame {k} (keyframe {name!r}).")
        out[name] = _round_half_up(float(np.median(js))) + offset
    return out


def align_features(
    template_features: np.ndarray,
    template_keyframes: dict[str, int],
    input_features: np.ndarray,
    weights: np.ndarray | None = None,
    config: MotionDTWConfig | None = None,
    reference: str = "",
) -> KeyframeResult:
    """Two-stage MotionDTW on feature arrays: template (n, D), input (T, D), weights (D,)."""
    return align_sqdist(
        pairwise_sqdist(template_features, input_features, weights), template_keyframes, config, reference
    )


def _feature_sqdist(template: MotionFeatures, inp: MotionFeatures) -> np.ndarray:
    """Eq. 2 squared distances between all template and input frames (windowed features)."""
    if template.window != inp.window or template.joints != inp.joints:
        raise AlignmentError("template and input features were built with different settings.")
    return windowed_sqdist(template.frames, inp.frames, template.window, template.frame_weights)


def align_sqdist(
    sqdist: np.ndarray,
    template_keyframes: dict[str, int],
    config: MotionDTWConfig | None = None,
    reference: str = "",
) -> KeyframeResult:
    """Two-stage MotionDTW on a (n_template, n_input) matrix of squared local distances D**2."""
    config = config or MotionDTWConfig()
    sq = np.asarray(sqdist)
    if sq.ndim != 2:
        raise AlignmentError(f"the distance matrix must be 2-D, got shape {sq.shape}.")
    n, total = sq.shape
    for name, k in template_keyframes.items():
        if not 0 <= k < n:
            raise AlignmentError(f"template keyframe {name!r} = {k} is outside the template's {n} frames.")
    if config.stage1 == "windows":
        m = subsequence_search_sqdist(
            sq,
            config.search_radius(n),
            step=config.step,
            min_scale=config.min_scale,
            max_scale=config.max_scale,
            n_scales=config.n_scales,
            cost=config.cost,
            normalize=config.normalize,
        )
        start, end, search_cost = m.start, m.end, m.cost
    elif config.stage1 == "open_end":
        try:
            m = subsequence_dtw_sqdist(sq, config.cost, config.min_scale, config.max_scale)
        except ValueError:
            raise AlignmentError(
                f"no open-end match of reference {reference!r} spans {config.min_scale}-{config.max_scale} "
                "times its length."
            ) from None
        start, end, search_cost = m.start, m.end, m.cost
    else:
        start, end, search_cost = 0, total - 1, float("nan")
    cost, path = banded_dtw_sqdist(sq[:, start : end + 1], config.radius(n), config.cost)
    norm = len(path) if config.cost == "sum_euclidean" else np.sqrt(len(path))
    keyframes = transfer_keyframes(path, template_keyframes, start)
    path = path.copy()
    path[:, 1] += start
    return KeyframeResult(
        keyframes=keyframes,
        interval=(int(start), int(end)),
        cost=float(cost / norm),
        path=path,
        search_cost=float(search_cost),
        reference=reference,
    )


def _check_fps(template: Template, seq: SkeletonSequence, config: MotionDTWConfig) -> None:
    if abs(seq.fps - template.fps) > config.fps_tolerance * template.fps:
        raise AlignmentError(
            f"input is at {seq.fps:g} fps but template {template.name!r} at {template.fps:g} fps; resample first."
        )


def align(
    template: Template | PreparedTemplate,
    seq: SkeletonSequence,
    spec: ActionSpec,
    config: MotionDTWConfig | None = None,
) -> KeyframeResult:
    """Keyframes of ``seq`` by two-stage MotionDTW against one template (module doc)."""
    prepared = template if isinstance(template, PreparedTemplate) else prepare_template(template, spec, config)
    config = config or prepared.config
    if config.features != prepared.config.features:
        raise AlignmentError("the template was prepared with different feature settings than this config.")
    if prepared.template.action != spec.id:
        raise AlignmentError(f"template {prepared.template.name!r} is for {prepared.template.action!r}, not {spec.id!r}.")
    _check_fps(prepared.template, seq, config)
    if config.refine != prepared.config.refine:
        raise AlignmentError("the template was prepared with different refinement settings than this config.")
    feats = motion_features(seq.joints, spec, config.features)
    sq = _feature_sqdist(prepared.features, feats)
    res = align_sqdist(sq, prepared.template.keyframes, config, reference=prepared.template.name)
    return _refined(res, seq, spec, config, prepared.events)


def _kept(results: Sequence[KeyframeResult], cost_ratio: float) -> list[int]:
    """Indices of the results that vote: cost at most cost_ratio x the best (the best always)."""
    best = min(range(len(results)), key=lambda i: results[i].cost)
    return [i for i, r in enumerate(results) if r.cost <= cost_ratio * results[best].cost or i == best]


def vote(results: Sequence[KeyframeResult], cost_ratio: float = 2.0) -> KeyframeResult:
    """Combine per-reference results: drop costs above cost_ratio x best, median keyframe per name."""
    if not results:
        raise AlignmentError("voting needs at least one reference result.")
    best = min(results, key=lambda r: r.cost)
    kept = [results[i] for i in _kept(results, cost_ratio)]
    names = list(best.keyframes)
    votes = {k: tuple(r.keyframes[k] for r in kept if k in r.keyframes) for k in names}
    voted = {k: _round_half_up(float(np.median(v))) for k, v in votes.items()}
    return KeyframeResult(
        keyframes=voted,
        interval=best.interval,
        cost=best.cost,
        path=best.path,
        search_cost=best.search_cost,
        reference=best.reference,
        votes=votes,
        references=tuple(results),
    )


def align_multi(
    templates: Sequence[Template | PreparedTemplate],
    seq: SkeletonSequence,
    spec: ActionSpec,
    config: MotionDTWConfig | None = None,
) -> KeyframeResult:
    """Align against several references and vote (module doc); interval, cost and path are the best reference's."""
    if not templates:
        raise AlignmentError("align_multi needs at least one template.")
    config = config or MotionDTWConfig()
    prepared = [t if isinstance(t, PreparedTemplate) else prepare_template(t, spec, config) for t in templates]
    feats = motion_features(seq.joints, spec, config.features)
    results, matched = [], []
    unmatched: list[AlignmentError] = []
    for p in prepared:
        if p.config.features != config.features or p.config.refine != config.refine:
            raise AlignmentError(f"template {p.template.name!r} was prepared with different feature or refinement settings.")
        _check_fps(p.template, seq, config)
        sq = _feature_sqdist(p.features, feats)
        try:
            results.append(align_sqdist(sq, p.template.keyframes, config, p.template.name))
            matched.append(p)
        except AlignmentError as e:  # this reference finds no match of an allowed length: it does not vote
            unmatched.append(e)
    if not results:
        raise unmatched[0]
    voted = vote(results, config.vote_cost_ratio)
    calibration = calibrate([matched[i].events for i in _kept(results, config.vote_cost_ratio)])
    return _refined(voted, seq, spec, config, calibration)
