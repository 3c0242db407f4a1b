"""A small EBML / Matroska reader, enough for the files k4arecorder writes.

Matroska is EBML: every element is ``ID (vint, marker kept) | size (vint, marker removed) | data``.
This module reads the EBML header, the Segment's metadata (Info, Tracks, Tags, Attachments,
SeekHead) and streams Clusters as :class:`Block` objects (SimpleBlock and BlockGroup/Block, with
Xiph, fixed-size and EBML lacing). Everything it does not understand is an error, not a guess.

Bounded by construction: every loop advances a byte offset by at least the two bytes of an element
header, every size is checked against its parent's end and the file's end before anything is read,
and CRC-32 elements (k4arecorder writes one at the start of every Cluster and of Tags) are
verified. A truncated, corrupted or foreign file raises :class:`CorruptRecording` with one sentence
naming the byte offset; it never hangs.

Timestamps: ``Block.timestamp_ns = (Cluster Timecode + block relative timecode) * TimecodeScale``,
the Matroska "segment time" in nanoseconds (k4arecorder: device time minus K4A_START_OFFSET_NS).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from edge.capture.frames import CorruptRecording

# --- element IDs (Matroska specification; marker bits kept, as written in files) -------------
EBML = 0x1A45DFA3
EBML_VERSION = 0x4286
EBML_READ_VERSION = 0x42F7
EBML_MAX_ID_LENGTH = 0x42F2
EBML_MAX_SIZE_LENGTH = 0x42F3
DOC_TYPE = 0x4282
DOC_TYPE_VERSION = 0x4287
DOC_TYPE_READ_VERSION = 0x4285
VOID = 0xEC
CRC32 = 0xBF

SEGMENT = 0x18538067
SEEK_HEAD = 0x114D9B74
SEEK = 0x4DBB
SEEK_ID = 0x53AB
SEEK_POSITION = 0x53AC
INFO = 0x1549A966
TIMECODE_SCALE = 0x2AD7B1
DURATION = 0x4489
DATE_UTC = 0x4461
TITLE = 0x7BA9
MUXING_APP = 0x4D80
WRITING_APP = 0x5741
TRACKS = 0x1654AE6B
TRACK_ENTRY = 0xAE
TRACK_NUMBER = 0xD7
TRACK_UID = 0x73C5
TRACK_TYPE = 0x83
FLAG_LACING = 0x9C
TRACK_NAME = 0x536E
CODEC_ID = 0x86
CODEC_PRIVATE = 0x63A2
DEFAULT_DURATION = 0x23E383
VIDEO = 0xE0
PIXEL_WIDTH = 0xB0
PIXEL_HEIGHT = 0xBA
CONTENT_ENCODINGS = 0x6D80
CLUSTER = 0x1F43B675
TIMECODE = 0xE7
POSITION = 0xA7
PREV_SIZE = 0xAB
SILENT_TRACKS = 0x5854
SIMPLE_BLOCK = 0xA3
BLOCK_GROUP = 0xA0
BLOCK = 0xA1
BLOCK_DURATION = 0x9B
REFERENCE_BLOCK = 0xFB
CUES = 0x1C53BB6B
CHAPTERS = 0x1043A770
ATTACHMENTS = 0x1941A469
ATTACHED_FILE = 0x61A7
FILE_DESCRIPTION = 0x467E
FILE_NAME = 0x466E
FILE_MIME_TYPE = 0x4660
FILE_DATA = 0x465C
FILE_UID = 0x46AE
TAGS = 0x1254C367
TAG = 0x7373
TARGETS = 0x63C0
TARGET_TYPE_VALUE = 0x68CA
TARGET_TYPE = 0x63CA
TAG_TRACK_UID = 0x63C5
TAG_ATTACHMENT_UID = 0x63C6
SIMPLE_TAG = 0x67C8
TAG_NAME = 0x45A3
TAG_STRING = 0x4487
TAG_BINARY = 0x4485

_NAMES = {
    EBML: "EBML header", SEGMENT: "Segment", SEEK_HEAD: "SeekHead", INFO: "Info", TRACKS: "Tracks",
    TRACK_ENTRY: "TrackEntry", CLUSTER: "Cluster", CUES: "Cues", CHAPTERS: "Chapters",
    ATTACHMENTS: "Attachments", ATTACHED_FILE: "AttachedFile", TAGS: "Tags", TAG: "Tag",
    SIMPLE_TAG: "SimpleTag", TARGETS: "Targets", VOID: "Void", CRC32: "CRC-32",
    SIMPLE_BLOCK: "SimpleBlock", BLOCK_GROUP: "BlockGroup", BLOCK: "Block", TIMECODE: "Timecode",
    VIDEO: "Video", SEEK: "Seek",
}

#: Elements allowed directly inside the Segment (anything else there means corruption).
LEVEL1_IDS = frozenset({SEEK_HEAD, INFO, TRACKS, CLUSTER, CUES, CHAPTERS, ATTACHMENTS, TAGS, VOID, CRC32})
#: Elements allowed directly inside a Cluster.
CLUSTER_CHILD_IDS = frozenset(
    {TIMECODE, SIMPLE_BLOCK, BLOCK_GROUP, POSITION, PREV_SIZE, SILENT_TRACKS, VOID, CRC32}
)

#: Largest metadata element (Info, Tracks, Tags, Attachments) read into memory.
MAX_METADATA_BYTES = 64 * 1024 * 1024
#: Largest Cluster read into memory (k4arecorder clusters hold one capture, a few MB).
MAX_CLUSTER_BYTES = 512 * 1024 * 1024
#: Largest EBML header element.
MAX_EBML_HEADER_BYTES = 4096


def element_name(element_id: int) -> str:
    return _NAMES.get(element_id, f"element 0x{element_id:X}")


# --- variable-length integers ----------------------------------------------------------------
def _vint_length(first: int) -> int:
    """Length in bytes (1..8) announced by a vint's first byte; 0 when the byte is 0x00."""
    for n in range(8):
        if first & (0x80 >> n):
            return n + 1
    return 0


def read_id(buf, pos: int, end: int, base: int) -> tuple[int, int]:
    """Element ID at ``buf[pos]`` (marker kept) -> (id, length). ``base`` maps buf to file offsets."""
    if pos >= end:
        raise CorruptRecording(f"an element ID is missing at byte offset {base + pos}: the data ends there.")
    n = _vint_length(buf[pos])
    if n == 0 or n > 4:
        raise CorruptRecording(
            f"byte 0x{buf[pos]:02X} at byte offset {base + pos} cannot start an EBML element ID: the file is corrupted."
        )
    if pos + n > end:
        raise CorruptRecording(
            f"the element ID at byte offset {base + pos} is cut off at byte {base + end}: "
            f"the file is truncated or corrupted."
        )
    return int.from_bytes(bytes(buf[pos : pos + n]), "big"), n


def read_size(buf, pos: int, end: int, base: int) -> tuple[int | None, int]:
    """Element data size at ``buf[pos]`` -> (size or None for 'unknown size', length)."""
    if pos >= end:
        raise CorruptRecording(f"an element size is missing at byte offset {base + pos}: the data ends there.")
    n = _vint_length(buf[pos])
    if n == 0:
        raise CorruptRecording(
            f"byte 0x00 at byte offset {base + pos} cannot start an EBML element size: the file is corrupted."
        )
    if pos + n > end:
        raise CorruptRecording(
            f"the element size at byte offset {base + pos} is cut off at byte {base + end}: "
            f"the file is truncated or corrupted."
        )
    value = int.from_bytes(bytes(buf[pos : pos + n]), "big") & ((1 << (7 * n)) - 1)
    if value == (1 << (7 * n)) - 1:
        return None, n
    return value, n


def _header_needs_more(window: bytes) -> bool:
    """True when ``window`` is a valid but incomplete start of an element header (ID + size)."""
    if not window:
        return True
    n_id = _vint_length(window[0])
    if n_id == 0 or n_id > 4:
        return False
    if len(window) <= n_id:
        return True
    n_size = _vint_length(window[n_id])
    return n_size != 0 and len(window) < n_id + n_size


def _read_signed_vint(buf, pos: int, end: int, base: int) -> tuple[int, int]:
    """A signed vint (EBML lacing size differences): raw value minus (2^(7n-1) - 1)."""
    n = _vint_length(buf[pos]) if pos < end else 0
    if n == 0 or pos + n > end:
        raise CorruptRecording(f"the EBML lace size at byte offset {base + pos} is invalid or cut off.")
    raw = int.from_bytes(bytes(buf[pos : pos + n]), "big") & ((1 << (7 * n)) - 1)
    return raw - ((1 << (7 * n - 1)) - 1), n


# --- element values ---------------------------------------------------------------------------
def parse_uint(data, offset: int) -> int:
    if len(data) > 8:
        raise CorruptRecording(f"the unsigned integer at byte offset {offset} is {len(data)} bytes long (at most 8).")
    return int.from_bytes(bytes(data), "big")


def parse_int(data, offset: int) -> int:
    if len(data) > 8:
        raise CorruptRecording(f"the signed integer at byte offset {offset} is {len(data)} bytes long (at most 8).")
    return int.from_bytes(bytes(data), "big", signed=True) if len(data) else 0


def parse_float(data, offset: int) -> float:
    import struct

    if len(data) == 0:
        return 0.0
    if len(data) == 4:
        return struct.unpack(">f", bytes(data))[0]
    if len(data) == 8:
        return struct.unpack(">d", bytes(data))[0]
    raise CorruptRecording(f"the float at byte offset {offset} is {len(data)} bytes long (must be 0, 4 or 8).")


def parse_string(data, offset: int) -> str:
    try:
        return bytes(data).rstrip(b"\x00").decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptRecording(f"the string at byte offset {offset} is not valid UTF-8.") from None


def iter_children(buf, start: int, end: int, base: int, parent: str) -> Iterator[tuple[int, int, int]]:
    """Children of an in-memory master element -> (id, data_start, data_end) in ``buf`` coordinates.

    A leading CRC-32 child is verified against the rest of the parent's data. Unknown-size
    children are refused (only Segment and Cluster may have them, and those are handled by the
    file walker). Each step moves ``pos`` forward by at least 2 bytes.
    """
    pos = start
    first = True
    while pos < end:
        element_id, n_id = read_id(buf, pos, end, base)
        size, n_size = read_size(buf, pos + n_id, end, base)
        data_start = pos + n_id + n_size
        if size is None:
            raise CorruptRecording(
                f"the {element_name(element_id)} at byte offset {base + pos} inside the {parent} has an "
                f"unknown size, which only a Segment or Cluster may have: the file is corrupted."
            )
        data_end = data_start + size
        if data_end > end:
            raise CorruptRecording(
                f"the {element_name(element_id)} at byte offset {base + pos} claims {size} bytes, running "
                f"past the end of its {parent} at byte {base + end}: the file is corrupted or truncated."
            )
        if element_id == CRC32:
            if not first or size != 4:
                raise CorruptRecording(
                    f"the CRC-32 element at byte offset {base + pos} inside the {parent} is misplaced or "
                    f"not 4 bytes long: the file is corrupted."
                )
            stored = int.from_bytes(bytes(buf[data_start:data_end]), "little")
            actual = zlib.crc32(buf[data_end:end]) & 0xFFFFFFFF
            if stored != actual:
                raise CorruptRecording(
                    f"the {parent} checksum (CRC-32 at byte offset {base + pos}) does not match its data "
                    f"(bytes {base + data_end}..{base + end}): the file is corrupted."
                )
        else:
            yield element_id, data_start, data_end
        first = False
        pos = data_end


# --- table-driven reading of master elements -------------------------------------------------
# A reader takes (buf, data_start, data_end, base) and returns a value.
def _uint(d, s: int, e: int, b: int) -> int:
    return parse_uint(d[s:e], b + s)


def _int(d, s: int, e: int, b: int) -> int:
    return parse_int(d[s:e], b + s)


def _float(d, s: int, e: int, b: int) -> float:
    return parse_float(d[s:e], b + s)


def _str(d, s: int, e: int, b: int) -> str:
    return parse_string(d[s:e], b + s)


def _bytes(d, s: int, e: int, b: int) -> bytes:
    return bytes(d[s:e])


def _fields(buf, start: int, end: int, base: int, parent: str, spec: dict) -> dict:
    """The children of a master element that ``spec`` names: id -> (key, reader, repeated).

    Repeated children are collected in a list; others keep the last value. Unnamed children are skipped.
    """
    out: dict = {}
    for element_id, s, e in iter_children(buf, start, end, base, parent):
        if element_id in spec:
            key, reader, repeated = spec[element_id]
            value = reader(buf, s, e, base)
            if repeated:
                out.setdefault(key, []).append(value)
            else:
                out[key] = value
    return out


_EBML_HEADER_SPEC = {
    DOC_TYPE: ("doc_type", _str, False),
    EBML_READ_VERSION: ("read_version", _uint, False),
    EBML_MAX_ID_LENGTH: ("max_id_length", _uint, False),
    EBML_MAX_SIZE_LENGTH: ("max_size_length", _uint, False),
}
_INFO_SPEC = {
    TIMECODE_SCALE: ("timecode_scale_ns", _uint, False),
    DURATION: ("duration_ticks", _float, False),
    MUXING_APP: ("muxing_app", _str, False),
    WRITING_APP: ("writing_app", _str, False),
    TITLE: ("title", _str, False),
    DATE_UTC: ("date_utc_ns", _int, False),
}


def _seek(d, s: int, e: int, b: int) -> tuple[int | None, int | None]:
    f = _fields(d, s, e, b, "Seek", {SEEK_ID: ("id", _uint, False), SEEK_POSITION: ("position", _uint, False)})
    return f.get("id"), f.get("position")


def _video(d, s: int, e: int, b: int) -> dict:
    spec = {PIXEL_WIDTH: ("pixel_width", _uint, False), PIXEL_HEIGHT: ("pixel_height", _uint, False)}
    return _fields(d, s, e, b, "Video", spec)


_TRACK_SPEC = {
    TRACK_NUMBER: ("number", _uint, False),
    TRACK_UID: ("uid", _uint, False),
    TRACK_TYPE: ("track_type", _uint, False),
    TRACK_NAME: ("name", _str, False),
    CODEC_ID: ("codec_id", _str, False),
    CODEC_PRIVATE: ("codec_private", _bytes, False),
    DEFAULT_DURATION: ("default_duration_ns", _uint, False),
    VIDEO: ("video", _video, False),
    CONTENT_ENCODINGS: ("content_encodings", _bytes, False),
}


def _track_entry(d, s: int, e: int, b: int) -> "TrackEntry":
    f = _fields(d, s, e, b, "TrackEntry", _TRACK_SPEC)
    if "content_encodings" in f:
        raise CorruptRecording(
            f"the TrackEntry at byte offset {b + s} uses ContentEncodings (compression or encryption), "
            f"which k4arecorder never writes and this reader does not support."
        )
    if not f.get("number"):
        raise CorruptRecording(f"the TrackEntry at byte offset {b + s} has no valid TrackNumber.")
    video = f.pop("video", {})
    return TrackEntry(
        number=f["number"], uid=f.get("uid"), track_type=f.get("track_type"), name=f.get("name"),
        codec_id=f.get("codec_id"), codec_private=f.get("codec_private", b""),
        default_duration_ns=f.get("default_duration_ns"), pixel_width=video.get("pixel_width"),
        pixel_height=video.get("pixel_height"), offset=b + s,
    )


def _simple_tag(d, s: int, e: int, b: int) -> "SimpleTag":
    f = _fields(d, s, e, b, "SimpleTag", _SIMPLE_TAG_SPEC)
    if "name" not in f:
        raise CorruptRecording(f"the SimpleTag at byte offset {b + s} has no TagName.")
    return SimpleTag(f["name"], f.get("string"), f.get("binary"), tuple(f.get("children", ())))


_SIMPLE_TAG_SPEC = {
    TAG_NAME: ("name", _str, False),
    TAG_STRING: ("string", _str, False),
    TAG_BINARY: ("binary", _bytes, False),
    SIMPLE_TAG: ("children", _simple_tag, True),
}
_TARGETS_SPEC = {
    TARGET_TYPE_VALUE: ("target_type_value", _uint, False),
    TARGET_TYPE: ("target_type", _str, False),
    TAG_TRACK_UID: ("track_uids", _uint, True),
    TAG_ATTACHMENT_UID: ("attachment_uids", _uint, True),
}


def _tag(d, s: int, e: int, b: int) -> "Tag":
    f = _fields(d, s, e, b, "Tag", {
        TARGETS: ("targets", lambda *a: _fields(*a, "Targets", _TARGETS_SPEC), False),
        SIMPLE_TAG: ("simple_tags", _simple_tag, True),
    })
    t = f.get("targets", {})
    return Tag(t.get("target_type_value"), t.get("target_type"), tuple(t.get("track_uids", ())),
               tuple(t.get("attachment_uids", ())), tuple(f.get("simple_tags", ())))


_ATTACHED_FILE_SPEC = {
    FILE_NAME: ("name", _str, False),
    FILE_MIME_TYPE: ("mime_type", _str, False),
    FILE_DESCRIPTION: ("description", _str, False),
    FILE_UID: ("uid", _uint, False),
    FILE_DATA: ("data", _bytes, False),
}


def _attached_file(d, s: int, e: int, b: int) -> "AttachedFile":
    f = _fields(d, s, e, b, "AttachedFile", _ATTACHED_FILE_SPEC)
    if "name" not in f or "data" not in f:
        raise CorruptRecording(f"the AttachedFile at byte offset {b + s} has no FileName or FileData.")
    return AttachedFile(f["name"], f.get("mime_type"), f.get("description"), f.get("uid"), f["data"], offset=b + s)


# --- parsed structures ------------------------------------------------------------------------
@dataclass(frozen=True)
class ElementHeader:
    """An element found in the file: absolute offsets; ``size`` None means 'unknown size'."""

    id: int
    offset: int
    data_offset: int
    size: int | None

    @property
    def name(self) -> str:
        return element_name(self.id)


@dataclass(frozen=True)
class SegmentInfo:
    """Segment Info. timecode_scale_ns: nanoseconds per timecode tick (Matroska default 1e6)."""

    timecode_scale_ns: int = 1_000_000
    duration_ticks: float | None = None
    muxing_app: str | None = None
    writing_app: str | None = None
    title: str | None = None
    date_utc_ns: int | None = None  # nanoseconds since 2001-01-01T00:00:00 UTC, as Matroska stores it


@dataclass(frozen=True)
class TrackEntry:
    """One TrackEntry. track_type: 1 video, 2 audio, 17 subtitle (k4a IMU), ...

    default_duration_ns: frame period in nanoseconds, None when absent.
    offset: file offset of the TrackEntry's data (for error messages).
    """

    number: int
    uid: int | None
    track_type: int | None
    name: str | None
    codec_id: str | None
    codec_private: bytes
    default_duration_ns: int | None
    pixel_width: int | None
    pixel_height: int | None
    offset: int = 0  # file offset of the TrackEntry's data, for error messages


@dataclass(frozen=True)
class SimpleTag:
    name: str
    string: str | None
    binary: bytes | None
    children: tuple["SimpleTag", ...] = ()


@dataclass(frozen=True)
class Tag:
    """A Tag: what it targets (TargetTypeValue, track / attachment UIDs) and its SimpleTags."""

    target_type_value: int | None
    target_type: str | None
    track_uids: tuple[int, ...]
    attachment_uids: tuple[int, ...]
    simple_tags: tuple[SimpleTag, ...]


@dataclass(frozen=True)
class AttachedFile:
    name: str
    mime_type: str | None
    description: str | None
    uid: int | None
    data: bytes = field(repr=False)
    offset: int = 0  # file offset of the AttachedFile's data, for error messages


@dataclass(frozen=True)
class Block:
    """One (Simple)Block with its laced frames.

    timestamp_ns: (cluster timecode + relative timecode) * TimecodeScale, nanoseconds of segment time.
    duration_ns: BlockDuration * TimecodeScale for a BlockGroup that has one, else None.
    frames: the frame payloads (memoryviews into the cluster's bytes).
    offset: absolute file offset of the SimpleBlock / Block element (for error messages).
    """

    track_number: int
    timestamp_ns: int
    keyframe: bool | None
    frames: tuple[memoryview, ...]
    duration_ns: int | None
    offset: int


# --- the file ---------------------------------------------------------------------------------
class MatroskaFile:
    """An open Matroska file: metadata parsed at open, blocks streamed by :meth:`iter_blocks`.

    Raises CorruptRecording at open when the file is empty, not EBML/Matroska, or its metadata
    (everything before the first Cluster) is truncated or corrupted. ``truncated`` is True when
    the Segment declares more bytes than the file holds; :meth:`iter_blocks` then yields every
    complete block and raises CorruptRecording where the data stops.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._file: BinaryIO | None = open(self.path, "rb")
        try:
            self.file_size = os.fstat(self._file.fileno()).st_size
            self.doc_type = ""
            self.info: SegmentInfo | None = None
            self.tracks: list[TrackEntry] = []
            self.tags: list[Tag] = []
            self.attachments: list[AttachedFile] = []
            self.segment_data_offset = 0
            self.segment_declared_end: int | None = None
            self.first_cluster_offset: int | None = None
            self.tags_offset: int | None = None  # data offset of the first Tags element
            self._parse_metadata()
        except BaseException:
            self.close()
            raise

    # -- plumbing --
    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "MatroskaFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    @property
    def truncated(self) -> bool:
        return self.segment_declared_end is not None and self.segment_declared_end > self.file_size

    @property
    def _walk_end(self) -> int:
        if self.segment_declared_end is None:
            return self.file_size
        return min(self.segment_declared_end, self.file_size)

    def _read(self, offset: int, n: int, what: str) -> bytes:
        if self._file is None:
            raise ValueError(f"{self.path} is closed.")
        if offset + n > self.file_size:
            raise CorruptRecording(
                f"the {what} at byte offset {offset} needs bytes up to {offset + n} but the file ends at byte "
                f"{self.file_size}: the recording is truncated."
            )
        self._file.seek(offset)
        data = self._file.read(n)
        if len(data) != n:
            raise CorruptRecording(
                f"reading {n} bytes at byte offset {offset} returned {len(data)}: the file changed or is truncated."
            )
        return data

    def _header_at(self, offset: int, limit: int) -> ElementHeader:
        """The element header at ``offset``; ``limit`` is the end of the enclosing element."""
        window_end = min(offset + 12, limit, self.file_size)
        window = self._read(offset, window_end - offset, "element header") if window_end > offset else b""
        if window_end == self.file_size and _header_needs_more(window):
            raise CorruptRecording(
                f"the element header at byte offset {offset} is cut off by the end of the file at byte "
                f"{self.file_size}: the recording is truncated."
            )
        element_id, n_id = read_id(window, 0, len(window), offset)
        size, n_size = read_size(window, n_id, len(window), offset)
        return ElementHeader(element_id, offset, offset + n_id + n_size, size)

    def _payload(self, header: ElementHeader, limit: int, max_bytes: int) -> bytes:
        assert header.size is not None
        end = header.data_offset + header.size
        if end > limit:
            if limit >= self.file_size and end > self.file_size:
                raise CorruptRecording(
                    f"the {header.name} at byte offset {header.offset} needs bytes up to {end} but the file ends "
                    f"at byte {self.file_size}: the recording is truncated."
                )
            raise CorruptRecording(
                f"the {header.name} at byte offset {header.offset} claims {header.size} bytes, running past its "
                f"parent's end at byte {limit}: the file is corrupted."
            )
        if header.size > max_bytes:
            raise CorruptRecording(
                f"the {header.name} at byte offset {header.offset} claims {header.size} bytes, more than the "
                f"{max_bytes} this reader accepts: the file is corrupted."
            )
        return self._read(header.data_offset, header.size, header.name)

    # -- metadata --
    def _parse_metadata(self) -> None:
        if self.file_size == 0:
            raise CorruptRecording(f"{self.path.name} is empty (0 bytes at byte offset 0): it is not a recording.")
        magic = self._read(0, min(4, self.file_size), "file start")
        if magic != EBML.to_bytes(4, "big"):
            raise CorruptRecording(
                f"{self.path.name} does not start with an EBML header (byte offset 0 holds 0x{magic.hex().upper()}): "
                f"it is not a Matroska/MKV recording."
            )
        head = self._header_at(0, self.file_size)
        if head.size is None:
            raise CorruptRecording("the EBML header at byte offset 0 has an unknown size: the file is corrupted.")
        self._parse_ebml_header(self._payload(head, self.file_size, MAX_EBML_HEADER_BYTES), head.data_offset)
        pos = head.data_offset + head.size
        # Top level: optional Void elements, then the Segment.
        while True:
            if pos >= self.file_size:
                raise CorruptRecording(
                    f"the file ends at byte {self.file_size} before any Segment: the recording is truncated."
                )
            seg = self._header_at(pos, self.file_size)
            if seg.id == SEGMENT:
                break
            if seg.id != VOID or seg.size is None:
                raise CorruptRecording(
                    f"expected a Segment at byte offset {pos} but found {seg.name}: the file is corrupted."
                )
            pos = seg.data_offset + seg.size
        self.segment_data_offset = seg.data_offset
        self.segment_declared_end = None if seg.size is None else seg.data_offset + seg.size
        if self.segment_declared_end is not None and self.segment_declared_end < self.file_size:
            raise CorruptRecording(
                f"the Segment at byte offset {seg.offset} ends at byte {self.segment_declared_end} but the file "
                f"continues to byte {self.file_size}: the file is corrupted or holds more than one Segment."
            )

        seek_targets: dict[int, int] = {}
        parsed: set[int] = set()
        walk_end = self._walk_end
        pos = seg.data_offset
        while pos < walk_end:
            header = self._header_at(pos, walk_end)
            if header.id not in LEVEL1_IDS:
                raise CorruptRecording(
                    f"unexpected {header.name} at byte offset {pos} inside the Segment: the file is corrupted."
                )
            if header.id == CLUSTER:
                self.first_cluster_offset = pos
                break
            if header.size is None:
                raise CorruptRecording(
                    f"the {header.name} at byte offset {pos} has an unknown size: the file is corrupted."
                )
            if header.id in (INFO, TRACKS, TAGS, ATTACHMENTS, SEEK_HEAD):
                data = self._payload(header, walk_end, MAX_METADATA_BYTES)
                if header.id == SEEK_HEAD:
                    seek_targets.update(self._parse_seek_head(data, header.data_offset))
                else:
                    self._parse_level1(header.id, data, header.data_offset)
                    parsed.add(header.id)
            pos = header.data_offset + header.size
            if pos > walk_end:
                self._payload(header, walk_end, 1 << 62)  # raises the truncation / overrun message
        else:
            if self.truncated:
                raise CorruptRecording(
                    f"the file ends at byte {self.file_size} before any frame data, but its Segment declares "
                    f"{self.segment_declared_end} bytes: the recording is truncated."
                )

        # Metadata the SeekHead places after the clusters (not the case for k4arecorder files).
        for element_id in (INFO, TRACKS, TAGS, ATTACHMENTS):
            if element_id in parsed or element_id not in seek_targets:
                continue
            at = self.segment_data_offset + seek_targets[element_id]
            header = self._header_at(at, walk_end) if at < walk_end else None
            if header is None or header.id != element_id or header.size is None:
                raise CorruptRecording(
                    f"the SeekHead points to a {element_name(element_id)} at byte offset {at}, but none is there: "
                    f"the file is corrupted or truncated."
                )
            self._parse_level1(element_id, self._payload(header, walk_end, MAX_METADATA_BYTES), header.data_offset)
            parsed.add(element_id)

        if self.info is None:
            raise CorruptRecording(
                f"the Segment at byte offset {seg.offset} has no Info element: the file is corrupted."
            )
        if not self.tracks:
            raise CorruptRecording(f"the Segment at byte offset {seg.offset} has no Tracks: the file is corrupted.")

    def _parse_ebml_header(self, data: bytes, base: int) -> None:
        f = _fields(data, 0, len(data), base, "EBML header", _EBML_HEADER_SPEC)
        self.doc_type = f.get("doc_type", "matroska")
        if self.doc_type not in ("matroska", "webm"):
            raise CorruptRecording(
                f"the EBML header at byte offset 0 declares DocType '{self.doc_type}', not 'matroska': "
                f"it is not an MKV recording."
            )
        if f.get("read_version", 1) > 1:
            raise CorruptRecording("the EBML header at byte offset 0 needs an EBML reader newer than version 1.")
        if f.get("max_id_length", 4) > 4 or f.get("max_size_length", 8) > 8:
            raise CorruptRecording("the EBML header at byte offset 0 allows IDs over 4 or sizes over 8 bytes.")

    @staticmethod
    def _parse_seek_head(data: bytes, base: int) -> dict[int, int]:
        seeks = _fields(data, 0, len(data), base, "SeekHead", {SEEK: ("seeks", _seek, True)}).get("seeks", [])
        out: dict[int, int] = {}
        for target, position in seeks:
            if target is not None and position is not None:
                out.setdefault(target, position)
        return out

    def _parse_level1(self, element_id: int, data: bytes, base: int) -> None:
        if element_id == INFO:
            info = SegmentInfo(**_fields(data, 0, len(data), base, "Info", _INFO_SPEC))
            if info.timecode_scale_ns <= 0:
                raise CorruptRecording(
                    f"the Info at byte offset {base} has a TimecodeScale of 0: the file is corrupted."
                )
            self.info = info
        elif element_id == TRACKS:
            tracks = _fields(data, 0, len(data), base, "Tracks", {TRACK_ENTRY: ("tracks", _track_entry, True)})
            self.tracks = tracks.get("tracks", [])
            numbers = [t.number for t in self.tracks]
            if len(set(numbers)) != len(numbers):
                raise CorruptRecording(
                    f"the Tracks at byte offset {base} repeat a track number: the file is corrupted."
                )
        elif element_id == TAGS:
            self.tags.extend(_fields(data, 0, len(data), base, "Tags", {TAG: ("tags", _tag, True)}).get("tags", []))
            if self.tags_offset is None:
                self.tags_offset = base
        elif element_id == ATTACHMENTS:
            files = _fields(data, 0, len(data), base, "Attachments", {ATTACHED_FILE: ("files", _attached_file, True)})
            self.attachments.extend(files.get("files", []))

    # -- convenience lookups --
    def track(self, name: str) -> TrackEntry | None:
        """The track with this TrackName, or None."""
        for t in self.tracks:
            if t.name == name:
                return t
        return None

    def tag_value(self, name: str) -> str | None:
        """The TagString of the first top-level SimpleTag called ``name``, or None."""
        for tag in self.tags:
            for simple in tag.simple_tags:
                if simple.name == name:
                    return simple.string
        return None

    def tag_strings(self) -> dict[str, str]:
        """All top-level SimpleTags with a string value, first occurrence wins."""
        out: dict[str, str] = {}
        for tag in self.tags:
            for simple in tag.simple_tags:
                if simple.string is not None:
                    out.setdefault(simple.name, simple.string)
        return out

    def attachment(self, name: str) -> AttachedFile | None:
        for a in self.attachments:
            if a.name == name:
                return a
        return None

    # -- clusters --
    def iter_blocks(self) -> Iterator[Block]:
        """Every block of every Cluster, in file order.

        Raises CorruptRecording at the first corrupted or truncated element, after yielding every
        block of the clusters before it. Ends quietly at the end of the Segment.
        """
        if self.first_cluster_offset is None:
            return
        walk_end = self._walk_end
        pos = self.first_cluster_offset
        while pos < walk_end:
            header = self._header_at(pos, walk_end)
            if header.id not in LEVEL1_IDS:
                raise CorruptRecording(
                    f"unexpected {header.name} at byte offset {pos} inside the Segment: the file is corrupted."
                )
            if header.id == CLUSTER:
                end = header.data_offset + header.size if header.size is not None else self._unknown_cluster_end(header)
                if end > walk_end or end - header.data_offset > MAX_CLUSTER_BYTES:
                    self._payload(ElementHeader(header.id, header.offset, header.data_offset, end - header.data_offset),
                                  walk_end, MAX_CLUSTER_BYTES)  # raises the truncation / overrun message
                data = self._read(header.data_offset, end - header.data_offset, "Cluster")
                yield from self._parse_cluster(data, header.data_offset, header.offset)
            else:
                if header.size is None:
                    raise CorruptRecording(
                        f"the {header.name} at byte offset {pos} has an unknown size: the file is corrupted."
                    )
                end = header.data_offset + header.size
                if end > walk_end:
                    self._payload(header, walk_end, 1 << 62)  # raises the truncation / overrun message
            pos = end
        if self.truncated:
            raise CorruptRecording(
                f"the file ends at byte {self.file_size} but its Segment declares data up to byte "
                f"{self.segment_declared_end}: the recording is truncated."
            )

    def _unknown_cluster_end(self, header: ElementHeader) -> int:
        """End of an unknown-size Cluster: the first element that cannot be a Cluster child."""
        walk_end = self._walk_end
        pos = header.data_offset
        while pos < walk_end:
            child = self._header_at(pos, walk_end)
            if child.id in CLUSTER_CHILD_IDS:
                if child.size is None:
                    raise CorruptRecording(
                        f"the {child.name} at byte offset {pos} has an unknown size: the file is corrupted."
                    )
                nxt = child.data_offset + child.size
                if nxt > walk_end:
                    self._payload(child, walk_end, 1 << 62)
                pos = nxt
            elif child.id in LEVEL1_IDS or child.id == EBML:
                return pos
            else:
                raise CorruptRecording(
                    f"unexpected {child.name} at byte offset {pos} inside the Cluster at byte offset "
                    f"{header.offset}: the file is corrupted."
                )
        return walk_end

    def _parse_cluster(self, data: bytes, base: int, cluster_offset: int) -> Iterator[Block]:
        view = memoryview(data)
        timecode: int | None = None
        scale = self.info.timecode_scale_ns if self.info else 1_000_000
        blocks: list[Block] = []
        # Parse the whole cluster before yielding so a corrupted cluster yields nothing.
        for element_id, s, e in iter_children(view, 0, len(data), base, f"Cluster at byte offset {cluster_offset}"):
            if element_id == TIMECODE:
                timecode = parse_uint(view[s:e], base + s)
            elif element_id in (SIMPLE_BLOCK, BLOCK_GROUP):
                if timecode is None:
                    raise CorruptRecording(
                        f"the Cluster at byte offset {cluster_offset} has a block before its Timecode: "
                        f"the file is corrupted."
                    )
                if element_id == SIMPLE_BLOCK:
                    blocks.append(_parse_block(view, s, e, base, timecode, scale, None, simple=True))
                else:
                    blocks.append(self._parse_block_group(view, s, e, base, timecode, scale))
            elif element_id not in CLUSTER_CHILD_IDS:
                raise CorruptRecording(
                    f"unexpected {element_name(element_id)} at byte offset {base + s} inside the Cluster at "
                    f"byte offset {cluster_offset}: the file is corrupted."
                )
        yield from blocks

    @staticmethod
    def _parse_block_group(view, s: int, e: int, base: int, timecode: int, scale: int) -> Block:
        block_span, duration = None, None
        for cid, cs, ce in iter_children(view, s, e, base, "BlockGroup"):
            if cid == BLOCK:
                if block_span is not None:
                    raise CorruptRecording(f"the BlockGroup at byte offset {base + s} holds two Blocks.")
                block_span = (cs, ce)
            elif cid == BLOCK_DURATION:
                duration = parse_uint(view[cs:ce], base + cs)
        if block_span is None:
            raise CorruptRecording(f"the BlockGroup at byte offset {base + s} has no Block: the file is corrupted.")
        return _parse_block(view, block_span[0], block_span[1], base, timecode, scale, duration, simple=False)


def _parse_block(view, s: int, e: int, base: int, cluster_tc: int, scale: int, duration, *, simple: bool) -> Block:
    """Parse a (Simple)Block payload: track vint, int16 relative timecode, flags, laced frames."""
    track, n = read_size(view, s, e, base)
    if track is None or track == 0:
        raise CorruptRecording(f"the block at byte offset {base + s} has an invalid track number.")
    p = s + n
    if p + 3 > e:
        raise CorruptRecording(f"the block at byte offset {base + s} is shorter than its header.")
    relative = int.from_bytes(bytes(view[p : p + 2]), "big", signed=True)
    flags = view[p + 2]
    p += 3
    lacing = (flags >> 1) & 0x03
    if lacing == 0:
        frames = (view[p:e],)
    else:
        if p >= e:
            raise CorruptRecording(f"the laced block at byte offset {base + s} has no frame count.")
        count = view[p] + 1
        p += 1
        sizes: list[int] = []
        if lacing == 1:  # Xiph: each size is a run of 255s plus a final byte < 255
            for _ in range(count - 1):
                size = 0
                while True:
                    if p >= e:
                        raise CorruptRecording(f"the Xiph lacing at byte offset {base + s} runs past its block.")
                    b = view[p]
                    p += 1
                    size += b
                    if b != 255:
                        break
                sizes.append(size)
        elif lacing == 3:  # EBML: first size unsigned, then signed differences
            first, k = read_size(view, p, e, base)
            if first is None:
                raise CorruptRecording(f"the EBML lacing at byte offset {base + p} has an unknown first size.")
            p += k
            sizes.append(first)
            for _ in range(count - 2):
                diff, k = _read_signed_vint(view, p, e, base)
                p += k
                sizes.append(sizes[-1] + diff)
                if sizes[-1] < 0:
                    raise CorruptRecording(f"the EBML lacing at byte offset {base + p} gives a negative frame size.")
        else:  # fixed-size lacing
            if (e - p) % count:
                raise CorruptRecording(
                    f"the fixed-size laced block at byte offset {base + s} holds {e - p} bytes, not a multiple "
                    f"of its {count} frames."
                )
            sizes = [(e - p) // count] * (count - 1)
        last = (e - p) - sum(sizes)
        if last < 0:
            raise CorruptRecording(
                f"the laced block at byte offset {base + s} declares more frame bytes than it holds."
            )
        sizes.append(last)
        out = []
        for size in sizes:
            out.append(view[p : p + size])
            p += size
        frames = tuple(out)
    return Block(
        track_number=track,
        timestamp_ns=(cluster_tc + relative) * scale,
        keyframe=bool(flags & 0x80) if simple else None,
        frames=frames,
        duration_ns=None if duration is None else duration * scale,
        offset=base + s,
    )
