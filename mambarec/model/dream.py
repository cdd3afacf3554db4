"""DREAM, the Dilated REfinement Attention Module (docs/model.md section 3, docs/departures.md section 2).

Input: a batch of feature maps X in R^{C x H x W}. Five parallel branches, each conv + BatchNorm
+ ReLU: (1) 1x1 conv, (2)-(4) 3x3 convs with three dilation rates, (5) global average pool ->
1x1 conv -> bilinear upsampling. Their concatenation F is gated by channel attention M_c and
spatial attention M_s, fused (max in the paper), and a 1x1 conv block maps it back to C channels.

Two attention styles:
* ``paper``: M_c = Sigmoid(FC(ReLU(FC(GAP(F))))), M_s = Sigmoid(conv1x1(mean_c(F)));
  output = conv_out(fuse(F * M_c, F * M_s)).
* ``official`` (as released): M_c = ReLU(conv1x1_{5C->1}(GAP(F))), one scalar per item;
  M_s = Sigmoid(conv1x1_{5C->1}(F)); output = conv_out(fuse(F * M_c, F * M_s) * F).
A switched-off attention is replaced by ones; with both off the block is conv_out(F).

Equivalent rewrites: a 1x1 convolution of a 1 x 1 map (the pooled branch, the official attention
convs, every conv of the released d x 1 x 1 map) is a matrix product over channels, applied as
``F.linear`` with the same weights: the same numbers for a fraction of the convolution's cost.
``forward`` runs the fast form of ``forward_direct``: the branch convolutions as matrix products
(``dream_kernels.ConvMatrix``: up to ``CONV_MATRIX_MAX_MACS`` multiply-adds per item, ml100k's
maps at r >= 8 and Baby's at r = 32, the whole matrix in one product up to ``DENSE_CONV_MATRIX_MAX_MACS``;
larger maps keep the convolutions, on channels-last maps),
everything
after them position-major (n, H*W, channels), so every 1x1 convolution is a matrix product over
channels and each channel-block BatchNorm one call, the max fusion as one gate
(``dream_kernels.max_gate``), and the output block channel-major (C, n*H*W), a wide product rather than
a tall one with C columns.
"""

from __future__ import annotations

import os
import shutil

import torch
import torch.nn.functional as F
from torch import nn

from mambarec.config import ConfigError, MambaRecConfig
from mambarec.model.dream_kernels import ConvMatrix, max_gate, position_and_channel_means

# The branch convolutions run as block matrix products when these take at most this many
# multiply-adds per item; larger maps keep the convolutions (channels-last), whose cost grows more
# slowly with the map. Measured on this project's CPU, one thread, a DREAM call forward and backward,
# convolutions / block matrices: ml100k (1,349 items) 5 x 4 x 4 (9,300 multiply-adds): 1.90; 10 x 4 x 4
# (37,200): 1.65; 5 x 8 x 8 (141,700): 0.93; 10 x 8 x 8 (566,800): 0.69; Baby (7,050 items) 2 x 8 x 8
# (22,672): 1.14; 4 x 8 x 8 (90,688): 0.82; 8 x 8 x 8 (362,752): 0.78; 16 x 8 x 8 (1,451,008): 0.70.
CONV_MATRIX_MAX_MACS = 1 << 16
# ... and as one product of the whole matrix, zeros and all, when that takes at most this many multiply-adds
# per item. A DREAM call forward and backward, ms, block matrices / whole matrix, one thread (two threads)
# (2026-12-02): ml100k 10 x 4 x 4 (r = 8; 37,200 / 102,400 multiply-adds) 38.7 / 35.0 (37.1 / 30.8); 5 x 4 x 4
# (r = 16; 9,300 / 25,600) 27.6 / 18.5 (16.4 / 16.0); Baby 2 x 8 x 8 (r = 32; 22,672 / 65,536) 289 / 191 (253 / 165);
# above the limit, Baby 4 x 8 x 8 (90,688 / 262,144) 524 / 559 (392 / 303). On ml100k's map, 20 calls of each
# alternating in one process (bench/dream_forms.py): whole / blocks 0.90 [0.87, 0.93] on one thread, 0.80 [0.78,
# 0.82] on two.
DENSE_CONV_MATRIX_MAX_MACS = 1 << 17
DILATED_KERNEL = 3  # the paper's dilated branches are 3x3 convolutions (docs/model.md section 3)


def map_shape(dim: int, max_side: int) -> tuple[int, int, int]:
    """(C, H, W) with H = W = the largest side <= max_side whose square divides ``dim``."""
    for side in range(min(max_side, int(dim ** 0.5)), 0, -1):
        if dim % (side * side) == 0:
            return dim // (side * side), side, side
    return dim, 1, 1


def pointwise(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(x)`` for a 1x1 ``conv``; on a 1 x 1 map computed as a matrix product over channels."""
    if x.shape[2] != 1 or x.shape[3] != 1:
        return conv(x)
    return F.linear(x.flatten(1), conv.weight.flatten(1), conv.bias)[:, :, None, None]


class ConvBranch(nn.Module):
    """conv (1x1, or 3x3 with a dilation) + BatchNorm + ReLU."""

    def __init__(self, channels: int, kernel: int, dilation: int, bn_momentum: float) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv = nn.Conv2d(channels, channels, kernel, padding=dilation * (kernel // 2), dilation=dilation)
        self.bn = nn.BatchNorm2d(channels, momentum=bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.convolve(x)))

    def convolve(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution alone (before BatchNorm and ReLU)."""
        k = self.conv.kernel_size[0]
        if k == 1:
            y = pointwise(x, self.conv)
        elif self.dilation >= x.shape[2] and self.dilation >= x.shape[3]:
            # Every off-centre tap lands in the zero padding: the conv is exactly its centre tap.
            c = k // 2
            centre = self.conv.weight[:, :, c:c + 1, c:c + 1]
            if x.shape[2] == 1 and x.shape[3] == 1:
                y = F.linear(x.flatten(1), centre.flatten(1), self.conv.bias)[:, :, None, None]
            else:
                y = F.conv2d(x, centre, self.conv.bias)
        else:
            y = self.conv(x)
        return y


class PoolBranch(nn.Module):
    """Global average pool -> 1x1 conv + BatchNorm + ReLU -> bilinear upsampling to H x W."""

    def __init__(self, channels: int, bn_momentum: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)
        self.bn = nn.BatchNorm2d(channels, momentum=bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = F.relu(self.bn(pointwise(x.mean(dim=(2, 3), keepdim=True), self.conv)))
        # bilinear upsampling of a 1 x 1 map is a broadcast
        return g.expand(-1, -1, x.shape[2], x.shape[3])


class ChannelAttention(nn.Module):
    """M_c: one weight per channel (paper) or one scalar per item (official)."""

    def __init__(self, channels: int, style: str, reduction: int) -> None:
        super().__init__()
        self.style = style
        if style == "paper":
            hidden = max(1, channels // reduction)
            self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        else:
            self.fc = nn.Conv2d(channels, 1, 1, bias=False)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        pooled = f.mean(dim=(2, 3), keepdim=True)
        if self.style == "paper":
            return torch.sigmoid(self.fc(pooled.flatten(1)))[:, :, None, None]
        return F.relu(pointwise(pooled, self.fc))


class SpatialAttention(nn.Module):
    """M_s: one weight per position, from the channel mean (paper) or a learned 1x1 conv (official)."""

    def __init__(self, channels: int, style: str) -> None:
        super().__init__()
        self.style = style
        self.conv = nn.Conv2d(1, 1, 1) if style == "paper" else nn.Conv2d(channels, 1, 1, bias=False)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        x = f.mean(dim=1, keepdim=True) if self.style == "paper" else f
        return torch.sigmoid(pointwise(x, self.conv))


def fuse(a: torch.Tensor, b: torch.Tensor, how: str) -> torch.Tensor:
    if how == "max":
        return torch.maximum(a, b)
    if how == "mean":
        return (a + b) / 2
    return a + b


def compile_dream(model: nn.Module) -> int:
    """Each DREAM block's forward through ``torch.compile`` (``TrainConfig.compile = "dream"``); the number of blocks.

    Inductor fuses the elementwise passes over the map that eager mode makes one by one: at Baby's size
    (7,050 items, 8 x 8 x 8 maps, 2 threads) a ``paper`` epoch took 76.9 s eager and 57.5 s compiled, at 2.23 and 1.90
    GB (``bench/train_speed.py --scale baby --variant paper --compile dream``), after a first step ~25 s longer; on
    ml100k, one thread, it was slower on r = 8's 10 x 4 x 4 maps (4.6 against 4.2 s an epoch) and faster on r = 2's
    10 x 8 x 8 (10.0 against 10.9) and r = 1's 20 x 8 x 8 (~19.5 against ~23). Shapes are dynamic, so a new
    item count does not compile again. On a CPU inductor compiles C++, so a compiler must be on the PATH.
    """
    blocks = [m for m in model.modules() if isinstance(m, Dream)]
    on_cpu = any(p.device.type == "cpu" for b in blocks for p in b.parameters())
    if blocks and on_cpu and not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "c++", "clang++")):
        raise ConfigError("compile 'dream' needs a C++ compiler on the PATH (torch.compile builds C++ on a CPU): "
                          "install one (Debian: apt-get install g++) or set compile to none")
    for block in blocks:
        block.forward = torch.compile(block.forward, dynamic=True)
    return len(blocks)


class Dream(nn.Module):
    """DREAM over maps of ``shape`` = (C, H, W); takes and returns flat (n, C*H*W) features."""

    def __init__(self, shape: tuple[int, int, int], cfg: MambaRecConfig) -> None:
        super().__init__()
        self.shape = shape
        c = shape[0]
        self.style, self.fusion = cfg.attention_style, cfg.fusion
        mom = cfg.bn_momentum
        rates = cfg.dilation_rates
        candidates = {
            "conv1x1": lambda: ConvBranch(c, 1, 1, mom),
            "dilated_1": lambda: ConvBranch(c, DILATED_KERNEL, int(rates[0]), mom),
            "dilated_2": lambda: ConvBranch(c, DILATED_KERNEL, int(rates[1]), mom),
            "dilated_3": lambda: ConvBranch(c, DILATED_KERNEL, int(rates[2]), mom),
            "pool": lambda: PoolBranch(c, mom),
        }
        self.branches = nn.ModuleDict(
            {name: make() for (name, make), on in zip(candidates.items(), cfg.dream_branches, strict=True) if on}
        )
        if not self.branches:
            raise ValueError("DREAM needs at least one branch switched on (or set use_dream=False)")
        cat = c * len(self.branches)
        self.channel = ChannelAttention(cat, self.style, cfg.attention_reduction) if cfg.channel_attention else None
        self.spatial = SpatialAttention(cat, self.style) if cfg.spatial_attention else None
        self.out_conv = nn.Conv2d(cat, c, 1)
        self.out_bn = nn.BatchNorm2d(c, momentum=mom)
        convs = self.conv_specs()
        self.conv_matrix = None
        if convs and ConvMatrix.macs_per_item(*shape, convs) <= CONV_MATRIX_MAX_MACS:
            dense = ConvMatrix.dense_macs_per_item(*shape, convs) <= DENSE_CONV_MATRIX_MAX_MACS
            self.conv_matrix = ConvMatrix(*shape, convs, dense=dense)

    def conv_specs(self) -> list[tuple[int, int]]:
        """(kernel size, dilation) of each branch convolution switched on, in branch order (``ConvMatrix``'s convs)."""
        return [(b.conv.kernel_size[0], b.dilation) for b in self.branches.values() if isinstance(b, ConvBranch)]

    def branch_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: branch(x) for name, branch in self.branches.items()}

    def attend(self, f: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The gated map fed to the output block, and the attention maps used."""
        maps = {}
        if self.channel is None and self.spatial is None:
            return f, maps
        f_c, f_s = f, f
        if self.channel is not None:
            maps["channel"] = self.channel(f)
            f_c = f * maps["channel"]
        if self.spatial is not None:
            maps["spatial"] = self.spatial(f)
            f_s = f * maps["spatial"]
        fused = fuse(f_c, f_s, self.fusion)
        return (fused * f if self.style == "official" else fused), maps

    def forward(self, x: torch.Tensor, return_parts: bool = False):
        """DREAM of flat (n, C*H*W) features; ``return_parts`` adds the intermediates (direct form)."""
        if return_parts:
            return self.forward_direct(x, return_parts)
        return self.forward_fast(x)

    def forward_fast(self, x: torch.Tensor) -> torch.Tensor:
        """``forward_direct`` computed position-major (see the module doc); the same mathematics."""
        n, (c, h, w) = x.shape[0], self.shape
        p = h * w
        convs = [b for b in self.branches.values() if isinstance(b, ConvBranch)]
        blocks = []
        if convs:
            if self.conv_matrix is not None:
                y = self.conv_matrix(x, [b.conv.weight for b in convs], [b.conv.bias for b in convs])
            else:
                # Channels-last maps: oneDNN's convolutions run about 2x faster on them here (ml100k's 20 x 8 x 8
                # at r = 1, Baby's 32 and 64 channels), and the (n, H, W, 5C) result is already position-major.
                m = x.view(n, c, h, w).contiguous(memory_format=torch.channels_last)
                y = torch.cat([b.convolve(m) for b in convs], 1).permute(0, 2, 3, 1)
            y = batch_norm_blocks(y.reshape(n * p, -1), [b.bn for b in convs])
            blocks.append(F.relu(y).view(n, p, -1))
        if "pool" in self.branches:
            pool = self.branches["pool"]
            g = pointwise(x.view(n, c, p).mean(dim=2)[:, :, None, None], pool.conv)
            blocks.append(F.relu(pool.bn(g)).view(n, 1, c).expand(n, p, c))
        f = torch.cat(blocks, dim=2) if len(blocks) > 1 else blocks[0]
        gated = self._attend_fast(f)
        # The output block channel-major: (C, n*P) = W @ gated^T. With C rows (10 on ml100k) the product is a
        # wide one, 3-4x faster here than the tall, 10-column F.linear; its weight gradient comes out contiguous.
        # BatchNorm of (1, C, n*P) has the per-channel statistics over the same n*P values.
        out = torch.addmm(self.out_conv.bias[:, None], self.out_conv.weight.flatten(1), gated.view(n * p, -1).t())
        out = batch_norm_blocks(out.unsqueeze(0), [self.out_bn])
        return F.relu(out).view(c, n, p).transpose(0, 1).reshape(n, c * p)

    def _attend_fast(self, f: torch.Tensor) -> torch.Tensor:
        """``attend`` on a position-major (n, H*W, 5C) map; the same mathematics."""
        if self.channel is None and self.spatial is None:
            return f
        mc = ms = None
        if self.channel is not None and self.spatial is not None and self.style == "paper":
            pooled, channel_mean = position_and_channel_means(f)
        else:
            pooled = f.mean(dim=1) if self.channel is not None else None
            channel_mean = f.mean(dim=2, keepdim=True) if self.spatial is not None and self.style == "paper" else None
        if self.channel is not None:
            if self.style == "paper":
                mc = torch.sigmoid(self.channel.fc(pooled)).unsqueeze(1)  # (n, 1, 5C)
            else:
                mc = F.relu(F.linear(pooled, self.channel.fc.weight.flatten(1))).unsqueeze(1)  # (n, 1, 1)
        if self.spatial is not None:
            conv = self.spatial.conv
            if self.style == "paper":
                ms = torch.sigmoid(channel_mean * conv.weight.view(()) + conv.bias)  # (n, H*W, 1)
            else:
                ms = torch.sigmoid(F.linear(f, conv.weight.flatten(1)))  # (n, H*W, 1)
        if mc is not None and ms is not None and self.fusion == "max":
            fused = max_gate(f, mc, ms)  # F >= 0 (branch outputs are ReLUs): max(F*M_c, F*M_s) = F*max(M_c, M_s)
        else:
            fused = fuse(f if mc is None else f * mc, f if ms is None else f * ms, self.fusion)
        return fused * f if self.style == "official" else fused

    def forward_direct(self, x: torch.Tensor, return_parts: bool = False):
        """DREAM as the paper writes it, on (n, C, H, W) maps with convolutions."""
        n = x.shape[0]
        m = x.reshape(n, *self.shape)
        parts = self.branch_outputs(m)
        f = torch.cat(list(parts.values()), dim=1)
        gated, maps = self.attend(f)
        out = F.relu(self.out_bn(pointwise(gated, self.out_conv))).reshape(n, -1)
        if return_parts:
            return out, {"branches": parts, "attention": maps, "concat": f}
        return out


def batch_norm_blocks(y: torch.Tensor, bns: list[nn.BatchNorm2d]) -> torch.Tensor:
    """Each ``bns[i]`` applied to its block of columns of ``y`` (rows: samples x positions), in one call.

    The same statistics and running-statistics update as the modules on (n, C, H, W) maps: the
    per-channel mean and variance over every row; the updated running statistics are copied back.
    """
    first = bns[0]
    if len(bns) == 1:
        running_mean, running_var, weight, bias = first.running_mean, first.running_var, first.weight, first.bias
    else:
        running_mean = torch.cat([b.running_mean for b in bns])
        running_var = torch.cat([b.running_var for b in bns])
        weight, bias = torch.cat([b.weight for b in bns]), torch.cat([b.bias for b in bns])
    out = F.batch_norm(y, running_mean, running_var, weight, bias, first.training, first.momentum, first.eps)
    if first.training:
        with torch.no_grad():
            for i, b in enumerate(bns):
                if len(bns) > 1:
                    b.running_mean.copy_(running_mean[i * b.num_features:(i + 1) * b.num_features])
                    b.running_var.copy_(running_var[i * b.num_features:(i + 1) * b.num_features])
                b.num_batches_tracked.add_(1)
    return out
