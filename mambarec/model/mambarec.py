"""MambaRec (paper and official variants) on the MGCN backbone, and MGCN itself (docs/model.md section 5,
docs/departures.md section 6).

Backbone: a LightGCN view of the user-item graph gives ``content``; per modality, the purifier
gates the item ID embeddings with the modal features, one k-NN item-item propagation and R give
item and user modal embeddings; the fuser splits them into ``common`` (attention over the two)
and gated modality-specific parts; side = (specific_v + specific_t + common) / 3; the final
embedding is content + side and the score a dot product.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mambarec.config import ConfigError, MambaRecConfig, TrainConfig
from mambarec.graphs import Graphs
from mambarec.model.base import Recommender, gather_rows
from mambarec.model.init import SeededDropout
from mambarec.model.losses import bpr_loss, info_nce, l2_loss, mmd_loss
from mambarec.model.modal import ModalEncoder

MODALITIES = ("visual", "text")


def lightgcn(propagate, ego: torch.Tensor, n_layers: int) -> torch.Tensor:
    """Mean of the layer outputs E, AE, A^2 E, ... (LightGCN).

    Summed layer by layer, not stacked: the backward hands one gradient to every layer instead of
    writing an (L+1) x n x d tensor (the same mean)."""
    layer, total = ego, ego
    for _ in range(n_layers):
        layer = propagate(layer)
        total = total + layer
    return total / (n_layers + 1)


def gate(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, dim), nn.Sigmoid())


class Fuser(nn.Module):
    """Behaviour-aware fuser: attention-weighted common part plus gated modality-specific parts."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query_common = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1, bias=False))
        self.prefer = nn.ModuleDict({m: gate(dim) for m in MODALITIES})

    def forward(self, modal: dict[str, torch.Tensor], content: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(torch.cat([self.query_common(modal[m]) for m in MODALITIES], dim=-1), dim=-1)
        common = sum(weights[:, j: j + 1] * modal[m] for j, m in enumerate(MODALITIES))
        specific = [self.prefer[m](content) * (modal[m] - common) for m in MODALITIES]
        return (specific[0] + specific[1] + common) / 3


class MambaRec(Recommender):
    @classmethod
    def graph_ks(cls, config: MambaRecConfig) -> tuple[int, ...]:
        return (config.knn_k,)

    @classmethod
    def from_config(cls, config: MambaRecConfig, dataset, graphs: Graphs, train: TrainConfig) -> MambaRec:
        return cls(config, dataset.n_users, dataset.n_items, dataset.visual, dataset.text, graphs,
                   reg_divisor=train.batch_size)

    def __init__(self, cfg: MambaRecConfig, n_users: int, n_items: int, visual: np.ndarray, text: np.ndarray,
                 graphs: Graphs, reg_divisor: float) -> None:
        super().__init__()
        self.cfg, self.n_users, self.n_items, self.reg_divisor = cfg, n_users, n_items, reg_divisor
        d = cfg.embedding_dim
        self.user_embedding = nn.Embedding(n_users, d)
        self.item_embedding = nn.Embedding(n_items, d)
        self.features = nn.ModuleDict()
        for name, table in (("visual", visual), ("text", text)):
            # a copy: the trainable table must never write through to the dataset's arrays
            emb = nn.Embedding.from_pretrained(torch.tensor(table, dtype=torch.get_default_dtype()),
                                               freeze=cfg.freeze_features)
            emb.pretrained = True
            self.features[name] = emb
        reduced = visual.shape[1] // cfg.reduction_factor
        if cfg.reduction_factor > 1 and reduced < 1:
            raise ConfigError(f"reduction_factor={cfg.reduction_factor} leaves no dimension of this dataset's "
                              f"{visual.shape[1]}-d visual features ({visual.shape[1]} // {cfg.reduction_factor} = 0); "
                              f"use a reduction_factor of at most {visual.shape[1]}")
        self.encoders = nn.ModuleDict({
            "visual": ModalEncoder(visual.shape[1], reduced if cfg.reduction_factor > 1 else None, cfg),
            "text": ModalEncoder(text.shape[1], reduced if cfg.text_path == "reduced" else None, cfg),
        })
        self.norm = nn.LayerNorm(d) if cfg.modal_norm_dropout else None
        self.dropout = SeededDropout(cfg.dropout) if cfg.modal_norm_dropout else None
        self.purifier = nn.ModuleDict({m: gate(d) for m in MODALITIES})
        self.fuser = Fuser(d)
        self.graphs = graphs
        self.item_graphs = {m: graphs.item_item(m, cfg.knn_k) for m in MODALITIES}

    def move_graphs(self, device: torch.device) -> None:
        self.graphs = self.graphs.to(device)
        self.item_graphs = {m: self.graphs.item_item(m, self.cfg.knn_k) for m in MODALITIES}

    def modal_features(self) -> dict[str, torch.Tensor]:
        """The d-dim modal features after projection and DREAM (before LayerNorm/dropout)."""
        return {m: self.encoders[m](self.features[m].weight) for m in MODALITIES}

    def propagate(self) -> dict[str, torch.Tensor]:
        feats = self.modal_features()
        ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight], dim=0)
        content = lightgcn(self.graphs.norm_adj, ego, self.cfg.n_ui_layers)
        modal = {}
        for m in MODALITIES:
            f = feats[m]
            if self.norm is not None:
                f = self.dropout(self.norm(f))
            items = self.item_embedding.weight * self.purifier[m](f)
            for _ in range(self.cfg.n_mm_layers):
                items = self.item_graphs[m](items)
            modal[m] = torch.cat([self.graphs.r(items), items], dim=0)
        side = self.fuser(modal, content)
        return {"final": content + side, "side": side, "content": content, **{f"feat_{m}": feats[m] for m in feats}}

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        final = self.propagate()["final"]
        return final[: self.n_users], final[self.n_users:]

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        out = self.propagate()
        u_all, i_all = out["final"][: self.n_users], out["final"][self.n_users:]
        u, p, n = gather_rows(u_all, users), gather_rows(i_all, pos), gather_rows(i_all, neg)
        parts = {"bpr": bpr_loss(u, p, n), "l2": cfg.reg_weight * l2_loss(u, p, n, divisor=self.reg_divisor)}
        # The batch's distinct positives and their counts: the alignment losses over the batch with
        # its repeats are computed on the distinct rows, weighted by the counts (losses.py).
        items, counts = torch.unique(pos, return_counts=True)
        if cfg.use_cl and cfg.lambda_cl > 0:
            parts["cl"] = cfg.lambda_cl * self._contrastive(out, users, items, counts)
        if cfg.use_mmd and cfg.lambda_mmd > 0:
            weights = counts if cfg.mmd_items == "batch" else None
            parts["mmd"] = cfg.lambda_mmd * mmd_loss(gather_rows(out["feat_visual"], items),
                                                     gather_rows(out["feat_text"], items), cfg.sigma, counts=weights)
        parts["total"] = sum(parts.values())
        return parts

    def _contrastive(self, out: dict[str, torch.Tensor], users: torch.Tensor, items: torch.Tensor,
                     item_counts: torch.Tensor) -> torch.Tensor:
        """InfoNCE over the batch: ``items`` are its distinct positives, seen ``item_counts`` times."""
        cfg, nu = self.cfg, self.n_users
        total = torch.zeros((), device=users.device)
        if cfg.cl_views in ("side-content", "both"):
            side, content = out["side"], out["content"]
            total = total + info_nce(gather_rows(side[nu:], items), gather_rows(content[nu:], items), cfg.tau,
                                     item_counts)
            uniq_users, user_counts = torch.unique(users, return_counts=True)
            total = total + info_nce(gather_rows(side[:nu], uniq_users), gather_rows(content[:nu], uniq_users),
                                     cfg.tau, user_counts)
        if cfg.cl_views in ("visual-text", "both"):
            visual, text = gather_rows(out["feat_visual"], items), gather_rows(out["feat_text"], items)
            total = total + info_nce(visual, text, cfg.tau)
        return total
