"""Which rubric items a shipped scorer fails to see: its error regressed on the items' lost points.

The simulator knows each sample's technique values, so it knows the points every rubric item
(``edge.sim.labels``) took off the true score. For ``n`` fresh samples (the evaluation namespace of
``models.evaluate``) the residual r = predicted score - true score (not the raters' label: their
noise is nobody's to predict) is fitted by least squares as r = sum_k b_k * loss_k + c:

- b_k near 0: the scorer charges item k's lost points as the rubric does;
- b_k near 1: it does not see item k at all (the loss passes straight into its error);
- b_k above 1 or below 0: it charges the item with the wrong sign or scale.

``share`` is the fraction of the residual's variance that item's term b_k * loss_k carries.
``python -m models.residuals --action basketball_free_throw --n 300 --seed 3003`` prints the table.
"""

from __future__ import annotations

import numpy as np


def item_terms(losses: np.ndarray, residual: np.ndarray) -> dict:
    """Least-squares fit of ``residual`` (n,) on ``losses`` (n, K) plus a constant.

    Returns ``b`` (K,), ``corr`` (K,) (Pearson of each loss with the residual; NaN for a constant
    loss), ``share`` (K,) (variance of b_k * loss_k over the residual's variance) and ``explained``
    (the fit's R^2)."""
    L = np.asarray(losses, dtype=np.float64)
    r = np.asarray(residual, dtype=np.float64)
    if L.ndim != 2 or r.shape != (L.shape[0],):
        raise ValueError(f"losses must be (n, K) and the residual (n,), got {L.shape} and {r.shape}.")
    if L.shape[0] <= L.shape[1] + 1:
        raise ValueError(f"{L.shape[0]} samples cannot fit {L.shape[1]} items and a constant.")
    X = np.column_stack([L, np.ones(L.shape[0])])
    coef, *_ = np.linalg.lstsq(X, r, rcond=None)
    b = coef[:-1]
    var = r.var()
    if var <= 0:
        raise ValueError("the residual is constant, so there is nothing to explain.")
    sd = L.std(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(sd > 0, ((L - L.mean(0)) * (r - r.mean())[:, None]).mean(0) / (sd * r.std()), np.nan)
    return {
        "b": b,
        "corr": corr,
        "share": (b[None, :] * L).var(axis=0) / var,
        "explained": float(1.0 - ((r - X @ coef) ** 2).mean() / var),
    }


def scorer_residuals(action: str, n: int, seed: int, models_dir="models/shipped") -> dict:
    """Item names, their lost points (n, K), the shipped scorer's predictions, true scores and labels."""
    from edge.score.scorer import Scorer
    from edge.sim import simulate
    from edge.sim.actions import action_module
    from edge.sim.labels import rubric_points
    from models.data import fresh_eval_seeds, training_seed_set

    scorer = Scorer.load(models_dir, action)
    card = scorer.bundle.card
    technique = action_module(action).TECHNIQUE
    names = [k for k, p in technique.items() if p.weight > 0]
    pairs = fresh_eval_seeds(seed, action, n, training_seed_set(card["data"]["seed"], action, card["data"]["samples"]))
    losses, pred, true, label = [], [], [], []
    for s, cond in pairs:
        sample = simulate(action, int(s), condition=cond)
        points = rubric_points(technique, sample.technique)
        losses.append([technique[k].weight - points[k] for k in names])
        pred.append(scorer.score(sample.sequence).score)
        true.append(sample.true_score)
        label.append(sample.score)
    return {"items": names, "losses": np.array(losses), "pred": np.array(pred), "true": np.array(true),
            "label": np.array(label), "model": scorer.model_info}


def main(argv: list[str] | None = None) -> int:
    import argparse

    from edge.actions.spec import ACTION_IDS

    p = argparse.ArgumentParser(prog="python -m models.residuals", description=__doc__.split("\n")[0])
    p.add_argument("--action", required=True, choices=ACTION_IDS)
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--seed", type=int, default=3003)
    p.add_argument("--models", default="models/shipped")
    args = p.parse_args(argv)
    res = scorer_residuals(args.action, args.n, args.seed, args.models)
    r = res["pred"] - res["true"]
    fit = item_terms(res["losses"], r)
    print(f"{args.action} (model {res['model']['version']}, n = {args.n}, seed {args.seed}): MAE against the label "
          f"{np.abs(res['pred'] - res['label']).mean():.2f}, against the true score {np.abs(r).mean():.2f}; "
          f"residual sd {r.std():.2f}; the items' losses explain {fit['explained']:.0%} of its variance")
    print("| item | lost points mean | b (0: seen, 1: unseen) | corr(loss, residual) | share of residual variance |")
    print("|---|---|---|---|---|")
    order = np.argsort(-fit["share"])
    for k in order:
        print(f"| {res['items'][k]} | {res['losses'][:, k].mean():.2f} | {fit['b'][k]:+.2f} | {fit['corr'][k]:+.2f} | {fit['share'][k]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
