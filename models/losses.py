"""The mixed loss of the adaptive-GCN paper (Sec. 4 Eq. 15, Sec. 5 Eq. 19-23) as pure functions.

Scores are in points (0-100). Every function takes tensors and returns a scalar tensor; none
keeps state. Two readings are made explicit:

- Eq. 20 as printed adds the constant gamma for every pair with y_i <= y_j (the indicator is 0
  there); ``ranking_loss`` sums only over ordered pairs y_i > y_j, which has the same gradient,
  keeps the paper's 1 / (N (N - 1)) normalisation and is 0 for a perfectly separated batch.
- Eq. 22's frame-level score s_{i,n} "linearly interpolates" the phase scores to each frame; with
  the soft phase assignment of the head, s_n = sum_p P(p | n) y_p (``frame_scores``).

``total_loss`` combines them per Eq. 23 (plus the grade cross-entropy the paper supervises but
does not weigh) with the weights of ``LossConfig``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.config import LossConfig
from models.head import ScorerOutput


def _check_scores(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.dim() != 1 or pred.shape != target.shape:
        raise ValueError(f"predicted and true scores must both be (N,), got {tuple(pred.shape)} and {tuple(target.shape)}.")


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 19: (1/N) sum (y_i - y_hat_i)^2 over (N,) scores."""
    _check_scores(pred, target)
    return torch.mean((target - pred) ** 2)


def ranking_loss(pred: torch.Tensor, target: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Eq. 20: (1 / (N (N - 1))) sum over pairs with y_i > y_j of max(0, gamma - (y_hat_i - y_hat_j))."""
    _check_scores(pred, target)
    n = pred.shape[0]
    if n < 2:
        return pred.sum() * 0.0
    diff = pred[:, None] - pred[None, :]  # (N, N): y_hat_i - y_hat_j
    ordered = (target[:, None] > target[None, :]).to(pred.dtype)  # I(y_i > y_j), zero on the diagonal
    return (ordered * F.relu(margin - diff)).sum() / (n * (n - 1))


def local_consistency_loss(phase_scores: torch.Tensor) -> torch.Tensor:
    """Eq. 21: mean over samples and the P - 1 neighbouring phase pairs of (y_{p+1} - y_p)^2; (N, P) input."""
    if phase_scores.dim() != 2 or phase_scores.shape[1] < 2:
        raise ValueError(f"phase scores must be (N, P) with P >= 2, got {tuple(phase_scores.shape)}.")
    return torch.mean((phase_scores[:, 1:] - phase_scores[:, :-1]) ** 2)


def frame_scores(phase_scores: torch.Tensor, assignment: torch.Tensor) -> torch.Tensor:
    """Frame-level scores s_n = sum_p P(p | n) y_p: (N, P) and (N, P, L') -> (N, L')."""
    if assignment.dim() != 3 or assignment.shape[:2] != phase_scores.shape:
        raise ValueError(
            f"assignment must be (N, P, L') matching phase scores {tuple(phase_scores.shape)}, got {tuple(assignment.shape)}."
        )
    return (phase_scores[:, :, None] * assignment).sum(dim=1)  # (N, P, 1) * (N, P, L') summed over P


def smoothness_loss(phase_scores: torch.Tensor, assignment: torch.Tensor) -> torch.Tensor:
    """Eq. 22: mean over samples and the L' - 1 neighbouring frame pairs of (s_{n+1} - s_n)^2."""
    s = frame_scores(phase_scores, assignment)  # (N, L')
    if s.shape[1] < 2:
        return s.sum() * 0.0
    return torch.mean((s[:, 1:] - s[:, :-1]) ** 2)


def contrastive_loss(
    embedding: torch.Tensor, target: torch.Tensor, margin: float = 1.0, threshold: float = 5.0
) -> torch.Tensor:
    """Eq. 15 over every valid triplet of the batch: max(0, ||f_a - f_p||^2 - ||f_a - f_n||^2 + tau).

    Positive p != a: |y_a - y_p| < threshold; negative n: |y_a - y_n| > threshold. Returns 0 (with
    a gradient path) when the batch holds no valid triplet. (N, D) embeddings, (N,) scores.
    """
    if embedding.dim() != 2 or embedding.shape[0] != target.shape[0] or target.dim() != 1:
        raise ValueError(f"embedding must be (N, D) and scores (N,), got {tuple(embedding.shape)} and {tuple(target.shape)}.")
    n = embedding.shape[0]
    d2 = ((embedding[:, None, :] - embedding[None, :, :]) ** 2).sum(-1)  # (N, N) squared distances
    gap = (target[:, None] - target[None, :]).abs()  # (N, N)
    eye = torch.eye(n, dtype=torch.bool, device=embedding.device)
    positive = (gap < threshold) & ~eye  # (a, p)
    negative = gap > threshold  # (a, n)
    valid = positive[:, :, None] & negative[:, None, :]  # (a, p, n)
    count = valid.sum()
    if int(count) == 0:
        return embedding.sum() * 0.0
    hinge = F.relu(d2[:, :, None] - d2[:, None, :] + margin)  # (a, p, n)
    return (hinge * valid.to(hinge.dtype)).sum() / count


def grade_targets(scores: torch.Tensor, thresholds: tuple[float, ...] = (90.0, 80.0, 70.0, 60.0)) -> torch.Tensor:
    """Grade index per score: 0 (excellent, >= thresholds[0]) ... len(thresholds) (below the last)."""
    t = torch.as_tensor(thresholds, dtype=scores.dtype, device=scores.device)
    return (scores[:, None] < t[None, :]).sum(dim=1)  # thresholds are decreasing


def total_loss(
    out: ScorerOutput, target: torch.Tensor, cfg: LossConfig | None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 23 (+ lambda_grade cross-entropy): returns the total and each term's value for logging.

    ``target`` holds the true scores (N,) in points. Terms whose weight is 0, or whose outputs the
    variant lacks (no phase head), are left out.
    """
    cfg = cfg or LossConfig()
    terms: dict[str, torch.Tensor] = {"mse": mse_loss(out.score, target)}
    total = terms["mse"]
    if cfg.lambda_rank > 0:
        terms["rank"] = ranking_loss(out.score, target, cfg.rank_margin)
        total = total + cfg.lambda_rank * terms["rank"]
    if cfg.lambda_local > 0:
        if out.phase_scores is None or out.phase_assignment is None:
            raise ValueError("lambda_local > 0 needs phase scores, but this scorer has no phase head.")
        terms["local"] = local_consistency_loss(out.phase_scores)
        terms["smooth"] = smoothness_loss(out.phase_scores, out.phase_assignment)
        total = total + cfg.lambda_local * (terms["local"] + terms["smooth"])
    if cfg.lambda_contrast > 0:
        terms["contrast"] = contrastive_loss(out.embedding, target, cfg.contrast_margin, cfg.contrast_threshold)
        total = total + cfg.lambda_contrast * terms["contrast"]
    if cfg.lambda_grade > 0:
        terms["grade"] = F.cross_entropy(out.grade_logits, grade_targets(target, cfg.grade_thresholds))
        total = total + cfg.lambda_grade * terms["grade"]
    return total, {k: float(v.detach()) for k, v in terms.items()}
