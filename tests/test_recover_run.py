"""``python -m models.recover``: a training run rebuilt from a shipped scorer's ONNX file (whose
batch normalisations the exporter folded into the convolutions), so that a later stage continues it."""

import json

import numpy as np
import pytest
import torch

import models.data
import models.train as mt
from edge.score.preprocess import InputSpec
from models.card import keep_run, ship
from models.recover import RecoveryError, main, recover_run
from tests.test_train_tiny import _synthetic


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A tiny trained run and the bundle shipped from it."""
    tmp = tmp_path_factory.mktemp("recover")
    data = _synthetic(40, 3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mt, "load_training_set", lambda *a, **k: data)
        mp.setattr(models.data, "load_training_set", lambda *a, **k: data)
        quick = mt.TrainSettings(epochs=2, batch_size=14, lr=3e-3, progress=False)
        r, meta, _ = mt.run_training(action="sit_up", variant="full", width=0.1, seed=7, n=40, spec=InputSpec(frames=16),
                                     cache_dir=None, epochs=2, settings=quick)
        meta["command"] = "python -m models.train --action sit_up --n 40 (tiny)"
        run = mt.save_run(r, tmp / "run" / "sit_up-full", meta)
        bundle = tmp / "shipped" / "sit_up"
        ship(run, bundle, cache_dir=None)
    return run, bundle, tmp


def _modules(model):
    return dict(model.named_modules())


def test_the_recovered_run_scores_as_the_shipped_file_and_holds_its_weights(shipped):
    run, bundle, tmp = shipped
    info = recover_run(bundle, tmp / "recovered", calibration=8)
    card = json.loads((bundle / "card.json").read_text())
    assert info["version"] == card["version"] and info["golden_max_abs_points"] < 1e-3
    got, config, meta = mt.load_run(tmp / "recovered")
    orig, orig_config, _ = mt.load_run(run)
    assert config == orig_config and meta["data"] == json.loads((run / "history.json").read_text())["data"]
    with np.load(bundle / "golden.npz") as z:
        x, onnx_score = z["x"], z["score"]
    assert np.max(np.abs(mt.predict(got, x) - onnx_score)) < 1e-3
    assert np.max(np.abs(mt.predict(got, x) - mt.predict(orig, x))) < 1e-3
    # weights that are not folded come back exactly: attention, adaptive adjacency, the head's layers
    o, g = orig.state_dict(), got.state_dict()
    for key in ("backbone.blocks.0.gcn.adaptive_adjacency", "backbone.blocks.0.gcn.attention.first_i.weight",
                "head.classifier.weight", "backbone.blocks.2.temporal_attention.score.weight"):
        assert torch.equal(o[key], g[key]), key
    # a folded pair: the convolution holds W g / sqrt(v + eps); its batch normalisation is the identity
    om, gm = _modules(orig), _modules(got)
    conv, bn = "backbone.blocks.1.tcn.0", "backbone.blocks.1.tcn.1"
    scale = om[bn].weight / torch.sqrt(om[bn].running_var + om[bn].eps)
    assert torch.allclose(gm[conv].weight, om[conv].weight * scale.view(-1, 1, 1, 1), atol=1e-6)
    # its statistics are re-estimated from training samples (so training-mode batches stay near the identity)
    assert gm[bn].running_mean.abs().max() > 0 and torch.allclose(gm[bn].weight, torch.sqrt(gm[bn].running_var + gm[bn].eps))
    h = torch.randn(2, gm[bn].num_features, 5, 17)
    gm[bn].eval()
    assert torch.allclose(gm[bn](h), h, atol=1e-5)
    assert info["folded_batch_norms"] == sum(isinstance(m, torch.nn.BatchNorm2d) for m in got.modules())


def test_a_recovered_run_is_continued_but_not_kept(shipped, monkeypatch):
    run, bundle, tmp = shipped
    recovered = tmp / "recovered2"
    recover_run(bundle, recovered, calibration=8)
    with pytest.raises(ValueError, match="is not the one .* ships"):  # another parameterisation: not the bundle's weights
        keep_run(recovered, bundle, tmp / "runs")
    data = _synthetic(40, 3)
    monkeypatch.setattr(mt, "load_training_set", lambda *a, **k: data)
    quick = mt.TrainSettings(epochs=1, batch_size=14, lr=1e-3, progress=False)
    r, meta, _ = mt.run_training(action="sit_up", variant="full", width=0.1, seed=7, n=40, spec=InputSpec(frames=16),
                                 cache_dir=None, epochs=1, settings=quick, init=recovered)
    assert meta["init"]["recovered"]["version"] == json.loads((bundle / "card.json").read_text())["version"]
    assert meta["init"]["command"] == "python -m models.train --action sit_up --n 40 (tiny)"
    assert meta["settings"]["epoch_offset"] == 2  # the shipped run's two epochs: the loss schedules carry on


def test_a_file_from_another_graph_is_refused_in_one_sentence(shipped, capsys):
    _, bundle, tmp = shipped
    other = tmp / "other" / "sit_up"
    other.mkdir(parents=True)
    for f in bundle.iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    card = json.loads((other / "card.json").read_text())
    card["config"]["network"]["attention"] = False  # the card now describes a network without spatial attention
    (other / "card.json").write_text(json.dumps(card))
    with pytest.raises(RecoveryError, match="not the graph this code exports"):
        recover_run(other, tmp / "nothing", calibration=4)
    assert main([str(other), str(tmp / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp / "nothing").exists()
