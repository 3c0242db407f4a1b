"""SportsRAG guidance for one report: retrieve, then the language model or the deterministic composer.

``Guide.guidance(report)`` returns the report's ``guidance`` field::

    {"text": ..., "sources": [entry ids], "engine": "llama.cpp:<file>" | "composer",
     "fallback_reason": None | why the model's answer was not used,
     "corpus_version": ..., "embedder": ..., "notes": [...], "timings_ms": {...}}

Order: when a GGUF model is configured, it is loaded once (lazily) and asked first; its answer is
used only if it passes :func:`edge.guide.llm.check_draft`. Otherwise — no model configured, the
file missing or unloadable, a time-out, a cut-off or rejected answer — the composer writes the
guidance from the same retrieved entries, and ``fallback_reason`` says why (also logged).

:class:`GuideConfig` is the ``guide`` section of the configuration (to be added to
``edge/config.py`` as ``guide: GuideConfig``).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.guide.composer import compose, render_text, sources_of
from edge.guide.embed import DEFAULT_MODEL_DIR, load_embedder
from edge.guide.llm import LlamaEngine, LLMError
from edge.guide.retrieve import ReportError, Retriever, check_report
from edge.guide.store import DEFAULT_INDEX_DIR, KnowledgeStore, open_store

log = logging.getLogger(__name__)

ENGINE_COMPOSER = "composer"


class GuideConfig(BaseModel):
    """Settings of SportsRAG guidance (retrieval, the optional local model, time limits)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    index_dir: Path = Field(DEFAULT_INDEX_DIR, description="knowledge-base index folder (built by `make kb`)")
    embedding_dir: Path = Field(DEFAULT_MODEL_DIR, description="ONNX MiniLM embedding model folder (`make embedding`)")
    model_path: Path | None = Field(None, description="GGUF instruct model for wording; None: composer only")
    chat_format: str = Field("chatml", min_length=2, description="llama-cpp-python chat template of the model")
    n_ctx: int = Field(4096, ge=512, le=32768, description="model context window, tokens (prompt + answer)")
    n_threads: int | None = Field(None, ge=1, le=64, description="llama.cpp CPU threads (None: its default)")
    max_tokens: int = Field(768, ge=64, le=4096, description="longest model answer, tokens")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="sampling temperature (0: greedy, repeatable)")
    seed: int = Field(7, ge=0, description="sampling seed")
    timeout_s: float = Field(20.0, gt=0.0, le=600.0, description="wall-clock limit for one model answer, seconds")
    top_k: int = Field(8, ge=1, le=50, description="entries retrieved per problem")
    candidates: int = Field(24, ge=1, le=200, description="nearest entries fetched per query before re-ranking")
    lex_weight: float = Field(0.5, ge=0.0, le=5.0, description="weight of the lexical label match in re-ranking")
    search: Literal["chroma", "exact"] = Field("chroma", description="nearest neighbours from Chroma's HNSW or an exact scan")
    query_cache: int = Field(1024, ge=0, le=100000, description="query embeddings kept in an LRU cache")
    embed_threads: int = Field(1, ge=0, le=64, description="ONNX Runtime threads for query embedding (0: all cores)")
    warn_stale_index: bool = Field(True, description="warn when the index was built from another corpus version")


class Guide:
    """Open store + retriever + (lazily) the model. Use as a context manager or call close()."""

    def __init__(self, config: GuideConfig | None = None, store: KnowledgeStore | None = None,
                 engine: LlamaEngine | None = None):
        self.config = config or GuideConfig()
        if store is None:  # StoreError / EmbeddingError propagate: the caller reports them
            store = open_store(self.config.index_dir, load_embedder(self.config.embedding_dir, self.config.embed_threads),
                               self.config.search)
        self.store = store
        c = self.config
        self.retriever = Retriever(store, top_k=c.top_k, candidates=max(c.candidates, c.top_k), lex_weight=c.lex_weight,
                                   cache_size=c.query_cache)
        self.retriever.warm_up()
        self._engine = engine
        self._engine_error: str | None = None
        if self.config.warn_stale_index:
            self._check_stale()

    def _check_stale(self) -> None:
        from edge.guide.kb_schema import CorpusError, load_corpus, corpus_version

        try:
            current = corpus_version(load_corpus())
        except CorpusError as e:
            log.warning("the knowledge base cannot be loaded to check the index (%s)", e)
            return
        if current != self.store.info.corpus_version:
            log.warning("the knowledge-base index is stale (built from corpus %s, the corpus is now %s); run `make kb`.",
                        self.store.info.corpus_version[:12], current[:12])

    @property
    def engine(self) -> LlamaEngine | None:
        """The model engine, loaded on first use; None (with ``engine_error``) when unavailable."""
        if self._engine is None and self._engine_error is None:
            c = self.config
            if c.model_path is None:
                self._engine_error = "no language model is configured"
            else:
                try:
                    self._engine = LlamaEngine(c.model_path, c.chat_format, c.n_ctx, c.n_threads, c.max_tokens,
                                               c.temperature, c.seed)
                except LLMError as e:
                    self._engine_error = str(e).rstrip(".")
                    log.warning("language model disabled: %s; guidance comes from the composer.", e)
        return self._engine

    @property
    def engine_error(self) -> str | None:
        return self._engine_error

    def guidance(self, report: dict, on_token: Callable[[str], None] | None = None, use_llm: bool = True) -> dict:
        """The ``guidance`` field for ``report`` (ReportError when it has no diagnosis)."""
        check_report(report)
        t0 = time.perf_counter()
        retrieval = self.retriever.retrieve(report)
        timings = {"retrieval": retrieval.ms}
        engine_name, reason, draft = ENGINE_COMPOSER, None, None
        engine = self.engine if use_llm else None
        if engine is None:
            reason = self._engine_error if use_llm else "the language model was not asked"
        elif not retrieval.contexts:
            reason = "no problem to word: the composer lists the strengths"
        else:
            gen = engine.generate(report, retrieval, self.config.timeout_s, on_token)
            timings["llm"] = gen.ms
            if gen.ok:
                draft, engine_name = gen.draft, engine.name
            else:
                reason = gen.reason
                log.warning("language-model guidance not used: %s; the composer writes it.", reason)
        notes: tuple[str, ...] = ()
        if draft is None:
            t1 = time.perf_counter()
            draft = compose(report, retrieval)
            timings["compose"] = (time.perf_counter() - t1) * 1e3
            notes = draft.notes
        text = render_text(draft, retrieval)
        timings["total"] = (time.perf_counter() - t0) * 1e3
        return {
            "text": text,
            "sources": sources_of(draft, retrieval),
            "engine": engine_name,
            "fallback_reason": reason,
            "corpus_version": self.store.info.corpus_version,
            "embedder": self.store.info.embedder,
            "structured": draft.to_json(),
            "notes": list(notes),
            "timings_ms": timings,
        }

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
        self.store.close()

    def __enter__(self) -> "Guide":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def add_guidance(report: dict, guide: Guide, on_token: Callable[[str], None] | None = None) -> dict:
    """Fill ``report['guidance']`` (and ``timings_ms['guidance']``) in place; returns the report."""
    g = guide.guidance(report, on_token=on_token)
    report["guidance"] = g
    timings = report.get("timings_ms")
    if isinstance(timings, dict):
        timings["guidance"] = g["timings_ms"]["total"]
    pending = report.get("not_computed")
    if isinstance(pending, list):
        report["not_computed"] = [p for p in pending if not str(p).startswith("guidance")]
    return report


def read_report(path: str | Path) -> dict:
    """A report JSON file (``fieldcoach analyze --json`` output); ReportError when it is unusable."""
    p = Path(path)
    try:
        report = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"the report file {p} does not exist.") from None
    except (ValueError, UnicodeDecodeError):
        raise ReportError(f"the report file {p} is not valid JSON.") from None
    check_report(report)
    return report


def guide_file(path: str | Path, config: GuideConfig | None = None,
               on_token: Callable[[str], None] | None = None) -> dict:
    """``fieldcoach guide REPORT.json``: the report with its ``guidance`` filled in."""
    report = read_report(path)
    with Guide(config) as g:
        return add_guidance(report, g, on_token)


def guide_status(config: GuideConfig | None = None) -> dict:
    """What ``fieldcoach doctor`` reports about guidance: libraries, embedder, index, model file."""
    from importlib import metadata

    from edge.guide.embed import EmbeddingError
    from edge.guide.llm import LLMError, check_gguf
    from edge.guide.store import StoreError, current_build

    c = config or GuideConfig()
    out: dict = {"libraries": {}}
    for dist in ("chromadb", "tokenizers", "onnxruntime", "llama-cpp-python"):
        try:
            out["libraries"][dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out["libraries"][dist] = None
    try:
        out["embedder"] = load_embedder(c.embedding_dir).name
    except EmbeddingError as e:
        out["embedder"] = f"error: {e}"
    try:
        info = current_build(c.index_dir)
        out["index"] = info.to_dict() if info else None
    except StoreError as e:
        out["index"] = f"error: {e}"
    if c.model_path is None:
        out["model"] = None
    else:
        try:
            check_gguf(Path(c.model_path))
            out["model"] = str(c.model_path)
        except LLMError as e:
            out["model"] = f"error: {e}"
    return out
