"""Schema, loader and fingerprint of the SportsRAG knowledge base (``edge/guide/kb/**/*.yaml``).

The corpus is written by us and reviewed like code. Each YAML file is a mapping with one key,
``entries``, a list of entries of three kinds:

- ``problem``: one per problem of an action spec (``edge/actions/specs/<action>.yaml``); its id is
  ``<action>_<problem>`` (problem ids repeat across actions, entry ids may not). It carries an
  explanation a teacher can read aloud (``text``), why it matters, what to look for, common causes,
  the screen cue and the ids of the drills that fix it.
- ``drill``: an exercise with step-by-step instructions and a ``prescription`` whose ``text`` renders
  exactly its numbers (sets, reps or seconds, rest, and any number in the intensity), so that a
  guidance composer can check that every number it writes appears in what it retrieved.
- ``general``: warm-up, injury prevention, growth and maturation, load, recovery, teaching and other
  guidance, for all actions (``action: general``) or for one action (technique principles).

Every entry has a stable snake_case ``id`` (never reused), ``kind``, ``action`` (an action id or
``general``), ``title``, ``text``, ``tags`` and a named ``source`` with a year. ``load_corpus`` validates
each entry (unknown keys rejected) and the links between entries (a problem's drills exist and
address it, a drill addresses only existing problems). ``CORPUS_VERSION`` is the sha256 of the
canonical JSON of the default corpus, so formatting and comments in the YAML do not change it but
any change of content does.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Sequence, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from edge.actions.spec import ACTION_IDS, DIMENSIONS, ActionSpec

KB_DIR = Path(__file__).parent / "kb"
ACTIONS: tuple[str, ...] = ACTION_IDS + ("general",)
KINDS = ("problem", "drill", "general")
TOPICS = (
    "warm_up",
    "injury_prevention",
    "growth_maturation",
    "load_management",
    "recovery",
    "environment",
    "technique",
    "cues",
    "feedback",
    "motivation",
    "inclusion",
    "assessment",
    "safety",
)
SNAKE = r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$"
_SNAKE_RE = re.compile(SNAKE)
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
_YEAR_RE = re.compile(r"\b(19|20)\d\d\b")
_SIDE_WORDS = ("per side", "per leg", "per arm", "each side", "each leg", "each arm", "each hand", "per hand")

Snake = Annotated[str, Field(pattern=SNAKE, description="snake_case identifier")]
Cue = Annotated[str, Field(min_length=3, max_length=60, description="short cue for the screen")]
Line = Annotated[str, Field(min_length=3, description="one line of text")]


class CorpusError(ValueError):
    """The knowledge base is missing or invalid; the message is one sentence."""


def numbers_in(text: str) -> set[float]:
    """All decimal numbers written in ``text`` ("3 sets × 8 reps, 60 s rest" -> {3.0, 8.0, 60.0})."""
    return {float(m) for m in _NUMBER_RE.findall(text)}


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Prescription(_M):
    """How much of a drill to do. ``text`` is the rendering a student or teacher reads."""

    sets: int = Field(ge=1, le=10, description="number of sets")
    reps: int | None = Field(default=None, ge=1, le=60, description="repetitions per set (or None)")
    duration_s: int | None = Field(default=None, ge=5, le=900, description="work time per set, seconds")
    per_side: bool = Field(default=False, description="reps/time are per leg, arm or side")
    intensity: str = Field(min_length=3, description="effort, load or speed, e.g. 'moderate effort'")
    rest_s: int = Field(ge=0, le=600, description="rest between sets, seconds")
    text: str = Field(min_length=10, description="rendering containing exactly the numbers above")

    @model_validator(mode="after")
    def _rendering(self):
        if (self.reps is None) == (self.duration_s is None):
            raise ValueError("a prescription needs exactly one of reps or duration_s")
        volume = self.reps if self.reps is not None else self.duration_s
        expected = {float(self.sets), float(volume), float(self.rest_s)} | numbers_in(self.intensity)
        found = numbers_in(self.text)
        if found != expected:
            missing = sorted(expected - found)
            extra = sorted(found - expected)
            raise ValueError(
                f"prescription text {self.text!r} must contain exactly the numbers "
                f"{sorted(expected)} (missing {missing}, unexpected {extra})"
            )
        if self.intensity.lower() not in self.text.lower():
            raise ValueError(f"prescription text {self.text!r} must state the intensity {self.intensity!r}")
        if self.per_side and not any(w in self.text.lower() for w in _SIDE_WORDS):
            raise ValueError(f"prescription text {self.text!r} must say the volume is per side/leg/arm")
        return self


class Entry(_M):
    """Fields every entry has. Use one of the subclasses."""

    id: Snake = Field(description="stable, unique, never reused")
    kind: str
    action: Literal[ACTIONS]  # type: ignore[valid-type]
    title: str = Field(min_length=3, max_length=100)
    text: str = Field(min_length=60, description="the main text; for problems, read aloud to students")
    tags: tuple[Snake, ...] = Field(min_length=1, description="body dimension, phase, topic words")
    source: str = Field(min_length=10, description="named textbook, guideline or paper, with year")

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("tags repeat")
        return v

    @field_validator("source")
    @classmethod
    def _source_has_year(cls, v: str) -> str:
        if not _YEAR_RE.search(v):
            raise ValueError(f"source {v!r} must name the year of the work")
        return v

    def render(self) -> str:
        """The entry as one retrieval document (all text and numbers a composer may cite)."""
        return f"{self.title}\n{self.text}\nSource: {self.source}"


class ProblemEntry(Entry):
    kind: Literal["problem"]
    problem: Snake = Field(description="problem id in the action spec")
    phase: Snake = Field(description="phase of the action where it shows")
    dimension: Literal[DIMENSIONS]  # type: ignore[valid-type]
    cue: Cue
    alt_cues: tuple[Cue, ...] = Field(default=(), description="other wordings, e.g. external focus")
    why: str = Field(min_length=40, description="why it matters (biomechanics, performance, safety)")
    look_for: str = Field(min_length=20, description="what the teacher sees")
    causes: tuple[Line, ...] = Field(min_length=1, description="common causes")
    drills: tuple[Snake, ...] = Field(min_length=2, description="ids of drill entries that address it")
    safety: str | None = Field(default=None, min_length=20)

    @model_validator(mode="after")
    def _consistency(self):
        if self.action == "general":
            raise ValueError("a problem entry belongs to an action, not to 'general'")
        if self.id != f"{self.action}_{self.problem}":
            raise ValueError(f"a problem entry's id must be {self.action}_{self.problem}")
        if self.dimension not in self.tags:
            raise ValueError(f"tags must include the dimension {self.dimension!r}")
        if len(set(self.drills)) != len(self.drills):
            raise ValueError("drills repeat")
        return self

    def render(self) -> str:
        lines = [
            f"Problem: {self.title} ({self.action}, {self.phase} phase, {self.dimension})",
            self.text,
            f"Why it matters: {self.why}",
            f"Look for: {self.look_for}",
            "Common causes: " + "; ".join(self.causes),
            f"Cue: {self.cue}" + ("".join(f" / {c}" for c in self.alt_cues)),
            "Drills: " + ", ".join(self.drills),
        ]
        if self.safety:
            lines.append(f"Safety: {self.safety}")
        lines.append(f"Source: {self.source}")
        return "\n".join(lines)


class DrillEntry(Entry):
    kind: Literal["drill"]
    purpose: str = Field(min_length=20)
    steps: tuple[Line, ...] = Field(min_length=3, description="how to do it, in order")
    prescription: Prescription
    progression: str = Field(min_length=20, description="how to make it harder")
    regression: str = Field(min_length=20, description="how to make it easier")
    equipment: tuple[Line, ...] = Field(default=(), description="empty when none is needed")
    safety: str = Field(min_length=30, description="safety notes for 12–18-year-olds")
    addresses: tuple[Snake, ...] = Field(default=(), description="ids of problem entries it fixes")

    @model_validator(mode="after")
    def _unique(self):
        if len(set(self.addresses)) != len(self.addresses):
            raise ValueError("addresses repeat")
        return self

    def render(self) -> str:
        steps = " ".join(f"{i}. {s}" for i, s in enumerate(self.steps, 1))
        return "\n".join(
            [
                f"Drill {self.id}: {self.title}",
                f"Purpose: {self.purpose}",
                self.text,
                f"How: {steps}",
                f"Prescription: {self.prescription.text}",
                f"Progression: {self.progression}",
                f"Regression: {self.regression}",
                "Equipment: " + (", ".join(self.equipment) if self.equipment else "none"),
                f"Safety: {self.safety}",
                f"Source: {self.source}",
            ]
        )


class GeneralEntry(Entry):
    kind: Literal["general"]
    topic: Literal[TOPICS]  # type: ignore[valid-type]
    key_points: tuple[Line, ...] = Field(min_length=2, description="the points to remember")

    def render(self) -> str:
        points = " ".join(f"- {p}" for p in self.key_points)
        return f"{self.title} ({self.topic})\n{self.text}\nKey points: {points}\nSource: {self.source}"


AnyEntry = Annotated[Union[ProblemEntry, DrillEntry, GeneralEntry], Field(discriminator="kind")]


class _CorpusFile(_M):
    entries: list[AnyEntry] = Field(min_length=1)


_FILE_ADAPTER = TypeAdapter(_CorpusFile)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key repeated in one mapping (PyYAML keeps the last silently)."""


def _mapping_without_repeats(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} repeats", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_repeats)


def _describe(e: ValidationError, data: object) -> str:
    err = e.errors()[0]
    loc = list(err["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "entries" and isinstance(loc[1], int):
        i = loc[1]
        eid = None
        if isinstance(data, dict) and isinstance(data.get("entries"), list) and i < len(data["entries"]):
            item = data["entries"][i]
            eid = item.get("id") if isinstance(item, dict) else None
        where = f"entry {i}" + (f" ({eid})" if eid else "") + ": "
        loc = [x for x in loc[2:] if x not in KINDS]
    msg = str(err["msg"]).removeprefix("Value error, ")
    field = ".".join(str(x) for x in loc)
    return f"{where}{field + ': ' if field else ''}{msg}"


def parse_corpus_file(text: str, source: str = "<string>") -> list[Entry]:
    """Parse and validate one corpus file's text; CorpusError names the file, entry and field."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = f" near line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or e.__class__.__name__
        raise CorpusError(f"{source}: not valid YAML{line} ({problem}).") from None
    if not isinstance(data, dict):
        raise CorpusError(f"{source}: a corpus file must be a mapping with one key, 'entries'.")
    try:
        return list(_FILE_ADAPTER.validate_python(data).entries)
    except ValidationError as e:
        raise CorpusError(f"{source}: {_describe(e, data)}.") from None


def check_links(entries: Sequence[Entry]) -> None:
    """Check the corpus as a whole: unique ids, and problem<->drill links that agree both ways."""
    by_id: dict[str, Entry] = {}
    for e in entries:
        if e.id in by_id:
            raise CorpusError(f"entry id {e.id!r} is used twice.")
        by_id[e.id] = e
    for p in entries:
        if not isinstance(p, ProblemEntry):
            continue
        for d_id in p.drills:
            d = by_id.get(d_id)
            if not isinstance(d, DrillEntry):
                raise CorpusError(f"problem {p.id} names drill {d_id!r}, which is not a drill entry.")
            if p.id not in d.addresses:
                raise CorpusError(f"problem {p.id} names drill {d_id}, whose addresses do not include it.")
    for d in entries:
        if not isinstance(d, DrillEntry):
            continue
        for p_id in d.addresses:
            p = by_id.get(p_id)
            if not isinstance(p, ProblemEntry):
                raise CorpusError(f"drill {d.id} addresses {p_id!r}, which is not a problem entry.")
            if d.action not in (p.action, "general"):
                raise CorpusError(f"drill {d.id} ({d.action}) addresses {p_id}, a problem of {p.action}.")
            if d.id not in p.drills:
                raise CorpusError(f"drill {d.id} addresses {p_id}, which does not list it in its drills.")


def corpus_files(path: str | Path | None = None) -> list[Path]:
    """The YAML files of a corpus: ``path`` itself, or every ``*.yaml`` under a folder, sorted."""
    root = Path(path) if path is not None else KB_DIR
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise CorpusError(f"the knowledge base {root} does not exist.")
    files = sorted(root.rglob("*.yaml"), key=lambda f: f.relative_to(root).as_posix())
    if not files:
        raise CorpusError(f"the knowledge base folder {root} holds no .yaml files.")
    return files


def load_corpus(path: str | Path | None = None) -> list[Entry]:
    """Load and validate a corpus (default: ``edge/guide/kb``); entries in file order, files sorted."""
    entries: list[Entry] = []
    for f in corpus_files(path):
        entries.extend(parse_corpus_file(f.read_text(encoding="utf-8"), str(f)))
    check_links(entries)
    return entries


def corpus_version(entries: Sequence[Entry]) -> str:
    """sha256 (hex) of the canonical JSON of the entries, sorted by id: content, not formatting."""
    docs = [e.model_dump(mode="json") for e in sorted(entries, key=lambda e: e.id)]
    blob = json.dumps(docs, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def spec_gaps(entries: Sequence[Entry], spec: ActionSpec) -> list[str]:
    """What the corpus lacks for one action spec (empty when every problem and drill is covered).

    Checks that each spec problem has the problem entry ``<action>_<problem>``, that the entry lists
    every drill the spec names for it, that each such drill has a drill entry, and that the corpus
    has no problem entry for this action that the spec does not declare.
    """
    by_id = {e.id: e for e in entries}
    gaps: list[str] = []
    declared = set()
    for prob in spec.problems:
        pid = f"{spec.id}_{prob.id}"
        declared.add(pid)
        entry = by_id.get(pid)
        if not isinstance(entry, ProblemEntry):
            gaps.append(f"no problem entry {pid}")
            continue
        for ref in prob.drills:
            if not isinstance(by_id.get(ref.id), DrillEntry):
                gaps.append(f"no drill entry {ref.id} (named by {spec.id}/{prob.id})")
            if ref.id not in entry.drills:
                gaps.append(f"problem entry {pid} does not list drill {ref.id}")
    for e in entries:
        if isinstance(e, ProblemEntry) and e.action == spec.id and e.id not in declared:
            gaps.append(f"problem entry {e.id} has no problem {e.problem!r} in the spec")
    return gaps


@lru_cache(maxsize=1)
def _default_version() -> str:
    return corpus_version(load_corpus())


def __getattr__(name: str) -> str:
    # CORPUS_VERSION is computed on first use, so importing the schema does not read the corpus.
    if name == "CORPUS_VERSION":
        return _default_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
