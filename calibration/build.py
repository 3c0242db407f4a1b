"""Build the reference bundle that ships with the models: ``python -m calibration.build --out models/reference``.

For each action: the MotionDTW templates (:mod:`calibration.templates`, 10 medoids of 40 elite
simulated attempts) and the KISMAM normal ranges (:mod:`calibration.ranges`, 200 fault-free
attempts); then ``manifest.json`` (:mod:`calibration.reference`) with the version, this command,
the settings, the seeds and the sha256 of every file. Same arguments, same bytes.

The MotionDTW settings shipped with the bundle (``MOTIONDTW``) differ from the library defaults
in four places, chosen on development attempts (simulate seeds 500-539 of every action, the
population mix of faults, neither calibration nor evaluation seeds), mean keyframe error over the
five actions in frames:

- ``vote_cost_ratio`` 1.1 (default 2.0): only references about as close as the best one vote, so
  a long jump with an arm pre-swing is not outvoted by references without one (5 references:
  the long jump's start error 7.6 -> 0.5 frames at 1.2; 10 references: 1.15 at 1.2, 1.14 at 1.1);
- ``alpha`` 4.0, ``beta`` 0.5 (Eq. 1; the library's 0.39 / 0.25): velocities in degrees per frame
  are small beside angles in degrees, and still-onset keyframes ("stabilized", "back_down") are
  placed by velocity (5 references, windows Stage 1: 1.32 -> 1.23);
- ``min_scale`` 0.5, ``max_scale`` 2.0 (0.7 / 1.4): a rushed squat takes half the reference's
  time (open-end Stage 1, 10 references: 1.20 -> 1.11; the windows Stage 1 reached 1.14 but is
  about 8x slower with 10 references);
- 10 references instead of 5 (1.18 -> 1.11; 8: 1.17). Alignment with all 10 takes 6-22 ms for
  150-280-frame inputs on the development machine.

KISMAM: ``min_score`` 0.1 (a tenth of a range width) and ``min_probability`` 0.1 keep out of the
top 6 the problems whose evidence is within the measurement noise, or that only share a lightly
weighted indicator with the main finding. On the development attempts (diagnosis IoU against
the detectable faults, ``edge.evaluate.diagnose_eval``) the medians were 1.0 with or without
them, the means rose from 0.73-0.85 to 0.74-0.88 and the share of fault-free attempts with a
finding fell from up to 18 % to at most 14 % (long jump) and 6 % (the others).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from calibration.ranges import RANGES_FILE, RangeBuildConfig, build_ranges, write_ranges
from calibration.reference import MANIFEST_FILE, MANIFEST_FORMAT_VERSION
from edge.checksum import file_sha256
from calibration.templates import TemplateBuildConfig, build_templates, save_templates
from edge.actions.spec import ACTION_IDS
from edge.align import FeatureConfig, MotionDTWConfig
from edge.skeleton.io import atomic_write_bytes

REFERENCE_VERSION = "1.0.0"
MOTIONDTW = MotionDTWConfig(
    features=FeatureConfig(alpha=4.0, beta=0.5),
    stage1="open_end",
    min_scale=0.5,
    max_scale=2.0,
    vote_cost_ratio=1.1,
)
KISMAM = {"top_n": 6, "min_probability": 0.1, "min_score": 0.1}


def build_reference(
    out_dir: str | Path,
    actions=ACTION_IDS,
    templates: TemplateBuildConfig | None = None,
    ranges: RangeBuildConfig | None = None,
    command: str = "",
    log=None,
) -> dict:
    """Write templates, ranges and the manifest for ``actions`` into ``out_dir``; returns the manifest."""
    templates = templates or TemplateBuildConfig()
    ranges = ranges or RangeBuildConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = log or (lambda msg: None)
    files: dict[str, str] = {}
    per_action: dict[str, dict] = {}
    range_blocks: dict[str, dict] = {}
    for action in actions:
        say(f"{action}: templates ({templates.n_references} medoids of {templates.n_candidates} elite attempts)")
        tset = build_templates(action, templates, MOTIONDTW)
        paths = save_templates(tset, out)
        say(f"{action}: normal ranges ({ranges.n_attempts} fault-free attempts)")
        range_blocks[action] = build_ranges(action, ranges)
        per_action[action] = {
            "templates": [p.name for p in paths],
            "template_seeds": list(tset.seeds),
            "template_frames": [t.n_frames for t in tset.templates],
            "candidate_seeds": [min(tset.candidate_seeds), max(tset.candidate_seeds)],
            "range_seeds": range_blocks[action]["seeds"],
        }
        for p in paths:
            files[p.name] = file_sha256(p)
    write_ranges(out / RANGES_FILE, range_blocks, ranges)
    files[RANGES_FILE] = file_sha256(out / RANGES_FILE)
    manifest = {
        "format_version": MANIFEST_FORMAT_VERSION,
        "version": REFERENCE_VERSION,
        "command": command,
        "motiondtw": MOTIONDTW.model_dump(mode="json"),
        "kismam": KISMAM,
        "template_build": templates.model_dump(mode="json"),
        "range_build": ranges.model_dump(mode="json"),
        "seed_scheme": (
            "calibration attempt i is simulate(action, 2**31 + i): templates i < 10**5, ranges "
            "10**5 <= i < 2 * 10**5; evaluation seeds are below 2**31"
        ),
        "actions": per_action,
        "files": dict(sorted(files.items())),
    }
    atomic_write_bytes(out / MANIFEST_FILE, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m calibration.build", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="reference directory to write (e.g. models/reference)")
    p.add_argument("--actions", default="all", help="comma-separated action ids, or all")
    p.add_argument("--n-references", type=int, default=TemplateBuildConfig().n_references)
    p.add_argument("--n-candidates", type=int, default=TemplateBuildConfig().n_candidates)
    p.add_argument("--margin", type=int, default=TemplateBuildConfig().margin_frames, help="template frames around the keyframes")
    p.add_argument("--n-ranges", type=int, default=RangeBuildConfig().n_attempts, help="fault-free attempts per action for ranges")
    p.add_argument("--widen", type=float, default=RangeBuildConfig().widen)
    args = p.parse_args(argv)
    actions = ACTION_IDS if args.actions == "all" else tuple(a.strip() for a in args.actions.split(",") if a.strip())
    unknown = [a for a in actions if a not in ACTION_IDS]
    if unknown:
        print(f"calibration.build: error: unknown action {unknown[0]!r}.", file=sys.stderr)
        return 2
    try:
        tcfg = TemplateBuildConfig(
            n_references=args.n_references, n_candidates=args.n_candidates, margin_frames=args.margin
        )
        rcfg = RangeBuildConfig(n_attempts=args.n_ranges, widen=args.widen)
    except ValueError as e:
        print(f"calibration.build: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    command = "python -m calibration.build " + " ".join(argv if argv is not None else sys.argv[1:])
    manifest = build_reference(
        args.out, actions, tcfg, rcfg, command.strip(), log=lambda m: print(m, file=sys.stderr, flush=True)
    )
    print(f"wrote {len(manifest['files'])} files and {MANIFEST_FILE} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
