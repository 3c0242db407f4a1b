"""The bundle manifest: schema, canonical JSON, versions, hashes and the admission policy.

``manifest.json`` is the canonical JSON (keys sorted, no spaces, UTF-8, no NaN) of::

    {"format": 1, "name": "fieldcoach-models", "version": "1.4.0",
     "created": "2025-01-31T12:00:00Z",
     "compatible_hardware": ["jetson-nano-jetpack4.6", "x86_64-cpu"],
     "min_app_version": "0.1.0", "key_id": "<16 hex: sha256 of the signing public key>",
     "files": [{"path": "models/sit_up/scorer.onnx", "size": 123456, "sha256": "<64 hex>"}, ...],
     "notes": ""}

``files`` lists every file of the bundle except manifest.json and manifest.sig, sorted by path;
paths are relative POSIX paths without ``.``/``..`` components. Versions are ``MAJOR.MINOR.PATCH``
integers. The signature (``sign.py``) covers the exact bytes, so a manifest that is not in canonical
form is rejected rather than re-serialized.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.ota import OtaError

FORMAT = 1
MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"
INDEX_FILE = "latest.json"
BUNDLE_NAME = "fieldcoach-models"
#: Upper bounds that keep a hostile or broken bundle from filling the SD card or memory.
MAX_MANIFEST_BYTES = 4 << 20
MAX_FILES = 20_000
MAX_BUNDLE_BYTES = 4 << 30

_VERSION_RE = re.compile(r"^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$")
_HARDWARE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_CREATED_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
_RESERVED = {MANIFEST_FILE, SIGNATURE_FILE}


class BundleError(OtaError):
    """A bundle, its manifest or its index is invalid, tampered with or not admissible here."""


def parse_version(text: str) -> tuple[int, int, int]:
    """``"1.4.0"`` -> ``(1, 4, 0)``; anything but three dot-separated integers raises BundleError."""
    m = _VERSION_RE.match(str(text))
    if not m:
        raise BundleError(f"version {text!r} is not of the form MAJOR.MINOR.PATCH (three integers).")
    return int(m[1]), int(m[2]), int(m[3])


def canonical_json(obj) -> bytes:
    """The one byte form of a JSON value that is signed: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()



def check_relpath(path: str) -> str:
    """Return ``path`` if it is a safe relative POSIX path inside a bundle, else raise BundleError."""
    if not isinstance(path, str) or not path or len(path) > 255:
        raise BundleError(f"bundle path {path!r} must be a non-empty string of at most 255 characters.")
    if "\\" in path or "\x00" in path or any(ord(c) < 32 for c in path):
        raise BundleError(f"bundle path {path!r} contains a backslash or a control character.")
    p = PurePosixPath(path)
    if p.is_absolute() or any(part in ("", ".", "..") for part in path.split("/")):
        raise BundleError(f"bundle path {path!r} must be relative with no '.' or '..' components.")
    if path in _RESERVED:
        raise BundleError(f"bundle path {path!r} is reserved for the manifest.")
    return path


class FileEntry(BaseModel):
    """One file of the bundle: relative path, size in bytes, hex sha256."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str = Field(description="relative POSIX path inside the bundle")
    size: int = Field(ge=0, le=MAX_BUNDLE_BYTES, description="size in bytes")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex sha256 of the content")

    @field_validator("path")
    @classmethod
    def _safe(cls, v: str) -> str:
        try:
            return check_relpath(v)
        except BundleError as e:
            raise ValueError(str(e)) from None


class Manifest(BaseModel):
    """The signed description of a bundle (module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    format: Literal[1] = Field(description="manifest format version")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="bundle family name")
    version: str = Field(description="bundle version MAJOR.MINOR.PATCH; must increase on every release")
    created: str = Field(description="build time, UTC, YYYY-MM-DDTHH:MM:SSZ")
    compatible_hardware: list[str] = Field(min_length=1, max_length=32, description="hardware strings it runs on")
    min_app_version: str = Field(description="oldest FieldCoach app version that can use it")
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$", description="first 16 hex of sha256(raw public key)")
    files: list[FileEntry] = Field(min_length=1, max_length=MAX_FILES, description="every payload file")
    notes: str = Field("", max_length=4000, description="release notes for the operator")

    @field_validator("version", "min_app_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not _VERSION_RE.match(v):
            raise ValueError(f"{v!r} is not of the form MAJOR.MINOR.PATCH")
        return v

    @field_validator("created")
    @classmethod
    def _created(cls, v: str) -> str:
        if not _CREATED_RE.match(v):
            raise ValueError(f"{v!r} is not a UTC time YYYY-MM-DDTHH:MM:SSZ")
        return v

    @field_validator("compatible_hardware")
    @classmethod
    def _hardware(cls, v: list[str]) -> list[str]:
        for h in v:
            if not _HARDWARE_RE.match(h):
                raise ValueError(f"hardware string {h!r} must be lower-case letters, digits, '.', '_' or '-'")
        return v

    @model_validator(mode="after")
    def _files_sorted_unique(self) -> "Manifest":
        paths = [f.path for f in self.files]
        if paths != sorted(set(paths)):
            raise ValueError("files must be sorted by path with no duplicates")
        prefixes = set()
        for p in paths:
            parts = p.split("/")
            prefixes.update("/".join(parts[:k]) for k in range(1, len(parts)))
        clash = prefixes.intersection(paths)
        if clash:
            raise ValueError(f"{sorted(clash)[0]!r} is both a file and a directory")
        if self.total_size > MAX_BUNDLE_BYTES:
            raise ValueError(f"the files add up to more than {MAX_BUNDLE_BYTES} bytes")
        return self

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        return parse_version(self.version)

    def to_bytes(self) -> bytes:
        """The canonical bytes that are written to manifest.json and signed."""
        return canonical_json(self.model_dump(mode="json"))

    def sha256(self) -> str:
        return sha256_bytes(self.to_bytes())


def _validation_sentence(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(x) for x in first.get("loc", ())) or "(top level)"
    return f"{source} is not a valid manifest: {loc}: {first.get('msg', 'invalid')}."


def manifest_from_obj(obj, source: str = "the manifest") -> Manifest:
    """Validate a parsed JSON object as a manifest; raises BundleError with one sentence."""
    if not isinstance(obj, dict):
        raise BundleError(f"{source} must be a JSON object.")
    try:
        return Manifest.model_validate(obj)
    except ValidationError as e:
        raise BundleError(_validation_sentence(source, e)) from None


def manifest_from_bytes(raw: bytes, source: str = "manifest.json") -> Manifest:
    """Parse and validate manifest bytes, which must already be in canonical form."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleError(f"{source} is larger than {MAX_MANIFEST_BYTES} bytes.")
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BundleError(f"{source} is not valid UTF-8 JSON.") from None
    manifest = manifest_from_obj(obj, source)
    if manifest.to_bytes() != raw:
        raise BundleError(f"{source} is not in canonical form (it was edited after signing, or not written by `bundle`).")
    return manifest


def admission_problems(
    manifest: Manifest,
    *,
    hardware: str,
    app_version: str,
    active_version: str | None,
    allow_downgrade: bool = False,
) -> list[str]:
    """Why ``manifest`` may not be installed on this device (empty list: it may).

    ``hardware`` is this device's compatible string; ``app_version`` the running FieldCoach
    version; ``active_version`` the version in the active slot (None on a fresh device). A version
    equal to the active one is refused (nothing to do); a lower one unless ``allow_downgrade``.
    """
    problems = []
    if hardware not in manifest.compatible_hardware:
        problems.append(
            f"bundle {manifest.version} is built for {', '.join(manifest.compatible_hardware)}, not for this device ({hardware})"
        )
    if parse_version(app_version) < parse_version(manifest.min_app_version):
        problems.append(f"bundle {manifest.version} needs FieldCoach {manifest.min_app_version} or later; this is {app_version}")
    if active_version is not None:
        new, old = manifest.version_tuple, parse_version(active_version)
        if new == old:
            problems.append(f"bundle {manifest.version} is already the active version")
        elif new < old and not allow_downgrade:
            problems.append(
                f"bundle {manifest.version} is older than the active {active_version} (a downgrade; pass --allow-downgrade to force it)"
            )
    return problems
