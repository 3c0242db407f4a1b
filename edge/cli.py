"""The ``fieldcoach`` command.

Bad input gets one sentence on stderr and exit code 2; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge import __version__
from edge.actions.spec import ACTION_IDS

EXIT_BAD_INPUT = 2


class UserError(Exception):
    """A problem with what the user asked for or gave; printed as one sentence, exit 2."""


def _cmd_analyze(args) -> int:
    from edge.analyze import analyze_sequence
    from edge.config import load_config
    from edge.report import format_text, to_json
    from edge.skeleton.io import read_npz

    config = load_config(args.config)
    seq = read_npz(args.file)
    report = analyze_sequence(seq, args.action, config, reference_dir=args.reference)
    print(to_json(report) if args.json else format_text(report))
    return 0


def _cmd_guide(args) -> int:
    from edge.config import load_config
    from edge.guide.guide import guide_file
    config = load_config(args.config)

    def stream(token: str) -> None:
        if args.stream:
            sys.stderr.write(token)
            sys.stderr.flush()

    report = guide_file(args.report, config.guide, on_token=stream)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        g = report["guidance"]
        print(g["text"])
        print(f"\n(engine: {g['engine']}; sources: {', '.join(g['sources'])})")
    return 0


def _cmd_eval_guide(args) -> int:
    from edge.config import load_config
    from edge.guide.evaluate import run_guide_eval

    config = load_config(args.config)
    actions = None if args.action in (None, "all") else [args.action]
    result = run_guide_eval(config.guide, actions=actions, n_random=args.n, seed=args.seed, llm_n=args.llm_n)
    print(json.dumps(result, indent=2, default=float) if args.json else _format_guide_eval(result))
    return 0


def _format_guide_eval(result: dict) -> str:
    lines = ["SportsRAG evaluation"]
    for k, v in result.items():
        if isinstance(v, (int, float, str)) or v is None:
            lines.append(f"  {k}: {v}")
    return "\n".join(lines)


def _parse_faults(text: str | None):
    """None: draw faults from the population mix; "" or "none": no faults; else id[:severity],..."""
    if text is None:
        return None
    if text.strip().lower() in ("", "none"):
        return []
    faults = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, sev = item.partition(":")
        try:
            faults[name] = float(sev) if sev else 1.0
        except ValueError:
            raise UserError(f"fault severity {sev!r} for {name} is not a number.") from None
    return faults


def _cmd_simulate(args) -> int:
    from edge import sim

    if args.rubric:
        print(sim.rubric_text(args.action))
        return 0
    if args.dataset:
        actions = ACTION_IDS if args.action == "all" else (args.action,)
        index = sim.generate_dataset(
            actions, args.n, args.seed, Path(args.dataset), low_light=args.low_light, occlusion=args.occlusion
        )
        print(f"wrote {len(index)} samples to {args.dataset}")
        return 0
    if args.action == "all":
        raise UserError("--action all is only for --dataset; name one action.")
    if not args.out:
        raise UserError("give --out FILE.npz (or --dataset DIR, or --rubric).")
    faults = _parse_faults(args.faults)
    if faults:
        from edge.actions import load_action

        known = [p.id for p in load_action(args.action).problems]
        for name, sev in faults.items():
            if name not in known:
                raise UserError(f"{args.action} has no problem {name!r}; its problems are {', '.join(known)}.")
            if not 0.0 < sev <= 1.0:
                raise UserError(f"the severity of {name} must be in (0, 1], got {sev:g}.")
    sample = sim.simulate(args.action, args.seed, faults=faults, condition=args.condition)
    from edge.skeleton.io import write_npz

    write_npz(args.out, sample.sequence)
    faults = ", ".join(f"{k} ({v:.2f})" for k, v in sample.faults.items()) or "none"
    print(
        f"{args.action} seed {args.seed}: {sample.sequence.n_frames} frames, score {sample.score:.1f} "
        f"({sample.grade}), condition {sample.condition}, faults: {faults} -> {args.out}"
    )
    if args.plot:
        from edge.actions import load_action

        sim.plot_sample(sample, load_action(args.action), args.plot)
        print(f"plot -> {args.plot}")
    return 0


def _cmd_doctor(args) -> int:
    from edge.doctor import doctor_report, format_doctor

    rep = doctor_report()
    print(json.dumps(rep, indent=2) if args.json else format_doctor(rep))
    return 0


def _cmd_import(args) -> int:
    from edge.importers import import_file
    from edge.skeleton.io import write_npz

    seq = import_file(args.file, args.format)
    write_npz(args.out, seq)
    print(f"{args.file}: {seq.n_frames} frames at {seq.fps:g} Hz -> {args.out}")
    return 0


def _cmd_eval_scorer(args) -> int:
    from models.evaluate import evaluate_scorer

    if args.n < 2:
        raise UserError("--n must be at least 2 samples.")
    rep = evaluate_scorer(args.action, args.n, args.seed, _models_dir(args), args.backend, args.baselines,
                          progress=not args.json, cut=args.cut)
    if args.json:
        print(json.dumps(rep, indent=2, allow_nan=False))
        return 0
    print(f"scorer {rep['model']['name']} {rep['model']['version']} ({rep['model']['backend']}) on {rep['n']} fresh samples, "
          f"seed {rep['seed']}, {rep['input']}")
    rows = [("all", rep)] + list(rep["by_condition"].items())
    for name, base in (rep.get("baselines") or {}).items():
        if base is not None:
            rows.append((f"baseline {name}", base))
    for name, m in rows:
        if not m["n"]:
            print(f"  {name:22s} n=   0")
            continue
        srcc = "  n/a" if m["srcc"] is None else f"{m['srcc']:.3f}"
        print(
            f"  {name:22s} n={m['n']:4d}  MAE {m['mae']:5.2f}  RMSE {m['rmse']:5.2f}  SRCC {srcc}  "
            f"Acc@5 {100 * m['acc5']:5.1f}%  Acc@10 {100 * m['acc10']:5.1f}%  grade {100 * m['grade_accuracy']:5.1f}%"
        )
    return 0


def _cmd_bench_scorer(args) -> int:
    from edge.score.bench import bench_scorer, format_bench

    rep = bench_scorer(_models_dir(args), args.action, runs=args.runs, threads=args.threads)
    print(json.dumps(rep, indent=2) if args.json else format_bench(rep))
    return 0


def _models_dir(args):
    from edge.config import load_config
    from edge.score.attach import resolve_models_dir

    return resolve_models_dir(args.models or load_config(getattr(args, "config", None)).paths.models_dir)


def _add_scorer_target(target_sub, kind: str) -> None:
    """``fieldcoach eval scorer`` / ``fieldcoach bench scorer`` (kind: "eval" or "bench")."""
    if kind == "eval":
        e = target_sub.add_parser("scorer", help="the shipped scorer on freshly simulated samples: MAE, RMSE, SRCC, Acc@5/10")
        e.add_argument("--action", choices=ACTION_IDS, required=True)
        e.add_argument("--n", type=int, default=200, help="fresh samples (20%% low light, 15%% occlusion)")
        e.add_argument("--seed", type=int, default=0, help="evaluation seed (never overlaps the training data)")
        e.add_argument("--backend", default="auto", choices=("auto", "tensorrt", "ort-cuda", "ort-cpu"))
        e.add_argument("--baselines", action="store_true", help="also PoseQuality (PCA + random forest) and the fixed-adjacency GCN")
        e.add_argument("--models", default=None, help="models directory (default: the configuration's paths.models_dir)")
        how = e.add_mutually_exclusive_group()
        how.add_argument("--cut", dest="cut", action="store_const", const=True, default=None,
                         help="score each sample cut to its attempt, as `fieldcoach serve` does (default: the whole recording, unless the model was trained on cut attempts only)")
        how.add_argument("--whole", dest="cut", action="store_const", const=False, help="score the whole simulated recording")
        e.add_argument("--json", action="store_true")
        e.set_defaults(func=_cmd_eval_scorer)
    else:
        b = target_sub.add_parser("scorer", help="scorer latency for 30/60/90/120 frames and batch 4, beside the paper's Table 9")
        b.add_argument("--action", choices=ACTION_IDS, default="standing_long_jump")
        b.add_argument("--runs", type=int, default=100)
        b.add_argument("--threads", type=int, default=1, help="ONNX Runtime / PyTorch intra-op threads")
        b.add_argument("--models", default=None, help="models directory (default: the configuration's paths.models_dir)")
        b.add_argument("--json", action="store_true")
        b.set_defaults(func=_cmd_bench_scorer)


def _print_result(res: dict, as_json: bool, text) -> None:
    print(json.dumps(res, indent=2, allow_nan=False) if as_json else text(res))


def _methods(text: str | None, known: tuple[str, ...]) -> tuple[str, ...]:
    if not text:
        return known
    methods = tuple(m.strip() for m in text.split(",") if m.strip())
    for m in methods:
        if m not in known:
            raise UserError(f"unknown method {m!r}; choose from {', '.join(known)}.")
    return methods


def _cmd_eval_align(args) -> int:
    from edge.evaluate.align_eval import METHODS, evaluate_align, evaluate_align_actions, format_align

    if args.n < 1:
        raise UserError("--n must be at least 1 attempt.")
    methods = _methods(args.methods, METHODS)
    faults = [] if args.fault_free else None
    if args.action == "all":
        res = evaluate_align_actions(ACTION_IDS, args.n, args.seed, methods, args.condition, args.reference, faults)
    else:
        res = evaluate_align(args.action, args.n, args.seed, methods, args.condition, args.reference, faults)
    _print_result(res, args.json, format_align)
    return 0


def _cmd_eval_diagnose(args) -> int:
    from edge.evaluate.diagnose_eval import METHODS, evaluate_diagnose, evaluate_diagnose_actions, format_diagnose

    if args.n < 1:
        raise UserError("--n must be at least 1 attempt.")
    methods = _methods(args.methods, METHODS)
    if args.action == "all":
        res = evaluate_diagnose_actions(ACTION_IDS, args.n, args.seed, methods, args.condition, args.reference)
    else:
        res = evaluate_diagnose(args.action, args.n, args.seed, methods, args.condition, args.reference)
    _print_result(res, args.json, format_diagnose)
    return 0


def _cmd_eval_real_squats(args) -> int:
    from edge.evaluate.real_squats import SENSORS, evaluate_real_squats, format_real_squats

    data = Path(args.data)
    if not data.is_dir():
        raise UserError(f"{data} is not a directory; give the UI-PRMD deep-squat folder with --data.")
    sensors = SENSORS if args.sensor == "both" else (args.sensor,)
    _print_result(evaluate_real_squats(data, sensors, args.reference), args.json, format_real_squats)
    return 0


def _cmd_bench_align(args) -> int:
    from edge.align.bench import _print, bench_align

    if args.repeats < 1:
        raise UserError("--repeats must be at least 1.")
    res = bench_align(args.repeats)
    if args.json:
        print(json.dumps(res, indent=2, default=str))
    else:
        _print(res)
    return 0


def _add_align_targets(target_sub, kind: str) -> None:
    """``fieldcoach eval align|diagnose|real-squats`` / ``fieldcoach bench align`` (kind: "eval" or "bench")."""
    if kind == "bench":
        b = target_sub.add_parser("align", help="two-stage MotionDTW vs dtaidistance and FastDTW on a 300-frame input")
        b.add_argument("--repeats", type=int, default=200, help="timed runs per row (after one warm-up run)")
        b.add_argument("--json", action="store_true")
        b.set_defaults(func=_cmd_bench_align)
        return
    def common(p, methods: str):
        p.add_argument("--action", choices=ACTION_IDS + ("all",), default="all", help="action, or all (default)")
        p.add_argument("--n", type=int, default=50, help="held-out simulated attempts per action")
        p.add_argument("--seed", type=int, default=0, help="master seed of the held-out attempts (never calibration seeds)")
        p.add_argument("--condition", choices=("normal", "low_light", "occlusion"), default="normal")
        p.add_argument("--methods", default=None, help=f"comma list of methods (default all: {methods})")
        p.add_argument("--reference", default=None, help="reference bundle directory (default: the shipped one)")
        p.add_argument("--json", action="store_true", help="print the figures as JSON")

    a = target_sub.add_parser("align", help="keyframe error of MotionDTW, its Table 2 ablations and DTW baselines")
    common(a, "motiondtw, no_dynamic, no_joint_weights, single_joint, one_stage, dtw_raw, fastdtw")
    a.add_argument("--fault-free", action="store_true", help="attempts without injected faults (default: the population mix)")
    a.set_defaults(func=_cmd_eval_align)
    d = target_sub.add_parser("diagnose", help="diagnosis IoU (Eq. 6) against the simulator's faults")
    common(d, "motiondtw, fastdtw, true_keyframes")
    d.set_defaults(func=_cmd_eval_diagnose)
    r = target_sub.add_parser("real-squats", help="UI-PRMD deep squats: correct vs incorrect, bottom keyframe")
    r.add_argument("--data", required=True, help="the UI-PRMD deep-squat folder (with correct/ and incorrect/)")
    r.add_argument("--sensor", choices=("kinect", "vicon", "both"), default="both")
    r.add_argument("--reference", default=None, help="reference bundle directory (default: the shipped one)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_cmd_eval_real_squats)


def _capture_common(c) -> None:
    c.add_argument("--source", choices=("sim", "mkv", "k4a", "npz"), default="sim", help="where captures come from")
    c.add_argument("--file", help="the .mkv recording (--source mkv) or skeleton .npz (--source npz)")
    c.add_argument("--action", choices=ACTION_IDS, default="standing_long_jump")
    c.add_argument("--pose-model", default=None, help="17-keypoint ONNX pose model (needed for mkv and k4a)")
    c.add_argument("--seed", type=int, default=0, help="simulator seed (--source sim)")
    c.add_argument("--attempts", type=int, default=3, help="attempts in the simulated session (--source sim)")
    c.add_argument("--condition", choices=("normal", "low_light", "occlusion"), default="normal", help="simulated conditions")
    c.add_argument("--device", type=int, default=0, help="Azure Kinect device index (--source k4a)")
    c.add_argument("--max-frames", type=int, default=None, help="stop after this many captures")


def _run_capture(args, recorder=None) -> int:
    """``fieldcoach capture`` / ``record``: the capture loop, one line per attempt."""
    from calibration.kinect import CalibrationError
    from edge.capture.frames import CaptureError
    from edge.fusion.loop import open_source, pose_model_for, run_loop
    from edge.fusion.pose2d import PoseModelError

    def line(att) -> None:
        t = att.sequence.t
        print(f"attempt {att.index + 1}: {att.action} frames {att.start}-{att.end} "
              f"({att.n_frames} frames, {t[-1] - t[0]:.2f} s, t {t[0]:.2f}-{t[-1]:.2f} s)", flush=True)

    try:
        with open_source(args.source, file=args.file, action=args.action, seed=args.seed, attempts=args.attempts,
                         condition=args.condition, device_id=args.device) as source:
            pose = None if args.source == "npz" else pose_model_for(args.source, source, args.pose_model)
            summary = run_loop(args.source, source, args.action, pose=pose, windows=getattr(args, "windows", False),
                               recorder=recorder, max_frames=args.max_frames, on_attempt=line)
        if recorder is not None:
            recorder.close()
    except (CaptureError, CalibrationError, PoseModelError, ValueError, ImportError, OSError) as exc:
        raise UserError(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from None
    print(f"{summary.frames} skeleton frames, {len(summary.attempts)} attempts"
          + (f"; stopped early: {summary.error}" if summary.error else ""))
    return 0


def _cmd_capture(args) -> int:
    if args.record:
        from edge.capture.record import SessionRecorder

        return _run_capture(args, SessionRecorder(args.record, action=args.action))
    return _run_capture(args)


def _cmd_record(args) -> int:
    from edge.capture.record import SessionRecorder

    try:
        recorder = SessionRecorder(args.out, depth=args.depth, action=args.action)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    code = _run_capture(args, recorder)
    print(f"session -> {args.out}" + (f" (raw depth -> {recorder.depth_path})" if recorder.depth_path else ""))
    return code


def _add_capture_commands(sub) -> None:
    """``fieldcoach capture`` and ``fieldcoach record`` (edge.fusion.loop)."""
    c = sub.add_parser("capture", help="run the capture loop (sim, mkv, k4a or npz) and print a line per attempt")
    _capture_common(c)
    c.add_argument("--windows", action="store_true", help="fixed 90-frame windows instead of attempts")
    c.add_argument("--record", default=None, help="also write the skeleton stream to this .npz")
    c.set_defaults(func=_cmd_capture)
    r = sub.add_parser("record", help="record a session (skeleton stream, optionally raw depth) for replay")
    _capture_common(r)
    r.add_argument("--out", required=True, help="session file (.npz); replay with capture --source npz --file")
    r.add_argument("--depth", action="store_true", help="also keep the raw depth images (<out>.depth.npz)")
    r.set_defaults(func=_cmd_record)


def _cmd_screen(args) -> int:
    from edge.web.command import run

    return run(args)


def _cmd_serve(args) -> int:
    from edge.service.cli import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fieldcoach", description="FieldCoach movement coaching, offline.")
    p.add_argument("--version", action="version", version=f"fieldcoach {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    a = sub.add_parser("analyze", help="analyse one attempt (a skeleton .npz file)")
    a.add_argument("file", help="skeleton file (.npz, DESIGN.md contract)")
    a.add_argument("--action", choices=ACTION_IDS, default=None, help="action (default: the file's own label)")
    a.add_argument("--json", action="store_true", help="print the report as JSON")
    a.add_argument("--config", default=None, help="configuration YAML (default: built-in / $FIELDCOACH_CONFIG)")
    a.add_argument("--reference", default=None, help="reference bundle directory (default: the shipped models/reference)")
    a.set_defaults(func=_cmd_analyze)

    s = sub.add_parser("simulate", help="the simulated athlete: one attempt, a dataset, or the rubric")
    s.add_argument("--action", choices=ACTION_IDS + ("all",), default="standing_long_jump")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", help="write one attempt to this .npz")
    s.add_argument("--faults", help="comma list of problem ids with optional severity, e.g. stiff_landing:0.8; 'none' for a clean attempt (default: drawn from the population)")
    s.add_argument("--condition", choices=("normal", "low_light", "occlusion"), default=None)
    s.add_argument("--plot", help="also write a PNG: skeleton at each keyframe and the main joint-angle curve")
    s.add_argument("--dataset", help="write a dataset to this directory instead")
    s.add_argument("--n", type=int, default=10, help="samples per action for --dataset")
    s.add_argument("--low-light", type=float, default=0.2, help="share of low-light samples in --dataset")
    s.add_argument("--occlusion", type=float, default=0.15, help="share of occluded samples in --dataset")
    s.add_argument("--rubric", action="store_true", help="print the quality rubric of the action")
    s.set_defaults(func=_cmd_simulate)

    d = sub.add_parser("doctor", help="which backends are present, with versions")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=_cmd_doctor)

    i = sub.add_parser("import", help="convert a BVH or UI-PRMD file to a skeleton .npz")
    i.add_argument("file")
    i.add_argument("--format", required=True, help="bvh, uiprmd-kinect or uiprmd-vicon")
    i.add_argument("--out", required=True)
    i.set_defaults(func=_cmd_import)

    _add_capture_commands(sub)

    g = sub.add_parser("guide", help="write training guidance for an analysis report (JSON)")
    g.add_argument("report", help="a report from `fieldcoach analyze --json`")
    g.add_argument("--json", action="store_true", help="print the whole report with its guidance")
    g.add_argument("--stream", action="store_true", help="stream the model's tokens to stderr")
    g.add_argument("--config", default=None)
    g.set_defaults(func=_cmd_guide)

    ev = sub.add_parser("eval", help="evaluate a stage on fresh data")
    ev_sub = ev.add_subparsers(dest="target", required=True, metavar="TARGET")
    _add_scorer_target(ev_sub, "eval")
    _add_align_targets(ev_sub, "eval")
    eg = ev_sub.add_parser("guide", help="SportsRAG: grounding, coverage, quantified drills, recall@5, latency")
    eg.add_argument("--action", choices=ACTION_IDS + ("all",), default="all")
    eg.add_argument("--n", type=int, default=10, help="random simulated diagnoses per action (plus each problem's own)")
    eg.add_argument("--seed", type=int, default=7)
    eg.add_argument("--llm-n", type=int, default=3, help="reports also sent to the GGUF model, if one is configured")
    eg.add_argument("--json", action="store_true")
    eg.add_argument("--config", default=None)
    eg.set_defaults(func=_cmd_eval_guide)
    bn = sub.add_parser("bench", help="time a stage")
    bn_sub = bn.add_subparsers(dest="target", required=True, metavar="TARGET")
    _add_scorer_target(bn_sub, "bench")
    _add_align_targets(bn_sub, "bench")

    from edge.web.command import add_arguments as add_screen_arguments

    w = sub.add_parser("screen", help="the teacher's screen: web app for the kiosk and teachers' tablets")
    add_screen_arguments(w)
    w.set_defaults(func=_cmd_screen)

    from edge.service.cli import add_arguments as add_serve_arguments

    sv = sub.add_parser("serve", help="the appliance service: camera -> analysis -> store -> screen (systemd runs it)")
    add_serve_arguments(sv)
    sv.set_defaults(func=_cmd_serve)
    return p


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input or a missing/bad file: one sentence, exit 2."""
    from calibration.templates import ReferenceFileError
    from edge.actions.spec import ActionSpecError
    from edge.analyze import AnalysisError
    from edge.config import ConfigError
    from edge.guide.embed import EmbeddingError
    from edge.guide.kb_schema import CorpusError
    from edge.guide.retrieve import ReportError
    from edge.guide.store import StoreError
    from edge.importers import ImportFormatError
    from edge.score import BackendUnavailable, ModelFileError
    from edge.skeleton.io import SkeletonFileError

    return (
        UserError, SkeletonFileError, AnalysisError, ConfigError, ActionSpecError, ModelFileError,
        BackendUnavailable, EmbeddingError, CorpusError, ReportError, StoreError, ReferenceFileError,
        ImportFormatError,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except _user_errors() as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"fieldcoach: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("fieldcoach: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    # Run through the imported module so that ``python -m edge.cli`` and the ``fieldcoach`` command
    # share one set of classes (UserError raised by edge.* modules is edge.cli.UserError).
    from edge.cli import main as _main

    sys.exit(_main())
