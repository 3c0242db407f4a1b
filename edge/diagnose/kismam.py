"""KISMAM: metrics against normal ranges -> ranked, explained problems and strengths.

SportsGPT Sec. 3.1. For metric k with normal range [Tmin, Tmax] and measured value V (Eq. 4):

    D_k = Tmin - V  if V < Tmin;   V - Tmax  if V > Tmax;   0 otherwise     (metric units)

Metrics have different units (degrees, seconds, metres), so before weighting each deviation is
normalised by its range width, D_norm = D / (Tmax - Tmin) (1.0 = one range width outside). The
spec's metric->problem matrix W (``ActionSpec.w_matrix()``) has one row per metric and side of the
range, metric-major, low then high; the deviation vector follows that layout: row 2k holds
D_norm if V < Tmin (else 0), row 2k+1 holds D_norm if V > Tmax (else 0). Scores (Eq. 5):

    S = D_lowhigh @ W          (one score per problem; S >= 0 because D >= 0 and W >= 0)

Probabilities normalise the scores over the problems with S > 0: p_m = S_m / sum(S_j, S_j > 0).
A problem with S = 0 has no evidence and is not reported. Problems are ranked by S (ties in spec
order) and the top N = 6 are the diagnosis (their probabilities sum to 1 when at most 6 problems
have evidence; the full ranking is kept in ``Diagnosis.ranking``). Two evidence floors, both 0
(off) by default, leave problems out of the top N (the ranking keeps them): ``min_score``, a
score below it (e.g. 0.1: a tenth of a range width) is within the camera's measurement noise;
``min_probability``, a problem that only shares a lightly weighted indicator with the main one
(p of a few per cent) is not a core finding. A metric that could not be
measured contributes no deviation: it is evidence for nothing and against nothing.

Strengths follow TechCoach's "what is done well" per body dimension: every measured metric inside
its range, grouped by the spec's dimension tag.

Eq. 6 (evaluation): :func:`problem_iou` is the set IoU between predicted and true problem ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from edge.actions.spec import DIMENSIONS, ActionSpec
from edge.diagnose.geometry import Heading
from edge.diagnose.metrics import MetricValue, check_keyframes, compute_metrics, heading_for
from edge.skeleton.sequence import SkeletonSequence

TOP_N = 6

DIMENSION_TITLES = {
    "lower_limbs": "Lower limbs",
    "upper_limbs": "Upper limbs",
    "trunk": "Trunk",
    "balance": "Balance",
    "timing": "Timing",
    "power": "Power",
    "coordination": "Coordination",
}


# Eq. 4 and 5 ------------------------------------------------------------------------------------
def deviation(value: float, lo: float, hi: float) -> float:
    """Eq. 4: how far ``value`` lies outside [lo, hi], in the metric's unit (>= 0)."""
    if value < lo:
        return lo - value
    if value > hi:
        return value - hi
    return 0.0


def lowhigh_vector(
    values: Mapping[str, float | None],
    ranges: Mapping[str, tuple[float, float]],
    metric_ids: list[str],
) -> np.ndarray:
    """(2K,) normalised deviations in W's row layout (metric-major, low then high); None -> 0."""
    d = np.zeros(2 * len(metric_ids))
    for k, mid in enumerate(metric_ids):
        v = values.get(mid)
        if v is None:
            continue
        lo, hi = ranges[mid]
        if v < lo:
            d[2 * k] = (lo - v) / (hi - lo)
        elif v > hi:
            d[2 * k + 1] = (v - hi) / (hi - lo)
    return d


def problem_scores(d_lowhigh: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Eq. 5: S = D_lowhigh @ W, (2K,) @ (2K, M) -> (M,)."""
    d_lowhigh = np.asarray(d_lowhigh, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if d_lowhigh.ndim != 1 or w.ndim != 2 or w.shape[0] != d_lowhigh.shape[0]:
        raise ValueError(f"deviations {d_lowhigh.shape} do not match W {w.shape}.")
    return d_lowhigh @ w


def problem_probabilities(scores: np.ndarray) -> np.ndarray:
    """p_m = S_m / sum of the positive scores; 0 where S_m <= 0 (all 0 when nothing is positive)."""
    s = np.asarray(scores, dtype=np.float64)
    pos = np.where(s > 0, s, 0.0)
    total = pos.sum()
    return pos / total if total > 0 else pos


def problem_iou(predicted: Iterable[str], ground_truth: Iterable[str]) -> float:
    """SportsGPT Eq. 6: |pred & gt| / |pred | gt| over problem ids; 1.0 when both sets are empty."""
    p, g = set(predicted), set(ground_truth)
    union = p | g
    return len(p & g) / len(union) if union else 1.0


# Results ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AssessedMetric:
    """A metric's value against its normal range. deviation: Eq. 4 (unit of the metric), with
    ``side`` 'low'/'high' (None inside the range); deviation_norm = deviation / range width.
    All three are None when the value is None (then ``reason`` says why)."""

    id: str
    title: str
    unit: str
    dimension: str
    range: tuple[float, float]
    value: float | None
    deviation: float | None
    deviation_norm: float | None
    side: str | None
    reason: str | None = None
    note: str | None = None

    @property
    def in_range(self) -> bool:
        return self.value is not None and self.deviation == 0.0

    def to_report(self) -> dict:
        return {
            "name": self.id,
            "title": self.title,
            "value": self.value,
            "unit": self.unit,
            "range": [self.range[0], self.range[1]],
            "deviation": self.deviation,
            "deviation_norm": self.deviation_norm,
            "side": self.side,
            "dimension": self.dimension,
            "reason": self.reason,
            "note": self.note,
        }


@dataclass(frozen=True)
class Indicator:
    """One metric's part in a problem's score: contribution = deviation_norm * weight."""

    metric: str
    title: str
    unit: str
    value: float
    range: tuple[float, float]
    side: str
    deviation: float
    deviation_norm: float
    weight: float
    contribution: float

    def sentence(self) -> str:
        where = "below" if self.side == "low" else "above"
        return (
            f"{_lower_first(self.title)} was {_fmt(self.value, self.unit)}, "
            f"{_fmt(self.deviation, self.unit)} {where} the normal range of {_fmt_range(self.range, self.unit)}"
        )

    def to_report(self) -> dict:
        return {
            "metric": self.metric,
            "title": self.title,
            "value": self.value,
            "unit": self.unit,
            "range": [self.range[0], self.range[1]],
            "side": self.side,
            "deviation": self.deviation,
            "deviation_norm": self.deviation_norm,
            "weight": self.weight,
            "contribution": self.contribution,
        }


@dataclass(frozen=True)
class ProblemFinding:
    """A problem with evidence: Eq. 5 score, its probability and the indicators that fired."""

    id: str
    title: str
    phase: str
    dimension: str
    cue: str
    score: float
    probability: float
    indicators: tuple[Indicator, ...]

    @property
    def evidence(self) -> str:
        """The indicators in one sentence a teacher can read, strongest first."""
        parts = [i.sentence() for i in self.indicators]
        text = "; ".join(parts)
        return text[0].upper() + text[1:] + "." if text else ""

    def to_report(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "probability": self.probability,
            "score": self.score,
            "phase": self.phase,
            "dimension": self.dimension,
            "cue": self.cue,
            "evidence": self.evidence,
            "indicators": [i.to_report() for i in self.indicators],
        }


@dataclass(frozen=True)
class Strength:
    """What is done well in one body dimension: its metrics inside their normal ranges."""

    dimension: str
    metrics: tuple[AssessedMetric, ...]

    @property
    def title(self) -> str:
        return DIMENSION_TITLES[self.dimension]

    @property
    def text(self) -> str:
        items = "; ".join(
            f"{_lower_first(m.title)} {_fmt(m.value, m.unit)} (normal {_fmt_range(m.range, m.unit)})"
            for m in self.metrics
        )
        return f"Done well ({self.title.lower()}): {items}."

    def to_report(self) -> dict:
        return {
            "dimension": self.dimension,
            "title": self.title,
            "text": self.text,
            "metrics": [m.id for m in self.metrics],
        }


@dataclass(frozen=True)
class Assessment:
    """KISMAM on measured metrics: every metric, the top-N problems, the full ranking, strengths.

    unassessed_problems: problems none of whose indicator metrics could be measured.
    """

    metrics: tuple[AssessedMetric, ...]
    problems: tuple[ProblemFinding, ...]
    ranking: tuple[ProblemFinding, ...]
    strengths: tuple[Strength, ...]
    unassessed_problems: tuple[str, ...]
    scores: np.ndarray = field(repr=False)


def check_ranges(
    spec: ActionSpec, ranges_override: Mapping[str, Iterable[float]] | None
) -> dict[str, tuple[float, float]]:
    """The normal range of every metric: the spec's, replaced by ``ranges_override`` where given."""
    ranges = {m.id: (float(m.range[0]), float(m.range[1])) for m in spec.metrics}
    for mid, r in (ranges_override or {}).items():
        if mid not in ranges:
            raise ValueError(f"range override names {mid!r}, which is not a metric of {spec.id}.")
        try:
            lo, hi = (float(x) for x in r)
        except (TypeError, ValueError):
            raise ValueError(f"range override for {mid} must be two numbers [Tmin, Tmax], got {r!r}.") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"range override for {mid} must have finite Tmin < Tmax, got [{lo}, {hi}].")
        ranges[mid] = (lo, hi)
    return ranges


def assess(
    spec: ActionSpec,
    values: Mapping[str, MetricValue | float | None],
    ranges_override: Mapping[str, Iterable[float]] | None = None,
    top_n: int = TOP_N,
    min_probability: float = 0.0,
    min_score: float = 0.0,
) -> Assessment:
    """Eq. 4-5 on measured metric values (metric id -> MetricValue, float or None).

    Metrics missing from ``values`` count as not measured. min_probability, min_score: top-N
    problems need at least this probability and Eq. 5 score (module doc).
    """
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}.")
    if not 0.0 <= min_probability < 1.0:
        raise ValueError(f"min_probability must lie in [0, 1), got {min_probability}.")
    if not (np.isfinite(min_score) and min_score >= 0.0):
        raise ValueError(f"min_score must be a finite number >= 0, got {min_score}.")
    ranges = check_ranges(spec, ranges_override)
    unknown = set(values) - set(ranges)
    if unknown:
        raise ValueError(f"values name metrics that {spec.id} does not have: {', '.join(sorted(unknown))}.")
    metric_ids = [m.id for m in spec.metrics]
    assessed: list[AssessedMetric] = []
    plain: dict[str, float | None] = {}
    for m in spec.metrics:
        mv = values.get(m.id)
        if not isinstance(mv, MetricValue):
            mv = MetricValue(m.id, float(mv)) if mv is not None else MetricValue(m.id, None, reason="not measured.")
        v = mv.value
        if v is not None and not np.isfinite(v):
            mv = MetricValue(m.id, None, reason="the measurement is not a finite number.")
            v = None
        plain[m.id] = v
        lo, hi = ranges[m.id]
        if v is None:
            assessed.append(
                AssessedMetric(m.id, m.title, m.unit, m.dimension, (lo, hi), None, None, None, None, mv.reason, mv.note)
            )
            continue
        dev = deviation(v, lo, hi)
        side = None if dev == 0.0 else ("low" if v < lo else "high")
        assessed.append(
            AssessedMetric(m.id, m.title, m.unit, m.dimension, (lo, hi), v, dev, dev / (hi - lo), side, None, mv.note)
        )

    w = spec.w_matrix()
    d = lowhigh_vector(plain, ranges, metric_ids)
    scores = problem_scores(d, w)
    probs = problem_probabilities(scores)
    by_id = {a.id: a for a in assessed}

    findings = []
    unassessed = []
    for j, p in enumerate(spec.problems):
        if all(by_id[ind.metric].value is None for ind in p.indicators):
            unassessed.append(p.id)
        if scores[j] <= 0:
            continue
        inds = []
        for ind in p.indicators:
            a = by_id[ind.metric]
            if a.side != ind.side:
                continue
            inds.append(
                Indicator(a.id, a.title, a.unit, a.value, a.range, a.side, a.deviation, a.deviation_norm, ind.weight,
                          a.deviation_norm * ind.weight)
            )
        inds.sort(key=lambda i: -i.contribution)
        finding = ProblemFinding(
            p.id, p.title, p.phase, p.dimension, p.cue, float(scores[j]), float(probs[j]), tuple(inds)
        )
        findings.append((j, finding))
    findings.sort(key=lambda jf: (-jf[1].score, jf[0]))
    ranking = tuple(f for _, f in findings)

    strengths = []
    for dim in DIMENSIONS:
        good = tuple(a for a in assessed if a.dimension == dim and a.in_range)
        if good:
            strengths.append(Strength(dim, good))
    top = tuple(f for f in ranking if f.probability >= min_probability and f.score >= min_score)[:top_n]
    return Assessment(tuple(assessed), top, ranking, tuple(strengths), tuple(unassessed), scores)


# The whole diagnosis ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Diagnosis:
    """KISMAM's result for one attempt; ``to_report()`` gives the DESIGN.md report fields."""

    action: str
    keyframes: dict[str, int]
    keyframe_times: dict[str, float]
    metrics: tuple[AssessedMetric, ...]
    problems: tuple[ProblemFinding, ...]
    ranking: tuple[ProblemFinding, ...]
    strengths: tuple[Strength, ...]
    unassessed_problems: tuple[str, ...]
    heading: Heading

    @property
    def forward_direction(self) -> np.ndarray:
        """(3,) unit horizontal forward direction used for signed and directional metrics."""
        return self.heading.forward

    def metric(self, metric_id: str) -> AssessedMetric:
        for m in self.metrics:
            if m.id == metric_id:
                return m
        raise KeyError(metric_id)

    def to_report(self) -> dict:
        """``keyframes`` [{name, frame, t}], ``metrics``, ``problems`` (top N), ``strengths``."""
        return {
            "keyframes": [{"name": k, "frame": f, "t": self.keyframe_times[k]} for k, f in self.keyframes.items()],
            "metrics": [m.to_report() for m in self.metrics],
            "problems": [p.to_report() for p in self.problems],
            "strengths": [s.to_report() for s in self.strengths],
        }


def diagnose(
    seq: SkeletonSequence,
    spec: ActionSpec,
    keyframes: dict[str, int],
    ranges_override: Mapping[str, Iterable[float]] | None = None,
    top_n: int = TOP_N,
    min_probability: float = 0.0,
    min_score: float = 0.0,
) -> Diagnosis:
    """Measure every metric of ``spec`` at ``keyframes`` (name -> frame), then KISMAM (Eq. 4-5)."""
    keyframes = check_keyframes(spec, keyframes, seq.n_frames)
    heading = heading_for(seq, spec, keyframes)
    values = compute_metrics(seq, spec, keyframes, heading)
    a = assess(spec, values, ranges_override, top_n, min_probability, min_score)
    return Diagnosis(
        action=spec.id,
        keyframes=keyframes,
        keyframe_times={k: float(seq.t[f]) for k, f in keyframes.items()},
        metrics=a.metrics,
        problems=a.problems,
        ranking=a.ranking,
        strengths=a.strengths,
        unassessed_problems=a.unassessed_problems,
        heading=heading,
    )


# Wording ----------------------------------------------------------------------------------------
_DECIMALS = {"deg": 0, "s": 2, "m": 2, "m/s": 2, "ratio": 2, "body_heights": 2}
_SUFFIX = {"deg": "°", "s": " s", "m": " m", "m/s": " m/s", "ratio": "", "body_heights": " body heights"}


def _num(v: float, unit: str) -> str:
    s = f"{v:.{_DECIMALS.get(unit, 2)}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def _fmt(v: float, unit: str) -> str:
    return _num(v, unit) + _SUFFIX.get(unit, f" {unit}")


def _fmt_range(r: tuple[float, float], unit: str) -> str:
    return f"{_num(r[0], unit)} to {_num(r[1], unit)}{_SUFFIX.get(unit, f' {unit}')}"


def _lower_first(title: str) -> str:
    return title[0].lower() + title[1:] if len(title) > 1 and title[1].islower() else title
