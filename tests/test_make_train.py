"""`make train` reproduces what ships: for every shipped scorer, the training commands the Makefile
runs for its action (printed, not run) have the same stages, with the same options, as the
commands recorded in its model card (``training.stages``)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from models.train import build_parser

ROOT = Path(__file__).resolve().parents[1]
#: Where a stage writes, and how much it prints: not part of what it trains.
PLACE = ("out", "ship", "init", "quiet")


def _options(command: str) -> dict:
    args = vars(build_parser().parse_args(command.split()[3:]))  # after "python -m models.train"
    return {k: v for k, v in args.items() if k not in PLACE}


def _make_train_commands() -> dict[str, list[str]]:
    env = {"PATH": os.environ.get("PATH", "")}  # no Makefile variable from the caller's environment
    out = subprocess.run(["make", "-s", "train", "PY=echo python", "STAMP="], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=60, env=env).stdout
    by_action: dict[str, list[str]] = {}
    for line in out.splitlines():
        if line.startswith("python -m models.train ") and "--variant baseline" not in line:
            action = line.split("--action ")[1].split()[0]
            by_action.setdefault(action, []).append(line)
    return by_action


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_train_runs_the_stages_each_shipped_card_records():
    made = _make_train_commands()
    cards = sorted((ROOT / "models" / "shipped").glob("*/card.json"))
    assert len(cards) == 5
    for path in cards:
        card = json.loads(path.read_text())
        training = card["training"]
        stages = training.get("stages") or [training]  # cards shipped before stages were recorded
        want = [_options(s["command"]) for s in stages]
        have = [_options(c) for c in made[card["action"]]]
        assert have == want, f"make train does not reproduce {card['action']}'s card"
        assert sum(o["epochs"] for o in have) == training["epochs"]
        assert have[-1]["n"] == card["data"]["samples"] and have[-1]["frames"] == card["input"]["frames"]


def test_the_options_that_decide_a_model_are_compared():
    a = _options("python -m models.train --action sit_up --n 6000 --epochs 30 --out x --quiet")
    b = _options("python -m models.train --action sit_up --epochs 30 --n 12000 --init y --ship z")
    assert a != b and (a | {"n": 12000}) == b
