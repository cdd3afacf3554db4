"""FREEDOM: "A Tale of Two Graphs: Freezing and Denoising Graph Structures for Multimodal
Recommendation", Zhou and Shen, ACM MM 2023, as MMRec implements it.

* Frozen item-item graph: per modality the raw features' top-k cosine neighbours (the project's
  k-NN graphs give the neighbour sets), unweighted and normalized d_i^-1/2 d_j^-1/2 with d the
  row counts (so every edge is 1/k); the two are mixed alpha x visual + (1 - alpha) x text. Item
  ID embeddings propagated on it are added to the items' LightGCN embeddings.
* Denoised user-item graph: each epoch keeps (1 - rho) of the training edges, drawn without
  replacement with probability proportional to 1/sqrt(d_u d_i) (degree-sensitive pruning), and
  re-normalizes the kept graph. Evaluation uses the full graph.
* Loss: BPR on the final embeddings + lambda x mirror BPR of the users against each modality's
  projected raw features.

MMRec re-draws the pruned graph before every epoch (its ``pre_epoch_processing``); here the
trainer's epoch hook, ``on_epoch_start``, draws it from the run's generator.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from mambarec.config import FreedomConfig
from mambarec.graphs import ConstantSparse, Graphs, inverse_sqrt, knn_graph, normalized_bipartite
from mambarec.model.base import Recommender, gather_rows
from mambarec.model.losses import bpr_loss
from mambarec.model.mambarec import lightgcn

MODALITIES = ("visual", "text")


def unweighted_knn(neighbours: sp.csr_matrix) -> sp.csr_matrix:
    """FREEDOM's normalization of a k-NN graph: every stored edge weighs d_i^-1/2 d_j^-1/2, d = row counts."""
    coo = neighbours.tocoo()  # keeps explicitly stored zero cosines: they are neighbours too
    d = inverse_sqrt(np.bincount(coo.row, minlength=neighbours.shape[0]))  # the same bits on every CPU
    w = (d[coo.row] * d[coo.col]).astype(np.float32)
    return sp.csr_matrix((w, (coo.row, coo.col)), shape=neighbours.shape)


def item_item_graph(dataset, graphs: Graphs, k: int, image_weight: float) -> sp.csr_matrix:
    """alpha x visual + (1 - alpha) x text unweighted k-NN graphs of the raw features."""
    mixed = []
    for modality, features in (("visual", dataset.visual), ("text", dataset.text)):
        cached = graphs.knn.get((modality, k))
        neighbours = cached.scipy if cached is not None else knn_graph(features, k)
        mixed.append(unweighted_knn(neighbours))
    return (image_weight * mixed[0] + (1.0 - image_weight) * mixed[1]).tocsr()


class Freedom(Recommender):
    @classmethod
    def graph_ks(cls, config: FreedomConfig) -> tuple[int, ...]:
        return (config.knn_k,)

    @classmethod
    def from_config(cls, config: FreedomConfig, dataset, graphs: Graphs, train) -> Freedom:
        item_graph = item_item_graph(dataset, graphs, config.knn_k, config.mm_image_weight)
        return cls(config, dataset.n_users, dataset.n_items, dataset.visual, dataset.text, graphs, item_graph)

    def __init__(self, cfg: FreedomConfig, n_users: int, n_items: int, visual: np.ndarray, text: np.ndarray,
                 graphs: Graphs, item_graph: sp.csr_matrix) -> None:
        super().__init__()
        self.cfg, self.n_users, self.n_items = cfg, n_users, n_items
        d = cfg.embedding_dim
        self.user_embedding = nn.Embedding(n_users, d)
        self.item_embedding = nn.Embedding(n_items, d)
        self.features = nn.ModuleDict()
        self.project = nn.ModuleDict()
        for name, table in (("visual", visual), ("text", text)):
            # a copy: trainable tables must not write through to the dataset's arrays
            emb = nn.Embedding.from_pretrained(torch.tensor(table, dtype=torch.get_default_dtype()),
                                               freeze=cfg.freeze_features)
            emb.pretrained = True
            self.features[name] = emb
            self.project[name] = nn.Linear(table.shape[1], d)
        self.norm_adj = graphs.norm_adj
        self.item_graph = ConstantSparse(item_graph)
        # the training edges and their full-graph weights 1/sqrt(d_u d_i), the pruning's probabilities; kept on
        # the CPU, where the run's generator draws
        r = graphs.r.scipy.tocoo()
        self.edge_users, self.edge_items = r.row.astype(np.int64), r.col.astype(np.int64)
        self.edge_weights = torch.from_numpy(r.data.astype(np.float32))
        self.pruned_adj: ConstantSparse | None = None  # this epoch's graph (on_epoch_start draws it)

    def on_epoch_start(self, epoch: int, generator: torch.Generator) -> None:
        self.pruned_adj = self.prune_edges(generator)

    def move_graphs(self, device: torch.device) -> None:
        self.norm_adj = self.norm_adj.to(device)
        self.item_graph = self.item_graph.to(device)
        if self.pruned_adj is not None:
            self.pruned_adj = self.pruned_adj.to(device)

    # ---- graphs -------------------------------------------------------------------------
    def prune_edges(self, generator: torch.Generator) -> ConstantSparse:
        """D^-1/2 A D^-1/2 of a degree-sensitive sample of (1 - rho) of the training edges."""
        if self.cfg.edge_dropout == 0.0:
            return self.norm_adj
        n_keep = int(self.edge_weights.numel() * (1.0 - self.cfg.edge_dropout))
        keep = torch.multinomial(self.edge_weights, n_keep, replacement=False, generator=generator).numpy()
        u, i = self.edge_users[keep], self.edge_items[keep]
        kept = sp.csr_matrix((np.ones(n_keep, dtype=np.float32), (u, i)), shape=(self.n_users, self.n_items))
        return ConstantSparse(normalized_bipartite(kept)[0], self.device)

    # ---- forward ------------------------------------------------------------------------
    def propagate(self, adj: ConstantSparse) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.item_embedding.weight
        for _ in range(self.cfg.n_mm_layers):
            h = self.item_graph(h)
        ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight], dim=0)
        content = lightgcn(adj, ego, self.cfg.n_ui_layers)
        return content[: self.n_users], content[self.n_users:] + h

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.propagate(self.norm_adj)

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.pruned_adj is None:
            raise RuntimeError("FREEDOM trains on the epoch's pruned graph: the trainer draws it in on_epoch_start")
        u_all, i_all = self.propagate(self.pruned_adj)
        u = gather_rows(u_all, users)
        parts = {"bpr": bpr_loss(u, gather_rows(i_all, pos), gather_rows(i_all, neg))}
        mirror = sum(bpr_loss(u, self.project[m](self.features[m](pos)), self.project[m](self.features[m](neg)))
                     for m in MODALITIES)
        parts["mirror"] = self.cfg.lambda_mirror * mirror
        parts["total"] = parts["bpr"] + parts["mirror"]
        return parts

