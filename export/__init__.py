"""Deployment artefacts: ONNX export for TensorRT 8.2 / ONNX Runtime and its checks.

``export.onnx_export`` (needs torch and onnx: training/export machine) holds ``export_onnx``,
``tensorrt_problems``, ``parity_with_onnxruntime`` and ``onnxruntime_latency``. This package
file imports nothing, so modules meant for the appliance (no torch there) can live beside it.
"""
