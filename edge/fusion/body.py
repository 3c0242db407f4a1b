"""The athlete's segment lengths, learnt online from the keypoints the depth camera sees well.

A bone is a pair of keypoints at a fixed distance: limbs and trunk sides, the same-side face
links (ear-eye, eye-nose) and the four widths (shoulders, hips, ears, eyes). Each is the median
(refreshed every 10 new measurements) of its last ``history`` reliable measurements (both ends lifted from their own depth, confident);
a width only counts when the pair lies mostly across the line of sight (a side view cannot
measure it). Until a bone has ``min_samples`` measurements it is a prior: its share of the
standing height H (``stature``: the median of what the learnt trunk and limb bones imply) from
standard proportions (Winter 2009, Fig. 4.1:
trunk side 0.292 H, upper arm 0.186 H, forearm 0.146 H, thigh 0.245 H, shank 0.246 H; COCO
keypoint widths: shoulders 0.21 H, hips 0.115 H; face: ears 0.09 H, eyes 0.038 H, ear-eye
0.058 H, eye-nose 0.032 H), with a 1.65 m student as the last resort.
"""

from __future__ import annotations

import numpy as np

from edge.skeleton.joints import Joint

J = Joint
#: name -> ((left a, left b), (right a, right b)) for sided bones, or ((a, b),) for widths.
BONES: dict[str, tuple[tuple[int, int], ...]] = {
    "trunk": ((J.LEFT_HIP, J.LEFT_SHOULDER), (J.RIGHT_HIP, J.RIGHT_SHOULDER)),
    "upper_arm": ((J.LEFT_SHOULDER, J.LEFT_ELBOW), (J.RIGHT_SHOULDER, J.RIGHT_ELBOW)),
    "forearm": ((J.LEFT_ELBOW, J.LEFT_WRIST), (J.RIGHT_ELBOW, J.RIGHT_WRIST)),
    "thigh": ((J.LEFT_HIP, J.LEFT_KNEE), (J.RIGHT_HIP, J.RIGHT_KNEE)),
    "shank": ((J.LEFT_KNEE, J.LEFT_ANKLE), (J.RIGHT_KNEE, J.RIGHT_ANKLE)),
    "ear_eye": ((J.LEFT_EAR, J.LEFT_EYE), (J.RIGHT_EAR, J.RIGHT_EYE)),
    "eye_nose": ((J.LEFT_EYE, J.NOSE), (J.RIGHT_EYE, J.NOSE)),
    "shoulders": ((J.LEFT_SHOULDER, J.RIGHT_SHOULDER),),
    "hips": ((J.LEFT_HIP, J.RIGHT_HIP),),
    "ears": ((J.LEFT_EAR, J.RIGHT_EAR),),
    "eyes": ((J.LEFT_EYE, J.RIGHT_EYE),),
}
WIDTHS = ("shoulders", "hips", "ears", "eyes")
#: The long sided bones that give the stature (the face links are too short to measure well).
SIDED = ("trunk", "upper_arm", "forearm", "thigh", "shank")
_H = {"trunk": 0.292, "upper_arm": 0.186, "forearm": 0.146, "thigh": 0.245, "shank": 0.246, "ear_eye": 0.058,
      "eye_nose": 0.032, "shoulders": 0.21, "hips": 0.115, "ears": 0.09, "eyes": 0.038}
PRIOR_RATIO = {k: v / _H["trunk"] for k, v in _H.items()}
DEFAULT_HEIGHT_M = 1.65


class BodyModel:
    """Online segment lengths (metres) of one athlete."""

    def __init__(self, history: int = 300, min_samples: int = 15, across_min: float = 0.8):
        self.history = int(history)
        self.min_samples = int(min_samples)
        self.across_min = float(across_min)
        # ring buffers of the last ``history`` measurements (a deque's median costs a conversion)
        self._obs: dict[str, np.ndarray] = {k: np.empty(self.history) for k in BONES}
        self._count: dict[str, int] = dict.fromkeys(BONES, 0)
        self._cache: dict[str, float] = {}

    def reset(self) -> None:
        self._count = dict.fromkeys(BONES, 0)
        self._cache.clear()

    def n_samples(self, name: str) -> int:
        return min(self._count[name], self.history)

    def _median(self, name: str) -> float:
        return float(np.median(self._obs[name][: self.n_samples(name)]))

    def _append(self, name: str, value: float) -> int:
        """Add a measurement (the oldest goes when the buffer is full); returns the new count."""
        self._obs[name][self._count[name] % self.history] = value
        self._count[name] += 1
        return self.n_samples(name)

    def length(self, name: str) -> float:
        """Current estimate of a bone (m): learnt median, else prior from the trunk side."""
        if name in self._cache:
            return self._cache[name]
        if self.n_samples(name) >= self.min_samples:
            value = self._median(name)
        else:
            value = _H[name] * self.stature()
        self._cache[name] = value
        return value

    def stature(self) -> float:
        """Standing height H (m) implied by the learnt segments: the median over the sided bones
        with ``min_samples`` measurements of length / (Winter's share of H); with none, the trunk
        side from 5 measurements; else ``DEFAULT_HEIGHT_M``. One segment's share of H varies by a
        few per cent between people, so several of them give the widths' priors a steadier base."""
        if "_stature" in self._cache:
            return self._cache["_stature"]
        est = [self._median(k) / _H[k] for k in SIDED if self.n_samples(k) >= self.min_samples]
        if est:
            value = float(np.median(est))
        elif self.n_samples("trunk") >= 5:
            value = self._median("trunk") / _H["trunk"]
        else:
            value = DEFAULT_HEIGHT_M
        self._cache["_stature"] = value
        return value

    def observe(self, points: np.ndarray, reliable: np.ndarray, widths: bool = True) -> None:
        """Add the bones whose both ends are ``reliable`` in this frame's points (17, 3), depth frame.

        widths: also measure the four widths (only sensible when the athlete faces the camera).
        """
        p = np.asarray(points, dtype=np.float64)
        for name, pairs in BONES.items():
            for a, b in pairs:
                if not (reliable[a] and reliable[b]):
                    continue
                d = p[b] - p[a]
                length = float(np.linalg.norm(d))
                if not np.isfinite(length) or length < 0.01 or length > 1.0:
                    continue
                if name in WIDTHS:
                    if not widths:
                        continue
                    view = 0.5 * (p[a] + p[b])
                    view = view / np.linalg.norm(view)
                    across = np.linalg.norm(np.cross(d / length, view))
                    if across < self.across_min:
                        continue
                count = self._append(name, length)
                if count <= self.min_samples or self._count[name] % 10 == 0:  # medians move slowly: refresh every 10
                    self._cache.pop(name, None)
                    # the priors scale with the stature, which only learnt sided bones (or the
                    # trunk side from 5 measurements) give
                    if name in SIDED and (count >= self.min_samples or (name == "trunk" and count >= 5)):
                        self._cache = {k: v for k, v in self._cache.items()
                                       if k != "_stature" and self.n_samples(k) >= self.min_samples}
