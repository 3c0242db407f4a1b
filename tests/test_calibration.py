"""Azure Kinect calibration (calibration.kinect): parsing, modes, extrinsics, OpenCV projection.

The calibration comes from the real recording ../shared/data/azure-kinect/recording.mkv.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from calibration.kinect import (
    COLOR_RESOLUTIONS,
    DEPTH_MODES,
    CalibrationError,
    RigidTransform,
    brown_conrady_distort,
    depth_image_to_points,
    parse_calibration_json,
    project,
    project_kernel,
    undistort_pixels,
    unproject,
)

from tests.conftest import SHARED_DATA

RECORDING = SHARED_DATA / "azure-kinect" / "recording.mkv"


def _require_recording() -> Path:
    if not RECORDING.is_file():
        pytest.fail(f"the Azure Kinect recording {RECORDING} is missing; set FIELDCOACH_SHARED_DATA")
    return RECORDING


@pytest.fixture(scope="module")
def raw_json() -> str:
    from edge.capture.ebml import MatroskaFile

    with MatroskaFile(_require_recording()) as m:
        return m.attachment("calibration.json").data.decode()


@pytest.fixture(scope="module")
def cal(raw_json):
    return parse_calibration_json(raw_json, "NFOV_UNBINNED", "720P")


@pytest.fixture(scope="module")
def capture():
    from edge.capture import MkvSource

    with MkvSource(_require_recording()) as source:
        return next(c for c in source if c.has_images)


def _grid(intr, step: int) -> np.ndarray:
    v, u = np.mgrid[0 : intr.height : step, 0 : intr.width : step]
    return np.stack([u.ravel(), v.ravel()], axis=1).astype(np.float64)


def test_intrinsics_plausible(cal):
    for intr, (w, h), (f_lo, f_hi) in ((cal.depth, (640, 576), (450, 560)), (cal.color, (1280, 720), (550, 700))):
        assert (intr.width, intr.height) == (w, h)
        assert f_lo < intr.fx < f_hi and f_lo < intr.fy < f_hi  # NFOV ~75x65 deg, 720p color ~90x59 deg
        assert abs(intr.fx - intr.fy) / intr.fx < 0.01  # square pixels
        # the NFOV crop is not centred on the lens axis (cy ~ 349 of 576), so allow 15 %
        assert abs(intr.cx - (w - 1) / 2) < 0.15 * w and abs(intr.cy - (h - 1) / 2) < 0.15 * h
        assert intr.metric_radius > 0.5
        assert intr.codx == 0 and intr.cody == 0


def test_parameter_layout(raw_json):
    """ModelParameters are cx, cy, fx, fy, k1..k6, codx, cody, p2, p1 (p2 before p1)."""
    doc = json.loads(raw_json)
    cam = _camera(doc, "D0")
    cam["Intrinsics"]["ModelParameters"] = [0.5, 0.5, 0.5, 0.5, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.0, 0.0, -0.07, 0.03]
    intr = parse_calibration_json(json.dumps(doc), "WFOV_UNBINNED", None).depth
    assert (intr.k1, intr.k2, intr.k3, intr.k4, intr.k5, intr.k6) == pytest.approx((0.1, 0.2, 0.3, 0.4, 0.5, 0.6))
    assert intr.p2 == pytest.approx(-0.07) and intr.p1 == pytest.approx(0.03)
    # 0-cornered normalized -> pixel centres: cx = 0.5 * 1024 - 0.5
    assert intr.cx == pytest.approx(511.5) and intr.fx == pytest.approx(512.0)
    np.testing.assert_allclose(intr.dist_coeffs(), [0.1, 0.2, 0.03, -0.07, 0.3, 0.4, 0.5, 0.6])


def test_mode_relations(raw_json):
    """Binning halves focal lengths (about pixel centres); cropping shifts the principal point."""
    modes = {m: parse_calibration_json(raw_json, m, None).depth for m in DEPTH_MODES}
    nfov, nfov2, wfov = modes["NFOV_UNBINNED"], modes["NFOV_2X2BINNED"], modes["WFOV_UNBINNED"]
    assert nfov2.fx == pytest.approx(nfov.fx / 2) and nfov2.fy == pytest.approx(nfov.fy / 2)
    assert nfov2.cx == pytest.approx((nfov.cx + 0.5) / 2 - 0.5)
    assert wfov.cx - nfov.cx == pytest.approx(192) and wfov.cy - nfov.cy == pytest.approx(180)
    for name, intr in modes.items():
        assert (intr.width, intr.height) == DEPTH_MODES[name][2]
    colors = {r: parse_calibration_json(raw_json, None, r).color for r in COLOR_RESOLUTIONS}
    c720, c1080 = colors["720P"], colors["1080P"]
    assert c1080.fx == pytest.approx(c720.fx * 1.5)
    assert (c1080.cx + 0.5) == pytest.approx((c720.cx + 0.5) * 1.5)


def test_legacy_16_9_color_calibration_matches(raw_json):
    """A 4096x2304 (16:9) calibration re-expressed on the 4:3 sensor gives the same intrinsics."""
    doc = json.loads(raw_json)
    cam = _camera(doc, "PV0")
    legacy = copy.deepcopy(doc)
    lcam = _camera(legacy, "PV0")
    p = list(cam["Intrinsics"]["ModelParameters"])
    p[1] = (p[1] * 3072 - 384) / 2304
    p[3] = p[3] * 3072 / 2304
    lcam["Intrinsics"]["ModelParameters"] = p
    lcam["SensorHeight"] = 2304
    a = parse_calibration_json(json.dumps(doc), None, "720P").color
    b = parse_calibration_json(json.dumps(legacy), None, "720P").color
    assert (a.cx, a.cy, a.fx, a.fy) == pytest.approx((b.cx, b.cy, b.fx, b.fy), rel=1e-9)


def test_rotations_orthonormal(cal):
    for sensor in ("depth", "color", "gyro", "accel"):
        r = cal.extrinsics("depth", sensor).rotation
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-5)
        assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-5)
    d2c = cal.depth_to_color
    assert 0.02 < np.linalg.norm(d2c.translation_m) < 0.05  # ~32 mm depth-color baseline, in metres
    np.testing.assert_allclose(cal.extrinsics("depth", "depth").as_matrix(), np.eye(4), atol=1e-12)
    assert 0.02 < np.linalg.norm(cal.extrinsics("depth", "accel").translation_m) < 0.1


def test_extrinsics_round_trip(cal):
    rng = np.random.default_rng(0)
    points = rng.uniform([-1, -1, 0.3], [1, 1, 5], size=(100, 3))
    there = cal.depth_to_color.apply(points)
    back = cal.color_to_depth.apply(there)
    np.testing.assert_allclose(back, points, atol=1e-12)
    assert np.abs(there - points).max() > 0.02  # the transform is not the identity
    loop = cal.extrinsics("depth", "gyro").then(cal.extrinsics("gyro", "color")).then(cal.extrinsics("color", "depth"))
    np.testing.assert_allclose(loop.as_matrix(), np.eye(4), atol=1e-12)


def test_opencv_projection_matches_sdk_model(cal):
    """cv2.projectPoints with (k1, k2, p1, p2, k3..k6) equals the SDK formula written in numpy."""
    for intr in (cal.depth, cal.color):
        rng = np.random.default_rng(1)
        xy = rng.uniform(-0.8, 0.8, size=(500, 2))
        points = np.concatenate([xy * 2.0, np.full((500, 1), 2.0)], axis=1)
        uv, valid = project(intr, points)
        assert valid.all()
        np.testing.assert_allclose(uv, brown_conrady_distort(intr, xy), atol=1e-9)
        # swapping p1 and p2 in OpenCV's vector would be detectable at this tolerance
        swapped = intr.dist_coeffs()[[0, 1, 3, 2, 4, 5, 6, 7]]
        import cv2

        wrong, _ = cv2.projectPoints(points.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), intr.camera_matrix(), swapped)
        assert np.abs(wrong.reshape(-1, 2) - uv).max() > 1e-3


def test_compiled_projection_gives_the_same_pixels_as_opencv(cal):
    """The fusion's compiled ``project_kernel`` reproduces ``project`` (cv2.projectPoints) to the
    last bit on the real calibration, the invalid points (behind the camera, outside the metric
    radius) included."""
    rng = np.random.default_rng(3)
    points = np.stack([rng.uniform(-4, 4, 5000), rng.uniform(-4, 4, 5000), rng.uniform(-0.5, 6, 5000)], axis=1)
    for intr in (cal.depth, cal.color):
        uv, valid = project(intr, points)
        uv_k, valid_k = project_kernel(points, intr.lens)
        assert 0 < valid.sum() < len(points)  # both kinds are exercised
        np.testing.assert_array_equal(valid_k, valid)
        np.testing.assert_array_equal(uv_k, uv)  # NaN where invalid, bit-identical elsewhere


def test_project_unproject_round_trip(cal):
    rng = np.random.default_rng(2)
    for intr in (cal.depth, cal.color):
        uv = _grid(intr, 9)
        depth = rng.uniform(0.3, 6.0, size=uv.shape[0])
        points, valid = unproject(intr, uv, depth)
        assert valid.mean() > 0.99
        np.testing.assert_allclose(points[valid, 2], depth[valid])
        back, ok = project(intr, points[valid])
        assert ok.all()
        assert np.abs(back - uv[valid]).max() < 0.01


def test_invalid_inputs_are_flagged(cal):
    intr = cal.depth
    points, valid = unproject(intr, np.array([[320.0, 288.0], [10.0, 10.0], [np.nan, 3.0]]), np.array([0.0, -1.0, 2.0]))
    assert not valid.any() and np.isnan(points).all()
    uv, valid = project(intr, np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 0.0], [100.0, 0.0, 1.0], [0.1, 0.1, 1.0]]))
    assert valid.tolist() == [False, False, False, True]  # behind, at the centre, outside the metric radius
    assert np.isnan(uv[:3]).all() and np.isfinite(uv[3]).all()
    with pytest.raises(ValueError):
        unproject(intr, np.zeros((3, 2)), np.ones(2))


def test_depth_image_to_points(cal, capture):
    points = depth_image_to_points(cal.depth, capture.depth)
    assert points.shape == (576, 640, 3) and points.dtype == np.float32
    zero = capture.depth == 0
    assert np.isnan(points[zero]).all()
    np.testing.assert_allclose(points[~zero][:, 2], capture.depth[~zero] / 1000.0, rtol=1e-6)
    rng = np.random.default_rng(3)
    idx = np.argwhere(~zero)[rng.choice(int((~zero).sum()), 200, replace=False)]
    uv = idx[:, ::-1].astype(np.float64)
    expected, _ = unproject(cal.depth, uv, capture.depth[idx[:, 0], idx[:, 1]] / 1000.0)
    np.testing.assert_allclose(points[idx[:, 0], idx[:, 1]], expected, atol=1e-5)


def test_depth_edges_land_on_color_edges(cal, capture):
    """Registration on the real capture: depth discontinuities, moved into the color camera with the
    calibration, fall on image edges; wrong extrinsics (identity, reversed, mirrored) do not."""
    import cv2

    d = capture.depth.astype(np.int32)
    valid = d > 0
    edge = np.zeros_like(valid)
    for dy in (-2, -1, 0, 1, 2):
        for dx in (-2, -1, 0, 1, 2):
            edge |= valid & (np.roll(np.roll(np.where(valid, d, 0), dy, 0), dx, 1) > d + 150)
    points = depth_image_to_points(cal.depth, capture.depth)[edge]
    points = points[np.isfinite(points).all(axis=1)]
    assert len(points) > 200
    gray = cv2.GaussianBlur(cv2.cvtColor(capture.color, cv2.COLOR_RGB2GRAY).astype(np.float32), (5, 5), 0)
    grad = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))

    def edge_strength(transform: RigidTransform) -> float:
        uv, ok = project(cal.color, transform.apply(points))
        uv = np.round(uv[ok]).astype(int)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < 1280) & (uv[:, 1] >= 0) & (uv[:, 1] < 720)
        assert inside.sum() > 100
        return float(grad[uv[inside, 1], uv[inside, 0]].mean())

    good = edge_strength(cal.depth_to_color)
    t = cal.depth_to_color
    wrong = [RigidTransform.identity(), cal.color_to_depth, RigidTransform(t.rotation, -t.translation_m),
             RigidTransform(t.rotation.T, t.translation_m)]
    assert good > 1.5 * max(edge_strength(w) for w in wrong)


def test_gravity_in_depth_frame(capture):
    """The recording's camera stands upright: the accelerometer's specific force, rotated into the
    depth frame (x right, y down, z forward) with the accel extrinsics, points up (-y) within 30 deg;
    the reversed rotation or none would not."""
    cal = capture.calibration
    acc = capture.imu.acc.astype(np.float64).mean(axis=0)

    def angle_from_up(rotation) -> float:
        v = rotation @ acc
        return float(np.degrees(np.arccos(np.dot(v / np.linalg.norm(v), [0.0, -1.0, 0.0]))))

    assert angle_from_up(cal.extrinsics("accel", "depth").rotation) < 30
    assert angle_from_up(cal.extrinsics("depth", "accel").rotation) > 60
    assert angle_from_up(np.eye(3)) > 60


def test_undistort_handles_all_pixels(cal):
    xy, valid = undistort_pixels(cal.depth, _grid(cal.depth, 4))
    assert valid.all() and np.isfinite(xy).all()


def _camera(doc: dict, location_suffix: str) -> dict:
    return next(c for c in doc["CalibrationInformation"]["Cameras"] if c["Location"].endswith(location_suffix))


def _drop_color(doc):
    cams = doc["CalibrationInformation"]["Cameras"]
    doc["CalibrationInformation"]["Cameras"] = [c for c in cams if not c["Location"].endswith("PV0")]
    return doc


def _theta_model(doc):
    _camera(doc, "D0")["Intrinsics"]["ModelType"] = "CALIBRATION_LensDistortionModelTheta"
    return doc


def _reflection(doc):
    _camera(doc, "PV0")["Rt"]["Rotation"] = [1, 0, 0, 0, 1, 0, 0, 0, -1]
    return doc


def _short_params(doc):
    _camera(doc, "D0")["Intrinsics"]["ModelParameters"] = [0.5] * 5
    return doc


def _no_imu(doc):
    doc["CalibrationInformation"]["InertialSensors"] = []
    return doc


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: "not json", "valid JSON"),
        (lambda d: {"x": 1}, "CalibrationInformation"),
        (_drop_color, "PV0"),
        (_theta_model, "Brown-Conrady"),
        (_reflection, "rotation"),
        (_short_params, "ModelParameters"),
        (_no_imu, "Accelerometer|Gyro"),
    ],
    ids=["not-json", "no-info", "no-color-camera", "wrong-model", "reflection", "short-params", "no-imu"],
)
def test_bad_calibration_rejected(raw_json, mutate, message):
    doc = mutate(json.loads(raw_json))
    text = doc if isinstance(doc, str) else json.dumps(doc)
    with pytest.raises(CalibrationError, match=message):
        parse_calibration_json(text, "NFOV_UNBINNED", "720P")


def test_unknown_mode_rejected(raw_json):
    with pytest.raises(CalibrationError, match="depth mode"):
        parse_calibration_json(raw_json, "NFOV_3X3", "720P")
    with pytest.raises(CalibrationError, match="color resolution"):
        parse_calibration_json(raw_json, "NFOV_UNBINNED", "480P")
    off = parse_calibration_json(raw_json, "OFF", None)
    assert off.depth is None and off.color is None and off.depth_to_color is not None
