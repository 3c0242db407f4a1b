"""A labelled data set of simulated attempts: one skeleton .npz per sample plus an index.

Layout under ``out_dir``: ``<action>/<action>_<i:05d>.npz`` (``edge.skeleton.io.write_npz``, with
the truth JSON as ``meta_truth``) and ``labels.csv`` / ``labels.json`` (one row per sample),
written atomically after all samples. Sample i of an action is a function of (seed, action, i)
only, so it is the same whatever n is; the same seed gives byte-identical files.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from pathlib import Path

import numpy as np

from edge.sim.simulate import simulate
from edge.skeleton.io import atomic_write_bytes, write_npz

INDEX_FIELDS = ("file", "action", "index", "seed", "condition", "score", "grade", "faults", "n_frames", "keyframes")


def sample_seed(seed: int, action: str, index: int) -> int:
    """The simulate() seed of sample ``index`` of ``action`` in a data set with master ``seed``."""
    ss = np.random.SeedSequence([int(seed), zlib.crc32(action.encode()), int(index)])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def sample_condition(seed: int, action: str, index: int, low_light: float, occlusion: float) -> str:
    u = np.random.default_rng([int(seed), zlib.crc32(action.encode()), int(index), 7]).random()
    if u < low_light:
        return "low_light"
    if u < low_light + occlusion:
        return "occlusion"
    return "normal"


def generate_dataset(
    actions,
    n_per_action: int,
    seed: int,
    out_dir,
    low_light: float = 0.2,
    occlusion: float = 0.15,
) -> list[dict]:
    """Write ``n_per_action`` samples of each action; returns the index rows (also written)."""
    if isinstance(actions, str):
        actions = (actions,)
    actions = tuple(actions)
    if not actions:
        raise ValueError("give at least one action")
    if int(n_per_action) != n_per_action or n_per_action < 1:
        raise ValueError(f"n_per_action must be a positive integer, got {n_per_action!r}")
    if not (0 <= low_light <= 1 and 0 <= occlusion <= 1 and low_light + occlusion <= 1):
        raise ValueError(f"low_light ({low_light}) and occlusion ({occlusion}) must be shares summing to at most 1")
    out = Path(out_dir)
    rows: list[dict] = []
    for action in actions:
        for i in range(int(n_per_action)):
            s = sample_seed(seed, action, i)
            cond = sample_condition(seed, action, i, low_light, occlusion)
            sample = simulate(action, s, faults=None, condition=cond)
            rel = f"{action}/{action}_{i:05d}.npz"
            write_npz(out / rel, sample.sequence)
            rows.append(
                {
                    "file": rel,
                    "action": action,
                    "index": i,
                    "seed": s,
                    "condition": cond,
                    "score": sample.score,
                    "grade": sample.grade,
                    "faults": sample.faults,
                    "n_frames": sample.sequence.n_frames,
                    "keyframes": sample.keyframes,
                }
            )
    _write_index(out, rows)
    return rows


def _write_index(out: Path, rows: list[dict]) -> None:
    atomic_write_bytes(out / "labels.json", (json.dumps(rows, indent=1) + "\n").encode())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(INDEX_FIELDS)
    for r in rows:
        w.writerow(
            [
                r["file"],
                r["action"],
                r["index"],
                r["seed"],
                r["condition"],
                f"{r['score']:.1f}",
                r["grade"],
                ";".join(f"{k}:{v:g}" for k, v in r["faults"].items()),
                r["n_frames"],
                ";".join(f"{k}:{v}" for k, v in r["keyframes"].items()),
            ]
        )
    atomic_write_bytes(out / "labels.csv", buf.getvalue().encode())
