"""The committed training runs (``models/runs/<action>/``, see its README): each holds the PyTorch
weights a shipped scorer was exported from, so that a later training stage can continue it on a
fresh clone (``python -m models.train --init models/runs/<action> ...``; ``out/`` is not kept)."""

import json
from pathlib import Path

import numpy as np
import pytest

from models.card import weights_fingerprint
from models.train import build_parser, load_run, predict

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "models" / "runs"


def _runs() -> list[Path]:
    return sorted(p for p in RUNS.iterdir() if p.is_dir()) if RUNS.is_dir() else []


def test_runs_are_committed_for_actions_that_ship():
    names = [p.name for p in _runs()]
    assert names, "no training run is committed under models/runs"
    assert all((ROOT / "models" / "shipped" / n / "card.json").is_file() for n in names), names


@pytest.mark.parametrize("run", _runs(), ids=lambda p: p.name)
def test_a_committed_run_holds_the_shipped_scorers_weights(run):
    model, config, meta = load_run(run)
    bundle = ROOT / "models" / "shipped" / run.name
    card = json.loads((bundle / "card.json").read_text())
    assert meta["action"] == card["action"] == run.name
    # the card's version is "<card version>.<fingerprint of the weights>" (models.card.ship)
    assert card["version"].split(".", 1)[1] == weights_fingerprint(model)
    assert config.model_dump(mode="json") == card["config"]
    assert meta["data"]["samples"] == card["data"]["samples"] and meta["input"] == card["input"]
    assert meta["best_epoch"] == card["training"]["best_epoch"]
    with np.load(bundle / "golden.npz") as z:  # the ONNX file's scores of its golden samples
        x, onnx_score = z["x"], z["score"]
    assert np.max(np.abs(predict(model, x) - onnx_score)) < 1e-3


@pytest.mark.parametrize("run", _runs(), ids=lambda p: p.name)
def test_a_committed_run_can_be_named_as_a_stage_to_continue(run):
    args = build_parser().parse_args(["--action", run.name, "--init", str(run), "--n", "12000"])
    assert args.init == run and all((run / f).is_file() for f in ("state.pt", "config.json", "history.json"))
    # its record names the stages it went through, ending with the one the card records
    meta = json.loads((run / "history.json").read_text())
    card = json.loads((ROOT / "models" / "shipped" / run.name / "card.json").read_text())
    assert meta["command"] == card["training"]["command"]


def test_keep_copies_the_shipped_run_and_refuses_another(tmp_path, monkeypatch):
    """``python -m models.card keep RUN BUNDLE`` (what ``make train`` runs after shipping): the run is
    copied to ``models/runs/<action>`` only when its weights are the bundle's."""
    import models.data
    import models.train as mt
    from models.card import keep_run, ship
    from tests.test_train_tiny import _synthetic

    from edge.score.preprocess import InputSpec

    data = _synthetic(40, 3)
    monkeypatch.setattr(mt, "load_training_set", lambda *a, **k: data)
    monkeypatch.setattr(models.data, "load_training_set", lambda *a, **k: data)
    args = dict(action="sit_up", variant="full", width=0.1, seed=7, n=40, spec=InputSpec(frames=16), cache_dir=None)
    runs = []
    for k in range(2):  # two runs with other learning rates: other weights
        quick = mt.TrainSettings(epochs=1, batch_size=14, lr=3e-3 * (k + 1), progress=False)
        r, meta, _ = mt.run_training(epochs=1, settings=quick, **args)
        meta["command"] = f"stage {k}"
        runs.append(mt.save_run(r, tmp_path / f"run{k}" / "sit_up-full", meta))
    bundle = tmp_path / "shipped" / "sit_up"
    ship(runs[0], bundle, cache_dir=None)
    kept = keep_run(runs[0], bundle, tmp_path / "runs")
    assert kept == tmp_path / "runs" / "sit_up"
    for f in ("state.pt", "config.json", "history.json"):
        assert (kept / f).read_bytes() == (runs[0] / f).read_bytes()
    with pytest.raises(ValueError, match="is not the one .* ships"):
        keep_run(runs[1], bundle, tmp_path / "runs")
    assert (kept / "state.pt").read_bytes() == (runs[0] / "state.pt").read_bytes()  # the kept run is untouched
    from models.card import main

    with pytest.raises(SystemExit, match="is not the one .* ships"):  # the command line: one sentence
        main(["keep", str(runs[1]), str(bundle)])
