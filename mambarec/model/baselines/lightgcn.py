"""LightGCN: "LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation",
He et al., SIGIR 2020.

E^(k+1) = D^-1/2 A D^-1/2 E^(k) on the user-item graph, final embedding the mean of E^(0..K);
BPR on the final embeddings, MMRec's EmbLoss on the batch's ego (layer-0) embeddings.
"""

from __future__ import annotations

import torch
from torch import nn

from mambarec.config import LightGCNConfig
from mambarec.graphs import ConstantSparse
from mambarec.model.base import Recommender, gather_rows
from mambarec.model.baselines.losses import emb_loss
from mambarec.model.losses import bpr_loss
from mambarec.model.mambarec import lightgcn


class LightGCN(Recommender):
    @classmethod
    def from_config(cls, config: LightGCNConfig, dataset, graphs, train) -> LightGCN:
        return cls(config, dataset.n_users, dataset.n_items, graphs.norm_adj)

    def __init__(self, cfg: LightGCNConfig, n_users: int, n_items: int, norm_adj: ConstantSparse) -> None:
        super().__init__()
        self.cfg, self.n_users = cfg, n_users
        self.user_embedding = nn.Embedding(n_users, cfg.embedding_dim)
        self.item_embedding = nn.Embedding(n_items, cfg.embedding_dim)
        self.norm_adj = norm_adj

    def move_graphs(self, device: torch.device) -> None:
        self.norm_adj = self.norm_adj.to(device)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight], dim=0)
        final = lightgcn(self.norm_adj, ego, self.cfg.n_layers)
        return final[: self.n_users], final[self.n_users:]

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        u_all, i_all = self.embeddings()
        parts = {"bpr": bpr_loss(gather_rows(u_all, users), gather_rows(i_all, pos), gather_rows(i_all, neg))}
        ego = self.user_embedding(users), self.item_embedding(pos), self.item_embedding(neg)
        parts["reg"] = self.cfg.reg_weight * emb_loss(*ego)
        parts["total"] = parts["bpr"] + parts["reg"]
        return parts

