"""The shipped reference bundle: MotionDTW templates, KISMAM normal ranges and their manifest.

A reference directory (default :data:`DEFAULT_REFERENCE_DIR`, ``models/reference`` at the
repository root) holds, written by ``python -m calibration.build``:

- ``<action>_ref<k>.npz``: the templates of each action (``edge.align.Template`` files);
- ``normal_ranges.json``: the calibrated ranges (:mod:`calibration.ranges`);
- ``manifest.json``: ``format_version``, ``version``, the ``command`` that built the bundle, the
  MotionDTW configuration the templates were chosen and evaluated with (``motiondtw``), the KISMAM
  settings (``kismam``: ``top_n``, ``min_probability``, ``min_score``), the template and range build settings,
  per action its template files and their simulate() seeds, and ``files``: name -> sha256.

:func:`load_reference` checks every file it reads against the manifest's sha256, so a stored
result can name the exact references (``Reference.describe()``) and a changed file is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from calibration.ranges import RANGES_FILE, load_ranges
from calibration.templates import ReferenceFileError, load_templates, read_versioned_json
from edge.align import MotionDTWConfig, Template
from edge.checksum import file_sha256

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT_VERSION = 1
#: The bundle shipped with the code (repository root / models / reference).
DEFAULT_REFERENCE_DIR = Path(__file__).resolve().parent.parent / "models" / "reference"



@dataclass(frozen=True)
class Reference:
    """What analysis needs for one action: templates, ranges and the settings they were made with.

    ranges: metric id -> (Tmin, Tmax) for KISMAM's ``ranges_override``. config: the MotionDTW
    configuration. top_n, min_probability, min_score: KISMAM settings (``edge.diagnose.diagnose``). files: name -> sha256 of the files read.
    """

    action: str
    directory: Path
    version: str
    templates: tuple[Template, ...]
    ranges: dict[str, tuple[float, float]]
    config: MotionDTWConfig
    top_n: int
    min_probability: float
    min_score: float
    files: dict[str, str]

    def diagnose(self, seq, spec, keyframes):
        """``edge.diagnose.diagnose`` with these ranges and KISMAM settings."""
        from edge.diagnose import diagnose

        return diagnose(seq, spec, keyframes, self.ranges, self.top_n, self.min_probability, self.min_score)

    def describe(self) -> dict:
        """JSON-ready summary for reports: version, template names and file hashes."""
        return {
            "version": self.version,
            "directory": str(self.directory),
            "templates": [t.name for t in self.templates],
            "files": dict(self.files),
        }


def read_manifest(ref_dir: str | os.PathLike) -> dict:
    """The manifest of a reference directory; ReferenceFileError (one sentence) if missing or bad."""
    path = Path(ref_dir) / MANIFEST_FILE
    doc = read_versioned_json(
        path,
        "reference manifest",
        MANIFEST_FORMAT_VERSION,
        f"build the references with `python -m calibration.build --out {Path(ref_dir)}`",
    )
    return doc


def _check_file(ref_dir: Path, name: str, manifest: dict) -> str:
    expected = manifest.get("files", {}).get(name)
    path = ref_dir / name
    if expected is None:
        raise ReferenceFileError(f"{path} is not listed in the reference manifest.")
    if not path.is_file():
        raise ReferenceFileError(f"reference file {path} is missing; rebuild with `python -m calibration.build`.")
    got = file_sha256(path)
    if got != expected:
        raise ReferenceFileError(f"reference file {path} does not match its manifest sha256 (changed after the build).")
    return got


def load_reference(action: str, ref_dir: str | os.PathLike | None = None) -> Reference:
    """Templates, ranges and settings of ``action`` from a reference directory, hash-checked."""
    ref_dir = Path(ref_dir) if ref_dir is not None else DEFAULT_REFERENCE_DIR
    manifest = read_manifest(ref_dir)
    entry = manifest.get("actions", {}).get(action)
    if not isinstance(entry, dict) or not entry.get("templates"):
        raise ReferenceFileError(f"the reference manifest in {ref_dir} has no templates for {action}.")
    files = {name: _check_file(ref_dir, name, manifest) for name in entry["templates"]}
    files[RANGES_FILE] = _check_file(ref_dir, RANGES_FILE, manifest)
    templates = load_templates(ref_dir, action)
    names = {f"{action}_ref{k}.npz" for k in range(len(templates))}
    if names != set(entry["templates"]):
        raise ReferenceFileError(
            f"the template files of {action} in {ref_dir} differ from those the manifest lists."
        )
    try:
        config = MotionDTWConfig.model_validate(manifest["motiondtw"])
        kismam = manifest["kismam"]
        top_n, min_p, min_s = int(kismam["top_n"]), float(kismam["min_probability"]), float(kismam["min_score"])
    except (KeyError, TypeError, ValueError) as e:
        raise ReferenceFileError(f"{ref_dir / MANIFEST_FILE}: invalid settings ({e.__class__.__name__}).") from None
    return Reference(
        action=action,
        directory=ref_dir,
        version=str(manifest.get("version", "")),
        templates=tuple(templates),
        ranges=load_ranges(ref_dir / RANGES_FILE, action),
        config=config,
        top_n=top_n,
        min_probability=min_p,
        min_score=min_s,
        files=files,
    )
