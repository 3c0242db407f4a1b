"""Quality labels: the rubric, three simulated raters, grades, and rater agreement (ICC).

Rubric (0–100). Every technique parameter i of an action carries ``weight`` w_i rubric points
(the weights of an action sum to 100), an ``ideal`` value and a ``tolerance`` tau_i. Its
deviation d_i is |x_i - ideal_i|, or only the shortfall (``penalize='below'``) or only the excess
(``'above'``). The item earns

    points_i = w_i * exp(-0.5 * (d_i / tau_i)^2)

so a deviation of one tolerance keeps 61 % of the item's points, two keep 14 %, three keep 1 %;
the true quality score is the sum of the items' points. ``rubric_text(action)`` prints the table.

Raters. As in the SAQD data set (adaptive-GCN paper Sec. 6.1) each attempt is scored by three
raters; the label is their mean. Rater j reports score + b_j + e, with a fixed leniency b_j
(``RATER_BIAS``) and independent noise e ~ N(0, ``RATER_NOISE_SD``^2), clipped to [0, 100] and
rounded to 0.5 points. The noise is set so that the agreement of single raters, ICC(2,1), is
about 0.92 on the simulated population (the paper reports 0.92).

Grades follow the national student physical fitness standard's bands (``GRADE_THRESHOLDS``):
excellent >= 90, good >= 80, medium >= 70, pass >= 60, otherwise fail.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from edge.sim.technique import TechniqueParam

#: (grade, minimum score), best first; anything below the last is ``FAIL_GRADE``.
GRADE_THRESHOLDS: tuple[tuple[str, float], ...] = (
    ("excellent", 90.0),
    ("good", 80.0),
    ("medium", 70.0),
    ("pass", 60.0),
)
FAIL_GRADE = "fail"
GRADES: tuple[str, ...] = tuple(g for g, _ in GRADE_THRESHOLDS) + (FAIL_GRADE,)

N_RATERS = 3
#: Fixed leniency of the three raters (points).
RATER_BIAS: tuple[float, ...] = (0.8, -1.0, 0.2)
#: Per-rating noise (points), tuned so ICC(2,1) is about 0.92 on the simulated population.
RATER_NOISE_SD = 2.8


def grade(score: float) -> str:
    """Grade of a 0–100 score."""
    if not np.isfinite(score):
        raise ValueError(f"a score must be a finite number, got {score}")
    for name, lo in GRADE_THRESHOLDS:
        if score >= lo:
            return name
    return FAIL_GRADE


def rubric_points(technique: Mapping[str, TechniqueParam], values: Mapping[str, float]) -> dict[str, float]:
    """Points earned per technique parameter (see the module docstring)."""
    missing = [k for k in technique if k not in values]
    if missing:
        raise ValueError(f"technique values missing: {', '.join(missing)}")
    out = {}
    for name, p in technique.items():
        z = p.deviation(float(values[name])) / p.tolerance
        out[name] = float(p.weight * np.exp(-0.5 * z * z))
    return out


def rubric_score(technique: Mapping[str, TechniqueParam], values: Mapping[str, float]) -> float:
    """True quality score 0–100 of technique values."""
    return float(sum(rubric_points(technique, values).values()))


def rate(score: float, rng: np.random.Generator) -> np.ndarray:
    """Three raters' scores (3,) for a true score."""
    noise = rng.normal(0.0, RATER_NOISE_SD, N_RATERS)
    r = np.clip(score + np.asarray(RATER_BIAS) + noise, 0.0, 100.0)
    return np.round(r * 2.0) / 2.0


def label_score(ratings: np.ndarray) -> float:
    """The label: mean of the raters' scores, rounded to 0.1."""
    return float(np.round(np.mean(ratings), 1))


def icc(ratings: np.ndarray, kind: str = "2,1") -> float:
    """Intraclass correlation of an (n subjects, k raters) table (Shrout & Fleiss 1979).

    kind '1' = ICC(1): one-way random, single rater; '2,1' = ICC(2,1): two-way random, absolute
    agreement, single rater.
    """
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"ratings must be (n >= 2 subjects, k >= 2 raters), got {x.shape}")
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_tot = ((x - grand) ** 2).sum()
    msr = ss_rows / (n - 1)
    if kind == "1":
        msw = (ss_tot - ss_rows) / (n * (k - 1))
        return float((msr - msw) / (msr + (k - 1) * msw))
    if kind == "2,1":
        msc = ss_cols / (k - 1)
        mse = (ss_tot - ss_rows - ss_cols) / ((n - 1) * (k - 1))
        return float((msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n))
    raise ValueError(f"kind must be '1' or '2,1', got {kind!r}")


def rubric_text(action: str) -> str:
    """The rubric of an action as printable text (``fieldcoach simulate --rubric --action A``)."""
    from edge.sim.actions import action_module

    mod = action_module(action)
    lines = [
        f"Quality rubric: {action} (0-100 points)",
        "Each item earns weight * exp(-0.5 * (deviation / tolerance)^2); the score is the sum.",
        "Deviation is from the ideal; 'below'/'above' items only count a shortfall/excess.",
        "",
        f"{'item':28s} {'weight':>6s} {'ideal':>8s} {'tol':>7s} {'unit':>6s}  counts  description",
    ]
    for name, p in mod.TECHNIQUE.items():
        lines.append(
            f"{name:28s} {p.weight:6.1f} {p.ideal:8.3g} {p.tolerance:7.3g} {p.unit:>6s}  {p.penalize:6s}  {p.description}"
        )
    lines += [
        "",
        f"Label: mean of {N_RATERS} raters (leniency {', '.join(f'{b:+.1f}' for b in RATER_BIAS)} points, "
        f"noise sd {RATER_NOISE_SD} points; ICC(2,1) about 0.92).",
        "Grades: " + ", ".join(f"{g} >= {lo:g}" for g, lo in GRADE_THRESHOLDS) + f", otherwise {FAIL_GRADE}.",
    ]
    return "\n".join(lines)
