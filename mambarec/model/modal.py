"""One modality's path from raw features to the working size d (docs/model.md section 2, docs/departures.md section 6).

dream_map = "map" (paper):   X -> Linear(D_in, D) -> DREAM on D as C x H x W -> Linear(D, d)
dream_map = "vector" (code): X -> Linear(D_in, D) -> Linear(D, d) -> DREAM on d as d x 1 x 1
where D = D_V / r for the visual modality (r = 1 skips the reduction layer) and, for text,
D = D_V / r with text_path = "reduced" (paper) or D = D_T with "direct" (code: 384 -> d).

Equivalent rewrite: two Linear layers with nothing between them are applied as one,
X (W2 W1)^T + (W2 b1 + b2), with the same parameters and gradients: for the 4096-d visual table
this costs a fraction of (X W1^T) W2^T.
"""

from __future__ import annotations

import torch
from torch import nn

from mambarec.config import MambaRecConfig
from mambarec.model.dream import Dream, map_shape


class ModalEncoder(nn.Module):
    def __init__(self, in_dim: int, reduced_dim: int | None, cfg: MambaRecConfig) -> None:
        super().__init__()
        self.reduce = nn.Linear(in_dim, reduced_dim) if reduced_dim is not None else None
        width = reduced_dim if reduced_dim is not None else in_dim
        self.dream_on_map = cfg.use_dream and cfg.dream_map == "map"
        self.dream = None
        if cfg.use_dream:
            shape = map_shape(width, cfg.dream_side) if self.dream_on_map else (cfg.embedding_dim, 1, 1)
            self.dream = Dream(shape, cfg)
        self.project = nn.Linear(width, cfg.embedding_dim)

    def _linear_chain(self, x: torch.Tensor) -> torch.Tensor:
        if self.reduce is None:
            return self.project(x)
        w = self.project.weight @ self.reduce.weight
        b = self.project.weight @ self.reduce.bias + self.project.bias
        return torch.addmm(b, x, w.t())

    def forward(self, x: torch.Tensor, return_stages: bool = False):
        """The d-dim modal feature; with ``return_stages`` also the intermediate tensors."""
        stages = {}
        if self.dream_on_map:
            h = self.reduce(x) if self.reduce is not None else x
            stages["reduced"] = h
            h = self.dream(h)
            stages["dream"] = h
            out = self.project(h)
        else:
            out = self._linear_chain(x)
            stages["projected"] = out
            if self.dream is not None:
                out = self.dream(out)
                stages["dream"] = out
        return (out, stages) if return_stages else out
