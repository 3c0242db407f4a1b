"""The deterministic SportsRAG composer: grounded, complete, quantified, short, fast.

Reports come from the real KISMAM (``edge.diagnose.assess``) on simulated metric values
(``edge.guide.evaluate.simulated_report``); the store holds one action's part of the real corpus.
"""

from __future__ import annotations


import numpy as np
import pytest

from edge.actions.spec import load_action
from edge.guide.composer import SUMMARY_MAX_WORDS, GuidanceDraft, compose, render_text, sources_of, word_count
from edge.guide.embed import load_embedder
from edge.guide.evaluate import simulated_report
from edge.guide.kb_schema import load_corpus, numbers_in
from edge.guide.llm import check_draft
from edge.guide.retrieve import Retriever
from edge.guide.store import build_index, open_store

ACTION = "standing_long_jump"


def action_subset(action: str):
    """The action's entries, the general drills and the first 12 other general entries."""
    entries = load_corpus()
    general = [e for e in entries if e.action == "general" and e.kind != "drill"][:12]
    return [e for e in entries if e.action == action or (e.action == "general" and e.kind == "drill")] + general


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("kb")
    emb = load_embedder(threads=1)  # as the Guide runs it (GuideConfig.embed_threads)
    build_index(d, action_subset(ACTION), emb)
    s = open_store(d, emb)
    yield s
    s.close()


@pytest.fixture(scope="module")
def retriever(store):
    r = Retriever(store)
    r.warm_up()
    return r


@pytest.fixture(scope="module")
def reports():
    spec = load_action(ACTION)
    rng = np.random.default_rng(3)
    out = [simulated_report(spec, {p.id: 0.8}, rng) for p in spec.problems]
    ids = [p.id for p in spec.problems]
    for _ in range(12):
        chosen = rng.choice(len(ids), size=int(rng.integers(3, 7)), replace=False)
        out.append(simulated_report(spec, {ids[i]: float(rng.uniform(0.3, 1.0)) for i in chosen}, rng))
    return out


def test_reports_have_top6_problems(reports):
    assert max(len(r["problems"]) for r in reports) == 6  # KISMAM's top N: the composer must cover six
    assert all(r["problems"] for r in reports)


def test_composer_is_grounded_covers_every_problem_and_quantifies(retriever, reports):
    for r in reports:
        ret = retriever.retrieve(r)
        draft = compose(r, ret)
        assert check_draft(draft, r, ret) == [], r["simulated_faults"]
        assert [a.problem_id for a in draft.advice] == [p["id"] for p in r["problems"]]
        for a in draft.advice:
            assert a.cue and a.drill_id and a.prescription
            hit = ret.hits[a.drill_id]
            assert hit.kind == "drill"
            assert a.drill_id in hit.document.split("\n", 1)[0]  # "Drill <id>: title"
            assert a.prescription in hit.document  # verbatim from the retrieved text
            assert numbers_in(a.prescription)  # quantified
            assert numbers_in(a.prescription) <= numbers_in(hit.document)
            # the drill fixes this problem (it is linked from the problem's own entry)
            ctx = next(c for c in ret.contexts if c.problem_id == a.problem_id)
            assert a.drill_id in ctx.entry.metadata["drills"]
        assert word_count(draft.summary) <= SUMMARY_MAX_WORDS


def test_composer_prefers_a_new_drill_for_each_problem(retriever, reports):
    r = max(reports, key=lambda r: len(r["problems"]))
    ret = retriever.retrieve(r)
    draft = compose(r, ret)
    drills = [a.drill_id for a in draft.advice]
    # a repeat is allowed only when every linked drill of that problem is already used
    for i, a in enumerate(draft.advice):
        if a.drill_id in drills[:i]:
            ctx = next(c for c in ret.contexts if c.problem_id == a.problem_id)
            assert set(ctx.entry.metadata["drills"]) <= set(drills[:i])


def test_text_follows_techcoach_structure(retriever, reports):
    r = max(reports, key=lambda r: len(r["problems"]))
    ret = retriever.retrieve(r)
    draft = compose(r, ret)
    text = render_text(draft, ret)
    well, improve, summary = text.index("What is done well:"), text.index("What can be improved:"), text.index("Summary:")
    assert well < improve < summary
    for s in r["strengths"]:
        assert f"- {s['title']}: " in text[well:improve]
        items = s["text"].split(": ", 1)[1]  # "Done well (dimension): <items>"
        assert items in text[well:improve]
    block = text[improve:summary]
    for p in r["problems"]:
        assert p["title"] in block
    for a in draft.advice:
        assert a.drill_id in block and a.cue in block
    assert f"{r['score']:.0f}" in draft.summary
    src = sources_of(draft, ret)
    assert len(src) == len(set(src))
    assert all(i in ret.hits for i in src)
    assert {a.drill_id for a in draft.advice} <= set(src)


def test_composer_is_deterministic(retriever, reports):
    r = reports[-1]
    a = render_text(compose(r, retriever.retrieve(r)), retriever.retrieve(r))
    b = render_text(compose(r, retriever.retrieve(r)), retriever.retrieve(r))
    assert a == b


def test_no_problem_report_lists_strengths(retriever, reports):
    r = dict(reports[0], problems=[])
    ret = retriever.retrieve(r)
    draft = compose(r, ret)
    assert draft.advice == ()
    assert check_draft(draft, r, ret) == []
    text = render_text(draft, ret)
    assert "no problem was found" in text.lower()


def test_draft_json_round_trip_is_checked_the_same(retriever, reports):
    r = reports[5]
    ret = retriever.retrieve(r)
    draft = compose(r, ret)
    again = GuidanceDraft.from_json(draft.to_json())
    assert check_draft(again, r, ret) == []
    assert render_text(again, ret) == render_text(draft, ret)


def test_guide_file_fills_guidance_and_rejects_bad_reports(tmp_path, store, reports):
    import json

    from edge.guide.guide import GuideConfig, guide_file
    from edge.guide.retrieve import ReportError

    config = GuideConfig(index_dir=store.info.path.parents[1], warn_stale_index=False)
    report = {k: v for k, v in reports[0].items() if not k.startswith("_")}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    out = guide_file(path, config)
    g = out["guidance"]
    assert g["engine"] == "composer" and g["fallback_reason"] == "no language model is configured"
    assert g["corpus_version"] == store.info.corpus_version and g["embedder"] == store.info.embedder
    assert f"{ACTION}_{report['problems'][0]['id']}" in g["sources"]
    assert g["structured"]["problems"][0]["problem_id"] == report["problems"][0]["id"]
    path.write_text("{not json")
    with pytest.raises(ReportError, match="not valid JSON"):
        guide_file(path, config)
    path.write_text(json.dumps(dict(report, problems=None)))
    with pytest.raises(ReportError, match="no list of problems"):
        guide_file(path, config)
    with pytest.raises(ReportError, match="does not exist"):
        guide_file(tmp_path / "absent.json", config)
