"""Ed25519 signing of bundle manifests (the ``cryptography`` package).

Keys are PEM files: the private key PKCS#8 (mode 0600, kept on the training machine only), the
public key SubjectPublicKeyInfo (installed on each device as ``/etc/fieldcoach/ota_ed25519.pub``).
A signature file holds the 64-byte signature as 128 hex characters and a newline. The key id in a
manifest is the first 16 hex characters of sha256 of the raw 32-byte public key; it lets a device
say "signed by another key" instead of only "bad signature".
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from edge.ota import OtaError

PRIVATE_KEY_NAME = "ota_ed25519.pem"
PUBLIC_KEY_NAME = "ota_ed25519.pub"
_SIG_RE = re.compile(rb"^([0-9a-f]{128})\n?$")


class SignatureError(OtaError):
    """A signature does not verify, or a key or signature file is unusable."""


def _ed25519():
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as e:  # a runtime dependency; say which package is missing
        raise SignatureError(f"the 'cryptography' package is needed to sign and verify bundles ({e}).") from None
    return ed25519


def _serialization():
    from cryptography.hazmat.primitives import serialization

    return serialization


def generate_keypair(out_dir: str | Path, force: bool = False) -> tuple[Path, Path]:
    """Write a new key pair into ``out_dir``; returns (private, public) paths.

    Refuses to overwrite an existing private key unless ``force`` (a lost key means devices must
    be re-provisioned with a new public key).
    """
    from edge.skeleton.io import atomic_write_bytes

    ed25519, ser = _ed25519(), _serialization()
    out = Path(out_dir)
    priv_path, pub_path = out / PRIVATE_KEY_NAME, out / PUBLIC_KEY_NAME
    if priv_path.exists() and not force:
        raise SignatureError(f"{priv_path} already exists; refusing to replace a signing key (use --force).")
    out.mkdir(parents=True, exist_ok=True)
    key = ed25519.Ed25519PrivateKey.generate()
    priv = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    pub = key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    old_umask = os.umask(0o077)
    try:
        atomic_write_bytes(priv_path, priv)
    finally:
        os.umask(old_umask)
    os.chmod(priv_path, 0o600)
    atomic_write_bytes(pub_path, pub)
    return priv_path, pub_path


def load_private_key(path: str | Path):
    """Read a PEM Ed25519 private key; raises SignatureError naming the file."""
    ed25519, ser = _ed25519(), _serialization()
    p = Path(path)
    if not p.is_file():
        raise SignatureError(f"signing key {p} does not exist (make one with `make keygen`).")
    try:
        key = ser.load_pem_private_key(p.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise SignatureError(f"signing key {p} is not an unencrypted PEM private key.") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise SignatureError(f"signing key {p} is not an Ed25519 key.")
    return key


def load_public_key(path: str | Path):
    """Read a PEM Ed25519 public key; raises SignatureError naming the file."""
    ed25519, ser = _ed25519(), _serialization()
    p = Path(path)
    if not p.is_file():
        raise SignatureError(f"public key {p} does not exist (install keys/{PUBLIC_KEY_NAME} from the training machine).")
    try:
        key = ser.load_pem_public_key(p.read_bytes())
    except (ValueError, TypeError):
        raise SignatureError(f"public key {p} is not a PEM public key.") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise SignatureError(f"public key {p} is not an Ed25519 key.")
    return key


def key_id(public_key) -> str:
    """First 16 hex characters of sha256 of the raw 32-byte public key."""
    ser = _serialization()
    raw = public_key.public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(private_key, data: bytes) -> bytes:
    """The signature file content (hex + newline) for ``data``."""
    return private_key.sign(data).hex().encode("ascii") + b"\n"


def verify(public_key, data: bytes, signature_file: bytes, what: str = "the manifest") -> None:
    """Raise SignatureError unless ``signature_file`` (hex) is a valid signature of ``data``."""
    from cryptography.exceptions import InvalidSignature

    m = _SIG_RE.match(signature_file.strip() + b"\n") if len(signature_file) <= 256 else None
    if not m:
        raise SignatureError(f"the signature of {what} is not 128 hex characters.")
    try:
        public_key.verify(bytes.fromhex(m[1].decode("ascii")), data)
    except InvalidSignature:
        raise SignatureError(f"the signature of {what} does not verify with the installed public key.") from None
