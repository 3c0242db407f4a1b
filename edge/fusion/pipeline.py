"""The per-frame loop: Capture -> skeleton frames (COCO-17, metres, output frame y up, floor 0).

For every capture (``FusionPipeline.process``):

1. IMU samples -> 20 Hz Butterworth -> gravity on the depth clock (``gravity``);
2. depth -> background model, athlete blob and box (``person``); while the background is being
   learnt (the first ``learn_frames`` frames) nothing else happens, then the floor is fitted;
3. the box mapped into the color image -> the pose model (ONNX network or the simulator's
   stand-in) -> 17 keypoints at the color timestamp, kept on a track (``sync``);
4. each depth frame waits until the color track reaches its timestamp (at most one frame), then
   gets keypoints interpolated linearly onto the depth time (``sync.LinearTrack``);
5. lift with depth (``lift``), complete self-occluded keypoints with the online body model
   (``complete``, ``body``), refine with Eq. 1 (``refine``), express in the level frame;
6. gap filling for confidence < 0.5 (``gaps``, cubic spline) and zero-lag smoothing (``smooth``:
   a short filter for well-measured joints, a longer one for those placed by the body model or
   seen with low confidence).

Output frames leave with a latency of ``gaps.delay + smooth.half`` frames (19, about 0.63 s); their
timestamps are those of their depth frames. A depth frame whose timestamp does not increase is
dropped and logged; a jump back of more than 1 s (the device restarted) flushes the delay lines
and resets the clocks; ``sync.TimestampError`` ends a stream that keeps running backwards.
``stats.timings_ms`` records the wall-clock fusion cost of each processed capture (the last ``STATS_WINDOW``) without the
pose model, ``stats.cpu_ms`` the same as CPU time of the calling thread (what the fusion itself
costs when other processes compete for the cores). The per-pixel and per-keypoint loops (person,
lift with its projection, completion, refine, gap spline, the IMU filter and its interpolation)
are numba kernels; those of the lift, the projection, the completion and the IMU give the same
numbers, bit for bit, as the OpenCV / numpy / scipy code they replace (tests check it);
``warm_up`` compiles or loads them all before a live camera's first attempt (the service calls it
at start).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from calibration.kinect import KinectCalibration, undistort_pixels
from edge.capture.frames import Capture
from edge.fusion.body import BodyModel
from edge.fusion.complete import MISSING, RAW, NearSide, complete, lateral_axis
from edge.fusion.gaps import Frame, GapFiller
from edge.fusion.gravity import GravityEstimator
from edge.fusion.lift import Lifter
from edge.fusion.person import PersonFinder, box_in_color
from edge.fusion.pose2d import PoseModel
from edge.fusion.refine import LAMBDA1, refine
from edge.fusion.smooth import Smoother
from edge.fusion.sync import DROP, RESET, ClockCheck, LinearTrack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FusionConfig:
    """Knobs of the loop. learn_frames: background frames; max_gap: longest gap filled (frames);
    smooth_window / smooth_order: Savitzky-Golay of well-measured joints; smooth_long_window /
    smooth_long_order: that of weak joints (None: one filter for all), weak_conf: confidence
    below which a joint is weak (``smooth``); lambda1: Eq. 1's reprojection weight;
    raw_conf: least confidence for a keypoint's own depth to count; body_conf: least confidence
    for a bone measurement; max_wait_frames: how long a depth frame waits for color."""

    learn_frames: int = 15
    max_gap: int = 8  # 15 gave the same MPJPE and segmentation on simulated sessions, 7 frames later
    smooth_window: int = 9
    smooth_order: int = 3
    smooth_long_window: int | None = 15
    smooth_long_order: int = 2
    weak_conf: float = 0.6
    lambda1: float = LAMBDA1
    raw_conf: float = 0.3
    body_conf: float = 0.6
    max_wait_frames: int = 2


#: Per-capture timings kept in ``FusionStats`` (about 1 h at 30 fps); older ones are dropped.
STATS_WINDOW = 100_000


@dataclass
class SkeletonFrame:
    """One output frame: device_ts_usec (depth clock), t (s since the stream's first depth frame; it
    keeps running across a device restart, when the device clock starts again),
    joints float32 (17, 3) output frame (NaN unseen), confidence float32 (17,), person (bool),
    status int (17,) MISSING/RAW/COMPLETED (before gap filling), filled: joints filled by spline."""

    device_ts_usec: int
    t: float
    joints: np.ndarray
    confidence: np.ndarray
    person: bool
    status: np.ndarray
    filled: tuple[int, ...] = ()


def skeleton_frame(f: Frame) -> SkeletonFrame:
    """The output frame of a smoothed (or passed-through) frame: float32, a joint not seen in all
    three coordinates NaN with confidence 0."""
    joints = f.joints.astype(np.float32)
    conf = f.confidence.astype(np.float32)
    missing = ~np.isfinite(joints).all(axis=1)
    joints[missing] = np.nan
    conf[missing] = 0.0
    filled = tuple(sorted(f.extra.get("filled", ())))
    return SkeletonFrame(f.extra["ts"], f.t, joints, conf, f.extra["person"], f.extra["status"], filled)


@dataclass
class _Pending:
    ts: int
    depth: np.ndarray
    person: object
    waited: int = 0


@dataclass
class FusionStats:
    frames_in: int = 0
    frames_out: int = 0
    depth_dropped: int = 0
    color_dropped: int = 0
    clock_resets: int = 0
    no_color: int = 0
    filled_joints: int = 0
    timings_ms: list = field(default_factory=list)
    cpu_ms: list = field(default_factory=list)
    pose_ms: list = field(default_factory=list)


class FusionPipeline:
    """Depth + color keypoints + IMU -> skeleton frames (see the module docstring)."""

    def __init__(self, calibration: KinectCalibration, pose_model: PoseModel, config: FusionConfig | None = None):
        if calibration is None or calibration.depth is None or calibration.color is None:
            raise ValueError("the fusion needs a calibration with depth and color intrinsics (NFOV depth + color).")
        self.cal = calibration
        self.pose = pose_model
        self.config = config or FusionConfig()
        self._d2c = calibration.depth_to_color
        self.finder = PersonFinder(calibration.depth, learn_frames=self.config.learn_frames)
        self.gravity = GravityEstimator(calibration)
        self.lifter = Lifter(calibration)
        self.body = BodyModel()
        self.near = NearSide()
        self.gaps = GapFiller(max_gap=self.config.max_gap)
        self.smoother = Smoother(self.config.smooth_window, self.config.smooth_order, self.config.smooth_long_window,
                                 self.config.smooth_long_order, self.config.weak_conf)
        self.stats = FusionStats()
        self._depth_clock = ClockCheck("depth")
        self._color_clock = ClockCheck("color")
        self._color = LinearTrack(maxlen=8, hold_usec=40_000)
        self._pending: list[_Pending] = []
        self._t0: int | None = None
        self._t_base = 0.0
        self._last_t = 0.0
        self._prev_points: np.ndarray | None = None
        self._lateral: np.ndarray | None = None
        self._lateral_side: str | None = None
        self._floor_done = False

    # -- public ------------------------------------------------------------------------------
    def process(self, capture: Capture) -> list[SkeletonFrame]:
        """Feed one capture; returns the skeleton frames that leave the delay lines now."""
        t_start = time.perf_counter()
        c_start = time.thread_time()
        pose_s = pose_cpu = 0.0
        out: list[SkeletonFrame] = []
        self.gravity.push(capture.imu)
        if capture.depth is None or capture.depth_device_ts_usec is None:
            return out
        ts = int(capture.depth_device_ts_usec)
        verdict = self._depth_clock.check(ts)
        if verdict == DROP:
            self.stats.depth_dropped += 1
            return out
        if verdict == RESET:
            out += self._restart()
            self._depth_clock.check(ts)
        if self._t0 is None:
            self._t0 = ts
        self.stats.frames_in += 1
        self.gravity.update(ts)
        det = self.finder(capture.depth)
        if self.finder.learning:
            return out
        if not self._floor_done:
            self._fit_floor(capture.depth)
        if det is not None and capture.color is not None and capture.color_device_ts_usec is not None:
            box = box_in_color(det, self.cal)
            p0, pc0 = time.perf_counter(), time.thread_time()
            kp = self.pose.estimate(capture, box)
            pose_s = time.perf_counter() - p0
            pose_cpu = time.thread_time() - pc0
            if kp is not None:
                self._push_color(kp)
        self._pending.append(_Pending(ts, capture.depth, det))
        out += self._drain(final=False)
        self.stats.timings_ms.append((time.perf_counter() - t_start - pose_s) * 1e3)
        self.stats.cpu_ms.append((time.thread_time() - c_start - pose_cpu) * 1e3)
        self.stats.pose_ms.append(pose_s * 1e3)
        if len(self.stats.timings_ms) > STATS_WINDOW:  # hours on a live camera: keep the recent half
            for lst in (self.stats.timings_ms, self.stats.cpu_ms, self.stats.pose_ms):
                del lst[: -STATS_WINDOW // 2]
        return out

    def flush(self) -> list[SkeletonFrame]:
        """End of stream: fuse what waits, empty the delay lines."""
        out = self._drain(final=True)
        out += self._emit(self.gaps.flush(), through_smoother=True)
        out += self._emit_final(self.smoother.flush())
        return out

    # -- internals ---------------------------------------------------------------------------
    def _restart(self) -> list[SkeletonFrame]:
        out = self._drain(final=True)
        out += self._emit(self.gaps.reset(), through_smoother=True)
        out += self._emit_final(self.smoother.flush())
        # the device clock starts again: keep the stream's own time (t) running on
        if self._t0 is not None:
            self._t_base = self._last_t + 1.0 / 30.0
            self._t0 = None
        self._color.clear()
        self._color_clock.reset()
        self._depth_clock.reset()
        self.gravity.reset()
        self.near.reset()
        self._prev_points = None
        self.stats.clock_resets += 1
        return out

    def _fit_floor(self, depth: np.ndarray) -> None:
        if self.gravity.imu_up is None:
            return
        floor = self.gravity.fit_floor(depth)
        self._floor_done = True
        if floor is not None:
            self.finder.set_floor(floor.up, floor.camera_height_m)

    def _push_color(self, kp) -> None:
        verdict = self._color_clock.check(kp.color_device_ts_usec)
        if verdict == DROP:
            self.stats.color_dropped += 1
            return
        if verdict == RESET:
            self._color.clear()
        vec = np.concatenate([kp.uv.ravel(), kp.confidence.astype(np.float64)])
        self._color.push(kp.color_device_ts_usec, vec)

    def _drain(self, final: bool) -> list[SkeletonFrame]:
        out: list[SkeletonFrame] = []
        while self._pending:
            p = self._pending[0]
            ready = self._color.brackets(p.ts) or p.person is None
            if not ready and not final and p.waited < self.config.max_wait_frames:
                for q in self._pending:
                    q.waited += 1
                break
            self._pending.pop(0)
            out += self._emit(self.gaps.push(self._fuse(p)), through_smoother=True)
        return out

    def _emit(self, frames: list[Frame], through_smoother: bool) -> list[SkeletonFrame]:
        out = []
        for f in frames:
            out += self._emit_final(self.smoother.push(f)) if through_smoother else self._emit_final([f])
        return out

    def _emit_final(self, frames: list[Frame]) -> list[SkeletonFrame]:
        out = [skeleton_frame(f) for f in frames]
        self.stats.filled_joints += sum(len(f.filled) for f in out)
        self.stats.frames_out += len(out)
        return out

    def _update_lateral(self, near: str | None) -> np.ndarray | None:
        """The athlete's left-right axis (near -> far, depth frame, horizontal), averaged over
        about 10 frames of the refined skeleton: the body turns slowly, single frames are noisy."""
        if near is None or self._prev_points is None:
            self._lateral = None if near is None else self._lateral
            return None if near is None else self._lateral
        now = lateral_axis(self._prev_points, near, self.gravity.imu_up)
        if now is not None:
            if self._lateral is None or self._lateral_side != near:
                self._lateral = now
            else:
                m = 0.9 * self._lateral + 0.1 * now
                self._lateral = m / np.linalg.norm(m)
            self._lateral_side = near
        return self._lateral

    def _fuse(self, p: _Pending) -> Frame:
        t = self._t_base + (p.ts - self._t0) / 1e6
        self._last_t = t
        status = np.zeros(17, dtype=np.int64)
        joints = np.full((17, 3), np.nan)
        conf = np.zeros(17)
        level = self.gravity.level()
        vec = self._color.at(p.ts) if p.person is not None else None
        if p.person is None or vec is None or level is None:
            if p.person is not None and vec is None:
                self.stats.no_color += 1
            self._prev_points = None
            return Frame(t, joints, conf, {"ts": p.ts, "person": p.person is not None, "status": status})
        uv = vec[:34].reshape(17, 2)
        kconf = np.clip(vec[34:], 0.0, 1.0)
        q, _ = undistort_pixels(self.cal.color, uv)
        lift = self.lifter(uv, kconf, p.depth, p.person, q)
        return self._fuse_lifted(t, p.ts, uv, kconf, q, lift, level)

    def _fuse_lifted(self, t: float, ts: int, uv: np.ndarray, kconf: np.ndarray, q: np.ndarray, lift, level) -> Frame:
        """Step 5 from the lifted keypoints on: near side, completion, body model, Eq. 1, level frame."""
        near = self.near.update(uv, kconf)
        lateral = self._update_lateral(near)
        pts, status = complete(lift, kconf, self.body, near, self._prev_points, lateral, raw_conf=self.config.raw_conf)
        raw = status == RAW
        reliable = raw & (kconf >= self.config.body_conf)
        self.body.observe(pts, reliable, widths=near is None)
        p_d = np.where(raw[:, None] & np.isfinite(lift.p_depth).all(axis=1)[:, None], lift.p_depth, pts)
        refined = refine(p_d, q, kconf, self._d2c, lambda1=self.config.lambda1)
        refined[status == MISSING] = np.nan
        self._prev_points = refined
        joints = level.apply(refined)
        conf = np.where(status == MISSING, 0.0, kconf)
        return Frame(t, joints, conf, {"ts": ts, "person": True, "status": status})


def warm_up(frames: int = 90) -> float:
    """Fuse the first ``frames`` captures of a simulated session (and fill one gap), so that every
    compiled kernel of the fusion (person, lift, complete, refine, gaps) is compiled or loaded from
    numba's cache before a live camera's first attempt (a cold compile takes tens of seconds on a
    small CPU). Returns the seconds it took."""
    from edge.capture.sim_source import SimSource
    from edge.fusion.gaps import cubic_spline
    from edge.fusion.pose_sim import SimulatedPoseModel

    t0 = time.perf_counter()
    src = SimSource("standing_long_jump", 2**31 - 7, n_attempts=1)
    run_source(src, FusionPipeline(src.calibration, SimulatedPoseModel(src)), max_frames=frames)
    t = np.arange(6, dtype=np.float64)
    cubic_spline(t, np.stack([t, t * t, -t], axis=1), np.array([2.5]))
    return time.perf_counter() - t0


def run_source(source, pipeline: FusionPipeline, *, max_frames: int | None = None) -> list[SkeletonFrame]:
    """Convenience: feed every capture of a source through the pipeline; returns all output frames."""
    frames: list[SkeletonFrame] = []
    for i, capture in enumerate(source):
        if max_frames is not None and i >= max_frames:
            break
        frames += pipeline.process(capture)
    frames += pipeline.flush()
    return frames


def frames_to_arrays(frames: list[SkeletonFrame]) -> dict[str, np.ndarray]:
    """Stack frames: device_ts_usec int64 (T,), t (T,), joints float32 (T, 17, 3), confidence (T, 17),
    status int64 (T, 17)."""
    if not frames:
        return {"device_ts_usec": np.zeros(0, np.int64), "t": np.zeros(0), "joints": np.zeros((0, 17, 3), np.float32),
                "confidence": np.zeros((0, 17), np.float32), "status": np.zeros((0, 17), np.int64)}
    return {
        "device_ts_usec": np.array([f.device_ts_usec for f in frames], dtype=np.int64),
        "t": np.array([f.t for f in frames], dtype=np.float64),
        "joints": np.stack([f.joints for f in frames]).astype(np.float32),
        "confidence": np.stack([f.confidence for f in frames]).astype(np.float32),
        "status": np.stack([f.status for f in frames]).astype(np.int64),
    }
