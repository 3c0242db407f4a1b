"""The SportsRAG knowledge base: it loads, validates, covers every spec, and is fingerprinted."""

from __future__ import annotations

import itertools
import re
import shutil

import pytest

from edge.actions.spec import ACTION_IDS, SPEC_DIR, load_action
from edge.guide import kb_schema
from edge.guide.kb_schema import (
    KB_DIR,
    CorpusError,
    DrillEntry,
    GeneralEntry,
    Prescription,
    ProblemEntry,
    corpus_version,
    load_corpus,
    parse_corpus_file,
    spec_gaps,
)

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
PRESENT_SPECS = [a for a in ACTION_IDS if (SPEC_DIR / f"{a}.yaml").exists()]


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()


@pytest.fixture(scope="module")
def by_id(corpus):
    return {e.id: e for e in corpus}


def _numbers(text: str) -> set[float]:
    return {float(x) for x in re.findall(r"\d+(?:\.\d+)?", text)}


# --- the corpus as a whole ---------------------------------------------------------------------


def test_corpus_loads_with_at_least_300_entries(corpus):
    assert len(corpus) >= 300
    kinds = {e.kind for e in corpus}
    assert kinds == {"problem", "drill", "general"}


def test_ids_unique_and_snake_case(corpus):
    ids = [e.id for e in corpus]
    assert len(ids) == len(set(ids))
    bad = [i for i in ids if not SNAKE.match(i)]
    assert not bad, bad


def test_every_entry_names_a_source_with_a_year(corpus):
    for e in corpus:
        assert e.source.strip(), e.id
        assert re.search(r"\b(19|20)\d\d\b", e.source), e.id


def test_general_topics_required_by_the_issue_are_covered(corpus):
    topics = {e.topic for e in corpus if isinstance(e, GeneralEntry) and e.action == "general"}
    for needed in ("warm_up", "injury_prevention", "growth_maturation", "load_management", "feedback"):
        assert needed in topics, needed
    # cues for every body dimension used by the specs
    cue_tags = {t for e in corpus if isinstance(e, GeneralEntry) and e.topic == "cues" for t in e.tags}
    from edge.actions.spec import DIMENSIONS

    assert set(DIMENSIONS) <= cue_tags


def test_no_two_entries_are_near_copies(corpus):
    # Entries of the same kind must not be templates with words swapped: compare word trigrams.
    def shingles(text: str) -> set[str]:
        w = re.findall(r"[a-z]+", text.lower())
        return {" ".join(w[i : i + 3]) for i in range(len(w) - 2)}

    sh = [(e.id, shingles(e.render())) for e in corpus]
    worst = max(
        (len(a & b) / len(a | b), ia, ib) for (ia, a), (ib, b) in itertools.combinations(sh, 2)
    )
    assert worst[0] < 0.3, worst


# --- coverage of the action specs --------------------------------------------------------------


@pytest.mark.parametrize("action", ACTION_IDS)
def test_every_problem_and_drill_of_the_spec_has_an_entry(corpus, by_id, action):
    if action not in PRESENT_SPECS:
        pytest.skip(f"no spec for {action} yet")
    spec = load_action(action)
    for prob in spec.problems:
        entry = by_id.get(f"{action}_{prob.id}")
        assert isinstance(entry, ProblemEntry), prob.id
        assert entry.problem == prob.id and entry.action == action
        assert (entry.phase, entry.dimension) == (prob.phase, prob.dimension), prob.id
        assert len(entry.drills) >= 2
        for ref in prob.drills:
            assert isinstance(by_id.get(ref.id), DrillEntry), ref.id
            assert ref.id in entry.drills, (prob.id, ref.id)
    assert spec_gaps(corpus, spec) == []
    # technique principles for the action as well as its problems and drills
    assert any(isinstance(e, GeneralEntry) and e.action == action and e.topic == "technique" for e in corpus)


def test_spec_gaps_reports_a_missing_drill_and_a_stale_problem(corpus):
    if not PRESENT_SPECS:
        pytest.skip("no action specs present")
    spec = load_action(PRESENT_SPECS[0])
    drill_id = spec.problems[0].drills[0].id
    without = [e for e in corpus if e.id != drill_id]
    assert any(drill_id in g for g in spec_gaps(without, spec))
    stale = next(e for e in corpus if isinstance(e, ProblemEntry) and e.action == spec.id)
    renamed = stale.model_copy(update={"id": f"{spec.id}_not_a_problem", "problem": "not_a_problem"})
    gaps = spec_gaps([*corpus, renamed], spec)
    assert any("not_a_problem" in g for g in gaps)


def test_addresses_point_at_real_problems(corpus, by_id):
    for d in corpus:
        if not isinstance(d, DrillEntry):
            continue
        for pid in d.addresses:
            p = by_id.get(pid)
            assert isinstance(p, ProblemEntry), (d.id, pid)
            assert d.id in p.drills, (d.id, pid)
            if p.action in PRESENT_SPECS:
                assert p.problem in {q.id for q in load_action(p.action).problems}, (d.id, pid)


def test_every_action_drill_addresses_something(corpus):
    for d in corpus:
        if isinstance(d, DrillEntry) and d.action != "general":
            assert d.addresses, d.id


# --- prescriptions: the grounding contract -----------------------------------------------------


def test_every_prescription_text_contains_exactly_its_numbers(corpus):
    drills = [e for e in corpus if isinstance(e, DrillEntry)]
    assert len(drills) >= 100
    for d in drills:
        p = d.prescription
        volume = p.reps if p.reps is not None else p.duration_s
        expected = {float(p.sets), float(volume), float(p.rest_s)} | _numbers(p.intensity)
        assert _numbers(p.text) == expected, d.id
        assert p.intensity.lower() in p.text.lower(), d.id
        # the retrieval document carries the prescription verbatim
        assert p.text in d.render(), d.id
        assert expected <= _numbers(d.render()), d.id


def test_prescription_rejects_a_text_with_wrong_numbers():
    ok = dict(sets=3, reps=8, intensity="moderate effort", rest_s=60, text="3 sets × 8 reps, moderate effort, 60 s rest")
    assert Prescription(**ok).reps == 8
    with pytest.raises(ValueError, match="exactly the numbers"):
        Prescription(**{**ok, "text": "3 sets × 10 reps, moderate effort, 60 s rest"})
    with pytest.raises(ValueError, match="exactly the numbers"):
        Prescription(**{**ok, "text": "3 sets × 8 reps, moderate effort, 60 s rest, 2 times a week"})
    with pytest.raises(ValueError, match="exactly one of reps or duration_s"):
        Prescription(**{**ok, "duration_s": 30})
    with pytest.raises(ValueError, match="intensity"):
        Prescription(**{**ok, "text": "3 sets × 8 reps, 60 s rest"})


# --- the loader rejects bad files with one sentence --------------------------------------------

_GOOD = """\
entries:
  - id: gen_test_entry
    kind: general
    topic: recovery
    action: general
    title: A test entry
    text: A test entry that is long enough to pass the minimum length of the text field here.
    key_points: [first point, second point]
    tags: [recovery]
    source: Someone A. A Book. Publisher, 2020
"""


def test_parse_accepts_a_valid_file():
    (e,) = parse_corpus_file(_GOOD)
    assert isinstance(e, GeneralEntry) and e.topic == "recovery"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: s.replace("    tags:", "    colour: red\n    tags:"), "colour"),
        (lambda s: s.replace("    tags: [recovery]", "    tags: [recovery]\n    tags: [again]"), "repeats"),
        (lambda s: s.replace("id: gen_test_entry", "id: Gen-Test"), "id"),
        (lambda s: s.replace("Publisher, 2020", "Publisher"), "year"),
        (lambda s: s.replace("kind: general", "kind: recipe"), "kind"),
        (lambda s: s.replace("entries:", "entries: [\n"), "not valid YAML"),
    ],
)
def test_parse_rejects_bad_input_with_one_sentence(mutate, message):
    with pytest.raises(CorpusError, match=message) as info:
        parse_corpus_file(mutate(_GOOD), "bad.yaml")
    text = str(info.value)
    assert text.startswith("bad.yaml") and text.endswith(".") and "\n" not in text


def test_load_rejects_repeated_ids_and_broken_links(tmp_path):
    (tmp_path / "a.yaml").write_text(_GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(_GOOD, encoding="utf-8")
    with pytest.raises(CorpusError, match="used twice"):
        load_corpus(tmp_path)
    problem = KB_DIR / "standing_long_jump" / "problems.yaml"
    (tmp_path / "b.yaml").unlink()
    shutil.copy(problem, tmp_path / "b.yaml")  # its drills are not in this folder
    with pytest.raises(CorpusError, match="not a drill entry"):
        load_corpus(tmp_path)
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "missing")


# --- CORPUS_VERSION ----------------------------------------------------------------------------


def test_corpus_version_is_stable_and_tracks_content(tmp_path, corpus):
    again = load_corpus()
    v = corpus_version(corpus)
    assert re.fullmatch(r"[0-9a-f]{64}", v)
    assert corpus_version(again) == v
    assert kb_schema.CORPUS_VERSION == v

    copy = tmp_path / "kb"
    shutil.copytree(KB_DIR, copy)
    assert corpus_version(load_corpus(copy)) == v

    target = copy / "standing_long_jump" / "problems.yaml"
    original = target.read_text(encoding="utf-8")
    target.write_text("# a comment changes nothing\n" + original, encoding="utf-8")
    assert corpus_version(load_corpus(copy)) == v

    changed = original.replace("cue: Sit back deeper before you jump", "cue: Sit back deeper, then jump", 1)
    assert changed != original
    target.write_text(changed, encoding="utf-8")
    assert corpus_version(load_corpus(copy)) != v


def test_unknown_module_attribute_raises():
    with pytest.raises(AttributeError):
        kb_schema.NOT_A_THING  # noqa: B018
