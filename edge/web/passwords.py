"""Teacher logins: PINs/passwords hashed with scrypt, kept in one small JSON file.

Hashing: ``hashlib.scrypt`` (stdlib, memory-hard) with a fresh 16-byte salt per secret and a 32-byte
key. Default cost N = 2**14, r = 8, p = 5: one of the settings the OWASP Password Storage Cheat Sheet
lists as equal in strength to its minimum N = 2**17, r = 8, p = 1, chosen because it needs 16 MiB
(128 * r * N bytes) instead of 128 MiB on a 4 GB Jetson Nano that shares memory with the GPU. It
took about 0.5 s per check on the 2-core development machine; logins are rare, so that is fine, and
the login rate limit (``edge.web.ratelimit``) runs *before* the KDF. Parameters are stored with
each hash (``scrypt$N$r$p$salt$key``, base64), so they can be raised later without a migration.

A PIN is at least 6 digits and not a single repeated digit or a straight run (123456, 987654);
a password is at least 8 characters. Comparison is constant-time (``hmac.compare_digest``) and an
unknown teacher name costs the same KDF run as a known one (no name probing by timing).

File: ``{"format": 1, "teachers": {"name": "scrypt$..."}}``, written atomically with mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from edge.skeleton.io import atomic_write_bytes


@dataclass(frozen=True)
class ScryptParams:
    """scrypt cost: ``n`` (CPU/memory, a power of two), ``r`` (block size), ``p`` (parallelism)."""

    n: int = 2**14
    r: int = 8
    p: int = 5

    @property
    def memory_bytes(self) -> int:
        return 128 * self.r * self.n


DEFAULT_PARAMS = ScryptParams()
SALT_BYTES = 16
KEY_BYTES = 32
FILE_FORMAT = 1
#: Only one KDF runs at a time: bounds CPU and memory whatever the number of login requests.
_KDF_LOCK = threading.Lock()


class CredentialError(ValueError):
    """A secret, a hash or the credentials file is not acceptable; the message is one sentence."""


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _kdf(secret: str, salt: bytes, params: ScryptParams) -> bytes:
    with _KDF_LOCK:
        return hashlib.scrypt(
            secret.encode("utf-8"),
            salt=salt,
            n=params.n,
            r=params.r,
            p=params.p,
            maxmem=params.memory_bytes + (1 << 20),
            dklen=KEY_BYTES,
        )


def check_secret_strength(secret: str) -> None:
    """Raise CredentialError unless ``secret`` is a PIN of 6+ digits (not trivial) or a password of 8+."""
    if not isinstance(secret, str) or secret != secret.strip() or not secret:
        raise CredentialError("the PIN or password must be non-empty text without leading or trailing spaces.")
    if secret.isdigit():
        if len(secret) < 6:
            raise CredentialError("a PIN needs at least 6 digits.")
        steps = {int(b) - int(a) for a, b in zip(secret, secret[1:])}
        if steps in ({0}, {1}, {-1}):
            raise CredentialError("that PIN is too easy to guess (a repeated digit or a straight run).")
    elif len(secret) < 8:
        raise CredentialError("a password needs at least 8 characters (or use a PIN of 6+ digits).")


def hash_secret(secret: str, params: ScryptParams = DEFAULT_PARAMS) -> str:
    """``scrypt$N$r$p$salt$key`` of ``secret`` with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    return f"scrypt${params.n}${params.r}${params.p}${_b64(salt)}${_b64(_kdf(secret, salt, params))}"


def _parse(encoded: str) -> tuple[ScryptParams, bytes, bytes]:
    parts = encoded.split("$") if isinstance(encoded, str) else []
    try:
        if len(parts) != 6 or parts[0] != "scrypt":
            raise ValueError
        n, r, p = (int(x) for x in parts[1:4])
        salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        raise CredentialError("a stored login hash is not in the scrypt$N$r$p$salt$key form.") from None
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or len(salt) < 8 or len(key) < 16:
        raise CredentialError("a stored login hash has invalid scrypt parameters.")
    return ScryptParams(n, r, p), salt, key


def verify_secret(secret: str, encoded: str) -> bool:
    """True when ``secret`` matches the hash (constant-time comparison)."""
    params, salt, key = _parse(encoded)
    if not isinstance(secret, str):
        return False
    return hmac.compare_digest(_kdf(secret, salt, params), key)


class CredentialStore:
    """Teacher names and scrypt hashes in ``path`` (re-read at each login, so additions apply at once)."""

    def __init__(self, path: str | os.PathLike, params: ScryptParams = DEFAULT_PARAMS) -> None:
        self.path = Path(path)
        self.params = params
        # Verified against when the name is unknown, so both cases cost one KDF run.
        self._dummy = hash_secret(secrets.token_urlsafe(16), params)

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise CredentialError(f"the credentials file {self.path} cannot be read ({e.__class__.__name__}).") from None
        if not isinstance(data, dict) or data.get("format") != FILE_FORMAT or not isinstance(data.get("teachers"), dict):
            raise CredentialError(f"the credentials file {self.path} is not a format-{FILE_FORMAT} teachers file.")
        return dict(data["teachers"])

    def teachers(self) -> list[str]:
        return sorted(self._read())

    def set_teacher(self, name: str, secret: str) -> None:
        """Add a teacher or change their PIN/password (after the strength check)."""
        if not isinstance(name, str) or not name.strip() or len(name) > 60 or name != name.strip():
            raise CredentialError("a teacher name must be 1-60 characters without leading or trailing spaces.")
        check_secret_strength(secret)
        teachers = self._read()
        teachers[name] = hash_secret(secret, self.params)
        self._write(teachers)

    def remove_teacher(self, name: str) -> None:
        teachers = self._read()
        if name not in teachers:
            raise CredentialError(f"there is no teacher named {name!r}.")
        del teachers[name]
        self._write(teachers)

    def _write(self, teachers: dict[str, str]) -> None:
        # mkstemp creates the temporary file 0600 and the rename keeps it: never readable by others
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        blob = json.dumps({"format": FILE_FORMAT, "teachers": teachers}, indent=1, sort_keys=True).encode()
        atomic_write_bytes(self.path, blob)
        os.chmod(self.path, 0o600)

    def check(self, name: str, secret: str) -> bool:
        """True when ``name`` exists and ``secret`` is theirs; one KDF run either way."""
        encoded = self._read().get(name) if isinstance(name, str) else None
        ok = verify_secret(secret if isinstance(secret, str) else "", encoded or self._dummy)
        return ok and encoded is not None
