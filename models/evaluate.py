"""Scorer metrics (adaptive-GCN paper Sec. 6.1, Eq. 26-29) with the per-condition breakdown.

``score_metrics(y_true, y_pred)``: ``n``, ``mae`` (Eq. 26), ``rmse`` (Eq. 27), ``srcc`` (Eq. 28,
Spearman's rank correlation with average ranks for ties, i.e. Pearson on ranks; Eq. 28's closed
form is the tie-free special case; null when either side is constant), ``acc5`` and ``acc10`` (Eq. 29, shares within 5 / 10 points)
and ``grade_accuracy`` (share whose grade from the predicted score, with the national-standard
bands of ``edge.sim.labels``, equals the true grade). ``metrics_by_condition`` adds the same for
each condition (normal, low_light, occlusion); a condition without samples has ``n`` 0 and nulls. Torch-free: baselines use it too.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from edge.sim.labels import grade

CONDITIONS = ("normal", "low_light", "occlusion")
#: What a condition without samples reports (every key present, values null).
EMPTY_METRICS = {"n": 0, "mae": None, "rmse": None, "srcc": None, "acc5": None, "acc10": None, "grade_accuracy": None}


def srcc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Spearman rank correlation (Eq. 28 with average ranks); NaN when either side is constant."""
    a, b = rankdata(y_true), rankdata(y_pred)
    if np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def score_metrics(y_true, y_pred) -> dict[str, float]:
    """Eq. 26-29 and grade accuracy for scores in points; raises ValueError on shape or NaN problems."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if y.shape != p.shape or y.size == 0:
        raise ValueError(f"need equally many true and predicted scores (at least one), got {y.size} and {p.size}.")
    if not (np.isfinite(y).all() and np.isfinite(p).all()):
        raise ValueError("scores must be finite numbers.")
    err = np.abs(y - p)
    return {
        "n": int(y.size),
        "mae": float(err.mean()),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "srcc": _finite_or_none(srcc(y, p)) if y.size > 1 else None,
        "acc5": float(np.mean(err <= 5.0)),
        "acc10": float(np.mean(err <= 10.0)),
        "grade_accuracy": float(np.mean([grade(a) == grade(b) for a, b in zip(y, p)])),
    }


def metrics_by_condition(y_true, y_pred, conditions) -> dict:
    """``score_metrics`` over all samples plus ``by_condition``: {condition: metrics} for each present."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    c = np.asarray(conditions).ravel()
    if c.shape != y.shape:
        raise ValueError(f"need one condition per sample, got {c.size} for {y.size}.")
    out = score_metrics(y, p)
    out["by_condition"] = {
        name: score_metrics(y[c == name], p[c == name]) if (c == name).any() else dict(EMPTY_METRICS) for name in CONDITIONS
    }
    return out


def _finite_or_none(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def evaluate_scorer(
    action: str,
    n: int,
    seed: int,
    models_dir,
    backend: str = "auto",
    baselines: bool = False,
    progress: bool = False,
    cut: bool | None = None,
) -> dict:
    """The shipped scorer of ``action`` on ``n`` freshly simulated samples of evaluation ``seed``.

    Samples come from ``models.data.fresh_eval_seeds`` (a namespace disjoint from every training
    set; seeds of the model's own training set are skipped as well), with 20 % low light and 15 %
    occlusion. Returns ``metrics_by_condition`` plus ``action``, ``n``, ``seed``, ``model`` and, with
    ``baselines``, ``baselines``: {PoseQuality (fitted here on the card's training split),
    fixed-adjacency GCN (``baseline_gcn.onnx`` of the bundle, when present)} in the same format.
    ``cut``: True scores each sample cut to its attempt as the appliance's segmenter cuts it
    (``models.data.attempt_cut``), False the whole simulated recording, None (default) the input
    the model was trained on (the card's ``data.views``; the whole recording for a model trained on
    both); ``report['input']`` says which.
    """
    from pathlib import Path

    from edge.score.scorer import Scorer
    from models.data import card_views, fresh_eval_seeds, simulate_samples, training_seed_set

    if int(n) < 2:
        raise ValueError(f"evaluation needs at least 2 samples, got {n}.")
    scorer = Scorer.load(models_dir, action, backend=backend)
    card = scorer.bundle.card
    exclude = training_seed_set(card["data"]["seed"], action, card["data"]["samples"])
    if cut is None:  # a model trained on both views is scored on the whole recording unless asked
        cut = card_views(card["data"]) == "cut"
    pairs = fresh_eval_seeds(seed, action, n, exclude)
    data = simulate_samples(action, pairs, scorer.bundle.input_spec, progress=progress, cut="attempt" if cut else None)
    pred = np.concatenate([[r.score for r in scorer.score_inputs(data.x[i : i + 32])] for i in range(0, len(data), 32)])
    report = metrics_by_condition(data.y, pred, data.condition)
    report.update({"action": action, "seed": int(seed), "model": scorer.model_info, "seed_scheme": "models.data",
                   "input": "attempt cut by the segmenter's definition" if cut else "whole recording"})
    if baselines:
        report["baselines"] = _baselines(action, card, scorer, data, Path(models_dir) / action)
    return report


def _baselines(action: str, card: dict, scorer, data, bundle_dir) -> dict:
    from edge.score.backends import OrtBackend
    from models.baselines import PoseQuality
    from models.data import card_split, card_views, load_training_set

    out: dict = {}
    d = card["data"]
    train_set = load_training_set(action, d["seed"], d["samples"], scorer.bundle.input_spec, views=card_views(d))
    tr, _, _ = card_split(d, len(train_set))
    x, y = train_set.x[tr], train_set.y[tr]
    if train_set.x_cut is not None:  # fitted on the same views the network saw
        x, y = np.concatenate([x, train_set.x_cut[tr]]), np.concatenate([y, y])
    pq = PoseQuality().fit(x, y)
    out["posequality"] = metrics_by_condition(data.y, pq.predict(data.x), data.condition)
    gcn = bundle_dir / "baseline_gcn.onnx"
    if gcn.is_file():
        be = OrtBackend(gcn, "cpu", 1)
        pred = np.concatenate([be.run(data.x[i : i + 32])["score"] for i in range(0, len(data), 32)])
        out["gcn_fixed"] = metrics_by_condition(data.y, pred, data.condition)
    else:
        out["gcn_fixed"] = None
    return out


def _row(name: str, m: dict | None) -> str:
    if m is None or not m.get("n"):
        return f"| {name} | - | - | - | - | - | - |"
    srcc = "-" if m["srcc"] is None else f"{m['srcc']:.3f}"
    return (
        f"| {name} | {m['mae']:.2f} | {m['rmse']:.2f} | {srcc} | {100 * m['acc5']:.1f} | {100 * m['acc10']:.1f} "
        f"| {100 * m['grade_accuracy']:.1f} |"
    )


def markdown_tables(reports: list[dict]) -> str:
    """Tables 4 and 6 of the paper in our harness: per action the model and the baselines, then by condition."""
    head = "| model | MAE | RMSE | SRCC | Acc@5 (%) | Acc@10 (%) | grade acc. (%) |\n|---|---|---|---|---|---|---|"
    out = []
    for rep in reports:
        cut = ", attempts cut as the segmenter cuts them" if rep.get("input", "").startswith("attempt") else ""
        out.append(f"### {rep['action']} (n = {rep['n']}, evaluation seed {rep['seed']}, model {rep['model']['version']}{cut})\n")
        out.append(head)
        out.append(_row("AGCN scorer (shipped)", rep))
        for name, m in (rep.get("baselines") or {}).items():
            out.append(_row({"posequality": "PoseQuality (PCA + RF)", "gcn_fixed": "fixed-adjacency GCN"}.get(name, name), m))
        for cond, m in rep["by_condition"].items():
            out.append(_row(f"AGCN, {cond}", m))
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    from edge.actions.spec import ACTION_IDS

    p = argparse.ArgumentParser(prog="python -m models.evaluate", description="Evaluate the shipped scorers on fresh samples.")
    p.add_argument("--action", default="all", choices=ACTION_IDS + ("all",))
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=1001)
    p.add_argument("--models", default="models/shipped")
    p.add_argument("--baselines", action="store_true")
    p.add_argument("--json", type=str, default=None, help="also write the reports as JSON here")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--cut", dest="cut", action="store_const", const=True, default=None,
                     help="score each sample cut to its attempt, as fieldcoach serve does (default: the whole recording, unless the model was trained on cut attempts only)")
    how.add_argument("--whole", dest="cut", action="store_const", const=False, help="score the whole simulated recording")
    args = p.parse_args(argv)
    actions = ACTION_IDS if args.action == "all" else (args.action,)
    reports = [evaluate_scorer(a, args.n, args.seed, args.models, "auto", args.baselines, progress=True, cut=args.cut)
               for a in actions]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(reports, f, indent=1, allow_nan=False)
    print(markdown_tables(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
