"""TensorRT engines for a slot's scorers, built on the device where TensorRT exists.

Engines are tied to the TensorRT version and GPU, so a bundle ships ONNX only and each device
builds ``models/<action>/scorer.engine`` next to ``scorer.onnx`` (``export.tensorrt_build``) while
the slot is still staged. The engine's own FP16 golden parity is checked by the scorer when the
service loads it (``edge.score.scorer``), i.e. during the update's health check.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from edge.ota import OtaError

LOG = logging.getLogger("fieldcoach.ota")
ENGINE_FILE = "scorer.engine"


class EngineBuildError(OtaError):
    """TensorRT is present but an engine could not be built."""


def tensorrt_available() -> bool:
    return importlib.util.find_spec("tensorrt") is not None


def build_engines_if_available(slot_dir: str | Path) -> list[str]:
    """Build an engine for every ``models/*/scorer.onnx``; returns their slot-relative paths.

    Returns [] (and logs it) where TensorRT is not installed: ONNX Runtime then serves.
    """
    slot = Path(slot_dir)
    models = sorted(slot.glob("models/*/scorer.onnx"))
    if not tensorrt_available():
        LOG.info("TensorRT is not installed: no engines built, ONNX Runtime will serve %d scorer(s).", len(models))
        return []
    from export.tensorrt_build import build_engine

    built = []
    for onnx in models:
        engine = onnx.with_name(ENGINE_FILE)
        try:
            build_engine(onnx, engine)
        except Exception as e:  # TensorRT raises RuntimeError and its own types
            raise EngineBuildError(f"the TensorRT engine for {onnx.parent.name} could not be built: {e}") from None
        built.append(engine.relative_to(slot).as_posix())
    return built
