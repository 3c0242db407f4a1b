"""A training run recovered from a shipped scorer's ONNX file, so that a later stage can continue it.

The scorers shipped before session 12 survive only as ``models/shipped/<action>/scorer.onnx``: the
PyTorch runs they were exported from lived in ``out/``. The exporter folds each batch normalisation
into the convolution before it (W' = W g / sqrt(v + eps), b' = (b - m) g / sqrt(v + eps) + beta),
so the file holds every weight, but not in the network's own parameterisation. ``recover_run``:

1. exports a template network of the card's configuration, with every parameter and statistic set
   to distinct random values, through the same exporter (``export.onnx_export.export_onnx``);
2. walks the template's and the shipped file's graphs side by side (they must have the same nodes
   in the same order, else the file came from other code and nothing is recovered) and works out,
   for each initializer of the template, which parameter it is: the parameter itself, its transpose,
   or a convolution's weight or bias with a batch normalisation folded in (matched by value);
3. puts the shipped values in: plain parameters as they are, a folded convolution's W' and b' into
   the convolution, its batch normalisation set to the identity;
4. re-estimates each batch normalisation from training samples: with the channel mean m and variance
   v of its input, the statistics (m, v), scale sqrt(v + eps) and shift m give the identity again
   in evaluation, and about the identity in training mode (batch statistics near m, v), so the
   continued stage starts from the shipped function instead of a re-normalised one;
5. checks that PyTorch scores the bundle's golden samples as the shipped ONNX file does.

The saved run (``state.pt``, ``config.json``, ``history.json``) records its stages from the card and
``recovered`` (file, version, sha256, calibration samples, parity). It is a new parameterisation of
the same function, so its weights' fingerprint is not the card's version: ``models.card keep``
refuses it, and it is meant only as ``python -m models.train --init``'s start.

    python -m models.recover models/shipped/basketball_free_throw out/recovered/basketball_free_throw
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

#: Golden-sample parity the recovered network must reach against the shipped ONNX file (points).
PARITY_POINTS = 1e-3
#: Training samples whose batch-normalisation inputs give the re-estimated statistics.
CALIBRATION_SAMPLES = 512


class RecoveryError(RuntimeError):
    """The shipped file cannot be mapped back onto this code's network."""


def _conv_bn_pairs(model: nn.Module) -> list[tuple[str, nn.Conv2d, str, nn.BatchNorm2d]]:
    """Every (convolution, batch normalisation) the exporter may fold: a BN whose input is a Conv2d's output.

    Found by structure: in this network each BN follows a Conv2d, either the previous entry of an
    ``nn.Sequential`` or a sibling attribute (``weight``/``fuse``) of the same module."""
    pairs = []
    modules = dict(model.named_modules())
    for name, bn in modules.items():
        if not isinstance(bn, nn.BatchNorm2d):
            continue
        parent_name, _, attr = name.rpartition(".")
        parent = modules[parent_name]
        conv_name = None
        if isinstance(parent, nn.Sequential):
            i = int(attr)
            if i > 0 and isinstance(parent[i - 1], nn.Conv2d):
                conv_name = f"{parent_name}.{i - 1}"
        else:
            convs = [n for n, m in parent.named_children() if isinstance(m, nn.Conv2d)]
            if len(convs) == 1:
                conv_name = f"{parent_name}.{convs[0]}"
        if conv_name is None:
            raise RecoveryError(f"no convolution found before the batch normalisation {name}.")
        pairs.append((conv_name, modules[conv_name], name, bn))
    return pairs


def _randomise(model: nn.Module, seed: int = 0) -> None:
    """Distinct random values in every parameter and BN statistic (so each initializer matches one recipe)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)


def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[np.ndarray, np.ndarray]:
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
    w = conv.weight.detach() * scale.view(-1, 1, 1, 1)
    b = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    return w.numpy(), ((b - bn.running_mean) * scale + bn.bias.detach()).numpy()


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=1e-5)


def _recipes(template: nn.Module, onnx_model) -> dict[str, tuple]:
    """Template initializer name -> recipe: ("param", key, transposed) | ("conv_w" | "conv_b", conv, bn) | ("const",)."""
    from onnx import numpy_helper

    state = {k: v.detach().numpy() for k, v in template.state_dict().items()}
    params = {k for k, _ in template.named_parameters()}
    pairs = _conv_bn_pairs(template)
    folded = {(c, b): _folded(cm, bm) for c, cm, b, bm in pairs}
    out = {}
    for init in onnx_model.graph.initializer:
        a = numpy_helper.to_array(init)
        recipe = None
        key = init.name.removeprefix("scorer.")  # the export wrapper holds the network as ``scorer``
        if key in state and _close(a, state[key]):
            recipe = ("param", key, False) if key in params else ("const",)
        if recipe is None and a.size > 1:
            for k in params:
                v = state[k]
                if _close(a, v):
                    recipe = ("param", k, False)
                elif v.ndim == 2 and _close(a, v.T):
                    recipe = ("param", k, True)
                if recipe is not None:
                    break
        if recipe is None and a.size > 1:
            for (c, b), (w, bias) in folded.items():
                if _close(a, w):
                    recipe = ("conv_w", c, b)
                elif _close(a, bias):
                    recipe = ("conv_b", c, b)
                if recipe is not None:
                    break
        out[init.name] = recipe or ("const",)
    return out


def _node_signature(model) -> list[tuple]:
    inits = {t.name for t in model.graph.initializer}
    return [(n.op_type, tuple(i in inits for i in n.input)) for n in model.graph.node]


def map_shipped_weights(model: nn.Module, template: nn.Module, template_onnx, shipped_onnx) -> dict:
    """Fill ``model`` (the card's network) with the shipped file's weights, ``template`` and
    ``template_onnx`` being ``export_template``'s pair; returns a summary.

    Raises RecoveryError when the graphs differ or a parameter has no initializer."""
    from onnx import numpy_helper

    if _node_signature(template_onnx) != _node_signature(shipped_onnx):
        raise RecoveryError("the shipped ONNX graph is not the graph this code exports for the card's configuration.")
    recipes = _recipes(template, template_onnx)
    shipped_init = {t.name: t for t in shipped_onnx.graph.initializer}
    template_init = {t.name: t for t in template_onnx.graph.initializer}
    by_position: dict[str, str] = {}
    for tn, sn in zip(template_onnx.graph.node, shipped_onnx.graph.node):
        for ti, si in zip(tn.input, sn.input):
            if ti in template_init:
                if by_position.setdefault(ti, si) != si:
                    raise RecoveryError(f"the initializer {ti} maps to two shipped tensors.")
    modules = dict(model.named_modules())
    state = model.state_dict()
    new: dict[str, torch.Tensor] = {}
    folded_pairs = set()
    for tname, recipe in recipes.items():
        value = numpy_helper.to_array(shipped_init[by_position[tname]]).copy()
        if recipe[0] == "const":
            if not np.array_equal(value, numpy_helper.to_array(template_init[tname])):
                raise RecoveryError(f"the constant {tname} differs between the template and the shipped file; no parameter explains it.")
        elif recipe[0] == "param":
            _, key, transposed = recipe
            new[key] = torch.from_numpy(value.T.copy() if transposed else value)
        else:
            kind, conv, bn = recipe
            folded_pairs.add((conv, bn))
            if kind == "conv_w":
                new[f"{conv}.weight"] = torch.from_numpy(value)
            elif modules[conv].bias is not None:
                new[f"{conv}.bias"] = torch.from_numpy(value)
            else:
                new[f"{bn}.bias"] = torch.from_numpy(value)
    for conv, bn in folded_pairs:
        m = modules[bn]
        new[f"{bn}.weight"] = torch.ones_like(m.weight)
        new.setdefault(f"{bn}.bias", torch.zeros_like(m.bias))
        new[f"{bn}.running_mean"] = torch.zeros_like(m.running_mean)
        new[f"{bn}.running_var"] = torch.full_like(m.running_var, 1.0 - m.eps)
    missing = [k for k, _ in model.named_parameters() if k not in new]
    if missing:
        raise RecoveryError(f"the shipped file holds no value for {len(missing)} parameters (first: {missing[0]}).")
    for k in state:
        if k not in new:
            new[k] = state[k]  # buffers that are constants of the code (the physical adjacency, counters)
    model.load_state_dict(new)
    return {"folded_batch_norms": len(folded_pairs), "parameters": sum(1 for r in recipes.values() if r[0] == "param")}


def export_template(config) -> tuple[nn.Module, object]:
    """A network of ``config`` with distinct random weights and the ONNX graph this code exports for it."""
    import onnx

    from export.onnx_export import export_onnx
    from models.agcn import AdaptiveGCNScorer

    template = AdaptiveGCNScorer(config.network)
    _randomise(template)
    template.eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "template.onnx"
        export_onnx(template, path, config)
        graph = onnx.load(str(path))
    return template, graph


def calibrate_batch_norms(model: nn.Module, x: np.ndarray, batch_size: int = 64) -> int:
    """Give each identity batch normalisation the statistics of its input over ``x`` (see module docstring)."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    sums = {id(m): [0.0, 0.0, 0] for m in bns}

    def hook(m, inputs, _output):
        v = inputs[0].detach().double()
        s = sums[id(m)]
        s[0] = s[0] + v.sum(dim=(0, 2, 3))
        s[1] = s[1] + (v * v).sum(dim=(0, 2, 3))
        s[2] += v.numel() // v.shape[1]

    handles = [m.register_forward_hook(hook) for m in bns]
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                model(torch.from_numpy(x[i : i + batch_size]))
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        for m in bns:
            total, sq, n = sums[id(m)]
            mean = total / n
            var = (sq / n - mean * mean).clamp_min(1e-6)
            shift = m.bias.detach().double()  # the folded bias when the convolution had none
            m.running_mean.copy_(mean.float())
            m.running_var.copy_(var.float())
            m.weight.copy_(torch.sqrt(var + m.eps).float())
            m.bias.copy_((mean + shift).float())
    return len(bns)


def _stage_meta(stages: list[dict]) -> dict | None:
    """A run's nested ``init`` chain rebuilt from a card's ``training.stages`` (first to last)."""
    meta = None
    for st in stages:
        meta = {"command": st.get("command", ""), "settings": {"epochs": st.get("epochs"), "lr": st.get("lr"),
                "curriculum": st.get("curriculum")}, "data": {"samples": st.get("samples")},
                "best_epoch": st.get("best_epoch"), "seconds": st.get("seconds"), "init": meta}
    return meta


def recover_run(bundle_dir: Path, out_dir: Path, calibration: int = CALIBRATION_SAMPLES) -> dict:
    """Recover the run behind ``bundle_dir``'s scorer into ``out_dir`` (see the module docstring); returns the summary."""
    import onnx

    from edge.score.bundle import MODEL_FILE, load_bundle
    from models.agcn import AdaptiveGCNScorer
    from models.config import ScorerConfig
    from models.data import card_split, simulate_samples, train_pairs
    from models.train import predict, write_run

    bundle = load_bundle(bundle_dir)  # checks the file against its card's sha256
    card = bundle.card
    config = ScorerConfig.model_validate(card["config"])
    shipped = onnx.load(str(Path(bundle_dir) / MODEL_FILE))
    model = AdaptiveGCNScorer(config.network)
    summary = map_shipped_weights(model, *export_template(config), shipped)

    data = card["data"]
    train_idx = card_split(data, int(data["samples"]))[0]
    pick = np.sort(train_idx[np.random.default_rng(0).permutation(len(train_idx))[: int(calibration)]])
    master, action = int(data["seed"]), card["action"]
    pairs = train_pairs(master, action, pick)
    if data.get("views", "whole") == "whole":
        x = simulate_samples(action, pairs, bundle.input_spec).x
    else:  # cut attempts (jittered, as training cuts them) for "cut"; half of each for "both"
        half = len(pairs) // 2 if data["views"] == "both" else 0
        parts = [simulate_samples(action, pairs[:half], bundle.input_spec).x] if half else []
        x = np.concatenate(parts + [simulate_samples(action, pairs[half:], bundle.input_spec, cut="jittered").x])
    summary["batch_norms_calibrated"] = calibrate_batch_norms(model, x.astype(np.float32))

    # the bundle's golden scores are the ONNX file's (models.card.ship; load_bundle checked the file's sha256)
    parity = float(np.max(np.abs(predict(model, bundle.golden_x.astype(np.float32)) - bundle.golden_score.reshape(-1))))
    if not parity <= PARITY_POINTS:
        raise RecoveryError(f"the recovered network scores the golden samples {parity:.4g} points away from the shipped file (limit {PARITY_POINTS}).")
    summary |= {"golden_max_abs_points": parity, "calibration_samples": int(len(x))}

    tr = card["training"]
    stages = tr.get("stages") or [  # cards written before stages were recorded: one stage
        {k: tr.get(k) for k in ("epochs", "lr", "curriculum", "best_epoch", "seconds", "command")} | {"samples": data["samples"]}]
    last = stages[-1]
    meta = {
        "action": card["action"],
        "variant": config.name.removeprefix("agcn-"),
        "data": {k: data[k] for k in ("seed", "samples", "split", "low_light", "occlusion", "views", "split_bases") if k in data},
        "input": card["input"],
        "settings": {"epochs": last.get("epochs"), "lr": last.get("lr"), "curriculum": last.get("curriculum"),
                     "batch_size": tr.get("batch_size"), "mining": tr.get("mining"), "augment_p": tr.get("augment_p")},
        "test_metrics": card["metrics"]["test_split"],
        "init": _stage_meta(stages[:-1]),
        "command": last.get("command", ""),
        "best_epoch": last.get("best_epoch"),
        "seconds": last.get("seconds"),
        "history": [],
        "recovered": {"bundle": str(bundle_dir), "version": card["version"], "sha256": card["sha256"]} | summary,
    }
    if "test_split_cut" in card["metrics"]:
        meta["test_metrics_cut"] = card["metrics"]["test_split_cut"]
    write_run(out_dir, model, config, meta)
    return meta["recovered"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.recover", description=__doc__.split("\n\n")[0])
    p.add_argument("bundle", type=Path, help="a shipped scorer's directory (models/shipped/<action>)")
    p.add_argument("out", type=Path, help="the run directory to write")
    p.add_argument("--calibration", type=int, default=CALIBRATION_SAMPLES, help="training samples for the batch-norm statistics")
    args = p.parse_args(argv)
    from edge.score.bundle import ModelFileError

    try:
        info = recover_run(args.bundle, args.out, args.calibration)
    except (RecoveryError, ModelFileError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
