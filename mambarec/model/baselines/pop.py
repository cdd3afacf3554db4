"""Most-popular ranking: every user gets the items ordered by their training interaction count.

The non-personalized floor every recommender should beat. As a ``Recommender`` it scores by dot
products of one-column embeddings: users are all ones, items their popularity, so
score(u, i) = count(i); ties fall to the lower item id like everywhere else.
"""

from __future__ import annotations

import numpy as np
import torch

from mambarec.model.base import Recommender


class Popularity(Recommender):
    trainable = False

    @classmethod
    def from_config(cls, config, dataset, graphs, train) -> Popularity:
        return cls(dataset.item_popularity(), dataset.n_users)

    def __init__(self, popularity: np.ndarray, n_users: int) -> None:
        super().__init__()
        self.n_users = n_users
        # derived from the training data (pinned by the checkpoint's fingerprint), so not saved
        self.register_buffer("popularity", torch.as_tensor(popularity, dtype=torch.get_default_dtype()).view(-1, 1),
                             persistent=False)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        users = torch.ones(self.n_users, 1, device=self.popularity.device)
        return users, self.popularity

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        raise RuntimeError("popularity ranking has nothing to train (trainable = False)")

