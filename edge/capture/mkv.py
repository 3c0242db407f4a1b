"""Azure Kinect recordings (.mkv written by k4arecorder / k4a_record_*), read without the SDK.

What k4arecorder writes (Azure Kinect Sensor SDK, src/record): tracks named COLOR, DEPTH, IR
(codec V_MS/VFW/FOURCC, a 40-byte BITMAPINFOHEADER as CodecPrivate whose biCompression FOURCC is
MJPG / NV12 / YUY2 / BGRA for color and b16g -- 16-bit big-endian grey -- for depth and IR) and IMU
(codec S_K4A/IMU, 40-byte packed little-endian samples ``uint64 acc_timestamp_ns, float32 acc[3],
uint64 gyro_timestamp_ns, float32 gyro[3]``, laced many to a BlockGroup); tags K4A_COLOR_MODE
("MJPG_720P"), K4A_DEPTH_MODE ("NFOV_UNBINNED"), K4A_IR_MODE, K4A_IMU_MODE, K4A_DEPTH_DELAY_NS,
K4A_START_OFFSET_NS, ...; the device's calibration.json as an attachment.

Timestamps: an image block's Matroska time is its device timestamp minus K4A_START_OFFSET_NS, so
``device_ts_usec = block_ns // 1000 + start_offset_ns // 1000`` (what the SDK's playback reports;
when the tag is missing the SDK uses 0 and so do we -- ``start_offset_ns`` is then None). IMU
samples carry their own device timestamps. The IMU temperature is not stored: NaN.

Captures are grouped the SDK's way: color, depth and IR blocks whose times (color shifted by
K4A_DEPTH_DELAY_NS) lie within half a frame period form one capture. Each capture carries the IMU
samples with device time up to its latest image that no earlier capture took; samples after the
last image come in a final capture without images. A recording with only the IMU track gives one
image-less capture per IMU block.

Damage: opening a file whose header is unreadable raises CorruptRecording. While reading, every
capture whose clusters are intact is returned; at the first truncated or corrupted cluster (CRC-32
mismatch, size past the end of file, ...) :meth:`MkvSource.read` raises CorruptRecording naming
the byte offset, and keeps raising it. A file that simply ends (Segment complete) gives
EndOfStream.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Iterator

import numpy as np

from calibration.kinect import (
    COLOR_RESOLUTIONS,
    DEPTH_MODES,
    CalibrationError,
    KinectCalibration,
    parse_calibration_json,
)
from edge.capture.ebml import Block, MatroskaFile, TrackEntry
from edge.capture.frames import (
    IMU_DTYPE,
    Capture,
    CorruptRecording,
    EndOfStream,
    FrameSourceBase,
    ImuSamples,
)

#: One IMU sample as k4arecorder stores it (matroska_imu_sample_t, packed, little-endian).
K4A_IMU_RECORD = np.dtype(
    [("acc_ts_ns", "<u8"), ("acc", "<f4", (3,)), ("gyro_ts_ns", "<u8"), ("gyro", "<f4", (3,))]
)
assert K4A_IMU_RECORD.itemsize == 40

_IMAGE_KINDS = ("color", "depth", "ir")
_TRACK_NAMES = {"color": ("COLOR",), "depth": ("DEPTH",), "ir": ("IR", "DEPTH_IR"), "imu": ("IMU",)}
_TRACK_TAGS = {"color": "K4A_COLOR_TRACK", "depth": "K4A_DEPTH_TRACK", "ir": "K4A_IR_TRACK", "imu": "K4A_IMU_TRACK"}
_COLOR_FOURCCS = ("MJPG", "NV12", "YUY2", "BGRA")


def bitmap_fourcc(track: TrackEntry) -> str:
    """The biCompression FOURCC of a V_MS/VFW/FOURCC track's BITMAPINFOHEADER ("MJPG", "b16g", ...)."""
    if track.codec_id != "V_MS/VFW/FOURCC":
        raise CorruptRecording(
            f"track {track.number} ({track.name}) at byte offset {track.offset} has codec {track.codec_id!r}, "
            f"not V_MS/VFW/FOURCC as k4arecorder writes."
        )
    cp = track.codec_private
    if len(cp) != 40:
        raise CorruptRecording(
            f"track {track.number} ({track.name}) at byte offset {track.offset} has a {len(cp)}-byte CodecPrivate, "
            f"not a 40-byte BITMAPINFOHEADER."
        )
    _, width, height, _, _, compression = struct.unpack_from("<IiiHHI", cp)
    if (width, height) != (track.pixel_width, track.pixel_height):
        raise CorruptRecording(
            f"track {track.number} ({track.name}) at byte offset {track.offset}: its BITMAPINFOHEADER says "
            f"{width}x{height} but the track says {track.pixel_width}x{track.pixel_height}."
        )
    return compression.to_bytes(4, "little").decode("latin-1")


def decode_color(fourcc: str, data, width: int, height: int, where: str) -> np.ndarray:
    """A color block -> uint8 (H, W, 3) RGB. MJPG is decoded with OpenCV; raises CorruptRecording."""
    import cv2

    buf = np.frombuffer(data, dtype=np.uint8)
    if fourcc == "MJPG":
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if bgr is None:
            raise CorruptRecording(f"the color image {where} is not a decodable JPEG.")
        if bgr.shape != (height, width, 3):
            raise CorruptRecording(
                f"the color image {where} decodes to {bgr.shape[1]}x{bgr.shape[0]}, not {width}x{height}."
            )
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    sizes = {"NV12": width * height * 3 // 2, "YUY2": width * height * 2, "BGRA": width * height * 4}
    if fourcc not in sizes:
        raise CorruptRecording(f"the color image {where} has unsupported format {fourcc!r}.")
    if buf.size != sizes[fourcc]:
        raise CorruptRecording(f"the {fourcc} color image {where} has {buf.size} bytes, expected {sizes[fourcc]}.")
    if fourcc == "NV12":
        return cv2.cvtColor(buf.reshape(height * 3 // 2, width), cv2.COLOR_YUV2RGB_NV12)
    if fourcc == "YUY2":
        return cv2.cvtColor(buf.reshape(height, width, 2), cv2.COLOR_YUV2RGB_YUY2)
    return np.ascontiguousarray(buf.reshape(height, width, 4)[:, :, 2::-1])


def decode_gray16(fourcc: str, data, width: int, height: int, where: str) -> np.ndarray:
    """A depth / IR block -> uint16 (H, W). b16g is big-endian; legacy YUY2-tagged 16-bit is little-endian."""
    if fourcc not in ("b16g", "YUY2"):
        raise CorruptRecording(f"the 16-bit image {where} has unsupported format {fourcc!r}.")
    expected = width * height * 2
    if len(data) != expected:
        raise CorruptRecording(
            f"the 16-bit image {where} has {len(data)} bytes, expected {expected} for {width}x{height}."
        )
    dtype = ">u2" if fourcc == "b16g" else "<u2"
    return np.frombuffer(data, dtype=dtype).reshape(height, width).astype(np.uint16)


def imu_records(block: Block) -> np.ndarray:
    """The IMU samples of one S_K4A/IMU block as IMU_DTYPE records (device clock, microseconds)."""
    raw = []
    for frame in block.frames:
        if len(frame) != K4A_IMU_RECORD.itemsize:
            raise CorruptRecording(
                f"the IMU block at byte offset {block.offset} holds a {len(frame)}-byte sample, not "
                f"{K4A_IMU_RECORD.itemsize} bytes."
            )
        raw.append(bytes(frame))
    rec = np.frombuffer(b"".join(raw), dtype=K4A_IMU_RECORD)
    out = np.zeros(rec.shape[0], dtype=IMU_DTYPE)
    out["device_ts_usec"] = (rec["acc_ts_ns"] // 1000).astype(np.int64)
    out["acc"] = rec["acc"]
    out["gyro_device_ts_usec"] = (rec["gyro_ts_ns"] // 1000).astype(np.int64)
    out["gyro"] = rec["gyro"]
    out["temperature_c"] = np.nan
    return out


class _ImuQueue:
    """IMU samples read but not yet handed to a capture."""

    def __init__(self) -> None:
        self._pending: list[np.ndarray] = []
        self.last_ts_usec: int | None = None

    def push(self, records: np.ndarray) -> None:
        if records.size:
            self._pending.append(records)
            self.last_ts_usec = int(records["device_ts_usec"][-1])

    def take_until(self, ts_usec: int) -> ImuSamples:
        """Samples with device time <= ts_usec."""
        if not self._pending:
            return ImuSamples.empty()
        allrec = np.concatenate(self._pending)
        mask = allrec["device_ts_usec"] <= ts_usec
        self._pending = [allrec[~mask]] if (~mask).any() else []
        return ImuSamples.from_records(allrec[mask])

    def take_all(self) -> ImuSamples:
        if not self._pending:
            return ImuSamples.empty()
        allrec = np.concatenate(self._pending)
        self._pending = []
        return ImuSamples.from_records(allrec)


class MkvSource(FrameSourceBase):
    """A k4arecorder .mkv as a frame source.

    MkvSource(path) reads the file with our own Matroska reader (no Azure Kinect SDK). With
    ``use_pyk4a=True`` images and their timestamps come from the SDK through pyk4a's playback
    instead (ImportError, loudly, when pyk4a is missing); IMU samples and calibration always come
    from our reader, so both backends return the same IMU data.
    """

    def __init__(self, path: str | os.PathLike, *, use_pyk4a: bool = False):
        self.path = Path(path)
        self.backend = "pyk4a" if use_pyk4a else "ebml"
        self._pyk4a = None
        if use_pyk4a:
            try:
                import pyk4a  # noqa: F401  (optional hardware library)
            except ImportError as exc:
                raise ImportError(
                    f"use_pyk4a=True but pyk4a cannot be imported ({exc}); install pyk4a or read with use_pyk4a=False."
                ) from exc
            self._pyk4a = pyk4a
        self._mkv = MatroskaFile(self.path)
        try:
            self._setup()
        except BaseException:
            self._mkv.close()
            raise
        self._captures: Iterator[Capture] | None = None
        self._error: CorruptRecording | None = None
        self._closed = False

    # -- header --
    def _setup(self) -> None:
        mkv = self._mkv
        self.tags = mkv.tag_strings()
        self.tracks: dict[str, TrackEntry] = {}
        for kind in ("color", "depth", "ir", "imu"):
            track = self._find_track(kind)
            if track is not None:
                self.tracks[kind] = track
        self.fourcc: dict[str, str] = {k: bitmap_fourcc(t) for k, t in self.tracks.items() if k in _IMAGE_KINDS}
        imu = self.tracks.get("imu")
        if imu is not None and imu.codec_id != "S_K4A/IMU":
            raise CorruptRecording(
                f"the IMU track at byte offset {imu.offset} has codec {imu.codec_id!r}, not S_K4A/IMU."
            )
        if "color" in self.fourcc and self.fourcc["color"] not in _COLOR_FOURCCS:
            raise CorruptRecording(
                f"the color track at byte offset {self.tracks['color'].offset} has unsupported format "
                f"{self.fourcc['color']!r}."
            )

        self.color_format: str | None = None
        self.color_resolution: str | None = None
        color_mode = self.tags.get("K4A_COLOR_MODE")
        if color_mode and color_mode != "OFF":
            fmt, _, res = color_mode.partition("_")
            self.color_format, self.color_resolution = fmt, res
        if "color" in self.tracks:
            self.color_resolution = self._check_size("color", COLOR_RESOLUTIONS, self.color_resolution)
        self.depth_mode: str | None = self.tags.get("K4A_DEPTH_MODE")
        if self.depth_mode == "OFF":
            self.depth_mode = None
        if ("depth" in self.tracks or "ir" in self.tracks) and self.depth_mode is None:
            raise CorruptRecording(
                "the recording has depth or IR images but no K4A_DEPTH_MODE tag (Tags at byte offset "
                f"{self._mkv.tags_offset})."
            )
        for kind in ("depth", "ir"):
            if kind in self.tracks:
                self.depth_mode = self._check_size(kind, DEPTH_MODES, self.depth_mode)

        offset = self.tags.get("K4A_START_OFFSET_NS")
        self.start_offset_ns: int | None = self._int_tag("K4A_START_OFFSET_NS", offset)
        delay = self._int_tag("K4A_DEPTH_DELAY_NS", self.tags.get("K4A_DEPTH_DELAY_NS")) or 0
        self.depth_delay_ns = delay
        self._sync_delay_ns = {"color": max(delay, 0), "depth": max(-delay, 0), "ir": max(-delay, 0)}
        image_tracks = [t for k, t in self.tracks.items() if k in _IMAGE_KINDS]
        periods = {t.default_duration_ns for t in image_tracks}
        if None in periods or 0 in periods or len(periods) > 1:
            where = ", ".join(f"{t.name} at byte offset {t.offset}: {t.default_duration_ns}" for t in image_tracks)
            raise CorruptRecording(
                f"the image tracks need one common nonzero frame period (DefaultDuration, ns), got {where}."
            )
        self.frame_period_ns: int | None = periods.pop() if periods else None
        self.calibration: KinectCalibration | None = self._load_calibration()
        self._kind_by_number = {t.number: k for k, t in self.tracks.items()}

    def _find_track(self, kind: str) -> TrackEntry | None:
        uid_text = self.tags.get(_TRACK_TAGS[kind])
        if uid_text is not None:
            for t in self._mkv.tracks:
                if str(t.uid) == uid_text:
                    return t
        for name in _TRACK_NAMES[kind]:
            track = self._mkv.track(name)
            if track is not None:
                return track
        return None

    def _check_size(self, kind: str, table: dict, mode: str | None) -> str:
        track = self.tracks[kind]
        size = (track.pixel_width, track.pixel_height)
        if mode is None or mode.upper() not in table:
            raise CorruptRecording(
                f"the {kind} track at byte offset {track.offset} has a missing or unknown mode tag ({mode!r})."
            )
        if table[mode.upper()][2] != size:
            raise CorruptRecording(
                f"the {kind} track at byte offset {track.offset} is {size[0]}x{size[1]} but its mode {mode} needs "
                f"{table[mode.upper()][2][0]}x{table[mode.upper()][2][1]}."
            )
        return mode.upper()

    def _int_tag(self, name: str, text: str | None) -> int | None:
        if text is None:
            return None
        try:
            return int(text)
        except ValueError:
            raise CorruptRecording(
                f"tag {name} (Tags at byte offset {self._mkv.tags_offset}) holds {text!r}, not an integer."
            ) from None

    def _load_calibration(self) -> KinectCalibration | None:
        attachment = None
        for tag in self._mkv.tags:
            if any(s.name == "K4A_CALIBRATION_FILE" for s in tag.simple_tags) and tag.attachment_uids:
                attachment = next((a for a in self._mkv.attachments if a.uid in tag.attachment_uids), None)
        if attachment is None:
            attachment = self._mkv.attachment("calibration.json")
        if attachment is None:
            return None
        try:
            return parse_calibration_json(attachment.data, self.depth_mode, self.color_resolution)
        except CalibrationError as exc:
            raise CorruptRecording(
                f"the calibration attachment '{attachment.name}' at byte offset {attachment.offset} is unusable: {exc}"
            ) from None

    # -- public --
    @property
    def start_offset_usec(self) -> int:
        return (self.start_offset_ns or 0) // 1000

    def info(self) -> dict:
        """What the header says: apps, modes, tracks, tags, frame period, start offset."""
        mkv = self._mkv
        info = mkv.info
        return {
            "path": str(self.path),
            "size_bytes": mkv.file_size,
            "backend": self.backend,
            "writing_app": info.writing_app,
            "muxing_app": info.muxing_app,
            "timecode_scale_ns": info.timecode_scale_ns,
            "duration_s": None if info.duration_ticks is None else info.duration_ticks * info.timecode_scale_ns / 1e9,
            "color_format": self.color_format,
            "color_resolution": self.color_resolution,
            "depth_mode": self.depth_mode,
            "frame_period_ns": self.frame_period_ns,
            "fps": None if not self.frame_period_ns else 1e9 / self.frame_period_ns,
            "start_offset_ns": self.start_offset_ns,
            "depth_delay_ns": self.depth_delay_ns,
            "tracks": {
                k: {"number": t.number, "name": t.name, "codec_id": t.codec_id, "format": self.fourcc.get(k),
                    "width": t.pixel_width, "height": t.pixel_height}
                for k, t in self.tracks.items()
            },
            "tags": dict(self.tags),
            "attachments": [a.name for a in mkv.attachments],
            "calibration": self.calibration is not None,
            "serial_number": self.tags.get("K4A_DEVICE_SERIAL_NUMBER"),
            "truncated": mkv.truncated,
        }

    def read(self) -> Capture:
        """The next capture; EndOfStream at the end, CorruptRecording (again and again) after damage."""
        if self._closed:
            raise ValueError(f"{self.path} is closed.")
        if self._error is not None:
            raise self._error
        if self._captures is None:
            self._captures = self._iter_pyk4a() if self._pyk4a is not None else self._iter_ebml()
        try:
            return next(self._captures)
        except StopIteration:
            raise EndOfStream(f"end of recording {self.path.name}.") from None
        except CorruptRecording as exc:
            self._error = exc
            raise

    def close(self) -> None:
        self._closed = True
        self._mkv.close()

    # -- our reader --
    def _device_ts_usec(self, block: Block) -> int:
        return block.timestamp_ns // 1000 + self.start_offset_usec

    def _iter_ebml(self) -> Iterator[Capture]:
        imu = _ImuQueue()
        pending: dict[str, Block] = {}
        start_ns = 0
        half_period = (self.frame_period_ns or 0) // 2
        images_enabled = any(kind in self.tracks for kind in _IMAGE_KINDS)
        source = f"mkv:{self.path}"
        index = 0
        blocks = self._mkv.iter_blocks()
        while True:
            try:
                block = next(blocks)
            except StopIteration:
                break
            except CorruptRecording:
                if pending:  # its blocks come from intact clusters: hand it out, then report the damage
                    yield self._build(pending, imu, index)
                raise
            kind = self._kind_by_number.get(block.track_number)
            if kind is None:
                continue  # custom tracks are not part of a capture
            if kind == "imu":
                imu.push(imu_records(block))
                if not images_enabled:  # an IMU-only recording: one capture per IMU block
                    yield Capture(None, None, None, None, None, None, imu.take_all(), self.calibration, index, source)
                    index += 1
                continue
            if len(block.frames) != 1:
                raise CorruptRecording(
                    f"the {kind} block at byte offset {block.offset} holds {len(block.frames)} frames, not 1."
                )
            sync_ns = block.timestamp_ns - self._sync_delay_ns[kind]
            if pending and (kind in pending or abs(sync_ns - start_ns) >= half_period):
                yield self._build(pending, imu, index)
                index += 1
                pending = {}
            if not pending:
                start_ns = sync_ns
            pending[kind] = block
        if pending:
            yield self._build(pending, imu, index)
            index += 1
        rest = imu.take_all()
        if len(rest):
            yield Capture(None, None, None, None, None, None, rest, self.calibration, index, source)

    def _build(self, pending: dict[str, Block], imu: _ImuQueue, index: int) -> Capture:
        images: dict[str, np.ndarray] = {}
        stamps: dict[str, int] = {}
        for kind, block in pending.items():
            track = self.tracks[kind]
            where = f"at byte offset {block.offset}"
            frame = block.frames[0]
            if kind == "color":
                images[kind] = decode_color(self.fourcc[kind], frame, track.pixel_width, track.pixel_height, where)
            else:
                images[kind] = decode_gray16(self.fourcc[kind], frame, track.pixel_width, track.pixel_height, where)
            stamps[kind] = self._device_ts_usec(block)
        return Capture(
            depth=images.get("depth"),
            color=images.get("color"),
            ir=images.get("ir"),
            depth_device_ts_usec=stamps.get("depth"),
            color_device_ts_usec=stamps.get("color"),
            ir_device_ts_usec=stamps.get("ir"),
            imu=imu.take_until(max(stamps.values())),
            calibration=self.calibration,
            index=index,
            source=f"mkv:{self.path}",
        )

    # -- pyk4a (Azure Kinect SDK) playback --
    def _iter_pyk4a(self) -> Iterator[Capture]:  # pragma: no cover - needs the Azure Kinect SDK
        playback = self._pyk4a.PyK4APlayback(self.path)
        try:
            playback.open()
        except Exception as exc:
            raise CorruptRecording(f"the Azure Kinect SDK cannot open {self.path.name}: {exc}") from None
        imu = _ImuQueue()
        imu_blocks = (b for b in self._mkv.iter_blocks() if self._kind_by_number.get(b.track_number) == "imu")
        index = 0
        try:
            while True:
                try:
                    cap = playback.get_next_capture()
                except EOFError:
                    break
                except Exception as exc:
                    raise CorruptRecording(
                        f"the Azure Kinect SDK failed to read capture {index} of {self.path.name}: {exc}"
                    ) from None
                images, stamps = {}, {}
                for kind in _IMAGE_KINDS:
                    image = getattr(cap, kind)
                    if image is None:
                        continue
                    track = self.tracks[kind]
                    where = f"in capture {index}"
                    if kind == "color":
                        images[kind] = decode_color(self.fourcc[kind], np.ascontiguousarray(image).tobytes(),
                                                    track.pixel_width, track.pixel_height, where)
                    else:
                        images[kind] = np.ascontiguousarray(image, dtype=np.uint16)
                    stamps[kind] = int(getattr(cap, f"{kind}_timestamp_usec"))
                if not stamps:
                    continue
                latest = max(stamps.values())
                while imu.last_ts_usec is None or imu.last_ts_usec <= latest:
                    block = next(imu_blocks, None)
                    if block is None:
                        break
                    imu.push(imu_records(block))
                yield Capture(images.get("depth"), images.get("color"), images.get("ir"), stamps.get("depth"),
                              stamps.get("color"), stamps.get("ir"), imu.take_until(latest), self.calibration,
                              index, f"pyk4a:{self.path}")
                index += 1
            for block in imu_blocks:
                imu.push(imu_records(block))
            rest = imu.take_all()
            if len(rest):
                yield Capture(None, None, None, None, None, None, rest, self.calibration, index, f"pyk4a:{self.path}")
        finally:
            playback.close()


def read_recording_summary(path: str | os.PathLike) -> dict:
    """Header facts plus a full integrity scan (CRC-checked, no image decoding) of a recording.

    Returns :meth:`MkvSource.info` plus ``blocks`` (count per track kind), ``imu_samples``,
    ``first_device_ts_usec`` / ``last_device_ts_usec`` (image blocks, device clock), ``ok`` and
    ``error`` (the CorruptRecording sentence, or None). A file whose header is unreadable raises
    CorruptRecording.
    """
    with MkvSource(path) as source:
        summary = source.info()
        counts = {k: 0 for k in source.tracks}
        imu_samples = 0
        first = last = None
        error = None
        try:
            for block in source._mkv.iter_blocks():
                kind = source._kind_by_number.get(block.track_number)
                if kind is None:
                    continue
                counts[kind] += 1
                if kind == "imu":
                    imu_samples += len(block.frames)
                else:
                    ts = source._device_ts_usec(block)
                    first = ts if first is None else min(first, ts)
                    last = ts if last is None else max(last, ts)
        except CorruptRecording as exc:
            error = str(exc)
        summary.update(blocks=counts, imu_samples=imu_samples, first_device_ts_usec=first,
                       last_device_ts_usec=last, ok=error is None, error=error)
        return summary
