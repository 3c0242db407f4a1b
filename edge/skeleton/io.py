"""Skeleton files (.npz): validated reading and atomic writing.

Contract (DESIGN.md): ``joints`` float32 (T, 17, 3); ``confidence`` float32 (T, 17) in [0, 1];
``t`` float64 (T,) seconds, strictly increasing; optional ``fps`` (float, must agree with ``t``),
``action``, ``subject``; any further ``meta_*`` arrays are kept as metadata. A joint that was not
seen is NaN in all three coordinates with confidence 0. Everything else is rejected with one
sentence (SkeletonFileError), never a traceback.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from edge.skeleton.joints import N_JOINTS
from edge.skeleton.sequence import SkeletonSequence

#: Allowed relative disagreement between the declared fps and the median timestamp step.
FPS_TOLERANCE = 0.10
MAX_FRAMES = 10_000_000


class SkeletonFileError(ValueError):
    """A skeleton file or array set breaks the contract; the message is one sentence."""


def validate_arrays(joints, confidence, t, fps=None) -> float:
    """Validate the contract in memory; returns the fps (declared or derived from ``t``)."""
    if not isinstance(joints, np.ndarray) or joints.dtype != np.float32:
        raise SkeletonFileError(f"'joints' must be float32, got {getattr(joints, 'dtype', type(joints))}.")
    if joints.ndim != 3 or joints.shape[1:] != (N_JOINTS, 3):
        raise SkeletonFileError(f"'joints' must have shape (T, 17, 3), got {joints.shape}.")
    n = joints.shape[0]
    if n < 2:
        raise SkeletonFileError(f"a skeleton sequence needs at least 2 frames, got {n}.")
    if n > MAX_FRAMES:
        raise SkeletonFileError(f"a skeleton sequence of {n} frames is larger than the {MAX_FRAMES} allowed.")
    if not isinstance(confidence, np.ndarray) or confidence.dtype != np.float32:
        raise SkeletonFileError(
            f"'confidence' must be float32, got {getattr(confidence, 'dtype', type(confidence))}."
        )
    if confidence.shape != (n, N_JOINTS):
        raise SkeletonFileError(f"'confidence' must have shape ({n}, 17), got {confidence.shape}.")
    if not isinstance(t, np.ndarray) or t.dtype != np.float64:
        raise SkeletonFileError(f"'t' must be float64 seconds, got {getattr(t, 'dtype', type(t))}.")
    if t.shape != (n,):
        raise SkeletonFileError(f"'t' must have shape ({n},), got {t.shape}.")
    if not np.isfinite(t).all():
        raise SkeletonFileError("'t' contains NaN or infinite timestamps.")
    dt = np.diff(t)
    if (dt <= 0).any():
        k = int(np.argmax(dt <= 0))
        raise SkeletonFileError(f"timestamps must be strictly increasing, but frame {k + 1} is not after frame {k}.")
    if not np.isfinite(confidence).all() or (confidence < 0).any() or (confidence > 1).any():
        raise SkeletonFileError("'confidence' must lie in [0, 1] with no NaN.")
    if np.isinf(joints).any():
        raise SkeletonFileError("'joints' contains infinite coordinates.")
    nan = np.isnan(joints)
    partial = nan.any(axis=-1) & ~nan.all(axis=-1)
    if partial.any():
        f, j = np.argwhere(partial)[0]
        raise SkeletonFileError(f"joint {j} in frame {f} is NaN in some but not all coordinates.")
    missing = nan.all(axis=-1)
    if (confidence[missing] != 0).any():
        f, j = np.argwhere(missing & (confidence != 0))[0]
        raise SkeletonFileError(f"joint {j} in frame {f} is NaN but has non-zero confidence.")
    if missing.all():
        raise SkeletonFileError("every joint in every frame is missing (NaN).")
    median_fps = 1.0 / float(np.median(dt))
    if fps is None:
        return median_fps
    fps = float(fps)
    if not np.isfinite(fps) or fps <= 0:
        raise SkeletonFileError(f"'fps' must be a positive number, got {fps}.")
    if abs(median_fps - fps) > FPS_TOLERANCE * fps:
        raise SkeletonFileError(
            f"'fps' says {fps:g} Hz but the timestamps run at {median_fps:.3g} Hz."
        )
    return fps


def _scalar_str(arr) -> str | None:
    if arr is None:
        return None
    a = np.asarray(arr)
    if a.shape != () or a.dtype.kind not in "US":
        raise SkeletonFileError("'action' and 'subject' must be single strings.")
    return str(a)


def read_npz(path: str | os.PathLike) -> SkeletonSequence:
    """Read and validate a skeleton file; SkeletonFileError (one sentence) on any problem."""
    path = Path(path)
    if not path.exists():
        raise SkeletonFileError(f"{path}: no such file.")
    if path.is_dir():
        raise SkeletonFileError(f"{path}: is a directory, not a skeleton file.")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SkeletonFileError(f"{path}: cannot be read ({e.strerror}).") from None
    return parse_npz_bytes(data, str(path))


def parse_npz_bytes(data: bytes, source: str = "skeleton data") -> SkeletonSequence:
    """Parse and validate the bytes of a skeleton .npz; SkeletonFileError names ``source``."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise SkeletonFileError(f"{source}: not a readable .npz skeleton file ({type(e).__name__}).") from None
    except ValueError as e:
        # np.load raises ValueError for pickled objects and for non-npz bytes.
        raise SkeletonFileError(f"{source}: not a valid .npz skeleton file ({e}).") from None
    except Exception as e:  # zlib.error, struct errors from truncated members
        raise SkeletonFileError(f"{source}: the file is corrupt or truncated ({type(e).__name__}).") from None
    for key in ("joints", "confidence", "t"):
        if key not in arrays:
            raise SkeletonFileError(f"{source}: the file has no '{key}' array.")
    try:
        fps_arr = arrays.get("fps")
        fps = None if fps_arr is None else float(np.asarray(fps_arr).reshape(()))
        fps = validate_arrays(arrays["joints"], arrays["confidence"], arrays["t"], fps)
        action = _scalar_str(arrays.get("action"))
        subject = _scalar_str(arrays.get("subject"))
    except SkeletonFileError as e:
        raise SkeletonFileError(f"{source}: {e}") from None
    except (TypeError, ValueError) as e:
        raise SkeletonFileError(f"{source}: 'fps' is not a single number ({e}).") from None
    meta = {k[5:]: v for k, v in arrays.items() if k.startswith("meta_")}
    return SkeletonSequence(
        joints=arrays["joints"],
        confidence=arrays["confidence"],
        t=arrays["t"],
        fps=fps,
        action=action,
        subject=subject,
        meta=meta,
    )


def fsync_dir(directory: str | os.PathLike) -> None:
    """fsync a directory, so that a rename or a new file in it survives a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a file atomically: temp file in the same directory, fsync, rename, fsync the directory."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


def write_npz(path: str | os.PathLike, seq: SkeletonSequence, compress: bool = True) -> None:
    """Validate and write a skeleton file atomically. Byte-reproducible for equal input."""
    atomic_write_bytes(path, npz_bytes(seq, compress))


def npz_bytes(seq: SkeletonSequence, compress: bool = True) -> bytes:
    """The validated .npz bytes of ``seq`` (what ``write_npz`` writes); equal input, equal bytes."""
    validate_arrays(seq.joints, seq.confidence, seq.t, seq.fps)
    arrays = {
        "joints": seq.joints,
        "confidence": seq.confidence,
        "t": seq.t,
        "fps": np.float64(seq.fps),
    }
    if seq.action is not None:
        arrays["action"] = np.str_(seq.action)
    if seq.subject is not None:
        arrays["subject"] = np.str_(seq.subject)
    for k, v in sorted(seq.meta.items()):
        arrays[f"meta_{k}"] = np.asarray(v)
    return _npz_bytes(arrays, compress)


def _npz_bytes(arrays: dict, compress: bool) -> bytes:
    """Serialize like np.savez but with fixed zip timestamps, so equal input gives equal bytes."""
    buf = io.BytesIO()
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", compression=mode) as zf:
        for name, value in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = mode
            info.external_attr = 0o600 << 16
            zf.writestr(info, member.getvalue())
    return buf.getvalue()
