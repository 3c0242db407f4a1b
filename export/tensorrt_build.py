"""TensorRT engine builder for the scorer (Jetson Nano: TensorRT 8.2, FP16), run on the device.

``build_engine(onnx_path, engine_path)`` parses the FP32 ONNX (explicit batch), enables FP16
(when the GPU has fast FP16, as the Nano's Maxwell GPU does) and adds optimization profiles for
the input ``skeleton`` (N, C, T, 17): one profile per length in ``FRAMES`` = 30, 60, 90, 120 with
batch 1 to 4 (opt: batch 1 at that length) -- the paper's Table 9 settings. The runtime
(``edge.score.backends.TensorRTBackend``) uses profile 0, whose range is widened to cover every
length (30-120 frames, batch 1-4), so any prepared input fits; profiles 1-4 let a caller pick the
exact length. Engines are tied to the TensorRT version and GPU: build them where they run.

Where TensorRT is not installed (this training machine, any CPU box) ``build_engine`` raises
``TensorRTUnavailable`` saying so; nothing falls back silently.

Command line: ``python -m export.tensorrt_build MODEL.onnx ENGINE [--workspace-mb 512] [--fp32]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FRAMES = (30, 60, 90, 120)
MAX_BATCH = 4
INPUT_NAME = "skeleton"


class TensorRTUnavailable(RuntimeError):
    """TensorRT (Python bindings) is not installed here; engines are built on the Jetson."""


def profile_shapes(channels: int, frames: tuple[int, ...] = FRAMES, max_batch: int = MAX_BATCH) -> list[tuple[tuple, tuple, tuple]]:
    """(min, opt, max) input shapes of each optimization profile; the first spans every length."""
    lo, hi = min(frames), max(frames)
    mid = 90 if lo <= 90 <= hi else frames[len(frames) // 2]
    shapes = [((1, channels, lo, 17), (1, channels, mid, 17), (max_batch, channels, hi, 17))]
    for t in frames:
        shapes.append(((1, channels, t, 17), (1, channels, t, 17), (max_batch, channels, t, 17)))
    return shapes


def build_engine(onnx_path: str | Path, engine_path: str | Path, fp16: bool = True, workspace_mb: int = 512) -> Path:
    """Build and serialize the engine; returns its path. Raises TensorRTUnavailable or RuntimeError."""
    try:
        import tensorrt as trt
    except ImportError as e:
        raise TensorRTUnavailable(
            f"TensorRT is not installed here ({e}); build the engine on the Jetson (JetPack 4.6 ships TensorRT 8.2)."
        ) from None
    onnx_path = Path(onnx_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.max_workspace_size = int(workspace_mb) << 20  # TensorRT 8.2 API
    if fp16:
        if not builder.platform_has_fast_fp16:
            raise RuntimeError("this GPU has no fast FP16; build with --fp32.")
        config.set_flag(trt.BuilderFlag.FP16)
    channels = network.get_input(0).shape[1]
    for mn, opt, mx in profile_shapes(int(channels)):
        profile = builder.create_optimization_profile()
        profile.set_shape(INPUT_NAME, mn, opt, mx)
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}.")
    out = Path(engine_path)
    from edge.skeleton.io import atomic_write_bytes

    atomic_write_bytes(out, bytes(serialized))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.tensorrt_build", description="Build the scorer's TensorRT engine (FP16).")
    p.add_argument("onnx", type=Path)
    p.add_argument("engine", type=Path, help="output, e.g. models/shipped/<action>/scorer.engine")
    p.add_argument("--workspace-mb", type=int, default=512)
    p.add_argument("--fp32", action="store_true", help="build without the FP16 flag")
    args = p.parse_args(argv)
    try:
        out = build_engine(args.onnx, args.engine, fp16=not args.fp32, workspace_mb=args.workspace_mb)
    except TensorRTUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
