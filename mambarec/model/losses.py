"""Losses (PAPER.md sections 2.3 and 3): BPR, the L2 term, MMD and InfoNCE.

Equivalent rewrites, exact in real arithmetic:
* MMD's squared distances come from ||x||^2 + ||y||^2 - 2 x.y (one matmul) instead of broadcasting
  an n x n x d tensor;
* the mean of a Gaussian kernel matrix is one autograd node with a hand-written backward
  (d/dx of sum_ij g_ij k_ij with g_ij = -k_ij / (2 sigma^2 n m) is 2 (x * rowsum(g) - g y)), so the
  n x n matrix is walked a handful of times instead of once per elementwise op and its gradient;
* InfoNCE is logsumexp_j(s_ij / tau) - s_ii / tau instead of -log(exp(s_ii/tau) / sum_j exp(s_ij/tau)),
  which overflows float32 for tau = 0.01 (exp(100) > 3.4e38); 1/tau scales the n x d rows before
  the product, not the n x n logits, and the row-wise log-softmax is torch's fused cross entropy.
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


class _KernelMean(torch.autograd.Function):
    """mean_ij k(x_i, y_j) for the Gaussian kernel, with the gradient written out."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
        scale = 1.0 / (2.0 * sigma * sigma)
        # -||x_i - y_j||^2 = 2 x.y - ||x||^2 - ||y||^2, clamped at 0 against rounding, times 1/(2 sigma^2)
        k = torch.addmm(-x.pow(2).sum(1, keepdim=True), x, y.t(), alpha=2.0)
        k.sub_(y.pow(2).sum(1)).clamp_(max=0.0).mul_(scale).exp_()
        ctx.save_for_backward(x, y, k)
        ctx.scale = scale
        return k.mean()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, y, k = ctx.saved_tensors
        g = k * (grad * (-ctx.scale / k.numel()))  # d mean / d ||x_i - y_j||^2
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = 2.0 * (x * g.sum(1, keepdim=True) - g @ y)
        if ctx.needs_input_grad[1]:
            gy = 2.0 * (y * g.sum(0).unsqueeze(1) - g.t() @ x)
        return gx, gy, None


def kernel_mean(x: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """mean of ``gaussian_kernel(x, y, sigma)``, computed in one autograd node."""
    return _KernelMean.apply(x, y, sigma)


def mmd_loss(x: torch.Tensor, y: torch.Tensor, sigma: float, normalize: bool = True) -> torch.Tensor:
    """L_mmd = mean k(X, X) + mean k(Y, Y) - 2 mean k(X, Y), on L2-normalized rows by default."""
    if normalize:
        x, y = F.normalize(x, dim=1), F.normalize(y, dim=1)
    return kernel_mean(x, x, sigma) + kernel_mean(y, y, sigma) - 2.0 * kernel_mean(x, y, sigma)


def info_nce(view1: torch.Tensor, view2: torch.Tensor, tau: float) -> torch.Tensor:
    """-1/N sum_i log softmax_j(cos(v1_i, v2_j) / tau)[i]: row i of view1 matches row i of view2."""
    logits = (F.normalize(view1, dim=1) / tau) @ F.normalize(view2, dim=1).t()
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))
