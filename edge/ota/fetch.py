"""Fetching updates: HTTP(S) with Range resume, or a local path / ``file://`` URL (a USB stick).

The update source is a *location*: a directory URL or path that holds ``latest.json`` and the
bundle tar, or the URL/path of a ``latest.json`` itself. Only that location is contacted: proxy
settings from the environment are ignored and HTTP redirects are refused, so nothing else on the
network is reached.

``download`` writes ``<dest>.part`` and renames it to ``dest`` only when the size and sha256
match what the signed index promised; an interrupted download leaves the ``.part`` file, and the
next call resumes it (``Range: bytes=N-``; a server that ignores Range restarts from zero).
A progress bar (tqdm) goes to stderr when it is a terminal.
"""

from __future__ import annotations

import http.client
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from edge.checksum import file_sha256
from edge.ota import OtaError
from edge.ota.manifest import INDEX_FILE, MAX_BUNDLE_BYTES

#: A bundle tar is its files plus tar headers and padding; this bounds any single download.
MAX_DOWNLOAD_BYTES = MAX_BUNDLE_BYTES + (256 << 20)
CHUNK = 1 << 16
DEFAULT_TIMEOUT_S = 30.0
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class FetchError(OtaError):
    """The update location cannot be read, or what came back is not what was promised."""


class IncompleteDownload(FetchError):
    """The transfer stopped early; the ``.part`` file is kept and the next download resumes it."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102 - urllib hook
        return None  # urllib then raises HTTPError(3xx)


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _kind(location: str) -> str:
    scheme = urllib.parse.urlsplit(location).scheme.lower()
    if scheme in ("http", "https"):
        return "http"
    if scheme in ("file", ""):
        return "file"
    raise FetchError(f"update location {location!r} must be an http(s):// URL, a file:// URL or a path.")


def _local_path(location: str) -> Path:
    parts = urllib.parse.urlsplit(location)
    if parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost"):
            raise FetchError(f"file URL {location!r} names a remote host.")
        return Path(urllib.parse.unquote(parts.path))
    return Path(location)


def index_location(location: str) -> str:
    """The ``latest.json`` of an update location (a directory, or the index itself)."""
    if not location:
        raise FetchError("no update location given (URL=... or FIELDCOACH_UPDATE_URL).")
    if location.rstrip("/").endswith(".json"):
        return location
    if _kind(location) == "http":
        return location.rstrip("/") + "/" + INDEX_FILE
    return str(_local_path(location) / INDEX_FILE)


def sibling(index_loc: str, name: str) -> str:
    """The location of file ``name`` next to the index at ``index_loc``."""
    if "/" in name or name in ("", ".", ".."):
        raise FetchError(f"{name!r} is not a plain file name.")
    if _kind(index_loc) == "http":
        return urllib.parse.urljoin(index_loc, urllib.parse.quote(name))
    return str(_local_path(index_loc).parent / name)


def read_small(location: str, limit: int, timeout: float = DEFAULT_TIMEOUT_S) -> bytes:
    """Read a whole small file (the index) of at most ``limit`` bytes."""
    if _kind(location) == "file":
        p = _local_path(location)
        try:
            with open(p, "rb") as f:
                data = f.read(limit + 1)
        except OSError as e:
            raise FetchError(f"cannot read {p}: {e.strerror or e}.") from None
    else:
        try:
            with _opener().open(urllib.request.Request(location, headers=_headers()), timeout=timeout) as resp:
                data = resp.read(limit + 1)
        except urllib.error.HTTPError as e:
            raise FetchError(f"{location} answered HTTP {e.code} {e.reason}.") from None
        except (urllib.error.URLError, OSError) as e:
            raise FetchError(f"cannot reach {location}: {getattr(e, 'reason', e)}.") from None
    if len(data) > limit:
        raise FetchError(f"{location} is larger than the {limit} bytes allowed.")
    return data


def _headers(offset: int = 0) -> dict[str, str]:
    from edge import __version__

    h = {"User-Agent": f"fieldcoach-ota/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        h["Range"] = f"bytes={offset}-"
    return h


def _progress(total: int, initial: int, name: str, show: bool):
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
        file=sys.stderr, disable=None if show else True, leave=False,
    )


def _open_http(location: str, offset: int, timeout: float):
    """(response, start offset) honouring Range when the server does; raises FetchError."""
    try:
        resp = _opener().open(urllib.request.Request(location, headers=_headers(offset)), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            return None, offset  # nothing more to send: the part file may already be complete
        if 300 <= e.code < 400:
            raise FetchError(f"{location} redirects (HTTP {e.code}); redirects are not followed, give the final URL.") from None
        raise FetchError(f"{location} answered HTTP {e.code} {e.reason}.") from None
    except (urllib.error.URLError, OSError) as e:
        raise FetchError(f"cannot reach {location}: {getattr(e, 'reason', e)}.") from None
    if resp.status == 206:
        m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
        if not m or int(m[1]) != offset:
            resp.close()
            raise FetchError(f"{location} answered a range that does not start at byte {offset}.")
        return resp, offset
    if resp.status == 200:
        return resp, 0
    resp.close()
    raise FetchError(f"{location} answered HTTP {resp.status}.")


def download(
    location: str,
    dest: str | Path,
    *,
    expected_size: int,
    expected_sha256: str,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    timeout: float = DEFAULT_TIMEOUT_S,
    progress: bool = True,
) -> Path:
    """Fetch ``location`` into ``dest`` (resumable, verified; module docstring). Returns ``dest``.

    Raises IncompleteDownload when the transfer stops early (run again to resume) and FetchError
    when the data cannot be right (the ``.part`` file is then deleted).
    """
    dest = Path(dest)
    if not 0 < expected_size <= max_bytes:
        raise FetchError(f"a download of {expected_size} bytes is outside the allowed 1..{max_bytes}.")
    if dest.is_file() and dest.stat().st_size == expected_size and file_sha256(dest) == expected_sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    if offset > expected_size:
        part.unlink()
        offset = 0
    if offset < expected_size:
        offset = _transfer(location, part, offset, expected_size, timeout, progress, dest.name)
    if offset != expected_size:
        raise IncompleteDownload(
            f"the download of {dest.name} stopped at {offset} of {expected_size} bytes; run the pull again to resume."
        )
    if file_sha256(part) != expected_sha256:
        part.unlink()
        raise FetchError(f"{dest.name} was downloaded whole but its sha256 does not match the index; the partial file was deleted.")
    os.replace(part, dest)
    fd = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return dest


def _transfer(location: str, part: Path, offset: int, total: int, timeout: float, progress: bool, name: str) -> int:
    """Append bytes from ``offset`` to ``part``; returns the size reached (== total when done)."""
    if _kind(location) == "file":
        src_path = _local_path(location)
        try:
            src = open(src_path, "rb")
        except OSError as e:
            raise FetchError(f"cannot read {src_path}: {e.strerror or e}.") from None
        src.seek(offset)
        start = offset
    else:
        src, start = _open_http(location, offset, timeout)
        if src is None:
            return offset
        length = src.headers.get("Content-Length")
        if length is not None and length.isdigit() and start + int(length) > total:
            src.close()
            raise FetchError(f"{location} is larger than the {total} bytes the index promised.")
    size = start
    with src, open(part, "r+b" if part.exists() else "wb") as out, _progress(total, start, name, progress) as bar:
        out.seek(start)
        out.truncate()
        try:
            while size < total:
                block = src.read(min(CHUNK, total - size))
                if not block:
                    break
                out.write(block)
                size += len(block)
                bar.update(len(block))
        except (OSError, http.client.HTTPException) as e:  # timeouts, resets, IncompleteRead
            _sync(out)
            raise IncompleteDownload(
                f"the download of {name} broke off at {size} of {total} bytes ({type(e).__name__}); "
                "run the pull again to resume."
            ) from None
        _sync(out)
    return size


def _sync(f) -> None:
    f.flush()
    os.fsync(f.fileno())

