"""Skeleton files as a stream: ``.npz`` skeletons (DESIGN.md contract) played back frame by frame.

This source skips pose estimation and lifting: it yields skeleton frames (the same
``SkeletonFrame`` the fusion emits), not camera captures, for the attempt segmenter and
everything after it. Several files play one after the other with a 1 s gap between them. Frame
times come from each file's ``t`` (seconds); device timestamps only when the file carries them
(``meta_device_ts_usec``, as ``fieldcoach record`` writes), else None - never invented.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from edge.capture.frames import EndOfStream
from edge.skeleton.io import read_npz
from edge.skeleton.sequence import SkeletonSequence

GAP_S = 1.0


class NpzSource:
    """Iterate SkeletonFrames from one or more skeleton files (see the module docstring)."""

    def __init__(self, paths: str | os.PathLike | Iterable[str | os.PathLike]):
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise ValueError("give at least one skeleton file.")
        self.sequences: list[SkeletonSequence] = [read_npz(p) for p in self.paths]
        self.action = self.sequences[0].action
        self._iter: Iterator | None = None

    @property
    def calibration(self):
        return None

    @property
    def fps(self) -> float:
        return float(self.sequences[0].fps)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._iter = None

    def __iter__(self):
        from edge.fusion.complete import RAW
        from edge.fusion.pipeline import SkeletonFrame

        offset = 0.0
        for seq in self.sequences:
            ts = seq.meta.get("device_ts_usec")
            ts = np.asarray(ts, dtype=np.int64) if ts is not None and np.shape(ts) == (seq.n_frames,) else None
            t0 = float(seq.t[0])
            for i in range(seq.n_frames):
                yield SkeletonFrame(
                    device_ts_usec=int(ts[i]) if ts is not None else None,
                    t=offset + float(seq.t[i]) - t0,
                    joints=seq.joints[i].copy(),
                    confidence=seq.confidence[i].copy(),
                    person=bool(np.isfinite(seq.joints[i]).any()),
                    status=np.full(17, RAW, dtype=np.int64),
                )
            offset += float(seq.t[-1]) - t0 + GAP_S

    def read(self):
        """The next frame; EndOfStream after the last one."""
        if self._iter is None:
            self._iter = iter(self)
        try:
            return next(self._iter)
        except StopIteration:
            raise EndOfStream("end of the skeleton files.") from None
