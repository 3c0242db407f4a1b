"""The simulated athlete as an Azure Kinect sees it: a frame source with ground truth.

``SimSource(action, seed, condition=..., n_attempts=...)`` hands out the same :class:`Capture`
objects as a live camera or a recording:

- depth 640x576 uint16 mm (NFOV unbinned) and color 1280x720 RGB rendered by ``sim_render`` with
  a real device calibration (``sim_calibration``; or pass your own), camera on a tripod at the
  side of the field (height U(0.9, 1.3) m, U(2.8, 3.3) m from the athlete's line, aimed at the
  action, roll N(0, 1.5 deg), the athlete's heading relative to the camera U(-20, 20) deg);
- IMU at 1.6 kHz: specific force = gravity seen through the camera's tilt (the calibration's
  depth->accelerometer extrinsics), a constant bias N(0, 0.03 m/s^2) per axis, white noise sd
  0.02 m/s^2 (LSM6DSM-class), a short 30-40 Hz ringing of the tripod when a jumper lands;
  gyroscope bias N(0, 0.003 rad/s) and noise sd 0.002 rad/s; temperature about 32 C;
- timestamps on the device clock (``device_ts_usec``): depth every 33 333 us from a random start
  with 15 us jitter; color offset from depth by a per-session constant (U(-2, 2) ms; U(6, 12) ms
  in low light, the longer exposure moving the centre of exposure) plus 60 us jitter; each
  capture carries the IMU samples up to its latest image, as the SDK delivers them;
- ``detections(color_ts)``: what a 17-keypoint pose network would report on that color frame,
  made from the ground truth: a per-session bias per keypoint (sd 0.6 % of the person's image
  height) plus AR(1) jitter (0.5 %, x1.3 for wrists and ankles, x1.5 for hips), confidence
  0.75-0.95; keypoints hidden by the body itself (seen from the camera) get 2.5x noise and
  x0.5-0.8 confidence; keypoints behind the occluder 4x noise and confidence 0.05-0.45. This is
  the **pose-model stand-in**: ``edge.fusion.pose_sim.SimulatedPoseModel`` serves it through the
  pose-model interface so that the whole pipeline runs without pose weights;
- conditions: ``normal``; ``low_light`` (darker, noisier color image; keypoint jitter x2.5,
  confidence -0.12, bursts of lost keypoints at 1.5 per second; depth is active IR and unaffected);
  ``occlusion`` (a classmate-sized object, a vertical capsule of radius 0.22 m and height
  0.9-1.3 m, crosses between camera and athlete during every attempt, 1.4-2.0 m from the camera);
- ``truth``: the clean joints per depth frame in the world, depth and output frames, attempt
  boundaries and keyframes (``SimTruth``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.floor import level_transform
from calibration.kinect import KinectCalibration, RigidTransform, project
from edge.capture.frames import IMU_DTYPE, Capture, EndOfStream, FrameSourceBase, ImuSamples
from edge.capture.sim_render import (
    CAPSULE_A,
    CAPSULE_B,
    CAPSULE_GROUP,
    CAPSULE_R,
    DepthSensor,
    calibration_or_default,
    capsule_pixel_boxes,
    color_background,
    darken,
    default_rgb,
    draw_capsules_color,
    extended_points,
    floor_depth,
    make_rig,
    ray_capsule_depth,
    render_capsules,
)
from edge.capture.sim_session import SimTimeline, build_timeline

CONDITIONS = ("normal", "low_light", "occlusion")
FRAME_PERIOD_USEC = 1_000_000 / 30.0
IMU_RATE_HZ = 1600.0
GRAVITY = 9.80665
#: Body half-thickness at each joint (m, at H = 1.70 m) for the self-occlusion test of the stand-in.
SURFACE_RADIUS = np.array([0, 0, 0, 0, 0, 0.06, 0.06, 0.045, 0.045, 0.035, 0.035, 0.085, 0.085, 0.065, 0.065, 0.05, 0.05])
JITTER_FACTOR = np.array([0.8, 0.8, 0.8, 0.9, 0.9, 1.0, 1.0, 1.1, 1.1, 1.3, 1.3, 1.5, 1.5, 1.1, 1.1, 1.3, 1.3])
_PROFILE = {
    #            jitter x, conf shift, burst rate (1/s), color gain, color noise sd, color offset range (us)
    "normal": (1.0, 0.0, 0.0, 1.0, 0.0, (-2000, 2000)),
    "low_light": (2.5, -0.12, 1.5, 0.3, 7.0, (6000, 12000)),
    "occlusion": (1.0, 0.0, 0.0, 1.0, 0.0, (-2000, 2000)),
}
OCCLUDER_RADIUS = 0.22


@dataclass(frozen=True)
class Detections2D:
    """One color frame's keypoints from the pose stand-in: uv float64 (17, 2) color pixels,
    confidence float32 (17,) in [0, 1]."""

    color_device_ts_usec: int
    uv: np.ndarray
    confidence: np.ndarray


@dataclass
class SimTruth:
    """Ground truth of a simulated session.

    timeline: the clean session (world frame). world_to_depth: the true camera pose.
    depth_to_output: the true level frame (``calibration.floor.level_transform`` with the true up
    and camera height): what the fusion's output frame should be. depth_ts_usec / color_ts_usec:
    int64 (N,) the device timestamps of every frame (also the dropped ones).
    """

    timeline: SimTimeline
    calibration: KinectCalibration
    world_to_depth: RigidTransform
    depth_to_output: RigidTransform
    camera_height_m: float
    depth_ts_usec: np.ndarray
    color_ts_usec: np.ndarray
    rig: dict

    @property
    def attempts(self):
        return self.timeline.attempts

    def frame_of(self, device_ts_usec) -> np.ndarray:
        """Session frame index of depth timestamps (nearest frame)."""
        ts = np.asarray(device_ts_usec, dtype=np.float64)
        return np.rint((ts - self.depth_ts_usec[0]) / FRAME_PERIOD_USEC).astype(np.int64)

    def joints_depth(self) -> np.ndarray:
        """Clean joints (N, 17, 3) in the depth-camera frame (NaN where nobody is in view)."""
        return self.world_to_depth.apply(self.timeline.joints)

    def joints_output(self) -> np.ndarray:
        """Clean joints (N, 17, 3) in the output frame (y up, floor 0, x = image right)."""
        return self.depth_to_output.apply(self.joints_depth())


class SimSource(FrameSourceBase):
    """The simulated camera (see the module docstring). Deterministic for a given seed."""

    def __init__(
        self,
        action: str = "standing_long_jump",
        seed: int = 0,
        *,
        condition: str = "normal",
        n_attempts: int = 1,
        calibration: KinectCalibration | None = None,
        color: bool = True,
        background_s: float = 1.0,
        rest_s: tuple[float, float] = (1.0, 2.5),
        drop_rate: float = 0.0,
        timeline: SimTimeline | None = None,
    ):
        if condition not in CONDITIONS:
            raise ValueError(f"unknown condition {condition!r}; choose one of {', '.join(CONDITIONS)}.")
        if not 0.0 <= drop_rate < 0.5:
            raise ValueError(f"drop_rate must lie in [0, 0.5), got {drop_rate}.")
        self.action = action
        self.seed = int(seed)
        self.condition = condition
        self.render_color = bool(color)
        self.drop_rate = float(drop_rate)
        self._calibration = calibration_or_default(calibration)
        self.timeline = timeline if timeline is not None else build_timeline(
            action, seed, n_attempts=n_attempts, background_s=background_s, rest_s=rest_s
        )
        rng = np.random.default_rng([self.seed, 31337, CONDITIONS.index(condition)])
        self._rng = rng
        self._profile = _PROFILE[condition]
        self._setup_rig(rng)
        self._setup_clock(rng)
        self._setup_imu(rng)
        self._setup_keypoint_noise(rng)
        self._setup_occluder(rng)
        self._k = 0
        self._index = 0
        self._imu_pos = 0
        self._detections: dict[int, Detections2D] = {}
        self._closed = False

    # -- set-up -----------------------------------------------------------------------------
    def _setup_rig(self, rng: np.random.Generator) -> None:
        tl = self.timeline
        pts = tl.joints[tl.present].reshape(-1, 3)
        lo, hi = np.nanmin(pts, axis=0), np.nanmax(pts, axis=0)
        target = np.array([(lo[0] + hi[0]) / 2, min(0.9, (lo[1] + hi[1]) / 2), (lo[2] + hi[2]) / 2])
        rig = make_rig(
            target,
            height_m=float(rng.uniform(0.9, 1.3)),
            distance_m=float(rng.uniform(2.8, 3.3)),
            heading_deg=float(rng.uniform(-20.0, 20.0)),
            roll_deg=float(np.clip(rng.normal(0.0, 1.5), -4, 4)),
            pitch_offset_deg=float(rng.normal(0.0, 1.0)),
        )
        self.rig = rig
        cal = self._calibration
        self._d2c = cal.depth_to_color
        floor_z, cos_inc = floor_depth(cal.depth, rig)
        self._bg_z = floor_z
        self._sensor = DepthSensor(floor_z, np.where(np.isfinite(floor_z), cos_inc, 1.0), rng)
        if self.render_color:
            self._color_bg = color_background(cal.color, _color_floor_mask(cal, rig), rng)
        self._rgb = default_rgb(CAPSULE_GROUP)
        up = rig.up_in_depth
        self._depth_to_output = level_transform(up, rig.height_m)

    def _setup_clock(self, rng: np.random.Generator) -> None:
        n = self.timeline.n_frames
        t0 = int(rng.integers(300_000, 3_000_000))
        k = np.arange(n)
        self._depth_ts = (t0 + np.rint(k * FRAME_PERIOD_USEC) + np.rint(rng.normal(0, 15, n))).astype(np.int64)
        lo, hi = self._profile[5]
        offset = int(rng.integers(lo, hi + 1))
        self._color_offset = offset
        self._color_ts = (self._depth_ts + offset + np.rint(rng.normal(0, 60, n))).astype(np.int64)

    def _setup_imu(self, rng: np.random.Generator) -> None:
        cal = self._calibration
        start = int(self._depth_ts[0]) - 200_000
        end = int(max(self._depth_ts[-1], self._color_ts[-1])) + 1000
        n = int((end - start) / 1e6 * IMU_RATE_HZ) + 1
        ts = (start + np.rint(np.arange(n) * (1e6 / IMU_RATE_HZ)) + np.rint(rng.normal(0, 5, n))).astype(np.int64)
        ts = np.maximum.accumulate(ts)
        w2d = self.rig.world_to_depth.rotation
        d2a = cal.extrinsics("depth", "accel").rotation
        d2g = cal.extrinsics("depth", "gyro").rotation
        f_world = np.array([0.0, GRAVITY, 0.0])
        acc = np.tile(d2a @ w2d @ f_world, (n, 1))
        acc += rng.normal(0.0, 0.03, 3) + rng.normal(0.0, 0.02, (n, 3))
        t_s = (ts - self._depth_ts[0]) / 1e6
        for tl in self.timeline.landing_s:  # the tripod rings when a jumper lands
            dt = t_s - tl
            m = (dt >= 0) & (dt < 0.25)
            f = rng.uniform(30.0, 40.0)
            amp = rng.uniform(0.2, 0.5)
            acc[m] += (amp * np.exp(-dt[m] / 0.06) * np.sin(2 * np.pi * f * dt[m]))[:, None] * rng.normal(0, 1, 3)
        gyro = (d2g @ np.zeros(3)) + rng.normal(0.0, 0.003, 3) + rng.normal(0.0, 0.002, (n, 3))
        rec = np.zeros(n, dtype=IMU_DTYPE)
        rec["device_ts_usec"] = ts
        rec["acc"] = acc
        rec["gyro_device_ts_usec"] = ts + 13
        rec["gyro"] = gyro
        rec["temperature_c"] = 32.0 + rng.normal(0, 0.05, n)
        self._imu = rec

    def _setup_keypoint_noise(self, rng: np.random.Generator) -> None:
        n = self.timeline.n_frames
        jit, shift, burst_rate = self._profile[:3]
        self._kp_bias = rng.normal(0.0, 0.006, (17, 2))
        e = rng.normal(size=(n, 17, 2))
        ar = np.empty_like(e)
        ar[0] = e[0]
        for k in range(1, n):
            ar[k] = 0.5 * ar[k - 1] + np.sqrt(0.75) * e[k]
        self._kp_jitter = ar * (0.005 * jit * JITTER_FACTOR)[None, :, None]
        conf = np.clip(rng.uniform(0.75, 0.95, 17)[None, :] + shift + rng.normal(0, 0.03, (n, 17)), 0.05, 1.0)
        burst = np.ones((n, 17))
        for _ in range(int(rng.poisson(burst_rate * n / 30.0))):
            j, k0 = int(rng.integers(17)), int(rng.integers(n))
            k1 = min(n, k0 + int(rng.integers(2, 11)))
            conf[k0:k1, j] = rng.uniform(0.05, 0.45)
            burst[k0:k1, j] = 3.0
        self._kp_conf = conf
        self._kp_burst = burst
        self._occ_draw = rng.random((n, 17))

    def _setup_occluder(self, rng: np.random.Generator) -> None:
        """One pass per attempt in the occlusion condition: centre x(t) (world), fixed z, top height."""
        self._occluder: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        if self.condition != "occlusion":
            return
        rig = self.rig.world_to_depth.inverse()
        cam = rig.translation_m
        fps = self.timeline.fps
        for att in self.timeline.attempts:
            a, b = att.start_frame, att.end_frame
            mid = self.timeline.joints[a : b + 1].reshape(-1, 3)
            centre = np.nanmean(mid, axis=0)
            d = float(rng.uniform(1.4, 2.0))
            direction = centre - cam
            direction[1] = 0.0
            direction /= np.linalg.norm(direction)
            base = cam + d * direction
            speed = float(rng.uniform(0.4, 0.8)) * (1 if rng.random() < 0.5 else -1)
            k_pass = int(rng.integers(a, b + 1))  # the occluder is in front of the body centre then
            top = float(rng.uniform(0.9, 1.3))
            k0, k1 = max(0, k_pass - int(2.5 * fps)), min(self.timeline.n_frames, k_pass + int(2.5 * fps))
            t = (np.arange(k0, k1) - k_pass) / fps
            along = np.cross(direction, [0.0, 1.0, 0.0])
            xs = base[None, :] + (speed * t)[:, None] * along[None, :]
            self._occluder.append((k0, k1, xs, np.array([0.2 + OCCLUDER_RADIUS, top - OCCLUDER_RADIUS])))

    # -- public ------------------------------------------------------------------------------
    @property
    def calibration(self) -> KinectCalibration:
        return self._calibration

    @property
    def truth(self) -> SimTruth:
        return SimTruth(
            timeline=self.timeline,
            calibration=self._calibration,
            world_to_depth=self.rig.world_to_depth,
            depth_to_output=self._depth_to_output,
            camera_height_m=self.rig.height_m,
            depth_ts_usec=self._depth_ts.copy(),
            color_ts_usec=self._color_ts.copy(),
            rig=self.rig.describe() | {"color_offset_usec": self._color_offset, "condition": self.condition},
        )

    def detections(self, color_device_ts_usec: int) -> Detections2D:
        """The pose stand-in's keypoints on the color frame with this timestamp (already read)."""
        try:
            return self._detections[int(color_device_ts_usec)]
        except KeyError:
            raise KeyError(f"no simulated color frame has timestamp {color_device_ts_usec} us.") from None

    def __len__(self) -> int:
        return self.timeline.n_frames

    def close(self) -> None:
        self._closed = True
        self._detections.clear()

    def read(self) -> Capture:
        if self._closed:
            raise ValueError("the simulated source is closed.")
        n = self.timeline.n_frames
        while self._k < n and self.drop_rate > 0 and self._k > 0 and self._rng.random() < self.drop_rate:
            self._k += 1  # a dropped frame: its IMU samples arrive with the next capture
        if self._k >= n:
            raise EndOfStream(f"end of the simulated session ({n} frames).")
        k = self._k
        self._k += 1
        capture = self._render(k)
        self._index += 1
        return capture

    # -- rendering ---------------------------------------------------------------------------
    def _occluder_at(self, k: int):
        for k0, k1, xs, (y0, y1) in self._occluder:
            if k0 <= k < k1:
                c = xs[k - k0]
                a = np.array([c[0], y0, c[2]])
                b = np.array([c[0], y1, c[2]])
                return self.rig.world_to_depth.apply(np.stack([a, b]))
        return None

    def _render(self, k: int) -> Capture:
        cal, tl = self._calibration, self.timeline
        w2d = self.rig.world_to_depth
        zbuf = self._bg_z.copy()
        present = bool(tl.present[k])
        region = None
        caps_a = caps_b = caps_r = None
        if present:
            ext = w2d.apply(extended_points(tl.joints[k], tl.feet[k]))
            caps_a, caps_b = ext[CAPSULE_A], ext[CAPSULE_B]
            caps_r = CAPSULE_R * tl.scale[k]
        occ = self._occluder_at(k)
        if occ is not None:
            oa, ob = occ[:1], occ[1:]
            if caps_a is None:
                caps_a, caps_b, caps_r = oa, ob, np.array([OCCLUDER_RADIUS])
            else:
                caps_a = np.concatenate([caps_a, oa])
                caps_b = np.concatenate([caps_b, ob])
                caps_r = np.concatenate([caps_r, [OCCLUDER_RADIUS]])
        if caps_a is not None:
            boxes = capsule_pixel_boxes(cal.depth, caps_a, caps_b, caps_r)
            region = (int(boxes[:, 0].min()), int(boxes[:, 1].min()), int(boxes[:, 2].max()), int(boxes[:, 3].max()))
            render_capsules(cal.depth, caps_a, caps_b, caps_r, zbuf)
        depth = self._sensor.capture(zbuf, self._rng, region)

        color = None
        if self.render_color:
            color = self._color_bg.copy()
            if caps_a is not None:
                parts = ([self._rgb] if present else []) + ([np.array([[110, 110, 110]], np.uint8)] if occ is not None else [])
                rgbs = np.concatenate(parts)
                draw_capsules_color(color, cal.color, self._d2c.apply(caps_a), self._d2c.apply(caps_b), caps_r, rgbs)
            gain, noise = self._profile[3], self._profile[4]
            if gain < 1.0:
                color = darken(color, gain, noise, self._rng)

        d_ts, c_ts = int(self._depth_ts[k]), int(self._color_ts[k])
        if present:
            self._detections[c_ts] = self._detect(k, zbuf, occ)
        imu = self._imu_until(max(d_ts, c_ts) if color is not None else d_ts)
        return Capture(
            depth=depth,
            color=color,
            ir=None,
            depth_device_ts_usec=d_ts,
            color_device_ts_usec=c_ts if color is not None else None,
            ir_device_ts_usec=None,
            imu=imu,
            calibration=cal,
            index=self._index,
            source=f"sim:{self.action}:{self.seed}:{self.condition}",
        )

    def _imu_until(self, ts: int) -> ImuSamples:
        end = int(np.searchsorted(self._imu["device_ts_usec"], ts, side="right"))
        block = self._imu[self._imu_pos : end]
        self._imu_pos = max(end, self._imu_pos)
        return ImuSamples.from_records(block)

    def _joints_at_color_time(self, k: int) -> np.ndarray:
        """World joints at the color exposure time of frame k (linear between frames)."""
        tl = self.timeline
        pos = k + (self._color_ts[k] - self._depth_ts[k]) / FRAME_PERIOD_USEC
        k0 = int(np.clip(np.floor(pos), 0, tl.n_frames - 1))
        k1 = min(k0 + 1, tl.n_frames - 1)
        w = float(np.clip(pos - k0, 0.0, 1.0))
        j0, j1 = tl.joints[k0], tl.joints[k1]
        if not np.isfinite(j1).all():
            return j0
        if not np.isfinite(j0).all():
            return j1
        return (1 - w) * j0 + w * j1

    def _detect(self, k: int, zbuf: np.ndarray, occ) -> Detections2D:
        cal = self._calibration
        jd = self.rig.world_to_depth.apply(self._joints_at_color_time(k))
        jc = self._d2c.apply(jd)
        uv, valid = project(cal.color, jc)
        span = np.nanmax(uv[:, 1]) - np.nanmin(uv[:, 1]) if valid.any() else 300.0
        size = max(float(span), 50.0)
        noise = self._kp_jitter[k] * self._kp_burst[k][:, None]
        conf = self._kp_conf[k].copy()
        # self-occlusion seen from the depth camera (3 cm from the color camera)
        pd, vd = project(cal.depth, jd)
        hidden = np.zeros(17, bool)
        inside = vd & (pd[:, 0] >= 0) & (pd[:, 0] < cal.depth.width - 0.5) & (pd[:, 1] >= 0) & (pd[:, 1] < cal.depth.height - 0.5)
        px = np.rint(pd[inside]).astype(int)
        zs = zbuf[px[:, 1], px[:, 0]]
        hidden[np.nonzero(inside)[0]] = zs < jd[inside, 2] - SURFACE_RADIUS[inside] * self.timeline.scale[k] - 0.04
        noise[hidden] *= 2.5
        conf[hidden] *= 0.5 + 0.3 * self._occ_draw[k][hidden]
        if occ is not None:  # behind the occluder?
            rays = jd[:, :2] / jd[:, 2:3]
            z_occ = ray_capsule_depth(rays, occ[0], occ[1], OCCLUDER_RADIUS)
            behind = z_occ < jd[:, 2]
            noise[behind] *= 4.0
            conf[behind] = 0.05 + 0.4 * self._occ_draw[k][behind]
        uv = uv + (self._kp_bias + noise) * size
        uv[~valid] = np.nan
        conf[~valid] = 0.0
        return Detections2D(int(self._color_ts[k]), uv, np.clip(conf, 0.0, 1.0).astype(np.float32))


def _color_floor_mask(cal: KinectCalibration, rig) -> np.ndarray:
    """Where the color camera sees the floor (H, W): a coarse grid of undistorted rays, upsampled."""
    import cv2

    from calibration.kinect import undistort_pixels

    intr = cal.color
    step = 8
    v, u = np.mgrid[0 : intr.height : step, 0 : intr.width : step]
    xy, ok = undistort_pixels(intr, np.stack([u.ravel(), v.ravel()], axis=1).astype(np.float64))
    c2d = cal.color_to_depth.rotation
    d = np.concatenate([xy, np.ones((xy.shape[0], 1))], axis=1) @ c2d.T
    up = rig.up_in_depth
    hit = ok & ((d @ up) < 0)
    small = np.where(hit, 1.0, np.inf).reshape(v.shape).astype(np.float32)
    return cv2.resize(small, (intr.width, intr.height), interpolation=cv2.INTER_NEAREST)
