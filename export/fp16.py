"""An FP16 copy of an exported scorer (weights and arithmetic in half precision, FP32 at the edges).

``to_fp16(src, dst)`` converts every float tensor of the ONNX graph to float16 with ONNX Runtime's
own converter (``onnxruntime.transformers.float16``), keeping the ``skeleton`` input and all outputs
float32 (Cast nodes at the edges), so callers feed and read the same arrays. The file is about half
the size. TensorRT does not need it: the engine builder (``export/tensorrt_build.py``) compiles the
FP32 ONNX with its FP16 flag; this file serves runtimes that take FP16 ONNX directly and shows the
accuracy cost of half precision (``fp16_parity``).

Command line: ``python -m export.fp16 SRC.onnx DST.onnx``.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import onnx

from edge.skeleton.io import atomic_write_bytes


def toposort(graph: onnx.GraphProto) -> None:
    """Reorder ``graph.node`` in place so every node comes after the producers of its inputs."""
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        rest = []
        for node in pending:
            if all(name in known for name in node.input):
                ordered.append(node)
                known.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError("the ONNX graph has a cycle or an input nothing produces.")
        pending = rest
    copies = [onnx.NodeProto.FromString(n.SerializeToString()) for n in ordered]
    del graph.node[:]
    graph.node.extend(copies)


def to_fp16(src: str | Path, dst: str | Path) -> str:
    """Write the FP16 model to ``dst``; returns its sha256. Raises ValueError for a non-ONNX source."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    src = Path(src)
    if not src.is_file():
        raise ValueError(f"ONNX model {src} does not exist.")
    try:
        model = onnx.load(str(src))
    except Exception:
        raise ValueError(f"{src} is not a readable ONNX model.") from None
    half = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    toposort(half.graph)  # the converter appends its input Casts at the end of the node list
    onnx.checker.check_model(half)
    data = half.SerializeToString()
    atomic_write_bytes(Path(dst), data)
    return hashlib.sha256(data).hexdigest()


def fp16_parity(fp32_path: str | Path, fp16_path: str | Path, x: np.ndarray) -> float:
    """Largest |score difference| (points) between the FP32 and FP16 models on inputs x (ONNX Runtime CPU)."""
    import onnxruntime as ort

    a = ort.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"]).run(["score"], {"skeleton": x})[0]
    b = ort.InferenceSession(str(fp16_path), providers=["CPUExecutionProvider"]).run(["score"], {"skeleton": x})[0]
    return float(np.max(np.abs(a - b)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.fp16", description="Convert a scorer ONNX to FP16 (FP32 input/outputs).")
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    args = p.parse_args(argv)
    digest = to_fp16(args.src, args.dst)
    print(f"wrote {args.dst} sha256 {digest[:16]} ({args.dst.stat().st_size:,} bytes, FP32 was {args.src.stat().st_size:,})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
