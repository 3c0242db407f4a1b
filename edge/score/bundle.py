"""A shipped scorer bundle on disk and its model card (torch-free: the appliance reads it).

Layout: ``<models_dir>/<action>/scorer.onnx``, ``card.json``, ``golden.npz``.
The card (JSON object) holds at least ``action``, ``name``, ``version``, ``sha256`` (of
scorer.onnx), ``input`` (the ``InputSpec``), ``data`` (seed, samples, split), ``training``
(epochs, ...), ``metrics``, ``config`` and ``complexity``. ``golden.npz`` holds ``x`` (n, C, T, 17)
inputs and ``score`` (n,) the scores the exported model gave them, for the parity check on load.

``load_bundle(dir)`` checks that the three files exist, that the card is valid JSON with those
keys and that scorer.onnx hashes to the card's sha256; any failure raises ``ModelFileError`` with
one sentence that names the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.checksum import file_sha256
from edge.score.preprocess import InputSpec

MODEL_FILE = "scorer.onnx"
CARD_FILE = "card.json"
GOLDEN_FILE = "golden.npz"
CARD_KEYS = ("action", "name", "version", "sha256", "input", "data", "training", "metrics", "config", "complexity")


class ModelFileError(ValueError):
    """A model bundle is missing, corrupt or does not match its card; one sentence."""



@dataclass(frozen=True)
class Bundle:
    """A verified bundle: paths, the card, the input recipe and the golden samples."""

    directory: Path
    model_path: Path
    card: dict
    input_spec: InputSpec
    golden_x: np.ndarray
    golden_score: np.ndarray

    @property
    def sha256(self) -> str:
        return str(self.card["sha256"])


def read_card(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"model card {p} is missing.")
    try:
        card = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"model card {p} is not valid JSON.") from None
    if not isinstance(card, dict):
        raise ModelFileError(f"model card {p} must hold a JSON object.")
    missing = [k for k in CARD_KEYS if k not in card]
    if missing:
        raise ModelFileError(f"model card {p} lacks {', '.join(missing)}.")
    return card


def load_bundle(directory: str | Path) -> Bundle:
    """Read and verify a bundle (see the module docstring); raises ModelFileError."""
    d = Path(directory)
    if not d.is_dir():
        raise ModelFileError(f"no scorer model at {d} (the directory does not exist).")
    card = read_card(d / CARD_FILE)
    model = d / MODEL_FILE
    if not model.is_file():
        raise ModelFileError(f"scorer model {model} is missing.")
    digest = file_sha256(model)
    if digest != card["sha256"]:
        raise ModelFileError(
            f"scorer model {model} has sha256 {digest[:12]}... but its card says {str(card['sha256'])[:12]}...; "
            "the file is corrupt or does not belong to this card."
        )
    try:
        spec = InputSpec.model_validate(card["input"])
    except Exception:  # pydantic ValidationError: report as a card problem in one sentence
        raise ModelFileError(f"model card {d / CARD_FILE} has an invalid input section.") from None
    golden = d / GOLDEN_FILE
    if not golden.is_file():
        raise ModelFileError(f"golden samples {golden} are missing.")
    try:
        with np.load(golden, allow_pickle=False) as z:
            gx, gs = np.asarray(z["x"], np.float32), np.asarray(z["score"], np.float32)
    except Exception:
        raise ModelFileError(f"golden samples {golden} cannot be read.") from None
    if gx.ndim != 4 or gx.shape[0] != gs.shape[0] or gx.shape[1] != spec.channels:
        raise ModelFileError(f"golden samples {golden} do not match the card's input ({spec.channels} channels).")
    return Bundle(d, model, card, spec, gx, gs)


def write_card(path: str | Path, card: dict) -> None:
    """Write ``card`` as sorted, indented JSON (atomically)."""
    from edge.skeleton.io import atomic_write_bytes

    missing = [k for k in CARD_KEYS if k not in card]
    if missing:
        raise ValueError(f"a model card needs {', '.join(missing)}.")
    atomic_write_bytes(Path(path), (json.dumps(card, indent=1, sort_keys=True) + "\n").encode())
