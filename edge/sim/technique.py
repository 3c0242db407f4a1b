"""Technique parameters: the population they are drawn from, and faults that shift them.

Each action plugin declares ``TECHNIQUE``: name -> ``TechniqueParam`` (population mean and sd,
plausible bounds, the coach's ideal, the rubric tolerance and weight, unit, description), and
``FAULTS``: spec problem id -> {technique parameter: shift at severity 1.0}. A fault of severity
s in (0, 1] adds s x shift to each parameter it names; the result is clipped to the bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

import numpy as np

Penalize = Literal["both", "below", "above"]


@dataclass(frozen=True)
class TechniqueParam:
    """One technique parameter of an action.

    mean, sd: population distribution (normal, clipped to [lo, hi]) of students without an
    injected fault. ideal: the coach's target. tolerance: rubric scale, the deviation from the
    ideal that costs 39 % of the item's points (see ``edge.sim.labels``). weight: rubric points of
    the item (an action's weights sum to 100). penalize: which deviations cost points ('below'
    when more is never worse, e.g. take-off speed).
    """

    mean: float
    sd: float
    lo: float
    hi: float
    ideal: float
    tolerance: float
    weight: float
    unit: str
    description: str
    penalize: Penalize = "both"

    def __post_init__(self):
        if not self.lo < self.hi:
            raise ValueError(f"bounds must satisfy lo < hi, got ({self.lo}, {self.hi})")
        if not self.lo <= self.mean <= self.hi or not self.lo <= self.ideal <= self.hi:
            raise ValueError(f"mean {self.mean} and ideal {self.ideal} must lie in [{self.lo}, {self.hi}]")
        if self.sd < 0 or self.tolerance <= 0 or self.weight < 0:
            raise ValueError("sd and weight must be >= 0 and tolerance > 0")
        if self.penalize not in ("both", "below", "above"):
            raise ValueError(f"penalize must be both, below or above, got {self.penalize!r}")

    def deviation(self, value: float) -> float:
        """Deviation from the ideal that the rubric counts (>= 0)."""
        d = value - self.ideal
        if self.penalize == "below":
            d = min(d, 0.0)
        elif self.penalize == "above":
            d = max(d, 0.0)
        return abs(d)


def check_tables(action_id: str, technique: Mapping[str, TechniqueParam], faults: Mapping[str, Mapping[str, float]],
                 problem_ids) -> None:
    """Raise ValueError (one sentence) unless the tables are consistent with the spec's problems."""
    total = sum(p.weight for p in technique.values())
    if abs(total - 100.0) > 1e-6:
        raise ValueError(f"{action_id}: technique weights must sum to 100, got {total:g}")
    problems = set(problem_ids)
    missing = sorted(problems - set(faults))
    extra = sorted(set(faults) - problems)
    if missing:
        raise ValueError(f"{action_id}: spec problems without a fault: {', '.join(missing)}")
    if extra:
        raise ValueError(f"{action_id}: faults that are not spec problems: {', '.join(extra)}")
    for fid, shifts in faults.items():
        if not shifts:
            raise ValueError(f"{action_id}: fault {fid} shifts no technique parameter")
        for name, shift in shifts.items():
            if name not in technique:
                raise ValueError(f"{action_id}: fault {fid} names unknown technique parameter {name!r}")
            if shift == 0:
                raise ValueError(f"{action_id}: fault {fid} has a zero shift for {name}")


def sample_technique(technique: Mapping[str, TechniqueParam], rng: np.random.Generator,
                     means: Mapping[str, float] | None = None) -> dict[str, float]:
    """Draw one student's technique: N(mean, sd) clipped to the bounds, in table order.
    ``means`` overrides population means (e.g. take-off speed by age and sex)."""
    means = means or {}
    out = {}
    for name, p in technique.items():
        mu = float(means.get(name, p.mean))
        out[name] = float(np.clip(rng.normal(mu, p.sd), p.lo, p.hi))
    return out


def normalize_faults(faults, problem_ids) -> dict[str, float]:
    """Faults as {problem id: severity}: a list/tuple gives severity 1.0 each; a dict is checked.
    Unknown ids or severities outside (0, 1] raise ValueError."""
    if faults is None:
        return {}
    if isinstance(faults, str):
        raise ValueError("faults must be a list of problem ids or a {problem id: severity} dict, not a string")
    if isinstance(faults, Mapping):
        items = list(faults.items())
    else:
        items = [(f, 1.0) for f in faults]
    known = list(problem_ids)
    out: dict[str, float] = {}
    for fid, sev in items:
        if fid not in known:
            raise ValueError(f"unknown problem {fid!r}; expected one of {', '.join(known)}")
        sev = float(sev)
        if not 0.0 < sev <= 1.0:
            raise ValueError(f"the severity of {fid} must lie in (0, 1], got {sev}")
        out[fid] = sev
    return {k: out[k] for k in known if k in out}  # spec order


def apply_faults(values: Mapping[str, float], technique: Mapping[str, TechniqueParam],
                 fault_table: Mapping[str, Mapping[str, float]], faults: Mapping[str, float]) -> dict[str, float]:
    """Technique values with the faults' shifts (severity x shift) added and clipped to bounds."""
    out = dict(values)
    for fid, sev in faults.items():
        for name, shift in fault_table[fid].items():
            out[name] += sev * shift
    for name, p in technique.items():
        out[name] = float(np.clip(out[name], p.lo, p.hi))
    return out


#: Population mix of injected faults: P(number of faults) for 0, 1, 2, 3, 4.
FAULT_COUNT_P = (0.30, 0.33, 0.21, 0.11, 0.05)
SEVERITY_RANGE = (0.3, 1.0)


def sample_faults(rng: np.random.Generator, problem_ids, exclusive=()) -> dict[str, float]:
    """A random fault set for a population sample: count from FAULT_COUNT_P, problems uniform
    without replacement and never two of one ``exclusive`` group, severity U(0.3, 1.0)."""
    ids = list(problem_ids)
    k = int(rng.choice(len(FAULT_COUNT_P), p=FAULT_COUNT_P))
    order = rng.permutation(len(ids))
    chosen: list[str] = []
    for i in order:
        if len(chosen) >= k:
            break
        cand = ids[i]
        if any(cand in g and any(c in g for c in chosen) for g in exclusive):
            continue
        chosen.append(cand)
    sev = rng.uniform(*SEVERITY_RANGE, len(chosen))
    out = {c: float(round(s, 3)) for c, s in zip(chosen, sev)}
    return {k: out[k] for k in ids if k in out}
