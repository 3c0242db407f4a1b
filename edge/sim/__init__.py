"""The simulated athlete: labelled COCO-17 motion of students without a camera.

Entry points: ``simulate`` (one attempt with its ground truth), ``generate_dataset`` (files and an
index), ``rubric_text`` (the quality rubric of an action), ``plot_sample`` (a PNG of an attempt).
How to add an action: edge/sim/FRAMEWORK.md.
"""

from edge.sim.dataset import generate_dataset
from edge.sim.labels import GRADE_THRESHOLDS, grade, rubric_text
from edge.sim.plotting import plot_sample
from edge.sim.simulate import SimSample, draw_labels, simulate

__all__ = [
    "GRADE_THRESHOLDS",
    "SimSample",
    "draw_labels",
    "generate_dataset",
    "grade",
    "plot_sample",
    "rubric_text",
    "simulate",
]
