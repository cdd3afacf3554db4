"""Parameter initialization and dropout from a run's own random generator.

Two runs training at once (two app tabs, two threads) must not share torch's global generator,
so every random draw of a model comes from ``generator``: initialization here (torch's defaults
for Linear/Conv, Xavier-uniform for ID embeddings as released), and dropout masks below.
"""

from __future__ import annotations

import math

import torch
from torch import nn

DEFAULT_INIT_A = math.sqrt(5)  # torch's default kaiming_uniform_ slope for Linear and Conv weights


def init_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """Re-draw every parameter of ``module`` from ``generator`` with torch's default schemes."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_uniform_(m.weight, a=DEFAULT_INIT_A, generator=generator)
            if m.bias is not None:
                fan_in = m.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
        elif isinstance(m, nn.Embedding):
            if not getattr(m, "pretrained", False):
                nn.init.xavier_uniform_(m.weight, generator=generator)
        elif isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


class SeededDropout(nn.Module):
    """Inverted dropout whose masks come from ``self.generator`` (set by the owner).

    The run's generator lives on the CPU whatever the device, so masks are drawn there and moved: a
    CUDA run draws the same masks as a CPU run of the same seed.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, dtype=x.dtype).to(x.device) >= self.p
        return x * keep / (1.0 - self.p)
