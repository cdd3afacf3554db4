"""The interface every recommender here implements, so one trainer, evaluator and checkpoint
format serve MambaRec and the baselines alike."""

from __future__ import annotations

import torch
from torch import nn

from mambarec.model.init import SeededDropout


def gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for a 1-D index, with a deterministic backward.

    Advanced indexing backpropagates through ``index_put_(accumulate=True)``, whose multi-threaded
    CPU kernel adds repeated rows in a varying order, so two runs of one seed at the default thread
    count differed in the 7th digit. ``index_select`` backpropagates through ``index_add_``, which
    is deterministic at any thread count, and at one thread adds in the same order (bit-identical).
    """
    return table.index_select(0, index)


class Recommender(nn.Module):
    """``loss`` returns named parts plus ``total``; ``embeddings`` gives (users, items) whose dot
    products are the scores used for ranking."""

    trainable = True  # popularity ranking has nothing to learn

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def set_generator(self, generator: torch.Generator) -> None:
        """Route every dropout of the model through the run's own generator."""
        for m in self.modules():
            if isinstance(m, SeededDropout):
                m.generator = generator

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def move_graphs(self, device: torch.device) -> None:
        """Models holding graphs override this to move them with the weights."""
