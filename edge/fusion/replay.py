"""Replay of fused sessions from before the smoother: smoothing and segmentation variants in seconds.

Fusing a simulated session takes 5-10 s here; the smoother and the segmenter over its frames take a
fraction of that. ``record_session`` fuses a simulated multi-attempt session once and keeps every
frame as it enters the smoother (joints, confidence, status, device time), with the truth's
attempts, the session frame of each depth timestamp and the true joints. ``replay`` runs a
``Smoother`` (any settings) and an ``AttemptSegmenter`` (any settings) over a record and returns
what ``edge.fusion.bench.segment_fused`` returns for a freshly fused session, plus the per-joint
errors for the MPJPE. With the pipeline's settings it reproduces the bench exactly (a test checks
it). ``run`` also prints each action's mean signed start and end error over the attempts found
within 5 frames (what ``segment.BOUNDARY_BIAS`` was set from, with ``--segment '{"boundary_bias":
false}'`` on the development sets). docs/results_segmentation.md lists what was tried this way.

    python -m edge.fusion.replay record --seeds 800 812 --out out/presmooth
    python -m edge.fusion.replay run --records out/presmooth --pattern '*-8??' \\
        [--smooth '{"window": 11}'] [--segment '{"resume_s": 0.25}'] [--refiner out/segment-model]

Records are pickles of numpy arrays written by this module (development data under ``out/``, not
an interchange format); read only records you wrote.
"""

from __future__ import annotations

import argparse
import json
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge.actions.spec import ACTION_IDS, load_action
from edge.fusion.gaps import Frame
from edge.fusion.pipeline import FusionConfig, FusionPipeline, run_source, skeleton_frame
from edge.fusion.segment import AttemptSegmenter
from edge.fusion.smooth import Smoother


class _Recorder:
    """Stands in for the pipeline's smoother: keeps each frame that enters it, then passes it on."""

    def __init__(self, inner: Smoother):
        self.inner = inner
        self.log: list[tuple] = []

    def push(self, f: Frame) -> list[Frame]:
        self.log.append(("push", f.t, f.joints.copy(), f.confidence.copy(), dict(f.extra)))
        return self.inner.push(f)

    def flush(self) -> list[Frame]:
        self.log.append(("flush",))
        return self.inner.flush()


def record_session(action: str, seed: int, n_attempts: int = 3, config: FusionConfig | None = None) -> dict:
    """Fuse one simulated session (``SimSource``) and keep its frames as they enter the smoother."""
    from edge.capture.sim_source import SimSource
    from edge.fusion.pose_sim import SimulatedPoseModel

    src = SimSource(action, seed, n_attempts=n_attempts)
    pipe = FusionPipeline(src.calibration, SimulatedPoseModel(src), config)
    rec = _Recorder(pipe.smoother)
    pipe.smoother = rec
    run_source(src, pipe)
    truth = src.truth
    ts = np.array([e[4]["ts"] for e in rec.log if e[0] == "push"], dtype=np.int64)
    return {"action": action, "seed": int(seed), "log": rec.log, "config": asdict(pipe.config),
            "frame_of": dict(zip(ts.tolist(), truth.frame_of(ts).tolist())),
            "attempts": [(int(a.start_frame), int(a.end_frame)) for a in truth.attempts],
            "gt": truth.joints_output()}


def replay(record: dict, smooth: dict | None = None, segment: dict | None = None) -> tuple[list, list, np.ndarray]:
    """(true attempts, detected attempts, joint errors (m)) of a record under a smoother and a segmenter
    built from ``smooth`` / ``segment`` keyword arguments (defaults: the recorded pipeline's smoother,
    the segmenter's defaults). Attempts are (start, end) session frames."""
    if "config" not in record:
        raise ValueError(f"the {record.get('action')} record of seed {record.get('seed')} was written by an older recorder "
                         "(it lacks the pipeline settings and the person flag); record it again.")
    cfg = record["config"]
    kw = {"window": cfg["smooth_window"], "order": cfg["smooth_order"], "long_window": cfg["smooth_long_window"],
          "long_order": cfg["smooth_long_order"], "weak_conf": cfg["weak_conf"]} | (smooth or {})
    smoother = Smoother(**kw)
    frames: list[Frame] = []
    for e in record["log"]:
        if e[0] == "push":
            frames += smoother.push(Frame(e[1], e[2].copy(), e[3].copy(), dict(e[4])))
        else:
            frames += smoother.flush()
    seg = AttemptSegmenter(load_action(record["action"]), **(segment or {}))
    session_frame, found, errors = [], [], []
    for f in map(skeleton_frame, frames):  # as the pipeline hands them on
        k = record["frame_of"][f.device_ts_usec]
        session_frame.append(k)
        seen = np.isfinite(f.joints).all(axis=1)
        errors.append(np.linalg.norm(f.joints[seen] - record["gt"][k][seen], axis=1))
        found += seg.push(f)
    found += seg.flush()
    detected = [(session_frame[a.start], session_frame[a.end]) for a in found]
    return record["attempts"], detected, np.concatenate(errors) if errors else np.zeros(0)


@dataclass
class ReplayScore:
    """What ``replay_records`` measures: true attempts, how many were found with both ends within 3
    and 5 frames, a line per attempt missed at 3 frames, and the per-joint errors (m)."""

    attempts: int
    within3: int
    within5: int
    misses: list[str]
    errors: np.ndarray
    offsets: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


#: ``boundary_offsets`` counts a detection as the attempt's when both its ends are this close (frames).
OFFSET_TOL = 5


def nearest_offset(attempt: tuple[int, int], found: list) -> tuple[int, int] | None:
    """(start, end) signed error (frames, detection - truth) of the detection nearest a true attempt
    (least |start error| + |end error|); None when nothing was found."""
    if not found:
        return None
    ts, te = attempt
    fs, fe = min(found, key=lambda x: abs(x[0] - ts) + abs(x[1] - te))
    return fs - ts, fe - te


def boundary_offsets(truth: list, found: list, tol: int = OFFSET_TOL) -> list[tuple[int, int]]:
    """``nearest_offset`` of each true attempt whose nearest detection has both ends within ``tol``
    frames; the others (missed, merged) are left out."""
    near = [nearest_offset(t, found) for t in truth]
    return [d for d in near if d is not None and abs(d[0]) <= tol and abs(d[1]) <= tol]


def mean_offsets(offsets: dict[str, list[tuple[int, int]]]) -> dict[str, tuple[int, float, float]]:
    """Per action: how many attempts, and the mean signed start and end error (frames) over them
    (``boundary_offsets``): what ``segment.BOUNDARY_BIAS`` was set from."""
    return {a: (len(v), float(np.mean([d[0] for d in v])), float(np.mean([d[1] for d in v])))
            for a, v in sorted(offsets.items()) if v}


def replay_records(paths: list[Path], smooth: dict | None = None, segment: dict | None = None) -> ReplayScore:
    """``replay`` over record files, scored as the bench scores segmentation (``match_attempts``).
    A record the replay refuses raises ValueError naming its file."""
    from edge.fusion.bench import match_attempts

    n = within3 = within5 = 0
    misses, errors = [], []
    offsets: dict[str, list[tuple[int, int]]] = {}
    for path in paths:
        record = pickle.loads(Path(path).read_bytes())
        try:
            truth, det, e = replay(record, smooth, segment)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
        n += len(truth)
        within3 += match_attempts(truth, det, 3)
        within5 += match_attempts(truth, det, 5)
        errors.append(e)
        offsets.setdefault(record["action"], []).extend(boundary_offsets(truth, det))
        for t in truth:
            if not match_attempts([t], det, 3):
                misses.append(f"{Path(path).stem}: truth {t}, nearest detection off by {nearest_offset(t, det)}")
    return ReplayScore(n, within3, within5, misses, np.concatenate(errors) if errors else np.zeros(0), offsets)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.fusion.replay", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    r = sub.add_parser("record", help="fuse simulated sessions and keep them from before the smoother")
    r.add_argument("--seeds", type=int, nargs=2, required=True, metavar=("FIRST", "END"))
    r.add_argument("--actions", default="all")
    r.add_argument("--attempts", type=int, default=3)
    r.add_argument("--out", type=Path, default=Path("out/presmooth"))
    q = sub.add_parser("run", help="replay records under smoother / segmenter settings")
    q.add_argument("--records", type=Path, default=Path("out/presmooth"))
    q.add_argument("--pattern", default="*")
    q.add_argument("--smooth", type=json.loads, default={}, help="Smoother keyword arguments (JSON)")
    q.add_argument("--segment", type=json.loads, default={}, help="AttemptSegmenter keyword arguments (JSON)")
    q.add_argument("--refiner", type=Path, default=None,
                   help="a learnt boundary correction to apply (a directory written by edge.fusion.boundary_train)")
    args = p.parse_args(argv)
    if args.what == "record":
        actions = list(ACTION_IDS) if args.actions == "all" else args.actions.split(",")
        args.out.mkdir(parents=True, exist_ok=True)
        for a in actions:
            for s in range(*args.seeds):
                path = args.out / f"{a}-{s}.pkl"
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(pickle.dumps(record_session(a, s, args.attempts)))
                tmp.replace(path)
                print(f"recorded {path}", flush=True)
        return 0
    if args.refiner is not None:
        from edge.fusion.boundary import load_boundary

        try:
            args.segment["refiner"] = load_boundary(args.refiner)
        except (OSError, ValueError, KeyError) as err:
            raise SystemExit(f"--refiner {args.refiner}: {err}") from None
    paths = sorted(args.records.glob(f"{args.pattern}.pkl"))
    if not paths:
        raise SystemExit(f"no records match {args.records}/{args.pattern}.pkl; record them first.")
    try:
        res = replay_records(paths, args.smooth, args.segment)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    for m in res.misses:
        print(f"  miss {m}")
    for action, (k, ds, de) in mean_offsets(res.offsets).items():
        print(f"  {action}: mean signed error over {k} attempts found within {OFFSET_TOL} frames: "
              f"start {ds:+.2f}, end {de:+.2f} frames")
    n, within3 = res.attempts, res.within3
    print(f"{len(paths)} sessions, {n} attempts: within 3 frames {within3} ({100 * within3 / max(n, 1):.1f} %), "
          f"within 5 {res.within5}; MPJPE {1000 * res.errors.mean():.2f} mm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
