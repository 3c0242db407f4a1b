"""Baselines trained and evaluated in the scorer's own harness (adaptive-GCN paper Sec. 6.2).

- ``PoseQuality``: the hand-feature baseline -- the normalized 3D joint coordinates of the
  prepared input (channels 0-2 of (C, T, 17), flattened), reduced by PCA (``components``, default
  32, fitted on the training split) and regressed by a random forest (scikit-learn, 300 trees).
- The fixed-adjacency GCN (the paper's USDL row: "a graph convolution network with a fixed
  adjacency matrix"): ``models.config.fixed_gcn_baseline_config`` trained with ``models.train``
  (``--variant baseline``); its scores come from its ONNX file like the shipped model's.

Both see exactly the inputs the scorer sees (``edge.score.preprocess.prepare_input``).
"""

from __future__ import annotations

import numpy as np


class PoseQuality:
    """PCA + random forest regressor on flattened (3, T, 17) coordinates; ``fit`` then ``predict``."""

    def __init__(self, components: int = 32, trees: int = 300, seed: int = 0):
        if components < 1 or trees < 1:
            raise ValueError("PoseQuality needs at least one PCA component and one tree.")
        self.components = components
        self.trees = trees
        self.seed = seed
        self._pca = None
        self._forest = None

    @staticmethod
    def features(x: np.ndarray) -> np.ndarray:
        """(N, C, T, 17) -> (N, 3 T 17) coordinates."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[1] < 3:
            raise ValueError(f"inputs must be (N, C>=3, T, 17), got {x.shape}.")
        return x[:, :3].reshape(x.shape[0], -1)

    def fit(self, x: np.ndarray, y: np.ndarray) -> "PoseQuality":
        from sklearn.decomposition import PCA
        from sklearn.ensemble import RandomForestRegressor

        f = self.features(x)
        k = min(self.components, f.shape[0], f.shape[1])
        self._pca = PCA(n_components=k, random_state=self.seed).fit(f)
        self._forest = RandomForestRegressor(n_estimators=self.trees, random_state=self.seed, n_jobs=1)
        self._forest.fit(self._pca.transform(f), np.asarray(y, dtype=np.float64))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self._forest is None:
            raise RuntimeError("PoseQuality.predict called before fit.")
        return self._forest.predict(self._pca.transform(self.features(x))).astype(np.float32)

    @property
    def parameters(self) -> int:
        """PCA matrix entries plus forest nodes (a size comparable to a network's parameter count)."""
        if self._forest is None:
            return 0
        return int(self._pca.components_.size + sum(t.tree_.node_count for t in self._forest.estimators_))
