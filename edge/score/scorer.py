"""The scorer as the appliance uses it: a verified model bundle behind one of three backends.

``Scorer.load(models_dir, action, backend="auto")``:

1. ``edge.score.bundle.load_bundle``: card present and valid, ``scorer.onnx`` hashing to the card's
   sha256 (a corrupt or swapped file fails here with one sentence), golden samples readable;
2. ``edge.score.backends.open_backend``: TensorRT when the bundle holds ``scorer.engine`` and the
   libraries load, else ONNX Runtime CUDA, else ONNX Runtime CPU; the choice is logged;
3. golden-sample parity: the backend scores the golden inputs and must reproduce the scores
   recorded at export within ``parity_tolerance`` points (0.05 for ONNX Runtime, 1.0 for TensorRT
   FP16); otherwise ``ModelFileError``.

ONNX Runtime uses one intra-op thread by default: on the shared 2-core machine one thread gave
p99 10.8 ms at 90 frames where two gave 34.6 ms (median 6.4 vs 2.6 ms; two spinning threads
collide with the other processes).

``score(seq)`` prepares one attempt (``edge.score.preprocess``) and returns a ``ScoreResult``;
``score_batch(seqs)`` scores several in one backend call. ``ScoringQueue`` batches attempts that
arrive close together (up to ``max_batch`` = 4, the paper's batch, waiting at most ``max_wait_ms``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.score.backends import open_backend
from edge.score.bundle import Bundle, ModelFileError, load_bundle
from edge.score.preprocess import prepare_input
from edge.skeleton.sequence import SkeletonSequence

LOG = logging.getLogger("fieldcoach.score")
ENGINE_FILE = "scorer.engine"
#: Default golden parity tolerance in points per backend (TensorRT runs in FP16).
PARITY_TOLERANCE = {"tensorrt": 1.0, "ort-cuda": 0.05, "ort-cpu": 0.05}
#: Grade names and lower bounds (national student physical fitness standard), best first.
DEFAULT_GRADES = (("excellent", 90.0), ("good", 80.0), ("medium", 70.0), ("pass", 60.0))
FAIL = "fail"


@dataclass(frozen=True)
class ScoreResult:
    """One attempt's score (0-100), grade, phase scores (phase name -> points) and the model used."""

    score: float
    grade: str
    phase_scores: dict[str, float] | None
    grade_probabilities: dict[str, float]
    model: dict


def grade_of(score: float, grades=DEFAULT_GRADES) -> str:
    for name, lo in grades:
        if score >= lo:
            return name
    return FAIL


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class Scorer:
    """A loaded, verified scorer for one action (see the module docstring)."""

    def __init__(self, bundle: Bundle, backend, phase_names: list[str] | None, parity: float):
        self.bundle = bundle
        self.backend = backend
        self.phase_names = phase_names
        self.parity = parity
        self.action = str(bundle.card["action"])
        cfg = bundle.card.get("config", {})
        thresholds = cfg.get("loss", {}).get("grade_thresholds", [g for _, g in DEFAULT_GRADES])
        names = [n for n, _ in DEFAULT_GRADES]
        if len(thresholds) != len(names):
            raise ModelFileError("the model card's grade thresholds do not match the five national-standard grades.")
        self.grades = tuple(zip(names, (float(t) for t in thresholds)))

    @classmethod
    def load(
        cls,
        models_dir: str | Path,
        action: str,
        backend: str = "auto",
        parity_tolerance: float | None = None,
        threads: int = 1,
    ) -> "Scorer":
        directory = Path(models_dir) / action
        bundle = load_bundle(directory)
        if bundle.card["action"] != action:
            raise ModelFileError(f"the model in {directory} is for {bundle.card['action']}, not {action}.")
        be = open_backend(bundle.model_path, backend, engine_path=directory / ENGINE_FILE, threads=threads)
        tol = PARITY_TOLERANCE.get(be.name, 0.05) if parity_tolerance is None else float(parity_tolerance)
        got = be.run(bundle.golden_x)["score"]
        worst = float(np.max(np.abs(got - bundle.golden_score)))
        if not np.isfinite(worst) or worst > tol:
            raise ModelFileError(
                f"the {be.name} backend misses the golden scores of {directory} by {worst:.3g} points (tolerance {tol})."
            )
        LOG.info("scorer %s: %s via %s, golden parity %.2e points", action, bundle.card["version"], be.name, worst)
        try:
            from edge.actions.spec import load_action

            phases = load_action(action).phase_names
        except Exception:  # an action without a spec still scores; phases are then numbered
            phases = None
        return cls(bundle, be, phases, worst)

    @property
    def model_info(self) -> dict:
        """``{name, version, sha256, backend}`` for the report's ``model`` field."""
        c = self.bundle.card
        return {"name": c["name"], "version": c["version"], "sha256": c["sha256"], "backend": self.backend.name}

    def prepare(self, seq: SkeletonSequence) -> np.ndarray:
        return prepare_input(seq, self.bundle.input_spec)

    def score_inputs(self, x: np.ndarray) -> list[ScoreResult]:
        """Score prepared inputs (N, C, T, 17) in one backend call."""
        out = self.backend.run(x)
        scores = np.clip(out["score"], 0.0, 100.0)
        probs = _softmax(out["grade_logits"]) if "grade_logits" in out else None
        names = [n for n, _ in self.grades] + [FAIL]
        results = []
        for i, s in enumerate(scores):
            phase = None
            if "phase_scores" in out:
                ps = np.clip(out["phase_scores"][i], 0.0, 100.0)
                labels = self.phase_names if self.phase_names and len(self.phase_names) == len(ps) else [f"phase_{k + 1}" for k in range(len(ps))]
                phase = {name: float(v) for name, v in zip(labels, ps)}
            gp = {n: float(p) for n, p in zip(names, probs[i])} if probs is not None else {}
            results.append(ScoreResult(float(s), grade_of(float(s), self.grades), phase, gp, self.model_info))
        return results

    def score(self, seq: SkeletonSequence) -> ScoreResult:
        return self.score_inputs(self.prepare(seq)[None])[0]

    def score_batch(self, seqs: list[SkeletonSequence]) -> list[ScoreResult]:
        if not seqs:
            return []
        return self.score_inputs(np.stack([self.prepare(s) for s in seqs]))


class ScoringQueue:
    """Batches queued attempts: a worker thread takes up to ``max_batch`` waiting attempts at a time.

    ``submit(seq)`` returns a ``Future`` resolving to a ``ScoreResult`` (or raising the attempt's
    own error). The worker waits at most ``max_wait_ms`` for a batch to fill. ``close()`` finishes
    the queued work and stops the thread.
    """

    def __init__(self, scorer: Scorer, max_batch: int = 4, max_wait_ms: float = 20.0):
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_ms >= 0.")
        self.scorer = scorer
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1e3
        self.batch_sizes: list[int] = []
        self._q: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="fieldcoach-scorer", daemon=True)
        self._closed = False
        self._thread.start()

    def submit(self, seq: SkeletonSequence) -> Future:
        if self._closed:
            raise RuntimeError("the scoring queue is closed.")
        fut: Future = Future()
        try:
            x = self.scorer.prepare(seq)
        except ValueError as e:
            fut.set_exception(e)
            return fut
        self._q.put((x, fut))
        return fut

    def _work(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            batch = [item]
            deadline = time.monotonic() + self.max_wait
            stop = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._q.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            # Inputs of different lengths cannot share a call: group by shape.
            groups: dict[tuple, list] = {}
            for x, fut in batch:
                groups.setdefault(x.shape, []).append((x, fut))
            for items in groups.values():
                self.batch_sizes.append(len(items))
                try:
                    results = self.scorer.score_inputs(np.stack([x for x, _ in items]))
                    for (_, fut), r in zip(items, results):
                        fut.set_result(r)
                except Exception as e:  # handed to every waiting caller, not lost in the thread
                    for _, fut in items:
                        fut.set_exception(e)
            if stop:
                return

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._q.put(None)
            self._thread.join()
