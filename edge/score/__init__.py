"""The scorer at run time: input preparation, verified model bundles, inference backends, batching.

``Scorer.load(models_dir, action)`` verifies ``models_dir/<action>/`` (card, sha256, golden-sample
parity), opens the fastest available backend (TensorRT, ONNX Runtime CUDA, ONNX Runtime CPU) and
scores ``SkeletonSequence`` attempts; ``ScoringQueue`` batches attempts. No torch needed.
"""

from edge.score.backends import BackendUnavailable, OrtBackend, TensorRTBackend, open_backend
from edge.score.bundle import ModelFileError, load_bundle
from edge.score.preprocess import InputSpec, prepare_input
from edge.score.scorer import Scorer, ScoreResult, ScoringQueue

__all__ = [
    "BackendUnavailable",
    "InputSpec",
    "ModelFileError",
    "OrtBackend",
    "ScoreResult",
    "Scorer",
    "ScoringQueue",
    "TensorRTBackend",
    "load_bundle",
    "open_backend",
    "prepare_input",
]
