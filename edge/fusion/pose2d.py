"""2D keypoints on the color image: the pose-model interface, an ONNX backend and its decoders.

Contract of a pose model file (``.onnx``, one person per call, top-down):

- input: one tensor float32 ``(1, 3, H, W)`` (e.g. 256x192), RGB, ``(pixel / 255 - mean) / std``
  with the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225); the crop is the
  athlete's box letterboxed into H x W (aspect kept, centred, padding 0 after normalisation);
- output, one of two layouts, found from the output shapes (or forced with ``layout``):
  * ``heatmap``: one tensor ``(1, 17, h, w)`` (usually h = H/4, w = W/4), COCO-17 order; a
    keypoint is the arg-max refined by a parabola through its neighbours, mapped back with pixel
    centres aligned (x_in = (x_hm + 0.5) W / w - 0.5); its confidence is the peak value;
  * ``simcc``: two tensors ``(1, 17, W k)`` and ``(1, 17, H k)`` (x then y; k = the split ratio,
    usually 2): x_in = argmax_x / k, y_in = argmax_y / k; confidence = min(peak x, peak y).
  Confidences are clipped to [0, 1]: export models with their sigmoid/softmax in the graph.
- keypoints go back to color-image pixels through the inverse of the letterbox transform.

``PoseModel`` is the protocol every backend follows: ``estimate(capture, box)`` -> Keypoints2D
or None. ``edge.fusion.pose_sim.SimulatedPoseModel`` is the simulator's stand-in for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from edge.capture.frames import Capture

N_KEYPOINTS = 17
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
LAYOUTS = ("heatmap", "simcc")


class PoseModelError(ValueError):
    """A pose model file breaks the contract (shapes, layout); one sentence."""


@dataclass(frozen=True)
class Keypoints2D:
    """17 keypoints on one color frame: uv float64 (17, 2) color pixels (NaN = none),
    confidence float32 (17,) in [0, 1], color_device_ts_usec: the frame's device timestamp."""

    uv: np.ndarray
    confidence: np.ndarray
    color_device_ts_usec: int

    def __post_init__(self) -> None:
        if np.shape(self.uv) != (N_KEYPOINTS, 2) or np.shape(self.confidence) != (N_KEYPOINTS,):
            raise ValueError(f"keypoints must be uv (17, 2) and confidence (17,), got {np.shape(self.uv)}, {np.shape(self.confidence)}.")


class PoseModel(Protocol):
    """What the fusion needs from a 2D pose estimator."""

    name: str

    def estimate(self, capture: Capture, box: tuple[int, int, int, int] | None) -> Keypoints2D | None: ...


# --- letterbox ---------------------------------------------------------------------------------
def letterbox_transform(box: tuple[float, float, float, float], out_w: int, out_h: int) -> np.ndarray:
    """Affine (2, 3) mapping image pixels into the out_w x out_h input: the box, aspect kept, centred."""
    x0, y0, x1, y1 = (float(v) for v in box)
    bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    s = min(out_w / bw, out_h / bh)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    # pixel centres: image (cx, cy) -> input ((out_w - 1) / 2, (out_h - 1) / 2)
    return np.array([[s, 0.0, (out_w - 1) / 2.0 - s * cx], [0.0, s, (out_h - 1) / 2.0 - s * cy]])


def letterbox(image_rgb: np.ndarray, box, out_w: int, out_h: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop + resize + normalise: float32 (1, 3, out_h, out_w) and the affine (2, 3) image -> input."""
    import cv2

    a = letterbox_transform(box, out_w, out_h)
    crop = cv2.warpAffine(image_rgb, a, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=tuple(int(round(m * 255)) for m in MEAN))
    x = (crop.astype(np.float32) / 255.0 - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None]), a


def input_to_image(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Input-tensor pixel coordinates (N, 2) -> image pixels (N, 2), inverting the letterbox affine."""
    s = affine[0, 0]
    return (np.asarray(points, dtype=np.float64) - affine[:, 2]) / s


# --- decoders -----------------------------------------------------------------------------------
def decode_heatmaps(heatmaps: np.ndarray, in_w: int, in_h: int) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (17, h, w) -> keypoints (17, 2) in input pixels and confidences (17,).

    Arg-max, then a parabola through the peak and its two neighbours on each axis (sub-pixel,
    at most half a cell); cells map to input pixels with aligned pixel centres.
    """
    hm = np.asarray(heatmaps, dtype=np.float64)
    if hm.ndim != 3:
        raise PoseModelError(f"heatmaps must be (K, h, w), got {hm.shape}.")
    k, h, w = hm.shape
    flat = hm.reshape(k, -1)
    idx = np.argmax(flat, axis=1)
    conf = flat[np.arange(k), idx]
    ys, xs = np.divmod(idx, w)
    fx = xs.astype(np.float64)
    fy = ys.astype(np.float64)
    for i in range(k):
        x, y = xs[i], ys[i]
        if 0 < x < w - 1:
            l, c, r = hm[i, y, x - 1], hm[i, y, x], hm[i, y, x + 1]
            den = l - 2 * c + r
            if den < 0:
                fx[i] += float(np.clip(0.5 * (l - r) / den, -0.5, 0.5))
        if 0 < y < h - 1:
            u, c, d = hm[i, y - 1, x], hm[i, y, x], hm[i, y + 1, x]
            den = u - 2 * c + d
            if den < 0:
                fy[i] += float(np.clip(0.5 * (u - d) / den, -0.5, 0.5))
    pts = np.stack([(fx + 0.5) * in_w / w - 0.5, (fy + 0.5) * in_h / h - 0.5], axis=1)
    return pts, np.clip(conf, 0.0, 1.0)


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """SimCC vectors (17, W k) and (17, H k) -> keypoints (17, 2) in input pixels and confidences (17,)."""
    sx = np.asarray(simcc_x, dtype=np.float64)
    sy = np.asarray(simcc_y, dtype=np.float64)
    if sx.ndim != 2 or sy.ndim != 2 or sx.shape[0] != sy.shape[0]:
        raise PoseModelError(f"SimCC outputs must be (K, Wk) and (K, Hk), got {sx.shape} and {sy.shape}.")
    ix, iy = np.argmax(sx, axis=1), np.argmax(sy, axis=1)
    rows = np.arange(sx.shape[0])
    conf = np.minimum(sx[rows, ix], sy[rows, iy])
    pts = np.stack([ix / split_ratio, iy / split_ratio], axis=1).astype(np.float64)
    return pts, np.clip(conf, 0.0, 1.0)


# --- ONNX backend -------------------------------------------------------------------------------
class OnnxPoseModel:
    """A 17-keypoint top-down pose model in ONNX (contract in the module docstring), onnxruntime CPU.

    layout: "heatmap", "simcc" or None (decide from the output shapes).
    """

    def __init__(self, path: str | os.PathLike, *, layout: str | None = None, providers: list[str] | None = None):
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - onnxruntime is a runtime dependency
            raise ImportError(f"the ONNX pose model needs onnxruntime ({exc}).") from exc
        self.path = Path(path)
        if not self.path.is_file():
            raise PoseModelError(f"pose model {self.path} does not exist.")
        try:
            self._sess = ort.InferenceSession(str(self.path), providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:
            raise PoseModelError(f"onnxruntime cannot load {self.path.name}: {str(exc).splitlines()[0]}") from None
        inputs = self._sess.get_inputs()
        if len(inputs) != 1:
            raise PoseModelError(f"{self.path.name} has {len(inputs)} inputs; the contract is one (1, 3, H, W).")
        shape = inputs[0].shape
        if len(shape) != 4 or shape[1] != 3 or not all(isinstance(v, int) for v in shape[2:]):
            raise PoseModelError(f"{self.path.name}'s input is {shape}; the contract is (1, 3, H, W) with fixed H, W.")
        self._input = inputs[0].name
        self.in_h, self.in_w = int(shape[2]), int(shape[3])
        outs = self._sess.get_outputs()
        shapes = [o.shape for o in outs]
        if layout is None:
            layout = "heatmap" if len(outs) == 1 else "simcc"
        if layout not in LAYOUTS:
            raise PoseModelError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}.")
        if layout == "heatmap" and (len(outs) != 1 or len(shapes[0]) != 4 or shapes[0][1] != N_KEYPOINTS):
            raise PoseModelError(f"{self.path.name}: a heatmap model needs one (1, 17, h, w) output, got {shapes}.")
        if layout == "simcc":
            if len(outs) != 2 or any(len(s) != 3 or s[1] != N_KEYPOINTS for s in shapes):
                raise PoseModelError(f"{self.path.name}: a SimCC model needs (1, 17, Wk) and (1, 17, Hk) outputs, got {shapes}.")
            kx, ky = shapes[0][2] / self.in_w, shapes[1][2] / self.in_h
            if abs(kx - ky) > 1e-6:
                raise PoseModelError(f"{self.path.name}: SimCC split ratios differ for x ({kx}) and y ({ky}).")
            self.split_ratio = float(kx)
        self.layout = layout
        self.name = f"onnx:{self.path.name}:{layout}"

    def run(self, image_rgb: np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (17, 2) in image pixels and confidences (17,) for the person in ``box``."""
        x, affine = letterbox(image_rgb, box, self.in_w, self.in_h)
        outs = self._sess.run(None, {self._input: x})
        if self.layout == "heatmap":
            pts, conf = decode_heatmaps(outs[0][0], self.in_w, self.in_h)
        else:
            pts, conf = decode_simcc(outs[0][0], outs[1][0], self.split_ratio)
        return input_to_image(pts, affine), conf

    def estimate(self, capture: Capture, box) -> Keypoints2D | None:
        if capture.color is None or box is None:
            return None
        uv, conf = self.run(capture.color, box)
        return Keypoints2D(uv, conf.astype(np.float32), int(capture.color_device_ts_usec))
