"""Networks and training: the adaptive spatio-temporal GCN scorer (adaptive-GCN paper, Sec. 3-5).

``AdaptiveGCNScorer(NetworkConfig())`` maps a normalized skeleton batch (N, C, T, 17) to a
``ScorerOutput`` (score 0-100, grade logits, phase scores and assignment, region attention).
``models.config`` holds the validated configuration with the Table 5 ablations, ``models.losses``
the mixed loss of Sec. 5, ``models.complexity`` the parameter and FLOP counts of Sec. 7.1.
"""

from models.agcn import AdaptiveGCNBackbone, AdaptiveGCNScorer, check_input, input_from_joints
from models.config import (
    ABLATIONS,
    GRADE_NAMES,
    LossConfig,
    NetworkConfig,
    ScorerConfig,
    ablation_config,
    fixed_gcn_baseline_config,
)
from models.head import HierarchicalHead, ScorerOutput, ordered_phase_segments

__all__ = [
    "ABLATIONS",
    "GRADE_NAMES",
    "AdaptiveGCNBackbone",
    "AdaptiveGCNScorer",
    "HierarchicalHead",
    "LossConfig",
    "NetworkConfig",
    "ScorerConfig",
    "ScorerOutput",
    "ablation_config",
    "check_input",
    "fixed_gcn_baseline_config",
    "input_from_joints",
    "ordered_phase_segments",
]
