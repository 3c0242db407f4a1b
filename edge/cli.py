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
    report = analyze_sequence(seq, args.action, config)
    print(to_json(report) if args.json else format_text(report))
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fieldcoach", description="FieldCoach movement coaching, offline.")
    p.add_argument("--version", action="version", version=f"fieldcoach {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    a = sub.add_parser("analyze", help="analyse one attempt (a skeleton .npz file)")
    a.add_argument("file", help="skeleton file (.npz, DESIGN.md contract)")
    a.add_argument("--action", choices=ACTION_IDS, default=None, help="action (default: the file's own label)")
    a.add_argument("--json", action="store_true", help="print the report as JSON")
    a.add_argument("--config", default=None, help="configuration YAML (default: built-in / $FIELDCOACH_CONFIG)")
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
    return p


def _user_errors() -> tuple[type[BaseException], ...]:
    from edge.actions.spec import ActionSpecError
    from edge.analyze import AnalysisError
    from edge.config import ConfigError
    from edge.skeleton.io import SkeletonFileError

    errs: list[type[BaseException]] = [UserError, SkeletonFileError, AnalysisError, ConfigError, ActionSpecError]
    try:
        from edge.importers import ImportFormatError

        errs.append(ImportFormatError)
    except ImportError:
        pass
    return tuple(errs)


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
    sys.exit(main())
