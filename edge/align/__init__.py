"""MotionDTW alignment (SportsGPT paper Sec. 3.1): features, banded DTW kernels, templates, keyframes.

``dtw``: banded-DTW Numba kernels behind validating functions (``banded_dtw``).
``subsequence``: the Stage-1 searches (``subsequence_search``, ``subsequence_dtw``).
``features``: Eq. 1 features from a skeleton and an action spec.
``template``: the reference-template file. ``motiondtw``: two-stage alignment and voting.
``refine``: event keyframes refined on the input's hips after the transfer (beyond the paper).
``synthetic``: jumps with known timing for tests. ``bench``: timings against dtaidistance, fastdtw.
"""

from edge.align.dtw import banded_dtw, banded_dtw_sqdist, pairwise_sqdist, windowed_sqdist
from edge.align.features import FeatureConfig, FeatureError, MotionFeatures, ablation_config, motion_features
from edge.align.motiondtw import (
    AlignmentError,
    KeyframeResult,
    MotionDTWConfig,
    PreparedTemplate,
    align,
    align_features,
    align_multi,
    align_sqdist,
    prepare_template,
    vote,
)
from edge.align.refine import RefineConfig, RefineError, keyframe_events, refine_keyframes
from edge.align.subsequence import SubsequenceMatch, subsequence_dtw, subsequence_dtw_profile, subsequence_search
from edge.align.template import Template, TemplateError

__all__ = [
    "AlignmentError",
    "FeatureConfig",
    "FeatureError",
    "KeyframeResult",
    "MotionDTWConfig",
    "MotionFeatures",
    "PreparedTemplate",
    "RefineConfig",
    "RefineError",
    "SubsequenceMatch",
    "Template",
    "TemplateError",
    "ablation_config",
    "align",
    "align_features",
    "align_multi",
    "align_sqdist",
    "banded_dtw",
    "banded_dtw_sqdist",
    "motion_features",
    "pairwise_sqdist",
    "prepare_template",
    "keyframe_events",
    "refine_keyframes",
    "subsequence_dtw",
    "subsequence_dtw_profile",
    "subsequence_search",
    "vote",
    "windowed_sqdist",
]
