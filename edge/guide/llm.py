"""The language-model engine (llama.cpp through llama-cpp-python) and the grounding check.

The model is a GGUF file named in the configuration, loaded with an explicit ``chat_format`` and
context size ``n_ctx``. Its answer is constrained to the JSON schema :func:`draft_schema` (llama.cpp
turns the schema into a grammar, so the output always parses unless it is cut off): a summary, one
item per problem (``problem_id``, ``cue``, ``drill_id``, ``prescription``) and strengths. The schema
already restricts ``problem_id`` and ``drill_id`` to the report's problems and the retrieved drills.

Tokens are passed to ``on_token`` as they arrive. Generation runs in a worker thread and the caller
waits at most ``timeout_s`` (wall clock, prompt processing included); after that the answer is
abandoned and the worker stops at its next token.

:func:`check_draft` is the grounding rule for any guidance (model or composer): every problem of
the report is addressed once, every drill id was retrieved, every prescription has a number and
all its numbers appear in the chosen drill's retrieved text, the summary is under 140 words, and
every number in the summary, cues and strengths is a pre-computed fact of the report or appears
in the retrieved text. A model answer that breaks any of these is rejected with the reasons.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edge.guide.composer import SUMMARY_MAX_WORDS, GuidanceDraft, facts_text, word_count
from edge.guide.kb_schema import numbers_in
from edge.guide.retrieve import Retrieval, fusion_prompt

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"

SYSTEM_PROMPT = (
    "You are an assistant to a physical-education teacher. The analysis below was computed by the "
    "system; do not add facts. For each problem, give a short cue, choose one of the listed drills "
    "by its drill_id and copy its prescription exactly. List what was done well, then write a "
    f"summary of at most {SUMMARY_MAX_WORDS} words. Answer only with JSON."
)


class LLMError(RuntimeError):
    """The language model cannot be loaded or used; the message is one sentence."""


# Output schema and grounding ------------------------------------------------------------------
def draft_schema(problem_ids: list[str], drill_ids: list[str], max_summary_chars: int = 900) -> dict:
    """JSON schema of a model answer for these problems and retrieved drills (one item per problem)."""
    drill = {"type": "string", "enum": sorted(drill_ids)} if drill_ids else {"type": "string"}
    n = len(problem_ids)
    return {
        "type": "object",
        "properties": {
            "strengths": {"type": "array", "items": {"type": "string", "maxLength": 200}, "maxItems": 7},
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "problem_id": {"type": "string", "enum": list(problem_ids)} if problem_ids else {"type": "string"},
                        "cue": {"type": "string", "maxLength": 80},
                        "drill_id": drill,
                        "prescription": {"type": "string", "maxLength": 160},
                    },
                    "required": ["problem_id", "cue", "drill_id", "prescription"],
                },
                "minItems": n,
                "maxItems": n,
            },
            "summary": {"type": "string", "maxLength": max_summary_chars},
        },
        "required": ["strengths", "problems", "summary"],
    }


def parse_draft(text: str) -> tuple[GuidanceDraft | None, str | None]:
    """(draft, None) from the model's JSON text, or (None, reason) when it is not a valid answer."""
    try:
        data = json.loads(text)
    except ValueError:
        return None, f"the answer is not complete JSON ({len(text)} characters)"
    if not isinstance(data, dict) or not isinstance(data.get("problems"), list):
        return None, "the answer lacks the problems list"
    if not isinstance(data.get("summary"), str) or not isinstance(data.get("strengths"), list):
        return None, "the answer lacks the summary or the strengths"
    for i, p in enumerate(data["problems"]):
        fields = ("problem_id", "cue", "drill_id", "prescription")
        if not isinstance(p, dict) or not all(isinstance(p.get(k), str) for k in fields):
            return None, f"problem item {i} lacks problem_id, cue, drill_id or prescription"
    return GuidanceDraft.from_json(data), None


def check_draft(draft: GuidanceDraft, report: dict, retrieval: Retrieval) -> list[str]:
    """The reasons ``draft`` is not grounded in ``report`` and ``retrieval`` (empty: grounded)."""
    reasons = []
    hits = retrieval.hits
    retrieved_text = "\n".join(h.document for h in hits.values())
    allowed = numbers_in(facts_text(report, retrieval)) | numbers_in(retrieved_text)
    wanted = [c.problem_id for c in retrieval.contexts]
    given = [a.problem_id for a in draft.advice]
    for pid in wanted:
        if given.count(pid) == 0:
            reasons.append(f"problem {pid} is not addressed")
        elif given.count(pid) > 1:
            reasons.append(f"problem {pid} is addressed twice")
    for pid in set(given) - set(wanted):
        reasons.append(f"problem {pid} is not in the report")
    for a in draft.advice:
        if not a.cue.strip():
            reasons.append(f"problem {a.problem_id} has no cue")
        extra = numbers_in(a.cue) - allowed
        if extra:
            reasons.append(f"the cue for {a.problem_id} has numbers not in the facts or retrieved text: {_nums(extra)}")
        if a.drill_id is None:
            reasons.append(f"problem {a.problem_id} has no drill")
            continue
        hit = hits.get(a.drill_id)
        if hit is None or hit.kind != "drill":
            reasons.append(f"drill {a.drill_id!r} for {a.problem_id} was not retrieved")
            continue
        nums = numbers_in(a.prescription or "")
        if not nums:
            reasons.append(f"the prescription for {a.problem_id} has no quantity")
        extra = nums - numbers_in(hit.document)
        if extra:
            reasons.append(f"the prescription for {a.problem_id} has numbers not in drill {a.drill_id}: {_nums(extra)}")
    if not draft.summary.strip():
        reasons.append("the summary is empty")
    if word_count(draft.summary) > SUMMARY_MAX_WORDS:
        reasons.append(f"the summary has {word_count(draft.summary)} words (at most {SUMMARY_MAX_WORDS})")
    extra = numbers_in(draft.summary) - allowed
    if extra:
        reasons.append(f"the summary has numbers not in the facts or retrieved text: {_nums(extra)}")
    for s in draft.strengths:
        extra = numbers_in(s) - allowed
        if extra:
            reasons.append(f"a strength has numbers not in the facts: {_nums(extra)}")
    return reasons


def _nums(values: set[float]) -> str:
    return ", ".join(f"{v:g}" for v in sorted(values))


# The engine -------------------------------------------------------------------------------------
@dataclass
class Generation:
    """One model call. ``draft`` is set only when the answer was accepted."""

    ok: bool
    reason: str | None
    text: str = ""
    draft: GuidanceDraft | None = None
    n_tokens: int = 0
    prompt_tokens: int = 0
    ms: float = 0.0
    first_token_ms: float | None = None
    rejected: list[str] = field(default_factory=list)


def check_gguf(path: Path) -> None:
    """LLMError unless ``path`` is a readable file starting with the GGUF magic."""
    if not path.is_file():
        raise LLMError(f"the language model file {path} does not exist.")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise LLMError(f"the language model file {path} cannot be read ({e.strerror}).") from None
    if magic != GGUF_MAGIC:
        raise LLMError(f"the language model file {path} is not a GGUF file (it does not start with 'GGUF').")


class LlamaEngine:
    """A GGUF chat model on llama.cpp. Construction loads the model (LLMError on failure).

    ``chat_format``: llama-cpp-python chat template name (e.g. ``chatml`` for Qwen2.5 instruct).
    ``n_ctx``: context window in tokens (prompt + answer). ``max_tokens``: answer length limit.
    ``temperature`` 0 with a fixed ``seed`` makes answers repeatable.
    """

    def __init__(self, model_path: str | os.PathLike, chat_format: str = "chatml", n_ctx: int = 4096,
                 n_threads: int | None = None, max_tokens: int = 768, temperature: float = 0.0, seed: int = 7):
        path = Path(model_path)
        check_gguf(path)
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise LLMError(f"llama-cpp-python is not installed ({e}).") from None
        try:
            self._llm = Llama(model_path=str(path), n_ctx=int(n_ctx), n_threads=n_threads, chat_format=chat_format,
                              seed=int(seed), verbose=False)
        except (ValueError, RuntimeError, OSError) as e:
            why = str(e).splitlines()[0] if str(e) else e.__class__.__name__
            raise LLMError(f"llama.cpp could not load {path} ({why}).") from None
        self.path = path
        self.name = f"llama.cpp:{path.name}"
        self.chat_format = chat_format
        self.n_ctx = int(n_ctx)
        self.max_tokens = int(max_tokens)
        self.temperature = float(temperature)
        self.seed = int(seed)
        self._busy = threading.Lock()
        self._cancel = threading.Event()

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def messages(self, report: dict, retrieval: Retrieval, max_prompt_chars: int) -> list[dict]:
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": fusion_prompt(report, retrieval, max_chars=max_prompt_chars)},
        ]

    def generate(self, report: dict, retrieval: Retrieval, timeout_s: float = 20.0,
                 on_token: Callable[[str], None] | None = None) -> Generation:
        """Ask the model for guidance; the result says whether the answer was accepted and why not."""
        t0 = time.perf_counter()
        if not self._busy.acquire(blocking=False):
            return Generation(False, "the model is still finishing an abandoned answer")
        if self._llm is None:
            self._busy.release()
            return Generation(False, "the model was closed")
        # the prompt must leave room for the answer; ~3.5 characters per token is a safe bound to start from
        budget_tokens = self.n_ctx - self.max_tokens - 64
        if budget_tokens < 128:
            self._busy.release()
            return Generation(False, f"n_ctx {self.n_ctx} leaves no room for a prompt after {self.max_tokens} answer tokens")
        max_chars = int(budget_tokens * 3.5)
        messages = self.messages(report, retrieval, max_chars)
        prompt_tokens = self.count_tokens("\n".join(m["content"] for m in messages))
        while prompt_tokens > budget_tokens and max_chars > 500:
            max_chars = int(max_chars * 0.8)
            messages = self.messages(report, retrieval, max_chars)
            prompt_tokens = self.count_tokens("\n".join(m["content"] for m in messages))
        if prompt_tokens > budget_tokens:
            self._busy.release()
            return Generation(False, f"the prompt needs {prompt_tokens} tokens; n_ctx {self.n_ctx} is too small")
        schema = draft_schema([c.problem_id for c in retrieval.contexts], sorted(retrieval.drill_ids))
        cancel = threading.Event()
        self._cancel = cancel
        deadline = t0 + timeout_s
        state: dict = {"pieces": [], "first": None, "error": None, "done": False, "finish": None, "late": False}

        def work() -> None:
            try:
                stream = self._llm.create_chat_completion(
                    messages=messages,
                    response_format={"type": "json_object", "schema": schema},
                    temperature=self.temperature,
                    seed=self.seed,
                    max_tokens=self.max_tokens,
                    stream=True,
                )
                for chunk in stream:
                    if cancel.is_set() or time.perf_counter() > deadline:
                        state["late"] = True
                        break  # leaving the stream stops llama.cpp before its next token
                    choice = chunk["choices"][0]
                    piece = choice.get("delta", {}).get("content")
                    if choice.get("finish_reason"):
                        state["finish"] = choice["finish_reason"]
                    if piece:
                        if state["first"] is None:
                            state["first"] = time.perf_counter()
                        state["pieces"].append(piece)
                        if on_token is not None:
                            on_token(piece)
            except Exception as e:  # llama.cpp errors surface as ValueError/RuntimeError
                state["error"] = e
            finally:
                state["done"] = True
                self._busy.release()

        worker = threading.Thread(target=work, name="llama-generate", daemon=True)
        worker.start()
        worker.join(max(0.0, deadline - time.perf_counter()))
        ms = (time.perf_counter() - t0) * 1e3
        text = "".join(state["pieces"])
        first_ms = (state["first"] - t0) * 1e3 if state["first"] is not None else None
        n = len(state["pieces"])
        if not state["done"] or state["late"]:
            cancel.set()
            return Generation(False, f"timed out after {timeout_s:g} s ({n} tokens)", text, None, n, prompt_tokens, ms, first_ms)
        if state["error"] is not None:
            e = state["error"]
            return Generation(False, f"llama.cpp failed ({e.__class__.__name__}: {str(e)[:120]})", text, None, n,
                              prompt_tokens, ms, first_ms)
        if state["finish"] == "length":
            return Generation(False, f"the answer was cut off at {self.max_tokens} tokens", text, None, n, prompt_tokens,
                              ms, first_ms, ["cut off"])
        draft, why = parse_draft(text)
        if draft is None:
            return Generation(False, f"rejected: {why}", text, None, n, prompt_tokens, ms, first_ms, [why])
        reasons = check_draft(draft, report, retrieval)
        if reasons:
            more = f" (+{len(reasons) - 3} more)" if len(reasons) > 3 else ""
            return Generation(False, "rejected: " + "; ".join(reasons[:3]) + more, text, None, n, prompt_tokens, ms,
                              first_ms, reasons)
        return Generation(True, None, text, draft, n, prompt_tokens, ms, first_ms)

    def close(self, wait_s: float = 60.0) -> None:
        """Free the model once an abandoned answer has stopped (freeing it under a running
        generation would crash the process); if it does not stop within ``wait_s``, the model is
        left to the process exit."""
        llm = getattr(self, "_llm", None)
        if llm is None:
            return
        self._cancel.set()
        if not self._busy.acquire(timeout=wait_s):
            log.warning("the language model is still generating after %g s; not freeing it.", wait_s)
            return
        try:
            if hasattr(llm, "close"):
                llm.close()
            self._llm = None
        finally:
            self._busy.release()

