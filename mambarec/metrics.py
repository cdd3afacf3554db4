"""Full-ranking top-K evaluation, exactly MMRec's metric definitions (docs/protocol.md sections 3 and 4).

Every item is ranked for every user; the user's ``exclude`` items (training interactions) are
masked; metrics are averaged over the users that have held-out items. Ties are broken by the
lower item id (MMRec's ``torch.topk`` leaves their order unspecified). Work is batched over users
and vectorized in torch: no per-user Python loop.

Definitions (``hits`` is the 0/1 relevance of ranks 1..K, ``n`` the user's held-out count):
  Recall@K    = sum(hits) / n
  Precision@K = sum(hits) / K
  NDCG@K      = sum(hits_r / log2(r + 1)) / sum_{r <= min(n, K)} 1 / log2(r + 1)
  MAP@K       = sum_r P@r * hits_r / min(n, K)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from mambarec.config import TrainConfig, default_of, field_of

METRIC_NAMES = ("Recall", "NDCG", "Precision", "MAP")
DEFAULT_KS = (10, 20)
DEFAULT_BATCH_USERS = default_of(field_of(TrainConfig, "eval_batch_users"))  # the block a run evaluates in


def _to_csr(m, n_users: int, n_items: int, what: str) -> sp.csr_matrix:
    if isinstance(m, torch.Tensor):
        m = m.coalesce() if m.layout == torch.sparse_coo else m.to_sparse().coalesce()
        idx = m.indices().cpu().numpy()
        m = sp.csr_matrix((np.ones(idx.shape[1], np.float32), (idx[0], idx[1])), shape=tuple(m.shape))
    if not sp.issparse(m):
        raise TypeError(f"{what} must be a scipy.sparse matrix or a torch sparse tensor, got {type(m).__name__}")
    m = sp.csr_matrix(m)
    if m.shape != (n_users, n_items):
        raise ValueError(f"{what} has shape {m.shape}, but scores are {(n_users, n_items)} (users x items)")
    return m


def topk_with_ties(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the top ``k`` items per row, ordered by score desc, ties by the lower item id."""
    k = min(k, scores.shape[1])
    # One extra place tells, without a pass over the matrix, whether ties straddle the cut.
    vals, idx = torch.topk(scores, min(k + 1, scores.shape[1]), dim=1, sorted=True)
    kth = vals[:, k - 1: k]
    idx = idx[:, :k].clone()
    if vals.shape[1] > k:
        boundary = torch.nonzero(vals[:, k] == vals[:, k - 1]).flatten()
    else:  # every item is in the top-k: only the order needs fixing
        boundary = vals.new_zeros(0, dtype=torch.long)
    if len(boundary):  # ties straddle the cut: keep the lowest ids among the tied items
        sub = scores[boundary]
        t = kth[boundary]
        above = sub > t
        tied = sub == t
        room = k - above.sum(dim=1, keepdim=True)
        keep = above | (tied & (tied.cumsum(dim=1) <= room))
        idx[boundary] = torch.nonzero(keep)[:, 1].view(len(boundary), k)
    idx, _ = idx.sort(dim=1)  # ids ascending, so the stable sort below breaks ties by id
    order = torch.sort(scores.gather(1, idx), dim=1, descending=True, stable=True).indices
    return idx.gather(1, order)


def _csr_coords(csr: sp.csr_matrix, start: int, n_rows: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    sub = csr[start: start + n_rows]
    rows = torch.from_numpy(np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr))).to(device)
    return rows, torch.from_numpy(sub.indices.astype(np.int64)).to(device)


def _masked_topk(block: torch.Tensor, exclude: sp.csr_matrix, start: int, k: int, owned: bool) -> torch.Tensor:
    """Top-k of ``block`` with the excluded items at -inf.

    A block we do not own (the caller's scores) is masked in place and restored afterwards, which
    saves copying the whole score matrix.
    """
    rows, cols = _csr_coords(exclude, start, block.shape[0], block.device)
    saved = None if owned else block[rows, cols].clone()
    block[rows, cols] = -torch.inf
    try:
        return topk_with_ties(block, k)
    finally:
        if saved is not None:
            block[rows, cols] = saved


def _hit_matrix(top: torch.Tensor, heldout: sp.csr_matrix, start: int, n_items: int) -> torch.Tensor:
    rows, cols = _csr_coords(heldout, start, top.shape[0], top.device)
    dense = torch.zeros((top.shape[0], n_items), dtype=torch.bool, device=top.device)
    dense[rows, cols] = True
    return dense.gather(1, top)


def _metrics_from_hits(hits: torch.Tensor, n_pos: torch.Tensor, ks: Sequence[int]) -> dict[str, torch.Tensor]:
    """Per-user metrics (float64) for users with n_pos > 0."""
    kmax = hits.shape[1]
    h = hits.double()
    ranks = torch.arange(1, kmax + 1, dtype=torch.float64, device=hits.device)
    disc = 1.0 / torch.log2(ranks + 1)
    cum_hits = h.cumsum(dim=1)
    dcg = (h * disc).cumsum(dim=1)
    idcg_table = disc.cumsum(dim=0)
    prec_at = cum_hits / ranks
    ap_sum = (prec_at * h).cumsum(dim=1)
    n = n_pos.double()
    out = {}
    for k in ks:
        kk = min(k, kmax)
        capped = torch.clamp(n_pos, max=kk)
        out[f"Recall@{k}"] = cum_hits[:, kk - 1] / n
        out[f"Precision@{k}"] = cum_hits[:, kk - 1] / k
        out[f"NDCG@{k}"] = dcg[:, kk - 1] / idcg_table[capped - 1]
        out[f"MAP@{k}"] = ap_sum[:, kk - 1] / capped.double()
    return out


def _evaluate(
    score_block: Callable[[int, int], tuple[torch.Tensor, bool]], n_users: int, n_items: int, exclude, heldout,
    ks: Sequence[int], batch_users: int, per_user: bool,
) -> dict:
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    exclude = _to_csr(exclude, n_users, n_items, "exclude")
    heldout = _to_csr(heldout, n_users, n_items, "heldout")
    n_pos_all = np.diff(heldout.indptr)
    kmax = max(ks)
    parts: dict[str, list[torch.Tensor]] = {}
    users: list[np.ndarray] = []
    for start in range(0, n_users, batch_users):
        stop = min(start + batch_users, n_users)
        n_pos = torch.from_numpy(n_pos_all[start:stop].astype(np.int64))
        if not (n_pos > 0).any():
            continue
        block, owned = score_block(start, stop)
        if block.dtype != torch.float32:
            block, owned = block.float(), True
        if torch.isnan(block).any():
            raise FloatingPointError("the model's scores contain NaN: it diverged (lower learning_rate or the loss "
                                     "weights)")
        top = _masked_topk(block, exclude, start, kmax, owned)
        hits = _hit_matrix(top, heldout, start, n_items).cpu()
        valid = n_pos > 0
        for name, val in _metrics_from_hits(hits[valid], n_pos[valid], ks).items():
            parts.setdefault(name, []).append(val)
        users.append(np.arange(start, stop)[valid.numpy()])
    names = [f"{m}@{k}" for k in ks for m in METRIC_NAMES]
    if not users:
        raise ValueError("no user has held-out items: nothing to evaluate")
    per = {name: torch.cat(parts[name]).numpy() for name in names}
    result = {name: float(per[name].mean()) for name in names}
    if per_user:
        result["per_user"] = per
        result["users"] = np.concatenate(users)
    return result


def topk_metrics(
    scores: torch.Tensor, exclude, heldout, ks: Sequence[int] = DEFAULT_KS,
    batch_users: int = DEFAULT_BATCH_USERS, per_user: bool = False,
) -> dict:
    """Recall/NDCG/Precision/MAP@K of a dense ``(n_users, n_items)`` score matrix.

    ``exclude`` and ``heldout`` are user x item matrices (scipy.sparse or torch sparse). Returns a
    dict ``{"Recall@20": float, ...}``; with ``per_user=True`` also ``per_user`` (name -> array
    over evaluated users) and ``users`` (their ids).
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be (n_users, n_items), got shape {tuple(scores.shape)}")
    n_users, n_items = scores.shape
    return _evaluate(lambda a, b: (scores[a:b], False), n_users, n_items, exclude, heldout, ks, batch_users, per_user)


def embedding_topk_metrics(
    user_emb: torch.Tensor, item_emb: torch.Tensor, exclude, heldout, ks: Sequence[int] = DEFAULT_KS,
    batch_users: int = DEFAULT_BATCH_USERS, per_user: bool = False,
) -> dict:
    """As ``topk_metrics`` for dot-product scores, computing one batch of users at a time."""
    n_users, n_items = user_emb.shape[0], item_emb.shape[0]
    item_t = item_emb.t()
    return _evaluate(lambda a, b: (user_emb[a:b] @ item_t, True), n_users, n_items, exclude, heldout, ks,
                     batch_users, per_user)


def top_items(scores: torch.Tensor, exclude, k: int) -> torch.Tensor:
    """The top-``k`` recommended item ids per user (exclusions masked, ties by lower id)."""
    n_users, n_items = scores.shape
    return _masked_topk(scores.float().clone(), _to_csr(exclude, n_users, n_items, "exclude"), 0, k, True)
