"""The on-device SportsRAG index: a Chroma PersistentClient collection of the knowledge base.

Layout of an index folder (default ``artifacts/kb``)::

    current.json            pointer to the build in use, replaced atomically (temp, fsync, rename)
    builds/<key>-<n>/       one complete build: Chroma files + manifest.json (written last)
    .lock                   flock held while building, so two builds never interleave

A build goes into a new folder; only when it is complete (every file fsynced, ``manifest.json``
written) does ``current.json`` switch to it. A build killed half-way leaves a folder without a
manifest that nothing points to; the next build deletes it. Readers only ever open what
``current.json`` names, so a half-built index is never used.

``key`` is derived from the corpus fingerprint (``kb_schema.corpus_version``), the embedder's name
(model, precision and file hash) and this module's document format, so the rebuild is idempotent:
``build_index`` on an unchanged corpus with the same embedder changes nothing, and a forced rebuild
stores the same ids, documents, metadata and embeddings (``content_sha256`` in the manifest).

Each entry is stored with its id (the corpus id), its full document (``entry_document``: what
guidance may quote), flat metadata (``entry_metadata``) and the embedding of a short anchor text
(``entry_key``: action, title and the few lines a query names), not of the whole document.

Chroma is opened with telemetry off and with our own registered embedding function; it never
falls back to its default embedding model (which would download one). On open, documents,
metadata and embeddings are read into memory (a few hundred entries): lookups by id cost no
query, and ``search="exact"`` scans the embeddings instead of asking HNSW.

Run ``python -m edge.guide.store build [--force]`` (``make kb``) to build or refresh the index.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from edge.guide.embed import Embedder, EmbeddingError, LexicalEmbedder, load_embedder
from edge.guide.kb_schema import DrillEntry, Entry, GeneralEntry, ProblemEntry, corpus_version, load_corpus
from edge.skeleton.io import atomic_write_bytes

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_INDEX_DIR = REPO / "artifacts" / "kb"
COLLECTION = "sportsrag"
POINTER = "current.json"
MANIFEST = "manifest.json"
BUILDS = "builds"
STORE_FORMAT = 3  # bump when documents, anchors or metadata change shape: forces a rebuild
ADD_BATCH = 64

# Chroma reads CHROMA_* / ANONYMIZED_TELEMETRY from the environment and a .env file; the explicit
# Settings below take precedence, and these make any other chromadb import in the process agree.
os.environ["ANONYMIZED_TELEMETRY"] = "False"


class StoreError(RuntimeError):
    """The index is missing, incomplete or does not match the embedder; one sentence."""


# Embedding function registered with Chroma ------------------------------------------------------
def _chroma():
    try:
        import chromadb
        from chromadb.config import Settings
    except ImportError as e:
        raise StoreError(f"the knowledge-base index needs chromadb ({e}).") from None
    return chromadb, Settings


def _ef_class():
    """Our EmbeddingFunction subclass, defined and registered with Chroma on first use."""
    global _EF
    if _EF is not None:
        return _EF
    from chromadb.api.types import Documents, EmbeddingFunction
    from chromadb.utils.embedding_functions import register_embedding_function

    class FieldCoachEmbeddingFunction(EmbeddingFunction[Documents]):
        """Chroma's view of our :class:`~edge.guide.embed.Embedder` (cosine space, unit vectors).

        Built from a persisted config (``build_from_config``) it only remembers the embedder's name
        and loads the default embedder when first called, refusing one with another name.
        """

        def __init__(self, embedder: Embedder | None = None, expected_name: str | None = None):
            self._embedder = embedder
            self._expected = expected_name or (embedder.name if embedder is not None else None)

        @property
        def embedder(self) -> Embedder:
            if self._embedder is None:
                emb = load_embedder()
                if self._expected is not None and emb.name != self._expected:
                    raise StoreError(
                        f"the index was built with the embedder {self._expected} but {emb.name} is installed; run `make kb`."
                    )
                self._embedder = emb
            return self._embedder

        def __call__(self, input: Documents):  # noqa: A002 - Chroma's protocol names it `input`
            return list(self.embedder.embed(list(input)))

        @staticmethod
        def name() -> str:
            return "fieldcoach_embedder"

        def get_config(self) -> dict[str, Any]:
            return {"embedder": self._expected}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> "FieldCoachEmbeddingFunction":
            return FieldCoachEmbeddingFunction(expected_name=config.get("embedder"))

        def default_space(self) -> str:
            return "cosine"

        def supported_spaces(self) -> list[str]:
            return ["cosine"]

    _EF = register_embedding_function(FieldCoachEmbeddingFunction)
    return _EF


_EF = None


def chroma_client(path: Path):
    """A PersistentClient on ``path`` with telemetry off and no reset."""
    chromadb, Settings = _chroma()
    settings = Settings(anonymized_telemetry=False, allow_reset=False, chroma_otel_collection_endpoint="")
    return chromadb.PersistentClient(path=str(path), settings=settings)


# Documents and metadata ---------------------------------------------------------------------------
def action_title(action: str) -> str:
    """An action's display name from its spec ('General' for general entries; the id in words
    when there is no spec)."""
    if action == "general":
        return "General"
    from edge.actions.spec import ActionSpecError, load_action

    try:
        return load_action(action).name
    except ActionSpecError:
        return action.replace("_", " ").capitalize()


def entry_document(entry: Entry, problem_titles: dict[str, str]) -> str:
    """The text stored and returned for one entry (what guidance may quote): its rendering; a
    drill also names the problems it fixes (their titles)."""
    doc = entry.render()
    if isinstance(entry, DrillEntry) and entry.addresses:
        fixes = "; ".join(problem_titles.get(p, p) for p in entry.addresses)
        doc += f"\nFixes: {fixes}"
    return doc


def entry_key(entry: Entry, problem_titles: dict[str, str]) -> str:
    """The short text that is embedded for one entry (its retrieval anchor).

    A whole entry is 200-400 word pieces; mean-pooled, every problem of an action looks alike and
    a query's few words are diluted. The anchor keeps what a query names: the action, the title,
    and for a problem its cue and what the teacher sees, for a drill its purpose and the problems
    it fixes, for general guidance its topic and first key points.
    """
    head = f"{action_title(entry.action)}: {entry.title}."
    if isinstance(entry, ProblemEntry):
        return f"{head} {entry.cue}. {entry.look_for}"
    if isinstance(entry, DrillEntry):
        fixes = "; ".join(problem_titles.get(p, p) for p in entry.addresses)
        return f"{head} Drill. {entry.purpose}" + (f" Fixes: {fixes}." if fixes else "")
    if isinstance(entry, GeneralEntry):
        return f"{head} {entry.topic.replace('_', ' ')}. " + " ".join(entry.key_points[:2])
    return f"{head} {entry.text}"


def entry_label(entry: Entry, problem_titles: dict[str, str]) -> str:
    """What an entry is about, in the words of a problem label: a problem's title, the titles of
    the problems a drill fixes (its own title when none), a general entry's title."""
    if isinstance(entry, DrillEntry) and entry.addresses:
        return "; ".join(problem_titles.get(p, p) for p in entry.addresses)
    return entry.title


def entry_metadata(entry: Entry, key: str = "", label: str = "") -> dict[str, Any]:
    """Flat Chroma metadata: what retrieval filters on, what the composer needs verbatim, the
    anchor text that was embedded (``key``) and the label lexical re-ranking compares with."""
    md: dict[str, Any] = {
        "key": key,
        "label": label,
        "kind": entry.kind,
        "action": entry.action,
        "title": entry.title,
        "source": entry.source,
        "tags": list(entry.tags),
    }
    if isinstance(entry, ProblemEntry):
        md.update(problem=entry.problem, phase=entry.phase, dimension=entry.dimension, cue=entry.cue,
                  drills=list(entry.drills))
    elif isinstance(entry, DrillEntry):
        md.update(prescription=entry.prescription.text, purpose=entry.purpose)
        if entry.addresses:
            md["addresses"] = list(entry.addresses)
    elif isinstance(entry, GeneralEntry):
        md["topic"] = entry.topic
    return md


def content_digest(ids: Sequence[str], docs: Sequence[str], metas: Sequence[dict]) -> str:
    """sha256 of the ids, documents and metadata (canonical JSON, sorted by id)."""
    rows = sorted(zip(ids, docs, [json.dumps(m, sort_keys=True) for m in metas]))
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode("utf-8")).hexdigest()


# Index status --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexInfo:
    """What a complete build records in its ``manifest.json``."""

    path: Path
    build_key: str
    corpus_version: str
    embedder: str
    n_entries: int
    content_sha256: str
    embeddings_sha256: str
    store_format: int
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "build": self.path.name,
            "build_key": self.build_key,
            "corpus_version": self.corpus_version,
            "embedder": self.embedder,
            "n_entries": self.n_entries,
            "content_sha256": self.content_sha256,
            "embeddings_sha256": self.embeddings_sha256,
            "store_format": self.store_format,
            **self.extra,
        }


def _read_manifest(build: Path) -> IndexInfo:
    m = json.loads((build / MANIFEST).read_text(encoding="utf-8"))
    known = {"build", "build_key", "corpus_version", "embedder", "n_entries", "content_sha256", "embeddings_sha256",
             "store_format"}
    return IndexInfo(
        path=build,
        build_key=m["build_key"],
        corpus_version=m["corpus_version"],
        embedder=m["embedder"],
        n_entries=int(m["n_entries"]),
        content_sha256=m["content_sha256"],
        embeddings_sha256=m["embeddings_sha256"],
        store_format=int(m["store_format"]),
        extra={k: v for k, v in m.items() if k not in known},
    )


def current_build(index_dir: str | os.PathLike = DEFAULT_INDEX_DIR) -> IndexInfo | None:
    """The build ``current.json`` points to, or None when there is no complete index."""
    root = Path(index_dir)
    try:
        pointer = json.loads((root / POINTER).read_text(encoding="utf-8"))
        build = root / BUILDS / pointer["build"]
        info = _read_manifest(build)
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as e:
        raise StoreError(f"the index pointer or manifest in {root} is unreadable ({e.__class__.__name__}).") from None
    if info.build_key != pointer.get("build_key"):
        raise StoreError(f"the index pointer in {root} disagrees with the manifest of {build.name}.")
    return info


def build_key(corpus_ver: str, embedder_name: str) -> str:
    blob = json.dumps([corpus_ver, embedder_name, STORE_FORMAT]).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


# Building -----------------------------------------------------------------------------------------
@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _fsync_tree(path: Path) -> None:
    for dirpath, _, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        dfd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _new_build_dir(builds: Path, key: str) -> Path:
    builds.mkdir(parents=True, exist_ok=True)
    n = 0
    while True:
        d = builds / f"{key}-{n}"
        try:
            d.mkdir()
            return d
        except FileExistsError:
            n += 1


def _prune(builds: Path, keep: set[str]) -> list[str]:
    """Delete every build folder not in ``keep`` (incomplete ones included); returns their names."""
    removed = []
    if not builds.is_dir():
        return removed
    for d in sorted(builds.iterdir()):
        if d.is_dir() and d.name not in keep:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d.name)
    return removed


@dataclass(frozen=True)
class BuildResult:
    info: IndexInfo
    rebuilt: bool
    removed: tuple[str, ...]
    seconds: float


def build_index(
    index_dir: str | os.PathLike = DEFAULT_INDEX_DIR,
    entries: Sequence[Entry] | None = None,
    embedder: Embedder | None = None,
    force: bool = False,
) -> BuildResult:
    """Build the index of ``entries`` (default: the validated corpus) with ``embedder`` (default:
    ``load_embedder()``) into a fresh build folder and switch ``current.json`` to it.

    Idempotent: when the current build already has this corpus version and embedder (and
    ``force`` is False) nothing is written. Keeps the previous build (a reader may still have it
    open) and deletes older and incomplete ones.
    """
    t0 = time.perf_counter()
    root = Path(index_dir)
    entries = list(load_corpus() if entries is None else entries)
    if not entries:
        raise StoreError("the knowledge base has no entries to index.")
    embedder = embedder if embedder is not None else load_embedder()
    version = corpus_version(entries)
    key = build_key(version, embedder.name)
    with _locked(root):
        cur = current_build(root)
        if cur is not None and cur.build_key == key and not force:
            return BuildResult(cur, False, (), time.perf_counter() - t0)

        titles = {e.id: e.title for e in entries if isinstance(e, ProblemEntry)}
        ids = [e.id for e in entries]
        docs = [entry_document(e, titles) for e in entries]
        keys = [entry_key(e, titles) for e in entries]
        metas = [entry_metadata(e, k, entry_label(e, titles)) for e, k in zip(entries, keys)]
        build = _new_build_dir(root / BUILDS, key)
        client = chroma_client(build)
        try:
            col = client.create_collection(
                COLLECTION,
                embedding_function=_ef_class()(embedder),
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"corpus_version": version, "embedder": embedder.name},
            )
            emb_hash = hashlib.sha256()
            for i in range(0, len(ids), ADD_BATCH):
                sl = slice(i, i + ADD_BATCH)
                vecs = np.asarray(embedder.embed(keys[sl]), dtype=np.float32)
                if vecs.shape != (len(ids[sl]), embedder.dim) or not np.isfinite(vecs).all():
                    raise StoreError(f"the embedder {embedder.name} returned bad vectors of shape {vecs.shape}.")
                emb_hash.update(np.ascontiguousarray(vecs).tobytes())
                col.add(ids=ids[sl], documents=docs[sl], metadatas=metas[sl], embeddings=vecs)
            if col.count() != len(ids):
                raise StoreError(f"the index holds {col.count()} entries after adding {len(ids)}.")
        finally:
            client.close()
        _fsync_tree(build)
        info = IndexInfo(
            path=build,
            build_key=key,
            corpus_version=version,
            embedder=embedder.name,
            n_entries=len(ids),
            content_sha256=content_digest(ids, docs, metas),
            embeddings_sha256=emb_hash.hexdigest(),
            store_format=STORE_FORMAT,
            extra={"dim": int(embedder.dim), "collection": COLLECTION},
        )
        atomic_write_bytes(build / MANIFEST, json.dumps(info.to_dict(), indent=2, sort_keys=True).encode())
        atomic_write_bytes(root / POINTER, json.dumps({"build": build.name, "build_key": key}, indent=2).encode())
        keep = {build.name} | ({cur.path.name} if cur is not None else set())
        removed = _prune(root / BUILDS, keep)
    return BuildResult(info, True, tuple(removed), time.perf_counter() - t0)


# Reading ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    """One retrieved entry. ``score``: cosine similarity to the query (None when fetched by id)."""

    id: str
    document: str
    metadata: dict
    score: float | None = None

    @property
    def kind(self) -> str:
        return self.metadata["kind"]

    @property
    def action(self) -> str:
        return self.metadata["action"]

    @property
    def title(self) -> str:
        return self.metadata["title"]


def _scored(hit: Hit, score: float) -> Hit:
    return Hit(hit.id, hit.document, hit.metadata, score)


def _listify(md: dict) -> dict:
    return {k: (list(v) if isinstance(v, (list, tuple, np.ndarray)) else v) for k, v in (md or {}).items()}


SEARCH_MODES = ("chroma", "exact")


class KnowledgeStore:
    """Read access to the current build. Open with :func:`open_store`; close when done.

    ``search``: ``chroma`` asks Chroma's HNSW index (``where`` filter on the action);
    ``exact`` scores every entry of the allowed actions by a dot product with the stored
    embeddings (read from Chroma at open, (N, dim) float32) — same filter, exact and about a
    hundred times cheaper for a knowledge base of a few hundred entries on a Jetson-class CPU.
    """

    def __init__(self, info: IndexInfo, embedder: Embedder, search: str = "chroma"):
        if search not in SEARCH_MODES:
            raise ValueError(f"search must be one of {', '.join(SEARCH_MODES)}, got {search!r}.")
        self.info = info
        self.embedder = embedder
        self.search = search
        self._client = chroma_client(info.path)
        try:
            self._col = self._client.get_collection(COLLECTION, embedding_function=_ef_class()(embedder))
        except Exception as e:  # chromadb raises NotFoundError / ValueError variants
            self._client.close()
            raise StoreError(f"the index build {info.path} has no usable collection ({e.__class__.__name__}).") from None
        # documents and metadata are small; keep them in memory so lookups by id cost no query
        r = self._col.get(include=["documents", "metadatas", "embeddings"])
        self._entries = {i: Hit(i, d, _listify(m)) for i, d, m in zip(r["ids"], r["documents"], r["metadatas"])}
        if len(self._entries) != info.n_entries:
            self._client.close()
            raise StoreError(f"the index build {info.path} holds {len(self._entries)} entries, "
                             f"its manifest says {info.n_entries}.")
        self._ids = list(r["ids"])
        self._vecs = np.asarray(r["embeddings"], dtype=np.float32).reshape(len(self._ids), -1)
        self._actions = np.asarray([self._entries[i].metadata["action"] for i in self._ids])
        self._subsets: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._pos = {i: n for n, i in enumerate(self._ids)}
        # lexical vectors of the labels, for hybrid re-ranking (computed here: cheap, no model)
        self.lexical = LexicalEmbedder()
        self._lex = self.lexical.embed([self._entries[i].metadata.get("label", "") for i in self._ids])
        self._lex_cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def count(self) -> int:
        return self._col.count()

    def query(self, embeddings: np.ndarray, n_results: int, actions: Sequence[str]) -> list[list[Hit]]:
        """Nearest entries of ``actions`` (e.g. [action, 'general']) for each query row of
        ``embeddings`` (Q, dim); per query, best first."""
        q = np.asarray(embeddings, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.embedder.dim:
            raise ValueError(f"query embeddings must be (Q, {self.embedder.dim}), got {q.shape}.")
        if len(q) == 0:
            return []
        if self.search == "exact":
            return self._exact(q, int(n_results), actions)
        where = {"action": {"$in": list(actions)}} if len(actions) > 1 else {"action": actions[0]}
        # only ids and distances come from Chroma: documents and metadata are in memory
        r = self._col.query(query_embeddings=q, n_results=int(n_results), where=where, include=["distances"])
        out = []
        for ids, dists in zip(r["ids"], r["distances"]):
            out.append([_scored(self._entries[i], 1.0 - float(d)) for i, d in zip(ids, dists)])
        return out

    def _exact(self, q: np.ndarray, n_results: int, actions: Sequence[str]) -> list[list[Hit]]:
        key = tuple(sorted(actions))
        if key not in self._subsets:
            idx = np.flatnonzero(np.isin(self._actions, list(key)))
            self._subsets[key] = (idx, np.ascontiguousarray(self._vecs[idx]))
        allowed, vecs = self._subsets[key]
        # (Q, n_allowed) cosine (unit vectors). einsum, not BLAS: a multi-threaded BLAS on a busy
        # 2-core machine turned this sub-millisecond product into tens of milliseconds.
        sims = np.einsum("qd,nd->qn", q, vecs)
        out = []
        for row in sims:
            k = min(n_results, len(allowed))
            top = np.argpartition(-row, k - 1)[:k] if k < len(allowed) else np.arange(len(allowed))
            top = sorted(top, key=lambda j: (-row[j], self._ids[allowed[j]]))
            out.append([_scored(self._entries[self._ids[allowed[j]]], float(row[j])) for j in top])
        return out

    def get(self, ids: Sequence[str]) -> dict[str, Hit]:
        """Entries by id (those that exist), without scores (from memory)."""
        return {i: self._entries[i] for i in ids if i in self._entries}

    def lexical_scores(self, queries: Sequence[str], ids: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """For each query text (a problem label), the lexical cosine with the labels of its ``ids``."""
        todo = [t for t in dict.fromkeys(queries) if t not in self._lex_cache]
        for t, v in zip(todo, self.lexical.embed(todo) if todo else ()):
            self._lex_cache[t] = v
        while len(self._lex_cache) > 4096:
            self._lex_cache.popitem(last=False)
        out = []
        for t, row in zip(queries, ids):
            rows = self._lex[[self._pos[i] for i in row]] if len(row) else np.zeros((0, self.lexical.dim), np.float32)
            out.append(np.einsum("d,nd->n", self._lex_cache[t], rows))
        return out

    def embeddings(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored embeddings by id (those that exist)."""
        return {i: self._vecs[self._pos[i]] for i in ids if i in self._pos}

    def all_ids(self) -> list[str]:
        return sorted(self._entries)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "KnowledgeStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_store(index_dir: str | os.PathLike = DEFAULT_INDEX_DIR, embedder: Embedder | None = None,
               search: str = "chroma") -> KnowledgeStore:
    """Open the current build; StoreError if there is none or it was built with another embedder."""
    info = current_build(index_dir)
    if info is None:
        raise StoreError(f"there is no knowledge-base index in {index_dir}; run `make kb`.")
    embedder = embedder if embedder is not None else load_embedder()
    if info.embedder != embedder.name:
        raise StoreError(
            f"the index in {index_dir} was built with the embedder {info.embedder}, but {embedder.name} is in use; run `make kb`."
        )
    return KnowledgeStore(info, embedder, search)


# make kb ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.guide.store", description="build or inspect the SportsRAG index")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the index from the corpus (no-op when it is up to date)")
    b.add_argument("--index", type=Path, default=DEFAULT_INDEX_DIR, help="index folder")
    b.add_argument("--corpus", type=Path, default=None, help="corpus folder (default edge/guide/kb)")
    b.add_argument("--embedding", type=Path, default=None, help="embedding model folder (default models/embedding)")
    b.add_argument("--force", action="store_true", help="rebuild even when up to date")
    s = sub.add_parser("status", help="print the current build's manifest")
    s.add_argument("--index", type=Path, default=DEFAULT_INDEX_DIR)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from edge.guide.kb_schema import CorpusError

    try:
        if args.cmd == "status":
            info = current_build(args.index)
            print(json.dumps(info.to_dict() if info else None, indent=2))
            return 0 if info else 1
        res = build_index(args.index, load_corpus(args.corpus), load_embedder(args.embedding), force=args.force)
    except (StoreError, EmbeddingError, CorpusError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    state = "rebuilt" if res.rebuilt else "up to date"
    print(f"knowledge-base index {state}: {res.info.n_entries} entries, corpus {res.info.corpus_version[:12]}, "
          f"embedder {res.info.embedder}, build {res.info.path.name} ({res.seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
