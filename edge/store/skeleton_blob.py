"""A SkeletonSequence as one compressed database blob, and back with validation.

Layout (little-endian)::

    b"FCSK"            4 bytes, magic
    format version     1 byte  (1)
    codec              1 byte  (1 = zlib)
    raw length         8 bytes, uint64: length of the .npz bytes
    payload            codec-compressed .npz bytes

The .npz bytes are exactly what ``edge.skeleton.io.write_npz`` would write with ``compress=False``
(same arrays, same member order, fixed zip timestamps), so equal sequences give equal blobs and the
inflated payload is a plain .npz that ``numpy.load`` reads. The zip members are stored
uncompressed and the whole archive is compressed once with zlib. Measured on this x86 host
(``python -m edge.store.skeleton_blob``, a 3 s attempt, 26.4 kB of raw .npz): deflated members
18.2 kB; one zlib stream 17.8 kB at level 1, 6 or 9 alike, about 0.5 ms to compress and 0.1 ms to
inflate; lzma 17.5 kB but 5-10x slower. Float32 joints are mostly noise to a byte compressor, so
the level barely matters; on a Jetson Nano's Cortex-A57 (several times slower) zlib still costs
a few milliseconds, next to one fsync per commit. lzma is not worth 1-2 % of space.
Integrity is covered twice: zlib's Adler-32 over the stream and the zip CRC-32 of every member.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from edge.skeleton.io import SkeletonFileError, npz_bytes, parse_npz_bytes
from edge.skeleton.sequence import SkeletonSequence

MAGIC = b"FCSK"
FORMAT_VERSION = 1
CODEC_ZLIB = 1
#: zlib level: 1, 6 and 9 give the same size within 0.5 % on skeleton data (see above); 6 is zlib's default.
ZLIB_LEVEL = 6
_HEADER = struct.Struct("<4sBBQ")
#: Refuse to inflate more than this (bytes); 10 minutes at 30 Hz is about 2.5 MB of .npz.
MAX_RAW_BYTES = 256 * 1024 * 1024


class SkeletonBlobError(ValueError):
    """A skeleton blob is not a valid compressed skeleton; the message is one sentence."""


def encode(seq: SkeletonSequence, level: int = ZLIB_LEVEL) -> bytes:
    """Validate ``seq`` and return its compressed blob; SkeletonFileError if it breaks the contract."""
    if not isinstance(seq, SkeletonSequence):
        raise SkeletonBlobError(f"expected a SkeletonSequence, got {type(seq).__name__}.")
    if not isinstance(level, int) or not 0 <= level <= 9:
        raise SkeletonBlobError(f"the zlib level must be an integer 0-9, got {level!r}.")
    try:
        raw = npz_bytes(seq, compress=False)
    except ValueError as e:  # object arrays in meta (pickling refused)
        raise SkeletonBlobError(f"the sequence's metadata cannot be stored without pickling ({e}).") from None
    return _HEADER.pack(MAGIC, FORMAT_VERSION, CODEC_ZLIB, len(raw)) + zlib.compress(raw, level)


def decode(blob: bytes) -> SkeletonSequence:
    """The SkeletonSequence in ``blob``; SkeletonBlobError (one sentence) on any corruption."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise SkeletonBlobError(f"a skeleton blob must be bytes, got {type(blob).__name__}.")
    blob = bytes(blob)
    if len(blob) < _HEADER.size:
        raise SkeletonBlobError(f"the skeleton blob is {len(blob)} bytes, shorter than its header.")
    magic, version, codec, raw_len = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise SkeletonBlobError("the blob is not a FieldCoach skeleton (wrong magic bytes).")
    if version != FORMAT_VERSION:
        raise SkeletonBlobError(f"the skeleton blob has format version {version}; this code reads {FORMAT_VERSION}.")
    if codec != CODEC_ZLIB:
        raise SkeletonBlobError(f"the skeleton blob uses unknown codec {codec}.")
    if raw_len > MAX_RAW_BYTES:
        raise SkeletonBlobError(f"the skeleton blob claims {raw_len} bytes, more than the {MAX_RAW_BYTES} allowed.")
    d = zlib.decompressobj()
    try:
        raw = d.decompress(blob[_HEADER.size :], raw_len + 1)
    except zlib.error as e:
        raise SkeletonBlobError(f"the skeleton blob is corrupt ({e}).") from None
    if not d.eof or d.unused_data or len(raw) != raw_len:
        raise SkeletonBlobError(
            f"the skeleton blob is truncated or has trailing data ({len(raw)} of {raw_len} bytes inflated)."
        )
    try:
        return parse_npz_bytes(raw, "the skeleton blob")
    except SkeletonFileError as e:
        raise SkeletonBlobError(str(e)) from None


def _benchmark() -> None:  # pragma: no cover - a measurement, run by hand
    """Print size and time of each codec/level on a 3 s noisy standing sequence."""
    import lzma
    import time

    rng = np.random.default_rng(0)
    n, fps = 90, 30.0
    joints = rng.normal(0, 0.3, (17, 3))[None] + np.cumsum(rng.normal(0, 0.004, (n, 17, 3)), axis=0)
    seq = SkeletonSequence.from_positions(joints, fps, action="standing_long_jump")
    raw = npz_bytes(seq, compress=False)
    deflated = npz_bytes(seq, compress=True)
    print(f"raw .npz {len(raw)} B; npz with deflated members {len(deflated)} B")
    cases = [(f"zlib-{lv}", lambda b, lv=lv: zlib.compress(b, lv), zlib.decompress) for lv in (1, 6, 9)]
    cases += [(f"lzma-{p}", lambda b, p=p: lzma.compress(b, preset=p), lzma.decompress) for p in (0, 6)]
    for name, comp, decomp in cases:
        reps = 200
        t0 = time.perf_counter()
        for _ in range(reps):
            c = comp(raw)
        t1 = time.perf_counter()
        for _ in range(reps):
            decomp(c)
        t2 = time.perf_counter()
        print(
            f"{name:8s} {len(c):6d} B ({100 * len(c) / len(raw):4.1f} %)  "
            f"compress {1e3 * (t1 - t0) / reps:.3f} ms  decompress {1e3 * (t2 - t1) / reps:.3f} ms"
        )


if __name__ == "__main__":  # pragma: no cover
    _benchmark()
