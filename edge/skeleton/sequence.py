"""The skeleton-sequence type every stage passes around (DESIGN.md "Skeleton file")."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from edge.skeleton.joints import N_JOINTS, RIGID_BONES


@dataclass(frozen=True)
class SkeletonSequence:
    """A COCO-17 skeleton stream in metres, y up.

    joints: float32 (T, 17, 3); a joint that was not seen is NaN with confidence 0.
    confidence: float32 (T, 17) in [0, 1].
    t: float64 (T,) seconds, strictly increasing.
    fps: nominal frame rate (Hz), consistent with ``t``.
    action, subject: optional labels. meta: free-form extra arrays/strings kept with the file.
    """

    joints: np.ndarray
    confidence: np.ndarray
    t: np.ndarray
    fps: float
    action: str | None = None
    subject: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def duration(self) -> float:
        return float(self.t[-1] - self.t[0]) if self.n_frames > 1 else 0.0

    def validate(self) -> "SkeletonSequence":
        """Check the contract; raises SkeletonFileError with one sentence. Returns self."""
        from edge.skeleton.io import validate_arrays

        validate_arrays(self.joints, self.confidence, self.t, self.fps)
        return self

    def slice(self, start: int, stop: int) -> "SkeletonSequence":
        """Frames [start, stop) as a new sequence (timestamps kept, not re-zeroed)."""
        return replace(
            self,
            joints=self.joints[start:stop],
            confidence=self.confidence[start:stop],
            t=self.t[start:stop],
        )

    def visible(self, threshold: float = 0.5) -> np.ndarray:
        """Boolean (T, 17): joint observed with confidence >= threshold and finite."""
        return (self.confidence >= threshold) & np.isfinite(self.joints).all(axis=-1)

    @staticmethod
    def from_positions(
        joints: np.ndarray,
        fps: float,
        confidence: np.ndarray | None = None,
        t0: float = 0.0,
        **kwargs,
    ) -> "SkeletonSequence":
        """Build from (T, 17, 3) positions at a fixed rate; NaN joints get confidence 0."""
        joints = np.asarray(joints, dtype=np.float32)
        if joints.ndim != 3 or joints.shape[1:] != (N_JOINTS, 3):
            raise ValueError(f"joints must have shape (T, 17, 3), got {joints.shape}")
        finite = np.isfinite(joints).all(axis=-1)
        if confidence is None:
            confidence = finite.astype(np.float32)
        confidence = np.where(finite, np.asarray(confidence, dtype=np.float32), 0.0).astype(np.float32)
        joints = np.where(finite[..., None], joints, np.nan).astype(np.float32)
        t = t0 + np.arange(joints.shape[0], dtype=np.float64) / float(fps)
        return SkeletonSequence(joints=joints, confidence=confidence, t=t, fps=float(fps), **kwargs)


def bone_lengths(joints: np.ndarray, bones=RIGID_BONES) -> np.ndarray:
    """(T, n_bones) Euclidean bone lengths; NaN where an end is missing."""
    j = np.asarray(joints, dtype=np.float64)
    a = np.array([b[0] for b in bones])
    b = np.array([b[1] for b in bones])
    return np.linalg.norm(j[:, a] - j[:, b], axis=-1)
