"""Over-the-air model updates: signed bundles, resumable downloads, A/B slots with rollback.

A *bundle* is one uncompressed tar built on the training machine (``bundle.py``)::

    manifest.json   canonical JSON (``manifest.py``): version, compatible hardware, minimum app
                    version, signing key id, and the size + sha256 of every other file
    manifest.sig    ed25519 signature of manifest.json's exact bytes, hex (``sign.py``)
    models/<action>/scorer.onnx, card.json, golden.npz     the scorers (``golden.py`` layout)
    reference/...   MotionDTW templates and normal ranges
    kb/...          the SportsRAG knowledge base

next to an index, ``latest.json``, that repeats the signed manifest so a device can decide whether
to download without fetching the bundle (``fetch.py`` downloads with HTTP Range resume or copies
from a path / USB stick).

On the device (``slots.py``, ``apply.py``)::

    /var/lib/fieldcoach/models/a/, b/     two slots, each one unpacked bundle
    /var/lib/fieldcoach/models/current -> a   the active slot (switched with rename(2))
    /var/lib/fieldcoach/models/state.json     slot versions, the pending switch, history
    /var/lib/fieldcoach/updates/              downloads

The service reads ``current/models/<action>/``; an update is unpacked into the inactive slot,
checked (signature, hashes, golden samples, TensorRT engine where TensorRT exists), switched to,
health-checked, and switched back automatically on any failure. Killing the process at any point
leaves the previous slot active (see ``apply.py``). The command is ``python -m edge.ota``.
"""


class OtaError(Exception):
    """An update cannot proceed; the message is one sentence that says why."""


#: Crash tests set this to a failpoint name; the process then kills itself (SIGKILL) right there.
#: ``NAME:term`` sends SIGTERM instead (what ``systemctl stop`` or a shutdown would send).
FAILPOINT_ENV = "FIELDCOACH_OTA_FAILPOINT"


def failpoint(name: str) -> None:
    """Die here if ``$FIELDCOACH_OTA_FAILPOINT`` names this point (crash-safety tests)."""
    import os

    wanted = os.environ.get(FAILPOINT_ENV, "")
    if wanted.split(":")[0] == name:
        import signal

        os.kill(os.getpid(), signal.SIGTERM if wanted.endswith(":term") else signal.SIGKILL)
