"""Alignment analysis of the two modalities (docs/model.md section 4: global distribution alignment).

* ``modality_embeddings``: each item's visual and text features at one stage of the modal encoders
  ("input": the projected input, "dream": after DREAM, "modal": the d-dim features the graph uses).
* ``project_joint``: a 2-D map of both modalities fitted once on the stacked rows (PCA or UMAP), so
  a visual point and a text point are placed by the same map and their distance means something.
* ``alignment_metrics``: how close the two sets are, as a distribution (MMD, the loss's own kernel)
  and as matched pairs (mean cosine, cross-modal Recall@K), plus Wang & Isola's (ICML 2020)
  alignment and uniformity.

Everything is vectorized over items (blocks of rows bound the memory of n x n similarities).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from mambarec.model.base import eval_mode
from mambarec.model.losses import mmd_loss
from mambarec.neighbours import unit_rows

STAGES = ("input", "dream", "modal")
MODALITIES = ("visual", "text")
BLOCK_ROWS = 2048  # rows of an n x n similarity computed at once
RECALL_KS = (1, 10)
UNIFORMITY_T = 2.0  # t of Wang & Isola's uniformity
ALIGNMENT_ALPHA = 2  # alpha of Wang & Isola's alignment
UMAP_NEIGHBOURS = 15  # umap-learn's own default neighbourhood, capped below by the points there are


# ---- embeddings -------------------------------------------------------------------------------
def modality_embeddings(model, stage: str) -> dict[str, np.ndarray]:
    """``{"visual": (n_items, w), "text": (n_items, w)}`` float32 arrays of one encoder stage.

    ``input``: the projected input, i.e. the encoder's "reduced" stage (D_V / r, the DREAM map's
    input, paper variant) or its "projected" stage (d, the vector path and DREAM off).
    ``dream``: DREAM's output. ``modal``: ``model.modal_features()``, the d-dim features the
    purifier sees (after DREAM and its projection, before LayerNorm/dropout).
    Computed in eval mode (BatchNorm running statistics, no dropout) without gradients; the
    model's train/eval mode is restored afterwards.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {list(STAGES)}")
    encoders, features = getattr(model, "encoders", None), getattr(model, "features", None)
    if encoders is None or features is None or not all(m in encoders for m in MODALITIES):
        raise ValueError(f"{type(model).__name__} has no visual/text modal encoders: stage {stage!r} "
                         "exists only for MambaRec-style models (paper, official, mgcn)")
    with eval_mode(model), torch.no_grad():
        if stage == "modal":
            out = model.modal_features()
        else:
            out = {}
            for m in MODALITIES:
                _, stages = encoders[m](features[m].weight, return_stages=True)
                key = "dream" if stage == "dream" else ("reduced" if "reduced" in stages else "projected")
                if key not in stages:
                    raise ValueError(f"this model has no {stage!r} stage for {m} (DREAM is off: use_dream=False); "
                                     f"its stages are {sorted(stages)}")
                out[m] = stages[key]
    return {m: out[m].detach().cpu().float().numpy() for m in MODALITIES}


# ---- 2-D projection ---------------------------------------------------------------------------
def _pca(x: np.ndarray, n_components: int) -> np.ndarray:
    """Scores on the top principal axes; each axis's largest-magnitude loading is made positive,
    so the result does not depend on the SVD routine's arbitrary signs."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(n_components, vt.shape[0])
    axes = vt[:k]
    signs = np.sign(axes[np.arange(k), np.abs(axes).argmax(axis=1)])
    axes = axes * np.where(signs == 0, 1.0, signs)[:, None]
    scores = centred @ axes.T
    if k < n_components:  # fewer rows or columns than components: pad with zeros
        scores = np.pad(scores, ((0, 0), (0, n_components - k)))
    return scores


def common_width(visual: np.ndarray, text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both modalities at the same width: unchanged if equal, else each L2-normalized and reduced by
    its own PCA to min(widths, rows) dimensions. The two PCA bases are different, so coordinates
    are comparable only as a joint layout (which is what ``project_joint`` fits), not axis by axis."""
    if visual.shape[1] == text.shape[1]:
        return np.asarray(visual, dtype=np.float64), np.asarray(text, dtype=np.float64)
    width = min(visual.shape[1], text.shape[1], visual.shape[0], text.shape[0])
    return _pca(unit_rows(visual), width), _pca(unit_rows(text), width)


def project_joint(visual: np.ndarray, text: np.ndarray, method: str = "umap", seed: int = 0,
                  normalize: bool = False, **kw) -> tuple[np.ndarray, np.ndarray]:
    """(visual_xy, text_xy): 2-D coordinates from ONE map fitted on the stacked rows of both.

    ``method``: "pca" (exact, deterministic) or "umap" (umap-learn, ``random_state=seed``, which
    also makes it single-threaded and reproducible; ``kw`` goes to ``umap.UMAP``, e.g.
    ``n_neighbors``, ``min_dist``). Widths that differ are first brought to a common width
    (``common_width``: L2-normalize, then PCA per modality); ``normalize=True`` L2-normalizes the
    rows in every case (the geometry the MMD and the cosine metrics see).
    """
    if method not in ("pca", "umap"):
        raise ValueError(f"unknown projection {method!r}; choose 'pca' or 'umap'")
    visual, text = common_width(np.asarray(visual), np.asarray(text))
    if normalize:
        visual, text = unit_rows(visual), unit_rows(text)
    stacked = np.concatenate([visual, text], axis=0)
    if method == "pca":
        xy = _pca(stacked, 2)
    else:
        import umap  # lazy: umap-learn (and numba) take seconds to import

        params = {"n_components": 2, "n_neighbors": min(UMAP_NEIGHBOURS, len(stacked) - 1), **kw, "random_state": seed}
        # umap-learn ends by resetting numba's thread count to the core count, which (through the
        # shared OpenMP runtime) also raises torch's: runs meant to use one thread then oversubscribe
        threads = torch.get_num_threads()
        try:
            with warnings.catch_warnings():  # a seed makes UMAP single-threaded, as wanted here
                warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
                xy = np.asarray(umap.UMAP(**params).fit_transform(stacked), dtype=np.float64)
        finally:
            torch.set_num_threads(threads)
    return xy[: len(visual)], xy[len(visual):]


# ---- metrics ------------------------------------------------------------------------------------
def _retrieval_ranks(v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """0-based rank of text i among all texts for visual query i, by cosine (rows already unit);
    ties go to the lower text id: rank_i = #{j: s_ij > s_ii} + #{j < i: s_ij = s_ii}."""
    n = v.shape[0]
    ranks = torch.empty(n, dtype=torch.long)
    ids = torch.arange(n)
    for start in range(0, n, BLOCK_ROWS):
        rows = ids[start: start + BLOCK_ROWS]
        sim = v[rows] @ t.t()
        own = sim[torch.arange(len(rows)), rows].unsqueeze(1)
        better = (sim > own) | ((sim == own) & (ids.unsqueeze(0) < rows.unsqueeze(1)))
        ranks[rows] = better.sum(dim=1)
    return ranks


def _uniformity(x: torch.Tensor, t: float = UNIFORMITY_T) -> float:
    """log mean_{i<j} exp(-t ||x_i - x_j||^2) over distinct pairs of rows (rows already unit)."""
    n = x.shape[0]
    if n < 2:
        return float("nan")
    ids = torch.arange(n)
    parts = []
    for start in range(0, n, BLOCK_ROWS):
        rows = ids[start: start + BLOCK_ROWS]
        sq = (2.0 - 2.0 * (x[rows] @ x.t())).clamp_min(0.0)
        upper = ids.unsqueeze(0) > rows.unsqueeze(1)
        parts.append(torch.logsumexp((-t * sq)[upper], dim=0))
    total = torch.logsumexp(torch.stack(parts), dim=0)
    return float(total - math.log(n * (n - 1) / 2))


def alignment_metrics(visual, text, sigma: float = 1.0) -> dict[str, float]:
    """How well row i of ``visual`` and row i of ``text`` (same item) agree; rows are L2-normalized.

    * ``mmd``: ``mambarec.model.losses.mmd_loss`` (mean k(V,V) + mean k(T,T) - 2 mean k(V,T), Gaussian
      kernel with ``sigma``, on L2-normalized rows), i.e. the training loss on the whole set.
    * ``mean_cosine``: mean cosine of matched pairs.
    * ``recall@1``, ``recall@10``: visual -> text retrieval by cosine over all items, ties by the lower
      id; ``chance@K`` = K / n is what unrelated modalities score on average.
    * ``alignment``: mean ||x_i - y_i||^2 of the normalized pairs (Wang & Isola, alpha = 2).
    * ``uniformity``: log mean exp(-2 ||a - b||^2) over distinct pairs of the POOLED set (all visual
      and all text rows together, t = 2); ``uniformity_visual`` / ``uniformity_text`` per modality.
      Lower is more uniform.
    """
    v = torch.as_tensor(np.asarray(visual), dtype=torch.float64)
    t = torch.as_tensor(np.asarray(text), dtype=torch.float64)
    if v.ndim != 2 or v.shape != t.shape:
        raise ValueError(f"visual and text must be (n_items, width) arrays of one shape (matched rows in a shared "
                         f"space), got {tuple(v.shape)} and {tuple(t.shape)}")
    n = v.shape[0]
    mmd = float(mmd_loss(v, t, sigma))
    v, t = F.normalize(v, dim=1), F.normalize(t, dim=1)
    cos = (v * t).sum(dim=1)
    ranks = _retrieval_ranks(v, t)
    out = {"n_items": n, "sigma": float(sigma), "mmd": mmd, "mean_cosine": float(cos.mean())}
    for k in RECALL_KS:
        out[f"recall@{k}"] = float((ranks < k).double().mean())
        out[f"chance@{k}"] = min(k, n) / n
    out["alignment"] = float((v - t).norm(dim=1).pow(ALIGNMENT_ALPHA).mean())
    out["uniformity"] = _uniformity(torch.cat([v, t], dim=0))
    out["uniformity_visual"] = _uniformity(v)
    out["uniformity_text"] = _uniformity(t)
    return out


def one_point(embeddings: dict[str, np.ndarray]) -> list[str]:
    """The modalities whose items all have one and the same vector (a freshly initialized model's text path gives
    every item the same one): a projection that keeps neighbourhoods, UMAP, spreads such points at random into a
    cloud that looks like structure (audit r76)."""
    return [m for m, x in embeddings.items() if len(x) > 1 and float(np.ptp(x, axis=0).max()) == 0.0]


__all__ = ["STAGES", "modality_embeddings", "project_joint", "common_width", "alignment_metrics", "one_point"]
