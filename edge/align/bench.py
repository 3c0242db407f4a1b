"""Timing of MotionDTW against dtaidistance (C) and fastdtw on the same work.

Work: a 90-frame template and a 10 s input (300 frames at 30 Hz) of the synthetic jump
(``edge.align.synthetic``), standing_long_jump features (8 salient joints, w = 4: 216 features
per frame). All timings exclude JIT compilation (every function runs once first) and report the
median and 99th percentile over ``repeats`` runs, in milliseconds.

Rows:
- ``motiondtw_<stage1>_total``: ``align`` with a prepared template: input features, distance
  matrix, Stage 1, Stage 2, keyframe transfer.
- ``motiondtw_<stage1>_align``: the same without input feature extraction (distance matrix from
  precomputed per-frame features, Stage 1, Stage 2, keyframe transfer).
- ``dtaidistance_windows``: the same Stage 1 windows (lengths, starts) and the same Stage 2, each
  window a ``dtw_ndim.distance(..., window=r + 1, use_c=True)`` call, Stage 2 a
  ``dtw_ndim.warping_path(..., use_c=True)``, on features pre-scaled by sqrt(weights) (same
  weighted distance, sqrt_sum_squared cost). For unequal lengths its band is the unscaled
  diagonal widened by |n - m| on one side, a little wider than ours. dtaidistance recomputes the
  216-feature local distances in every window, MotionDTW computes the matrix once; that, not the
  DP, is most of the gap. Timed over max(3, repeats // 20) runs (it takes about a second).
- ``dtaidistance_open_end``: Stage 1 by ``SubsequenceAlignment`` (C, penalty 0), Stage 2 as above.
- ``fastdtw_windows_estimate``: fastdtw is pure Python here: its per-window time on a sample of
  windows times the number of windows, plus one Stage 2 run (fastdtw's radius is per resolution
  level, not a fixed band).
- ``banded_kernel`` vs ``dtaidistance_distance`` / ``dtaidistance_warping_path``: one 90 x 90
  alignment, radius 9 (window 10), 216 features, sqrt_sum_squared; ours also returns the path.

Run: ``python -m edge.align.bench [repeats]``.
"""

from __future__ import annotations

import os
import platform
import sys
import time

import numpy as np


def machine() -> dict:
    """Platform, CPU model (from /proc/cpuinfo where present), logical cores, Python, Numba."""
    import numba

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numba": numba.__version__,
    }


def _times(fn, repeats: int) -> dict:
    fn()  # warm-up (JIT compile, caches)
    t = np.empty(repeats)
    for k in range(repeats):
        t0 = time.perf_counter()
        fn()
        t[k] = time.perf_counter() - t0
    t *= 1e3
    return {"median_ms": float(np.median(t)), "p99_ms": float(np.percentile(t, 99)), "repeats": repeats}


def _workload():
    from edge.actions.spec import load_action
    from edge.align import synthetic as syn
    from edge.align.template import Template
    from edge.skeleton.sequence import SkeletonSequence

    spec = load_action("standing_long_jump")
    rng = np.random.default_rng(0)
    att = syn.make_attempt(rng, scale=1.1, warp=(0.2, 0.1), lead_in=100, lead_out=101, noise_m=0.005)
    seq = SkeletonSequence.from_positions(att.joints, syn.FPS)
    tpl = Template(action=spec.id, joints=syn.template_joints(), fps=syn.FPS, keyframes=syn.KEYFRAMES, name="synthetic")
    return spec, tpl, seq, att


def bench_align(repeats: int = 200, fastdtw_sample: int = 20, peers: bool = True) -> dict:
    """Time MotionDTW and (with ``peers``) dtaidistance and fastdtw (module doc).

    Returns {'machine': {...}, 'work': {...}, row: {'median_ms', 'p99_ms', 'repeats'}, ...}; a peer
    that is missing gives a row holding the reason as a string.
    """
    from edge.align.dtw import banded_dtw, windowed_sqdist
    from edge.align.subsequence import window_lengths
    from edge.align.features import motion_features
    from edge.align.motiondtw import MotionDTWConfig, align, align_sqdist, prepare_template

    spec, tpl, seq, att = _workload()
    out: dict = {"machine": machine()}
    results = {}
    for stage1 in ("open_end", "windows"):
        cfg = MotionDTWConfig(stage1=stage1)
        prepared = prepare_template(tpl, spec, cfg)
        feats = motion_features(seq.joints, spec, cfg.features)
        out[f"motiondtw_{stage1}_total"] = _times(lambda: align(prepared, seq, spec, cfg), repeats)
        pf = prepared.features
        out[f"motiondtw_{stage1}_align"] = _times(
            lambda: align_sqdist(
                windowed_sqdist(pf.frames, feats.frames, pf.window, pf.frame_weights), tpl.keyframes, cfg
            ),
            repeats,
        )
        results[stage1] = align(prepared, seq, spec, cfg)

    cfg = MotionDTWConfig()
    prepared = prepare_template(tpl, spec, cfg)
    feats = motion_features(seq.joints, spec, cfg.features)
    n = prepared.features.n_frames
    sw = np.sqrt(prepared.features.weights)
    q = np.ascontiguousarray(prepared.features.features * sw)
    s = np.ascontiguousarray(feats.features * sw)
    lengths = window_lengths(n, len(s), cfg.min_scale, cfg.max_scale, cfg.n_scales)
    windows = [(st, int(ln)) for ln in lengths for st in range(0, len(s) - int(ln) + 1, cfg.step)]
    r1, r2 = cfg.search_radius(n), cfg.radius(n)
    out["work"] = {
        "template_frames": n,
        "input_frames": len(s),
        "features_per_frame": int(q.shape[1]),
        "stage1_windows": len(windows),
        "stage1_radius": r1,
        "stage2_radius": r2,
        "keyframes_open_end": results["open_end"].keyframes,
        "keyframes_windows": results["windows"].keyframes,
        "true_keyframes": {k: round(v, 2) for k, v in att.true_keyframes.items()},
    }

    if not peers:
        return out
    try:
        from dtaidistance import dtw as dtai_dtw
        from dtaidistance import dtw_ndim
        from dtaidistance.subsequence.subsequencealignment import subsequence_alignment
    except ImportError as e:  # a peer missing is reported, not hidden
        out["dtaidistance"] = f"not installed ({e})"
    else:
        if not dtai_dtw.try_import_c(verbose=False):
            out["dtaidistance"] = "C library not available; not timed (the Python version is not equal work)"
        else:

            def dtai_stage2(a, b):
                return dtw_ndim.warping_path(q, s[a : b + 1], window=r2 + 1, use_c=True)

            def dtai_windows():
                best = (np.inf, 0, 0)
                for st, ln in windows:
                    d = dtw_ndim.distance(q, s[st : st + ln], window=r1 + 1, use_c=True) / n
                    if d < best[0]:
                        best = (d, st, st + ln - 1)
                return dtai_stage2(best[1], best[2])

            def dtai_open_end():
                sa = subsequence_alignment(q, s, penalty=0.0, use_c=True)
                m = sa.best_match()
                a, b = (int(v) for v in m.segment)
                return dtai_stage2(a, b)

            out["dtaidistance_windows"] = _times(dtai_windows, max(3, repeats // 20))
            out["dtaidistance_open_end"] = _times(dtai_open_end, repeats)
            x, y = q, np.ascontiguousarray(s[100:190])
            out["banded_kernel"] = _times(lambda: banded_dtw(x, y, 9, cost="sqrt_sum_squared"), repeats)
            out["dtaidistance_distance"] = _times(lambda: dtw_ndim.distance(x, y, window=10, use_c=True), repeats)
            out["dtaidistance_warping_path"] = _times(lambda: dtw_ndim.warping_path(x, y, window=10, use_c=True), repeats)
            ours = banded_dtw(x, y, 9, cost="sqrt_sum_squared")[0]
            theirs = dtw_ndim.distance(x, y, window=10, use_c=True)
            out["kernel_vs_dtaidistance_abs_diff"] = float(abs(ours - theirs))

    try:
        from fastdtw import fastdtw
        from scipy.spatial.distance import euclidean
    except ImportError as e:
        out["fastdtw"] = f"not installed ({e})"
    else:
        rng = np.random.default_rng(1)
        sample = [windows[k] for k in rng.choice(len(windows), size=min(fastdtw_sample, len(windows)), replace=False)]
        fastdtw(q, s[:90], radius=r1, dist=euclidean)
        t0 = time.perf_counter()
        for st, ln in sample:
            fastdtw(q, s[st : st + ln], radius=r1, dist=euclidean)
        per_window = (time.perf_counter() - t0) / len(sample)
        a, b = results["open_end"].interval
        t0 = time.perf_counter()
        fastdtw(q, s[a : b + 1], radius=r2, dist=euclidean)
        stage2 = time.perf_counter() - t0
        out["fastdtw_windows_estimate"] = {
            "median_ms": 1e3 * (per_window * len(windows) + stage2),
            "per_window_ms": 1e3 * per_window,
            "sampled_windows": len(sample),
        }
    return out


def _print(res: dict) -> None:
    m = res["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} logical cores, {m['platform']}, Python {m['python']}, Numba {m['numba']}")
    w = res["work"]
    print(
        f"work: template {w['template_frames']} frames, input {w['input_frames']} frames, "
        f"{w['features_per_frame']} features/frame, {w['stage1_windows']} Stage-1 windows, "
        f"radius {w['stage1_radius']} / {w['stage2_radius']}"
    )
    print(f"{'row':34s} {'median ms':>10s} {'p99 ms':>10s}")
    for k, v in res.items():
        if isinstance(v, dict) and "median_ms" in v:
            p99 = f"{v['p99_ms']:10.3f}" if "p99_ms" in v else f"{'(est.)':>10s}"
            print(f"{k:34s} {v['median_ms']:10.3f} {p99}")
        elif isinstance(v, str):
            print(f"{k:34s} {v}")
    if "kernel_vs_dtaidistance_abs_diff" in res:
        print(f"banded kernel vs dtaidistance cost difference: {res['kernel_vs_dtaidistance_abs_diff']:.2e}")
    print(f"keyframes (open_end): {w['keyframes_open_end']}")
    print(f"keyframes (windows):  {w['keyframes_windows']}")
    print(f"true keyframes:       {w['true_keyframes']}")
    print("paper (SportsGPT, Sec. 4.3): 1.42 ms for two-stage MotionDTW")


if __name__ == "__main__":
    _print(bench_align(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
