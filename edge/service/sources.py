"""Frame sources the service adds to ``edge.fusion.loop.open_source``, and real-time pacing.

``SimClassSource`` is a simulated class at skeleton level: students take turns (each turn a
simulated session of ``attempts_per_turn`` attempts from ``edge.capture.sim_session``), with an
empty scene between turns and between lessons. It yields the ``SkeletonFrame`` the fusion emits
(joints with ``noise_m`` of Gaussian jitter, confidence 0.9 where a person is in view), so the
service runs segmentation and everything after it without rendering depth images; that is what
lets the lesson-day script replay an 8-hour day in minutes. Frames are made turn by turn, so
memory stays flat however long the day.

``Pacer`` sleeps so that a recorded or simulated stream plays at ``speed`` x real time.
"""

from __future__ import annotations

import time

import numpy as np

from edge.capture.frames import EndOfStream

CONFIDENCE = 0.9


class SimClassSource:
    """A simulated class at skeleton level (see the module docstring). Deterministic per seed."""

    calibration = None

    def __init__(
        self,
        action: str,
        seed: int = 0,
        *,
        attempts_per_turn: int = 2,
        turns: int | None = None,
        wait_s: tuple[float, float] = (3.0, 8.0),
        lesson_s: float | None = None,
        break_s: float = 600.0,
        lessons: int | None = None,
        noise_m: float = 0.01,
        fps: float = 30.0,
    ) -> None:
        if attempts_per_turn < 1:
            raise ValueError(f"a turn needs at least one attempt, got {attempts_per_turn}.")
        if lesson_s is not None and lesson_s <= 0:
            raise ValueError(f"a lesson must last a positive time, got {lesson_s} s.")
        self.action = action
        self.seed = int(seed)
        self.attempts_per_turn = int(attempts_per_turn)
        self.turns = turns
        self.wait_s = wait_s
        self.lesson_s = lesson_s
        self.break_s = float(break_s)
        self.lessons = lessons
        self.noise_m = float(noise_m)
        self.fps = float(fps)
        self.truth: list[dict] = []  # per simulated attempt: turn, stream start/end frames, faults
        self._rng = np.random.default_rng([self.seed, 4242])
        self._gen = self._frames()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._gen.close()

    def read(self):
        """The next skeleton frame; EndOfStream after the last turn (never, when unbounded)."""
        try:
            return next(self._gen)
        except StopIteration:
            raise EndOfStream("the simulated class is over.") from None

    def __iter__(self):
        return self._gen

    # ------------------------------------------------------------------------------------------
    def _frames(self):
        from edge.capture.sim_session import build_timeline
        from edge.fusion.complete import RAW
        from edge.fusion.pipeline import SkeletonFrame

        k = 0  # stream frame index
        turn = 0
        lesson = 0
        lesson_start = 0
        nobody = np.full((17, 3), np.nan, dtype=np.float32)
        zeros = np.zeros(17, dtype=np.float32)
        status = np.full(17, RAW, dtype=np.int64)

        def empty(n: int):
            nonlocal k
            for _ in range(n):
                yield SkeletonFrame(None, k / self.fps, nobody.copy(), zeros.copy(), False, status.copy())
                k += 1

        while self.turns is None or turn < self.turns:
            if self.lesson_s is not None and (k - lesson_start) / self.fps >= self.lesson_s:
                lesson += 1
                if self.lessons is not None and lesson >= self.lessons:
                    return
                yield from empty(int(round(self.break_s * self.fps)))
                lesson_start = k
            tl = build_timeline(self.action, self.seed + 1000 * turn, n_attempts=self.attempts_per_turn,
                                background_s=0.0, fps=self.fps)  # fmt: skip
            for a in tl.attempts:
                self.truth.append({"turn": turn, "start": k + a.start_frame, "end": k + a.end_frame,
                                   "faults": dict(a.faults), "score": a.score})  # fmt: skip
            noise = self._rng.normal(0.0, self.noise_m, tl.joints.shape).astype(np.float32)
            for i in range(tl.n_frames):
                present = bool(tl.present[i]) and np.isfinite(tl.joints[i]).all()
                if present:
                    joints = tl.joints[i].astype(np.float32) + noise[i]
                    conf = np.full(17, CONFIDENCE, dtype=np.float32)
                else:
                    joints, conf = nobody.copy(), zeros.copy()
                yield SkeletonFrame(None, k / self.fps, joints, conf, present, status.copy())
                k += 1
            turn += 1
            yield from empty(int(round(self._rng.uniform(*self.wait_s) * self.fps)))


class Pacer:
    """Sleeps so that stream time ``t`` (s) is reached at wall time start + (t - t0) / speed."""

    def __init__(self, speed: float, clock=time.monotonic, sleep=time.sleep) -> None:
        if speed < 0:
            raise ValueError(f"the replay speed must be positive (or 0 for as fast as possible), got {speed}.")
        self.speed = float(speed)
        self._clock, self._sleep = clock, sleep
        self._t0: float | None = None
        self._w0 = 0.0

    def wait(self, t: float | None) -> None:
        if self.speed == 0 or t is None:
            return
        if self._t0 is None or t < self._t0:
            self._t0, self._w0 = float(t), self._clock()
            return
        delay = self._w0 + (float(t) - self._t0) / self.speed - self._clock()
        if delay > 0:
            self._sleep(delay)
