"""A/B model slots on the device and their state file.

Layout under the data directory (``/var/lib/fieldcoach``)::

    models/a/, models/b/      one unpacked bundle each
    models/current -> a       relative symlink: the active slot (replaced with rename(2))
    models/state.json         State (below), written atomically
    models/.lock              flock(2) held by whoever changes slots
    models/.staging/          a bundle being unpacked (discarded if left over)
    updates/                  downloads (``fetch.py``)

The symlink is the single truth about which slot is active. ``state.json`` records what each slot
holds (``None`` while a slot is being replaced, so a half-written slot is never trusted) and, during
an apply or rollback, ``pending``: the slot being tried and the one to go back to. ``recover``
(run under the lock before every change and by the service's ``ExecStartPre``) finds a
``pending`` left by a killed process and switches back to the previous slot.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.ota import OtaError, failpoint
from edge.skeleton.io import atomic_write_bytes, fsync_dir

SLOTS = ("a", "b")
CURRENT = "current"
STATE_FILE = "state.json"
LOCK_FILE = ".lock"
STAGING = ".staging"
MAX_HISTORY = 100


class SlotError(OtaError):
    """The slot store is locked, damaged, or cannot do what was asked."""


def now_utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlotInfo(_Model):
    """What a finished slot holds."""

    version: str = Field(description="bundle version")
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of its manifest.json")
    installed_at: str = Field(description="UTC time the slot was written")
    device_files: list[str] = Field(default_factory=list, description="files made on the device (TensorRT engines)")
    status: Literal["ready", "failed"] = Field("ready", description="'failed': it did not pass its health check")


class Pending(_Model):
    """A switch in progress: ``slot`` is being tried, ``previous`` is where to go back."""

    slot: Literal["a", "b"]
    previous: Literal["a", "b"] | None
    version: str
    operation: Literal["apply", "rollback"]
    started: str


class Event(_Model):
    time: str
    operation: str
    ok: bool
    message: str


class State(_Model):
    format: Literal[1] = 1
    slots: dict[Literal["a", "b"], SlotInfo | None] = Field(default_factory=lambda: {"a": None, "b": None})
    pending: Pending | None = None
    history: list[Event] = Field(default_factory=list)

    def record(self, operation: str, ok: bool, message: str) -> None:
        self.history.append(Event(time=now_utc(), operation=operation, ok=ok, message=message))
        del self.history[:-MAX_HISTORY]


@dataclass(frozen=True)
class Recovery:
    """What ``recover`` did: ``switched`` when it moved ``current`` back; ``notes`` for the operator."""

    switched: bool
    notes: list[str]


class SlotStore:
    """The slots under ``data_dir`` (module docstring). Methods that change things need ``locked()``."""

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / "models"
        self.updates = self.data_dir / "updates"
        self.current = self.root / CURRENT
        self.state_path = self.root / STATE_FILE
        self.staging = self.root / STAGING
        self._lock_fd: int | None = None

    # -- locking ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, blocking: bool = True):
        """Hold the store's exclusive lock (released by the kernel if the process dies)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EACCES):
                    raise SlotError("another update is changing the model slots right now; try again when it ends.") from None
                raise
            self._lock_fd = fd
            yield self
        finally:
            self._lock_fd = None
            os.close(fd)

    def _require_lock(self) -> None:
        if self._lock_fd is None:
            raise SlotError("the slot store must be locked to change it.")

    # -- reading ---------------------------------------------------------------------------------
    def slot_dir(self, slot: str) -> Path:
        if slot not in SLOTS:
            raise SlotError(f"there is no slot {slot!r}; the slots are {', '.join(SLOTS)}.")
        return self.root / slot

    def active(self) -> str | None:
        """The active slot name, or None on a device with no models yet."""
        try:
            target = os.readlink(self.current)
        except FileNotFoundError:
            return None
        except PermissionError:
            raise
        except OSError:
            raise SlotError(f"{self.current} exists but is not a symbolic link.") from None
        if target not in SLOTS:
            raise SlotError(f"{self.current} points to {target!r}, which is not a slot.")
        return target

    def inactive(self) -> str:
        active = self.active()
        return "b" if active == "a" else "a"

    def read_state(self) -> State:
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            return State()
        try:
            return State.model_validate(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError, ValidationError):
            raise SlotError(f"{self.state_path} is damaged; inspect it, or remove it to start the slot records afresh.") from None

    def active_info(self, state: State | None = None) -> SlotInfo | None:
        state = state or self.read_state()
        active = self.active()
        return state.slots.get(active) if active else None

    # -- changing --------------------------------------------------------------------------------
    def write_state(self, state: State) -> None:
        self._require_lock()
        atomic_write_bytes(self.state_path, (json.dumps(state.model_dump(mode="json"), indent=1) + "\n").encode())
        os.chmod(self.state_path, 0o644)
        self.adopt(self.state_path)

    def switch(self, slot: str | None) -> None:
        """Point ``current`` at ``slot`` (None: remove it) atomically and durably."""
        self._require_lock()
        if slot is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.current)
        else:
            self.slot_dir(slot)
            tmp = self.root / f".{CURRENT}.{os.getpid()}.tmp"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(slot, tmp)
            self.adopt(tmp)
            os.replace(tmp, self.current)
        fsync_dir(self.root)

    def install_slot(self, slot: str, source: Path) -> None:
        """Replace slot ``slot`` by the directory ``source`` (same file system), durably.

        The caller must have marked the slot ``None`` in the state file first.
        """
        self._require_lock()
        if slot == self.active():
            raise SlotError(f"slot {slot} is active; an update only ever writes the inactive slot.")
        target = self.slot_dir(slot)
        trash = self.root / f".trash-{slot}"
        if trash.exists():
            shutil.rmtree(trash)
        if target.exists():
            os.replace(target, trash)
        failpoint("slot_half_replaced")  # crash tests stop here, between the two renames
        os.replace(source, target)
        fsync_dir(self.root)
        shutil.rmtree(trash, ignore_errors=True)

    def adopt(self, path: Path) -> None:
        """When running as root, give ``path`` (recursively) to the owner of the models folder.

        ``sudo make ota-apply`` then leaves files the unprivileged service user can replace.
        """
        if os.geteuid() != 0:
            return
        st = os.stat(self.root)
        if st.st_uid == 0 and st.st_gid == 0:
            return
        paths = [path]
        if path.is_dir() and not path.is_symlink():
            for dirpath, dirnames, filenames in os.walk(path):
                paths.extend(Path(dirpath) / n for n in dirnames + filenames)
        for p in paths:
            os.lchown(p, st.st_uid, st.st_gid)

    def recover(self) -> Recovery:
        """Undo an interrupted apply/rollback and remove leftovers; returns what was done."""
        self._require_lock()
        done = []
        switched = False
        state = self.read_state()
        if state.pending is not None:
            p = state.pending
            back = p.previous if p.previous is not None and state.slots.get(p.previous) is not None else None
            switched = self.active() != back
            self.switch(back)
            if state.slots.get(p.slot) is not None and p.operation == "apply":
                state.slots[p.slot] = state.slots[p.slot].model_copy(update={"status": "failed"})
            msg = (
                f"an interrupted {p.operation} to {p.version} (slot {p.slot}) was undone; "
                + (f"slot {back} is active again" if back else "no models are active")
            )
            state.pending = None
            state.record("recover", True, msg)
            self.write_state(state)
            done.append(msg)
        for leftover in [self.staging, *(self.root / f".trash-{s}" for s in SLOTS)]:
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
                done.append(f"removed the leftover {leftover.name}")
        for tmp in self.root.glob(f".{CURRENT}.*.tmp"):
            tmp.unlink(missing_ok=True)
        active = self.active()
        if active is not None and state.slots.get(active) is None:
            done.append(f"warning: the active slot {active} has no record in {STATE_FILE}")
        return Recovery(switched, done)

    def status(self) -> dict:
        """A JSON-able summary: active and inactive slot, pending switch, recent history."""
        state = self.read_state()
        active = self.active()
        def info(slot):
            i = state.slots.get(slot)
            return None if i is None else {"slot": slot, **i.model_dump(mode="json")}
        other = "b" if active == "a" else "a" if active == "b" else None
        return {
            "data_dir": str(self.data_dir),
            "active": info(active) if active else None,
            "inactive": info(other) if other else None,
            "pending": state.pending.model_dump(mode="json") if state.pending else None,
            "history": [e.model_dump(mode="json") for e in state.history[-5:]],
        }

