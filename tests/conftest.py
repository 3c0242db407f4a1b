"""Shared fixtures: small valid skeleton sequences built here, and the real data folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edge.skeleton.sequence import SkeletonSequence

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FIELDCOACH_SHARED_DATA", REPO.parent / "shared" / "data"))


def standing_pose() -> np.ndarray:
    """A standing COCO-17 pose (17, 3) in metres, y up, facing +x, left side at -z."""
    p = np.zeros((17, 3), dtype=np.float64)
    p[0] = [0.08, 1.60, 0.0]  # nose
    p[1] = [0.06, 1.64, -0.03]
    p[2] = [0.06, 1.64, 0.03]
    p[3] = [0.0, 1.62, -0.07]
    p[4] = [0.0, 1.62, 0.07]
    p[5] = [0.0, 1.42, -0.18]  # shoulders
    p[6] = [0.0, 1.42, 0.18]
    p[7] = [0.0, 1.14, -0.20]  # elbows
    p[8] = [0.0, 1.14, 0.20]
    p[9] = [0.0, 0.88, -0.20]  # wrists
    p[10] = [0.0, 0.88, 0.20]
    p[11] = [0.0, 0.92, -0.10]  # hips
    p[12] = [0.0, 0.92, 0.10]
    p[13] = [0.0, 0.50, -0.10]  # knees
    p[14] = [0.0, 0.50, 0.10]
    p[15] = [0.0, 0.08, -0.10]  # ankles
    p[16] = [0.0, 0.08, 0.10]
    return p


def make_sequence(n: int = 60, fps: float = 30.0, seed: int = 0) -> SkeletonSequence:
    rng = np.random.default_rng(seed)
    base = standing_pose()
    t = np.arange(n) / fps
    joints = base[None] + rng.normal(0, 0.005, (n, 17, 3))
    joints[:, :, 0] += 0.5 * t[:, None]  # walking forward slowly
    return SkeletonSequence.from_positions(joints, fps, action="standing_long_jump", subject="t01")


@pytest.fixture
def seq() -> SkeletonSequence:
    return make_sequence()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared data folder {SHARED_DATA} is missing; set FIELDCOACH_SHARED_DATA")
    return SHARED_DATA
