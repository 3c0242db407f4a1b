"""KISMAM diagnosis (SportsGPT Sec. 3.1): metrics at keyframes -> deviations -> ranked problems.

- :mod:`edge.diagnose.geometry`: points (joints, mid_<pair>, ``{side}``), angles, velocities,
  the athlete's forward direction and stature estimates.
- :mod:`edge.diagnose.metrics`: every metric of an action spec measured on one attempt.
- :mod:`edge.diagnose.kismam`: Eq. 4 deviations, Eq. 5 scores, probabilities, top-6 problems with
  evidence, strengths per body dimension, the report fields, and Eq. 6 IoU.
"""

from edge.diagnose.geometry import Heading, estimate_heading, estimate_stature
from edge.diagnose.kismam import (
    TOP_N,
    AssessedMetric,
    Assessment,
    Diagnosis,
    Indicator,
    ProblemFinding,
    Strength,
    assess,
    deviation,
    diagnose,
    lowhigh_vector,
    problem_iou,
    problem_probabilities,
    problem_scores,
)
from edge.diagnose.metrics import MetricUnavailable, MetricValue, check_keyframes, compute_metrics

__all__ = [
    "TOP_N",
    "AssessedMetric",
    "Assessment",
    "Diagnosis",
    "Heading",
    "Indicator",
    "MetricUnavailable",
    "MetricValue",
    "ProblemFinding",
    "Strength",
    "assess",
    "check_keyframes",
    "compute_metrics",
    "deviation",
    "diagnose",
    "estimate_heading",
    "estimate_stature",
    "lowhigh_vector",
    "problem_iou",
    "problem_probabilities",
    "problem_scores",
]
