"""Skeleton data model: COCO-17 joints, sequences, files, normalization."""

from edge.skeleton.joints import (
    Joint,
    JOINT_NAMES,
    EDGES,
    N_JOINTS,
    TORSO_EDGES,
    TORSO_JOINTS,
    adjacency,
    normalized_adjacency,
)
from edge.skeleton.sequence import SkeletonSequence
from edge.skeleton.io import SkeletonFileError, read_npz, write_npz, validate_arrays
from edge.skeleton.normalize import normalize

__all__ = [
    "Joint",
    "JOINT_NAMES",
    "EDGES",
    "N_JOINTS",
    "TORSO_EDGES",
    "TORSO_JOINTS",
    "adjacency",
    "normalized_adjacency",
    "SkeletonSequence",
    "SkeletonFileError",
    "read_npz",
    "write_npz",
    "validate_arrays",
    "normalize",
]
