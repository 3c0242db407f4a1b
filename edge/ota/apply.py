"""Apply a bundle, or roll back, with automatic rollback on any failure; safe against a kill.

``apply_bundle`` under the slot lock:

1. ``recover`` leftovers of a killed earlier run;
2. read the manifest at the head of the tar and verify its signature; refuse a wrong
   compatible-hardware string, a too-old app, the same version or a downgrade (unless allowed);
3. unpack into ``models/.staging`` checking every file's size and sha256 (``bundle.extract_bundle``);
4. build TensorRT engines where TensorRT exists (``engines``), run the golden samples (``golden``);
5. mark the inactive slot empty in ``state.json``, move the staging folder into it, record it;
6. record ``pending`` = {new slot, previous slot}; switch ``current`` (rename(2));
7. restart the service and run the health check; on failure switch back, restart, mark the slot
   failed; on success clear ``pending``.

Until step 6 the active slot is never touched. After step 6 a kill leaves ``pending`` behind;
``recover`` (the next OTA command, or the service's ``ExecStartPre``) switches back. So a kill at
any point leaves the previous models active. Each step boundary has a failpoint (see
``edge.ota.failpoint``) for the crash tests.

The model check, engine build, restart and health check are injectable (``Hooks``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edge.checksum import file_sha256
from edge.ota import OtaError, failpoint
from edge.ota.bundle import extract_bundle, read_manifest, verify_unpacked
from edge.ota.golden import verify_bundle_models
from edge.ota.manifest import MANIFEST_FILE, BundleError, admission_problems
from edge.ota.slots import Pending, SlotInfo, SlotStore, now_utc


class ApplyError(OtaError):
    """The update was not applied (or was rolled back); the previous models are active."""


def _no_restart() -> None:
    return None


def _default_engines(slot: Path) -> list[str]:
    from edge.ota.engines import build_engines_if_available

    return build_engines_if_available(slot)


@dataclass
class Hooks:
    """What apply/rollback call out to; the defaults suit a machine without the service."""

    #: slot dir -> problems with its scorers (golden samples)
    verify_models: Callable[[Path], list[str]] = verify_bundle_models
    #: staged slot dir -> slot-relative paths of the files built on the device (TensorRT engines)
    build_engines: Callable[[Path], list[str]] = _default_engines
    #: restart the service (called after a switch, and again after switching back)
    restart: Callable[[], None] = _no_restart
    #: (active slot dir, expected version) -> problems; None: the local self-test
    health_check: Callable[[Path, str], list[str]] | None = None


@dataclass(frozen=True)
class ApplyResult:
    version: str
    slot: str
    previous_slot: str | None
    previous_version: str | None
    device_files: tuple[str, ...]
    notes: tuple[str, ...]


def _health(store: SlotStore, hooks: Hooks, slot: str, version: str) -> list[str]:
    if hooks.health_check is not None:
        return hooks.health_check(store.slot_dir(slot), version)
    from edge.ota.service import self_test

    return self_test(store.current, store.slot_dir(slot), version, hooks.verify_models)


def _switch_back(store: SlotStore, state, hooks: Hooks, slot: str, previous: str | None, version: str,
                 operation: str, reason: str) -> str:
    """Undo a switch to ``slot``: link back, mark it failed, clear pending, restart; returns the message."""
    store.switch(previous)
    state.slots[slot] = state.slots[slot].model_copy(update={"status": "failed"})
    state.pending = None
    prev_version = state.slots[previous].version if previous and state.slots.get(previous) else None
    msg = f"{operation} to {version} failed ({reason}); switched back to {prev_version or 'no models'}"
    state.record(operation, False, msg)
    store.write_state(state)
    try:
        hooks.restart()
    except Exception as e:
        msg += f"; restarting the service afterwards failed too ({e})"
    return msg


def _switch_and_check(store: SlotStore, state, hooks: Hooks, slot: str, previous: str | None,
                      version: str, operation: str) -> None:
    """Steps 6-7: pending, switch, restart, health; switch back and raise ApplyError on failure.

    Ctrl-C or SIGTERM (the CLI turns it into KeyboardInterrupt) while the new models are on
    trial also switches back before the interrupt propagates.
    """
    state.pending = Pending(slot=slot, previous=previous, version=version, operation=operation, started=now_utc())
    store.write_state(state)
    failpoint("pending_recorded")
    store.switch(slot)
    try:
        failpoint("switched")
        hooks.restart()
        failpoint("restarted")
        problems = _health(store, hooks, slot, version)
    except Exception as e:  # a restart or health probe that raises is a failed health check
        problems = [f"{type(e).__name__}: {e}"]
    except BaseException:
        _switch_back(store, state, hooks, slot, previous, version, operation, "interrupted during its health check")
        raise
    if problems:
        reason = f"its health check: {problems[0]}"
        raise ApplyError(_switch_back(store, state, hooks, slot, previous, version, operation, reason) + ".")
    failpoint("health_passed")
    state.pending = None
    state.record(operation, True, f"{operation} to {version} in slot {slot} succeeded")
    store.write_state(state)
    failpoint("committed")


def apply_bundle(
    tar_path: str | Path,
    data_dir: str | Path,
    public_key,
    *,
    hardware: str,
    app_version: str,
    allow_downgrade: bool = False,
    hooks: Hooks | None = None,
) -> ApplyResult:
    """Install ``tar_path`` into the inactive slot and switch to it (module docstring)."""
    hooks = hooks or Hooks()
    store = SlotStore(data_dir)
    with store.locked():
        recovered = store.recover()
        if recovered.switched:  # a killed earlier run may have left the service on unconfirmed models
            hooks.restart()
        notes = tuple(recovered.notes)
        state = store.read_state()
        previous = store.active()
        prev_info = state.slots.get(previous) if previous else None
        if previous is not None and prev_info is None:
            raise ApplyError(f"the active slot {previous} has no record in the state file; repair the slots first.")
        slot = "b" if previous == "a" else "a"
        try:
            manifest = read_manifest(tar_path, public_key)
            problems = admission_problems(
                manifest, hardware=hardware, app_version=app_version,
                active_version=prev_info.version if prev_info else None, allow_downgrade=allow_downgrade,
            )
            if problems:
                raise BundleError("; ".join(problems) + ".")
            failpoint("verified")
            extract_bundle(tar_path, store.staging, public_key)
            failpoint("extracted")
            device_files = list(hooks.build_engines(store.staging))
            failpoint("engines_built")
            bad = hooks.verify_models(store.staging)
            if bad:
                raise ApplyError(f"bundle {manifest.version} fails its golden samples: {bad[0]}" +
                                 (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
            failpoint("golden_passed")
        except OtaError as e:
            shutil.rmtree(store.staging, ignore_errors=True)
            state.record("apply", False, f"refused {Path(tar_path).name}: {e}")
            store.write_state(state)
            raise
        except BaseException:
            shutil.rmtree(store.staging, ignore_errors=True)
            raise
        store.adopt(store.staging)
        state.slots[slot] = None
        store.write_state(state)
        failpoint("slot_invalidated")
        store.install_slot(slot, store.staging)
        failpoint("slot_replaced")
        state.slots[slot] = SlotInfo(
            version=manifest.version,
            manifest_sha256=file_sha256(store.slot_dir(slot) / MANIFEST_FILE),
            installed_at=now_utc(),
            device_files=device_files,
        )
        _switch_and_check(store, state, hooks, slot, previous, manifest.version, "apply")
        return ApplyResult(manifest.version, slot, previous, prev_info.version if prev_info else None,
                           tuple(device_files), notes)


def rollback(data_dir: str | Path, public_key, *, hooks: Hooks | None = None) -> ApplyResult:
    """Switch back to the other slot after re-checking it (hashes, signature, golden samples)."""
    hooks = hooks or Hooks()
    store = SlotStore(data_dir)
    with store.locked():
        recovered = store.recover()
        if recovered.switched:
            hooks.restart()
        notes = tuple(recovered.notes)
        state = store.read_state()
        active = store.active()
        if active is None:
            raise ApplyError("no models are installed, so there is nothing to roll back from.")
        other = "b" if active == "a" else "a"
        info = state.slots.get(other)
        if info is None:
            raise ApplyError(f"slot {other} holds no complete bundle, so there is no previous version to roll back to.")
        if info.status == "failed":
            raise ApplyError(f"slot {other} holds {info.version}, which failed its health check; it is not rolled back to.")
        try:
            verify_unpacked(store.slot_dir(other), public_key, extra_ok=tuple(info.device_files))
        except OtaError as e:
            raise ApplyError(f"slot {other} ({info.version}) is no longer intact: {e}") from None
        bad = hooks.verify_models(store.slot_dir(other))
        if bad:
            raise ApplyError(f"slot {other} ({info.version}) fails its golden samples: {bad[0]}")
        prev_version = state.slots[active].version if state.slots.get(active) else None
        _switch_and_check(store, state, hooks, other, active, info.version, "rollback")
        return ApplyResult(info.version, other, active, prev_version, tuple(info.device_files), notes)
