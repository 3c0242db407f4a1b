"""A simulated session: one or several attempts of an action on one time line, with ground truth.

``build_timeline(action, seed, n_attempts=...)`` strings attempts from ``edge.sim.simulate``
together at 30 Hz in the simulator's world (metres, y up, floor y = 0, travel along +x):

- the session opens with ``background_s`` of empty scene (the appliance learns its background);
- actions done on the spot (``direction_of_travel`` "none": sit-up, squat, free throw, pass) are
  repetitions by the *same* student (same seed, so the same body and base technique; each rep
  draws its own fault: none, or one problem at severity U(0.3, 1)). Reps follow each other
  through their idle rest; the small pose difference between one rep's last and the next rep's
  first frame is blended (minimum jerk) over the last second of the rest;
- travelling actions (the long jump) are done by successive students (seed + i), each leaving
  the scene for ``gap_s`` before the next steps in (no person in those frames: NaN joints).

Ground truth per attempt: the spec keyframes (session frame indices) and the attempt's start and
end as ``edge.fusion.segment.movement_bounds`` defines them, computed on the clean motion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.actions.spec import load_action

FPS = 30.0


@dataclass(frozen=True)
class SimAttempt:
    """One attempt on the session time line; frames are session frame indices (30 Hz)."""

    index: int
    seed: int
    student: int
    start_frame: int
    end_frame: int
    keyframes: dict[str, int]
    faults: dict[str, float]
    score: float
    grade: str


@dataclass
class SimTimeline:
    """The clean session: joints float64 (N, 17, 3) world, NaN where nobody is in view; feet
    (N, 2, 3, 3) heel/ball/toe; present bool (N,); scale (N,) body radius scale
    (``sim_render.body_scale``); landing_s: times (s) a foot hits the floor after a flight."""

    action: str
    seed: int
    fps: float
    joints: np.ndarray
    feet: np.ndarray
    present: np.ndarray
    scale: np.ndarray
    attempts: list[SimAttempt]
    landing_s: list[float] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.joints.shape[0])


def _landings(contacts: np.ndarray, fps: float, offset: int) -> list[float]:
    any_c = np.asarray(contacts).any(axis=1)
    k = np.nonzero(~any_c[:-1] & any_c[1:])[0] + 1
    return [float((offset + i) / fps) for i in k]


def build_timeline(
    action: str,
    seed: int,
    *,
    n_attempts: int = 1,
    background_s: float = 1.0,
    rest_s: tuple[float, float] = (1.0, 2.5),
    gap_s: tuple[float, float] = (0.8, 1.5),
    same_student: bool | None = None,
    fps: float = FPS,
) -> SimTimeline:
    """Simulate ``n_attempts`` attempts of ``action`` on one time line (see the module docstring)."""
    from edge.capture.sim_render import body_scale
    from edge.fusion.segment import movement_bounds
    from edge.sim import simulate

    if n_attempts < 1:
        raise ValueError(f"a session needs at least one attempt, got {n_attempts}.")
    if background_s < 0 or min(rest_s) < 0 or min(gap_s) < 0:
        raise ValueError("background, rest and gap durations must be non-negative.")
    spec = load_action(action)
    if same_student is None:
        same_student = spec.direction_of_travel == "none"
    rng = np.random.default_rng([int(seed), 7919])
    problem_ids = [p.id for p in spec.problems]
    n_bg = int(round(background_s * fps))
    pieces_j, pieces_f, pieces_p, pieces_s = [], [], [], []

    def empty(n: int) -> None:
        pieces_j.append(np.full((n, 17, 3), np.nan))
        pieces_f.append(np.full((n, 2, 3, 3), np.nan))
        pieces_p.append(np.zeros(n, bool))
        pieces_s.append(np.ones(n))

    empty(n_bg)
    frame = n_bg
    attempts: list[SimAttempt] = []
    landing: list[float] = []
    blend = int(round(1.0 * fps))
    for i in range(n_attempts):
        s_seed = int(seed) if same_student else int(seed) + i
        faults = {} if rng.random() < 0.4 else {problem_ids[int(rng.integers(len(problem_ids)))]: float(rng.uniform(0.3, 1.0))}
        idle = (float(rng.uniform(*rest_s)), float(rng.uniform(*rest_s)))
        sample = simulate(action, s_seed, faults=faults, idle=idle, fps=fps)
        joints = np.asarray(sample.clean_joints, dtype=np.float64)
        feet = np.asarray(sample.motion.feet, dtype=np.float64)
        if same_student and attempts:  # blend the previous rest into this rep's first pose
            prev_j, prev_f = pieces_j[-1], pieces_f[-1]
            nb = min(blend, prev_j.shape[0])
            s_ = np.arange(1, nb + 1) / nb
            w = (10 * s_**3 - 15 * s_**4 + 6 * s_**5)[:, None, None]  # minimum-jerk blend
            prev_j[-nb:] = (1 - w) * prev_j[-nb:] + w * joints[0]
            prev_f[-nb:] = (1 - w[..., None]) * prev_f[-nb:] + w[..., None] * feet[0]
        elif attempts:
            empty(int(round(rng.uniform(*gap_s) * fps)))
            frame = sum(p.shape[0] for p in pieces_j)
        n = joints.shape[0]
        kf = {k: int(v) + frame for k, v in sample.keyframes.items()}
        first, last = sample.keyframes[spec.keyframe_names[0]], sample.keyframes[spec.keyframe_names[-1]]
        start, end = movement_bounds(joints, fps, spec, first, last)
        attempts.append(
            SimAttempt(i, s_seed, s_seed if not same_student else int(seed), start + frame, end + frame, kf,
                       dict(sample.faults), float(sample.score), sample.grade)
        )
        landing += _landings(sample.contacts, fps, frame)
        pieces_j.append(joints)
        pieces_f.append(feet)
        pieces_p.append(np.ones(n, bool))
        pieces_s.append(np.full(n, body_scale(sample.body.height, sample.body.mass)))
        frame += n
    return SimTimeline(
        action=action,
        seed=int(seed),
        fps=float(fps),
        joints=np.concatenate(pieces_j),
        feet=np.concatenate(pieces_f),
        present=np.concatenate(pieces_p),
        scale=np.concatenate(pieces_s),
        attempts=attempts,
        landing_s=landing,
    )
