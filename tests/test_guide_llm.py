"""The llama.cpp engine on a real GGUF (stories260K, a 260K-parameter TinyStories model) and the
grounding check that decides whether a model answer is used.

The tiny model writes childish text: its answers parse (the JSON schema is a grammar) but are not
grounded, so they are rejected and the composer writes the guidance — the path tested here, along
with streaming, the time-out and loading errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.actions.spec import load_action
from edge.guide.composer import Advice, GuidanceDraft, compose
from edge.guide.embed import load_embedder
from edge.guide.evaluate import simulated_report
from edge.guide.guide import Guide, GuideConfig
from edge.guide.kb_schema import load_corpus, numbers_in
from edge.guide.llm import LlamaEngine, LLMError, check_draft, draft_schema, parse_draft
from edge.guide.retrieve import Retriever
from edge.guide.store import build_index, open_store

pytest.importorskip("llama_cpp")

ACTION = "sit_up"


@pytest.fixture(scope="module")
def gguf(shared_data_dir):
    p = shared_data_dir / "gguf" / "stories260K.gguf"
    if not p.is_file():
        pytest.fail(f"the tiny GGUF test model {p} is missing")
    return p


@pytest.fixture(scope="module")
def shared_data_dir():
    from tests.conftest import SHARED_DATA

    return SHARED_DATA


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("kb")
    entries = [e for e in load_corpus() if e.action in (ACTION, "general")]
    build_index(d, entries, load_embedder())
    return d


@pytest.fixture(scope="module")
def store(index_dir):
    s = open_store(index_dir, load_embedder())
    yield s
    s.close()


@pytest.fixture(scope="module")
def report():
    spec = load_action(ACTION)
    rng = np.random.default_rng(11)
    ids = [p.id for p in spec.problems]
    return simulated_report(spec, {ids[0]: 0.9, ids[3]: 0.6, ids[5]: 0.5}, rng)


@pytest.fixture(scope="module")
def retrieval(store, report):
    return Retriever(store).retrieve(report)


@pytest.fixture(scope="module")
def engine(gguf):
    e = LlamaEngine(gguf, chat_format="chatml", n_ctx=2048, max_tokens=384, seed=7)
    yield e
    e.close()


def _config(index_dir, **kw) -> GuideConfig:
    return GuideConfig(index_dir=index_dir, warn_stale_index=False, chat_format="chatml", n_ctx=2048, max_tokens=384, **kw)


# Grounding check ----------------------------------------------------------------------------------
def test_check_draft_accepts_the_composer_and_rejects_tampering(report, retrieval):
    good = compose(report, retrieval)
    assert check_draft(good, report, retrieval) == []
    a0 = good.advice[0]

    def with_first(**kw) -> GuidanceDraft:
        adv = (Advice(**{**a0.__dict__, **kw}),) + good.advice[1:]
        return GuidanceDraft(good.summary, adv, good.strengths)

    assert any("not retrieved" in r for r in check_draft(with_first(drill_id="made_up_drill"), report, retrieval))
    assert any("no quantity" in r for r in check_draft(with_first(prescription="do it often"), report, retrieval))
    bad_numbers = check_draft(with_first(prescription="7777 sets of 9999 reps"), report, retrieval)
    assert any("7777" in r and "9999" in r for r in bad_numbers)
    missing = GuidanceDraft(good.summary, good.advice[1:], good.strengths)
    assert any(f"problem {a0.problem_id} is not addressed" == r for r in check_draft(missing, report, retrieval))
    twice = GuidanceDraft(good.summary, good.advice + (a0,), good.strengths)
    assert any("twice" in r for r in check_draft(twice, report, retrieval))
    long = GuidanceDraft("word " * 140, good.advice, good.strengths)
    assert any("140 words" in r or "words (at most" in r for r in check_draft(long, report, retrieval))
    invented = GuidanceDraft(good.summary + " You jumped 4.83 m.", good.advice, good.strengths)
    assert any("4.83" in r for r in check_draft(invented, report, retrieval))
    # a retrieved drill whose own text lacks a number of the prescription: rejected
    nums = numbers_in(a0.prescription)
    other = next(d for d in sorted(retrieval.drill_ids) if not nums <= numbers_in(retrieval.hits[d].document))
    reasons = check_draft(with_first(drill_id=other, prescription=a0.prescription), report, retrieval)
    assert any(f"not in drill {other}" in r for r in reasons)


def test_schema_restricts_ids_and_parse_reports_bad_json(report, retrieval):
    s = draft_schema([c.problem_id for c in retrieval.contexts], sorted(retrieval.drill_ids))
    item = s["properties"]["problems"]["items"]["properties"]
    assert item["problem_id"]["enum"] == [p["id"] for p in report["problems"]]
    assert set(item["drill_id"]["enum"]) == retrieval.drill_ids
    assert s["properties"]["problems"]["minItems"] == s["properties"]["problems"]["maxItems"] == len(report["problems"])
    draft, why = parse_draft('{"summary": "x", "problems": [')
    assert draft is None and "not complete JSON" in why
    draft, why = parse_draft('{"summary": "x", "strengths": [], "problems": [{"problem_id": "a"}]}')
    assert draft is None and "lacks" in why


# The engine on the tiny GGUF -----------------------------------------------------------------------
def test_engine_streams_tokens_and_its_answer_is_rejected(engine, report, retrieval):
    tokens: list[str] = []
    gen = engine.generate(report, retrieval, timeout_s=60, on_token=tokens.append)
    assert len(tokens) > 5
    assert "".join(tokens) == gen.text
    assert gen.n_tokens == len(tokens)
    assert gen.prompt_tokens > 100
    assert gen.first_token_ms is not None and gen.first_token_ms <= gen.ms
    assert not gen.ok and gen.draft is None
    assert gen.reason.startswith(("rejected", "the answer was cut off"))
    if gen.reason.startswith("rejected") and gen.rejected and "JSON" not in gen.reason:
        # the grammar made it parse: the rejection is about grounding, not syntax
        draft, why = parse_draft(gen.text)
        assert why is None and check_draft(draft, report, retrieval) == gen.rejected


def test_engine_is_repeatable(engine, report, retrieval):
    a = engine.generate(report, retrieval, timeout_s=60)
    b = engine.generate(report, retrieval, timeout_s=60)
    assert a.text == b.text


def test_engine_times_out(engine, report, retrieval):
    gen = engine.generate(report, retrieval, timeout_s=0.001)
    assert not gen.ok
    assert gen.reason.startswith("timed out after 0.001 s")
    # the abandoned worker stops at its next token; the engine is usable again afterwards
    import time

    for _ in range(200):
        if engine._busy.acquire(blocking=False):
            engine._busy.release()
            break
        time.sleep(0.05)
    again = engine.generate(report, retrieval, timeout_s=60)
    assert not again.reason.startswith(("timed out", "the model is still"))


def test_loading_errors_are_one_clear_sentence(tmp_path):
    with pytest.raises(LLMError, match="does not exist"):
        LlamaEngine(tmp_path / "absent.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"PK\x03\x04" + bytes(1000))
    with pytest.raises(LLMError, match="not a GGUF file"):
        LlamaEngine(junk)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + bytes(60))
    with pytest.raises(LLMError, match="could not load"):
        LlamaEngine(truncated)


# The orchestrator's fallback order ---------------------------------------------------------------
def test_guide_falls_back_to_the_composer_with_the_reason(index_dir, gguf, report):
    streamed: list[str] = []
    with Guide(_config(index_dir, model_path=gguf, timeout_s=60)) as g:
        out = g.guidance(report, on_token=streamed.append)
        composed = g.guidance(report, use_llm=False)
    assert streamed, "tokens were not streamed"
    assert out["engine"] == "composer"
    assert out["fallback_reason"].startswith(("rejected", "the answer was cut off"))
    assert out["text"] == composed["text"]  # the same deterministic guidance
    assert out["sources"] and set(out["sources"]) <= set(open_store(index_dir, load_embedder()).all_ids())
    assert out["timings_ms"]["llm"] > 0 and out["timings_ms"]["retrieval"] > 0


def test_guide_time_out_and_missing_model_fall_back(index_dir, gguf, report, tmp_path):
    with Guide(_config(index_dir, model_path=gguf, timeout_s=0.001)) as g:
        out = g.guidance(report)
    assert out["engine"] == "composer" and out["fallback_reason"].startswith("timed out")
    with Guide(_config(index_dir, model_path=tmp_path / "nowhere.gguf")) as g:
        out = g.guidance(report)
        assert g.engine is None
    assert out["engine"] == "composer" and "does not exist" in out["fallback_reason"]
    with Guide(_config(index_dir)) as g:
        out = g.guidance(report)
    assert out["engine"] == "composer" and out["fallback_reason"] == "no language model is configured"
    assert "What can be improved:" in out["text"]


def test_an_accepted_answer_is_used(index_dir, report):
    """A stand-in engine returning a grounded answer: the guide uses it and names the engine."""
    from edge.guide.llm import Generation

    class Grounded:
        name = "llama.cpp:stand-in.gguf"

        def generate(self, report, retrieval, timeout_s, on_token=None):
            d = compose(report, retrieval)
            return Generation(True, None, "{}", GuidanceDraft("A grounded summary.", d.advice, d.strengths), 1, 1, 1.0)

        def close(self):
            pass

    with Guide(_config(index_dir), engine=Grounded()) as g:
        out = g.guidance(report)
    assert out["engine"] == "llama.cpp:stand-in.gguf" and out["fallback_reason"] is None
    assert out["text"].endswith("Summary: A grounded summary.")


def test_guide_status_names_what_is_installed(index_dir, gguf, tmp_path):
    from edge.guide.guide import guide_status

    st = guide_status(_config(index_dir, model_path=gguf))
    assert st["libraries"]["llama-cpp-python"] and st["libraries"]["chromadb"]
    assert st["index"]["n_entries"] > 0 and st["model"] == str(gguf)
    assert st["embedder"] == st["index"]["embedder"]
    bad = guide_status(_config(tmp_path / "no_index", model_path=tmp_path / "x.gguf"))
    assert bad["index"] is None and bad["model"].startswith("error: ") and "does not exist" in bad["model"]
