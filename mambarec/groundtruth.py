"""Ground-truth analyses for generated data: how much of the true factors an embedding holds, the
gap between two modalities, and test metrics restricted to a group of items (cold vs warm).

``factor_recovery_r2`` is a cross-validated linear (ridge) probe. Rows are centred with the training
fold's mean (an intercept). The ridge penalty is alpha = lambda * (mean squared norm of a centred
training row), which makes lambda scale-free; lambda is picked per outer fold from ``RIDGE_GRID`` by
the training fold's exact leave-one-out error (the closed form e_i / (1 - h_ii), h_ii including
the intercept's 1/n). R^2 pools all factor columns: 1 - sum (y - y_hat)^2 / sum (y - mean y)^2 over the
out-of-fold predictions. The in-sample R^2 is the naive probe, fitted and scored on every row with
the smallest penalty of the grid: with more dimensions than rows it is ~1 even for pure noise.
Everything is numpy; each fit is one eigendecomposition of the smaller of X^T X and X X^T.

Per-group metrics follow ``mambarec.metrics`` (docs/protocol.md section 4) with the held-out set cut to one
group: for each user with at least one held-out item in the group, hits are the top-K positions
holding a held-out item of the group (items outside the group still take places in the ranking),
Recall@K = hits / (held-out group items), NDCG@K's ideal DCG runs over min(that count, K) places;
metrics are averaged over those users.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mambarec.data.coldstart import measured_cold_items

RIDGE_GRID = tuple(10.0 ** p for p in range(-4, 4))  # lambda: alpha / mean squared row norm
DEFAULT_FOLDS = 5
EIGEN_TOL = 1e-10  # eigenvalues below this share of the largest are treated as zero
LEVERAGE_FLOOR = 1e-12  # 1 - h_ii never below this (an interpolated row's leave-one-out error is huge)


@dataclass(frozen=True)
class ProbeResult:
    cv_r2: float  # out-of-fold R^2 (pooled over factor columns)
    in_sample_r2: float  # R^2 of the smallest-penalty fit on all rows, scored on the same rows
    penalties: tuple[float, ...]  # lambda chosen in each outer fold


def _spectrum(x: np.ndarray, x_new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues ev and projections p, p_new with ridge fit = p (p^T y / (ev + alpha))."""
    n, w = x.shape
    if w <= n:
        ev, vec = np.linalg.eigh(x.T @ x)
        keep = ev > EIGEN_TOL * max(ev.max(), 0.0)
        return ev[keep], x @ vec[:, keep], x_new @ vec[:, keep]
    ev, u = np.linalg.eigh(x @ x.T)
    keep = ev > EIGEN_TOL * max(ev.max(), 0.0)
    ev, u = ev[keep], u[:, keep]
    s = np.sqrt(ev)
    return ev, u * s, (x_new @ x.T) @ u / s


def _ridge(x: np.ndarray, y: np.ndarray, x_new: np.ndarray,
           lambdas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fits for every lambda: (L, n, k) on the training rows, (L, n_new, k) on the new rows, and the
    leave-one-out mean squared error per lambda (L,)."""
    mean_x, mean_y = x.mean(0), y.mean(0)
    xc, yc = x - mean_x, y - mean_y
    ev, p, p_new = _spectrum(xc, x_new - mean_x)
    alphas = np.asarray(lambdas) * (xc ** 2).sum() / len(x)
    inv = 1.0 / (ev[None, :] + alphas[:, None])  # (L, r)
    coef = inv[:, :, None] * (p.T @ yc)[None]  # (L, r, k)
    fit = np.einsum("nr,lrk->lnk", p, coef) + mean_y
    new = np.einsum("nr,lrk->lnk", p_new, coef) + mean_y
    leverage = 1.0 / len(x) + (p ** 2) @ inv.T  # (n, L); 1/n is the intercept's share
    loo = (y[None] - fit) / np.maximum(1.0 - leverage.T[:, :, None], LEVERAGE_FLOOR)
    return fit, new, (loo ** 2).mean(axis=(1, 2))


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    return float(1.0 - ((y - pred) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())


def factor_recovery_r2(embeddings: np.ndarray, factors: np.ndarray, folds: int = DEFAULT_FOLDS,
                       seed: int = 0, in_sample: bool = True) -> ProbeResult:
    """Cross-validated ridge R^2 of ``factors`` (n, k) from ``embeddings`` (n, w); see the module doc.

    ``in_sample=False`` skips the in-sample fit (one eigendecomposition less); its R^2 is then NaN.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    y = np.asarray(factors, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"embeddings {x.shape} and factors {y.shape} need the same number of rows")
    if not 2 <= folds <= len(x):
        raise ValueError(f"folds must be 2..{len(x)} (the number of rows), got {folds}")
    lambdas = np.asarray(RIDGE_GRID)
    pred = np.empty_like(y)
    chosen = []
    for test in np.array_split(np.random.default_rng(seed).permutation(len(x)), folds):
        train = np.setdiff1d(np.arange(len(x)), test)
        _, new, loo = _ridge(x[train], y[train], x[test], lambdas)
        best = int(np.argmin(loo))
        pred[test] = new[best]
        chosen.append(float(lambdas[best]))
    in_sample_r2 = _r2(y, _ridge(x, y, x[:0], lambdas[:1])[0][0]) if in_sample else float("nan")
    return ProbeResult(cv_r2=_r2(y, pred), in_sample_r2=in_sample_r2, penalties=tuple(chosen))


def modality_informativeness(dataset, folds: int = DEFAULT_FOLDS, seed: int = 0) -> dict[str, ProbeResult]:
    """``factor_recovery_r2`` of the true item factors (``dataset.extras["item_factors"]``) from each
    modality's raw features: how much of what users care about each modality shows a linear probe."""
    factors = dataset.extras["item_factors"]
    return {m: factor_recovery_r2(getattr(dataset, m), factors, folds, seed, in_sample=False)
            for m in ("visual", "text")}


def modality_gap_stats(visual: np.ndarray, text: np.ndarray) -> dict[str, float]:
    """Location-scale gap between two feature sets of any widths, over all their entries:
    ``mean_shift`` = mean(visual) - mean(text), ``scale_ratio`` = std(visual) / std(text)."""
    v, t = np.asarray(visual, dtype=np.float64), np.asarray(text, dtype=np.float64)
    return {"mean_shift": float(v.mean() - t.mean()), "scale_ratio": float(v.std() / t.std())}


@dataclass(frozen=True)
class GroupMetrics:
    group: str
    users: int  # users with at least one held-out item in the group
    heldout: int  # held-out (user, item) pairs in the group
    metrics: dict  # "Recall@20" -> mean over those users (also NDCG, Precision, MAP)


def group_topk_metrics(top: np.ndarray, heldout: sp.spmatrix, groups: dict[str, np.ndarray],
                       ks: Sequence[int] = (10, 20)) -> dict[str, GroupMetrics]:
    """Metrics of a per-user top-K list ``top`` (n_users, >= max(ks)) for each item group (bool masks)."""
    import torch  # lazy: torch

    from mambarec.metrics import _metrics_from_hits  # lazy: torch-backed, kept off the light path

    top = np.asarray(top)
    heldout = sp.csr_matrix(heldout, dtype=np.float32)
    if top.shape[1] < max(ks):
        raise ValueError(f"top holds {top.shape[1]} items per user, fewer than K = {max(ks)}")
    top = top[:, : max(ks)]
    out = {}
    for name, mask in groups.items():  # a handful of groups, each fully vectorized over users
        part = sp.csr_matrix(heldout @ sp.diags(np.asarray(mask, dtype=np.float32)))
        part.eliminate_zeros()
        n_pos = np.diff(part.indptr)
        users = np.flatnonzero(n_pos > 0)
        metrics = {}
        if len(users):
            hits = np.asarray(part[np.repeat(users, top.shape[1]), top[users].ravel()]).reshape(len(users), -1)
            per = _metrics_from_hits(torch.from_numpy(hits != 0), torch.from_numpy(n_pos[users]), ks)
            metrics = {k: float(v.mean()) for k, v in per.items()}
        out[name] = GroupMetrics(group=name, users=len(users), heldout=int(n_pos.sum()), metrics=metrics)
    return out


ITEM_GROUPS = ("cold", "warm")  # the item groups of ``cold_warm_metrics``, in the order tables show them
COLD_WARM_K = 20  # the cutoff of the metric that cold-vs-warm tables and bars show (REPORT.md, Compare)
COLD_WARM_METRIC = f"Recall@{COLD_WARM_K}"


def stored_group_metrics(metrics: dict) -> dict[str, dict]:
    """The per-group metrics a run stored (``tasks.ground_truth``: ``metrics["ground_truth"]["groups"]``), group ->
    {"users", "heldout", metric -> value}; empty where the run stored none (real data, untrained, older runs).
    The one reader of that record: the report's table and the app's rows both go through it."""
    return (metrics.get("ground_truth") or {}).get("groups") or {}


def world_cold_items(dataset) -> np.ndarray | None:
    """The cold items a generated world made (``extras["cold_items"]``, each held to at most ``COLD_MAX_TRAIN``
    training interactions), which the grid's cold-vs-warm numbers, the Compare page's bars and the About page's
    card all read; None for data that define none (the measured ones are ``measured_cold_items``). On
    synthetic/cold-items 2 of the 181 it made differ from the 181 measured; sparse-users makes none and has 13
    measured."""
    extras = dataset.extras or {}
    return np.asarray(extras["cold_items"], dtype=bool) if "cold_items" in extras else None


def cold_warm_metrics(scores, dataset, split: str = "test", ks: Sequence[int] = (10, 20),
                      cold: np.ndarray | None = None) -> dict[str, GroupMetrics]:
    """Per-group metrics of a (n_users, n_items) score matrix on ``dataset``'s ``split``.

    Training items are masked (docs/protocol.md section 3); ``cold`` defaults to the measured cold items
    (at most ``COLD_MAX_TRAIN`` training interactions), warm is the rest.
    """
    import torch  # lazy: torch

    from mambarec.metrics import top_items  # lazy: torch-backed, kept off the light path

    if cold is None:
        cold = measured_cold_items(dataset.train, dataset.n_items)
    scores = torch.as_tensor(scores)
    top = top_items(scores, dataset.matrix("train"), max(ks)).cpu().numpy()
    return group_topk_metrics(top, dataset.matrix(split), dict(zip(ITEM_GROUPS, (cold, ~cold), strict=True)), ks)
