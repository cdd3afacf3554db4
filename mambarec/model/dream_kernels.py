"""Equivalent fast forms of DREAM's pieces on a real C x H x W map (README, "Equivalent rewrites";
docs/departures.md section 5).

* ``ConvMatrix``: a convolution of a fixed-size map is a linear map of the flattened map. The
  convolutions of several branches (same input, C -> C channels, zero padding dilation * (k // 2))
  are one (C*H*W) x (H*W * n*C) matrix built from their weights by an index gather, so matrix
  products replace n convolutions, and the gradient reaches each weight through the gather (each
  (input, output) pair is one tap of one branch, or an exact zero). The matrix is block diagonal up
  to a permutation (a dilated conv only links positions whole dilations apart), so only its blocks
  are multiplied, and blocks with equal weights (every position of a 1x1 conv, the residue classes
  of a dilated conv that meet the border alike) as one product over their stacked rows. Its columns
  are ordered position-major ("channels last"), the layout the rest of the fast DREAM works in. On
  the smallest maps the whole matrix is applied in one product instead (``dense=True``): it
  multiplies the blocks' exact zeros too, but one large product with the bias in it beats several
  small ones with their gathers and scatters (ml100k's 10 x 4 x 4 map, ``dream.py`` lists the timings).
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


def _taps(height: int, width: int, k: int, dilation: int):
    """(output position p, input position q, tap ty, tap tx) of every tap inside the map."""
    half = k // 2
    for y in range(height):
        for x in range(width):
            for ty in range(k):
                for tx in range(k):
                    yy, xx = y + dilation * (ty - half), x + dilation * (tx - half)
                    if 0 <= yy < height and 0 <= xx < width:
                        yield y * width + x, yy * width + xx, ty, tx


def _components(positions: int, edges) -> list[list[int]]:
    """Connected components of the positions linked by ``edges`` (union-find), each sorted."""
    parent = list(range(positions))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for p, q in edges:
        parent[root(p)] = root(q)
    groups: dict[int, list[int]] = {}
    for i in range(positions):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


class ConvMatrix:
    """The convolutions' matrix on a fixed C x H x W map, applied block by block, or whole with ``dense``
    (see module doc).

    ``convs``: (kernel size, dilation) of each C -> C convolution (zero padding dilation * (k // 2)).
    The matrix maps the C x H x W flattening of the input (column c * H*W + q) to the outputs side
    by side per position (column p * n*C + b * C + c_out for conv b). A conv only links positions
    an integer number of dilations apart, so positions fall into independent groups (all of them for
    a dilation-1 3x3 conv, the d x d residue classes for dilation d, single positions for a 1x1
    conv): the matrix is block diagonal up to a permutation of positions, and only its blocks are
    multiplied, blocks with equal weights as one product over their stacked rows. ``dense``: the
    whole matrix is gathered from the weights each call and applied in one product (``addmm``).
    """

    def __init__(self, channels: int, height: int, width: int, convs: list[tuple[int, int]],
                 dense: bool = False) -> None:
        c, positions = channels, height * width
        self.channels, self.positions, self.n_convs = c, positions, len(convs)
        self.zero_slot = sum(c * c * k * k for k, _ in convs)
        # Work in runs of C channels: input run q is position q of the input, output run p * n + b is
        # conv b's output at position p. Blocks with the same weights (the same local tap pattern:
        # every position of a 1x1 conv, the residue classes of a dilated conv that meet the border
        # alike) share one product over their stacked rows.
        shared: dict[bytes, tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]] = {}
        offset = 0
        ch = np.arange(c)
        for b, (k, dilation) in enumerate(convs):
            taps = list(_taps(height, width, k, dilation))
            for comp in _components(positions, [(p, q) for p, q, _, _ in taps]):
                at = {pos: i for i, pos in enumerate(comp)}
                s = len(comp)
                # block rows (i, c_in): input run comp[i]; block columns (j, c_out): output run comp[j] * n + b
                weight = np.full((s, c, s, c), self.zero_slot, dtype=np.int64)
                for p, q, ty, tx in taps:
                    if p in at and q in at:  # weight[c_out, c_in, ty, tx] of conv b
                        weight[at[q], :, at[p], :] = offset + ((ch[None, :] * c + ch[:, None]) * k + ty) * k + tx
                weight = weight.reshape(s * c, s * c)
                entry = shared.setdefault(weight.tobytes() + s.to_bytes(4, "little"), (weight, [], []))
                entry[1].append(np.asarray(comp))
                entry[2].append(np.asarray(comp) * len(convs) + b)
            offset += c * c * k * k
        # (input runs, weight index (s*C, s*C), output runs) per shared block, its uses side by side
        self.groups = [(torch.from_numpy(np.concatenate(ins)), torch.from_numpy(weight),
                        torch.from_numpy(np.concatenate(outs))) for weight, ins, outs in shared.values()]
        self.run_order = torch.cat([outs for _, _, outs in self.groups])  # output run of each block column run
        self.unpermute = torch.argsort(self.run_order)
        # applied whole: each entry of the (C*H*W) x (H*W * n_convs*C) matrix as an index into the weights
        self.dense_index = self.whole_index() if dense else None

    def entries(self) -> int:
        """Multiply-adds per item: the entries of every block, shared ones once per use."""
        return sum(ins.numel() // (w.shape[0] // self.channels) * w.numel() for ins, w, _ in self.groups)

    @staticmethod
    def macs_per_item(channels: int, height: int, width: int, convs: list[tuple[int, int]]) -> int:
        """``entries()`` of the plan for these convs, without building it."""
        positions = height * width
        return sum((len(comp) * channels) ** 2 for k, d in convs
                   for comp in _components(positions, [(p, q) for p, q, _, _ in _taps(height, width, k, d)]))

    @staticmethod
    def dense_macs_per_item(channels: int, height: int, width: int, convs: list[tuple[int, int]]) -> int:
        """Multiply-adds per item of the whole matrix (``dense=True``)."""
        return (channels * height * width) ** 2 * len(convs)

    def whole_index(self) -> torch.Tensor:
        """The whole matrix as indices into the flattened weights (``zero_slot`` for an exact zero):
        rows c * H*W + q (the input's C x H x W flattening), columns p * n_convs*C + b * C + c_out."""
        c, positions = self.channels, self.positions
        out = torch.full((c * positions, positions * self.n_convs * c), self.zero_slot, dtype=torch.long)
        ch = torch.arange(c)
        for ins, index, outs in self.groups:
            s = index.shape[0] // c
            for q, r in zip(ins.view(-1, s), outs.view(-1, s), strict=True):
                rows = (ch[None, :] * positions + q[:, None]).reshape(-1)
                cols = (r[:, None] * c + ch[None, :]).reshape(-1)
                out[rows.unsqueeze(1), cols.unsqueeze(0)] = index
        return out

    def dense(self, weights: list[torch.Tensor]) -> torch.Tensor:
        """The whole (C*H*W) x (H*W * n_convs*C) matrix of these weights."""
        index = self.whole_index() if self.dense_index is None else self.dense_index
        return _flat(weights).index_select(0, index.view(-1).to(weights[0].device)).view(index.shape)

    def __call__(self, x: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor]) -> torch.Tensor:
        """All convs of ``x`` (n, C*H*W): (n, H*W, n_convs*C), the convs' outputs side by side per position."""
        if self.unpermute.device != x.device:
            self.groups = [tuple(t.to(x.device) for t in g) for g in self.groups]
            self.run_order, self.unpermute = self.run_order.to(x.device), self.unpermute.to(x.device)
            if self.dense_index is not None:
                self.dense_index = self.dense_index.to(x.device)
        if self.dense_index is not None:  # one product; autograd's gather backward takes each tap's gradient
            return torch.addmm(torch.cat(biases).repeat(self.positions), x, self.dense(weights)).view(
                x.shape[0], self.positions, -1)
        flat = _flat(weights)
        blocks = [flat.index_select(0, index.reshape(-1)).view(index.shape) for _, index, _ in self.groups]
        return _BlockProduct.apply(x, torch.cat(biases), self, *blocks)


def _flat(weights: list[torch.Tensor]) -> torch.Tensor:
    """The convs' weights flattened one after another, and an exact zero at the end (``zero_slot``)."""
    return torch.cat([w.reshape(-1) for w in weights] + [weights[0].new_zeros(1)])


class _BlockProduct(torch.autograd.Function):
    """x @ (the block matrix) + bias, the blocks given: (n, H*W, n_convs*C)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, bias: torch.Tensor, plan: ConvMatrix, *blocks: torch.Tensor) -> torch.Tensor:
        n, c, p = x.shape[0], plan.channels, plan.positions
        xp = x.view(n, c, p).transpose(1, 2).contiguous()  # (n, P, C): runs of C channels per position
        out = x.new_empty(n, p * plan.n_convs, c)  # output runs, group after group
        at = 0
        for (ins, _, _), block in zip(plan.groups, blocks, strict=True):
            runs = ins.numel()
            stacked = xp.index_select(1, ins).view(-1, block.shape[0])  # (n * uses, s*C)
            out[:, at:at + runs].copy_((stacked @ block).view(n, runs, c))
            at += runs
        y = out.index_select(1, plan.unpermute)  # (n, P * n_convs, C), natural order
        y.add_(bias.view(plan.n_convs, c).repeat(p, 1))
        ctx.plan = plan
        ctx.save_for_backward(xp, *blocks)
        return y.view(n, p, -1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        xp, *blocks = ctx.saved_tensors
        plan = ctx.plan
        n, p, c = xp.shape
        grad = grad.reshape(n, p * plan.n_convs, c)
        grad_bias = grad.sum(0).view(p, plan.n_convs * c).sum(0) if ctx.needs_input_grad[1] else None
        grad = grad.index_select(1, plan.run_order)  # output runs, group after group
        grad_xp = torch.zeros_like(xp) if ctx.needs_input_grad[0] else None
        grad_blocks = []
        at = 0
        for (ins, _, _), block in zip(plan.groups, blocks, strict=True):
            runs = ins.numel()
            gy = grad[:, at:at + runs].reshape(-1, block.shape[0])  # (n * uses, s*C)
            stacked = xp.index_select(1, ins).view(-1, block.shape[0])
            grad_blocks.append(stacked.t() @ gy)
            if grad_xp is not None:
                grad_xp.index_add_(1, ins, (gy @ block.t()).view(n, runs, c))
            at += runs
        grad_x = grad_xp.transpose(1, 2).reshape(n, c * p) if grad_xp is not None else None
        return (grad_x, grad_bias, None, *grad_blocks)


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
