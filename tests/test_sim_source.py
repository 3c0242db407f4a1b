"""The simulated camera: calibration, depth rendering and noise, color, IMU, timestamps, stand-in keypoints, sessions."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.imu import angle_between_deg, up_in_depth_frame
from calibration.kinect import pixel_rays, project
from edge.capture import Capture, MkvSource
from edge.capture.sim_render import (
    CAPSULE_A,
    CAPSULE_B,
    CAPSULE_R,
    DEPTH_RANGE_M,
    depth_sigma_m,
    extended_points,
    ray_capsule_depth,
    render_capsules,
)
from edge.capture.sim_source import FRAME_PERIOD_USEC, SimSource


@pytest.fixture(scope="module")
def jump():
    src = SimSource("standing_long_jump", 7, rest_s=(0.6, 0.8))
    caps = list(src)
    return src, caps


def test_default_calibration_is_the_real_recordings(shared_data):
    from edge.capture.sim_calibration import default_calibration

    with MkvSource(shared_data / "azure-kinect" / "recording.mkv") as mkv:
        real = mkv.calibration
    sim = default_calibration()
    assert sim.depth == real.depth and sim.color == real.color
    np.testing.assert_allclose(sim.extrinsics("depth", "accel").rotation, real.extrinsics("depth", "accel").rotation)
    assert (sim.depth.width, sim.depth.height, sim.color.width, sim.color.height) == (640, 576, 1280, 720)


def test_captures_have_the_frame_type_and_clocks(jump):
    src, caps = jump
    assert len(caps) == len(src) and all(isinstance(c, Capture) for c in caps)
    c = caps[len(caps) // 2]
    assert c.depth.shape == (576, 640) and c.depth.dtype == np.uint16
    assert c.color.shape == (720, 1280, 3) and c.color.dtype == np.uint8
    d = np.array([c.depth_device_ts_usec for c in caps])
    col = np.array([c.color_device_ts_usec for c in caps])
    assert np.all(np.abs(np.diff(d) - FRAME_PERIOD_USEC) < 200)
    off = col - d
    assert np.ptp(off) < 600 and abs(np.median(off)) <= 2200  # a constant offset plus jitter
    imu = ImuConcat(caps)
    assert np.all(np.diff(imu.device_ts_usec) > 0)  # every sample once, in order
    rate = (len(imu) - 1) / ((imu.device_ts_usec[-1] - imu.device_ts_usec[0]) / 1e6)
    assert 1550 < rate < 1650
    assert all(len(c.imu) == 0 or c.imu.device_ts_usec[-1] <= max(c.depth_device_ts_usec, c.color_device_ts_usec) for c in caps)


def ImuConcat(caps):
    from edge.capture import ImuSamples

    return ImuSamples.concatenate([c.imu for c in caps])


def test_imu_reads_gravity_through_the_camera_tilt(jump):
    src, caps = jump
    imu = ImuConcat(caps[:10])
    assert abs(np.linalg.norm(imu.acc.mean(axis=0)) - 9.80665) < 0.1
    up = up_in_depth_frame(imu.acc.mean(axis=0), src.calibration.extrinsics("accel", "depth").rotation)
    assert angle_between_deg(up, src.rig.up_in_depth) < 0.5  # bias of a few 0.01 m/s^2 only
    assert 0.005 < imu.acc[:, 0].std() < 0.05


def test_depth_body_floor_and_noise(jump):
    src, caps = jump
    tr = src.truth
    k = tr.attempts[0].start_frame  # standing still
    c = caps[k]
    joints = tr.joints_depth()[k]
    uv, ok = project(src.calibration.depth, joints)
    # the depth at the pelvis is the body's skin: nearer than the hip joints by a body half-thickness
    u, v = np.rint(0.5 * (uv[11] + uv[12])).astype(int)
    patch = c.depth[v - 2 : v + 3, u - 2 : u + 3].astype(float) / 1000
    patch = patch[patch > 0]
    hip_z = joints[[11, 12], 2].min()
    assert 0.0 < hip_z - np.median(patch) < 0.2
    # far floor beyond the operating range is invalid (0), near floor is measured
    assert (c.depth[:40] == 0).mean() > 0.95
    assert (c.depth[-40:] > 0).mean() > 0.9
    # temporal noise on the floor follows the depth-dependent model
    stack = np.stack([x.depth for x in caps[:25]]).astype(float) / 1000
    region = stack[:, 500:540, 280:360]
    valid = (region > 0).all(axis=0)
    sd = region.std(axis=0)[valid]
    z = region.mean(axis=0)[valid]
    ratio = np.median(sd / depth_sigma_m(z))
    assert 0.8 < ratio < 2.5  # grazing incidence on the floor raises it


def test_flying_pixels_and_invalid_edges(jump):
    src, caps = jump
    c = caps[src.truth.attempts[0].start_frame + 20]
    z = c.depth.astype(float) / 1000
    # pixels of the body's silhouette: some report depths between body and background (mixed)
    body = (z > 0) & (z < 3.6)
    lo, hi = DEPTH_RANGE_M
    assert lo == 0.5 and hi == 3.86
    edges = body & ~np.roll(body, 1, axis=1)
    assert edges.sum() > 20
    invalid_inside = ((z == 0) & np.roll(body, 1, axis=1) & np.roll(body, -1, axis=1)).sum()
    assert invalid_inside > 0  # dropouts on and around the body


def test_same_seed_same_frames():
    a = SimSource("sit_up", 3, rest_s=(0.3, 0.3), background_s=0.3)
    b = SimSource("sit_up", 3, rest_s=(0.3, 0.3), background_s=0.3)
    for _ in range(12):
        ca, cb = a.read(), b.read()
        assert np.array_equal(ca.depth, cb.depth) and ca.depth_device_ts_usec == cb.depth_device_ts_usec
        assert np.array_equal(ca.imu.acc, cb.imu.acc)


def test_capsule_kernel_matches_numpy_reference():
    from edge.capture.sim_calibration import default_calibration

    intr = default_calibration().depth
    rng = np.random.default_rng(4)
    a = rng.normal(0, 0.3, (6, 3)) + np.array([0, 0, 2.5])
    b = a + rng.normal(0, 0.25, (6, 3))
    r = rng.uniform(0.03, 0.12, 6)
    zbuf = np.full((intr.height, intr.width), np.inf)
    render_capsules(intr, a, b, r, zbuf)
    rays = pixel_rays(intr)
    ys, xs = np.nonzero(np.isfinite(zbuf))
    pick = rng.choice(len(ys), 400, replace=False)
    ref = np.full(400, np.inf)
    sub = rays[ys[pick], xs[pick]].astype(np.float64)
    for i in range(6):
        ref = np.minimum(ref, ray_capsule_depth(sub, a[i], b[i], r[i]))
    np.testing.assert_allclose(zbuf[ys[pick], xs[pick]], ref, atol=1e-5)  # float32 rays: micrometres
    # and the misses: pixels the kernel left empty are missed by the reference too
    empty = np.argwhere(~np.isfinite(zbuf))[rng.choice(int((~np.isfinite(zbuf)).sum()), 400, replace=False)]
    miss = np.full(400, np.inf)
    sub = rays[empty[:, 0], empty[:, 1]].astype(np.float64)
    for i in range(6):
        miss = np.minimum(miss, ray_capsule_depth(sub, a[i], b[i], r[i]))
    assert np.isinf(miss).all()
    # a sphere straight ahead: the centre pixel sees its front at z = c - r
    z = ray_capsule_depth(np.zeros((1, 2)), np.array([0, 0, 2.0]), np.array([0, 0, 2.0]), 0.1)
    assert z[0] == pytest.approx(1.9)
    assert CAPSULE_A.shape == CAPSULE_B.shape == CAPSULE_R.shape
    assert extended_points(np.zeros((17, 3)), np.zeros((2, 3, 3))).shape == (30, 3)


def test_stand_in_keypoints_are_near_the_truth(jump):
    src, caps = jump
    tr = src.truth
    cal = src.calibration
    errs, confs = [], []
    for c in caps:
        k = tr.frame_of(c.depth_device_ts_usec)
        if not tr.timeline.present[k]:
            continue
        det = src.detections(c.color_device_ts_usec)
        truth = cal.depth_to_color.apply(tr.joints_depth()[k])
        uv, _ = project(cal.color, truth)
        errs.append(np.linalg.norm(det.uv - uv, axis=1))
        confs.append(det.confidence)
    e = np.stack(errs)
    conf = np.stack(confs)
    height = 300.0  # about a student's image height at 3 m with this lens
    assert np.median(e) < 0.015 * height and np.percentile(e, 95) < 0.06 * height
    assert conf.min() >= 0 and conf.max() <= 1 and np.median(conf) > 0.7
    with pytest.raises(KeyError):
        src.detections(12345)


def test_session_mode_ground_truth():
    src = SimSource("standing_long_jump", 2, n_attempts=3, rest_s=(0.5, 0.8))
    tl = src.timeline
    att = tl.attempts
    assert len(att) == 3
    assert all(a.start_frame < a.end_frame for a in att)
    assert all(x.end_frame < y.start_frame for x, y in zip(att, att[1:]))
    assert not tl.present[: int(0.9 * 30)].any()  # the background first
    for a in att:
        assert tl.present[a.start_frame : a.end_frame + 1].all()
        kf = list(a.keyframes.values())
        assert kf == sorted(kf) and a.start_frame <= kf[-1] <= a.end_frame
    # successive jumpers: nobody in view between two attempts
    assert (~tl.present[att[0].end_frame : att[1].start_frame]).any()
    assert len({a.student for a in att}) == 3
    squats = SimSource("deep_squat", 2, n_attempts=2, rest_s=(0.5, 0.8)).timeline
    assert len({a.student for a in squats.attempts}) == 1  # reps by one student
    assert squats.present[squats.attempts[0].start_frame :].all()


def test_conditions_low_light_and_occlusion():
    normal = SimSource("volleyball_overhead_pass", 5, rest_s=(0.4, 0.5))
    dark = SimSource("volleyball_overhead_pass", 5, condition="low_light", rest_s=(0.4, 0.5))
    occ = SimSource("volleyball_overhead_pass", 5, condition="occlusion", rest_s=(0.4, 0.5))
    k = normal.timeline.attempts[0].start_frame + 10
    for s in (normal, dark, occ):
        for _ in range(k):
            s.read()
    cn, cd = normal.read(), dark.read()
    assert cd.color.mean() < 0.5 * cn.color.mean()
    assert (cd.color_device_ts_usec - cd.depth_device_ts_usec) >= 6000
    att = occ.timeline.attempts[0]
    low = 0
    for c in [occ.read()] + [occ.read() for _ in range(att.end_frame - k - 2)]:
        try:
            low += int((occ.detections(c.color_device_ts_usec).confidence < 0.5).sum())
        except KeyError:
            pass
    assert low > 10  # keypoints hidden behind the passing occluder
    with pytest.raises(ValueError, match="condition"):
        SimSource("sit_up", 0, condition="fog")
