"""``fieldcoach bench scorer``: scorer latency per input length and batch, beside the paper's Table 9.

Rows: PyTorch FP32 (the card's architecture; needs torch, so only on a training machine; latency
does not depend on the weight values, so the card's config with its default initialisation is
timed), ONNX Runtime FP32 (``scorer.onnx``), ONNX Runtime pruned (``scorer_pruned.onnx`` from
``export.prune``, when present), ONNX Runtime FP16 (``scorer_fp16.onnx``, when present) and TensorRT
FP16 (``scorer.engine`` and the TensorRT libraries, when present). Columns: 30, 60, 90, 120 frames at
batch 1 and 90 frames at batch 4; each cell is the median and the 99th percentile of ``runs``
wall-clock timings after ``warmup`` runs (ms), plus the median CPU time of the process per run.
A row that cannot run says why instead of numbers.

The paper's Jetson Nano figures (Table 9; batch 4 from Sec. 7.2) are printed beside: original
FP32, TensorRT FP16, pruning + TensorRT FP16.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edge.score.backends import BackendUnavailable, OrtBackend, TensorRTBackend
from edge.score.bundle import load_bundle

FRAMES = (30, 60, 90, 120)
BATCH_FRAMES = 90
BATCH = 4
#: Table 9 of the adaptive-GCN paper (Jetson Nano, ms): length -> (FP32, TensorRT FP16, pruning + TensorRT).
PAPER_TABLE9 = {30: (28.3, 14.8, 12.4), 60: (52.6, 29.5, 21.8), 90: (74.2, 41.3, 28.6), 120: (96.5, 68.9, 52.7)}
#: Sec. 7.2: batch 4 at 90 frames with pruning + TensorRT, whole batch (ms).
PAPER_BATCH4_90 = 85.3


def time_call(fn, x: np.ndarray, runs: int, warmup: int) -> dict[str, float]:
    """median / p99 wall ms and median process CPU ms of ``fn(x)``."""
    for _ in range(warmup):
        fn(x)
    wall = np.empty(runs)
    cpu = np.empty(runs)
    for i in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        fn(x)
        wall[i] = (time.perf_counter() - t0) * 1e3
        cpu[i] = (time.process_time() - c0) * 1e3
    return {"median_ms": float(np.median(wall)), "p99_ms": float(np.percentile(wall, 99)), "cpu_median_ms": float(np.median(cpu))}


def _torch_runner(card: dict, threads: int):
    try:
        import torch

        from models.agcn import AdaptiveGCNScorer
        from models.config import NetworkConfig
    except ImportError as e:
        raise BackendUnavailable(f"PyTorch is not installed here ({e}).") from None
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = AdaptiveGCNScorer(NetworkConfig.model_validate(card["config"]["network"])).eval()

    def run(x):
        with torch.no_grad():
            return model(torch.from_numpy(x))

    return run


def bench_scorer(models_dir, action: str, runs: int = 100, warmup: int = 10, threads: int = 1, frames=FRAMES) -> dict:
    """Time every available row; returns {row: {"T<n>xB<b>": cell} or {"unavailable": reason}}."""
    bundle = load_bundle(Path(models_dir) / action)
    channels = bundle.input_spec.channels
    rows: dict[str, object] = {}

    def factories():
        yield "pytorch-fp32", lambda: _torch_runner(bundle.card, threads)
        yield "ort-fp32", lambda: OrtBackend(bundle.model_path, "cpu", threads).run
        for name, file in (("ort-pruned", "scorer_pruned.onnx"), ("ort-fp16", "scorer_fp16.onnx")):
            path = bundle.directory / file

            def make(path=path):
                if not path.is_file():
                    raise BackendUnavailable(f"{path.name} has not been built (make export).")
                return OrtBackend(path, "cpu", threads).run

            yield name, make
        yield "tensorrt-fp16", lambda: TensorRTBackend(bundle.directory / "scorer.engine").run

    rng = np.random.default_rng(0)
    shapes = [(1, t) for t in frames] + [(BATCH, BATCH_FRAMES)]
    for name, make in factories():
        try:
            fn = make()
        except BackendUnavailable as e:
            rows[name] = {"unavailable": str(e)}
            continue
        cells = {}
        for n, t in shapes:
            x = rng.standard_normal((n, channels, t, 17)).astype(np.float32)
            r = runs if name != "pytorch-fp32" else max(3, runs // 5)
            cells[f"T{t}xB{n}"] = time_call(fn, x, r, warmup)
        rows[name] = cells
    return {
        "action": action,
        "model": {"name": bundle.card["name"], "version": bundle.card["version"], "sha256": bundle.sha256},
        "threads": threads,
        "runs": runs,
        "rows": rows,
        "paper_table9_ms": {str(k): dict(zip(("fp32", "tensorrt_fp16", "pruned_tensorrt_fp16"), v)) for k, v in PAPER_TABLE9.items()},
        "paper_batch4_90_ms": PAPER_BATCH4_90,
    }


def format_bench(rep: dict) -> str:
    """A text table: one line per row, median/p99 ms per column, then the paper's Jetson Nano row."""
    cols = [f"T{t}xB1" for t in FRAMES] + [f"T{BATCH_FRAMES}xB{BATCH}"]
    lines = [f"scorer latency, {rep['action']} model {rep['model']['version']}, {rep['threads']} threads, median / p99 ms"]
    lines.append(f"{'row':16s}" + "".join(f"{c:>18s}" for c in cols))
    for name, cells in rep["rows"].items():
        if "unavailable" in cells:
            lines.append(f"{name:16s}  unavailable: {cells['unavailable']}")
            continue
        lines.append(f"{name:16s}" + "".join(f"{cells[c]['median_ms']:8.2f} /{cells[c]['p99_ms']:7.2f}  " if c in cells else f"{'-':>18s}" for c in cols))
    for i, label in enumerate(("paper FP32 Nano", "paper TRT16 Nano", "paper prune+TRT")):
        vals = [f"{PAPER_TABLE9[t][i]:>18.1f}" for t in FRAMES]
        vals.append(f"{PAPER_BATCH4_90:>18.1f}" if i == 2 else f"{'-':>18s}")
        lines.append(f"{label:16s}" + "".join(vals))
    return "\n".join(lines)
