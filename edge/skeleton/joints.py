"""COCO-17 joints, the bone (edge) list and adjacency matrices as small pure numpy functions.

The order is the DESIGN.md contract. The graph centre for the GCN is the trunk (mean of the
shoulders and hips); ``adjacency`` builds the physical adjacency A used by the adaptive GCN
(paper Eq. 5), with or without self-loops.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Joint(IntEnum):
    NOSE = 0
    LEFT_EYE = 1
    RIGHT_EYE = 2
    LEFT_EAR = 3
    RIGHT_EAR = 4
    LEFT_SHOULDER = 5
    RIGHT_SHOULDER = 6
    LEFT_ELBOW = 7
    RIGHT_ELBOW = 8
    LEFT_WRIST = 9
    RIGHT_WRIST = 10
    LEFT_HIP = 11
    RIGHT_HIP = 12
    LEFT_KNEE = 13
    RIGHT_KNEE = 14
    LEFT_ANKLE = 15
    RIGHT_ANKLE = 16


N_JOINTS = len(Joint)
JOINT_NAMES: tuple[str, ...] = tuple(j.name.lower() for j in Joint)

J = Joint
#: Anatomical connections (undirected), COCO-17 skeleton.
EDGES: tuple[tuple[int, int], ...] = (
    (J.NOSE, J.LEFT_EYE),
    (J.NOSE, J.RIGHT_EYE),
    (J.LEFT_EYE, J.LEFT_EAR),
    (J.RIGHT_EYE, J.RIGHT_EAR),
    (J.LEFT_EAR, J.LEFT_SHOULDER),
    (J.RIGHT_EAR, J.RIGHT_SHOULDER),
    (J.LEFT_SHOULDER, J.RIGHT_SHOULDER),
    (J.LEFT_SHOULDER, J.LEFT_ELBOW),
    (J.LEFT_ELBOW, J.LEFT_WRIST),
    (J.RIGHT_SHOULDER, J.RIGHT_ELBOW),
    (J.RIGHT_ELBOW, J.RIGHT_WRIST),
    (J.LEFT_SHOULDER, J.LEFT_HIP),
    (J.RIGHT_SHOULDER, J.RIGHT_HIP),
    (J.LEFT_HIP, J.RIGHT_HIP),
    (J.LEFT_HIP, J.LEFT_KNEE),
    (J.LEFT_KNEE, J.LEFT_ANKLE),
    (J.RIGHT_HIP, J.RIGHT_KNEE),
    (J.RIGHT_KNEE, J.RIGHT_ANKLE),
)
EDGES = tuple((int(a), int(b)) for a, b in EDGES)

#: Bones whose length is fixed by anatomy (used by plausibility checks): limbs and trunk sides.
RIGID_BONES: tuple[tuple[int, int], ...] = tuple(
    (int(a), int(b))
    for a, b in (
        (J.LEFT_SHOULDER, J.LEFT_ELBOW),
        (J.LEFT_ELBOW, J.LEFT_WRIST),
        (J.RIGHT_SHOULDER, J.RIGHT_ELBOW),
        (J.RIGHT_ELBOW, J.RIGHT_WRIST),
        (J.LEFT_HIP, J.LEFT_KNEE),
        (J.LEFT_KNEE, J.LEFT_ANKLE),
        (J.RIGHT_HIP, J.RIGHT_KNEE),
        (J.RIGHT_KNEE, J.RIGHT_ANKLE),
    )
)

TORSO_JOINTS: tuple[int, ...] = (
    int(J.LEFT_SHOULDER),
    int(J.RIGHT_SHOULDER),
    int(J.LEFT_HIP),
    int(J.RIGHT_HIP),
)
#: The four trunk edges of paper Eq. 2's scale s_n (shoulder line, hip line, both trunk sides).
TORSO_EDGES: tuple[tuple[int, int], ...] = (
    (int(J.LEFT_SHOULDER), int(J.RIGHT_SHOULDER)),
    (int(J.LEFT_HIP), int(J.RIGHT_HIP)),
    (int(J.LEFT_SHOULDER), int(J.LEFT_HIP)),
    (int(J.RIGHT_SHOULDER), int(J.RIGHT_HIP)),
)

#: Left/right pairs, for mirroring augmentations and asymmetry metrics.
LR_PAIRS: tuple[tuple[int, int], ...] = tuple(
    (int(a), int(b))
    for a, b in (
        (J.LEFT_EYE, J.RIGHT_EYE),
        (J.LEFT_EAR, J.RIGHT_EAR),
        (J.LEFT_SHOULDER, J.RIGHT_SHOULDER),
        (J.LEFT_ELBOW, J.RIGHT_ELBOW),
        (J.LEFT_WRIST, J.RIGHT_WRIST),
        (J.LEFT_HIP, J.RIGHT_HIP),
        (J.LEFT_KNEE, J.RIGHT_KNEE),
        (J.LEFT_ANKLE, J.RIGHT_ANKLE),
    )
)


def joint_index(name: str) -> int:
    """Index of a joint by its snake_case name (``left_knee``); ValueError names the bad one."""
    try:
        return JOINT_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown joint {name!r}; expected one of {', '.join(JOINT_NAMES)}") from None


def adjacency(self_loops: bool = False) -> np.ndarray:
    """Symmetric 0/1 physical adjacency (17, 17), float32."""
    a = np.zeros((N_JOINTS, N_JOINTS), dtype=np.float32)
    for i, j in EDGES:
        a[i, j] = a[j, i] = 1.0
    if self_loops:
        a += np.eye(N_JOINTS, dtype=np.float32)
    return a


def normalized_adjacency(self_loops: bool = True) -> np.ndarray:
    """Symmetrically normalized adjacency D^-1/2 (A [+ I]) D^-1/2, float32."""
    a = adjacency(self_loops=self_loops)
    deg = a.sum(axis=1)
    inv = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1e-12)), 0.0).astype(np.float32)
    return (inv[:, None] * a * inv[None, :]).astype(np.float32)
