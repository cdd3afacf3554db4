"""Losses (docs/model.md sections 4 and 6): BPR, the L2 term, MMD and InfoNCE.

Equivalent rewrites, exact in real arithmetic:
* MMD's squared distances come from ||x||^2 + ||y||^2 - 2 x.y (one matmul) instead of broadcasting
  an n x n x d tensor;
* the mean of a Gaussian kernel matrix is one autograd node with a hand-written backward
  (d/dx_i of sum_ij w_i v_j k_ij is -(w_i / sigma^2) (x_i (K v)_i - (K (v * y))_i): two matrix
  products with K and no elementwise pass over it), so the n x n matrix is walked a handful of times
  instead of once per elementwise op and its gradient; 1/(2 sigma^2) goes into the product's alpha and
  the squared norms, not a pass over the n x n matrix; for k(X, X) the two sides' gradients are equal
  (the kernel is symmetric), so one product serves both;
* InfoNCE is logsumexp_j(s_ij / tau) - s_ii / tau instead of -log(exp(s_ii/tau) / sum_j exp(s_ij/tau)),
  which overflows float32 for tau = 0.01 (exp(100) > 3.4e38); 1/tau scales the n x d rows before
  the product, not the n x n logits, and the whole loss is one autograd node with its gradient written
  out (``_InfoNCE``), so the n x n matrix is written once and then only read;
* a batch with repeated rows (the same item or user several times) is computed over its distinct
  rows with their counts c as weights: a mean over n x n pairs of repeated rows is
  sum_kl c_k c_l f_kl / n^2 (MMD), and an InfoNCE row k' stands for c_k' equal rows whose softmax
  runs over the distinct columns with log c_k added, (1/n) sum_k' c_k' [logsumexp_k(L_k'k + log c_k)
  - L_k'k'] (the same value and gradient as the n x n form, on a K x K matrix);
* before InfoNCE's in-place exp the shifted logits are raised to ``exp_floor``, the smallest whole number
  whose exp is a normal float of the dtype (-87 for float32): torch's CPU exp takes a slow path for every input
  whose result would be subnormal or zero (11-37x the cost of an entry of ml100k's 770 x 770 matrix), and
  `paper`'s tau = 0.01 spreads the logits 200 apart: in its fifth epoch up to a quarter of the entries, from the
  tenth up to ~45%, were on it. A raised entry moves by less than the dtype's smallest normal number (1.2e-38),
  which every sum it enters absorbs (each row holds a 1, its max; each gradient row a normal-sized w b term): on
  ml100k's `paper` run 468 of 468 steps gave bit-identical losses and gradients with and without the floor.
  MMD's exponents are left as they are: they reach the slow path only at sigma < 0.15, where its gradients are
  themselves below 1e-30 and the floor would move their last bits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def exp_floor(dtype: torch.dtype) -> float:
    """The smallest whole exponent whose exp is a normal number of ``dtype``: -87 for float32, -708 for float64.

    Exponents below it are raised to it before an in-place exp (see the module doc)."""
    return float(math.ceil(math.log(torch.finfo(dtype).tiny)))


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
    """sum_ij wx_i wy_j k(x_i, y_j) for the Gaussian kernel (the mean when the weights are None),
    with the gradient written out; ``y`` None means y = x (one symmetric kernel matrix)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor | None, sigma: float, wx: torch.Tensor | None,
                wy: torch.Tensor | None) -> torch.Tensor:
        scale = 1.0 / (2.0 * sigma * sigma)
        other = x if y is None else y
        # -||x_i - y_j||^2 / (2 sigma^2) = (2 x.y - ||x||^2 - ||y||^2) / (2 sigma^2), clamped at 0 against rounding
        k = torch.addmm(x.pow(2).sum(1, keepdim=True).mul_(-scale), x, other.t(), alpha=2.0 * scale)
        k.sub_(other.pow(2).sum(1).mul_(scale)).clamp_(max=0.0).exp_()
        if wx is None:
            value = k.mean()
            wx = x.new_full((x.shape[0],), 1.0 / x.shape[0])
            wy = x.new_full((other.shape[0],), 1.0 / other.shape[0])
        else:
            value = torch.dot(wx, k @ wy)
        ctx.save_for_backward(x, y, k, wx, wy)
        ctx.scale = scale
        return value

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        # d/dx_i sum_ij wx_i wy_j k_ij = -2 s wx_i (x_i (K wy)_i - (K (wy * y))_i), s = 1 / (2 sigma^2):
        # products of K with a weight column and weighted rows, no n x m elementwise pass
        x, y, k, wx, wy = ctx.saved_tensors
        c = grad * (-2.0 * ctx.scale)
        if y is None:
            # x on both sides of the symmetric kernel with equal weights: both sides' gradients are
            # equal, so one product serves twice
            p = k @ torch.cat([wx.unsqueeze(1), wx.unsqueeze(1) * x], dim=1)
            return (2.0 * c) * wx.unsqueeze(1) * (x * p[:, :1] - p[:, 1:]), None, None, None, None
        gx = gy = None
        if ctx.needs_input_grad[0]:
            p = k @ torch.cat([wy.unsqueeze(1), wy.unsqueeze(1) * y], dim=1)
            gx = c * wx.unsqueeze(1) * (x * p[:, :1] - p[:, 1:])
        if ctx.needs_input_grad[1]:
            q = k.t() @ torch.cat([wx.unsqueeze(1), wx.unsqueeze(1) * x], dim=1)
            gy = c * wy.unsqueeze(1) * (y * q[:, :1] - q[:, 1:])
        return gx, gy, None, None, None


def kernel_mean(x: torch.Tensor, y: torch.Tensor, sigma: float, wx: torch.Tensor | None = None,
                wy: torch.Tensor | None = None) -> torch.Tensor:
    """mean of ``gaussian_kernel(x, y, sigma)``, computed in one autograd node; with row weights
    ``wx``, ``wy`` (each summing to 1) the weighted mean sum_ij wx_i wy_j k(x_i, y_j)."""
    if (wx is None) != (wy is None):
        raise ValueError("give both row weights or neither")
    if y is x and wx is wy:  # one symmetric kernel: its backward is one matrix product, not two
        return _KernelMean.apply(x, None, sigma, wx, wy)
    return _KernelMean.apply(x, y, sigma, wx, wy)


def mmd_loss(x: torch.Tensor, y: torch.Tensor, sigma: float, normalize: bool = True,
             counts: torch.Tensor | None = None) -> torch.Tensor:
    """L_mmd = mean k(X, X) + mean k(Y, Y) - 2 mean k(X, Y), on L2-normalized rows by default.

    ``counts[k]``: row k of x and y stands for that many equal rows (repeated items of a batch);
    the result is the MMD of the batch with its repeats, computed on the distinct rows.
    """
    if normalize:
        x, y = F.normalize(x, dim=1), F.normalize(y, dim=1)
    w = None if counts is None else counts.to(x.dtype) / counts.sum()
    return kernel_mean(x, x, sigma, w, w) + kernel_mean(y, y, sigma, w, w) - 2.0 * kernel_mean(x, y, sigma, w, w)


class _InfoNCE(torch.autograd.Function):
    """sum_k' w_k' [logsumexp_k(a_k'.b_k + log c_k) - a_k'.b_k'] with w = c / sum(c), its gradient written out.

    The K x K matrix is written once (a b^T), read for its row max, shifted and exponentiated in place, and then
    only read, by matrix-vector and matrix products: the counts enter as a column scaling c' = c / max(c) of
    those products' K x d or K x 1 factors, never as a pass over K x K, where logsumexp's and diagonal()'s
    autograd nodes made some twelve passes (subtractions, exps, a zero-filled K x K for the diagonal's
    gradient, accumulations). With E = exp(a b^T - m) (m the row max of a b^T), z = E c', the softmax of the
    logits is P = E diag(c') / z and, for row weights w, dS = w (P - I): grad a = s * (E (c' * b)) - w b and
    grad b = c' * (E^T (s * a)) - w a with s = w / z. The shift m is at most log max(c) below the logits' own
    row max, so every z >= 1 / max(c): no row underflows, also at tau = 0.01."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        e = a @ b.t()
        top = e.amax(dim=1, keepdim=True)
        e.sub_(top).clamp_(min=exp_floor(e.dtype)).exp_()
        c_max = c.max()
        scaled = c / c_max
        z = e @ scaled
        w = c / c.sum()
        value = torch.dot(w, top.squeeze(1) + z.log() + c_max.log() - (a * b).sum(dim=1))
        ctx.save_for_backward(a, b, e, z, w, scaled)
        return value

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        a, b, e, z, w, scaled = ctx.saved_tensors
        gw = (grad * w).unsqueeze(1)
        s = gw / z.unsqueeze(1)
        col = scaled.unsqueeze(1)
        grad_a = torch.addcmul(-gw * b, s, e @ (col * b)) if ctx.needs_input_grad[0] else None
        grad_b = torch.addcmul(-gw * a, col, e.t() @ (s * a)) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b, None


def info_nce(view1: torch.Tensor, view2: torch.Tensor, tau: float, counts: torch.Tensor | None = None) -> torch.Tensor:
    """-1/N sum_i log softmax_j(cos(v1_i, v2_j) / tau)[i]: row i of view1 matches row i of view2.

    ``counts[k]``: row k of both views stands for that many equal rows of the batch (N = sum of
    counts); the result is the InfoNCE of the batch with its repeats, computed on the distinct rows.
    One autograd node over the K x K logits (``_InfoNCE``).
    """
    a, b = F.normalize(view1, dim=1) / tau, F.normalize(view2, dim=1)
    c = torch.ones(len(a), dtype=a.dtype, device=a.device) if counts is None else counts.to(a.dtype)
    return _InfoNCE.apply(a, b, c)
