"""Signed bundles: build one from source folders; read one back with every check.

``build_bundle`` (training machine) walks each part folder (``models`` = the shipped scorers,
``reference`` = MotionDTW templates and normal ranges, ``kb`` = the knowledge base, ...), writes
``fieldcoach-models-<version>.tar`` (uncompressed POSIX tar, members sorted, fixed owners and
times so equal input gives equal bytes; manifest.json and manifest.sig first) and the index
``latest.json``::

    {"format": 1, "bundle": "fieldcoach-models-1.4.0.tar", "size": <bytes>, "sha256": "<hex>",
     "manifest": {...the signed manifest...}, "signature": "<128 hex>"}

The index's size and sha256 let a download be checked before it is opened; everything that
matters is checked again against the signed manifest when the bundle is unpacked.

``extract_bundle`` (device) verifies the signature before it writes anything, then streams each
member to disk, refusing links, devices, unlisted or duplicate paths, size or sha256 mismatches
and missing files; a truncated or damaged tar fails with one sentence.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from edge.checksum import file_sha256
from edge.ota import sign
from edge.ota.manifest import (
    BUNDLE_NAME,
    FORMAT,
    INDEX_FILE,
    MANIFEST_FILE,
    MAX_MANIFEST_BYTES,
    SIGNATURE_FILE,
    BundleError,
    FileEntry,
    Manifest,
    manifest_from_bytes,
    manifest_from_obj,
)
from edge.skeleton.io import atomic_write_bytes, fsync_dir

_PART_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_BUNDLE_FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.tar$")
_SKIP_NAMES = {"__pycache__"}


@dataclass(frozen=True)
class BuildResult:
    tar_path: Path
    index_path: Path
    manifest: Manifest


@dataclass(frozen=True)
class Index:
    """A verified ``latest.json``: where the bundle is and the manifest it carries."""

    bundle: str
    size: int
    sha256: str
    manifest: Manifest


def bundle_file_name(version: str) -> str:
    return f"{BUNDLE_NAME}-{version}.tar"


def _utc(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def collect_files(parts: dict[str, str | Path]) -> list[tuple[str, Path]]:
    """(bundle path, source file) for every file of every part, sorted by bundle path.

    Hidden files and ``__pycache__`` are skipped; symbolic links to directories are not followed.
    """
    if not parts:
        raise BundleError("a bundle needs at least one part (e.g. models=models/shipped).")
    out: list[tuple[str, Path]] = []
    for name, src in parts.items():
        if not _PART_RE.match(name):
            raise BundleError(f"part name {name!r} must be lower-case letters, digits, '_' or '-'.")
        root = Path(src)
        if not root.is_dir():
            raise BundleError(f"part {name}: {root} is not a directory.")
        n_before = len(out)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_NAMES)
            for fn in sorted(filenames):
                if fn.startswith("."):
                    continue
                f = Path(dirpath) / fn
                if not f.is_file():
                    continue
                out.append((f"{name}/{f.relative_to(root).as_posix()}", f))
        if len(out) == n_before:
            raise BundleError(f"part {name}: {root} holds no files.")
    out.sort(key=lambda item: item[0])
    return out


def _tar_info(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_bundle(
    parts: dict[str, str | Path],
    out_dir: str | Path,
    *,
    version: str,
    hardware: list[str],
    min_app_version: str,
    private_key_path: str | Path,
    created: int | None = None,
    notes: str = "",
) -> BuildResult:
    """Build and sign a bundle into ``out_dir`` (module docstring). ``created``: UNIX seconds.

    ``created`` defaults to ``$SOURCE_DATE_EPOCH`` if set, else now; with equal inputs and
    ``created`` the tar is byte-identical.
    """
    key = sign.load_private_key(private_key_path)
    if created is None:
        created = int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    files = collect_files(parts)
    entries = [FileEntry(path=p, size=src.stat().st_size, sha256=file_sha256(src)) for p, src in files]
    try:
        manifest = Manifest(
            format=FORMAT,
            name=BUNDLE_NAME,
            version=version,
            created=_utc(created),
            compatible_hardware=list(hardware),
            min_app_version=min_app_version,
            key_id=sign.key_id(key.public_key()),
            files=entries,
            notes=notes,
        )
    except ValueError as e:  # pydantic ValidationError is a ValueError
        raise BundleError(f"the bundle's manifest would be invalid: {str(e).splitlines()[-1].strip()}") from None
    raw = manifest.to_bytes()
    signature = sign.sign(key, raw)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tar_path = out / bundle_file_name(version)
    tmp = out / f".{tar_path.name}.tmp"
    digest = hashlib.sha256()
    with open(tmp, "wb") as fh:

        class _Hashing(io.RawIOBase):
            def writable(self):
                return True

            def write(self, b):
                digest.update(b)
                return fh.write(b)

        with tarfile.open(fileobj=_Hashing(), mode="w|", format=tarfile.PAX_FORMAT) as tf:
            for name, data in ((MANIFEST_FILE, raw), (SIGNATURE_FILE, signature)):
                tf.addfile(_tar_info(name, len(data), created), io.BytesIO(data))
            for (path, src), entry in zip(files, entries):
                with open(src, "rb") as f:
                    tf.addfile(_tar_info(path, entry.size, created), f)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, tar_path)
    for (path, src), entry in zip(files, entries):  # a source changed while we read it
        if file_sha256(src) != entry.sha256:
            tar_path.unlink()
            raise BundleError(f"{src} changed while the bundle was being built; build again.")
    index = {
        "format": FORMAT,
        "bundle": tar_path.name,
        "size": tar_path.stat().st_size,
        "sha256": digest.hexdigest(),
        "manifest": manifest.model_dump(mode="json"),
        "signature": signature.decode("ascii").strip(),
    }
    index_path = out / INDEX_FILE
    atomic_write_bytes(index_path, json.dumps(index, indent=1, sort_keys=True).encode() + b"\n")
    return BuildResult(tar_path, index_path, manifest)


def verify_manifest(raw: bytes, signature: bytes, public_key, source: str) -> Manifest:
    """Check the signature of manifest bytes first, then parse them; raises BundleError/SignatureError."""
    try:
        claimed = json.loads(raw.decode("utf-8")).get("key_id") if len(raw) <= MAX_MANIFEST_BYTES else None
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        claimed = None
    trusted = sign.key_id(public_key)
    if isinstance(claimed, str) and claimed != trusted:
        raise sign.SignatureError(
            f"{source} is signed with key {claimed[:16]}, but this device trusts key {trusted}."
        )
    sign.verify(public_key, raw, signature, what=source)
    return manifest_from_bytes(raw, source)


def read_index(raw: bytes, public_key, source: str = INDEX_FILE) -> Index:
    """Parse ``latest.json`` and verify the manifest it carries; raises BundleError/SignatureError."""
    if len(raw) > MAX_MANIFEST_BYTES + 4096:
        raise BundleError(f"{source} is too large to be an update index.")
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BundleError(f"{source} is not valid UTF-8 JSON.") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise BundleError(f"{source} is not a format-{FORMAT} update index.")
    name, size, digest, sig = obj.get("bundle"), obj.get("size"), obj.get("sha256"), obj.get("signature")
    if not isinstance(name, str) or not _BUNDLE_FILE_RE.match(name):
        raise BundleError(f"{source} names no valid bundle file (a plain '*.tar' name is required).")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise BundleError(f"{source} gives no valid bundle size.")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise BundleError(f"{source} gives no valid bundle sha256.")
    if not isinstance(sig, str):
        raise BundleError(f"{source} carries no signature.")
    manifest = manifest_from_obj(obj.get("manifest"), f"the manifest in {source}")
    verify_manifest(manifest.to_bytes(), sig.encode("ascii", "replace"), public_key, f"the manifest in {source}")
    return Index(name, size, digest, manifest)


def _read_member(tf: tarfile.TarFile, member: tarfile.TarInfo, limit: int, what: str) -> bytes:
    if not member.isreg():
        raise BundleError(f"{what} in the bundle is not a regular file.")
    if member.size > limit:
        raise BundleError(f"{what} in the bundle is larger than {limit} bytes.")
    data = tf.extractfile(member).read()
    if len(data) != member.size:
        raise BundleError(f"{what} in the bundle is truncated.")
    return data



def extract_bundle(tar_path: str | Path, dest: str | Path, public_key) -> Manifest:
    """Verify and unpack ``tar_path`` into the new directory ``dest``; returns the manifest.

    Nothing but ``dest`` is written; on any error ``dest`` may hold a partial tree, which the
    caller discards. Every file is fsynced before this returns.
    """
    tar_path, dest = Path(tar_path), Path(dest)
    if not tar_path.is_file():
        raise BundleError(f"bundle {tar_path} does not exist.")
    dest.mkdir(parents=True, exist_ok=False)
    try:
        with tarfile.open(tar_path, mode="r:") as tf:
            return _extract(tf, tar_path, dest, public_key)
    except (tarfile.TarError, EOFError) as e:
        raise BundleError(f"bundle {tar_path.name} is truncated or is not a bundle tar ({e}).") from None
    except OSError as e:
        raise BundleError(f"bundle {tar_path.name} cannot be unpacked into {dest}: {e.strerror or e}.") from None


def _head(tf: tarfile.TarFile, tar_path: Path, public_key) -> tuple[Manifest, bytes, bytes]:
    first, second = tf.next(), tf.next()
    if first is None or second is None:
        raise BundleError(f"bundle {tar_path.name} is truncated or empty: it ends before its manifest and signature.")
    if first.name != MANIFEST_FILE or second.name != SIGNATURE_FILE:
        raise BundleError(f"bundle {tar_path.name} does not start with {MANIFEST_FILE} and {SIGNATURE_FILE}.")
    raw = _read_member(tf, first, MAX_MANIFEST_BYTES, MANIFEST_FILE)
    sig = _read_member(tf, second, 256, SIGNATURE_FILE)
    return verify_manifest(raw, sig, public_key, f"the manifest of {tar_path.name}"), raw, sig


def read_manifest(tar_path: str | Path, public_key) -> Manifest:
    """The verified manifest at the head of a bundle tar, without unpacking anything."""
    tar_path = Path(tar_path)
    if not tar_path.is_file():
        raise BundleError(f"bundle {tar_path} does not exist.")
    try:
        with tarfile.open(tar_path, mode="r:") as tf:
            return _head(tf, tar_path, public_key)[0]
    except (tarfile.TarError, EOFError) as e:
        raise BundleError(f"bundle {tar_path.name} is truncated or is not a bundle tar ({e}).") from None


def _extract(tf: tarfile.TarFile, tar_path: Path, dest: Path, public_key) -> Manifest:
    manifest, raw, sig = _head(tf, tar_path, public_key)
    expected = {f.path: f for f in manifest.files}
    seen: set[str] = set()
    dirs = {dest}
    while True:
        member = tf.next()
        if member is None:
            break
        name = member.name
        if name not in expected:
            raise BundleError(f"bundle {tar_path.name} holds {name!r}, which its manifest does not list.")
        if name in seen:
            raise BundleError(f"bundle {tar_path.name} holds {name!r} twice.")
        if not member.isreg():
            raise BundleError(f"{name!r} in bundle {tar_path.name} is not a regular file.")
        entry = expected[name]
        if member.size != entry.size:
            raise BundleError(f"{name!r} in bundle {tar_path.name} has {member.size} bytes, its manifest says {entry.size}.")
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        dirs.update(p for p in target.parents if dest in p.parents or p == dest)
        h, n = hashlib.sha256(), 0
        src = tf.extractfile(member)
        with open(target, "wb") as out:
            for block in iter(lambda: src.read(1 << 20), b""):
                h.update(block)
                n += len(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if n != entry.size:
            raise BundleError(f"{name!r} in bundle {tar_path.name} is truncated.")
        if h.hexdigest() != entry.sha256:
            raise BundleError(f"{name!r} in bundle {tar_path.name} does not match its manifest sha256 (tampered or corrupt).")
        seen.add(name)
    missing = sorted(set(expected) - seen)
    if missing:
        raise BundleError(
            f"bundle {tar_path.name} lacks {len(missing)} of its {len(expected)} files (first: {missing[0]}); it is truncated."
        )
    for name, data in ((MANIFEST_FILE, raw), (SIGNATURE_FILE, sig)):
        atomic_write_bytes(dest / name, data)
        os.chmod(dest / name, 0o644)
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        fsync_dir(d)
    return manifest


def verify_unpacked(directory: str | Path, public_key, extra_ok: tuple[str, ...] = ()) -> Manifest:
    """Re-check an unpacked slot: signature, every file's size and sha256, no unlisted files.

    ``extra_ok`` names files made on the device (e.g. TensorRT engines) that may be present.
    """
    d = Path(directory)
    try:
        raw, sig = (d / MANIFEST_FILE).read_bytes(), (d / SIGNATURE_FILE).read_bytes()
    except OSError:
        raise BundleError(f"{d} holds no manifest; it is not an installed bundle.") from None
    manifest = verify_manifest(raw, sig, public_key, f"the manifest in {d}")
    for entry in manifest.files:
        f = d / entry.path
        if not f.is_file() or f.is_symlink():
            raise BundleError(f"{entry.path} is missing from {d}.")
        if f.stat().st_size != entry.size or file_sha256(f) != entry.sha256:
            raise BundleError(f"{entry.path} in {d} does not match its manifest (changed after install).")
    listed = {e.path for e in manifest.files} | {MANIFEST_FILE, SIGNATURE_FILE} | set(extra_ok)
    for p in sorted(d.rglob("*")):
        if p.is_file() or p.is_symlink():
            rel = p.relative_to(d).as_posix()
            if rel not in listed:
                raise BundleError(f"{d} holds {rel}, which its manifest does not list.")
    return manifest

