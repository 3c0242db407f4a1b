"""The action spec schema. Code reads specs; it does not hard-code an action.

A spec (``edge/actions/specs/<id>.yaml``) declares, for one action:
- ``keyframes`` in temporal order and the 4 ``phases`` between them;
- ``salient_joints``: three-joint angles (vertex in the middle) with MotionDTW weights;
- ``metrics``: what KISMAM measures, at which keyframe, how (``definition``), unit, normal range,
  and the TechCoach body dimension it belongs to;
- ``problems``: named as a coach names them, each with its row of the metric->problem matrix W
  (``indicators``: metric, which side of the range, weight), a short screen cue and drill refs.

Points in definitions are joint names (``left_knee``) or midpoints ``mid_<pair>`` of a left/right
pair (``mid_hip``, ``mid_shoulder``, ``mid_ankle``, ``mid_knee``, ``mid_wrist``, ``mid_elbow``, ``mid_ear``).
A ``{side}`` placeholder in joint names is expanded to ``left``/``right`` and combined per ``bilateral``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.skeleton.joints import JOINT_NAMES

SPEC_DIR = Path(__file__).parent / "specs"
ACTION_IDS: tuple[str, ...] = (
    "standing_long_jump",
    "sit_up",
    "basketball_free_throw",
    "volleyball_overhead_pass",
    "deep_squat",
)
DIMENSIONS = ("lower_limbs", "upper_limbs", "trunk", "balance", "timing", "power", "coordination")
MID_POINTS = tuple(f"mid_{n}" for n in ("hip", "shoulder", "ankle", "knee", "wrist", "elbow", "ear", "eye"))
Bilateral = Literal["mean", "left", "right", "min", "max", "abs_diff"]
Axis = Literal["forward", "vertical", "lateral", "horizontal"]


class ActionSpecError(ValueError):
    """An action spec is missing or invalid; the message is one sentence."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_point(name: str) -> str:
    names = [name.replace("{side}", "left"), name.replace("{side}", "right")] if "{side}" in name else [name]
    for n in names:
        if n not in JOINT_NAMES and n not in MID_POINTS:
            raise ValueError(f"unknown point {name!r}")
    return name


Point = Annotated[str, Field(description="joint name, {side}_joint or mid_<pair>")]


class Keyframe(_M):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="keyframe id, snake_case")
    description: str = Field(min_length=5, description="the event that defines this moment")
    at_rest: bool = Field(False, description="the moment the body is still again (the moving points slower than "
                          "0.1 m/s for 0.2 s): an attempt that ends here ends no earlier than they stop")


class Phase(_M):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    start: str = Field(description="keyframe that opens the phase")
    end: str = Field(description="keyframe that closes the phase")
    description: str = Field(min_length=5)


class SalientJoint(_M):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="feature name, e.g. left_knee")
    triplet: tuple[Point, Point, Point] = Field(description="A, B (vertex), C")
    weight: float = Field(ge=0.0, le=10.0, description="MotionDTW joint weight w_k (Eq. 2)")

    @model_validator(mode="after")
    def _pts(self):
        for p in self.triplet:
            _check_point(p)
        return self


class JointAngle(_M):
    type: Literal["joint_angle"]
    joints: tuple[Point, Point, Point] = Field(description="A, B (vertex), C; interior angle at B in degrees")
    keyframe: str
    bilateral: Bilateral = "mean"


class Inclination(_M):
    type: Literal["inclination"]
    from_point: Point = Field(description="segment start (e.g. mid_hip)")
    to_point: Point = Field(description="segment end (e.g. mid_shoulder)")
    reference: Literal["vertical", "down", "horizontal"] = Field(
        default="vertical",
        description="angle from straight up (vertical), straight down (down) or the floor (horizontal)",
    )
    keyframe: str
    signed: bool = Field(
        default=False,
        description="signed: positive when the segment tips towards +x (the direction of travel/facing)",
    )


class VelocityAngle(_M):
    type: Literal["velocity_angle"]
    point: Point
    keyframe: str
    description: str = Field(default="angle of the point's velocity above the horizontal, degrees")


class Interval(_M):
    type: Literal["interval"]
    from_keyframe: str
    to_keyframe: str


class Displacement(_M):
    type: Literal["displacement"]
    point: Point
    from_keyframe: str
    to_keyframe: str
    axis: Axis


class Height(_M):
    type: Literal["height"]
    point: Point
    keyframe: str
    relative_to: Literal["floor", "start", "body_height"] = "floor"


class RangeOfMotion(_M):
    type: Literal["range_of_motion"]
    joints: tuple[Point, Point, Point]
    from_keyframe: str
    to_keyframe: str
    bilateral: Bilateral = "mean"


class Sway(_M):
    type: Literal["sway"]
    point: Point
    from_keyframe: str
    to_keyframe: str
    axis: Axis = "horizontal"


class DistanceRatio(_M):
    type: Literal["distance_ratio"]
    numerator: tuple[Point, Point]
    denominator: tuple[Point, Point]
    keyframe: str


class PeakSpeed(_M):
    type: Literal["peak_speed"]
    point: Point
    from_keyframe: str
    to_keyframe: str


class EventOffset(_M):
    type: Literal["event_offset"]
    description: str = Field(description="signed time of an extremum relative to a keyframe")
    point: Point
    extremum: Literal["max_height", "min_height", "max_speed"]
    from_keyframe: str
    to_keyframe: str
    relative_to: str


MetricDef = Annotated[
    Union[
        JointAngle, Inclination, VelocityAngle, Interval, Displacement, Height, RangeOfMotion, Sway,
        DistanceRatio, PeakSpeed, EventOffset,
    ],
    Field(discriminator="type"),
]


class Metric(_M):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = Field(min_length=3)
    unit: Literal["deg", "s", "m", "ratio", "m/s", "body_heights"]
    definition: MetricDef
    range: tuple[float, float] = Field(description="normal range [Tmin, Tmax] (KISMAM Eq. 4)")
    dimension: Literal[DIMENSIONS]  # type: ignore[valid-type]
    source: str = Field(min_length=3, description="where the normal range comes from")

    @model_validator(mode="after")
    def _range(self):
        lo, hi = self.range
        if not lo < hi:
            raise ValueError(f"metric {self.id}: range must have Tmin < Tmax, got {self.range}")
        return self


class Indicator(_M):
    metric: str
    side: Literal["low", "high"] = Field(description="below Tmin (low) or above Tmax (high)")
    weight: float = Field(gt=0.0, le=1.0, description="W[k, m] (KISMAM Eq. 5)")


class DrillRef(_M):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = Field(min_length=3)


class Problem(_M):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = Field(min_length=5, description="as a coach names it")
    description: str = Field(min_length=20, description="what it is and why it matters")
    phase: str
    dimension: Literal[DIMENSIONS]  # type: ignore[valid-type]
    cue: str = Field(min_length=3, max_length=60, description="short cue for the screen")
    indicators: list[Indicator] = Field(min_length=1)
    drills: list[DrillRef] = Field(min_length=2)


class ActionSpec(_M):
    id: Literal[ACTION_IDS]  # type: ignore[valid-type]
    name: str
    version: int = Field(ge=1)
    description: str = Field(min_length=20)
    direction_of_travel: Literal["forward", "none", "vertical"] = Field(
        description="'forward' when the body travels along +x (long jump)"
    )
    typical_duration_s: tuple[float, float] = Field(description="duration of one attempt, seconds")
    keyframes: list[Keyframe] = Field(min_length=3)
    phases: list[Phase] = Field(min_length=4, max_length=4)
    salient_joints: list[SalientJoint] = Field(min_length=3)
    metrics: list[Metric] = Field(min_length=6)
    problems: list[Problem] = Field(min_length=10)

    @model_validator(mode="after")
    def _consistency(self):
        kf = [k.name for k in self.keyframes]
        if len(set(kf)) != len(kf):
            raise ValueError("keyframe names repeat")
        order = {k: i for i, k in enumerate(kf)}
        for p in self.phases:
            for k in (p.start, p.end):
                if k not in order:
                    raise ValueError(f"phase {p.name} names unknown keyframe {k!r}")
            if order[p.start] >= order[p.end]:
                raise ValueError(f"phase {p.name} must start before it ends")
        for a, b in zip(self.phases, self.phases[1:]):
            if a.end != b.start:
                raise ValueError(f"phase {b.name} must start where {a.name} ends")
        metric_ids = [m.id for m in self.metrics]
        if len(set(metric_ids)) != len(metric_ids):
            raise ValueError("metric ids repeat")
        for m in self.metrics:
            d = m.definition
            for attr in ("keyframe", "from_keyframe", "to_keyframe", "relative_to"):
                k = getattr(d, attr, None)
                if k is not None and attr != "relative_to" or (attr == "relative_to" and isinstance(d, EventOffset)):
                    if k not in order:
                        raise ValueError(f"metric {m.id} names unknown keyframe {k!r}")
            for attr in ("joints", "point", "from_point", "to_point", "numerator", "denominator"):
                v = getattr(d, attr, None)
                for p in ([v] if isinstance(v, str) else (v or ())):
                    _check_point(p)
        phase_names = {p.name for p in self.phases}
        prob_ids = [p.id for p in self.problems]
        if len(set(prob_ids)) != len(prob_ids):
            raise ValueError("problem ids repeat")
        for p in self.problems:
            if p.phase not in phase_names:
                raise ValueError(f"problem {p.id} names unknown phase {p.phase!r}")
            for ind in p.indicators:
                if ind.metric not in metric_ids:
                    raise ValueError(f"problem {p.id} names unknown metric {ind.metric!r}")
        return self

    # Convenience -----------------------------------------------------------------------------
    @property
    def keyframe_names(self) -> list[str]:
        return [k.name for k in self.keyframes]

    @property
    def phase_names(self) -> list[str]:
        return [p.name for p in self.phases]

    def metric(self, metric_id: str) -> Metric:
        for m in self.metrics:
            if m.id == metric_id:
                return m
        raise KeyError(metric_id)

    def problem(self, problem_id: str) -> Problem:
        for p in self.problems:
            if p.id == problem_id:
                return p
        raise KeyError(problem_id)

    def w_matrix(self):
        """W (K metrics x 2 sides, M problems) as numpy: rows ordered metric-major, low then high."""
        import numpy as np

        rows = {(m.id, s): i for i, (m, s) in enumerate((m, s) for m in self.metrics for s in ("low", "high"))}
        w = np.zeros((len(rows), len(self.problems)), dtype=np.float64)
        for j, p in enumerate(self.problems):
            for ind in p.indicators:
                w[rows[(ind.metric, ind.side)], j] = ind.weight
        return w


def _describe(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    return f"{loc}: {err['msg']}" if loc else err["msg"]


def parse_action(text: str, source: str = "<string>") -> ActionSpec:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ActionSpecError(f"{source}: not valid YAML ({e.__class__.__name__}).") from None
    if not isinstance(data, dict):
        raise ActionSpecError(f"{source}: an action spec must be a mapping.")
    try:
        return ActionSpec.model_validate(data)
    except ValidationError as e:
        raise ActionSpecError(f"{source}: {_describe(e)}.") from None


@lru_cache(maxsize=None)
def load_action(action_id: str) -> ActionSpec:
    """Load and validate the spec of one action (cached); ActionSpecError on unknown id or bad file."""
    if action_id not in ACTION_IDS:
        raise ActionSpecError(f"unknown action {action_id!r}; choose one of {', '.join(ACTION_IDS)}.")
    path = SPEC_DIR / f"{action_id}.yaml"
    if not path.exists():
        raise ActionSpecError(f"the spec file for {action_id} is missing ({path}).")
    spec = parse_action(path.read_text(encoding="utf-8"), str(path))
    if spec.id != action_id:
        raise ActionSpecError(f"{path}: declares id {spec.id!r}, expected {action_id!r}.")
    return spec


def load_all_actions() -> dict[str, ActionSpec]:
    return {a: load_action(a) for a in ACTION_IDS}
