"""The interface every recommender here implements, so one trainer, evaluator and checkpoint format
serve MambaRec and the baselines alike (docs/architecture.md section 2).

A model declares the k-NN graphs it needs (``graph_ks``), builds itself from its own config
(``from_config``), initializes itself from the run's generator (``init_weights``), may redraw
something at the start of each epoch (``on_epoch_start``, MMRec's ``pre_epoch_processing``), and
gives ``loss`` (named parts plus ``total``) and ``embeddings`` (users, items; scores are their dot
products).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import torch
from torch import nn

from mambarec.model.init import SeededDropout, init_parameters


def gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for a 1-D index, with a deterministic backward.

    Advanced indexing backpropagates through ``index_put_(accumulate=True)``, whose multi-threaded
    CPU kernel adds repeated rows in a varying order, so two runs of one seed at the default thread
    count differed in the 7th digit. ``index_select`` backpropagates through ``index_add_``, which
    is deterministic at any thread count, and at one thread adds in the same order (bit-identical).
    """
    return table.index_select(0, index)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode inside the block (no dropout, BatchNorm on its running statistics); the mode it
    had is restored after, also when the block raises (evaluation in the middle of training, inspection)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


class Recommender(nn.Module):
    """``loss`` returns named parts plus ``total``; ``embeddings`` gives (users, items) whose dot
    products are the scores used for ranking."""

    trainable: ClassVar[bool] = True  # popularity ranking has nothing to learn

    @classmethod
    def graph_ks(cls, config) -> tuple[int, ...]:
        """The k of every k-NN item-item graph the model needs (none by default)."""
        return ()

    @classmethod
    def from_config(cls, config, dataset, graphs, train) -> Recommender:
        """The model for ``config`` on ``dataset`` (``train``: the run's TrainConfig), not yet initialized."""
        raise NotImplementedError

    def init_weights(self, generator: torch.Generator) -> None:
        """Draw every parameter from ``generator`` (torch's default schemes, Xavier for ID embeddings)."""
        init_parameters(self, generator)

    def on_epoch_start(self, epoch: int, generator: torch.Generator) -> None:
        """Called by the trainer before each training epoch (``epoch`` counts from 0)."""

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

    @property
    def device(self) -> torch.device:
        for t in (*self.parameters(), *self.buffers()):
            return t.device
        return torch.device("cpu")

    def move_graphs(self, device: torch.device) -> None:
        """Models holding graphs override this to move them with the weights."""
