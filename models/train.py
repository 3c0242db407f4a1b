"""Training of the scorer (adaptive-GCN paper Sec. 5) and shipping of the trained model.

``train_scorer(config, train, val, settings)`` runs the paper's recipe on prepared samples
(``models.data``): per epoch the curriculum's subset (Eq. 25, ``models.curriculum``) in random
batches, the three augmentations with p = 0.5, the mixed loss (Eq. 19-23, ``models.losses``) with
the lambda_1 warm-up and lambda_2 decay, hard-sample mining (Eq. 24: the ceil(N rho) hardest
samples of each batch carry the gradient, rho 0.6 -> 0.3) and the replay of 20 % of the easy
samples skipped in the last 10 epochs (``models.mining``). AdamW with a cosine learning rate;
after each epoch the validation MAE picks the weights kept (the test split is never looked at).
With training views "both" (``models.data.VIEWS``: every sample as the whole recording and as the
attempt the segmenter cuts) each sample of each batch is drawn in its cut view with p = ``view_p``
before the augmentations, and the validation MAE is the mean over the two views, so one model
scores a recorded file (``fieldcoach analyze``) and a live attempt (``fieldcoach serve``) alike.

``ship(...)`` exports the kept weights to ONNX (opset 13), checks ONNX Runtime parity, writes the
golden samples and the model card into ``models/shipped/<action>/``.

Command line (progress bars on stderr)::

    python -m models.train --action standing_long_jump [--epochs 40] [--width 0.25] [--seed 7]
        [--n 3000] [--variant full|A-F|baseline] [--out out/train] [--ship models/shipped]
        [--lr 2e-3] [--init RUN_DIR]

``--init RUN_DIR`` continues a saved run as a second stage (``make train`` does so for its
``CONTINUE_ACTIONS``): its kept weights, a new cosine cycle from ``--lr``, no second curriculum.
With a larger ``--n`` than the run's, the stage also grows the training set (``make train``'s
``GROW_ACTIONS``): the run's own samples keep their split, the new ones are split on their own.

The defaults are what most shipped scorers were trained with (``make train``; the actions in its
``LARGE_ACTIONS`` use ``--n 6000``): 3000 simulated samples per action (1800 / 600 / 600), not the
paper's 600 -- with 360 training samples the network does not reach the paper's accuracy on our
simulated population (docs/results_scorer.md).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from edge.score.preprocess import InputSpec
from models.agcn import AdaptiveGCNScorer
from models.card import training_stages
from models.config import NetworkConfig, ScorerConfig, ablation_config, fixed_gcn_baseline_config
from models.curriculum import difficulty, loss_weights, scaled_curriculum
from models.data import CUT_VIEW_P, VIEWS, ScoreData, augment_batch, batch_views, load_training_set, split_indices
from models.evaluate import metrics_by_condition, score_metrics
from models.head import ScorerOutput
from models.losses import total_loss
from models.mining import RHO_END, EasyMemory, hardness, rho_at, select_hard


@dataclass
class TrainSettings:
    """Optimisation settings (the loss weights live in ``ScorerConfig.loss``)."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    augment_p: float = 0.5
    #: Probability that a sample of a batch is taken in its cut view (data with two views only).
    view_p: float = CUT_VIEW_P
    mining: bool = True
    curriculum: bool = True
    grad_clip: float = 5.0
    #: Epochs a warm-started run's weights were already trained for (``--init``): the loss weights'
    #: schedules carry on from there and mining stays at its final share (rho = 0.3).
    epoch_offset: int = 0
    #: One intra-op thread: on a shared 2-core machine two OpenMP threads spin against each other and
    #: other processes (measured: 5 s of CPU per batch-32 step with 2 threads against 0.3 s with 1).
    threads: int = 1
    progress: bool = True

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 2 or self.lr <= 0:
            raise ValueError("epochs must be >= 1, batch_size >= 2 and lr > 0.")
        if self.epoch_offset < 0:
            raise ValueError("epoch_offset must be >= 0.")


@dataclass
class TrainResult:
    model: AdaptiveGCNScorer
    config: ScorerConfig
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def subset_output(out: ScorerOutput, mask: torch.Tensor) -> ScorerOutput:
    """The rows of every per-sample output selected by a boolean (N,) mask."""
    return ScorerOutput(*(None if v is None else v[mask] for v in out))


def predict(model: AdaptiveGCNScorer, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Eval-mode scores (N,) for inputs (N, C, T, 17)."""
    was = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            out.append(model(torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size]))).score.numpy())
    model.train(was)
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _bar(iterable, progress: bool, **kw):
    if not progress:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, file=sys.stderr, dynamic_ncols=True, **kw)


def train_scorer(
    config: ScorerConfig, train: ScoreData, val: ScoreData, settings: TrainSettings | None = None, init_state: dict | None = None
) -> TrainResult:
    """Train a scorer of ``config`` on ``train``, keeping the weights with the best validation MAE.

    ``init_state``: start from these weights (a warm restart, ``--init``) instead of a fresh network;
    the learning rate then follows a new cosine cycle from ``settings.lr`` (SGDR, Loshchilov & Hutter 2017).
    """
    s = settings or TrainSettings()
    if len(train) < 2 or len(val) < 1:
        raise ValueError("training needs at least 2 training samples and 1 validation sample.")
    if train.x.shape[1] != config.network.in_channels:
        raise ValueError(f"the data has {train.x.shape[1]} channels but the network expects {config.network.in_channels}.")
    torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    model = AdaptiveGCNScorer(config.network)
    if init_state is not None:
        model.load_state_dict(init_state)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    curriculum = scaled_curriculum(difficulty(train.x), s.epochs) if s.curriculum else None
    memory = EasyMemory()
    y_all = torch.from_numpy(train.y.astype(np.float32))
    # Cosine schedule over the expected number of optimiser steps (epochs x full-set batches).
    total_steps = s.epochs * math.ceil(len(train) / s.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + math.cos(math.pi * min(k / max(total_steps, 1), 1.0))))
    result = TrainResult(model, config)
    best = (float("inf"), None)
    t0 = time.perf_counter()
    for epoch in _bar(range(1, s.epochs + 1), s.progress, desc=f"train {config.name}", unit="epoch"):
        model.train()
        weights = loss_weights(config.loss, s.epoch_offset + epoch)
        rho = (RHO_END if s.epoch_offset else rho_at(epoch, s.epochs)) if s.mining else 1.0
        used = curriculum.sample_mask(epoch, rng) if curriculum is not None else np.ones(len(train), bool)
        order = rng.permutation(np.flatnonzero(used))
        replay = memory.replay(rng) if s.mining else np.zeros(0, np.int64)
        memory.forget_before(epoch)
        # Replayed easy samples ride along in the batches with full gradients.
        items = np.concatenate([order, replay])
        is_replay = np.concatenate([np.zeros(len(order), bool), np.ones(len(replay), bool)])
        perm = rng.permutation(len(items))
        items, is_replay = items[perm], is_replay[perm]
        sums: dict[str, float] = {}
        n_batches = 0
        for b in range(0, len(items), s.batch_size):
            idx = items[b : b + s.batch_size]
            if len(idx) < 2:
                continue
            xb = batch_views(train, idx, rng, s.view_p)
            if s.augment_p > 0:
                xb = augment_batch(xb, rng, s.augment_p)
            yb = y_all[idx]
            out = model(torch.from_numpy(xb))
            _, full_terms = total_loss(out, yb, weights)  # logged on the whole batch
            if s.mining:
                err = (out.score.detach() - yb).numpy()
                grad_mask = select_hard(hardness(err, yb.numpy()), rho) | is_replay[b : b + s.batch_size]
                memory.add(idx[~grad_mask], epoch)
            else:
                grad_mask = np.ones(len(idx), bool)
            if grad_mask.sum() < 2:  # the pairwise terms need two samples
                grad_mask[np.argsort(-np.abs((out.score.detach() - yb).numpy()))[:2]] = True
            m = torch.from_numpy(grad_mask)
            loss, _ = total_loss(subset_output(out, m), yb[m], weights)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
            opt.step()
            sched.step()
            for k, v in full_terms.items():
                sums[k] = sums.get(k, 0.0) + v
            n_batches += 1
        vm = score_metrics(val.y, predict(model, val.x))
        if val.x_cut is not None:  # both views count alike
            vc = score_metrics(val.y, predict(model, val.x_cut))
            vm = {"mae": (vm["mae"] + vc["mae"]) / 2, "srcc": (vm["srcc"] + vc["srcc"]) / 2}
        row = {
            "epoch": epoch,
            "samples": int(len(order)),
            "replayed": int(len(replay)),
            "rho": round(rho, 4),
            "lambda_rank": weights.lambda_rank,
            "lambda_local": weights.lambda_local,
            "train_loss": {k: v / max(n_batches, 1) for k, v in sums.items()},
            "val_mae": vm["mae"],
            "val_srcc": vm["srcc"],
            "seconds": time.perf_counter() - t0,
        }
        result.history.append(row)
        if vm["mae"] < best[0]:
            best = (vm["mae"], {k: v.detach().clone() for k, v in model.state_dict().items()})
            result.best_epoch = epoch
        if s.progress:
            print(
                f"epoch {epoch}: {len(order)}+{len(replay)} samples, mse {row['train_loss'].get('mse', 0):.1f}, "
                f"val MAE {vm['mae']:.2f} SRCC {vm['srcc']:.3f}",
                file=sys.stderr,
                flush=True,
            )
    if best[1] is not None:
        model.load_state_dict(best[1])
    model.eval()
    result.seconds = time.perf_counter() - t0
    return result


def variant_config(variant: str, width: float, in_channels: int, score_init: float) -> ScorerConfig:
    """The full model, a Table 5 ablation (A-F) or the fixed-GCN baseline, at ``width``."""
    base = ScorerConfig(
        network=NetworkConfig(width_multiplier=width, in_channels=in_channels, score_init=round(float(score_init), 1))
    )
    if variant == "full":
        return base
    if variant == "baseline":
        return fixed_gcn_baseline_config(base)
    return ablation_config(variant, base)


#: The files of a saved run (``save_run``), which ``load_run`` and ``--init`` read.
RUN_FILES = ("state.pt", "config.json", "history.json")


def missing_run_files(run_dir: Path) -> list[str]:
    """The files of a saved run that ``run_dir`` lacks (none: it is one)."""
    return [f for f in RUN_FILES if not (Path(run_dir) / f).is_file()]


def save_run(result: TrainResult, out_dir: Path, meta: dict) -> Path:
    """Write ``state.pt``, ``config.json`` and ``history.json`` of a run; returns the directory."""
    info = dict(meta, best_epoch=result.best_epoch, seconds=round(result.seconds, 1), history=result.history)
    return write_run(out_dir, result.model, result.config, info)


def write_run(out_dir: Path, model: AdaptiveGCNScorer, config: ScorerConfig, info: dict) -> Path:
    """The files of a saved run (``RUN_FILES``): the weights, the configuration and the record ``info``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out_dir / "state.pt")
    (out_dir / "config.json").write_text(config.model_dump_json(indent=1) + "\n")
    (out_dir / "history.json").write_text(json.dumps(info, indent=1) + "\n")
    return out_dir


def load_run(run_dir: Path) -> tuple[AdaptiveGCNScorer, ScorerConfig, dict]:
    """The model, configuration and metadata saved by ``save_run``."""
    cfg = ScorerConfig.model_validate_json((run_dir / "config.json").read_text())
    model = AdaptiveGCNScorer(cfg.network)
    model.load_state_dict(torch.load(run_dir / "state.pt", map_location="cpu", weights_only=True))
    model.eval()
    return model, cfg, json.loads((run_dir / "history.json").read_text())


def run_training(
    action: str,
    variant: str = "full",
    epochs: int = 30,
    width: float = 0.25,
    seed: int = 7,
    n: int = 600,
    spec: InputSpec | None = None,
    settings: TrainSettings | None = None,
    cache_dir: Path | None = Path("out/cache/scorer"),
    views: str = "whole",
    init: Path | None = None,
) -> tuple[TrainResult, dict, ScoreData]:
    """Load (or simulate) the data, split 6:2:2, train; returns the result, metadata and the test split
    (``views``: whole recordings, cut attempts or both, ``models.data.load_training_set``). The test
    metrics are of the first view (``x``); with two views ``test_metrics_cut`` holds the cut one's.

    ``init``: a saved run to continue (a second training stage): its configuration and kept weights
    are the start, its data seed, views, input and variant must be these (else ValueError), ``n``
    may be larger than its samples (the set grows; ``split_indices`` keeps the run's split for its
    samples and splits the new ones on their own, recorded as ``data.split_bases``), the curriculum is
    not run again (the first stage ran it) and the loss schedules carry on from its epochs;
    ``meta['init']`` records the stage it continued (and, nested, any stage before that)."""
    spec = spec or InputSpec()
    s = settings or TrainSettings(epochs=epochs)
    init_state, prior, bases = None, None, []
    if init is not None:
        prior_model, config, prior = load_run(Path(init))
        want = {"action": action, "variant": variant, "seed": seed, "views": views, "input": spec.model_dump(), "width": width}
        have = {"action": prior["action"], "variant": prior["variant"], "seed": prior["data"]["seed"],
                "views": prior["data"].get("views", "whole"), "input": prior["input"], "width": config.network.width_multiplier}
        diff = [k for k in want if want[k] != have[k]]
        if diff:
            raise ValueError(f"the run {init} was trained with other {', '.join(diff)} than asked; continue it with the same ones.")
        prior_n = int(prior["data"]["samples"])
        if n < prior_n:
            raise ValueError(f"the run {init} was trained on {prior_n} samples; continue it on those or more, not {n}.")
        bases = list(prior["data"].get("split_bases", ())) + ([prior_n] if n > prior_n else [])
        init_state = prior_model.state_dict()
        s = replace(s, curriculum=False, epoch_offset=sum(st["epochs"] for st in training_stages(prior)))
    data = load_training_set(action, seed, n, spec, cache_dir, progress=s.progress, views=views)
    tr, va, te = split_indices(len(data), seed, bases)
    train, val, test = data.subset(tr), data.subset(va), data.subset(te)
    if init is None:
        config = variant_config(variant, width, spec.channels, float(train.y.mean()))
    result = train_scorer(config, train, val, s, init_state=init_state)
    test_metrics = metrics_by_condition(test.y, predict(result.model, test.x), test.condition)
    meta = {
        "action": action,
        "variant": variant,
        "data": {"seed": seed, "samples": n, "split": [len(tr), len(va), len(te)], "low_light": 0.2, "occlusion": 0.15,
                 "views": views} | ({"split_bases": bases} if bases else {}),
        "input": spec.model_dump(),
        "settings": asdict(s),
        "test_metrics": test_metrics,
    }
    if prior is not None:
        meta["init"] = {k: prior.get(k) for k in ("command", "settings", "data", "best_epoch", "seconds", "init")} | {"run": str(init)}
        if "recovered" in prior:  # a run recovered from a shipped ONNX file (models.recover)
            meta["init"]["recovered"] = prior["recovered"]
    if test.x_cut is not None:
        meta["test_metrics_cut"] = metrics_by_condition(test.y, predict(result.model, test.x_cut), test.condition)
    return result, meta, test


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m models.train`` (also read by the test that checks ``make train``
    against the shipped cards' commands)."""
    from edge.actions.spec import ACTION_IDS

    p = argparse.ArgumentParser(prog="python -m models.train", description="Train the adaptive-GCN scorer on simulated data.")
    p.add_argument("--action", required=True, choices=ACTION_IDS + ("all",))
    p.add_argument("--variant", default="full", help="full, A-F (Table 5 ablations) or baseline (fixed-adjacency GCN)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--width", type=float, default=0.25, help="width multiplier of the paper's channels")
    p.add_argument("--seed", type=int, default=7, help="master seed of the simulated training set")
    p.add_argument("--n", type=int, default=3000, help="samples per action (split 6:2:2)")
    p.add_argument("--out", type=Path, default=Path("out/train"), help="run directory root")
    p.add_argument("--ship", type=Path, default=None, help="also export to this models directory (models/shipped)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--window-mode", choices=("span", "fixed"), default="span", help="input window (edge/score/preprocess.py, step 4)")
    p.add_argument("--window-s", type=float, default=3.0, help="input window length in seconds")
    p.add_argument("--frames", type=int, default=60, help="input frames after resampling")
    p.add_argument("--views", choices=VIEWS, default="whole",
                   help="whole recordings, attempts cut as fieldcoach serve cuts them, or both (models.data.VIEWS)")
    p.add_argument("--cut", dest="views", action="store_const", const="cut", help="the same as --views cut")
    p.add_argument("--lr", type=float, default=TrainSettings.lr, help="peak learning rate of the cosine schedule")
    p.add_argument("--init", type=Path, default=None,
                   help="continue this saved run (a second stage: its weights, a new cosine cycle from --lr, no curriculum; "
                        "a larger --n also grows its training set)")
    return p


def main(argv: list[str] | None = None) -> int:
    from edge.actions.spec import ACTION_IDS

    args = build_parser().parse_args(argv)
    spec = InputSpec(window_mode=args.window_mode, window_s=args.window_s, frames=args.frames)
    actions = ACTION_IDS if args.action == "all" else (args.action,)
    if args.init is not None:
        if len(actions) > 1:
            raise SystemExit("--init continues one saved run; name its one --action.")
        missing = missing_run_files(args.init)
        if missing:
            raise SystemExit(f"--init {args.init} is not a saved training run (it lacks {', '.join(missing)}).")
    for action in actions:
        settings = TrainSettings(epochs=args.epochs, lr=args.lr, progress=not args.quiet)
        result, meta, test = run_training(
            action, args.variant, args.epochs, args.width, args.seed, args.n, spec=spec, settings=settings, views=args.views,
            init=args.init,
        )
        meta["command"] = "python -m models.train " + " ".join(sys.argv[1:] if argv is None else argv)
        run_dir = save_run(result, args.out / f"{action}-{args.variant}", meta)
        tm = meta["test_metrics"]
        cm = meta.get("test_metrics_cut")
        cut = f" (cut: {cm['mae']:.2f} / {cm['srcc']:.3f})" if cm else ""
        print(f"{action} {args.variant}: best epoch {result.best_epoch}, test MAE {tm['mae']:.2f} SRCC {tm['srcc']:.3f}{cut} -> {run_dir}")
        if args.ship is not None:
            from models.card import ship

            card = ship(run_dir, args.ship / action)
            print(f"shipped {action}: {card['sha256'][:16]} -> {args.ship / action}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
