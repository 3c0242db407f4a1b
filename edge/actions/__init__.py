"""Declarative action specs (DESIGN.md "Actions"): one YAML file per action, validated here."""

from edge.actions.spec import (
    ACTION_IDS,
    ActionSpec,
    ActionSpecError,
    load_action,
    load_all_actions,
)

__all__ = ["ACTION_IDS", "ActionSpec", "ActionSpecError", "load_action", "load_all_actions"]
