"""Structured pruning of the scorer's low-contribution graph-convolution kernels (paper Sec. 7.2).

In every spatio-temporal block the graph convolution's output channels (the kernels of W^(l) in
Eq. 5) feed only their batch norm and the block's per-joint temporal convolution, so a kernel can be
removed without touching the residual path: its row of W^(l), its batch-norm entry and the matching
input slice of the temporal convolution go. Together these two convolutions are most of the model's
FLOPs (Table 8's "adaptive graph convolution layer", 68.5 %).

Contribution of kernel c: |gamma_c| / sqrt(var_c + eps) (its batch-norm gain) times the L1 norm of
the temporal-convolution weights that read it -- how strongly the channel can reach the block's
output. ``prune_scorer(model, ratio=0.15)`` removes the ``ratio`` lowest-contribution kernels of
every block (the paper prunes 15 %) and returns the removed counts; the pruned model is then
fine-tuned (``fine_tune`` runs ``models.train``'s loop for a few epochs) and exported like the
full one (``export.onnx_export.export_onnx`` without a config, since the widths changed).

Command line: ``python -m export.prune RUN_DIR OUT.onnx [--ratio 0.15] [--epochs 3]``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torch import nn

from models.agcn import AdaptiveGCNScorer, STBlock


def kernel_contribution(block: STBlock) -> torch.Tensor:
    """(C_mid,) contribution of each graph-convolution output kernel of ``block``."""
    bn = block.gcn.bn
    gain = bn.weight.detach().abs() / torch.sqrt(bn.running_var + bn.eps)
    tconv = block.tcn[0].weight.detach()  # (C_out, C_mid, k, 1)
    return gain * tconv.abs().sum(dim=(0, 2, 3))


def _shrink_block(block: STBlock, keep: torch.Tensor) -> None:
    keep = torch.sort(keep).values
    old_w: nn.Conv2d = block.gcn.weight
    w = nn.Conv2d(old_w.in_channels, len(keep), kernel_size=1)
    w.weight.data = old_w.weight.data[keep].clone()
    w.bias.data = old_w.bias.data[keep].clone()
    old_bn: nn.BatchNorm2d = block.gcn.bn
    bn = nn.BatchNorm2d(len(keep), eps=old_bn.eps, momentum=old_bn.momentum)
    for name in ("weight", "bias"):
        getattr(bn, name).data = getattr(old_bn, name).data[keep].clone()
    bn.running_mean.data = old_bn.running_mean[keep].clone()
    bn.running_var.data = old_bn.running_var[keep].clone()
    bn.num_batches_tracked.data = old_bn.num_batches_tracked.clone()
    old_t: nn.Conv2d = block.tcn[0]
    t = nn.Conv2d(len(keep), old_t.out_channels, kernel_size=old_t.kernel_size, stride=old_t.stride, padding=old_t.padding)
    t.weight.data = old_t.weight.data[:, keep].clone()
    t.bias.data = old_t.bias.data.clone()
    block.gcn.weight, block.gcn.bn, block.tcn[0] = w, bn, t


def prune_scorer(model: AdaptiveGCNScorer, ratio: float = 0.15) -> list[int]:
    """Remove the ``ratio`` lowest-contribution kernels of each block in place; returns kernels removed per block."""
    if not (0.0 <= ratio < 1.0):
        raise ValueError(f"pruning ratio must be in [0, 1), got {ratio}.")
    removed = []
    for block in model.backbone.blocks:
        score = kernel_contribution(block)
        n = score.numel()
        drop = min(n - 1, int(math.floor(ratio * n + 0.5)))
        keep = torch.argsort(score, descending=True)[: n - drop]
        _shrink_block(block, keep)
        removed.append(drop)
    return removed


def remaining_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def fine_tune(model: AdaptiveGCNScorer, config, train, val, epochs: int = 3, lr: float = 3e-4, seed: int = 0) -> list[dict]:
    """A few epochs of the mixed loss on the training split (no curriculum, no mining; with two views,
    each sample in its cut view with p = ``CUT_VIEW_P`` as in training); returns the history."""
    import numpy as np

    from models.data import CUT_VIEW_P, augment_batch, batch_views
    from models.losses import total_loss
    from models.train import predict
    from models.evaluate import score_metrics

    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    y = torch.from_numpy(train.y.astype("float32"))
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(len(train))
        for b in range(0, len(order), 32):
            idx = order[b : b + 32]
            if len(idx) < 2:
                continue
            out = model(torch.from_numpy(augment_batch(batch_views(train, idx, rng, CUT_VIEW_P), rng)))
            loss, _ = total_loss(out, y[idx], config.loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
        m = score_metrics(val.y, predict(model, val.x))
        history.append({"epoch": epoch, "val_mae": m["mae"], "val_srcc": m["srcc"]})
    model.eval()
    return history


def main(argv: list[str] | None = None) -> int:
    from export.onnx_export import export_onnx
    from edge.score.preprocess import InputSpec
    from models.data import card_split, card_views, load_training_set
    from models.evaluate import score_metrics
    from models.train import load_run, predict

    p = argparse.ArgumentParser(prog="python -m export.prune", description="Prune 15 % of the graph-convolution kernels, fine-tune, export.")
    p.add_argument("run_dir", type=Path, help="a models.train run directory (state.pt, config.json, history.json)")
    p.add_argument("out", type=Path, help="the pruned .onnx to write")
    p.add_argument("--ratio", type=float, default=0.15)
    p.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs")
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # two OpenMP threads spin against each other on a shared 2-core machine
    model, config, meta = load_run(args.run_dir)
    spec = InputSpec.model_validate(meta["input"])
    d = meta["data"]
    data = load_training_set(meta["action"], d["seed"], d["samples"], spec, views=card_views(d))
    tr, va, te = card_split(d, len(data))
    before = remaining_params(model)
    removed = prune_scorer(model, args.ratio)
    after_prune = score_metrics(data.y[te], predict(model, data.x[te]))
    fine_tune(model, config, data.subset(tr), data.subset(va), args.epochs)
    after_ft = score_metrics(data.y[te], predict(model, data.x[te]))
    res = export_onnx(model, args.out, example_frames=spec.frames, version="pruned")
    print(f"removed kernels per block {removed}; params {before:,} -> {remaining_params(model):,}")
    print(f"test MAE after pruning {after_prune['mae']:.2f}, after {args.epochs} fine-tuning epochs {after_ft['mae']:.2f} (SRCC {after_ft['srcc']:.3f})")
    if data.x_cut is not None:
        cut = score_metrics(data.y[te], predict(model, data.x_cut[te]))
        print(f"test split cut to the attempts: MAE {cut['mae']:.2f} (SRCC {cut['srcc']:.3f})")
    print(f"wrote {res.path} sha256 {res.sha256[:16]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
