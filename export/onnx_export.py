"""ONNX export of the scorer for TensorRT 8.2 (Jetson Nano) and ONNX Runtime, with its checks.

``export_onnx`` writes opset 13 with dynamic ``batch`` and ``frames`` axes (atomically, with the
configuration, its hash and the output layout in the model's metadata), then refuses a graph
that TensorRT 8.2 could not build: an operator outside the allow-list below (no ``Einsum``), a
non-constant input where the parser needs an initializer, or a 1D convolution.
``parity_with_onnxruntime`` compares ONNX Runtime (CPU) with PyTorch (eval mode) for several
batch sizes and lengths; ``onnxruntime_latency`` times one sample.

The allow-list is data from onnx-tensorrt's ``docs/operators.md`` for TensorRT 8.2 ("supports
operators up to Opset 13", release/8.2-GA), cross-checked against the 8.0 and 8.4 versions of the
same table that bracket it. Kept: operators marked supported (Y) in all three with FP32/FP16.
Left out on purpose, although some are listed as supported: ``Einsum`` (the project writes graph
products as MatMul), control flow (``If``, ``Loop``, ``Scan``), random and NMS ops, ``Range``,
``Resize``, ``TopK``, ``NonZero``, the scatter family, ``CumSum``, ``ReverseSequence`` (no dynamic
shapes) and ``Reciprocal`` (marked unsupported in the 8.x tables; write ``Pow(x, -0.5)`` or ``Div``).

Exported outputs (N = batch, L' = backbone frames = ceil(T / frame_stride)):
``score`` (N,) in [0, 100]; ``grade_logits`` (N, 5); ``region_attention`` (N, 5); and when the
variant has them ``phase_scores`` (N, 4), ``phase_assignment`` (N, 4, L') and
``temporal_attention`` (N, L'). Input ``skeleton`` (N, C, T, 17) float32, see ``models.agcn``.

Command line: ``python -m export.onnx_export OUT.onnx [--variant full|A-F|baseline]
[--state-dict FILE] [--frames 90] [--latency]``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from edge.skeleton.io import atomic_write_bytes
from models.agcn import AdaptiveGCNScorer
from models.config import GRADE_NAMES, ScorerConfig, ablation_config, fixed_gcn_baseline_config

OPSET = 13
INPUT_NAME = "skeleton"
MODEL_NAME = "fieldcoach-agcn-scorer"

#: Operator -> the 8.2 table's restriction (empty: none), default ONNX domain only.
TENSORRT_82_OPS: dict[str, str] = {
    # elementwise arithmetic and math
    "Abs": "",
    "Add": "",
    "Sub": "",
    "Mul": "",
    "Div": "",
    "Pow": "",
    "Sqrt": "",
    "Exp": "",
    "Log": "",
    "Neg": "",
    "Max": "",
    "Min": "",
    "Sum": "",
    "Mean": "",
    "Ceil": "",
    "Floor": "",
    "Erf": "",
    # activations
    "Relu": "",
    "LeakyRelu": "",
    "PRelu": "",
    "Elu": "",
    "Selu": "",
    "Sigmoid": "",
    "HardSigmoid": "",
    "Tanh": "",
    "Softplus": "",
    "Softsign": "",
    "Clip": "min and max must be constants (7.x restriction, kept conservatively)",
    "Softmax": "",
    "LogSoftmax": "",
    # linear layers
    "Conv": "2D or 3D convolutions only; weights W must be an initializer",
    "ConvTranspose": "2D or 3D deconvolutions only; weights W must be an initializer",
    "MatMul": "",
    "Gemm": "",
    # normalization and pooling
    "BatchNormalization": "scale, bias, mean and variance must be initializers",
    "InstanceNormalization": "scale and bias must be initializers; input rank 3 to 5",
    "AveragePool": "2D or 3D pooling only",
    "MaxPool": "2D or 3D pooling only; the Indices output is unsupported",
    "GlobalAveragePool": "",
    "GlobalMaxPool": "",
    # reductions (ReduceSum-13 takes axes as an input: it must be a constant)
    "ReduceMean": "",
    "ReduceMax": "",
    "ReduceMin": "",
    "ReduceSum": "axes must be a constant",
    # shape and data movement
    "Reshape": "",
    "Flatten": "",
    "Transpose": "",
    "Squeeze": "axes must be an initializer",
    "Unsqueeze": "axes must be a constant tensor",
    "Concat": "",
    "Split": "",
    "Slice": "axes must be an initializer (starts, ends, steps kept constant too, conservatively)",
    "Gather": "",
    "Shape": "",
    "Expand": "",
    "Tile": "",
    "Pad": "pads must be constant (conservative)",
    "Identity": "",
    "Constant": "",
    "ConstantOfShape": "",
    "Cast": "only TensorRT types (FP32, FP16, INT32, INT8, BOOL)",
    "Dropout": "inference: identity",
}

#: Operator -> indices of inputs that must be constant (initializer or Constant node output).
CONSTANT_INPUTS: dict[str, tuple[int, ...]] = {
    "Clip": (1, 2),
    "Conv": (1, 2),
    "ConvTranspose": (1, 2),
    "BatchNormalization": (1, 2, 3, 4),
    "InstanceNormalization": (1, 2),
    "ReduceSum": (1,),
    "Squeeze": (1,),
    "Unsqueeze": (1,),
    "Slice": (1, 2, 3, 4),
    "Pad": (1, 2),
}

#: Operator -> allowed number of spatial kernel dimensions.
SPATIAL_RANK: dict[str, tuple[int, ...]] = {
    "Conv": (2, 3),
    "ConvTranspose": (2, 3),
    "AveragePool": (2, 3),
    "MaxPool": (2, 3),
}

#: The highest opset TensorRT 8.2's parser reads.
TENSORRT_82_MAX_OPSET = 13


class ExportError(RuntimeError):
    """The model cannot be exported or the export breaks a deployment rule; one sentence."""


@dataclass(frozen=True)
class ExportResult:
    """What ``export_onnx`` wrote: the file, its sha256, output names and the operator counts."""

    path: Path
    sha256: str
    output_names: tuple[str, ...]
    op_counts: dict[str, int]


class _ExportView(nn.Module):
    """Eval-time view of the scorer with a fixed tuple of named outputs (what ONNX carries)."""

    def __init__(self, scorer: AdaptiveGCNScorer):
        super().__init__()
        self.scorer = scorer
        cfg = scorer.config
        names = ["score", "grade_logits", "region_attention"]
        if cfg.phase_head:
            names += ["phase_scores", "phase_assignment"]
        if cfg.attention:
            names.append("temporal_attention")
        self.output_names = tuple(names)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.scorer(x)
        return tuple(getattr(out, name) for name in self.output_names)


def _dynamic_axes(output_names: tuple[str, ...]) -> dict[str, dict[int, str]]:
    axes = {INPUT_NAME: {0: "batch", 2: "frames"}}
    for name in output_names:
        axes[name] = {0: "batch"}
    if "phase_assignment" in axes:
        axes["phase_assignment"][2] = "backbone_frames"
    if "temporal_attention" in axes:
        axes["temporal_attention"][1] = "backbone_frames"
    return axes


def tensorrt_problems(model: onnx.ModelProto) -> list[str]:
    """Every reason TensorRT 8.2 could not build ``model``; an empty list means none found."""
    problems: list[str] = []
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    if opsets.get("ai.onnx") is None or opsets["ai.onnx"] > TENSORRT_82_MAX_OPSET:
        problems.append(f"default-domain opset {opsets.get('ai.onnx')} is above TensorRT 8.2's {TENSORRT_82_MAX_OPSET}")
    constants = {t.name for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            constants.update(node.output)
    for node in model.graph.node:
        where = f"{node.op_type} node {node.name or '(unnamed)'}"
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"{where} is in custom domain {node.domain!r}")
            continue
        if node.op_type not in TENSORRT_82_OPS:
            problems.append(f"{where} is not on the TensorRT 8.2 allow-list")
            continue
        for i in CONSTANT_INPUTS.get(node.op_type, ()):
            if i < len(node.input) and node.input[i] and node.input[i] not in constants:
                problems.append(f"{where}: input {i} must be a constant ({TENSORRT_82_OPS[node.op_type]})")
        if node.op_type in SPATIAL_RANK:
            kernel = next((list(a.ints) for a in node.attribute if a.name == "kernel_shape"), None)
            if kernel is not None and len(kernel) not in SPATIAL_RANK[node.op_type]:
                problems.append(f"{where} has a {len(kernel)}D kernel; TensorRT 8.2 builds 2D or 3D only")
        if node.op_type == "MaxPool" and len(node.output) > 1 and node.output[1]:
            problems.append(f"{where} uses the Indices output")
    return problems


def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    """Operator type -> number of nodes in the main graph."""
    return dict(sorted(Counter(n.op_type for n in model.graph.node).items()))


def export_onnx(
    scorer: AdaptiveGCNScorer,
    path: str | Path,
    config: ScorerConfig | None = None,
    example_frames: int = 90,
    version: str = "0",
) -> ExportResult:
    """Export ``scorer`` (in eval mode) to ``path`` at opset 13 with dynamic batch and frames.

    ``config`` (the whole recipe, loss included) is stored in the metadata when given; the network
    part must match the scorer's. Raises ExportError if the graph breaks a TensorRT 8.2 rule.
    """
    if config is not None and config.network != scorer.config:
        raise ExportError("the configuration given does not describe this scorer's network.")
    view = _ExportView(scorer)
    was_training = scorer.training
    scorer.eval()
    example = torch.zeros(1, scorer.config.in_channels, int(example_frames), 17)
    buf = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter is deprecated, but the torch.export-based one cannot write this
            # graph at opset 13 (its version converter fails on ReduceMean/Unsqueeze axes inputs).
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                view,
                (example,),
                buf,
                dynamo=False,  # the TorchScript exporter writes opset 13 natively
                opset_version=OPSET,
                input_names=[INPUT_NAME],
                output_names=list(view.output_names),
                dynamic_axes=_dynamic_axes(view.output_names),
                do_constant_folding=True,
            )
    finally:
        scorer.train(was_training)
    model = onnx.load_from_string(buf.getvalue())
    network_json = scorer.config.model_dump_json()
    meta = {
        "name": MODEL_NAME,
        "version": version,
        "network_config": network_json,
        "network_config_sha256": hashlib.sha256(network_json.encode()).hexdigest()[:16],
        "scorer_config": config.model_dump_json() if config is not None else "",
        "scorer_config_hash": config.config_hash() if config is not None else "",
        "input_layout": "skeleton (N, C, T, V=17) float32: normalized COCO-17 joints (Eq. 2), T frames at 30 Hz",
        "frame_stride": str(scorer.config.frame_stride()),
        "grade_names": ",".join(GRADE_NAMES[: scorer.config.num_grades]),
        "region_names": ",".join(r.name for r in scorer.config.regions),
        "outputs": ",".join(view.output_names),
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "fieldcoach"
    onnx.checker.check_model(model)
    problems = tensorrt_problems(model)
    if problems:
        raise ExportError(f"the exported graph would not build with TensorRT 8.2: {problems[0]} ({len(problems)} problems).")
    data = model.SerializeToString()
    out = Path(path)
    atomic_write_bytes(out, data)
    return ExportResult(out, hashlib.sha256(data).hexdigest(), view.output_names, op_counts(model))


def _session(path: str | Path, threads: int):
    try:
        import onnxruntime as ort  # optional at run time: imported only here
    except ImportError as e:
        raise ExportError(f"onnxruntime is not installed ({e}); it is needed to run the exported model.") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def parity_with_onnxruntime(
    scorer: AdaptiveGCNScorer,
    path: str | Path,
    frames: tuple[int, ...] = (30, 60, 90, 120),
    batches: tuple[int, ...] = (1, 4),
    seed: int = 0,
    threads: int = 2,
) -> dict[tuple[int, int], float]:
    """(batch, frames) -> largest |ORT - PyTorch| over all exported outputs, on random inputs."""
    sess = _session(path, threads)
    names = tuple(o.name for o in sess.get_outputs())
    was_training = scorer.training
    scorer.eval()
    gen = torch.Generator().manual_seed(seed)
    result: dict[tuple[int, int], float] = {}
    try:
        for n in batches:
            for t in frames:
                x = torch.randn(n, scorer.config.in_channels, t, 17, generator=gen)
                with torch.no_grad():
                    ref = scorer(x)
                got = sess.run(None, {INPUT_NAME: x.numpy()})
                worst = 0.0
                for name, value in zip(names, got):
                    expected = getattr(ref, name).numpy()
                    if value.shape != expected.shape:
                        raise ExportError(
                            f"output {name} has shape {value.shape} in ONNX Runtime but {expected.shape} in PyTorch."
                        )
                    worst = max(worst, float(np.max(np.abs(value - expected))))
                result[(n, t)] = worst
    finally:
        scorer.train(was_training)
    return result


def onnxruntime_latency(
    path: str | Path,
    frames: int = 90,
    batch: int = 1,
    runs: int = 200,
    warmup: int = 20,
    threads: int = 2,
    in_channels: int = 3,
) -> dict[str, float]:
    """Time one ``sess.run`` on ONNX Runtime CPU after ``warmup`` runs; values in ms.

    ``median_ms``, ``p99_ms``, ``mean_ms``, ``max_ms``: wall time. ``cpu_median_ms``: median CPU
    time of the process per run (all threads): with ``threads=1`` it is the latency the model
    needs when it has a core to itself, which other load on the machine does not inflate.
    """
    sess = _session(path, threads)
    x = np.random.default_rng(0).standard_normal((batch, in_channels, frames, 17)).astype(np.float32)
    for _ in range(warmup):
        sess.run(None, {INPUT_NAME: x})
    wall = np.empty(runs)
    cpu = np.empty(runs)
    for i in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        sess.run(None, {INPUT_NAME: x})
        wall[i] = (time.perf_counter() - t0) * 1e3
        cpu[i] = (time.process_time() - c0) * 1e3
    return {
        "median_ms": float(np.median(wall)),
        "p99_ms": float(np.percentile(wall, 99)),
        "mean_ms": float(wall.mean()),
        "max_ms": float(wall.max()),
        "cpu_median_ms": float(np.median(cpu)),
    }


def _variant_config(name: str) -> ScorerConfig:
    if name == "full":
        return ScorerConfig()
    if name == "baseline":
        return fixed_gcn_baseline_config()
    return ablation_config(name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.onnx_export", description="Export the scorer to ONNX (opset 13).")
    p.add_argument("out", type=Path, help="the .onnx file to write")
    p.add_argument("--variant", default="full", help="full, A-F (Table 5 ablations) or baseline")
    p.add_argument("--state-dict", type=Path, help="trained weights (a torch state_dict file); random weights otherwise")
    p.add_argument("--frames", type=int, default=90, help="example length used for tracing (any length works after)")
    p.add_argument("--version", default="0", help="model version recorded in the metadata")
    p.add_argument("--latency", action="store_true", help="also time ONNX Runtime CPU on one 90-frame sample")
    args = p.parse_args(argv)
    try:
        config = _variant_config(args.variant)
        torch.manual_seed(0)
        scorer = AdaptiveGCNScorer(config.network)
        if args.state_dict is not None:
            if not args.state_dict.is_file():
                raise ExportError(f"state dict {args.state_dict} does not exist.")
            scorer.load_state_dict(torch.load(args.state_dict, map_location="cpu", weights_only=True))
        res = export_onnx(scorer, args.out, config=config, example_frames=args.frames, version=args.version)
        parity = parity_with_onnxruntime(scorer, res.path)
    except (ExportError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {res.path} sha256 {res.sha256[:16]} outputs {', '.join(res.output_names)}")
    print("ops: " + ", ".join(f"{k} {v}" for k, v in res.op_counts.items()))
    print("parity max |ORT - torch|: " + ", ".join(f"N={n} T={t}: {d:.2e}" for (n, t), d in parity.items()))
    if args.latency:
        lat = onnxruntime_latency(res.path, in_channels=config.network.in_channels)
        print(json.dumps({k: round(v, 2) for k, v in lat.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
