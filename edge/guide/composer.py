"""Structured guidance and the deterministic composer (no language model).

Guidance follows TechCoach's coaching commentary: *what is done well* (the report's strengths, one
per body dimension), *what can be improved* (each top problem with a cue, one drill and its
prescription), then a short summary (under 140 words). As in BioCoach, every fact is computed
before any wording: the score, grade, phase scores, strengths and evidence come from the report;
cues, drill ids, titles and prescriptions come verbatim from retrieved knowledge-base entries.

:class:`GuidanceDraft` is the structured form shared by the composer and the language-model engine
(its JSON has the shape of :data:`edge.guide.llm.draft_schema`); :func:`render_text` turns either
into the text shown on the teacher's screen, so both read the same.

:func:`compose` picks, for each problem, the cue of its retrieved entry (or the report's own cue
when the entry was not retrieved), and the first drill the entry links that was retrieved and not
yet used for an earlier problem; the prescription is the drill's own rendering. So the composer is
grounded by construction; ``edge.guide.llm.check_draft`` verifies it like any model output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.guide.retrieve import ProblemContext, Retrieval, diagnosis_lines, fmt_num, strength_sentence

SUMMARY_MAX_WORDS = 139  # "under 140 words"


@dataclass(frozen=True)
class Advice:
    """What to do about one problem. ``drill_id``/``prescription`` are None when no drill was found."""

    problem_id: str
    cue: str
    drill_id: str | None
    prescription: str | None

    def to_json(self) -> dict:
        return {"problem_id": self.problem_id, "cue": self.cue, "drill_id": self.drill_id,
                "prescription": self.prescription}


@dataclass(frozen=True)
class GuidanceDraft:
    """Structured guidance: summary, one :class:`Advice` per problem, strengths (sentences)."""

    summary: str
    advice: tuple[Advice, ...]
    strengths: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict:
        return {"summary": self.summary, "problems": [a.to_json() for a in self.advice], "strengths": list(self.strengths)}

    @classmethod
    def from_json(cls, data: dict) -> "GuidanceDraft":
        """From the model's JSON (already schema-checked by the caller)."""
        advice = tuple(
            Advice(str(p["problem_id"]), str(p["cue"]).strip(), p.get("drill_id"),
                   (p.get("prescription") or "").strip() or None)
            for p in data["problems"]
        )
        return cls(str(data["summary"]).strip(), advice, tuple(str(s).strip() for s in data["strengths"]))


def word_count(text: str) -> int:
    return len(text.split())


def _strength_sentences(report: dict) -> tuple[str, ...]:
    return tuple(t for t in (strength_sentence(s) for s in report.get("strengths") or []) if t)


def _drill_candidates(ctx: ProblemContext, action: str) -> list:
    if ctx.drills:
        return list(ctx.drills)
    entry_id = f"{action}_{ctx.problem_id}"
    return [h for h in ctx.hits if h.kind == "drill" and entry_id in h.metadata.get("addresses", [])]


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:] if s[:2] != s[:2].upper() else s


def compose_summary(report: dict, retrieval: Retrieval, advice: tuple[Advice, ...],
                    drill_titles: dict[str, str]) -> str:
    """Under 140 words: score and grade, weakest phase, what is done well, the first fix, the rest."""
    parts = []
    score, grade = report.get("score"), report.get("grade")
    if score is not None:
        parts.append(f"{retrieval.action_name}: score {fmt_num(score)}" + (f", grade {grade}." if grade is not None else "."))
    elif grade is not None:
        parts.append(f"{retrieval.action_name}: grade {grade}.")
    phases = {k: v for k, v in (report.get("phase_scores") or {}).items() if isinstance(v, (int, float))}
    if phases:
        name, value = min(phases.items(), key=lambda kv: (kv[1], kv[0]))
        parts.append(f"Weakest phase: {name} ({fmt_num(value)}).")
    dims = [s.get("title") for s in report.get("strengths") or [] if isinstance(s, dict) and s.get("title")]
    if dims:
        parts.append("Done well: " + ", ".join(_lower_first(d) for d in dims) + ".")
    titles = {c.problem_id: c.problem["title"] for c in retrieval.contexts}
    if advice:
        first = advice[0]
        s = f"First fix: {_lower_first(titles[first.problem_id])} — \"{first.cue}\""
        if first.drill_id:
            s += f"; practise {drill_titles.get(first.drill_id, first.drill_id)}"
        parts.append(s + ".")
        rest = [_lower_first(titles[a.problem_id]) for a in advice[1:]]
        while rest:
            candidate = parts + ["Then: " + "; ".join(rest) + "."]
            if word_count(" ".join(candidate)) <= SUMMARY_MAX_WORDS:
                parts = candidate
                break
            rest = rest[:-1]
    elif report.get("problems") == []:
        parts.append("No problem was found: every measured value is inside its normal range.")
    text = " ".join(parts)
    words = text.split()
    return text if len(words) <= SUMMARY_MAX_WORDS else " ".join(words[:SUMMARY_MAX_WORDS])


def compose(report: dict, retrieval: Retrieval) -> GuidanceDraft:
    """The deterministic guidance for ``report`` from the retrieved entries only."""
    advice = []
    used: set[str] = set()
    notes = []
    drill_titles: dict[str, str] = {}
    for ctx in retrieval.contexts:
        cue = (ctx.entry.metadata.get("cue") if ctx.entry is not None else None) or ctx.problem.get("cue") or ""
        if ctx.entry is None:
            notes.append(f"no knowledge-base entry was retrieved for {ctx.problem_id}")
        cands = _drill_candidates(ctx, retrieval.action)
        drill = next((d for d in cands if d.id not in used), cands[0] if cands else None)
        if drill is None:
            notes.append(f"no drill was retrieved for {ctx.problem_id}")
            advice.append(Advice(ctx.problem_id, cue, None, None))
            continue
        used.add(drill.id)
        drill_titles[drill.id] = drill.title
        advice.append(Advice(ctx.problem_id, cue, drill.id, drill.metadata.get("prescription")))
    advice_t = tuple(advice)
    summary = compose_summary(report, retrieval, advice_t, drill_titles)
    return GuidanceDraft(summary, advice_t, _strength_sentences(report), tuple(notes))


def render_text(draft: GuidanceDraft, retrieval: Retrieval) -> str:
    """The guidance as the teacher reads it (the same layout for composer and model drafts)."""
    hits = retrieval.hits
    titles = {c.problem_id: c.problem["title"] for c in retrieval.contexts}
    lines = ["What is done well:"]
    lines += [f"- {s}" for s in draft.strengths] or ["- nothing stood out yet; every dimension has something to work on."]
    lines.append("What can be improved:")
    if not draft.advice:
        lines.append("- no problem was found in this attempt.")
    for n, a in enumerate(draft.advice, 1):
        line = f"{n}. {titles.get(a.problem_id, a.problem_id)}. Cue: \"{a.cue}\"."
        if a.drill_id:
            title = hits[a.drill_id].title if a.drill_id in hits else a.drill_id
            line += f" Drill: {title} [{a.drill_id}]: {a.prescription}."
        else:
            line += " No drill was retrieved for this problem."
        lines.append(line)
    if retrieval.general:
        lines.append("For the teacher: " + "; ".join(g.title for g in retrieval.general) + ".")
    lines.append(f"Summary: {draft.summary}")
    return "\n".join(lines)


def sources_of(draft: GuidanceDraft, retrieval: Retrieval) -> list[str]:
    """Entry ids the guidance draws on: problem entries, chosen drills, general entries shown."""
    out: list[str] = []
    entries = {c.problem_id: c.entry for c in retrieval.contexts}
    for a in draft.advice:
        e = entries.get(a.problem_id)
        if e is not None:
            out.append(e.id)
        if a.drill_id:
            out.append(a.drill_id)
    out += [g.id for g in retrieval.general]
    return list(dict.fromkeys(out))


def facts_text(report: dict, retrieval: Retrieval) -> str:
    """Every pre-computed fact of the report as text (what numbers a summary may quote)."""
    lines = diagnosis_lines(report, retrieval.action_name)
    for p in report.get("problems") or []:
        lines.append(f"{p.get('title', '')} {p.get('evidence') or ''}")
        if isinstance(p.get("probability"), (int, float)):
            lines.append(f"{100 * p['probability']:.0f}%")
    return "\n".join(lines)
