"""Losses (PAPER.md sections 2.3 and 3): BPR, the L2 term, MMD and InfoNCE.

Equivalent rewrites, exact in real arithmetic:
* MMD's squared distances come from ||x||^2 + ||y||^2 - 2 x.y (one matmul) instead of broadcasting
  an n x n x d tensor;
* InfoNCE is logsumexp_j(s_ij / tau) - s_ii / tau instead of -log(exp(s_ii/tau) / sum_j exp(s_ij/tau)),
  which overflows float32 for tau = 0.01 (exp(100) > 3.4e38).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bpr_loss(u: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """-mean log sigmoid(u.pos - u.neg)."""
    return -F.logsigmoid((u * pos).sum(dim=1) - (u * neg).sum(dim=1)).mean()


def l2_loss(*embeddings: torch.Tensor, divisor: float) -> torch.Tensor:
    """sum of ||e||^2 / 2 over the batch's embeddings, divided by the configured batch size."""
    return sum(0.5 * e.pow(2).sum() for e in embeddings) / divisor


def gaussian_kernel(x: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """k(x, y) = exp(-||x - y||^2 / (2 sigma^2)) for every pair of rows."""
    sq = x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1).unsqueeze(0) - 2.0 * (x @ y.t())
    return torch.exp(-sq.clamp_min(0.0) / (2.0 * sigma * sigma))


def mmd_loss(x: torch.Tensor, y: torch.Tensor, sigma: float, normalize: bool = True) -> torch.Tensor:
    """L_mmd = mean k(X, X) + mean k(Y, Y) - 2 mean k(X, Y), on L2-normalized rows by default."""
    if normalize:
        x, y = F.normalize(x, dim=1), F.normalize(y, dim=1)
    return (gaussian_kernel(x, x, sigma).mean() + gaussian_kernel(y, y, sigma).mean()
            - 2.0 * gaussian_kernel(x, y, sigma).mean())


def info_nce(view1: torch.Tensor, view2: torch.Tensor, tau: float) -> torch.Tensor:
    """-1/N sum_i log softmax_j(cos(v1_i, v2_j) / tau)[i]: row i of view1 matches row i of view2."""
    logits = F.normalize(view1, dim=1) @ F.normalize(view2, dim=1).t() / tau
    return (torch.logsumexp(logits, dim=1) - logits.diagonal()).mean()
