"""Normal ranges [Tmin, Tmax] for KISMAM (SportsGPT Eq. 4) from good performances.

The paper sets each metric's normal range from the statistical distribution of the metric over a
reference group. Here the group is the simulated athlete's fault-free attempts (``faults=[]``:
students of the population without an injected technique fault), seen by the camera as at run
time (``condition="normal"``: camera yaw, jitter, drop-outs), each metric measured by the
production code (:func:`edge.diagnose.compute_metrics`) at the simulator's true keyframes, so
the ranges describe the performers and the measurement, not the aligner.

Robust percentiles, widened: with P5, P50, P95 of a metric over the group,

    Tmin = P5  - widen * (P50 - P5)          Tmax = P95 + widen * (P95 - P50)

5th/95th percentiles are stable with a few hundred attempts (unlike the 1st/99th), keep the
distribution's skew (heel rise, asymmetries and sideways shifts are one-sided), and ignore the
odd mis-measured attempt. An action has 15-17 metrics, so plain 5-95 % ranges would flag about
three good performers in four for something (1 - 0.9**13); ``widen = 0.6`` puts the bounds at about
2.6 standard deviations for a normal distribution (under 1 % of good performers outside a given
metric's range), so a good performer is flagged for nothing most of the time while a fault of
2-4 population standard deviations (the simulator's severity 1) still leaves the range.

A metric measured in fewer than ``min_coverage`` of the attempts (or whose range would be empty)
keeps its spec range and is listed under ``kept_spec_ranges`` with the reason. The spec ranges
stay in the specs as the documented defaults; KISMAM uses these calibrated ones at run time
through ``ranges_override``.

Seeds: attempt i is ``simulate(action, CALIBRATION_SEED_BASE + RANGES_SEED_OFFSET + i)`` (see
:mod:`calibration.templates`), disjoint from template seeds and from evaluation seeds.

File: one JSON, ``normal_ranges.json``: {"format_version": 1, "method": ..., "actions":
{action: {"n_attempts", "seeds": [first, last], "metrics": {metric: {"range": [Tmin, Tmax],
"spec_range", "unit", "p5", "p50", "p95", "n"}}, "kept_spec_ranges": {metric: reason}}}}.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from calibration.templates import CALIBRATION_SEED_BASE, RANGES_SEED_OFFSET, ReferenceFileError, read_versioned_json
from edge.actions.spec import ActionSpec, load_action
from edge.skeleton.io import atomic_write_bytes

RANGES_FORMAT_VERSION = 1
RANGES_FILE = "normal_ranges.json"


class RangeBuildConfig(BaseModel):
    """How the normal ranges of one action are estimated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_attempts: int = Field(200, ge=5, le=100000, description="fault-free attempts measured per action")
    p_low: float = Field(5.0, gt=0.0, lt=50.0, description="lower percentile")
    p_high: float = Field(95.0, gt=50.0, lt=100.0, description="upper percentile")
    widen: float = Field(0.6, ge=0.0, le=5.0, description="bounds move out by this fraction of P50-P_low / P_high-P50")
    min_coverage: float = Field(0.8, gt=0.0, le=1.0, description="share of attempts in which a metric must be measured")
    condition: str = Field("normal", pattern="^(normal|low_light|occlusion)$", description="simulated camera condition")
    decimals: int = Field(4, ge=1, le=9, description="decimals kept in the file")


def ranges_seeds(n: int) -> list[int]:
    """simulate() seeds of the attempts that calibrate normal ranges."""
    base = CALIBRATION_SEED_BASE + RANGES_SEED_OFFSET
    return [base + i for i in range(n)]


def measure_good_performers(action: str, seeds: Iterable[int], condition: str = "normal") -> dict[str, list[float | None]]:
    """Metric id -> values (None where not measured) over fault-free simulated attempts, measured
    with :func:`edge.diagnose.compute_metrics` on the observed sequence at the true keyframes."""
    from edge.diagnose import compute_metrics
    from edge.sim import simulate

    spec = load_action(action)
    out: dict[str, list[float | None]] = {m.id: [] for m in spec.metrics}
    for s in seeds:
        sample = simulate(action, int(s), faults=[], condition=condition)
        values = compute_metrics(sample.sequence, spec, sample.keyframes)
        for mid, mv in values.items():
            out[mid].append(mv.value)
    return out


def robust_range(values, p_low: float = 5.0, p_high: float = 95.0, widen: float = 0.6) -> dict:
    """{'range': (Tmin, Tmax), 'p5', 'p50', 'p95', 'n'} of the finite values (module doc);
    ValueError when there are none."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("no finite values to estimate a range from.")
    lo_p, mid, hi_p = np.percentile(v, [p_low, 50.0, p_high])
    lo = lo_p - widen * (mid - lo_p)
    hi = hi_p + widen * (hi_p - mid)
    return {"range": (float(lo), float(hi)), "p5": float(lo_p), "p50": float(mid), "p95": float(hi_p), "n": int(v.size)}


def ranges_from_values(spec: ActionSpec, values: dict[str, list], config: RangeBuildConfig) -> dict:
    """The JSON block of one action from measured values (see the module doc)."""
    metrics: dict[str, dict] = {}
    kept: dict[str, str] = {}
    n_total = max((len(v) for v in values.values()), default=0)
    r = config.decimals
    for m in spec.metrics:
        vals = values.get(m.id, [])
        n_ok = sum(1 for x in vals if x is not None and np.isfinite(x))
        if n_total == 0 or n_ok < config.min_coverage * n_total:
            kept[m.id] = f"measured in {n_ok} of {n_total} attempts (at least {config.min_coverage:.0%} needed)."
            continue
        est = robust_range(vals, config.p_low, config.p_high, config.widen)
        lo, hi = (round(x, r) for x in est["range"])
        if not lo < hi:
            kept[m.id] = f"the good performers' values do not spread at {r} decimals ({lo} to {hi})."
            continue
        metrics[m.id] = {
            "range": [lo, hi],
            "spec_range": [float(m.range[0]), float(m.range[1])],
            "unit": m.unit,
            "p5": round(est["p5"], r),
            "p50": round(est["p50"], r),
            "p95": round(est["p95"], r),
            "n": est["n"],
        }
    return {"metrics": metrics, "kept_spec_ranges": kept}


def build_ranges(action: str, config: RangeBuildConfig | None = None) -> dict:
    """Measure ``config.n_attempts`` fault-free attempts and estimate every metric's range."""
    config = config or RangeBuildConfig()
    spec = load_action(action)
    seeds = ranges_seeds(config.n_attempts)
    values = measure_good_performers(action, seeds, config.condition)
    block = ranges_from_values(spec, values, config)
    return {"n_attempts": config.n_attempts, "seeds": [seeds[0], seeds[-1]], "condition": config.condition, **block}


def method_text(config: RangeBuildConfig) -> str:
    return (
        f"P{config.p_low:g}/P50/P{config.p_high:g} of fault-free simulated attempts ({config.condition} condition), "
        f"measured by edge.diagnose.compute_metrics at the true keyframes; Tmin = P{config.p_low:g} - "
        f"{config.widen:g} (P50 - P{config.p_low:g}), Tmax = P{config.p_high:g} + {config.widen:g} (P{config.p_high:g} - P50)"
    )


def write_ranges(path: str | os.PathLike, actions: dict[str, dict], config: RangeBuildConfig) -> Path:
    """Write the ranges JSON atomically (sorted keys, byte-reproducible); returns the path."""
    doc = {
        "format_version": RANGES_FORMAT_VERSION,
        "method": method_text(config),
        "config": config.model_dump(mode="json"),
        "actions": actions,
    }
    path = Path(path)
    atomic_write_bytes(path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
    return path


def load_ranges(path: str | os.PathLike, action: str) -> dict[str, tuple[float, float]]:
    """Metric id -> (Tmin, Tmax) of one action from a ranges JSON file (a directory means its
    ``normal_ranges.json``), checked against the action's spec; ReferenceFileError otherwise."""
    path = Path(path)
    if path.is_dir():
        path = path / RANGES_FILE
    doc = read_versioned_json(
        path, "normal ranges file", RANGES_FORMAT_VERSION, "build it with `python -m calibration.build`"
    )
    block = doc.get("actions", {}).get(action)
    if not isinstance(block, dict) or not isinstance(block.get("metrics"), dict):
        raise ReferenceFileError(f"{path} has no normal ranges for {action}.")
    known = {m.id for m in load_action(action).metrics}
    out: dict[str, tuple[float, float]] = {}
    for mid, entry in block["metrics"].items():
        if mid not in known:
            raise ReferenceFileError(f"{path}: {mid} is not a metric of {action}.")
        try:
            lo, hi = (float(x) for x in entry["range"])
        except (KeyError, TypeError, ValueError):
            raise ReferenceFileError(f"{path}: the range of {action}.{mid} is not two numbers.") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ReferenceFileError(f"{path}: the range of {action}.{mid} must have finite Tmin < Tmax.")
        out[mid] = (lo, hi)
    return out
