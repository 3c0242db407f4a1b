"""Azure Kinect recordings without the SDK: edge.capture.ebml + edge.capture.mkv.

Real data: ../shared/data/azure-kinect/recording.mkv (k4arecord 1.4.1; one capture plus one IMU
block group, see its SOURCE.txt). Synthetic recordings written by a tiny EBML writer below cover
what that file lacks: several captures, lacing variants, unknown sizes, depth delay, truncation
at a cluster boundary.
"""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from edge.capture import (
    Capture,
    CorruptRecording,
    EndOfStream,
    FrameSource,
    ImuSamples,
    MkvSource,
    read_recording_summary,
)
from edge.capture import ebml
from edge.capture.ebml import MatroskaFile
from tests.conftest import SHARED_DATA

RECORDING = SHARED_DATA / "azure-kinect" / "recording.mkv"


def _require_recording() -> Path:
    if not RECORDING.is_file():
        pytest.fail(f"the Azure Kinect recording {RECORDING} is missing; set FIELDCOACH_SHARED_DATA")
    return RECORDING


@pytest.fixture
def recording() -> Path:
    return _require_recording()


needs_recording = pytest.mark.usefixtures("recording")

#: Every corrupted-file case must finish well within this (the reader is bounded, not timed out).
BOUND_S = 5.0


# --- a tiny EBML writer for synthetic recordings ----------------------------------------------
def _vint(n: int) -> bytes:
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return ((1 << (7 * length)) | n).to_bytes(length, "big")
    raise ValueError(n)


def _signed_vint(n: int) -> bytes:
    for length in range(1, 9):
        bias = (1 << (7 * length - 1)) - 1
        if 0 <= n + bias < (1 << (7 * length)) - 1:
            return ((1 << (7 * length)) | (n + bias)).to_bytes(length, "big")
    raise ValueError(n)


UNKNOWN_SIZE = b"\x01\xff\xff\xff\xff\xff\xff\xff"


def el(element_id: int, payload: bytes = b"", unknown: bool = False) -> bytes:
    head = element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
    return head + (UNKNOWN_SIZE if unknown else _vint(len(payload))) + payload


def uint_el(element_id: int, value: int) -> bytes:
    return el(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def str_el(element_id: int, value: str) -> bytes:
    return el(element_id, value.encode())


def with_crc(body: bytes) -> bytes:
    return el(ebml.CRC32, (zlib.crc32(body) & 0xFFFFFFFF).to_bytes(4, "little")) + body


def block_payload(track: int, rel: int, frames: list[bytes], lacing: str = "none", flags: int = 0x80) -> bytes:
    bits = {"none": 0x00, "xiph": 0x02, "fixed": 0x04, "ebml": 0x06}[lacing]
    out = _vint(track) + rel.to_bytes(2, "big", signed=True) + bytes([flags | bits])
    if lacing == "none":
        assert len(frames) == 1
        return out + frames[0]
    out += bytes([len(frames) - 1])
    if lacing == "xiph":
        for f in frames[:-1]:
            n = len(f)
            out += b"\xff" * (n // 255) + bytes([n % 255])
    elif lacing == "ebml":
        out += _vint(len(frames[0]))
        for prev, cur in zip(frames[:-2], frames[1:-1]):
            out += _signed_vint(len(cur) - len(prev))
    else:
        assert len({len(f) for f in frames}) == 1
    return out + b"".join(frames)


def simple_block(track: int, rel: int, frame: bytes) -> bytes:
    return el(ebml.SIMPLE_BLOCK, block_payload(track, rel, [frame]))


def block_group(track: int, rel: int, frames: list[bytes], lacing: str, duration: int | None = None) -> bytes:
    body = el(ebml.BLOCK, block_payload(track, rel, frames, lacing, flags=0))
    if duration is not None:
        body += uint_el(ebml.BLOCK_DURATION, duration)
    return el(ebml.BLOCK_GROUP, body)


def cluster(timecode: int, content: bytes, crc: bool = True, unknown: bool = False) -> bytes:
    body = uint_el(ebml.TIMECODE, timecode) + content
    return el(ebml.CLUSTER, with_crc(body) if crc else body, unknown=unknown)


def ebml_header(doc_type: str = "matroska") -> bytes:
    return el(
        ebml.EBML,
        uint_el(ebml.EBML_VERSION, 1) + uint_el(ebml.EBML_READ_VERSION, 1) + uint_el(ebml.EBML_MAX_ID_LENGTH, 4)
        + uint_el(ebml.EBML_MAX_SIZE_LENGTH, 8) + str_el(ebml.DOC_TYPE, doc_type)
        + uint_el(ebml.DOC_TYPE_VERSION, 4) + uint_el(ebml.DOC_TYPE_READ_VERSION, 2),
    )


def bitmap_info(width: int, height: int, bits: int, fourcc: bytes, size: int) -> bytes:
    return struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, int.from_bytes(fourcc, "little"), size, 0, 0, 0, 0)


def track_entry(number: int, name: str, codec: str, track_type: int, private: bytes = b"",
                period: int | None = None, size: tuple[int, int] | None = None) -> bytes:
    body = (uint_el(ebml.TRACK_NUMBER, number) + uint_el(ebml.TRACK_UID, 1000 + number)
            + uint_el(ebml.TRACK_TYPE, track_type) + str_el(ebml.TRACK_NAME, name) + str_el(ebml.CODEC_ID, codec))
    if private:
        body += el(ebml.CODEC_PRIVATE, private)
    if period is not None:
        body += uint_el(ebml.DEFAULT_DURATION, period)
    if size is not None:
        body += el(ebml.VIDEO, uint_el(ebml.PIXEL_WIDTH, size[0]) + uint_el(ebml.PIXEL_HEIGHT, size[1]))
    return el(ebml.TRACK_ENTRY, body)


def simple_tag(name: str, value: str) -> bytes:
    simple = el(ebml.SIMPLE_TAG, str_el(ebml.TAG_NAME, name) + str_el(ebml.TAG_STRING, value))
    return el(ebml.TAG, el(ebml.TARGETS, b"") + simple)


def segment(parts: list[bytes], unknown: bool = False) -> tuple[bytes, list[int]]:
    """EBML header + Segment; returns the bytes and the absolute offset of every part."""
    head = ebml_header()
    body = b"".join(parts)
    seg_head = el(ebml.SEGMENT, body, unknown=unknown)[: -len(body) or None]
    offsets, pos = [], len(head) + len(seg_head)
    for p in parts:
        offsets.append(pos)
        pos += len(p)
    return head + seg_head + body, offsets


# --- a synthetic k4arecorder-like recording ----------------------------------------------------
DEPTH_W, DEPTH_H = 320, 288  # NFOV_2X2BINNED
COLOR_W, COLOR_H = 1280, 720  # 720P
PERIOD_NS = 33_333_333
IMU_STEP_US = 625  # 1.6 kHz
START_OFFSET_NS = 2_000_000_000


def _calibration_json() -> bytes:
    with MatroskaFile(_require_recording()) as m:
        return m.attachment("calibration.json").data


def _depth_frame(i: int) -> np.ndarray:
    v, u = np.mgrid[0:DEPTH_H, 0:DEPTH_W]
    return (600 + 100 * i + (u * 7 + v * 3) % 4000).astype(np.uint16)


def _color_rgb(i: int) -> tuple[int, int, int]:
    return (200, 40 + 30 * i, 10)


def _jpeg(i: int) -> bytes:
    import cv2

    bgr = np.zeros((COLOR_H, COLOR_W, 3), np.uint8)
    r, g, b = _color_rgb(i)
    bgr[:] = (b, g, r)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def _imu_sample(k: int) -> bytes:
    t_ns = START_OFFSET_NS + k * IMU_STEP_US * 1000
    acc = (0.1 * np.sin(k), -9.81, 0.05)
    gyro = (0.001 * k, 0.0, -0.002)
    return struct.pack("<Q3fQ3f", t_ns, *acc, t_ns + 17_000, *gyro)


def write_k4a(path: Path, n_captures: int = 3, *, unknown_segment: bool = False, unknown_clusters: bool = False,
              depth_delay_us: int = 0, lacings=("fixed", "xiph", "ebml")) -> dict:
    period_us = PERIOD_NS // 1000
    color_info = bitmap_info(COLOR_W, COLOR_H, 24, b"MJPG", 0)
    gray_info = bitmap_info(DEPTH_W, DEPTH_H, 16, b"b16g", DEPTH_W * DEPTH_H * 2)
    tracks = el(
        ebml.TRACKS,
        track_entry(1, "COLOR", "V_MS/VFW/FOURCC", 1, color_info, PERIOD_NS, (COLOR_W, COLOR_H))
        + track_entry(2, "DEPTH", "V_MS/VFW/FOURCC", 1, gray_info, PERIOD_NS, (DEPTH_W, DEPTH_H))
        + track_entry(3, "IR", "V_MS/VFW/FOURCC", 1, gray_info, PERIOD_NS, (DEPTH_W, DEPTH_H))
        + track_entry(4, "IMU", "S_K4A/IMU", 17),
    )
    tags = el(ebml.TAGS, with_crc(b"".join([
        simple_tag("K4A_COLOR_MODE", "MJPG_720P"), simple_tag("K4A_DEPTH_MODE", "NFOV_2X2BINNED"),
        simple_tag("K4A_IR_MODE", "ACTIVE"), simple_tag("K4A_IMU_MODE", "ON"),
        simple_tag("K4A_DEPTH_DELAY_NS", str(depth_delay_us * 1000)),
        simple_tag("K4A_START_OFFSET_NS", str(START_OFFSET_NS)),
    ])))
    attachments = el(ebml.ATTACHMENTS, el(ebml.ATTACHED_FILE, str_el(ebml.FILE_NAME, "calibration.json")
                                          + str_el(ebml.FILE_MIME_TYPE, "application/octet-stream")
                                          + uint_el(ebml.FILE_UID, 77) + el(ebml.FILE_DATA, _calibration_json())))
    info = el(ebml.INFO, uint_el(ebml.TIMECODE_SCALE, 1000) + str_el(ebml.WRITING_APP, "fieldcoach-test"))
    parts = [info, tracks, attachments, tags]
    samples_per_cluster = period_us // IMU_STEP_US + 1
    k = 0
    for i in range(n_captures):
        tc = i * period_us
        imu_frames = []
        while k * IMU_STEP_US < tc + period_us and len(imu_frames) < samples_per_cluster:
            imu_frames.append(_imu_sample(k))
            k += 1
        first_k = k - len(imu_frames)
        content = block_group(4, first_k * IMU_STEP_US - tc, imu_frames, lacings[i % len(lacings)], duration=period_us)
        content += simple_block(2, 0, _depth_frame(i).astype(">u2").tobytes())
        content += simple_block(3, 0, (_depth_frame(i) // 2).astype(">u2").tobytes())
        content += simple_block(1, depth_delay_us, _jpeg(i))
        parts.append(cluster(tc, content, crc=not unknown_clusters, unknown=unknown_clusters))
    data, offsets = segment(parts, unknown=unknown_segment)
    path.write_bytes(data)
    return {"cluster_offsets": offsets[4:], "n_imu": k, "period_us": period_us}


def read_all(path) -> tuple[list[Capture], CorruptRecording | None, float]:
    """Every capture until the end or the first CorruptRecording; also the elapsed seconds."""
    t0 = time.perf_counter()
    captures: list[Capture] = []
    try:
        with MkvSource(path) as source:
            for capture in source:
                captures.append(capture)
    except CorruptRecording as exc:
        return captures, exc, time.perf_counter() - t0
    return captures, None, time.perf_counter() - t0


# --- the real recording ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real():
    with MkvSource(_require_recording()) as source:
        info = source.info()
        captures = list(source)
    return info, captures


@needs_recording
def test_real_header_tracks_and_tags():
    with MatroskaFile(RECORDING) as m:
        assert m.doc_type == "matroska"
        assert m.info.timecode_scale_ns == 1000
        assert m.info.writing_app.startswith("k4arecord")
        names = {t.name: t for t in m.tracks}
        assert set(names) == {"COLOR", "DEPTH", "IR", "IMU"}
        assert names["IMU"].codec_id == "S_K4A/IMU"
        assert (names["COLOR"].pixel_width, names["COLOR"].pixel_height) == (1280, 720)
        assert m.tag_value("K4A_COLOR_MODE") == "MJPG_720P"
        assert m.tag_value("K4A_DEPTH_MODE") == "NFOV_UNBINNED"
        assert m.tag_value("K4A_START_OFFSET_NS") == "336277000"  # SOURCE.txt
        assert m.attachment("calibration.json") is not None
        assert len(m.attachment("calibration.json").data) == 3900  # SOURCE.txt
    with MkvSource(RECORDING) as source:
        info = source.info()
    assert info["start_offset_ns"] == 336_277_000
    assert info["depth_mode"] == "NFOV_UNBINNED" and info["color_resolution"] == "720P"
    assert info["color_format"] == "MJPG"
    formats = {k: v["format"] for k, v in info["tracks"].items()}
    assert formats == {"color": "MJPG", "depth": "b16g", "ir": "b16g", "imu": None}
    assert info["fps"] == pytest.approx(5.0)  # DefaultDuration 200 ms
    assert info["serial_number"] == "001514394512"


@needs_recording
def test_real_images(real):
    _, captures = real
    images = [c for c in captures if c.has_images]
    assert len(images) == 1  # SOURCE.txt: the file stores one capture
    c = images[0]
    assert c.color.shape == (720, 1280, 3) and c.color.dtype == np.uint8
    assert c.depth.shape == (576, 640) and c.depth.dtype == np.uint16
    assert c.ir.shape == (576, 640) and c.ir.dtype == np.uint16
    nonzero = c.depth[c.depth > 0]
    assert nonzero.size > 0.5 * c.depth.size
    # NFOV unbinned operating range is 250-5460 mm; a mug right in front of the lens sits a bit closer.
    assert np.mean((nonzero >= 250) & (nonzero <= 5460)) > 0.85
    assert np.median(nonzero) > 500
    assert c.ir.max() > 0 and np.median(c.ir) > 0
    assert 40 < c.color.mean() < 230  # a lit room, not a black or blown-out frame


@needs_recording
def test_real_color_matches_pillow(real):
    """Our JPEG path (OpenCV, RGB order) against a peer decoder (Pillow)."""
    import io

    from PIL import Image

    _, captures = real
    c = next(c for c in captures if c.color is not None)
    with MatroskaFile(RECORDING) as m:
        color_track = m.track("COLOR").number
        jpeg = next(bytes(b.frames[0]) for b in m.iter_blocks() if b.track_number == color_track)
    peer = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
    assert peer.shape == c.color.shape
    assert np.abs(peer.astype(np.int16) - c.color.astype(np.int16)).mean() < 2.0


@needs_recording
def test_real_imu_and_timestamps(real):
    info, captures = real
    imu = ImuSamples.concatenate([c.imu for c in captures])
    assert len(imu) >= 1
    acc_norm = np.linalg.norm(imu.acc, axis=1)
    assert np.all(np.abs(acc_norm - 9.81) < 1.0)  # standing still: gravity only
    assert np.all(np.linalg.norm(imu.gyro, axis=1) < 0.5)  # rad/s, no rotation
    assert np.all(np.isnan(imu.temperature_c))  # not stored by k4arecorder
    start_us = info["start_offset_ns"] // 1000
    assert np.all(imu.device_ts_usec >= start_us)
    c = next(c for c in captures if c.has_images)
    # image device time = Matroska block time + K4A_START_OFFSET_NS; the capture sits in the cluster at 463,945 us
    assert c.depth_device_ts_usec == start_us + 463_945
    assert c.color_device_ts_usec == c.depth_device_ts_usec == c.ir_device_ts_usec
    stamps = [int(t) for cap in captures for t in cap.imu.device_ts_usec] + [c.device_ts_usec]
    assert stamps == sorted(stamps)


@needs_recording
def test_real_calibration_attached(real):
    _, captures = real
    cal = captures[0].calibration
    assert cal is not None and cal.depth_mode == "NFOV_UNBINNED" and cal.color_resolution == "720P"
    assert (cal.depth.width, cal.depth.height) == (640, 576)
    assert (cal.color.width, cal.color.height) == (1280, 720)
    assert cal.serial_number == "001514394512"


@needs_recording
def test_source_protocol_and_end_of_stream():
    source = MkvSource(RECORDING)
    assert isinstance(source, FrameSource)
    with source:
        n = 0
        while True:
            try:
                source.read()
                n += 1
            except EndOfStream:
                break
        assert n >= 1
        with pytest.raises(EndOfStream):
            source.read()
    with pytest.raises(ValueError):
        source.read()


@needs_recording
def test_summary():
    summary = read_recording_summary(RECORDING)
    assert summary["ok"] and summary["error"] is None
    assert summary["blocks"] == {"color": 1, "depth": 1, "ir": 1, "imu": 1}
    assert summary["imu_samples"] == 1
    assert summary["first_device_ts_usec"] == summary["last_device_ts_usec"] == 336_277 + 463_945


def test_use_pyk4a_without_pyk4a_is_loud():
    try:
        import pyk4a  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pyk4a"):
            MkvSource(RECORDING, use_pyk4a=True)
    else:  # pragma: no cover - only where the SDK is installed
        pytest.skip("pyk4a is installed")


def test_capture_rejects_wrong_types():
    with pytest.raises(ValueError, match="depth"):
        Capture(np.zeros((4, 4), np.float32), None, None, 1, None, None, ImuSamples.empty(), None, 0, "test")
    with pytest.raises(ValueError, match="timestamp"):
        Capture(np.zeros((4, 4), np.uint16), None, None, None, None, None, ImuSamples.empty(), None, 0, "test")
    with pytest.raises(ValueError, match="RGB"):
        Capture(None, np.zeros((4, 4, 4), np.uint8), None, None, 5, None, ImuSamples.empty(), None, 0, "test")


# --- synthetic recordings ----------------------------------------------------------------------
def test_synthetic_captures_decode_exactly(tmp_path):
    path = tmp_path / "synthetic.mkv"
    meta = write_k4a(path, n_captures=3)
    captures, error, _ = read_all(path)
    assert error is None
    with_images = [c for c in captures if c.has_images]
    assert len(with_images) == 3
    for i, c in enumerate(with_images):
        assert c.index == i
        np.testing.assert_array_equal(c.depth, _depth_frame(i))  # b16g big-endian undone exactly
        np.testing.assert_array_equal(c.ir, _depth_frame(i) // 2)
        r, g, b = c.color.reshape(-1, 3).mean(axis=0)
        er, eg, eb = _color_rgb(i)
        assert abs(r - er) < 3 and abs(g - eg) < 3 and abs(b - eb) < 3  # RGB, not BGR
        expected_ts = START_OFFSET_NS // 1000 + i * meta["period_us"]
        assert c.depth_device_ts_usec == c.ir_device_ts_usec == c.color_device_ts_usec == expected_ts
        assert c.calibration is not None
        assert (c.calibration.depth.width, c.calibration.depth.height) == (DEPTH_W, DEPTH_H)
    # IMU: every sample exactly once, in order, each capture holding the samples up to its time.
    imu = ImuSamples.concatenate([c.imu for c in captures])
    assert len(imu) == meta["n_imu"]
    expected_ts = START_OFFSET_NS // 1000 + np.arange(meta["n_imu"]) * IMU_STEP_US
    np.testing.assert_array_equal(imu.device_ts_usec, expected_ts)
    np.testing.assert_array_equal(imu.gyro_device_ts_usec, expected_ts + 17)
    np.testing.assert_allclose(imu.acc[:, 1], -9.81, rtol=1e-6)
    np.testing.assert_allclose(imu.gyro[:, 0], 0.001 * np.arange(meta["n_imu"]), rtol=1e-5, atol=1e-9)
    previous = -np.inf
    for c in with_images:
        assert len(c.imu) > 0
        assert np.all(c.imu.device_ts_usec <= c.device_ts_usec) and np.all(c.imu.device_ts_usec > previous)
        previous = c.device_ts_usec
    tail = captures[-1]
    assert not tail.has_images and len(tail.imu) > 0 and np.all(tail.imu.device_ts_usec > previous)


def test_lacing_variants_agree(tmp_path):
    """Fixed-size, Xiph and EBML lacing of the IMU track give the same samples."""
    results = []
    for lacing in ("fixed", "xiph", "ebml"):
        path = tmp_path / f"{lacing}.mkv"
        write_k4a(path, n_captures=2, lacings=(lacing,))
        captures, error, _ = read_all(path)
        assert error is None
        results.append(ImuSamples.concatenate([c.imu for c in captures]).to_records())
    assert all(len(r) == len(results[0]) > 0 and r.tobytes() == results[0].tobytes() for r in results[1:])


def test_generic_lacing_with_unequal_frames(tmp_path):
    """The block reader alone: unequal laced frame sizes, incl. empty and >255-byte frames."""
    frames = [b"a" * 3, b"b" * 300, b"", b"c" * 7, b"d" * 600, b"e" * 5]
    tracks = el(ebml.TRACKS, track_entry(1, "DATA", "S_TEXT/ASCII", 17))
    info = el(ebml.INFO, uint_el(ebml.TIMECODE_SCALE, 1_000_000))
    content = block_group(1, 5, frames, "xiph", duration=3) + block_group(1, -2, frames, "ebml")
    content += simple_block(1, 7, b"xyz")
    data, _ = segment([info, tracks, cluster(1000, content)])
    path = tmp_path / "generic.mkv"
    path.write_bytes(data)
    with MatroskaFile(path) as m:
        blocks = list(m.iter_blocks())
    assert [tuple(bytes(f) for f in b.frames) for b in blocks[:2]] == [tuple(frames)] * 2
    assert [b.timestamp_ns for b in blocks] == [1005_000_000, 998_000_000, 1007_000_000]
    assert blocks[0].duration_ns == 3_000_000 and blocks[1].duration_ns is None
    assert blocks[2].keyframe is True and bytes(blocks[2].frames[0]) == b"xyz"


def test_imu_only_recording(tmp_path):
    tracks = el(ebml.TRACKS, track_entry(1, "IMU", "S_K4A/IMU", 17))
    info = el(ebml.INFO, uint_el(ebml.TIMECODE_SCALE, 1000))
    clusters = [cluster(0, block_group(1, 0, [_imu_sample(k) for k in range(10)], "fixed")),
                cluster(6250, block_group(1, 0, [_imu_sample(k) for k in range(10, 13)], "xiph"))]
    data, _ = segment([info, tracks, el(ebml.TAGS, simple_tag("K4A_IMU_MODE", "ON"))] + clusters)
    path = tmp_path / "imu_only.mkv"
    path.write_bytes(data)
    captures, error, _ = read_all(path)
    assert error is None
    assert [len(c.imu) for c in captures] == [10, 3]
    assert not any(c.has_images for c in captures) and captures[0].calibration is None
    expected = START_OFFSET_NS // 1000 + np.arange(10, 13) * IMU_STEP_US
    np.testing.assert_array_equal(captures[1].imu.device_ts_usec, expected)


def test_depth_delay_groups_by_sync_time(tmp_path):
    """Color 20 ms after depth (more than half a 30 fps period) still joins its own capture."""
    path = tmp_path / "delay.mkv"
    meta = write_k4a(path, n_captures=3, depth_delay_us=20_000)
    captures, error, _ = read_all(path)
    assert error is None
    with_images = [c for c in captures if c.has_images]
    assert len(with_images) == 3
    for i, c in enumerate(with_images):
        assert c.color is not None and c.depth is not None
        assert c.color_device_ts_usec - c.depth_device_ts_usec == 20_000
        assert abs(c.color.reshape(-1, 3).mean(axis=0)[1] - _color_rgb(i)[1]) < 3
    assert sum(len(c.imu) for c in captures) == meta["n_imu"]


def test_unknown_sizes(tmp_path):
    """Live-written files: unknown-size Segment and Clusters read like the sized ones."""
    sized, unknown = tmp_path / "sized.mkv", tmp_path / "unknown.mkv"
    write_k4a(sized, n_captures=3)
    write_k4a(unknown, n_captures=3, unknown_segment=True, unknown_clusters=True)
    a, err_a, _ = read_all(sized)
    b, err_b, _ = read_all(unknown)
    assert err_a is None and err_b is None and len(a) == len(b)
    for x, y in zip(a, b):
        for name in ("depth", "ir"):
            if getattr(x, name) is None:
                assert getattr(y, name) is None
            else:
                np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
        assert x.device_ts_usec == y.device_ts_usec
        assert x.imu.to_records().tobytes() == y.imu.to_records().tobytes()


def test_truncation_at_cluster_boundary(tmp_path):
    """Cut before the third cluster: an unfinished (unknown-size) recording just ends; a finished one
    (Segment size says more) is reported truncated after the complete captures."""
    live, final = tmp_path / "live.mkv", tmp_path / "final.mkv"
    meta_live = write_k4a(live, n_captures=3, unknown_segment=True)
    meta_final = write_k4a(final, n_captures=3)
    cut_live, cut_final = tmp_path / "live_cut.mkv", tmp_path / "final_cut.mkv"
    cut_live.write_bytes(live.read_bytes()[: meta_live["cluster_offsets"][2]])
    cut_final.write_bytes(final.read_bytes()[: meta_final["cluster_offsets"][2]])

    captures, error, _ = read_all(cut_live)
    assert error is None
    assert [c.index for c in captures if c.has_images] == [0, 1]

    captures, error, elapsed = read_all(cut_final)
    assert isinstance(error, CorruptRecording) and "truncated" in str(error)
    assert [c.index for c in captures if c.has_images] == [0, 1]
    assert elapsed < BOUND_S


# --- damaged files ----------------------------------------------------------------------------
def _assert_corrupt(path: Path) -> CorruptRecording:
    captures, error, elapsed = read_all(path)
    assert isinstance(error, CorruptRecording), f"{path.name}: no CorruptRecording"
    assert "byte" in str(error)
    assert elapsed < BOUND_S
    return error


@needs_recording
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99999])
def test_truncated_real_recording(tmp_path, fraction):
    data = RECORDING.read_bytes()
    path = tmp_path / "cut.mkv"
    path.write_bytes(data[: int(len(data) * fraction)])
    error = _assert_corrupt(path)
    assert "truncated" in str(error)


@needs_recording
@pytest.mark.parametrize("cut", [1, 3, 30, 200, 1500, 4000, 7000, 7500])
def test_truncated_inside_header(tmp_path, cut):
    """Cuts inside the EBML header, SeekHead/Info, Tracks, Attachments, Tags and the first cluster."""
    path = tmp_path / "header_cut.mkv"
    path.write_bytes(RECORDING.read_bytes()[:cut])
    _assert_corrupt(path)


@needs_recording
@pytest.mark.parametrize("seed", range(4))
def test_random_bytes_in_the_middle(tmp_path, seed):
    data = bytearray(RECORDING.read_bytes())
    rng = np.random.default_rng(seed)
    middle = len(data) // 2 + int(rng.integers(-1000, 1000))
    data[middle : middle + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    path = tmp_path / "scrambled.mkv"
    path.write_bytes(bytes(data))
    error = _assert_corrupt(path)
    assert "checksum" in str(error) or "corrupted" in str(error)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x00" * 64,
        np.random.default_rng(7).integers(0, 256, 100_000, dtype=np.uint8).tobytes(),
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
        b"ply\nformat ascii 1.0\nend_header\n",
        ebml_header("webm")[:10],
        ebml_header("mp4x"),
        ebml_header() + el(ebml.INFO, b""),
    ],
    ids=["empty", "zeros", "garbage", "png", "text", "cut-ebml-header", "other-doctype", "no-segment"],
)
def test_not_a_recording(tmp_path, content):
    path = tmp_path / "bad.mkv"
    path.write_bytes(content)
    _assert_corrupt(path)


def test_corrupt_structures(tmp_path):
    """Hand-made damage: a size running past its parent, an unknown element id at level 1,
    a cluster checksum mismatch, an IMU sample of the wrong size, trailing bytes after the Segment."""
    path = tmp_path / "base.mkv"
    meta = write_k4a(path, n_captures=2)
    good = path.read_bytes()

    cases = {}
    data = bytearray(good)
    at = meta["cluster_offsets"][1]
    data[at : at + 4] = (0x1F43B676).to_bytes(4, "big")  # not a Segment child
    cases["bad-id"] = bytes(data)
    data = bytearray(good)
    data[meta["cluster_offsets"][0] + 40] ^= 0xFF  # inside the first cluster's data
    cases["crc"] = bytes(data)
    cases["trailing"] = good + b"\x00" * 10
    for name, content in cases.items():
        p = tmp_path / f"{name}.mkv"
        p.write_bytes(content)
        _assert_corrupt(p)

    # an IMU sample of 39 bytes inside a correct cluster
    tracks = el(ebml.TRACKS, track_entry(1, "IMU", "S_K4A/IMU", 17))
    info = el(ebml.INFO, uint_el(ebml.TIMECODE_SCALE, 1000))
    bad_imu, _ = segment([info, tracks, el(ebml.TAGS, simple_tag("K4A_IMU_MODE", "ON")),
                          cluster(0, block_group(1, 0, [_imu_sample(0)[:39]], "none"))])
    p = tmp_path / "imu39.mkv"
    p.write_bytes(bad_imu)
    error = _assert_corrupt(p)
    assert "39-byte" in str(error)


@needs_recording
def test_fuzzed_bytes_never_escape(tmp_path):
    """Random overwrites anywhere (header included): either a valid read or CorruptRecording, fast."""
    base = RECORDING.read_bytes()
    with MatroskaFile(RECORDING) as m:
        header_end = m.first_cluster_offset + 80
    rng = np.random.default_rng(1234)
    for trial in range(60):
        data = bytearray(base)
        span = header_end if trial % 2 == 0 else len(base)
        for _ in range(int(rng.integers(1, 4))):
            pos = int(rng.integers(0, span))
            data[pos] = int(rng.integers(0, 256))
        path = tmp_path / f"fuzz{trial}.mkv"
        path.write_bytes(bytes(data))
        captures, error, elapsed = read_all(path)  # any other exception type fails the test
        assert elapsed < BOUND_S
        assert error is None or "byte offset" in str(error)
        for c in captures:
            assert isinstance(c, Capture)
