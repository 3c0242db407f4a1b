"""Parameter and FLOP counts of the scorer by component, next to the paper's Sec. 7.1 / Table 8.

FLOP convention: FLOPs = 2 x multiply-accumulates of every convolution and matrix product,
counted by ``torch.utils.flop_counter.FlopCounterMode`` on a real forward pass (batch 1, eval
mode). Elementwise ops, activations, softmax, reductions and batch norm are not counted (batch
norm folds into the preceding convolution at inference). The paper counts "the total sum of
multiplication and addition operations" (Sec. 7.1), i.e. the same 2 x MAC convention.

Command line: ``python -m models.complexity [--frames 90] [--variant full|A-F|baseline]``.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from models.agcn import AdaptiveGCNScorer
from models.config import NetworkConfig, ScorerConfig, ablation_config, fixed_gcn_baseline_config

#: The paper's totals (abstract, Sec. 7.1, Table 8) for a 90-frame sample.
PAPER_PARAMS = 3.72e6
PAPER_FLOPS = 1.87e9
PAPER_FRAMES = 90
#: Table 8 rows: component -> (parameters, FLOPs).
PAPER_TABLE8: dict[str, tuple[float, float]] = {
    "adaptive graph convolution layer": (1.96e6, 1.28e9),
    "temporal multi-scale aggregation": (0.52e6, 0.31e9),
    "attention edge weight learning": (0.33e6, 0.14e9),
    "global-local joint encoder": (0.18e6, 0.08e9),
    "segmented fine-grained scoring head": (0.09e6, 0.05e9),
    "contrastive bias correction branch": (0.03e6, 0.01e9),
    "dual output layers": (0.02e6, 0.01e9),
    "auxiliary (dropout / BN)": (0.24e6, 0.13e9),
}

#: Our components in report order, with the Table 8 row each one corresponds to.
COMPONENTS: dict[str, str] = {
    "input embedding (H^0)": "adaptive graph convolution layer",
    "graph convolution W, A, B (Eq. 5)": "adaptive graph convolution layer",
    "per-joint temporal convolution": "adaptive graph convolution layer",
    "residual projections": "adaptive graph convolution layer",
    "temporal multi-scale aggregation (Eq. 6)": "temporal multi-scale aggregation",
    "spatial attention (Eq. 7)": "attention edge weight learning",
    "temporal attention (Eq. 8)": "attention edge weight learning",
    "global-local joint encoder (Eq. 9-12)": "global-local joint encoder",
    "phase detector and regressors (Eq. 13-14)": "segmented fine-grained scoring head",
    "bias correction (Eq. 16)": "contrastive bias correction branch",
    "score and grade outputs (Eq. 17-18)": "dual output layers",
    "batch normalization": "auxiliary (dropout / BN)",
}


def component_of(module_name: str) -> str:
    """Our component for a module's qualified name inside ``AdaptiveGCNScorer``."""
    parts = module_name.split(".")
    if module_name.startswith("backbone.embed"):
        return "input embedding (H^0)"
    if module_name.startswith("backbone.blocks."):
        rest = parts[3:]
        if rest[:2] == ["gcn", "attention"]:
            return "spatial attention (Eq. 7)"
        if rest[:1] == ["gcn"]:
            return "graph convolution W, A, B (Eq. 5)"
        if rest[:1] == ["tcn"]:
            return "per-joint temporal convolution"
        if rest[:1] == ["multiscale"]:
            return "temporal multi-scale aggregation (Eq. 6)"
        if rest[:1] == ["temporal_attention"]:
            return "temporal attention (Eq. 8)"
        if rest[:1] == ["residual"]:
            return "residual projections"
    if module_name.startswith("head.encoder"):
        return "global-local joint encoder (Eq. 9-12)"
    if module_name.startswith("head.phase"):
        return "phase detector and regressors (Eq. 13-14)"
    if module_name.startswith("head.bias_branch"):
        return "bias correction (Eq. 16)"
    if module_name.startswith(("head.score_layer", "head.classifier", "head.dropout")) or module_name == "head":
        return "score and grade outputs (Eq. 17-18)"
    raise ValueError(f"module {module_name!r} belongs to no known component of the scorer.")


def parameter_counts(model: AdaptiveGCNScorer) -> dict[str, int]:
    """Trainable parameters per component (batch-norm affine parameters in their own row), plus ``total``."""
    counts = {name: 0 for name in COMPONENTS}
    for name, module in model.named_modules():
        own = sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)
        if own == 0:
            continue
        key = "batch normalization" if isinstance(module, nn.modules.batchnorm._BatchNorm) else component_of(name)
        counts[key] += own
    counts["total"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if counts["total"] != sum(v for k, v in counts.items() if k != "total"):
        raise RuntimeError("parameter components do not add up to the total.")
    return counts


def flop_counts(model: AdaptiveGCNScorer, frames: int = PAPER_FRAMES, batch: int = 1) -> dict[str, int]:
    """FLOPs (2 x MAC, conv and matmul only) of one forward pass per component, plus ``total``."""
    x = torch.zeros(batch, model.config.in_channels, int(frames), 17)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    prefix = type(model).__name__
    totals = {}
    for key, per_op in counter.get_flop_counts().items():
        if key == prefix or key.startswith(prefix + "."):
            totals[key[len(prefix) + 1 :]] = sum(per_op.values())
    own = dict(totals)  # ops run in a module's own forward: its total minus its nearest counted descendants'
    for key, total in totals.items():
        parent = key
        while parent:
            parent = parent.rpartition(".")[0]
            if parent in totals:
                own[parent] -= total
                break
    counts = {name: 0 for name in COMPONENTS}
    for key, value in own.items():
        if value:
            counts[component_of(key)] += value
    counts["total"] = int(counter.get_total_flops())
    if counts["total"] != sum(v for k, v in counts.items() if k != "total"):
        raise RuntimeError("FLOP components do not add up to the total.")
    return counts


def paper_formula_flops(cfg: NetworkConfig, frames: int = PAPER_FRAMES) -> dict[str, float]:
    """The paper's own estimates for this channel plan: Eq. 30 (graph conv, rho_edge = 0.3) and Eq. 31 (TMS)."""
    widths = cfg.block_channels()
    k_sum = sum(b.kernel for b in cfg.temporal_branches)
    c_in, n, gcn, tms = widths[0], int(frames), 0.0, 0.0
    for c_out, s in zip(widths, cfg.strides):
        gcn += n * 17 * c_in * c_out * 1.3  # the graph convolution runs before the block's stride
        n = (n + s - 1) // s
        tms += n * c_out * k_sum
        c_in = c_out
    return {"eq30_graph_conv": gcn, "eq31_multiscale": tms}


def complexity_report(cfg: NetworkConfig | None = None, frames: int = PAPER_FRAMES) -> str:
    """Text table: our parameters and FLOPs per component next to the paper's Table 8."""
    torch.manual_seed(0)
    model = AdaptiveGCNScorer(cfg or NetworkConfig())
    params = parameter_counts(model)
    flops = flop_counts(model, frames)
    b = sum(m.adaptive_adjacency.numel() for m in model.modules() if getattr(m, "adaptive_adjacency", None) is not None)
    lines = [f"{'component':44s} {'params':>10s} {'GFLOPs':>8s}   paper row (params / GFLOPs)"]
    for name, row in COMPONENTS.items():
        pp, pf = PAPER_TABLE8[row]
        lines.append(f"{name:44s} {params[name]:>10,d} {flops[name] / 1e9:8.3f}   {row} ({pp / 1e6:.2f} M / {pf / 1e9:.2f})")
    lines.append(
        f"{'TOTAL':44s} {params['total']:>10,d} {flops['total'] / 1e9:8.3f}   "
        f"paper {PAPER_PARAMS / 1e6:.2f} M / {PAPER_FLOPS / 1e9:.2f} GFLOPs"
    )
    lines.append(f"learnable adjacency B: {b} parameters (paper: 6 x 289 = 1,734)")
    est = paper_formula_flops(model.config, frames)
    lines.append(
        f"paper's Eq. 30 / Eq. 31 for this channel plan at T={frames}: graph conv {est['eq30_graph_conv'] / 1e9:.3f} G, "
        f"multi-scale {est['eq31_multiscale'] / 1e9:.4f} G (Table 8 says 1.28 G and 0.31 G)"
    )
    lines.append(f"convention: FLOPs = 2 x MAC of conv/matmul at T={frames}, batch 1; elementwise ops not counted")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.complexity", description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=PAPER_FRAMES, help="input length T (frames)")
    p.add_argument("--variant", default="full", help="full, A-F (Table 5 ablations) or baseline")
    args = p.parse_args(argv)
    if args.variant == "full":
        cfg = ScorerConfig()
    elif args.variant == "baseline":
        cfg = fixed_gcn_baseline_config()
    else:
        cfg = ablation_config(args.variant)
    print(f"variant {cfg.name}")
    print(complexity_report(cfg.network, args.frames))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
