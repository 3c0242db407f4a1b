"""Which motion formats can be imported, and the one entry point that dispatches on the format.

``import_file(path, fmt)`` returns a validated COCO-17 :class:`SkeletonSequence` (metres, y up,
floor at y = 0). Every problem with the input - an unknown format, a missing, unreadable or
malformed file - is an :class:`ImportFormatError` whose message is one sentence naming the file.
"""

from __future__ import annotations

import os

from edge.skeleton.sequence import SkeletonSequence

#: Format ids accepted by :func:`import_file` (and ``fieldcoach import --format``).
FORMATS: tuple[str, ...] = ("bvh", "uiprmd-kinect", "uiprmd-vicon")


class ImportFormatError(ValueError):
    """A file cannot be imported as the requested format; the message is one sentence."""


def import_file(path: str | os.PathLike, fmt: str) -> SkeletonSequence:
    """Import one motion file as a COCO-17 skeleton sequence.

    fmt: ``"bvh"`` (any BVH skeleton with common joint names), ``"uiprmd-kinect"`` (a UI-PRMD
    Kinect Positions file; its Angles file is found next to it) or ``"uiprmd-vicon"`` (a UI-PRMD
    Vicon Positions file). Readers are imported lazily, so asking for one format never pays for
    another.
    """
    if fmt == "bvh":
        from edge.importers.bvh import read_bvh

        return read_bvh(path)
    if fmt == "uiprmd-kinect":
        from edge.importers.uiprmd import read_uiprmd_kinect

        return read_uiprmd_kinect(path)
    if fmt == "uiprmd-vicon":
        from edge.importers.uiprmd import read_uiprmd_vicon

        return read_uiprmd_vicon(path)
    raise ImportFormatError(
        f"{os.fspath(path)}: unknown import format {fmt!r}; expected one of {', '.join(FORMATS)}."
    )
