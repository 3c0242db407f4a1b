"""Evaluation of the analysis stages on held-out simulated attempts and on real recordings.

- :mod:`edge.evaluate.heldout`: the held-out seed scheme (evaluation seeds < 2**31, calibration
  seeds >= 2**31, development seeds 500-539 skipped) and the attempts.
- :mod:`edge.evaluate.align_eval`: keyframe error of MotionDTW, the Table 2 ablations and the
  plain-DTW / FastDTW baselines (``fieldcoach eval align``).
- :mod:`edge.evaluate.diagnose_eval`: diagnosis IoU (Eq. 6) against the simulator's faults for
  MotionDTW, FastDTW and true keyframes (``fieldcoach eval diagnose``).
- :mod:`edge.evaluate.baselines`: the raw-coordinate DTW and FastDTW keyframe baselines.
- :mod:`edge.evaluate.real_squats`: correct vs incorrect UI-PRMD deep squats, bottom keyframe
  vs the real deepest frame.
"""

from edge.evaluate.align_eval import METHODS as ALIGN_METHODS
from edge.evaluate.align_eval import evaluate_align, evaluate_align_actions
from edge.evaluate.diagnose_eval import METHODS as DIAGNOSE_METHODS
from edge.evaluate.diagnose_eval import evaluate_diagnose, evaluate_diagnose_actions, ground_truth
from edge.evaluate.heldout import heldout_seed, heldout_seeds
from edge.evaluate.real_squats import evaluate_real_squats

__all__ = [
    "ALIGN_METHODS",
    "DIAGNOSE_METHODS",
    "evaluate_align",
    "evaluate_align_actions",
    "evaluate_diagnose",
    "evaluate_diagnose_actions",
    "evaluate_real_squats",
    "ground_truth",
    "heldout_seed",
    "heldout_seeds",
]
