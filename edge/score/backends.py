"""Inference backends for the scorer: TensorRT (pycuda buffers), ONNX Runtime CUDA, ONNX Runtime CPU.

Every backend maps an input (N, C, T, 17) float32 to a dict of named float32 outputs (``score``
(N,), ``grade_logits`` (N, G), ``phase_scores`` (N, P) when the model has a phase head, ...).
The libraries are imported when a backend is created, never at module import. A backend whose
library or device is missing raises ``BackendUnavailable`` with one sentence; ``open_backend``
with ``"auto"`` tries TensorRT (only when the bundle holds a built engine), then ONNX Runtime CUDA,
then ONNX Runtime CPU, and logs which one it chose and why each earlier one was passed over (at
WARNING level when a TensorRT engine is present but cannot be used: that is a 3-10x slower path).

TensorRT backend: TensorRT 8.2 API (bindings, ``set_binding_shape``, ``execute_async_v2``) with
page-locked host buffers and device buffers from ``pycuda.driver``; buffers are (re)allocated when
a larger input shape arrives. Engines come from ``export/tensorrt_build.py`` on the device.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

LOG = logging.getLogger("fieldcoach.score")
INPUT_NAME = "skeleton"
BACKENDS = ("tensorrt", "ort-cuda", "ort-cpu")


class BackendUnavailable(RuntimeError):
    """The backend's library, device or engine is not available here; one sentence."""


def _check_input(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 4 or x.shape[3] != 17:
        raise ValueError(f"scorer input must be (N, C, T, 17), got {x.shape}.")
    return x


class OrtBackend:
    """ONNX Runtime on the CPU (``device='cpu'``) or CUDA (``device='cuda'``)."""

    def __init__(self, model_path: str | Path, device: str = "cpu", threads: int = 2):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise BackendUnavailable(f"onnxruntime is not installed ({e}).") from None
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}.")
        provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
        if provider not in ort.get_available_providers():
            raise BackendUnavailable(f"ONNX Runtime here has no {provider} (providers: {', '.join(ort.get_available_providers())}).")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        self.name = f"ort-{device}"
        self.session = ort.InferenceSession(str(model_path), sess_options=opts, providers=[provider])
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(None, {INPUT_NAME: _check_input(x)})
        return dict(zip(self.output_names, values))


class TensorRTBackend:
    """A serialized TensorRT engine run with pycuda buffers (TensorRT 8.2 binding API)."""

    def __init__(self, engine_path: str | Path):
        engine_path = Path(engine_path)
        if not engine_path.is_file():
            raise BackendUnavailable(f"no TensorRT engine at {engine_path} (build it on the device: make engine).")
        try:
            import tensorrt as trt
        except ImportError as e:
            raise BackendUnavailable(f"TensorRT is not installed ({e}).") from None
        try:
            import pycuda.autoinit  # noqa: F401  (creates the CUDA context)
            import pycuda.driver as cuda
        except ImportError as e:
            raise BackendUnavailable(f"pycuda is not installed ({e}).") from None
        except Exception as e:  # no GPU / driver: pycuda raises its own error types
            raise BackendUnavailable(f"CUDA could not be initialised ({type(e).__name__}: {e}).") from None
        self.name = "tensorrt"
        self._trt, self._cuda = trt, cuda
        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)
        self.engine = runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if self.engine is None:
            raise BackendUnavailable(f"TensorRT could not load {engine_path} (built by another TensorRT version?).")
        self.context = self.engine.create_execution_context()
        self.stream = cuda.Stream()
        self.bindings = []  # (index, name, is_input, numpy dtype) of optimization profile 0
        # With several profiles the binding list repeats per profile; profile 0 covers every length.
        self.n_bindings = int(self.engine.num_bindings)
        per_profile = self.n_bindings // max(1, int(getattr(self.engine, "num_optimization_profiles", 1)))
        for i in range(per_profile):
            self.bindings.append(
                (i, self.engine.get_binding_name(i), self.engine.binding_is_input(i), trt.nptype(self.engine.get_binding_dtype(i)))
            )
        self.input_index = next(i for i, name, is_in, _ in self.bindings if is_in)
        self._buffers: dict[int, tuple[int, object, object]] = {}  # index -> (capacity, host, device)
        self.output_names = [name for _, name, is_in, _ in self.bindings if not is_in]

    def _buffer(self, index: int, shape: tuple[int, ...], dtype) -> tuple[object, object]:
        size = int(np.prod(shape))
        have = self._buffers.get(index)
        if have is None or have[0] < size:
            host = self._cuda.pagelocked_empty(size, dtype)
            device = self._cuda.mem_alloc(host.nbytes)
            self._buffers[index] = (size, host, device)
            have = self._buffers[index]
        return have[1], have[2]

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        x = _check_input(x)
        cuda = self._cuda
        if not self.context.set_binding_shape(self.input_index, tuple(x.shape)):
            raise ValueError(f"input shape {x.shape} is outside the engine's optimization profiles.")
        ptrs = [0] * self.n_bindings
        outs = []
        for i, name, is_in, dtype in self.bindings:
            shape = tuple(x.shape) if is_in else tuple(self.context.get_binding_shape(i))
            host, device = self._buffer(i, shape, dtype)
            ptrs[i] = int(device)
            if is_in:
                host[: x.size] = x.ravel()
                cuda.memcpy_htod_async(device, host, self.stream)
            else:
                outs.append((name, shape, host, device))
        self.context.execute_async_v2(bindings=ptrs, stream_handle=self.stream.handle)
        for _, _, host, device in outs:
            cuda.memcpy_dtoh_async(host, device, self.stream)
        self.stream.synchronize()
        return {name: np.array(host[: int(np.prod(shape))], dtype=np.float32).reshape(shape) for name, shape, host, _ in outs}


def open_backend(model_path: str | Path, choice: str = "auto", engine_path: str | Path | None = None, threads: int = 2):
    """The backend asked for, or for ``auto`` the fastest one available (see the module docstring)."""
    if choice not in ("auto",) + BACKENDS:
        raise ValueError(f"unknown scorer backend {choice!r}; choose auto, {', '.join(BACKENDS)}.")
    if choice == "tensorrt":
        if engine_path is None:
            raise BackendUnavailable("the tensorrt backend needs a built engine file.")
        return TensorRTBackend(engine_path)
    if choice == "ort-cuda":
        return OrtBackend(model_path, "cuda", threads)
    if choice == "ort-cpu":
        return OrtBackend(model_path, "cpu", threads)
    passed: list[str] = []
    if engine_path is not None and Path(engine_path).is_file():
        try:
            backend = TensorRTBackend(engine_path)
            LOG.info("scorer backend: tensorrt (%s)", engine_path)
            return backend
        except BackendUnavailable as e:
            LOG.warning("scorer backend: TensorRT engine %s present but unusable: %s", engine_path, e)
            passed.append(f"tensorrt: {e}")
    else:
        passed.append("tensorrt: no engine built for this model")
    try:
        backend = OrtBackend(model_path, "cuda", threads)
        LOG.info("scorer backend: ort-cuda (passed over: %s)", "; ".join(passed))
        return backend
    except BackendUnavailable as e:
        passed.append(f"ort-cuda: {e}")
    backend = OrtBackend(model_path, "cpu", threads)
    LOG.info("scorer backend: ort-cpu (passed over: %s)", "; ".join(passed))
    return backend
