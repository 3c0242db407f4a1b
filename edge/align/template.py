"""Reference templates for MotionDTW: one good performance of an action with its keyframes.

A template holds the skeleton of one reference attempt (``joints`` float32 (T, 17, 3), metres,
y up, NaN for joints not seen), its frame rate, the frame index of each keyframe of the action
(``keyframes``: name -> frame in [0, T)), the action id and a free-text ``name`` (where it came
from). Files are ``.npz`` written atomically, with ``format_version`` (currently 1); readers
refuse other versions with TemplateError.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.skeleton.io import atomic_write_bytes
from edge.skeleton.joints import N_JOINTS
from edge.skeleton.sequence import SkeletonSequence

TEMPLATE_FORMAT_VERSION = 1
_KEYS = {"format_version", "action", "name", "joints", "fps", "keyframe_names", "keyframe_frames"}


class TemplateError(ValueError):
    """A template is invalid or its file cannot be read; the message is one sentence."""


@dataclass(frozen=True)
class Template:
    """A reference performance: joints float32 (T, 17, 3), fps (Hz), keyframes name -> frame."""

    action: str
    joints: np.ndarray
    fps: float
    keyframes: dict[str, int]
    name: str = ""

    def __post_init__(self):
        j = np.asarray(self.joints)
        if j.ndim != 3 or j.shape[1:] != (N_JOINTS, 3) or j.shape[0] < 2:
            raise TemplateError(f"template joints must have shape (T, 17, 3) with T >= 2, got {j.shape}.")
        object.__setattr__(self, "joints", np.ascontiguousarray(j, dtype=np.float32))
        if np.isinf(self.joints).any():
            raise TemplateError("template joints contain inf; missing joints must be NaN.")
        fps = float(self.fps)
        if not np.isfinite(fps) or fps <= 0:
            raise TemplateError(f"template fps must be positive, got {self.fps}.")
        object.__setattr__(self, "fps", fps)
        if not isinstance(self.action, str) or not self.action:
            raise TemplateError("template action must be a non-empty action id.")
        if not self.keyframes:
            raise TemplateError("a template needs at least one keyframe.")
        kf = {}
        for k, v in self.keyframes.items():
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise TemplateError(f"keyframe {k!r} must be an integer frame index, got {v!r}.")
            if not 0 <= int(v) < self.n_frames:
                raise TemplateError(f"keyframe {k!r} = {v} is outside the template's {self.n_frames} frames.")
            kf[str(k)] = int(v)
        object.__setattr__(self, "keyframes", kf)

    @property
    def n_frames(self) -> int:
        return int(self.joints.shape[0])

    @staticmethod
    def from_sequence(seq: SkeletonSequence, keyframes: dict[str, int], name: str = "", action: str | None = None) -> "Template":
        """Template from a recorded sequence; the action defaults to the sequence's label."""
        action = action or seq.action
        if not action:
            raise TemplateError("the sequence has no action label; pass action=...")
        return Template(action=action, joints=seq.joints, fps=seq.fps, keyframes=keyframes, name=name or (seq.subject or ""))

    def save(self, path: str | os.PathLike) -> None:
        """Write the template atomically as .npz (format_version 1)."""
        names = list(self.keyframes)
        arrays = {
            "format_version": np.int64(TEMPLATE_FORMAT_VERSION),
            "action": np.str_(self.action),
            "name": np.str_(self.name),
            "joints": self.joints,
            "fps": np.float64(self.fps),
            "keyframe_names": np.array(names, dtype=np.str_),
            "keyframe_frames": np.array([self.keyframes[k] for k in names], dtype=np.int64),
        }
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())

    @staticmethod
    def load(path: str | os.PathLike) -> "Template":
        """Read a template file; TemplateError (one sentence) on anything unexpected."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise TemplateError(f"{path}: no such template file.") from None
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise TemplateError(f"{path}: not a readable template file ({e.__class__.__name__}).") from None
        missing = _KEYS - set(data)
        if "format_version" in data and int(data["format_version"]) != TEMPLATE_FORMAT_VERSION:
            raise TemplateError(
                f"{path}: template format version {int(data['format_version'])} is not supported "
                f"(expected {TEMPLATE_FORMAT_VERSION})."
            )
        if missing:
            raise TemplateError(f"{path}: template file lacks {', '.join(sorted(missing))}.")
        names = [str(n) for n in data["keyframe_names"].reshape(-1)]
        frames = data["keyframe_frames"].reshape(-1)
        if len(names) != len(frames):
            raise TemplateError(f"{path}: keyframe names and frames differ in length.")
        try:
            return Template(
                action=str(data["action"]),
                joints=data["joints"],
                fps=float(data["fps"]),
                keyframes={n: int(f) for n, f in zip(names, frames)},
                name=str(data["name"]),
            )
        except TemplateError as e:
            raise TemplateError(f"{path}: {e}") from None
