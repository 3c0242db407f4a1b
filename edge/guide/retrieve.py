"""SportsRAG retrieval (SportsGPT Sec. 3.2): query transformation, context retrieval, knowledge fusion.

1. **Query transformation.** Each KISMAM problem of the report (``id``, ``title``, ``evidence``)
   becomes one text query: ``"<action name>: <problem title>. <evidence>"`` — the semantic label
   plus the deviations that support it, worded from KISMAM's two strongest indicators ("take-off
   angle too low"; the evidence sentence when there are none). The queries are embedded in one batch
   (repeated query texts come from an LRU cache).
2. **Context retrieval.** For each query, the store returns the ``candidates`` nearest entries of
   the report's action and of ``general`` (Chroma ``where`` filter on ``action``) by cosine
   similarity to the entries' anchor texts (``store.entry_key``).
   *Re-ranking*: ``cosine + lex_weight * lexical``, where ``lexical`` is the cosine of hashed
   word/character features between the problem's label and the entry's label (its title; for a
   drill, the titles of the problems it fixes). MiniLM alone confuses opposites ("shallow" and
   "excessive" countermovement score alike); an exact word match does not.
   *Links*: a drill is relevant to whatever problem it fixes, so each retrieved problem entry
   passes its score on to the drills it links (``score(problem) - 0.001 * position``) when that is
   higher than the drill's own; linked drills outside the candidates are fetched by id. The
   ``top_k`` best of this ranking are the problem's context.
   *Anchoring*: KISMAM names the problem, so its own entry (``<action>_<problem id>``) and the
   drills it links are also looked up by id and appended when the query did not rank them in the
   top k (``ProblemContext.anchored`` says which; the evaluation's recall@5 is of the query
   ranking alone, without this step).
3. **Knowledge fusion.** :func:`fusion_prompt` concatenates the diagnosis (score, grade, phase
   scores, strengths, each problem with its evidence) with the retrieved knowledge into the prompt
   for the language model, within a character budget.

Nothing here reads the corpus files: everything the composer and the model see comes from the
store, so every word of guidance can be traced to a retrieved entry (``Retrieval.hits``).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edge.guide.store import Hit, KnowledgeStore, action_title

LINK_STEP = 1e-3  # how far below its problem a linked drill ranks, per position in the drill list
LEX_WEIGHT = 0.5  # weight of the lexical cosine added to the dense cosine when re-ranking
MAX_INDICATORS = 2  # strongest indicators worded into a query (each adds ~10 word pieces to embed)


class ReportError(ValueError):
    """The report cannot be guided (missing or malformed diagnosis); one sentence."""


def action_name(action: str) -> str:
    """The action's display name from its spec, or the id in words when there is no spec."""
    return action_title(action)


def check_report(report: dict) -> None:
    """Raise ReportError unless ``report`` has an action and a list of problems with id and title."""
    if not isinstance(report, dict):
        raise ReportError("a report must be a JSON object.")
    if not isinstance(report.get("action"), str):
        raise ReportError("the report has no action.")
    problems = report.get("problems")
    if not isinstance(problems, list):
        raise ReportError("the report has no list of problems (KISMAM did not run).")
    for i, p in enumerate(problems):
        if not isinstance(p, dict) or not isinstance(p.get("id"), str) or not isinstance(p.get("title"), str):
            raise ReportError(f"problem {i} of the report lacks an id or a title.")


def problem_evidence(problem: dict, max_indicators: int = MAX_INDICATORS) -> str:
    """The evidence as words: each fired indicator's metric title and direction ("... too low"),
    from KISMAM's ``indicators``; the evidence sentence itself when the report has no indicators.
    Numbers carry no meaning for a text embedder, so the indicator form leaves them out."""
    inds = problem.get("indicators")
    if isinstance(inds, list) and inds and all(isinstance(i, dict) and i.get("title") for i in inds):
        words = [f"{i['title']} too {'low' if i.get('side') == 'low' else 'high'}" for i in inds[:max_indicators]]
        return "; ".join(words) + "."
    return (problem.get("evidence") or "").strip()


def problem_query(problem: dict, name: str, max_indicators: int = MAX_INDICATORS) -> str:
    """Query transformation: the problem's label plus its evidence (the ``max_indicators``
    strongest indicators), prefixed by the action's name."""
    title = problem["title"].strip().rstrip(".")
    return f"{name}: {title}. {problem_evidence(problem, max_indicators)}".strip()


@dataclass(frozen=True)
class ProblemContext:
    """What was retrieved for one problem of the report.

    ``hits``: the final top-k ranking, followed by ``anchored`` entries; ``dense``: the plain cosine
    ranking of the candidates (before drills inherit their problem's score); ``entry``: the
    problem's own knowledge-base entry (``<action>_<id>``); ``drills``: the drills that entry
    links, in the entry's order; ``anchored``: ids of those two that the query did not rank in the
    top k and that were fetched by id (KISMAM names the problem, so its entry is looked up too).
    """

    problem: dict
    query: str
    hits: tuple[Hit, ...]
    dense: tuple[Hit, ...]
    entry: Hit | None
    drills: tuple[Hit, ...]
    anchored: tuple[str, ...] = ()

    @property
    def problem_id(self) -> str:
        return self.problem["id"]


@dataclass(frozen=True)
class Retrieval:
    """The retrieved knowledge for one report (one :class:`ProblemContext` per problem)."""

    action: str
    action_name: str
    contexts: tuple[ProblemContext, ...]
    general: tuple[Hit, ...]
    embed_ms: float
    query_ms: float

    @property
    def hits(self) -> dict[str, Hit]:
        """Every retrieved entry by id."""
        out: dict[str, Hit] = {}
        for c in self.contexts:
            for h in c.hits:
                out.setdefault(h.id, h)
        for h in self.general:
            out.setdefault(h.id, h)
        return out

    @property
    def drill_ids(self) -> set[str]:
        return {i for i, h in self.hits.items() if h.kind == "drill"}

    @property
    def ms(self) -> float:
        return self.embed_ms + self.query_ms


class Retriever:
    """Query transformation + context retrieval over an open :class:`KnowledgeStore`.

    ``top_k``: entries kept per problem; ``candidates``: how many nearest entries Chroma returns
    per query before drills inherit scores; ``n_general``: general entries kept for the report.
    """

    def __init__(self, store: KnowledgeStore, top_k: int = 8, candidates: int = 24, n_general: int = 2,
                 lex_weight: float = LEX_WEIGHT, cache_size: int = 1024):
        if not 1 <= top_k <= candidates:
            raise ValueError(f"need 1 <= top_k <= candidates, got top_k={top_k}, candidates={candidates}.")
        if lex_weight < 0:
            raise ValueError(f"lex_weight must be >= 0, got {lex_weight}.")
        self.store = store
        self.lex_weight = float(lex_weight)
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.top_k = int(top_k)
        self.candidates = int(candidates)
        self.n_general = int(n_general)

    def embed_queries(self, queries: Sequence[str]) -> np.ndarray:
        """(Q, dim) query embeddings; texts seen before come from an LRU cache (the same problem
        with the same indicators gives the same query text, so a lesson repeats them often)."""
        todo = [t for t in dict.fromkeys(queries) if t not in self._cache]
        if todo:
            for t, v in zip(todo, self.store.embedder.embed(todo)):
                self._cache[t] = v
        for t in queries:
            self._cache.move_to_end(t)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        if not queries:
            return np.zeros((0, self.store.embedder.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in queries])

    def clear_cache(self) -> None:
        self._cache.clear()

    def warm_up(self) -> None:
        """One throw-away query so the first real one does not pay for loading (HNSW, sessions)."""
        q = self.store.embedder.embed(["warm-up"])
        self.store.query(q, 1, ["general"])
        self.store.lexical_scores(["warm-up"], [[]])

    def rank(self, queries: Sequence[str], action: str, labels: Sequence[str] | None = None
             ) -> tuple[list[list[Hit]], list[list[Hit]], float, float]:
        """(final rankings, dense rankings, embed ms, query ms) for ``queries`` of one action;
        ``labels`` (the problem titles; default the queries) are what lexical re-ranking compares."""
        t0 = time.perf_counter()
        q = self.embed_queries(queries)
        t1 = time.perf_counter()
        dense = self.store.query(q, self.candidates, [action, "general"]) if len(queries) else []
        # hybrid re-ranking: dense cosine + LEX_WEIGHT x lexical cosine of the anchor texts
        labels = list(queries) if labels is None else list(labels)
        lex = self.store.lexical_scores(labels, [[h.id for h in hits] for hits in dense]) if self.lex_weight else None
        ranked = []
        for k, hits in enumerate(dense):
            if lex is None:
                ranked.append(list(hits))
                continue
            mixed = [_with_score(h, h.score + self.lex_weight * float(s)) for h, s in zip(hits, lex[k])]
            ranked.append(sorted(mixed, key=lambda h: (-h.score, h.id)))
        # drills inherit the score of the problems that link them
        missing: set[str] = set()
        for hits in ranked:
            have = {h.id for h in hits}
            for h in hits:
                if h.kind == "problem":
                    missing.update(d for d in h.metadata.get("drills", []) if d not in have)
        fetched = self.store.get(sorted(missing)) if missing else {}
        final = []
        for hits in ranked:
            by_id = {h.id: h for h in hits}
            score = {h.id: h.score for h in hits}
            for h in hits:
                if h.kind != "problem":
                    continue
                for k, d in enumerate(h.metadata.get("drills", [])):
                    s = h.score - LINK_STEP * (k + 1)
                    if d in by_id or d in fetched:
                        if s > score.get(d, -np.inf):
                            score[d] = s
                            by_id.setdefault(d, fetched.get(d))
            order = sorted(score, key=lambda i: (-score[i], i))
            final.append([_with_score(by_id[i], score[i]) for i in order])
        t2 = time.perf_counter()
        return final, dense, (t1 - t0) * 1e3, (t2 - t1) * 1e3

    def retrieve(self, report: dict) -> Retrieval:
        """Retrieve knowledge for every problem of ``report`` (a dict shaped like edge/report.py)."""
        check_report(report)
        action = report["action"]
        name = action_name(action)
        problems = list(report["problems"])
        queries = [problem_query(p, name) for p in problems]
        final, dense, embed_ms, query_ms = self.rank(queries, action, [p["title"] for p in problems])
        t0 = time.perf_counter()
        own = self.store.get([f"{action}_{p['id']}" for p in problems]) if problems else {}
        own = {k: h for k, h in own.items() if h.kind == "problem"}
        linked = self.store.get(sorted({d for h in own.values() for d in h.metadata.get("drills", [])})) if own else {}
        contexts = []
        general_best: dict[str, Hit] = {}
        for p, qtext, hits, dhits in zip(problems, queries, final, dense):
            top = list(hits[: self.top_k])
            got = {h.id: h for h in top}
            ranked = {h.id: h for h in hits}
            entry = own.get(f"{action}_{p['id']}")
            anchored = []
            if entry is not None:
                for eid in [entry.id] + list(entry.metadata.get("drills", [])):
                    if eid not in got:
                        h = ranked.get(eid) or (entry if eid == entry.id else linked.get(eid))
                        if h is not None:
                            top.append(h)
                            got[eid] = h
                            anchored.append(eid)
                entry = got[entry.id]
            linked_ids = entry.metadata.get("drills", []) if entry else []
            drills = tuple(got[d] for d in linked_ids if d in got and got[d].kind == "drill")
            contexts.append(ProblemContext(p, qtext, tuple(top), tuple(dhits), entry, drills, tuple(anchored)))
            for h in top[: self.top_k]:
                if h.kind == "general" and (h.id not in general_best or h.score > general_best[h.id].score):
                    general_best[h.id] = h
        query_ms += (time.perf_counter() - t0) * 1e3
        general = tuple(sorted(general_best.values(), key=lambda h: (-h.score, h.id))[: self.n_general])
        return Retrieval(action, name, tuple(contexts), general, embed_ms, query_ms)


def _with_score(hit: Hit, score: float) -> Hit:
    return hit if hit.score == score else Hit(hit.id, hit.document, hit.metadata, float(score))


# Knowledge fusion ---------------------------------------------------------------------------------
def fmt_num(v) -> str:
    return f"{v:.0f}" if isinstance(v, (int, float)) else str(v)


def diagnosis_lines(report: dict, name: str) -> list[str]:
    """The pre-computed facts of the report, one per line (score, grade, phases, strengths)."""
    lines = [f"Action: {name}."]
    score, grade = report.get("score"), report.get("grade")
    if score is not None or grade is not None:
        lines.append(f"Score: {fmt_num(score) if score is not None else 'not computed'}"
                     f" (grade {grade if grade is not None else 'not computed'}).")
    phases = report.get("phase_scores")
    if phases:
        lines.append("Phase scores: " + ", ".join(f"{k} {fmt_num(v)}" for k, v in phases.items()) + ".")
    for s in report.get("strengths") or []:
        lines.append("Done well: " + strength_sentence(s))
    return lines


_DONE_WELL = re.compile(r"^done well\s*(\([^)]*\))?\s*:\s*", re.IGNORECASE)


def strength_sentence(strength) -> str:
    """One strength of the report (KISMAM dict or plain text) as '<Dimension>: <metrics>'."""
    if isinstance(strength, dict):
        text = _DONE_WELL.sub("", str(strength.get("text") or "")).strip()
        title = str(strength.get("title") or "").strip()
        return f"{title}: {text}" if title and text else (title or text)
    return _DONE_WELL.sub("", str(strength)).strip()


def _body(hit: Hit) -> str:
    """The entry's main text: its document without the heading line."""
    parts = hit.document.split("\n", 2)
    return parts[1] if len(parts) > 1 else hit.document


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: max(0, n - 1)].rstrip() + "…"


def fusion_prompt(report: dict, retrieval: Retrieval, max_chars: int = 6000, entry_chars: int = 400) -> str:
    """Knowledge fusion: the diagnosis and, per problem, its retrieved entry, cue and drills (id,
    title, prescription), then the retrieved general guidance; shortened to ``max_chars`` by
    clipping the entry texts first, then dropping the general guidance."""

    def build(ec: int, with_general: bool) -> str:
        lines = diagnosis_lines(report, retrieval.action_name)
        lines.append("")
        lines.append("Problems found by the analysis, most likely first:")
        for n, c in enumerate(retrieval.contexts, 1):
            p = c.problem
            prob = p.get("probability")
            pct = f" (probability {100 * prob:.0f}%)" if isinstance(prob, (int, float)) else ""
            lines.append(f"{n}. problem_id={p['id']}: {p['title']}{pct}.")
            if p.get("evidence"):
                lines.append(f"   Evidence: {p['evidence']}")
            if c.entry is not None:
                if ec > 0:
                    lines.append(f"   Knowledge: {_clip(_body(c.entry), ec)}")
                lines.append(f"   Cue: {c.entry.metadata.get('cue', '')}")
            drills = c.drills or tuple(h for h in c.hits if h.kind == "drill")[:2]
            for d in drills:
                lines.append(f"   Drill drill_id={d.id}: {d.title}. Prescription: {d.metadata.get('prescription', '')}")
        if with_general and retrieval.general:
            lines.append("")
            lines.append("General guidance:")
            for g in retrieval.general:
                lines.append(f"- {g.title}: {_clip(_body(g), ec)}")
        return "\n".join(lines)

    for ec, gen in ((entry_chars, True), (entry_chars // 2, True), (entry_chars // 2, False), (0, False)):
        text = build(ec, gen)
        if len(text) <= max_chars:
            return text
    return text[:max_chars]
