"""What ``GET /health`` reports: are the models loaded and do they reproduce their golden samples.

The contract with the over-the-air update (``edge.ota.service``): HTTP 200 with ``"status": "ok"``
once the models are loaded and the golden parity passed, and ``"models_version"``: the version in
the ``manifest.json`` of the update slot the models come from. ``paths.models_dir`` points into a
slot as ``<slot>/models``, so the manifest is its parent's; models that did not come from a bundle
(a developer checkout, the models shipped in the package) report ``shipped-<app version>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge import __version__
from edge.ota import OtaError
from edge.ota.manifest import MANIFEST_FILE, manifest_from_bytes


@dataclass
class ModelsCheck:
    """The result of :func:`check_models`: version, the actions whose scorer loaded, problems."""

    version: str
    loaded: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.loaded) and not self.problems


def models_version(models_dir: Path) -> str:
    """The slot manifest's version, or ``shipped-<app version>`` for models outside a slot."""
    manifest = Path(models_dir).parent / MANIFEST_FILE
    if not manifest.is_file():
        return f"shipped-{__version__}"
    try:
        return manifest_from_bytes(manifest.read_bytes()).version
    except (OSError, OtaError) as e:
        raise OtaError(f"the models' manifest {manifest} cannot be read ({e}).") from None


def slot_reference_dir(models_dir) -> Path | None:
    """The MotionDTW templates and normal ranges that came in the same update bundle as the
    scorers (``<slot>/reference``), or None for models outside a slot (the shipped references)."""
    from edge.score.attach import resolve_models_dir

    d = resolve_models_dir(models_dir).parent
    if (d / MANIFEST_FILE).is_file() and (d / "reference").is_dir():
        return d / "reference"
    return None


def check_models(models_dir, actions) -> ModelsCheck:
    """Load the scorer of each action (``Scorer.load`` runs its golden samples) and read the version."""
    from edge.score.attach import get_scorer, resolve_models_dir
    from edge.score.backends import BackendUnavailable
    from edge.score.bundle import ModelFileError

    d = resolve_models_dir(models_dir)
    try:
        check = ModelsCheck(models_version(d))
    except OtaError as e:
        return ModelsCheck("unknown", problems=[str(e)])
    for action in actions:
        try:
            get_scorer(d, action)
        except (ModelFileError, BackendUnavailable, ValueError) as e:
            check.problems.append(f"{action}: {e}")
        else:
            check.loaded.append(action)
    return check


def update_status(data_dir) -> dict:
    """What the Settings screen says about model updates: the active and previous slot and the last
    update operation (``edge.ota``'s slot state, read only), or that models come with the app."""
    from edge.ota.slots import SlotStore

    try:
        st = SlotStore(data_dir).status()
    except (OSError, OtaError, ValueError) as e:
        return {"state": "unknown", "detail": f"the update state cannot be read ({e})"}
    active, other = st["active"], st["inactive"]
    if active is None:
        return {"state": "no update installed", "detail": "the models shipped with the app are in use"}
    detail = f"previous: {other['version']} ({other['status']})" if other else "no previous models"
    if st["history"]:
        last = st["history"][-1]
        detail += f"; last {last['operation']} {'ok' if last['ok'] else 'FAILED'}: {last['message']}"
    return {"state": f"models {active['version']}", "detail": detail}
