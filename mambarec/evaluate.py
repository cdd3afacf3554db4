"""A model's full-ranking metrics on a dataset's splits (docs/protocol.md sections 3 and 4).

The scores are the dot products of the model's final user and item embeddings, computed once in
eval mode and ranked by ``mambarec.metrics`` block by block of users; the model's mode is restored.
Blocks are ``TrainConfig.eval_batch_users`` users on the CPU; on CUDA they are sized from the free GPU
memory (``block_users``), since one large block is fastest there and a fixed size could run out of memory.
"""

from __future__ import annotations

import torch

from mambarec.metrics import DEFAULT_BATCH_USERS, DEFAULT_KS, embedding_topk_metrics
from mambarec.model.base import eval_mode

SPLITS = ("valid", "test")
DEFAULT_BLOCK_USERS = DEFAULT_BATCH_USERS  # TrainConfig.eval_batch_users' default
GPU_MEMORY_SHARE = 0.25  # of the free GPU memory, for one block of scores and the buffers of its ranking
BYTES_PER_SCORE = 24  # a bound per (user, item) of a block: float32 score, tie-break copy, int64 cumsum, masks


def block_users(requested: int, n_users: int, n_items: int, device: torch.device) -> int:
    """Users per evaluation block. On the CPU: ``requested``. On CUDA: as many users as fit in
    ``GPU_MEMORY_SHARE`` of the free memory (torch's cached, unused blocks count as free) at ``BYTES_PER_SCORE``
    bytes per score, at least 1 and at most every user; a ``requested`` other than the default caps it."""
    if device.type != "cuda":
        return requested
    free, _ = torch.cuda.mem_get_info(device)
    free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    fit = int(free * GPU_MEMORY_SHARE) // (BYTES_PER_SCORE * max(n_items, 1))
    if requested != DEFAULT_BLOCK_USERS:
        fit = min(fit, requested)
    return max(1, min(n_users, fit))


@torch.no_grad()
def evaluate_model(model, dataset, splits: tuple[str, ...] = SPLITS, per_user: bool = False,
                   batch_users: int = DEFAULT_BLOCK_USERS, ks=DEFAULT_KS,
                   matrices: dict | None = None) -> dict[str, dict]:
    """``{split: {"Recall@20": ..., ...}}`` (empty for a split without interactions); ``per_user`` adds the
    per-user arrays (``mambarec.metrics``). The user's training items are masked."""
    matrices = matrices or {s: dataset.matrix(s) for s in ("train", *splits)}
    with eval_mode(model):
        users, items = model.embeddings()
    batch_users = block_users(batch_users, users.shape[0], items.shape[0], users.device)
    out = {}
    for split in splits:
        if matrices[split].nnz == 0:
            out[split] = {}
            continue
        out[split] = embedding_topk_metrics(users, items, matrices["train"], matrices[split], ks=ks,
                                            batch_users=batch_users, per_user=per_user)
    return out


__all__ = ["evaluate_model", "block_users", "SPLITS"]
