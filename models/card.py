"""Model cards and shipping: trained run -> ``models/shipped/<action>/`` (ONNX, golden samples, card).

``build_card(...)`` assembles the card (keys in ``edge.score.bundle.CARD_KEYS``): data seed and
sizes, epochs (over all training stages, each in ``training.stages``) and the last stage's best
epoch, metrics on the held-out test split (with the per-condition breakdown), the full
``ScorerConfig``, the ``InputSpec``, parameters and FLOPs at 90 frames next to the paper's
3.72 M / 1.87 G, and the sha256 of ``scorer.onnx``. ``ship(run_dir, bundle_dir)``
exports the run's weights (``export.onnx_export.export_onnx``), checks ONNX Runtime against PyTorch
on the golden samples (largest |difference| recorded), writes ``golden.npz`` (the first 8
test-split samples' prepared inputs and their ONNX scores) and the card. ``ship_baseline`` adds
the fixed-adjacency GCN baseline's ONNX (``baseline_gcn.onnx``) to a bundle and to its card.
"""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from edge.score.bundle import CARD_FILE, GOLDEN_FILE, MODEL_FILE, write_card
from edge.score.preprocess import InputSpec

CARD_VERSION = "1"
GOLDEN_SAMPLES = 8


def complexity_summary(model, frames: int = 90) -> dict:
    """Parameters and FLOPs (2 x MAC) of ``model`` at ``frames`` frames beside the paper's totals."""
    from models.complexity import PAPER_FLOPS, PAPER_PARAMS, flop_counts, parameter_counts

    return {
        "params": int(parameter_counts(model)["total"]),
        "flops_90_frames": int(flop_counts(model, frames)["total"]),
        "paper_params": PAPER_PARAMS,
        "paper_flops_90_frames": PAPER_FLOPS,
        "width_multiplier": model.config.width_multiplier,
    }


def build_card(action: str, sha256: str, config, spec: InputSpec, meta: dict, complexity: dict, version: str) -> dict:
    """The model card dict (see the module docstring)."""
    settings = meta.get("settings", {})
    stages = training_stages(meta)
    return {
        "action": action,
        "name": f"fieldcoach-agcn-{action}",
        "version": version,
        "card_version": CARD_VERSION,
        "sha256": sha256,
        "input": spec.model_dump(),
        "data": dict(meta["data"], generator="edge.sim (simulated athlete)", seed_scheme="models.data docstring"),
        "training": {
            "epochs": sum(st["epochs"] for st in stages),
            "best_epoch": meta.get("best_epoch"),
            "stages": stages,
            "batch_size": settings.get("batch_size"),
            "lr": settings.get("lr"),
            "mining": settings.get("mining"),
            "curriculum": settings.get("curriculum"),
            "augment_p": settings.get("augment_p"),
            "seconds": round(sum(st["seconds"] or 0.0 for st in stages), 1),
            "machine": f"{platform.machine()} CPU, torch threads {settings.get('threads')}",
            "command": meta.get("command", ""),
        },
        "metrics": card_test_metrics(meta),
        "config": config.model_dump(mode="json"),
        "complexity": complexity,
    }


def training_stages(meta: dict) -> list[dict]:
    """The training stages behind a run's weights, first to last: a fresh run is one stage, a run
    continued with ``--init`` adds one per continuation (epochs, peak learning rate, curriculum, the
    training set's samples, the best epoch of the stage, its seconds and its command)."""
    earlier = training_stages(meta["init"]) if meta.get("init") else []
    st = meta.get("settings", {})
    return earlier + [{"epochs": st.get("epochs"), "lr": st.get("lr"), "curriculum": st.get("curriculum"),
                       "samples": meta.get("data", {}).get("samples") or _command_samples(meta.get("command", "")),
                       "best_epoch": meta.get("best_epoch"), "seconds": meta.get("seconds"), "command": meta.get("command", "")}]


def _command_samples(command: str) -> int | None:
    """The ``--n`` of a training command (stages saved before runs recorded their data in the stage)."""
    words = command.split()
    after = words[words.index("--n") + 1 :] if "--n" in words else []
    return int(after[0]) if after and after[0].isdigit() else None


def card_test_metrics(meta: dict) -> dict:
    """A run's test-split metrics for its card: ``test_split`` and, trained on two views, ``test_split_cut``."""
    out = {"test_split": meta["test_metrics"]}
    if meta.get("test_metrics_cut"):
        out["test_split_cut"] = meta["test_metrics_cut"]
    return out


def weights_fingerprint(model) -> str:
    """Short sha256 of a model's parameters and buffers (name, shape, dtype, bytes, in name order)."""
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        a = t.detach().cpu().contiguous().numpy()
        h.update(f"{name}:{a.shape}:{a.dtype};".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:8]


def model_version(model) -> str:
    """The default version of a shipped scorer: ``<card version>.<weights fingerprint>``."""
    return f"{CARD_VERSION}.{weights_fingerprint(model)}"


def ship(run_dir: Path, bundle_dir: Path, version: str | None = None, cache_dir: Path | None = Path("out/cache/scorer")) -> dict:
    """Export a saved run to ``bundle_dir`` (scorer.onnx, golden.npz, card.json); returns the card.

    The default version is ``<card version>.<weights fingerprint>``: a retrained model of the same
    configuration gets a new version (it used to be the configuration's hash, which did not change).
    """
    import onnxruntime as ort

    from export.onnx_export import INPUT_NAME, export_onnx
    from models.data import card_split, card_views, load_training_set
    from models.train import load_run, predict

    model, config, meta = load_run(Path(run_dir))
    spec = InputSpec.model_validate(meta["input"])
    d = meta["data"]
    data = load_training_set(meta["action"], d["seed"], d["samples"], spec, cache_dir, views=card_views(d))
    _, _, te = card_split(d, len(data))
    gx = data.x[te[:GOLDEN_SAMPLES]]
    bundle_dir = Path(bundle_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    version = version or model_version(model)
    res = export_onnx(model, bundle_dir / MODEL_FILE, config=config, example_frames=spec.frames, version=version)
    sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    onnx_scores = sess.run(["score"], {INPUT_NAME: gx})[0]
    torch_scores = predict(model, gx)
    parity = float(np.max(np.abs(onnx_scores - torch_scores)))
    if parity > 1e-2:
        raise RuntimeError(f"ONNX Runtime differs from PyTorch by {parity:.3g} points on the golden samples.")
    tmp = bundle_dir / (GOLDEN_FILE + ".tmp.npz")
    np.savez(tmp, x=gx.astype(np.float32), score=onnx_scores.astype(np.float32))
    tmp.replace(bundle_dir / GOLDEN_FILE)
    card = build_card(meta["action"], res.sha256, config, spec, meta, complexity_summary(model), version)
    card["export"] = {"opset": 13, "onnx_vs_torch_max_abs_points": parity, "outputs": list(res.output_names)}
    write_card(bundle_dir / CARD_FILE, card)
    return card


def ship_baseline(run_dir: Path, bundle_dir: Path) -> dict:
    """Export a ``--variant baseline`` run as ``baseline_gcn.onnx`` into a shipped bundle and record it in the card."""
    from edge.score.bundle import read_card
    from export.onnx_export import export_onnx
    from models.train import load_run

    model, config, meta = load_run(Path(run_dir))
    bundle_dir = Path(bundle_dir)
    card = read_card(bundle_dir / CARD_FILE)
    if meta["action"] != card["action"]:
        raise ValueError(f"the baseline run is for {meta['action']}, the bundle for {card['action']}.")
    spec = InputSpec.model_validate(meta["input"])
    res = export_onnx(model, bundle_dir / "baseline_gcn.onnx", config=config, example_frames=spec.frames, version="baseline")
    card["baselines"] = {
        "gcn_fixed": {
            "file": "baseline_gcn.onnx",
            "sha256": res.sha256,
            "config_name": config.name,
            "epochs": meta["settings"]["epochs"],
            "best_epoch": meta.get("best_epoch"),
        }
        | card_test_metrics(meta),
    }
    write_card(bundle_dir / CARD_FILE, card)
    return card


def keep_run(run_dir: Path, bundle_dir: Path, runs_dir: Path = Path("models/runs")) -> Path:
    """Copy the run a bundle was exported from to ``runs_dir/<action>/`` (models/runs/README.md), so
    that a later stage can continue it on a fresh clone; refuses a run whose weights are not the
    bundle's (fingerprint against the card's version). Returns the directory written."""
    import shutil

    from edge.score.bundle import read_card
    from models.train import RUN_FILES, load_run, missing_run_files

    missing = missing_run_files(run_dir)
    if missing:
        raise ValueError(f"{run_dir} is not a saved training run (it lacks {', '.join(missing)}).")
    model, _, meta = load_run(Path(run_dir))
    card = read_card(Path(bundle_dir) / CARD_FILE)
    have = model_version(model)
    if meta["action"] != card["action"] or have != card["version"]:
        raise ValueError(f"the run {run_dir} ({meta['action']} {have}) is not the one {bundle_dir} ships "
                         f"({card['action']} {card['version']}).")
    out = Path(runs_dir) / card["action"]
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in RUN_FILES:
        shutil.copy2(Path(run_dir) / f, tmp / f)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m models.card", description="Ship a trained run into a model bundle.")
    p.add_argument("what", choices=("ship", "baseline", "keep"),
                   help="ship: the scorer itself; baseline: add the fixed-GCN baseline; keep: copy the shipped run to "
                        "models/runs/<action> (checked against the bundle)")
    p.add_argument("run_dir", type=Path, help="a models.train run directory")
    p.add_argument("bundle_dir", type=Path, help="e.g. models/shipped/<action>")
    args = p.parse_args(argv)
    if args.what == "keep":
        try:
            print(f"keep: {args.run_dir} -> {keep_run(args.run_dir, args.bundle_dir)}")
        except ValueError as e:  # one sentence, no traceback
            raise SystemExit(str(e)) from None
        return 0
    card = ship(args.run_dir, args.bundle_dir) if args.what == "ship" else ship_baseline(args.run_dir, args.bundle_dir)
    print(f"{args.what}: {card['action']} {card['version']} -> {args.bundle_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
