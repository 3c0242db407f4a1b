"""Check an update location for a newer bundle, and pull it into the download folder.

``check_update`` reads the location's ``latest.json``, verifies the signed manifest in it and
says whether it is installable here (hardware, app version, newer than the active slot).
``pull_update`` then downloads the tar into ``<data_dir>/updates/`` (resumable, checked against
the index's size and sha256) and records the verified index as ``updates/ready.json``, which
``apply`` uses when no bundle path is given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edge.ota.bundle import Index, read_index
from edge.ota.fetch import download, index_location, read_small, sibling
from edge.ota.manifest import MAX_MANIFEST_BYTES, admission_problems
from edge.ota.slots import SlotStore
from edge.skeleton.io import atomic_write_bytes

READY_FILE = "ready.json"


@dataclass(frozen=True)
class CheckResult:
    index_location: str
    index: Index
    index_bytes: bytes
    active_version: str | None
    problems: tuple[str, ...]

    @property
    def available(self) -> bool:
        """True when the offered bundle may be installed here."""
        return not self.problems

    def summary(self) -> str:
        v, active = self.index.manifest.version, self.active_version or "none"
        if self.available:
            return f"update available: {v} (active: {active}, {self.index.size} bytes)"
        return f"no installable update (offered {v}, active {active}): {'; '.join(self.problems)}"


def check_update(location: str, data_dir: str | Path, public_key, *, hardware: str, app_version: str,
                 allow_downgrade: bool = False) -> CheckResult:
    loc = index_location(location)
    raw = read_small(loc, MAX_MANIFEST_BYTES + 4096)
    index = read_index(raw, public_key, source=loc)
    info = SlotStore(data_dir).active_info()
    active = info.version if info else None
    problems = admission_problems(index.manifest, hardware=hardware, app_version=app_version,
                                  active_version=active, allow_downgrade=allow_downgrade)
    return CheckResult(loc, index, raw, active, tuple(problems))


def pull_update(result: CheckResult, data_dir: str | Path, *, progress: bool = True) -> Path:
    """Download the checked bundle into ``updates/`` and record ``ready.json``; returns the tar path."""
    store = SlotStore(data_dir)
    store.updates.mkdir(parents=True, exist_ok=True)
    idx = result.index
    (store.updates / READY_FILE).unlink(missing_ok=True)  # superseded, whether or not this pull finishes
    for old in store.updates.iterdir():  # an older download, finished or not, is no longer wanted
        if old.name.endswith((".tar", ".tar.part")) and not old.name.startswith(idx.bundle):
            old.unlink(missing_ok=True)
    tar = download(sibling(result.index_location, idx.bundle), store.updates / idx.bundle,
                   expected_size=idx.size, expected_sha256=idx.sha256, progress=progress)
    atomic_write_bytes(store.updates / READY_FILE, result.index_bytes)
    os.chmod(store.updates / READY_FILE, 0o644)
    return tar


def ready_bundle(data_dir: str | Path, public_key) -> Path:
    """The downloaded bundle recorded in ``updates/ready.json`` (verified again); raises OtaError."""
    from edge.ota.manifest import BundleError

    updates = SlotStore(data_dir).updates
    try:
        raw = (updates / READY_FILE).read_bytes()
    except FileNotFoundError:
        raise BundleError(f"no downloaded update in {updates}; run `make ota-pull URL=...` or give BUNDLE=path.tar.") from None
    index = read_index(raw, public_key, source=str(updates / READY_FILE))
    tar = updates / index.bundle
    if not tar.is_file():
        raise BundleError(f"{tar} named by {READY_FILE} is missing; pull the update again.")
    return tar


def forget_download(data_dir: str | Path, tar: Path) -> None:
    """After a successful apply: delete the downloaded tar and ``ready.json`` if they are in ``updates/``."""
    updates = SlotStore(data_dir).updates
    if tar.parent.resolve() == updates.resolve():
        tar.unlink(missing_ok=True)
        (updates / READY_FILE).unlink(missing_ok=True)
