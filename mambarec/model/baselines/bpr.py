"""BPR-MF: "BPR: Bayesian Personalized Ranking from Implicit Feedback", Rendle et al., UAI 2009.

Matrix factorization trained with the pairwise BPR loss and MMRec's EmbLoss on the batch's
embeddings. MMRec initializes with Xavier-normal; here, as for every model of the project, the
ID embeddings are Xavier-uniform from the run's generator (``init_parameters``).
"""

from __future__ import annotations

import torch
from torch import nn

from mambarec.config import BPRConfig
from mambarec.model.base import Recommender
from mambarec.model.baselines.losses import emb_loss
from mambarec.model.losses import bpr_loss


class BPR(Recommender):
    @classmethod
    def from_config(cls, config: BPRConfig, dataset, graphs, train) -> BPR:
        return cls(config, dataset.n_users, dataset.n_items)

    def __init__(self, cfg: BPRConfig, n_users: int, n_items: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.user_embedding = nn.Embedding(n_users, cfg.embedding_dim)
        self.item_embedding = nn.Embedding(n_items, cfg.embedding_dim)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_embedding.weight, self.item_embedding.weight

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        u, p, n = self.user_embedding(users), self.item_embedding(pos), self.item_embedding(neg)
        parts = {"bpr": bpr_loss(u, p, n), "reg": self.cfg.reg_weight * emb_loss(u, p, n)}
        parts["total"] = parts["bpr"] + parts["reg"]
        return parts

