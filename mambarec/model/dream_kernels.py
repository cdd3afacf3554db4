"""Equivalent fast forms of DREAM's pieces on a real C x H x W map (README, "Equivalent rewrites").

* ``ConvMatrix``: a convolution of a fixed-size map is a linear map of the flattened map. The
  convolutions of several branches (same input, C -> C channels, zero padding dilation * (k // 2))
  are one (C*H*W) x (H*W * n*C) matrix built from their weights by an index gather, so one matrix
  product replaces n convolutions, and the gradient reaches each weight through the gather (each
  (input, output) pair is one tap of one branch, or an exact zero). Its columns are ordered
  position-major ("channels last"), the layout the rest of the fast DREAM works in.
* ``position_and_channel_means(f)``: both means of an (n, H*W, K) map in one node, whose backward
  writes the two broadcast gradients in one pass.
* ``max_gate(f, a, b)``: f * max(a, b) with a, b broadcast against f. For f >= 0 (DREAM's branch
  outputs are ReLUs) this is max(f * a, f * b), the paper's max fusion of F * M_c and F * M_s,
  with torch.maximum's gradient rule (the larger input takes the gradient, a tie splits it in
  halves), in one autograd node instead of two products, a maximum and their backward passes over
  the n x (5C) x H x W tensor.
"""

from __future__ import annotations

import numpy as np
import torch


def conv_matrix_index(channels: int, height: int, width: int, convs: list[tuple[int, int]]) -> torch.Tensor:
    """Index into ``cat(w.flatten() for w in weights) ++ [0]`` that builds the convs' dense matrix.

    ``convs``: (kernel size, dilation) of each C -> C convolution. Row c_in * H*W + q reads input
    channel c_in at position q (the C x H x W flattening); column p * n*C + b * C + c_out is output
    channel c_out of conv b at position p. Entries no tap reaches index the trailing zero.
    """
    c, positions = channels, height * width
    width_out = len(convs) * c
    zero_slot = sum(c * c * k * k for k, _ in convs)
    index = np.full((c * positions, positions * width_out), zero_slot, dtype=np.int64)
    ch = np.arange(c)
    rows_of = ch[:, None] * positions  # (c_in, 1)
    offset = 0
    for b, (k, dilation) in enumerate(convs):
        half = k // 2
        taps = offset + (ch[None, :] * c + ch[:, None]) * k * k  # weight[c_out, c_in, 0, 0] of conv b
        for y in range(height):
            for x in range(width):
                p = y * width + x
                cols = p * width_out + b * c + ch[None, :]  # (1, c_out)
                for ty in range(k):
                    for tx in range(k):
                        yy, xx = y + dilation * (ty - half), x + dilation * (tx - half)
                        if 0 <= yy < height and 0 <= xx < width:
                            index[rows_of + yy * width + xx, cols] = taps + ty * k + tx
        offset += c * c * k * k
    return torch.from_numpy(index)


class ConvMatrix:
    """The dense matrix of several C -> C convolutions on a fixed C x H x W map (see module doc)."""

    def __init__(self, channels: int, height: int, width: int, convs: list[tuple[int, int]]) -> None:
        self.positions = height * width
        self.index = conv_matrix_index(channels, height, width, convs).flatten()
        self.shape = (channels * self.positions, self.positions * len(convs) * channels)

    def __call__(self, x: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor]) -> torch.Tensor:
        """All convs of ``x`` (n, C*H*W): (n, H*W, n_convs*C), the convs' outputs side by side per position."""
        flat = torch.cat([w.reshape(-1) for w in weights] + [weights[0].new_zeros(1)])
        if self.index.device != x.device:
            self.index = self.index.to(x.device)
        matrix = flat.index_select(0, self.index).view(self.shape)
        bias = torch.cat(biases).repeat(self.positions)
        return torch.addmm(bias, x, matrix).view(x.shape[0], self.positions, -1)


class _MaxGate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        m = torch.maximum(a, b)
        ctx.save_for_backward(f, a, b, m)
        return f * m

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        f, a, b, m = ctx.saved_tensors
        grad_f = grad * m if ctx.needs_input_grad[0] else None
        h = grad * f  # the gradient reaching max(a, b)
        # torch.maximum's rule: a takes h (1 + sign(a - b)) / 2, i.e. h, h / 2 on a tie, or 0; b the rest.
        # In float arithmetic throughout (a bool mask would make every product a slow mixed-dtype op);
        # a - b is 0 only for a == b, and u, h - u / 2 are exact. In place where it can be: a fresh
        # n x H*W x 5C tensor costs more than the arithmetic on it.
        share = torch.sub(a, b).sign_().add_(1.0)
        u = share.mul_(h) if share.shape == h.shape else share * h
        grad_a = u.sum_to_size(a.shape) * 0.5
        grad_b = h.sub_(u, alpha=0.5).sum_to_size(b.shape)
        return grad_f, grad_a, grad_b


class _Means(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.shape = f.shape
        return f.mean(dim=1), f.mean(dim=2, keepdim=True)

    @staticmethod
    def backward(ctx, grad_positions: torch.Tensor, grad_channels: torch.Tensor):
        _, p, k = ctx.shape
        # the two broadcasts written in one pass, not two divisions and an accumulation
        return torch.add((grad_positions / p).unsqueeze(1), grad_channels / k)


def position_and_channel_means(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(f.mean(dim=1), f.mean(dim=2, keepdim=True)) of an (n, H*W, K) map, with a one-pass backward."""
    return _Means.apply(f)


def max_gate(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """max(f * a, f * b) for f >= 0, computed as f * max(a, b) (see module doc)."""
    return _MaxGate.apply(f, a, b)
