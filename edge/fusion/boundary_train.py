"""Training of the learnt boundary correction (``edge.fusion.boundary``) on replay records.

    python -m edge.fusion.boundary_train --records out/rec14 --train '*-[345]??' '*-20??' \\
        --eval '*-[789]??' --cache out/rows --out out/segment-model

Each record (``python -m edge.fusion.replay record``) is replayed through the rule-based segmenter
with a collector in place of the refiner: for every attempt it emits, the features around its start
and its end are kept with the session frame of each window position. The label is the window
position whose session frame is the truth's boundary (the truth attempt overlapping the detection
most); boundaries whose truth lies outside the window (a detection merged with another move) are not
used. Needs PyTorch (a development tool; the appliance runs the networks in numpy).
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path

import numpy as np

from edge.fusion.boundary import CH, KINDS, N_CHANNELS, W, BoundaryNet, BoundaryRefiner, boundary_features, save_boundary


class Collector:
    """Stands in for a refiner: keeps the features around each boundary and changes nothing."""

    def __init__(self, frame_of: dict):
        self.frame_of = frame_of
        self.rows: list[dict] = []

    def _session_frames(self, seg, k0: int) -> np.ndarray:
        out = np.full(2 * W + 1, -1, dtype=np.int64)
        for j in range(2 * W + 1):
            i = k0 - W + j - seg._offset
            if 0 <= i < len(seg._frames):
                out[j] = self.frame_of.get(seg._frames[i].device_ts_usec, -1)
        return out

    def __call__(self, seg, cand, start, end, end_pose):
        self.rows.append({kind: (boundary_features(seg, cand, k, end_pose), self._session_frames(seg, k))
                          for kind, k in (("start", start), ("end", end))})
        return start, end


def collect(record: dict) -> tuple[np.ndarray, np.ndarray, int]:
    """What the rules find in a record: features (m, 2, N_CHANNELS, 2W + 1) around the start and the
    end of each of the m attempts they emit, labels (m, 2) (the window position of the truth's
    boundary; -1 where it is outside the window or the attempt overlaps no true one), and the number
    of true attempts."""
    from edge.fusion.replay import replay

    col = Collector(record["frame_of"])
    truth, _, _ = replay(record, segment={"refiner": col})
    feats, labels = [], []
    for row in col.rows:
        s0, e0 = row["start"][1][W], row["end"][1][W]
        overlap = [max(0, min(e0, te) - max(s0, ts)) for ts, te in truth]
        lab = [-1, -1]
        if truth and max(overlap) > 0:
            target = truth[int(np.argmax(overlap))]
            for i, kind in enumerate(KINDS):
                hit = np.nonzero(row[kind][1] == target[i])[0]
                lab[i] = int(hit[0]) if hit.size else -1
        feats.append(np.stack([row[k][0] for k in KINDS]))
        labels.append(lab)
    empty = np.zeros((0, 2, N_CHANNELS, 2 * W + 1), np.float32)
    return (np.stack(feats) if feats else empty), np.array(labels, dtype=np.int64).reshape(-1, 2), len(truth)


def load_rows(paths: list[Path], cache: Path | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """``collect`` over records, concatenated (features, labels, true attempts); each record's rows
    cached beside it in ``cache`` (keyed by the record's name and size) when given."""
    xs, ys, n = [], [], 0
    for p in paths:
        c = None if cache is None else cache / f"{p.stem}-{p.stat().st_size}.npz"
        if c is not None and c.is_file():
            with np.load(c) as z:
                x, y, k = z["x"], z["y"], int(z["n"])
        else:
            x, y, k = collect(pickle.loads(p.read_bytes()))
            if c is not None:
                c.parent.mkdir(parents=True, exist_ok=True)
                np.savez(c, x=x, y=y, n=k)
        xs.append(x)
        ys.append(y)
        n += k
    return np.concatenate(xs), np.concatenate(ys), n


def train_net(x: np.ndarray, y: np.ndarray, *, epochs: int = 300, hidden: int = 16, lr: float = 3e-3,
              weight_decay: float = 0.1, sigma: float = 0.0, seed: int = 0) -> BoundaryNet:
    """Fit one network (cross-entropy over the window's frames the segmenter has) with full-batch Adam;
    ``sigma`` > 0: the target spread over neighbouring frames as a Gaussian of that width (frames)."""
    import torch

    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv1d(N_CHANNELS, hidden, 5, padding=2), torch.nn.ReLU(),
        torch.nn.Conv1d(hidden, hidden, 5, padding=4, dilation=2), torch.nn.ReLU(),
        torch.nn.Conv1d(hidden, 1, 1),
    )
    xt = torch.tensor(x, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.long)
    mask = xt[:, CH["valid"]] > 0
    mask[:, W] = True
    if sigma > 0:
        pos = torch.arange(2 * W + 1, dtype=torch.float32)
        target = torch.exp(-0.5 * ((pos[None, :] - yt[:, None].float()) / sigma) ** 2) * mask
        target = target / target.sum(dim=1, keepdim=True)
    else:
        target = yt
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad()
        logits = net(xt)[:, 0].masked_fill(~mask, -1e9)
        loss = torch.nn.functional.cross_entropy(logits, target)
        loss.backward()
        opt.step()
    p = [t.detach().numpy().astype(np.float32) for t in net.parameters()]
    return BoundaryNet(*p)


def window_hits(nets: dict[str, BoundaryNet], x: np.ndarray, y: np.ndarray) -> tuple[int, int]:
    """(rules, rules + learnt): attempts of collected windows (``load_rows``) whose start and end
    are both within 3 frames of the truth's (the bench's criterion, read from the windows)."""
    rule = learnt = np.ones(len(y), dtype=bool)
    for i, kind in enumerate(KINDS):
        valid = y[:, i] >= 0
        pred = np.array([nets[kind].offset(f) + W for f in x[:, i]], dtype=np.int64)
        rule = rule & valid & (np.abs(y[:, i] - W) <= 3)
        learnt = learnt & valid & (np.abs(pred - y[:, i]) <= 3)
    return int(rule.sum()), int(learnt.sum())


def evaluate(paths: list[Path], refiner: BoundaryRefiner | None) -> tuple[int, int, list[str]]:
    """(attempts within 3 frames, attempts, misses) of the records under the rules plus ``refiner``."""
    from edge.fusion.replay import replay_records

    res = replay_records(paths, segment={"refiner": refiner})
    return res.within3, res.attempts, res.misses


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edge.fusion.boundary_train", description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=Path, required=True)
    ap.add_argument("--train", nargs="+", required=True, help="glob patterns (no .pkl) of the training records")
    ap.add_argument("--eval", nargs="*", default=[], help="glob patterns of records to evaluate on (never trained on)")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=None, help="keep each record's collected rows here")
    ap.add_argument("--out", type=Path, default=None, help="write boundary.npz and card.json here")
    args = ap.parse_args(argv)

    def paths(patterns):
        return sorted({p for pat in patterns for p in args.records.glob(f"{pat}.pkl")})

    train, held = paths(args.train), paths(args.eval)
    if not train:
        raise SystemExit(f"no records match {args.train} in {args.records}.")
    if set(train) & set(held):
        raise SystemExit("the evaluation records overlap the training records.")
    t0 = time.time()
    x, y, n = load_rows(train, args.cache)
    nets = {}
    for i, kind in enumerate(KINDS):
        keep = y[:, i] >= 0
        nets[kind] = train_net(x[keep, i], y[keep, i], epochs=args.epochs, hidden=args.hidden,
                               weight_decay=args.weight_decay, seed=args.seed)
    info = {"records": len(train), "attempts": int(len(y)),
            "boundaries": {k: int((y[:, i] >= 0).sum()) for i, k in enumerate(KINDS)},
            "train_s": round(time.time() - t0, 1)}
    print(json.dumps(info), flush=True)
    ref = BoundaryRefiner(nets)
    base, hit = window_hits(nets, x, y)
    figures = {"train": {"sessions": len(train), "attempts": n, "within3_rules": base, "within3_learnt": hit}}
    print(f"train (from the collected windows): {len(train)} sessions, {n} attempts within 3 frames: rules {base}, "
          f"rules + learnt {hit}", flush=True)
    if held:
        base, n, _ = evaluate(held, None)
        hit, _, misses = evaluate(held, ref)
        figures["eval"] = {"sessions": len(held), "attempts": n, "within3_rules": base, "within3_learnt": hit}
        print(f"eval: {len(held)} sessions, {n} attempts within 3 frames: rules {base} ({100 * base / n:.1f} %), "
              f"rules + learnt {hit} ({100 * hit / n:.1f} %)", flush=True)
        for m in misses:
            print("  miss", m)
    if args.out is not None:
        sha = save_boundary(args.out / "boundary.npz", nets)
        card = {
            "model": "learnt attempt-boundary correction (edge.fusion.boundary)",
            "version": f"1.{sha[:8]}",
            "sha256": sha,
            "architecture": {"window": 2 * W + 1, "channels": N_CHANNELS, "hidden": args.hidden,
                             "layers": "conv k5, conv k5 dilation 2, conv k1; ReLU"},
            "training": {"patterns": args.train, "epochs": args.epochs, "weight_decay": args.weight_decay,
                         "seed": args.seed, "optimiser": "Adam lr 3e-3, full batch"} | info,
            "figures": figures,
            "intended_use": "experiments on fused (simulated) skeleton streams cut by AttemptSegmenter, "
                            "e.g. python -m edge.fusion.replay run --refiner DIR; not used by the appliance",
            "limits": "trained on simulated sessions only; nothing measured on a real Kinect",
        }
        (args.out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
        print(f"wrote {args.out / 'boundary.npz'} ({card['version']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
