"""The capture loop behind ``fieldcoach capture`` and ``fieldcoach record``.

``open_source(kind, ...)`` opens one of the four sources (``sim``, ``mkv``, ``k4a``, ``npz``);
``run_loop(source, action, ...)`` feeds it through the fusion (not for ``npz``: skeleton files
skip pose and lifting) and the attempt segmenter (or fixed 90-frame windows), hands every
attempt to ``on_attempt`` as it is found, optionally records the session, and returns a summary.

Failure handling, so that the loop never hangs and never spins: a live camera's time-out is
logged and the loop waits for the next capture, giving up after ``max_timeouts`` in a row; a
disconnect the source could not repair, a corrupted recording (after the intact part has been
processed) and timestamps that keep running backwards end the loop with their one-sentence error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from edge.actions.spec import load_action
from edge.capture.frames import CorruptRecording, EndOfStream, SourceTimeout
from edge.fusion.segment import Attempt, AttemptSegmenter, SlidingWindower

log = logging.getLogger(__name__)
SOURCES = ("sim", "mkv", "k4a", "npz")


@dataclass
class LoopSummary:
    """What a run did: captures read, skeleton frames, attempts, time-outs, the error that ended it."""

    captures: int = 0
    frames: int = 0
    attempts: list = field(default_factory=list)
    timeouts: int = 0
    error: str | None = None
    stats: object = None


def open_source(kind: str, *, file: str | None = None, action: str = "standing_long_jump", seed: int = 0,
                attempts: int = 3, condition: str = "normal", device_id: int = 0):
    """The frame source of one kind (a context manager). ``file``: the .mkv or .npz to read."""
    if kind not in SOURCES:
        raise ValueError(f"unknown source {kind!r}; choose one of {', '.join(SOURCES)}.")
    if kind in ("mkv", "npz") and not file:
        raise ValueError(f"--source {kind} needs --file.")
    if kind == "sim":
        from edge.capture.sim_source import SimSource

        return SimSource(action, seed, condition=condition, n_attempts=attempts)
    if kind == "mkv":
        from edge.capture.mkv import MkvSource

        return MkvSource(file)
    if kind == "npz":
        from edge.capture.npz_source import NpzSource

        return NpzSource(file)
    from edge.capture.k4a_source import K4aSource

    return K4aSource(device_id)


def pose_model_for(kind: str, source, model_path: str | None):
    """The ONNX pose model when a path is given; the simulator's stand-in for ``sim``; else an error."""
    if model_path:
        from edge.fusion.pose2d import OnnxPoseModel

        return OnnxPoseModel(model_path)
    if kind == "sim":
        from edge.fusion.pose_sim import SimulatedPoseModel

        return SimulatedPoseModel(source)
    raise ValueError(f"--source {kind} needs a 17-keypoint ONNX pose model (--pose-model FILE); "
                     "only the simulator has a built-in stand-in.")


def _frames(kind: str, source, pipeline, summary: LoopSummary, max_frames: int | None, max_timeouts: int,
            recorder):
    """Skeleton frames from the source (through the fusion unless it is a skeleton file)."""
    if kind == "npz":
        for frame in source:
            yield frame
        return
    while max_frames is None or summary.captures < max_frames:
        try:
            capture = source.read()
        except EndOfStream:
            break
        except SourceTimeout as exc:
            summary.timeouts += 1
            log.warning("%s (%d in a row)", exc, summary.timeouts)
            if summary.timeouts >= max_timeouts:
                raise
            continue
        summary.timeouts = 0
        summary.captures += 1
        if recorder is not None:
            recorder.add_capture(capture)
        yield from pipeline.process(capture)
    yield from pipeline.flush()


def run_loop(
    kind: str,
    source,
    action: str,
    *,
    pose=None,
    windows: bool = False,
    window: int = 90,
    stride: int = 30,
    recorder=None,
    max_frames: int | None = None,
    max_timeouts: int = 10,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> LoopSummary:
    """Run the loop (see the module docstring). Errors other than a clean end propagate after the
    attempts found so far have been reported; ``summary.error`` holds the sentence of a corrupted
    recording, which ends the loop like an end of stream."""
    spec = load_action(action)
    summary = LoopSummary()
    pipeline = None
    if kind != "npz":
        from edge.fusion.pipeline import FusionPipeline

        if source.calibration is None:
            raise ValueError("the source has no device calibration; the fusion needs one.")
        pipeline = FusionPipeline(source.calibration, pose)
        summary.stats = pipeline.stats
    segmenter = SlidingWindower(spec.id, window, stride) if windows else AttemptSegmenter(spec)

    def emit(att: Attempt) -> None:
        summary.attempts.append(att)
        if on_attempt is not None:
            on_attempt(att)

    try:
        for frame in _frames(kind, source, pipeline, summary, max_frames, max_timeouts, recorder):
            summary.frames += 1
            if recorder is not None:
                recorder.add_frame(frame)
            for att in segmenter.push(frame):
                emit(att)
    except CorruptRecording as exc:
        summary.error = str(exc)
        log.warning("recording damaged: %s", exc)
    for att in segmenter.flush():
        emit(att)
    return summary
