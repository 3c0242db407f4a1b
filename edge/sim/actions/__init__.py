"""Action plugins of the simulated athlete: one module per action id (edge/sim/actions/<id>.py).

A plugin module defines (see edge/sim/FRAMEWORK.md):

- ``TECHNIQUE``: dict name -> ``edge.sim.technique.TechniqueParam``;
- ``FAULTS``: dict spec problem id -> {technique parameter: shift at severity 1.0}, one entry per
  problem of the action's spec, no more;
- ``generate(body, technique, rng, *, fps, idle) -> edge.sim.motion.Motion``;
- optionally ``EXCLUSIVE_FAULTS`` (tuple of sets of problem ids never injected together in a
  population sample), ``technique_means(body) -> dict`` (per-student population means) and
  ``realize(body, technique) -> technique`` (adjust values that this body cannot perform together,
  applied after the faults and before scoring).

``action_module(id)`` imports and checks a plugin (cached); ``available_actions()`` lists the ids
that have a plugin file.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from edge.actions.spec import ACTION_IDS, load_action
from edge.sim.technique import check_tables

_HERE = Path(__file__).parent


def available_actions() -> tuple[str, ...]:
    """Action ids (spec order) that have a plugin module file."""
    return tuple(a for a in ACTION_IDS if (_HERE / f"{a}.py").exists())


@lru_cache(maxsize=None)
def action_module(action_id: str) -> ModuleType:
    """The checked plugin module of an action; ValueError (one sentence) if missing or invalid."""
    if action_id not in ACTION_IDS:
        raise ValueError(f"unknown action {action_id!r}; choose one of {', '.join(ACTION_IDS)}.")
    if not (_HERE / f"{action_id}.py").exists():
        raise ValueError(f"the simulator has no plugin for {action_id} yet (edge/sim/actions/{action_id}.py).")
    mod = importlib.import_module(f"edge.sim.actions.{action_id}")
    for attr in ("TECHNIQUE", "FAULTS", "generate"):
        if not hasattr(mod, attr):
            raise ValueError(f"the plugin for {action_id} does not define {attr}.")
    spec = load_action(action_id)
    check_tables(action_id, mod.TECHNIQUE, mod.FAULTS, [p.id for p in spec.problems])
    for group in getattr(mod, "EXCLUSIVE_FAULTS", ()):
        unknown = set(group) - set(mod.FAULTS)
        if unknown:
            raise ValueError(f"{action_id}: EXCLUSIVE_FAULTS names unknown problems {sorted(unknown)}.")
    return mod
