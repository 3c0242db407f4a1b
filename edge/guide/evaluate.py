"""``fieldcoach eval guide``: SportsRAG measured on simulated diagnoses of every action.

Diagnoses are simulated at the metric level and run through the real KISMAM (``edge.diagnose.assess``):
every metric of the spec starts inside its normal range; each injected fault pushes its problem's
indicator metrics outside, on the indicated side, by ``0.25 + 0.5 * severity`` range widths. Per
action this gives one single-fault report per problem and ``n_random`` reports with 2–4 faults
(seeded). Score, grade and phase scores are simulated too (they are only words to the guide).

Measured (``evaluate_guide``):

- ``grounding_rate``: share of reports whose guidance passes ``llm.check_draft`` (every problem
  addressed, drills retrieved, prescription numbers from the drill's text, summary < 140 words,
  every other number a fact of the report or of the retrieved text);
- ``coverage``: share of top problems with a cue, a drill and a prescription;
- ``quantified_share``: share of prescriptions that contain a quantity;
- ``recall_at_5``: for each problem's own query (label + evidence from its single-fault report),
  the share of its relevant entries (its problem entry and the drills it links) in the top 5 of
  the query ranking (re-ranked, without the by-id anchoring), over min(5, number relevant);
  ``dense_recall_at_5`` is the same on the plain cosine ranking;
- latency percentiles of retrieval, of the composer including retrieval (cold: the query cache is
  cleared before each report; warm: the same report again), and of the model engine (on ``llm_n``
  reports, when a model is configured).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Iterable

import numpy as np

from edge.actions.spec import ACTION_IDS, ActionSpec, ActionSpecError, load_action
from edge.guide.composer import compose
from edge.guide.guide import Guide
from edge.guide.kb_schema import numbers_in
from edge.guide.llm import check_draft

RECALL_K = 5


# Simulated diagnoses ------------------------------------------------------------------------------
def simulated_values(spec: ActionSpec, faults: dict[str, float], rng: np.random.Generator) -> dict[str, float]:
    """Metric values: inside the normal range, except the indicators of ``faults`` (id -> severity)."""
    values = {}
    for m in spec.metrics:
        lo, hi = m.range
        values[m.id] = float(lo + (hi - lo) * rng.uniform(0.3, 0.7))
    for pid, sev in faults.items():
        prob = spec.problem(pid)
        for ind in prob.indicators:
            lo, hi = spec.metric(ind.metric).range
            out = (0.25 + 0.5 * float(sev)) * (hi - lo)
            values[ind.metric] = float(lo - out if ind.side == "low" else hi + out)
    return values


def simulated_report(spec: ActionSpec, faults: dict[str, float], rng: np.random.Generator) -> dict:
    """A report dict (edge/report.py keys that guidance reads) from a metric-level simulation."""
    from edge.diagnose import assess
    from edge.sim.labels import grade

    a = assess(spec, simulated_values(spec, faults, rng))
    burden = sum(faults.values())
    score = float(np.clip(92.0 - 14.0 * burden + rng.normal(0, 3), 0, 100))
    phases = {}
    for ph in spec.phase_names:
        hit = sum(s for pid, s in faults.items() if spec.problem(pid).phase == ph)
        phases[ph] = round(float(np.clip(90.0 - 30.0 * hit + rng.normal(0, 4), 0, 100)), 1)
    return {
        "action": spec.id,
        "score": round(score, 1),
        "grade": grade(score),
        "phase_scores": phases,
        "metrics": [m.to_report() for m in a.metrics],
        "problems": [p.to_report() for p in a.problems],
        "strengths": [s.to_report() for s in a.strengths],
        "guidance": None,
        "simulated_faults": dict(faults),
        "_ranking": [p.to_report() for p in a.ranking],
    }


def simulated_reports(actions: Iterable[str] | None = None, n_random: int = 10, seed: int = 7
                      ) -> tuple[list[dict], dict[str, str]]:
    """(reports, skipped actions with the reason): single-fault reports for every problem of every
    action, then ``n_random`` multi-fault reports per action."""
    reports, skipped = [], {}
    for action in actions or ACTION_IDS:
        try:
            spec = load_action(action)
        except ActionSpecError as e:
            skipped[action] = str(e)
            continue
        rng = np.random.default_rng([seed, ACTION_IDS.index(action) if action in ACTION_IDS else 99])
        for p in spec.problems:
            reports.append(simulated_report(spec, {p.id: float(rng.uniform(0.4, 1.0))}, rng))
            reports[-1]["_single"] = p.id
        ids = [p.id for p in spec.problems]
        for _ in range(n_random):
            k = int(rng.integers(2, 5))
            chosen = rng.choice(len(ids), size=min(k, len(ids)), replace=False)
            reports.append(simulated_report(spec, {ids[i]: float(rng.uniform(0.3, 1.0)) for i in chosen}, rng))
    return reports, skipped


# Metrics -----------------------------------------------------------------------------------------
def percentiles(ms: list[float]) -> dict:
    if not ms:
        return {"n": 0}
    a = np.asarray(ms)
    return {"n": len(ms), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max())}


def relevant_ids(guide: Guide, action: str, problem_id: str) -> list[str]:
    """The problem's own entry and the drills it links (empty when the store lacks the entry)."""
    eid = f"{action}_{problem_id}"
    got = guide.store.get([eid])
    if eid not in got:
        return []
    return [eid] + list(got[eid].metadata.get("drills", []))


def retrieval_recall(guide: Guide, reports: list[dict], k: int = RECALL_K) -> dict:
    """recall@k of each problem's own query (single-fault reports), re-ranked and dense."""
    recalls, dense_recalls, full, rr, misses, missing_entry = [], [], 0, [], [], []
    for r in reports:
        pid = r.get("_single")
        if pid is None:
            continue
        finding = next((p for p in r["_ranking"] if p["id"] == pid), None)
        if finding is None:
            missing_entry.append(f"{r['action']}/{pid}: not diagnosed by its own fault")
            continue
        rel = relevant_ids(guide, r["action"], pid)
        if not rel:
            missing_entry.append(f"{r['action']}/{pid}: no knowledge-base entry")
            recalls.append(0.0)
            dense_recalls.append(0.0)
            continue
        from edge.guide.retrieve import action_name, problem_query

        q = problem_query(finding, action_name(r["action"]))
        final, dense, _, _ = guide.retriever.rank([q], r["action"], [finding["title"]])
        top = [h.id for h in final[0][:k]]
        dtop = [h.id for h in dense[0][:k]]
        denom = min(k, len(rel))  # a problem with more than k-1 drills can still score 1.0
        got = min(1.0, len(set(rel) & set(top)) / denom)
        recalls.append(got)
        dense_recalls.append(min(1.0, len(set(rel) & set(dtop)) / denom))
        full += got == 1.0
        ids = [h.id for h in final[0]]
        rr.append(1.0 / (ids.index(rel[0]) + 1) if rel[0] in ids else 0.0)
        if got < 1.0:
            misses.append({"problem": f"{r['action']}/{pid}", "relevant": rel, "top5": top})
    n = len(recalls)
    return {
        "recall_at_5": float(np.mean(recalls)) if n else None,
        "dense_recall_at_5": float(np.mean(dense_recalls)) if n else None,
        "all_relevant_in_top5_share": full / n if n else None,
        "problem_entry_mrr": float(np.mean(rr)) if rr else None,
        "n_queries": n,
        "misses": misses[:20],
        "not_evaluated": missing_entry,
    }


def composer_metrics(guide: Guide, reports: list[dict]) -> dict:
    grounded, covered, total_problems, quantified, n_rx, lat, ret_lat = 0, 0, 0, 0, 0, [], []
    reasons: Counter = Counter()
    per_action: dict[str, dict] = {}
    warm = []
    for r in reports:
        guide.retriever.clear_cache()  # cold: every query is embedded
        t0 = time.perf_counter()
        retrieval = guide.retriever.retrieve(r)
        draft = compose(r, retrieval)
        lat.append((time.perf_counter() - t0) * 1e3)
        ret_lat.append(retrieval.ms)
        t0 = time.perf_counter()
        compose(r, guide.retriever.retrieve(r))  # warm: the same queries again, from the cache
        warm.append((time.perf_counter() - t0) * 1e3)
        why = check_draft(draft, r, retrieval)
        ok = not why
        grounded += ok
        for w in why:
            reasons[w.split(":")[0]] += 1
        pa = per_action.setdefault(r["action"], {"reports": 0, "grounded": 0, "problems": 0, "covered": 0})
        pa["reports"] += 1
        pa["grounded"] += ok
        for a in draft.advice:
            total_problems += 1
            pa["problems"] += 1
            full = bool(a.cue and a.drill_id and a.prescription)
            covered += full
            pa["covered"] += full
            if a.prescription is not None:
                n_rx += 1
                quantified += bool(numbers_in(a.prescription))
    n = len(reports)
    return {
        "grounding_rate": grounded / n if n else None,
        "coverage": covered / total_problems if total_problems else None,
        "quantified_share": quantified / n_rx if n_rx else None,
        "latency_ms": percentiles(lat),
        "latency_warm_cache_ms": percentiles(warm),
        "retrieval_latency_ms": percentiles(ret_lat),
        "ungrounded_reasons": dict(reasons.most_common(10)),
        "per_action": {
            a: {"reports": v["reports"], "grounding_rate": v["grounded"] / v["reports"],
                "coverage": v["covered"] / v["problems"] if v["problems"] else None}
            for a, v in per_action.items()
        },
    }


def llm_metrics(guide: Guide, reports: list[dict], n: int) -> dict:
    engine = guide.engine if n > 0 else None
    if engine is None:
        return {"available": False, "reason": guide.engine_error if n > 0 else "not asked (llm_n = 0)"}
    accepted, lat, first, reasons = 0, [], [], Counter()
    for r in reports[:n]:
        retrieval = guide.retriever.retrieve(r)
        gen = engine.generate(r, retrieval, guide.config.timeout_s)
        lat.append(gen.ms)
        if gen.first_token_ms is not None:
            first.append(gen.first_token_ms)
        accepted += gen.ok
        if not gen.ok:
            reasons[(gen.reason or "").split(":")[0][:80]] += 1
    return {
        "available": True,
        "engine": engine.name,
        "n": len(lat),
        "acceptance_rate": accepted / len(lat) if lat else None,
        "grounding_rate_of_accepted": 1.0 if accepted else None,
        "latency_ms": percentiles(lat),
        "first_token_ms": percentiles(first),
        "rejections": dict(reasons),
    }


def evaluate_guide(guide: Guide, actions: Iterable[str] | None = None, n_random: int = 10, seed: int = 7,
                   llm_n: int = 3) -> dict:
    """All SportsRAG metrics over simulated diagnoses (see the module docstring)."""
    reports, skipped = simulated_reports(actions, n_random, seed)
    comp = composer_metrics(guide, reports)
    ret = retrieval_recall(guide, reports)
    llm = llm_metrics(guide, [r for r in reports if r["problems"]], llm_n)
    return {
        "corpus_version": guide.store.info.corpus_version,
        "embedder": guide.store.info.embedder,
        "n_reports": len(reports),
        "actions": sorted({r["action"] for r in reports}),
        "skipped_actions": skipped,
        "grounding_rate": comp["grounding_rate"],
        "coverage": comp["coverage"],
        "quantified_share": comp["quantified_share"],
        "recall_at_5": ret["recall_at_5"],
        "composer": comp,
        "retrieval": ret,
        "llm": llm,
    }


def run_guide_eval(config=None, actions: Iterable[str] | None = None, n_random: int = 10, seed: int = 7,
                   llm_n: int = 3) -> dict:
    """``fieldcoach eval guide --json``: open the guide from ``config`` (a GuideConfig) and evaluate."""
    from edge.guide.guide import GuideConfig

    with Guide(config or GuideConfig()) as g:
        return evaluate_guide(g, actions, n_random, seed, llm_n)
