"""Golden-sample check of the scorers in an unpacked bundle (ONNX Runtime, CPU).

Layout of a slot's scorers: ``models/<action>/scorer.onnx``, ``card.json`` and ``golden.npz``
(the same layout ``edge.score.bundle`` loads). ``card.json`` must be a JSON object whose ``action``
is the folder name and whose ``sha256`` is the hex sha256 of ``scorer.onnx``.

``golden.npz`` (numpy .npz, no pickled objects) -- the contract the exporter writes:

=========  ===================  ==========================================================
key        dtype, shape         meaning
=========  ===================  ==========================================================
``x``      float32 (n, C, T, 17)  n >= 1 prepared inputs, fed to the model's only input
``score``  float32 (n,)         the ``score`` output (points, 0-100) the exported model gave
<output>   float32 (n, ...)     optional: expected value of any other model output of that
                                name, e.g. ``phase_scores`` (n, 4), ``grade_logits`` (n, 5)
``atol``   float64 scalar       optional: absolute tolerance for every output (default 0.05)
=========  ===================  ==========================================================

Any other key, a key naming no model output, a shape mismatch or a NaN is a problem. The check
is in FP32 on the CPU; a TensorRT FP16 engine built on the device is checked by the scorer's own
parity test when the service loads it (tolerance 1.0 point).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge.checksum import file_sha256

MODELS_DIR = "models"
MODEL_FILE = "scorer.onnx"
CARD_FILE = "card.json"
GOLDEN_FILE = "golden.npz"
DEFAULT_ATOL = 0.05
INPUT_KEY = "x"
REQUIRED_OUTPUT = "score"
TOLERANCE_KEY = "atol"


def _load_golden(path: Path) -> tuple[dict[str, np.ndarray], float]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: np.asarray(z[k]) for k in z.files}
    atol = DEFAULT_ATOL
    if TOLERANCE_KEY in arrays:
        a = arrays.pop(TOLERANCE_KEY)
        if a.shape != () or not np.isfinite(a) or float(a) < 0:
            raise ValueError("its 'atol' must be a finite non-negative scalar")
        atol = float(a)
    return arrays, atol


def check_scorer(action_dir: str | Path, threads: int = 1) -> list[str]:
    """Problems with one scorer folder (empty list: the golden samples reproduce)."""
    d = Path(action_dir)
    model, card_path, golden_path = d / MODEL_FILE, d / CARD_FILE, d / GOLDEN_FILE
    for f in (model, card_path, golden_path):
        if not f.is_file():
            return [f"{d.name}: {f.name} is missing."]
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return [f"{d.name}: {CARD_FILE} is not valid JSON."]
    if not isinstance(card, dict) or card.get("action") != d.name:
        return [f"{d.name}: {CARD_FILE} is not the card of action {d.name}."]
    if card.get("sha256") != file_sha256(model):
        return [f"{d.name}: {MODEL_FILE} does not hash to the sha256 in {CARD_FILE}."]
    try:
        arrays, atol = _load_golden(golden_path)
    except ValueError as e:
        return [f"{d.name}: {GOLDEN_FILE} is unusable: {e}."]
    except Exception:  # zip/npy format errors come in several types
        return [f"{d.name}: {GOLDEN_FILE} cannot be read as an .npz without pickles."]
    x = arrays.pop(INPUT_KEY, None)
    if x is None or x.dtype != np.float32 or x.ndim != 4 or x.shape[0] < 1 or x.shape[3] != 17:
        return [f"{d.name}: {GOLDEN_FILE} needs 'x' float32 of shape (n, C, T, 17) with n >= 1."]
    if REQUIRED_OUTPUT not in arrays:
        return [f"{d.name}: {GOLDEN_FILE} has no expected 'score'."]
    try:
        import onnxruntime as ort
    except ImportError as e:
        return [f"{d.name}: ONNX Runtime is not installed, so the golden samples cannot run ({e})."]
    try:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        sess = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
        inputs = sess.get_inputs()
        if len(inputs) != 1:
            return [f"{d.name}: {MODEL_FILE} has {len(inputs)} inputs; the scorer has exactly one."]
        names = [o.name for o in sess.get_outputs()]
        unknown = sorted(set(arrays) - set(names))
        if unknown:
            return [f"{d.name}: {GOLDEN_FILE} holds {unknown[0]!r}, which {MODEL_FILE} does not output."]
        got = dict(zip(names, sess.run(None, {inputs[0].name: x})))
    except Exception as e:  # onnxruntime raises its own exception types for bad graphs and inputs
        return [f"{d.name}: {MODEL_FILE} does not run on the golden inputs ({type(e).__name__}: {str(e)[:200]})."]
    problems = []
    for name, want in sorted(arrays.items()):
        have = np.asarray(got[name], dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        if have.shape != want.shape:
            problems.append(f"{d.name}: output {name!r} has shape {have.shape}, the golden samples {want.shape}.")
            continue
        if not (np.isfinite(have).all() and np.isfinite(want).all()):
            problems.append(f"{d.name}: output {name!r} or its golden value contains NaN or inf.")
            continue
        worst = float(np.max(np.abs(have - want))) if have.size else 0.0
        if worst > atol:
            problems.append(f"{d.name}: output {name!r} misses its golden samples by {worst:.4g} (tolerance {atol}).")
    return problems


def verify_bundle_models(slot_dir: str | Path) -> list[str]:
    """Run every scorer's golden samples in an unpacked bundle; returns the problems (empty: all pass).

    ``slot_dir`` is the bundle root (it holds ``models/<action>/``). A bundle with no scorer is a
    problem, as is any action folder that fails ``check_scorer``.
    """
    root = Path(slot_dir) / MODELS_DIR
    if not root.is_dir():
        return [f"{slot_dir} holds no {MODELS_DIR}/ folder, so there is no scorer to check."]
    actions = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not actions:
        return [f"{root} holds no scorer."]
    problems: list[str] = []
    for action_dir in actions:
        problems.extend(check_scorer(action_dir))
    return problems
