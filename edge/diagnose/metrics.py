"""KISMAM metrics: every metric of an action spec, measured at its keyframes (SportsGPT Sec. 3.1).

``compute_metrics(seq, spec, keyframes)`` reads each metric's typed ``definition`` and measures it
on the skeleton (metres, y up, seconds from ``seq.t``). Nothing is invented: a metric that cannot
be measured (a joint not seen at the keyframe, a keyframe not given, too few seen frames in a
window) has ``value=None`` and a one-sentence ``reason``.

Directions come from :func:`edge.diagnose.geometry.estimate_heading`: "forward" is the athlete's
estimated direction of travel or facing, "lateral" the athlete's right, "vertical" +y. Definitions
(degrees, metres, seconds, m/s):

- joint_angle: interior angle at the middle point, 180 = straight.
- inclination: segment from_point -> to_point. reference ``vertical`` / ``down``: unsigned, the 3D
  angle from straight up / straight down (0..180); signed, the angle in the sagittal plane
  (forward, vertical), positive when the segment tips forward, in (-180, 180]: arms hanging = 0
  from ``down``, swung back negative, forward positive. Undefined (None) when the segment is within
  ~3 degrees of the lateral axis (its sagittal projection is under 5 % of its length).
  reference ``horizontal``: the elevation above the floor plane; unsigned its size (0..90), signed
  positive when to_point is higher (-90..90).
- velocity_angle: elevation of the point's velocity above the horizontal (-90..90), velocity by
  :func:`~edge.diagnose.geometry.smoothed_velocity` (+-2 frames); None when slower than 0.05 m/s.
- interval: t[to] - t[from].
- displacement: p[to] - p[from] along forward / lateral (signed) / vertical (signed), or its
  horizontal length (``horizontal``, >= 0).
- height: y at the keyframe above the floor (``floor``), minus y at the spec's first keyframe
  (``start``), or divided by the stature estimate (``body_height``,
  :func:`~edge.diagnose.geometry.estimate_stature`).
- range_of_motion: max - min of the joint angle over the frames from..to (inclusive), per side,
  then combined per ``bilateral``.
- sway: over frames from..to: peak-to-peak of the point's coordinate along forward / lateral /
  vertical; ``horizontal``: the largest horizontal distance from the path's mean position.
- distance_ratio: |a - b| / |c - d| at the keyframe (None when |c - d| < 1 mm).
- peak_speed: the largest smoothed speed over frames from..to.
- event_offset: time of the extremum (max/min height = y, max speed) over frames from..to, minus
  the time of the ``relative_to`` keyframe.

Window metrics need the point seen in at least MIN_COVERAGE of the window's frames. A ``{side}``
placeholder in any point is measured on each side and combined per the definition's
``bilateral`` (``mean`` when the type has none): see :func:`~edge.diagnose.geometry.combine_bilateral`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.actions.spec import ActionSpec, Metric
from edge.diagnose.geometry import (
    Heading,
    angle_at,
    combine_bilateral,
    estimate_heading,
    estimate_stature,
    expand_side,
    interior_angle,
    point_joints,
    point_track,
    smoothed_velocity,
)
from edge.skeleton.joints import joint_index
from edge.skeleton.sequence import SkeletonSequence

#: Fraction of a window's frames in which a point must be seen for a window metric.
MIN_COVERAGE = 0.5
#: Below this speed (m/s) a velocity has no meaningful direction.
MIN_SPEED_FOR_ANGLE = 0.05
#: Half-width (frames) of the velocity smoothing window.
VELOCITY_HALF_WIDTH = 2
#: Signed inclinations need the segment's sagittal projection to be at least this fraction of it.
MIN_SAGITTAL_FRACTION = 0.05

_POINT_FIELDS = ("joints", "point", "from_point", "to_point", "numerator", "denominator")


class MetricUnavailable(Exception):
    """A metric cannot be measured on this attempt; ``reason`` is one sentence."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MetricValue:
    """One measured metric. value: float in the metric's unit, or None with ``reason``.

    note: a caveat on a measured value (one side only, forward direction assumed).
    """

    id: str
    value: float | None
    reason: str | None = None
    note: str | None = None


class MetricContext:
    """Per-attempt state shared by the metric functions.

    keyframes: name -> frame (already checked). heading: the forward direction. first_keyframe:
    the spec's first keyframe (``height`` relative to ``start`` subtracts the value there).
    """

    def __init__(self, seq: SkeletonSequence, keyframes: dict[str, int], heading: Heading, first_keyframe: str):
        self.joints = np.asarray(seq.joints, dtype=np.float64)
        self.t = np.asarray(seq.t, dtype=np.float64)
        self.keyframes = keyframes
        self.first_keyframe = first_keyframe
        self.heading = heading
        self._tracks: dict[str, np.ndarray] = {}
        self._stature: float | None | bool = False  # False = not computed yet

    # Points and frames ---------------------------------------------------------------------
    def track(self, name: str, side: str | None) -> tuple[str, np.ndarray]:
        name = expand_side(name, side)
        tr = self._tracks.get(name)
        if tr is None:
            tr = point_track(self.joints, name)
            self._tracks[name] = tr
        return name, tr

    def frame(self, keyframe: str) -> int:
        f = self.keyframes.get(keyframe)
        if f is None:
            raise MetricUnavailable(f"the keyframe {keyframe} was not found in this attempt.")
        return f

    def _missing(self, name: str, frame: int) -> str:
        gone = [j for j in point_joints(name) if not np.isfinite(self.joints[frame, joint_index(j)]).all()]
        return ", ".join(gone) if gone else name

    def at(self, name: str, keyframe: str, side: str | None) -> np.ndarray:
        """(3,) position of a point at a keyframe; MetricUnavailable if not seen."""
        f = self.frame(keyframe)
        name, tr = self.track(name, side)
        p = tr[f]
        if not np.isfinite(p).all():
            raise MetricUnavailable(f"{self._missing(name, f)} not seen at {keyframe} (frame {f}).")
        return p

    def window(self, from_kf: str, to_kf: str) -> np.ndarray:
        """Frame indices from..to inclusive."""
        a, b = self.frame(from_kf), self.frame(to_kf)
        return np.arange(a, b + 1)

    def covered(self, values: np.ndarray, what: str, from_kf: str, to_kf: str) -> np.ndarray:
        """Boolean mask of finite values; MetricUnavailable when under MIN_COVERAGE."""
        ok = np.isfinite(values) if values.ndim == 1 else np.isfinite(values).all(axis=-1)
        if ok.size == 0 or ok.mean() < MIN_COVERAGE:
            pct = 100.0 * (ok.mean() if ok.size else 0.0)
            raise MetricUnavailable(
                f"{what}: seen in only {pct:.0f}% of the frames from {from_kf} to {to_kf} "
                f"(at least {100 * MIN_COVERAGE:.0f}% needed)."
            )
        return ok

    def stature(self) -> float:
        if self._stature is False:
            self._stature = estimate_stature(self.joints)
        if self._stature is None:
            raise MetricUnavailable("the body height cannot be estimated: legs or trunk never seen.")
        return float(self._stature)

    def axis_coord(self, vecs: np.ndarray, axis: str) -> np.ndarray:
        """Coordinate of (..., 3) vectors along forward / lateral / vertical."""
        if axis == "forward":
            return vecs @ self.heading.forward
        if axis == "lateral":
            return vecs @ self.heading.lateral
        if axis == "vertical":
            return vecs[..., 1]
        raise ValueError(f"axis {axis!r} has no single coordinate.")


# One function per definition type: (definition, context, side) -> value ---------------------
def _joint_angle(d, ctx: MetricContext, side):
    a, b, c = (ctx.at(p, d.keyframe, side).tolist() for p in d.joints)
    ang = angle_at(a, b, c)
    if not math.isfinite(ang):
        vertex = expand_side(d.joints[1], side)
        raise MetricUnavailable(f"the angle at {vertex} is undefined (a segment has no length).")
    return ang


def _inclination(d, ctx: MetricContext, side):
    seg = ctx.at(d.to_point, d.keyframe, side) - ctx.at(d.from_point, d.keyframe, side)
    length = float(np.linalg.norm(seg))
    if length < 1e-3:
        raise MetricUnavailable(f"{d.from_point} and {d.to_point} coincide at {d.keyframe}.")
    f, l, v = float(seg @ ctx.heading.forward), float(seg @ ctx.heading.lateral), float(seg[1])
    if d.reference == "horizontal":
        elev = float(np.degrees(np.arctan2(v, np.hypot(f, l))))
        return elev if d.signed else abs(elev)
    v_ref = v if d.reference == "vertical" else -v
    if not d.signed:
        return float(np.degrees(np.arctan2(np.hypot(f, l), v_ref)))
    if np.hypot(f, v) < MIN_SAGITTAL_FRACTION * length:
        raise MetricUnavailable(
            f"the segment {d.from_point} to {d.to_point} points sideways at {d.keyframe}, "
            "so its forward tilt is undefined."
        )
    return float(np.degrees(np.arctan2(f, v_ref)))


def _velocity_at(ctx: MetricContext, point: str, keyframe: str, side) -> np.ndarray:
    f = ctx.frame(keyframe)
    name, tr = ctx.track(point, side)
    v = smoothed_velocity(tr, ctx.t, np.array([f]), VELOCITY_HALF_WIDTH)[0]
    if not np.isfinite(v).all():
        raise MetricUnavailable(
            f"{name} not seen in enough frames around {keyframe} (frame {f}) to measure its velocity."
        )
    return v


def _velocity_angle(d, ctx: MetricContext, side):
    v = _velocity_at(ctx, d.point, d.keyframe, side)
    speed = float(np.linalg.norm(v))
    if speed < MIN_SPEED_FOR_ANGLE:
        raise MetricUnavailable(
            f"{expand_side(d.point, side)} is almost still at {d.keyframe} ({speed:.2f} m/s), "
            "so its direction is undefined."
        )
    return float(np.degrees(np.arctan2(v[1], np.hypot(v[0], v[2]))))


def _interval(d, ctx: MetricContext, side):
    return float(ctx.t[ctx.frame(d.to_keyframe)] - ctx.t[ctx.frame(d.from_keyframe)])


def _displacement(d, ctx: MetricContext, side):
    disp = ctx.at(d.point, d.to_keyframe, side) - ctx.at(d.point, d.from_keyframe, side)
    if d.axis == "horizontal":
        return float(np.hypot(disp[0], disp[2]))
    return float(ctx.axis_coord(disp, d.axis))


def _height(d, ctx: MetricContext, side):
    y = float(ctx.at(d.point, d.keyframe, side)[1])
    if d.relative_to == "floor":
        return y
    if d.relative_to == "start":
        return y - float(ctx.at(d.point, ctx.first_keyframe, side)[1])
    return y / ctx.stature()


def _range_of_motion(d, ctx: MetricContext, side):
    frames = ctx.window(d.from_keyframe, d.to_keyframe)
    a, b, c = (ctx.track(p, side)[1][frames] for p in d.joints)
    ang = interior_angle(a, b, c)
    ok = ctx.covered(ang, f"the angle at {expand_side(d.joints[1], side)}", d.from_keyframe, d.to_keyframe)
    ang = ang[ok]
    return float(ang.max() - ang.min())


def _sway(d, ctx: MetricContext, side):
    frames = ctx.window(d.from_keyframe, d.to_keyframe)
    name, tr = ctx.track(d.point, side)
    path = tr[frames]
    path = path[ctx.covered(path, name, d.from_keyframe, d.to_keyframe)]
    if d.axis == "horizontal":
        h = path[:, [0, 2]]
        return float(np.max(np.linalg.norm(h - h.mean(axis=0), axis=1)))
    x = ctx.axis_coord(path, d.axis)
    return float(x.max() - x.min())


def _distance_ratio(d, ctx: MetricContext, side):
    (a, b), (c, e) = d.numerator, d.denominator
    num = float(np.linalg.norm(ctx.at(a, d.keyframe, side) - ctx.at(b, d.keyframe, side)))
    den = float(np.linalg.norm(ctx.at(c, d.keyframe, side) - ctx.at(e, d.keyframe, side)))
    if den < 1e-3:
        raise MetricUnavailable(f"{c} and {e} coincide at {d.keyframe}, so the ratio is undefined.")
    return num / den


def _speeds(ctx: MetricContext, point: str, side, frames: np.ndarray) -> tuple[str, np.ndarray]:
    name, tr = ctx.track(point, side)
    v = smoothed_velocity(tr, ctx.t, frames, VELOCITY_HALF_WIDTH)
    return name, np.linalg.norm(v, axis=1)


def _peak_speed(d, ctx: MetricContext, side):
    frames = ctx.window(d.from_keyframe, d.to_keyframe)
    name, speed = _speeds(ctx, d.point, side, frames)
    ok = ctx.covered(speed, name, d.from_keyframe, d.to_keyframe)
    return float(speed[ok].max())


def _event_offset(d, ctx: MetricContext, side):
    frames = ctx.window(d.from_keyframe, d.to_keyframe)
    t_ref = ctx.t[ctx.frame(d.relative_to)]
    if d.extremum == "max_speed":
        name, values = _speeds(ctx, d.point, side, frames)
    else:
        name, tr = ctx.track(d.point, side)
        values = tr[frames, 1] if d.extremum == "max_height" else -tr[frames, 1]
    ok = ctx.covered(values, name, d.from_keyframe, d.to_keyframe)
    i = int(np.argmax(np.where(ok, values, -np.inf)))
    return float(ctx.t[frames[i]] - t_ref)


_MEASURE = {
    "joint_angle": _joint_angle,
    "inclination": _inclination,
    "velocity_angle": _velocity_angle,
    "interval": _interval,
    "displacement": _displacement,
    "height": _height,
    "range_of_motion": _range_of_motion,
    "sway": _sway,
    "distance_ratio": _distance_ratio,
    "peak_speed": _peak_speed,
    "event_offset": _event_offset,
}


def _points(defn) -> list[str]:
    out: list[str] = []
    for attr in _POINT_FIELDS:
        v = getattr(defn, attr, None)
        if isinstance(v, str):
            out.append(v)
        elif v:
            out.extend(v)
    return out


def _uses_heading(defn) -> bool:
    if defn.type == "inclination":
        return defn.reference != "horizontal" and defn.signed
    if defn.type in ("displacement", "sway"):
        return defn.axis in ("forward", "lateral")
    return False


@dataclass(frozen=True)
class _Plan:
    """How to measure one metric, read once from its definition."""

    metric_id: str
    defn: object
    fn: object
    sided: bool  # a point has the {side} placeholder
    how: str  # bilateral rule
    uses_heading: bool


def _plan(metric: Metric) -> _Plan:
    defn = metric.definition
    fn = _MEASURE.get(defn.type)
    if fn is None:
        raise ValueError(f"metric {metric.id}: no measurement for definition type {defn.type!r}.")
    sided = any("{side}" in p for p in _points(defn))
    return _Plan(metric.id, defn, fn, sided, getattr(defn, "bilateral", "mean"), _uses_heading(defn))


_SPEC_PLANS: dict[int, tuple[ActionSpec, tuple[_Plan, ...]]] = {}


def _spec_plan(spec: ActionSpec) -> tuple[_Plan, ...]:
    hit = _SPEC_PLANS.get(id(spec))
    if hit is None or hit[0] is not spec:
        hit = (spec, tuple(_plan(m) for m in spec.metrics))
        _SPEC_PLANS[id(spec)] = hit
    return hit[1]


def _run(plan: _Plan, ctx: MetricContext) -> MetricValue:
    note = None
    try:
        if plan.sided:
            vals: dict[str, float | None] = {"left": None, "right": None}
            reasons: dict[str, str] = {}
            for side in ("left", "right"):
                if plan.how in ("left", "right") and side != plan.how:
                    continue
                try:
                    vals[side] = plan.fn(plan.defn, ctx, side)
                except MetricUnavailable as e:
                    reasons[side] = e.reason
            value, note = combine_bilateral(vals["left"], vals["right"], plan.how)
            if value is None:
                raise MetricUnavailable(" ".join(reasons.values()) or "no side could be measured.")
        else:
            value = plan.fn(plan.defn, ctx, None)
    except MetricUnavailable as e:
        return MetricValue(plan.metric_id, None, reason=e.reason)
    if not math.isfinite(value):
        return MetricValue(plan.metric_id, None, reason="the measurement is not a finite number.")
    if plan.uses_heading and not ctx.heading.reliable:
        extra = "forward direction assumed to be +x"
        note = extra if note is None else f"{note}; {extra}"
    return MetricValue(plan.metric_id, float(value), note=note)


def measure(metric: Metric, ctx: MetricContext) -> MetricValue:
    """Measure one metric; never raises for missing data (value None with a reason instead)."""
    return _run(_plan(metric), ctx)


def check_keyframes(spec: ActionSpec, keyframes: dict[str, int], n_frames: int) -> dict[str, int]:
    """Validate keyframes (name -> frame) against the spec and the sequence; returns plain ints.

    Every name must be a keyframe of the spec, every frame inside the sequence, and the frames
    non-decreasing in the spec's order. Keyframes may be missing (their metrics are then None).
    """
    order = spec.keyframe_names
    out: dict[str, int] = {}
    for name, f in keyframes.items():
        if name not in order:
            raise ValueError(f"{name!r} is not a keyframe of {spec.id} ({', '.join(order)}).")
        if isinstance(f, (bool, np.bool_)) or not isinstance(f, (int, np.integer)):
            raise ValueError(f"keyframe {name} must be a frame index (int), got {f!r}.")
        if not 0 <= int(f) < n_frames:
            raise ValueError(f"keyframe {name} at frame {int(f)} is outside the sequence of {n_frames} frames.")
        out[name] = int(f)
    given = [k for k in order if k in out]
    for a, b in zip(given, given[1:]):
        if out[b] < out[a]:
            raise ValueError(f"keyframe {b} (frame {out[b]}) comes before {a} (frame {out[a]}).")
    return {k: out[k] for k in given}


def heading_for(seq: SkeletonSequence, spec: ActionSpec, keyframes: dict[str, int]) -> Heading:
    """The forward direction over the attempt (first to last given keyframe, else all frames)."""
    frames = [keyframes[k] for k in spec.keyframe_names if k in keyframes]
    first, last = (frames[0], frames[-1]) if frames else (0, seq.n_frames - 1)
    return estimate_heading(np.asarray(seq.joints, dtype=np.float64), spec.direction_of_travel, first, last)


def compute_metrics(
    seq: SkeletonSequence,
    spec: ActionSpec,
    keyframes: dict[str, int],
    heading: Heading | None = None,
) -> dict[str, MetricValue]:
    """Every metric of ``spec`` on one attempt, in spec order: metric id -> MetricValue.

    keyframes: keyframe name -> frame index (e.g. from MotionDTW); validated by
    :func:`check_keyframes`. heading: the forward direction; estimated when not given.
    """
    keyframes = check_keyframes(spec, keyframes, seq.n_frames)
    if heading is None:
        heading = heading_for(seq, spec, keyframes)
    ctx = MetricContext(seq, keyframes, heading, spec.keyframe_names[0])
    return {p.metric_id: _run(p, ctx) for p in _spec_plan(spec)}
