"""`fieldcoach doctor`: which optional backends are present, with versions.

Each backend is probed by importing it; an import failure is reported with its reason, never
hidden. Nothing here reaches the network.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import platform


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _probe(module: str, dist: str, detail=None) -> dict:
    entry = {"module": module, "present": False, "version": _version(dist), "detail": None, "error": None}
    try:
        mod = importlib.import_module(module)
    except Exception as e:  # ImportError, OSError from missing shared libraries, ...
        entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".strip()
        return entry
    entry["present"] = True
    entry["version"] = entry["version"] or getattr(mod, "__version__", None)
    if detail is not None:
        try:
            entry["detail"] = detail(mod)
        except Exception as e:
            entry["error"] = f"{type(e).__name__}: {e}"
    return entry


def _ort_detail(mod):
    return {"providers": mod.get_available_providers()}


def _torch_detail(mod):
    return {"cuda": bool(mod.cuda.is_available())}


def _chroma_detail(mod):
    return {"note": "telemetry is turned off by FieldCoach when it opens a store"}


BACKENDS = (
    ("onnxruntime", "onnxruntime", "onnxruntime", _ort_detail),
    ("tensorrt", "tensorrt", "tensorrt", None),
    ("pycuda", "pycuda.driver", "pycuda", None),
    ("pyk4a", "pyk4a", "pyk4a", None),
    ("llama.cpp", "llama_cpp", "llama-cpp-python", None),
    ("chroma", "chromadb", "chromadb", _chroma_detail),
    ("numba", "numba", "numba", None),
    ("torch", "torch", "torch", _torch_detail),
    ("opencv", "cv2", "opencv-python-headless", None),
)


def doctor_report() -> dict:
    from edge import __version__

    return {
        "fieldcoach": __version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
        "backends": {name: _probe(module, dist, detail) for name, module, dist, detail in BACKENDS},
    }


def format_doctor(rep: dict) -> str:
    lines = [f"FieldCoach {rep['fieldcoach']} on Python {rep['python']} ({rep['machine']})"]
    for name, e in rep["backends"].items():
        if e["present"]:
            extra = ""
            if e["detail"]:
                extra = "  " + ", ".join(f"{k}={v}" for k, v in e["detail"].items())
            lines.append(f"  [ok]      {name:<12} {e['version'] or '?'}{extra}")
        else:
            lines.append(f"  [missing] {name:<12} {e['error']}")
    return "\n".join(lines)
