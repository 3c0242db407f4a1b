"""Text embedders for the SportsRAG store: all-MiniLM-L6-v2 on ONNX Runtime, or a lexical fallback.

``MiniLMEmbedder`` runs the sentence-transformers model ``all-MiniLM-L6-v2`` exported once to ONNX
(``export/embedding_export.py``, ``make embedding``) with ``tokenizers`` and ``onnxruntime`` only — no
PyTorch, no model hub, nothing downloaded. It reproduces sentence-transformers exactly:

1. BERT WordPiece tokenization (lower-cased), ``[CLS] ... [SEP]``, truncated to 256 word pieces
   (the model's ``max_seq_length``), padded to the longest text of the batch;
2. the transformer's last hidden state ``(N, L, 384)``;
3. mean pooling over the real tokens: ``sum_l h[n, l] * mask[n, l] / max(sum_l mask[n, l], 1e-9)``;
4. L2 normalisation: ``e / max(||e||, 1e-12)``.

So every embedding is a unit vector of 384 float32 and cosine similarity is a dot product.

``LexicalEmbedder`` is the fallback used only when the ONNX file is missing (the appliance was
installed without ``make embedding``): signed feature hashing of words, word bigrams and character
4-grams with sub-linear term frequency, L2-normalised. It needs nothing but numpy, is deterministic
across processes (it hashes with BLAKE2b, not Python's salted ``hash``) and is much weaker than
MiniLM at paraphrase; choosing it is logged as a warning and recorded as the embedder's ``name``.

An embedder that is present but unusable (corrupt ONNX, onnxruntime missing) raises
:class:`EmbeddingError`; it is never replaced silently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from edge.checksum import file_sha256

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL_DIR = REPO / "models" / "embedding"
MANIFEST = "manifest.json"
MAX_SEQ_LENGTH = 256  # all-MiniLM-L6-v2 sentence_bert_config.json
DIM_MINILM = 384


class EmbeddingError(RuntimeError):
    """The embedding model cannot be used; the message is one sentence."""


class Embedder(Protocol):
    """Maps texts to unit vectors. ``name`` says which model (recorded in the index and results)."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) float32, each row L2-normalised (a zero row only for text with no features)."""
        ...


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows divided by their L2 norm, clamped at ``eps`` (torch.nn.functional.normalize semantics)."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, eps)


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of ``hidden`` (N, L, D) over positions where ``mask`` (N, L) is 1 -> (N, D).

    The denominator is clamped at 1e-9, as sentence-transformers' Pooling does.
    """
    m = mask.astype(hidden.dtype)[:, :, None]
    return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts, not one string.")
    out = list(texts)
    for t in out:
        if not isinstance(t, str):
            raise TypeError(f"embed() takes strings, got {type(t).__name__}.")
    return out



# MiniLM on ONNX Runtime --------------------------------------------------------------------------
class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from ``model_dir`` (``manifest.json`` names the ONNX file and tokenizer).

    ``threads``: ONNX Runtime intra-op threads (0: its default). ``batch_size``: texts per run.
    The default 1 keeps a text's embedding independent of the other texts: with dynamically
    quantized (int8) weights, the activation scale is computed over the whole padded batch, so
    batching changed embeddings by up to 0.03 per component. Short queries lose nothing by it.
    """

    def __init__(self, model_dir: str | os.PathLike = DEFAULT_MODEL_DIR, threads: int = 0, batch_size: int = 1):
        self.model_dir = Path(model_dir)
        manifest_path = self.model_dir / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            onnx_path = self.model_dir / manifest["onnx"]
            tok_path = self.model_dir / manifest["tokenizer"]
            self.dim = int(manifest["dim"])
            max_len = int(manifest.get("max_seq_length", MAX_SEQ_LENGTH))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise EmbeddingError(f"the embedding manifest {manifest_path} is unreadable ({e.__class__.__name__}: {e}).") from None
        for p in (onnx_path, tok_path):
            if not p.is_file():
                raise EmbeddingError(f"the embedding model file {p} named by {manifest_path} is missing.")
        digest = file_sha256(onnx_path)
        if manifest.get("onnx_sha256") not in (None, digest):
            raise EmbeddingError(f"{onnx_path} does not match the sha256 in {manifest_path}; re-run `make embedding`.")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as e:
            raise EmbeddingError(f"the MiniLM embedder needs onnxruntime and tokenizers ({e}).") from None
        try:
            tok = Tokenizer.from_file(str(tok_path))
        except Exception as e:  # tokenizers raises a bare Exception on bad JSON
            raise EmbeddingError(f"the tokenizer {tok_path} cannot be loaded ({e}).") from None
        pad_id = tok.token_to_id("[PAD]")
        if pad_id is None:
            raise EmbeddingError(f"the tokenizer {tok_path} has no [PAD] token; it is not a BERT tokenizer.")
        tok.enable_truncation(max_length=max_len)
        tok.enable_padding(pad_id=pad_id, pad_token="[PAD]")  # pad to the longest text of the batch
        self._tok = tok
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._sess = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
            raise EmbeddingError(f"ONNX Runtime cannot load {onnx_path} ({e.__class__.__name__}).") from None
        self._inputs = {i.name for i in self._sess.get_inputs()}
        needed = {"input_ids", "attention_mask"}
        if not needed <= self._inputs:
            raise EmbeddingError(f"{onnx_path} lacks the inputs {sorted(needed - self._inputs)}.")
        self.batch_size = int(batch_size)
        self.onnx_path = onnx_path
        self.sha256 = digest
        self.name = f"{manifest.get('name', 'all-MiniLM-L6-v2')}:{manifest.get('precision', 'fp32')}:{digest[:12]}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self._tok.encode_batch(texts[i : i + self.batch_size])
            ids = np.asarray([e.ids for e in enc], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feed["token_type_ids"] = np.asarray([e.type_ids for e in enc], dtype=np.int64)
            hidden = self._sess.run(None, feed)[0]  # (n, L, 384) last_hidden_state
            out.append(l2_normalize(mean_pool(hidden.astype(np.float32), mask)))
        return np.concatenate(out).astype(np.float32)


# Lexical fallback --------------------------------------------------------------------------------
_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOP = frozenset(
    "a an the and or of to in on at for with by from is are was were be been it its this that as "
    "your you their they them he she his her we our us do does not no so than then there".split()
)


@lru_cache(maxsize=1 << 16)
def _feature_hash(feature: str) -> int:
    """64-bit BLAKE2b of a feature string (stable across processes and platforms)."""
    return int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")


def _stem(w: str) -> str:
    """A light suffix stripper so 'landing'/'lands'/'landed' share a feature (not a real stemmer)."""
    for suf in ("ing", "ed", "es", "s"):
        if len(w) > len(suf) + 2 and w.endswith(suf):
            return w[: -len(suf)]
    return w


class LexicalEmbedder:
    """Signed feature hashing of words, word bigrams and character 4-grams into ``dim`` buckets.

    Weights: 1 + log(tf) per feature, scaled by feature family (word 1.0, bigram 0.7, char 0.3);
    rows L2-normalised. Deterministic (BLAKE2b), no vocabulary or corpus statistics needed.
    """

    def __init__(self, dim: int = 4096):
        if dim < 64:
            raise ValueError(f"the lexical embedder needs dim >= 64, got {dim}.")
        self.dim = int(dim)
        self.name = f"lexical-hash-v1:{self.dim}"

    def _bucket(self, feature: str) -> tuple[int, float]:
        h = _feature_hash(feature)
        return h % self.dim, (1.0 if (h >> 63) & 1 else -1.0)

    def _features(self, text: str) -> dict[str, float]:
        words = [_stem(w) for w in _WORD_RE.findall(text.lower())]
        content = [w for w in words if w not in _STOP]
        feats: dict[str, float] = {}
        for w in content:
            feats["w:" + w] = feats.get("w:" + w, 0.0) + 1.0
        for a, b in zip(content, content[1:]):
            k = f"b:{a} {b}"
            feats[k] = feats.get(k, 0.0) + 1.0
        for w in content:
            padded = f"#{w}#"
            for i in range(len(padded) - 3):
                k = "c:" + padded[i : i + 4]
                feats[k] = feats.get(k, 0.0) + 1.0
        return feats

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = _check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        scale = {"w": 1.0, "b": 0.7, "c": 0.3}
        for n, text in enumerate(texts):
            for feat, tf in self._features(text).items():
                j, sign = self._bucket(feat)
                out[n, j] += sign * scale[feat[0]] * (1.0 + np.log(tf))
        return l2_normalize(out).astype(np.float32)


def load_embedder(model_dir: str | os.PathLike | None = None, threads: int = 0) -> Embedder:
    """MiniLM from ``model_dir`` (default ``models/embedding``); the lexical fallback only if its
    manifest or ONNX file is missing, announced with a warning. Anything else wrong raises."""
    d = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
    manifest = d / MANIFEST
    onnx_missing = not manifest.is_file()
    if not onnx_missing:
        try:
            onnx_missing = not (d / json.loads(manifest.read_text(encoding="utf-8"))["onnx"]).is_file()
        except (ValueError, KeyError, TypeError, OSError) as e:
            raise EmbeddingError(f"the embedding manifest {manifest} is unreadable ({e.__class__.__name__}).") from None
    if onnx_missing:
        emb = LexicalEmbedder()
        log.warning(
            "EMBEDDING MODEL MISSING: no ONNX MiniLM model in %s; using the LEXICAL FALLBACK embedder (%s), "
            "which retrieves worse. Run `make embedding` on a machine with the export extras, then `make kb`.",
            d,
            emb.name,
        )
        return emb
    return MiniLMEmbedder(d, threads=threads)
