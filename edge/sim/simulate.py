"""One simulated attempt: student, technique, faults, clean motion, labels and observation.

``simulate(action, seed)`` is a pure function of its arguments: the same seed gives the same
sample, bit for bit. Independent random streams (spawned from the seed and the action id) drive
the body, the technique, the fault draw, the motion details, the raters and the observation, so
asking for a different fault set or condition does not change the student.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field

import numpy as np

from edge.actions.spec import load_action
from edge.sim.actions import action_module
from edge.sim.anthropometry import Body, sample_body
from edge.sim.labels import grade, label_score, rate, rubric_score
from edge.sim.motion import Motion, check_keyframes, phases_from_keyframes
from edge.sim.observe import CONDITIONS, observe
from edge.sim.technique import apply_faults, normalize_faults, sample_faults, sample_technique
from edge.skeleton.sequence import SkeletonSequence

FPS = 30.0
#: Idle time before and after the action, uniform in this range (s).
IDLE_RANGE_S = (0.0, 3.0)
_STREAMS = ("body", "technique", "faults", "motion", "raters", "observe", "idle")


@dataclass
class SimSample:
    """A simulated attempt with its ground truth.

    sequence: the observed SkeletonSequence (camera frame, noise; meta['truth'] is a JSON string
    of the truth). clean_joints: float64 (T, 17, 3) world frame (floor y = 0, travel along +x).
    keyframes: name -> frame (spec order). phases: name -> (start frame, end frame). faults:
    problem id -> severity. score: label (mean of the raters), grade from it. contacts: (T, 2)
    feet on the floor.
    """

    action: str
    seed: int
    sequence: SkeletonSequence
    clean_joints: np.ndarray
    keyframes: dict[str, int]
    phases: dict[str, tuple[int, int]]
    faults: dict[str, float]
    score: float
    true_score: float
    rater_scores: list[float]
    grade: str
    condition: str
    contacts: np.ndarray
    technique: dict[str, float]
    body: Body
    camera: dict
    motion: Motion
    truth: dict = field(default_factory=dict)


def _streams(action: str, seed: int) -> dict[str, np.random.Generator]:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    ss = np.random.SeedSequence([int(seed), zlib.crc32(action.encode())])
    return {name: np.random.default_rng(child) for name, child in zip(_STREAMS, ss.spawn(len(_STREAMS)))}


def _round(x, nd: int = 6):
    """JSON-ready copy with floats rounded (deterministic text)."""
    if isinstance(x, dict):
        return {str(k): _round(v, nd) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_round(v, nd) for v in x]
    if isinstance(x, (np.floating, float)):
        return round(float(x), nd)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.ndarray):
        return _round(x.tolist(), nd)
    return x


def simulate(
    action: str,
    seed: int,
    faults=None,
    condition: str | None = None,
    *,
    fps: float = FPS,
    idle: tuple[float, float] | None = None,
) -> SimSample:
    """Simulate one attempt of ``action``.

    faults: None draws a fault set from the population mix (``technique.sample_faults``); a list
    of problem ids injects them at severity 1.0; a dict {problem id: severity in (0, 1]}; [] or {}
    injects none. condition: 'normal' (default), 'low_light' or 'occlusion'. idle: seconds of idle
    standing before and after the action (default drawn from U(0, 3) each).
    """
    if condition is None:
        condition = "normal"
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; choose one of {', '.join(CONDITIONS)}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    d = _draw(action, seed, faults)
    spec, mod, rs, body, technique, fault_set = d["spec"], d["mod"], d["rs"], d["body"], d["technique"], d["faults"]
    if idle is None:
        idle = tuple(float(x) for x in rs["idle"].uniform(*IDLE_RANGE_S, 2))
    elif len(idle) != 2 or min(idle) < 0:
        raise ValueError(f"idle must be two non-negative durations, got {idle!r}")

    motion = mod.generate(body, technique, rs["motion"], fps=fps, idle=idle)
    check_keyframes(spec, motion.keyframes, motion.n_frames)
    phases = phases_from_keyframes(spec, motion.keyframes)

    true_score, raters, score = d["true_score"], d["rater_scores"], d["score"]
    grd = grade(score)

    obs, conf, cam = observe(motion.joints, fps, condition, rs["observe"])
    truth = _round(
        {
            "action": action,
            "seed": int(seed),
            "fps": fps,
            "keyframes": motion.keyframes,
            "phases": {k: list(v) for k, v in phases.items()},
            "faults": fault_set,
            "score": score,
            "true_score": true_score,
            "rater_scores": raters.tolist(),
            "grade": grd,
            "condition": condition,
            "camera": cam.to_dict(),
            "technique": technique,
            "body": body.to_dict(),
            "events": motion.events,
            "info": motion.info,
            "idle_s": list(idle),
        }
    )
    seq = SkeletonSequence.from_positions(
        obs,
        fps,
        confidence=conf,
        action=action,
        subject=f"sim-{action}-{seed}",
        meta={"truth": json.dumps(truth, separators=(",", ":"))},
    )
    seq.validate()
    return SimSample(
        action=action,
        seed=int(seed),
        sequence=seq,
        clean_joints=motion.joints,
        keyframes=dict(motion.keyframes),
        phases=phases,
        faults=fault_set,
        score=score,
        true_score=true_score,
        rater_scores=raters.tolist(),
        grade=grd,
        condition=condition,
        contacts=motion.contacts,
        technique=technique,
        body=body,
        camera=cam.to_dict(),
        motion=motion,
        truth=truth,
    )


def _draw(action: str, seed: int, faults) -> dict:
    """Everything decided before the motion: streams, body, technique, faults, labels."""
    spec = load_action(action)
    mod = action_module(action)
    rs = _streams(action, seed)
    problem_ids = [p.id for p in spec.problems]
    body = sample_body(rs["body"])
    means = mod.technique_means(body) if hasattr(mod, "technique_means") else None
    base = sample_technique(mod.TECHNIQUE, rs["technique"], means)
    drawn = sample_faults(rs["faults"], problem_ids, getattr(mod, "EXCLUSIVE_FAULTS", ()))
    fault_set = drawn if faults is None else normalize_faults(faults, problem_ids)
    technique = apply_faults(base, mod.TECHNIQUE, mod.FAULTS, fault_set)
    if hasattr(mod, "realize"):
        technique = mod.realize(body, technique)
    true_score = rubric_score(mod.TECHNIQUE, technique)
    raters = rate(true_score, rs["raters"])
    return {
        "spec": spec,
        "mod": mod,
        "rs": rs,
        "body": body,
        "technique": technique,
        "faults": fault_set,
        "true_score": true_score,
        "rater_scores": raters,
        "score": label_score(raters),
    }


def draw_labels(action: str, seed: int, faults=None) -> dict:
    """The label side of ``simulate`` without rendering motion (fast; same streams, same values):
    technique, faults, true score, rater scores (3,), score and grade."""
    d = _draw(action, seed, faults)
    out = {k: d[k] for k in ("technique", "faults", "true_score", "rater_scores", "score")}
    out["grade"] = grade(d["score"])
    return out
