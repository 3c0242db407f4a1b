"""A simulated student's body: age, sex, height, mass and segment lengths (metres).

Segment lengths are fractions of standing height H from Winter, *Biomechanics and Motor Control
of Human Movement* (4th ed., 2009), Fig. 4.1 (after Drillis & Contini 1966): hip (greater
trochanter) 0.530 H, knee 0.285 H, ankle 0.039 H above the floor, so thigh 0.245 H and leg (shank)
0.246 H; shoulder 0.818 H above the floor, hence trunk (hip centre to shoulder centre) 0.288 H;
upper arm 0.186 H; forearm 0.146 H; foot length 0.152 H; shoulder width 0.259 H; hip width 0.191 H.

COCO keypoints are not Winter's bony landmarks, so three widths are adjusted and said so here:
the shoulder keypoints lie inside the shoulder width (we take 81 % of it, 0.21 H, between the
glenohumeral centres and the acromion edges), and the hip keypoints near the hip joint centres
(60 % of the hip width, 0.115 H; girls get 0.122 H). The head and face points (ears, eyes, nose)
are placed from the same figure (chin 0.870 H, eye level 0.936 H) with the ear canal about
0.107 H above the shoulder centre; see ``HEAD_POINTS``.

Individual variation: every length is multiplied by its own factor ~ N(1, 0.025) clipped to
+-6 %, left and right equal. Height is drawn per age and sex (age 12–18, 1.45–1.85 m, the SAQD
population of the adaptive-GCN paper Sec. 6.1), mass from a body-mass index per age.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Segment length / height ratios (Winter 2009, Fig. 4.1), COCO-adjusted where noted above.
LENGTH_RATIOS: dict[str, float] = {
    "thigh": 0.245,  # hip joint to knee
    "shank": 0.246,  # knee to ankle
    "trunk": 0.288,  # mid-hip to mid-shoulder
    "neck": 0.107,  # mid-shoulder to the ear canal (head-and-neck centre of mass, Winter Table 4.1)
    "upper_arm": 0.186,
    "forearm": 0.146,  # elbow to wrist
    "shoulder_width": 0.259 * 0.81,
    "pelvis_width": 0.191 * 0.60,
    "ankle_height": 0.039,
    "foot_length": 0.152,
}

#: Head and face points relative to the ear-canal midpoint, as fractions of H:
#: (forward, up, lateral half-distance).
HEAD_POINTS: dict[str, tuple[float, float, float]] = {
    "ear": (0.0, 0.0, 0.045),
    "eye": (0.050, 0.011, 0.019),
    "nose": (0.062, -0.012, 0.0),
}

#: Foot landmarks relative to the ankle along the sole, as fractions of the foot length (the
#: ankle sits about 20 % of the foot length in front of the heel; the ball (metatarsal heads) at
#: 75 % and the toe tip at 100 % of it from the heel).
FOOT_POINTS: dict[str, float] = {"heel": -0.20, "ball": 0.55, "toe": 0.80}

AGE_RANGE = (12.0, 18.0)
HEIGHT_RANGE = (1.45, 1.85)
SEXES = ("male", "female")
LENGTH_CV = 0.025
LENGTH_CLIP = 0.06


@dataclass(frozen=True)
class Body:
    """Anthropometry of one simulated student. Lengths in metres, mass in kg, age in years.

    ``side`` of the face points and feet is implicit: left joints at -z, right at +z.
    """

    age: float
    sex: str
    height: float
    mass: float
    thigh: float
    shank: float
    trunk: float
    neck: float
    upper_arm: float
    forearm: float
    shoulder_width: float
    pelvis_width: float
    ankle_height: float
    foot_length: float
    ear_half_width: float
    eye_forward: float
    eye_up: float
    eye_half_width: float
    nose_forward: float
    nose_up: float

    @property
    def leg_length(self) -> float:
        """Hip joint to ankle, fully extended (m)."""
        return self.thigh + self.shank

    @property
    def standing_hip_height(self) -> float:
        return self.ankle_height + self.shank + self.thigh

    def foot_offset(self, point: str) -> float:
        """Distance along the sole from the ankle to 'heel' (negative), 'ball' or 'toe' (m)."""
        return FOOT_POINTS[point] * self.foot_length

    def to_dict(self) -> dict:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _mean_height(age: float, sex: str) -> float:
    """Mean standing height (m) by age and sex, a linear fit to WHO 2007 growth references
    (boys 1.50 m at 12 to 1.76 m at 18; girls 1.51 m to 1.63 m), capped by the population range."""
    if sex == "male":
        return 1.50 + (1.76 - 1.50) * (age - 12.0) / 6.0
    return 1.51 + (1.63 - 1.51) * min(age - 12.0, 4.0) / 4.0


def body_from(age: float, sex: str, height: float, bmi: float, factors: dict[str, float] | None = None) -> Body:
    """A body with standard proportions; ``factors`` multiplies individual lengths (default 1)."""
    if sex not in SEXES:
        raise ValueError(f"sex must be one of {SEXES}, got {sex!r}")
    if not HEIGHT_RANGE[0] - 1e-9 <= height <= HEIGHT_RANGE[1] + 1e-9:
        raise ValueError(f"height must lie in {HEIGHT_RANGE} m, got {height}")
    if not 10.0 <= bmi <= 40.0:
        raise ValueError(f"body-mass index must lie in [10, 40], got {bmi}")
    f = dict.fromkeys(LENGTH_RATIOS, 1.0)
    f.update(factors or {})
    ratios = dict(LENGTH_RATIOS)
    if sex == "female":
        ratios["pelvis_width"] = 0.191 * 0.64
        ratios["shoulder_width"] = 0.259 * 0.78
    lengths = {k: ratios[k] * height * f[k] for k in ratios}
    head = height * f.get("head", 1.0)
    return Body(
        age=float(age),
        sex=sex,
        height=float(height),
        mass=float(bmi * height**2),
        ear_half_width=HEAD_POINTS["ear"][2] * head,
        eye_forward=HEAD_POINTS["eye"][0] * head,
        eye_up=HEAD_POINTS["eye"][1] * head,
        eye_half_width=HEAD_POINTS["eye"][2] * head,
        nose_forward=HEAD_POINTS["nose"][0] * head,
        nose_up=HEAD_POINTS["nose"][1] * head,
        **{k: float(v) for k, v in lengths.items()},
    )


def sample_body(rng: np.random.Generator, age: float | None = None, sex: str | None = None) -> Body:
    """Draw a student: age U(12, 18), sex 50/50, height N(mean(age, sex), 6.5 cm) truncated to
    1.45–1.85 m, BMI N(18.5 + 0.45 (age - 12), 2.5) clipped to 15–30, per-segment variation."""
    if age is None:
        age = float(rng.uniform(*AGE_RANGE))
    if not AGE_RANGE[0] <= age <= AGE_RANGE[1]:
        raise ValueError(f"age must lie in {AGE_RANGE}, got {age}")
    if sex is None:
        sex = SEXES[int(rng.integers(2))]
    mu = _mean_height(age, sex)
    for _ in range(100):
        height = float(rng.normal(mu, 0.065))
        if HEIGHT_RANGE[0] <= height <= HEIGHT_RANGE[1]:
            break
    else:  # pragma: no cover - the truncation window always holds mass for these means
        height = float(np.clip(mu, *HEIGHT_RANGE))
    bmi = float(np.clip(rng.normal(18.5 + 0.45 * (age - 12.0), 2.5), 15.0, 30.0))
    names = list(LENGTH_RATIOS) + ["head"]
    raw = rng.normal(1.0, LENGTH_CV, len(names))
    factors = {n: float(np.clip(v, 1 - LENGTH_CLIP, 1 + LENGTH_CLIP)) for n, v in zip(names, raw)}
    return body_from(age, sex, height, bmi, factors)
