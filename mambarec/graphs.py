"""Graphs of the backbone (docs/model.md sections 5.1 and 5.2) and a sparse product for constant matrices.

* The user-item graph: symmetric-normalized bipartite adjacency D^-1/2 A D^-1/2 over users and
  items, and its user x item block R (used for the user modal embeddings).
* Per-modality item-item k-NN graphs from the raw features: cosine similarity, each item keeps
  its top-k (itself included), weights are the cosines, not symmetrized, normalized
  d_i^-1/2 w_ij d_j^-1/2 with d the row sums. Built once per dataset and cached on disk under the
  user cache directory (never in the data folder), as plain ``.npz`` arrays.
* ``ConstantSparse``: A @ X with a backward of A^T @ G precomputed, because these matrices never
  change and the generic sparse backward re-sorts their indices on every step.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from mambarec.atomic import write_atomically

SIM_BLOCK_ROWS = 2048  # rows of the cosine-similarity matrix computed at once (bounds memory)


def cache_dir() -> Path:
    """``$MAMBAREC_CACHE``, else ``$XDG_CACHE_HOME/mambarec``, else ``~/.cache/mambarec``."""
    if os.environ.get("MAMBAREC_CACHE"):
        return Path(os.environ["MAMBAREC_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mambarec"


def inverse_sqrt(deg: np.ndarray) -> np.ndarray:
    """d^-1/2 of node degrees in float64, 0 where d <= 0 (an isolated node), the same bits on every CPU.

    ``np.power(d, -0.5)`` is not: numpy dispatches ``power`` by instruction set (AVX-512 machines run
    SVML's vector pow), whose last bit can differ from the scalar path's. One float32 ULP moved at 10
    of the probe graph's 120 nodes moves LightGCN's probe by 4.9e-8: the size of the drift seen between
    two machines (docs/architecture.md section 4). ``sqrt`` and division are correctly rounded by
    IEEE 754 on every CPU.
    """
    deg = np.asarray(deg, dtype=np.float64)
    out = np.zeros_like(deg)
    linked = deg > 0
    out[linked] = 1.0 / np.sqrt(deg[linked])
    return out


def normalized_bipartite(train: sp.csr_matrix) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(D^-1/2 A D^-1/2 of the (users + items) graph, its user x item block R)."""
    n_users, n_items = train.shape
    r = sp.csr_matrix(train, dtype=np.float32)
    adj = sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float32)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    d = sp.diags(inverse_sqrt(deg).astype(np.float32))
    norm = (d @ adj @ d).tocsr().astype(np.float32)
    return norm, norm[:n_users, n_users:].tocsr()


def knn_graph(features: np.ndarray, k: int) -> sp.csr_matrix:
    """The normalized top-k cosine graph of one modality (rows computed in blocks)."""
    x = torch.from_numpy(np.asarray(features, dtype=np.float32))
    x = x / x.norm(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
    n = x.shape[0]
    k = min(k, n)
    vals, cols = [], []
    for start in range(0, n, SIM_BLOCK_ROWS):
        sim = x[start: start + SIM_BLOCK_ROWS] @ x.t()
        v, c = torch.topk(sim, k, dim=1)
        vals.append(v)
        cols.append(c)
    v = torch.cat(vals).numpy().ravel()
    c = torch.cat(cols).numpy().ravel()
    rows = np.repeat(np.arange(n), k)
    d = inverse_sqrt(np.bincount(rows, weights=v, minlength=n))
    w = (d[rows] * v * d[c]).astype(np.float32)
    return sp.csr_matrix((w, (rows, c)), shape=(n, n))


@functools.cache
def graph_code_version() -> str:
    """A short hash of the code that computes a k-NN graph's numbers (``knn_graph``, ``inverse_sqrt``).

    A cached graph is named by it as well as by its data: a change to those bits (commit 07e5930's inverse square
    root moved the last digits) must not be served graphs the old code wrote, or one seed trains on two kinds of
    graph, by what a machine happens to have cached (audit r57). The probes build their graphs without the cache.
    Read once per process: the source files are read from disk, and the code that runs is the code first loaded
    (each graph built had read them again, and after an edit on disk would have named the old code's graph anew).
    """
    source = inspect.getsource(knn_graph) + inspect.getsource(inverse_sqrt)
    return hashlib.sha256(source.encode()).hexdigest()[:10]


def cached_knn_graph(features: np.ndarray, k: int, key: str, use_cache: bool = True) -> sp.csr_matrix:
    """``knn_graph`` cached under the user cache directory by ``key`` (e.g. a dataset fingerprint) and by the code
    that computes it (``graph_code_version``)."""
    path = cache_dir() / "graphs" / f"{key}_k{k}_{graph_code_version()}.npz"
    if use_cache and path.exists():
        n = features.shape[0]
        try:
            g = sp.load_npz(path).tocsr()
            if g.shape == (n, n):
                return g
        except (OSError, ValueError):
            pass  # a corrupt cache entry (or one of another shape, below) is rebuilt
    g = knn_graph(features, k)
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, lambda tmp: sp.save_npz(tmp, g))  # the temp name keeps .npz (save_npz adds it)
        except OSError:
            pass  # a read-only home only costs a rebuild next time
    return g


def csr_index_dtype(m: sp.csr_matrix) -> np.dtype:
    """int32 when every index and the entry count fit in it, else int64.

    torch's CPU product of a CSR matrix runs in MKL's 32-bit-index interface: int64 indices are converted
    to int32 on every call (a copy of all column indices, each step of every propagation, forward and
    backward), so stored as int32 they are used as they are. The same product, the same bits
    (tests/test_rewrites.py); ml100k's user-item graph: ~5% off each product (docs/speed.md section 1).
    """
    fits = max(m.nnz, *m.shape) <= np.iinfo(np.int32).max
    return np.dtype(np.int32) if fits else np.dtype(np.int64)


def to_torch_csr(m: sp.csr_matrix, device: torch.device | str = "cpu") -> torch.Tensor:
    m = sp.csr_matrix(m, dtype=np.float32)
    index = csr_index_dtype(m)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(m.indptr.astype(index)), torch.from_numpy(m.indices.astype(index)),
            torch.from_numpy(m.data).to(torch.get_default_dtype()), size=m.shape, device=device, check_invariants=False,
        )


class _ConstantSparseMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: torch.Tensor, a_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.a_t = a_t
        return a @ x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, None, ctx.a_t @ grad


class ConstantSparse:
    """A fixed sparse matrix A; ``a(x)`` is A @ x with a precomputed A^T for the backward."""

    def __init__(self, m: sp.csr_matrix, device: torch.device | str = "cpu") -> None:
        self.shape = m.shape
        self.scipy = sp.csr_matrix(m)
        self.a = to_torch_csr(self.scipy, device)
        symmetric = m.shape[0] == m.shape[1] and abs(self.scipy - self.scipy.T).max() == 0
        self.a_t = self.a if symmetric else to_torch_csr(self.scipy.T.tocsr(), device)

    def to(self, device: torch.device | str) -> ConstantSparse:
        return self if self.a.device == torch.device(device) else ConstantSparse(self.scipy, device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _ConstantSparseMM.apply(self.a, self.a_t, x)


class Graphs:
    """Every graph a model needs for one dataset, built once (k-NN graphs cached on disk)."""

    def __init__(self, norm_adj: sp.csr_matrix, r: sp.csr_matrix, knn: dict[tuple[str, int], sp.csr_matrix],
                 n_users: int, n_items: int, device: torch.device | str = "cpu") -> None:
        self.n_users, self.n_items = n_users, n_items
        self.norm_adj = ConstantSparse(norm_adj, device)
        self.r = ConstantSparse(r, device)
        self._knn_scipy = knn
        self.knn = {key: ConstantSparse(m, device) for key, m in knn.items()}

    def to(self, device: torch.device | str) -> Graphs:
        return Graphs(self.norm_adj.scipy, self.r.scipy, self._knn_scipy, self.n_users, self.n_items, device)

    def item_item(self, modality: str, k: int) -> ConstantSparse:
        return self.knn[(modality, k)]

    def has_knn(self, ks) -> bool:
        """Whether the k-NN graphs of every k in ``ks`` (both modalities) are here."""
        return all((m, k) in self.knn for k in ks for m in ("visual", "text"))


def build_graphs(dataset, knn_ks: tuple[int, ...] = (), use_cache: bool = True) -> Graphs:
    """User-item graph of ``dataset`` (a ``mambarec.data.Dataset``) and its k-NN item graphs for ``knn_ks``
    (models declare theirs: ``Recommender.graph_ks``)."""
    norm_adj, r = normalized_bipartite(dataset.matrix("train"))
    fp = dataset.fingerprint()
    knn = {}
    for k in sorted(set(knn_ks)):
        for modality, feats in (("visual", dataset.visual), ("text", dataset.text)):
            knn[(modality, k)] = cached_knn_graph(feats, k, f"{fp}_{modality}", use_cache)
    return Graphs(norm_adj, r, knn, dataset.n_users, dataset.n_items)
