"""MMRec's ``EmbLoss``, the regularizer of its BPR, LightGCN and VBPR.

It is the sum of the Frobenius norms (not squared) of the batch's embedding matrices, divided by
the batch length; unlike this project's ``l2_loss`` (squared, over the configured batch size).
"""

from __future__ import annotations

import torch


def emb_loss(*embeddings: torch.Tensor) -> torch.Tensor:
    """sum_e ||e||_F / len(batch)."""
    return sum(torch.linalg.vector_norm(e) for e in embeddings) / embeddings[-1].shape[0]
