"""A model's full-ranking metrics on a dataset's splits (docs/protocol.md sections 3 and 4).

The scores are the dot products of the model's final user and item embeddings, computed once in
eval mode and ranked by ``mambarec.metrics`` block by block of users; the model's mode is restored.
"""

from __future__ import annotations

import torch

from mambarec.metrics import DEFAULT_KS, embedding_topk_metrics

SPLITS = ("valid", "test")


@torch.no_grad()
def evaluate_model(model, dataset, splits: tuple[str, ...] = SPLITS, per_user: bool = False,
                   batch_users: int = 2048, ks=DEFAULT_KS, matrices: dict | None = None) -> dict[str, dict]:
    """``{split: {"Recall@20": ..., ...}}`` (empty for a split without interactions); ``per_user`` adds the
    per-user arrays (``mambarec.metrics``). The user's training items are masked."""
    matrices = matrices or {s: dataset.matrix(s) for s in ("train", *splits)}
    was_training = model.training
    model.eval()
    try:
        users, items = model.embeddings()
    finally:
        model.train(was_training)
    out = {}
    for split in splits:
        if matrices[split].nnz == 0:
            out[split] = {}
            continue
        out[split] = embedding_topk_metrics(users, items, matrices["train"], matrices[split], ks=ks,
                                            batch_users=batch_users, per_user=per_user)
    return out


__all__ = ["evaluate_model", "SPLITS"]
