"""VBPR: "VBPR: Visual Bayesian Personalized Ranking from Implicit Feedback", He and McAuley,
AAAI 2016, in MMRec's "recommended version".

An item is [ID embedding (d) ; Linear([text ; visual]) (d)], a user one 2d embedding, the score
their dot product. MMRec drops the paper's bias terms and feeds both modalities to the content
part; the raw features are fixed. Loss: BPR + lambda x EmbLoss on the batch's user/item vectors.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mambarec.config import VBPRConfig
from mambarec.model.base import Recommender, gather_rows
from mambarec.model.baselines.losses import emb_loss
from mambarec.model.losses import bpr_loss


class VBPR(Recommender):
    @classmethod
    def from_config(cls, config: VBPRConfig, dataset, graphs, train) -> VBPR:
        return cls(config, dataset.n_users, dataset.visual, dataset.text)

    def __init__(self, cfg: VBPRConfig, n_users: int, visual: np.ndarray, text: np.ndarray) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.embedding_dim
        feats = torch.cat([torch.as_tensor(text), torch.as_tensor(visual)], 1).to(torch.get_default_dtype())
        # fixed and pinned by the checkpoint's dataset fingerprint, so not saved with the weights
        self.register_buffer("features", feats, persistent=False)
        self.user_embedding = nn.Embedding(n_users, 2 * d)
        self.item_embedding = nn.Embedding(feats.shape[0], d)
        self.content = nn.Linear(feats.shape[1], d)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        items = torch.cat([self.item_embedding.weight, self.content(self.features)], dim=1)
        return self.user_embedding.weight, items

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        u_all, i_all = self.embeddings()
        u, p, n = gather_rows(u_all, users), gather_rows(i_all, pos), gather_rows(i_all, neg)
        parts = {"bpr": bpr_loss(u, p, n), "reg": self.cfg.reg_weight * emb_loss(u, p, n)}
        parts["total"] = parts["bpr"] + parts["reg"]
        return parts

