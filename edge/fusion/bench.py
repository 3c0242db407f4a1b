"""Capture-and-fusion benchmark: prints the figures the issue asks for.

    python -m edge.fusion.bench [--seeds 2] [--attempts 3] [--actions all] [--quick] [--only segmentation]
                                [--seg-seed0 300]

1. the machine (CPUs, load average: the figures below are measured on it as it is);
2. fusion cost per frame without the pose network: median and p99, wall clock and CPU time of
   the fusing thread (``FusionPipeline.stats``), and the frames per second of the whole loop
   (simulated camera -> fusion -> attempt segmenter), wall clock and CPU; measured after
   ``warm_up`` (as ``fieldcoach serve`` runs it at start), whose time is printed too;
3. MPJPE (mm) of the fused joints against the simulator's truth in the output frame, per action
   and overall, under ``normal``, ``low_light`` and ``occlusion``;
4. attempt segmentation on multi-attempt sessions: the share of true attempts matched by a
   detected one with start and end both within 3 frames (and, for context, within 5 and 10), the
   detections that match no true attempt within 10 frames, and the emission delay: frames from a
   true attempt's end to the frame whose push returned its detection (flush: the stream's end);
   and the segmenter's own cost per ``push`` (wall clock, median / p99 / max).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from edge.actions.spec import ACTION_IDS, load_action
from edge.capture.sim_source import SimSource
from edge.fusion.evaluate import fuse_simulated
from edge.fusion.pipeline import FusionPipeline
from edge.fusion.pose_sim import SimulatedPoseModel
from edge.fusion.segment import AttemptSegmenter


def machine() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return (f"{platform.machine()} {platform.processor() or ''}".strip()
            + f", {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, "
            + f"Python {platform.python_version()}")


def loop_speed(action: str, seed: int, n_attempts: int) -> dict:
    """Run source -> fusion -> segmenter; per-frame fusion cost and the loop's frame rate."""
    src = SimSource(action, seed, n_attempts=n_attempts)
    pipe = FusionPipeline(src.calibration, SimulatedPoseModel(src))
    seg = AttemptSegmenter(load_action(action))
    n = 0
    w0, c0 = time.perf_counter(), time.process_time()
    for capture in src:
        for frame in pipe.process(capture):
            seg.push(frame)
        n += 1
    for frame in pipe.flush():
        seg.push(frame)
    seg.flush()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    skip = pipe.config.learn_frames + 2  # background learning and the floor fit are start-up, not per frame
    return {
        "frames": n,
        "fps_wall": n / wall,
        "fps_cpu": n / cpu,
        "fusion_wall_ms": np.asarray(pipe.stats.timings_ms[skip:]),
        "fusion_cpu_ms": np.asarray(pipe.stats.cpu_ms[skip:]),
    }


def match_attempts(truth: list[tuple[int, int]], found: list[tuple[int, int]], tol: int) -> int:
    """How many true (start, end) pairs have a detection with both ends within ``tol`` frames."""
    return sum(any(abs(fs - ts) <= tol and abs(fe - te) <= tol for fs, fe in found) for ts, te in truth)


def segmentation(action: str, seed: int, n_attempts: int, cost_ms: list | None = None) -> tuple[list, list, list]:
    """True and detected (start, end) session frames, and the session frame at which each detection
    came out; appends the wall-clock cost (ms) of every ``push`` to ``cost_ms`` when given."""
    fs = fuse_simulated(action, seed, n_attempts=n_attempts)
    return segment_fused(fs, AttemptSegmenter(load_action(action)), cost_ms)


def segment_fused(fs, seg: AttemptSegmenter, cost_ms: list | None = None) -> tuple[list, list, list]:
    """``segmentation`` on an already fused session (``edge.fusion.evaluate.FusedSession``) with a
    given segmenter: true and detected (start, end) session frames, and when each detection came out."""
    from edge.fusion.pipeline import SkeletonFrame

    a = fs.arrays
    k = fs.frame_index
    found, emitted = [], []
    for i in range(len(k)):
        f = SkeletonFrame(int(a["device_ts_usec"][i]), float(a["t"][i]), a["joints"][i], a["confidence"][i], True,
                          a["status"][i])
        t0 = time.perf_counter()
        out = seg.push(f)
        if cost_ms is not None:
            cost_ms.append(1000.0 * (time.perf_counter() - t0))
        found += out
        emitted += [int(k[i])] * len(out)
    out = seg.flush()
    found += out
    emitted += [int(k[-1])] * len(out)
    det = [(int(k[x.start]), int(k[x.end])) for x in found]
    truth = [(t.start_frame, t.end_frame) for t in fs.truth.attempts]
    return truth, det, emitted


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.fusion.bench", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=2, help="simulated sessions per action and condition")
    p.add_argument("--attempts", type=int, default=3, help="attempts per segmentation session")
    p.add_argument("--actions", default="all", help="comma list of action ids, or all")
    p.add_argument("--quick", action="store_true", help="one seed, one action per figure (a smoke run)")
    p.add_argument("--only", choices=("speed", "mpjpe", "segmentation"), help="print only this figure")
    p.add_argument("--seg-seed0", type=int, default=300,
                   help="first segmentation session seed (300: the figures reported; tune on others, e.g. 400)")
    args = p.parse_args(argv)
    actions = list(ACTION_IDS) if args.actions == "all" else args.actions.split(",")
    seeds = range(1 if args.quick else args.seeds)
    if args.quick:
        actions = actions[:1]

    print(f"machine: {machine()}")
    if args.only in (None, "speed"):
        _speed(actions, seeds)
    if args.only in (None, "mpjpe"):
        _mpjpe(actions, seeds)
    if args.only in (None, "segmentation"):
        _segmentation(actions, seeds, args.attempts, args.seg_seed0)
    return 0


def _speed(actions: list[str], seeds) -> None:
    from edge.fusion.pipeline import warm_up

    # as the service does before a camera's first capture: the compiled kernels are loaded from
    # numba's cache (or compiled) once per process, not in the middle of the first attempt
    print(f"warm-up (compiled kernels loaded or compiled, once per process): {warm_up():.1f} s")
    speed = [loop_speed(a, 100 + s, 2) for a in actions[:2] for s in seeds]
    wall = np.concatenate([r["fusion_wall_ms"] for r in speed])
    cpu = np.concatenate([r["fusion_cpu_ms"] for r in speed])
    frames = sum(r["frames"] for r in speed)
    print(f"fusion per frame without the pose network ({wall.size} frames): "
          f"wall median {np.median(wall):.2f} ms, p99 {np.percentile(wall, 99):.2f} ms; "
          f"CPU median {np.median(cpu):.2f} ms, p99 {np.percentile(cpu, 99):.2f} ms")
    fps_wall = frames / sum(r["frames"] / r["fps_wall"] for r in speed)
    fps_cpu = frames / sum(r["frames"] / r["fps_cpu"] for r in speed)
    print(f"whole loop (simulated camera rendering + fusion + segmenter), {frames} frames: "
          f"{fps_wall:.1f} fps wall clock, {fps_cpu:.1f} fps of CPU time")


def _mpjpe(actions: list[str], seeds) -> None:
    for condition in ("normal", "low_light", "occlusion"):
        per_action = {}
        all_err = []
        for a in actions:
            errs = []
            for s in seeds:
                fs = fuse_simulated(a, 200 + s, condition)
                e = fs.errors_m()
                errs.append(e[np.isfinite(e)])
            e = np.concatenate(errs)
            per_action[a] = 1000 * e.mean()
            all_err.append(e)
        e = np.concatenate(all_err)
        detail = ", ".join(f"{a} {v:.1f}" for a, v in per_action.items())
        print(f"MPJPE {condition}: {1000 * e.mean():.1f} mm (median {1000 * np.median(e):.1f} mm) [{detail}]")



def _segmentation(actions: list[str], seeds, n_attempts: int, seed0: int = 300) -> None:
    totals = {3: 0, 5: 0, 10: 0}
    n_true, n_extra, delays, cost = 0, 0, [], []
    for a in actions:
        hits = {3: 0, 5: 0, 10: 0}
        na, extra, dl = 0, 0, []
        for s in seeds:
            truth, det, emitted = segmentation(a, seed0 + s, n_attempts, cost)
            na += len(truth)
            for tol in hits:
                hits[tol] += match_attempts(truth, det, tol)
            extra += sum(not match_attempts([d], truth, 10) for d in det)
            for ts, te in truth:
                near = [i for i, (ds, de) in enumerate(det) if abs(ds - ts) <= 10 and abs(de - te) <= 10]
                if near:
                    dl.append(emitted[near[0]] - te)
        n_true += na
        n_extra += extra
        delays += dl
        for tol in hits:
            totals[tol] += hits[tol]
        d = f"emission delay median {np.median(dl):.0f}, max {np.max(dl)} frames" if dl else "no match"
        print(f"segmentation {a}: {hits[3]}/{na} within 3 frames ({hits[5]} within 5, {hits[10]} within 10); "
              f"{extra} detections matching nothing; {d}")
    d = (f"; emission delay after the true end (matched within 10): median {np.median(delays):.0f}, "
         f"p90 {np.percentile(delays, 90):.0f}, max {np.max(delays)} frames") if delays else ""
    print(f"segmentation recall: {totals[3] / max(n_true, 1):.1%} within 3 frames "
          f"({totals[5] / max(n_true, 1):.1%} within 5, {totals[10] / max(n_true, 1):.1%} within 10), {n_true} attempts, "
          f"{n_extra} detections matching nothing{d}")
    c = np.asarray(cost)
    print(f"segmenter push() per frame ({c.size} frames): median {np.median(c):.3f} ms, p99 {np.percentile(c, 99):.3f} ms, "
          f"max {c.max():.2f} ms (wall clock)")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
