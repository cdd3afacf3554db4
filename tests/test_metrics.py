"""The evaluator against hand-computed cases and a slow reference of MMRec's definitions."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mambarec.evaluate import block_users, evaluate_model
from mambarec.metrics import embedding_topk_metrics, top_items, topk_metrics, topk_with_ties
from tests.devices import DEVICES


def _csr(rows, n_users, n_items):
    r, c = zip(*[(u, i) for u, items in enumerate(rows) for i in items], strict=True) if any(rows) else ((), ())
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n_users, n_items))


def _reference(scores, exclude, heldout, ks):
    """Per-user loop, MMRec's numpy formulas, ranking by (score desc, id asc)."""
    s = scores.numpy().astype(np.float64).copy()
    s[exclude.toarray() > 0] = -np.inf
    held = heldout.toarray() > 0
    out = {f"{m}@{k}": [] for k in ks for m in ("Recall", "NDCG", "Precision", "MAP")}
    for u in range(s.shape[0]):
        n = held[u].sum()
        if n == 0:
            continue
        order = np.lexsort((np.arange(s.shape[1]), -s[u]))
        for k in ks:
            hits = held[u, order[:k]].astype(float)
            dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / math.log2(r + 2) for r in range(min(n, k)))
            prec = np.cumsum(hits) / np.arange(1, k + 1)
            out[f"Recall@{k}"].append(hits.sum() / n)
            out[f"Precision@{k}"].append(hits.sum() / k)
            out[f"NDCG@{k}"].append(dcg / idcg)
            out[f"MAP@{k}"].append((prec * hits).sum() / min(n, k))
    return {k: float(np.mean(v)) for k, v in out.items()}


def test_hand_computed_single_user():
    # items ranked 3 > 1 > 0 > 2; item 1 excluded; held-out {2, 0}
    scores = torch.tensor([[0.5, 0.9, 0.1, 1.0]])
    res = topk_metrics(scores, _csr([[1]], 1, 4), _csr([[0, 2]], 1, 4), ks=(1, 2, 3))
    # ranking after masking: 3, 0, 2
    assert res["Recall@1"] == 0.0
    assert res["Recall@2"] == pytest.approx(0.5)
    assert res["Recall@3"] == pytest.approx(1.0)
    assert res["Precision@2"] == pytest.approx(0.5)
    assert res["NDCG@2"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert res["NDCG@3"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert res["MAP@3"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_ties_broken_by_lower_item_id():
    scores = torch.tensor([[1.0, 2.0, 2.0, 2.0, 0.0]])
    assert topk_with_ties(scores, 2).tolist() == [[1, 2]]
    # held-out item 3 is tied with 1 and 2 but has a higher id: it must miss top-2
    res = topk_metrics(scores, _csr([[]], 1, 5), _csr([[3]], 1, 5), ks=(2, 3))
    assert res["Recall@2"] == 0.0 and res["Recall@3"] == 1.0
    # all equal: the first k ids
    assert topk_with_ties(torch.zeros(2, 6), 3).tolist() == [[0, 1, 2], [0, 1, 2]]


def test_more_heldout_than_k_and_users_without_heldout():
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    held = _csr([[0, 1, 2], [], [3]], 3, 4)
    res = topk_metrics(scores, _csr([[], [], []], 3, 4), held, ks=(2,))
    # user 0: 2 hits of 3 -> recall 2/3, ndcg 1 (ideal capped at K); user 1 skipped; user 2 misses
    assert res["Recall@2"] == pytest.approx((2 / 3 + 0) / 2)
    assert res["NDCG@2"] == pytest.approx((1.0 + 0) / 2)
    assert res["MAP@2"] == pytest.approx((1.0 + 0) / 2)
    per = topk_metrics(scores, _csr([[], [], []], 3, 4), held, ks=(2,), per_user=True)
    assert per["users"].tolist() == [0, 2]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference_with_ties_and_batches(seed, device):
    g = torch.Generator().manual_seed(seed)
    n_users, n_items = 37, 23
    scores = torch.randint(0, 5, (n_users, n_items), generator=g).float()  # many ties
    rng = np.random.default_rng(seed)
    ex = sp.csr_matrix((rng.random((n_users, n_items)) < 0.2).astype(float))
    ho = sp.csr_matrix(((rng.random((n_users, n_items)) < 0.25) & (ex.toarray() == 0)).astype(float))
    ks = (1, 5, 10)
    got = topk_metrics(scores.to(device), ex, ho, ks=ks, batch_users=8)
    want = _reference(scores, ex, ho, ks)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


@pytest.mark.parametrize("device", DEVICES)
def test_embeddings_path_equals_dense_scores_and_torch_sparse_input(device):
    g = torch.Generator().manual_seed(3)
    u, i = torch.randn(20, 4, generator=g).to(device), torch.randn(15, 4, generator=g).to(device)
    ex = sp.random(20, 15, density=0.2, random_state=1, format="csr")
    ho = sp.random(20, 15, density=0.2, random_state=2, format="csr")
    a = topk_metrics(u @ i.t(), ex, ho)
    b = embedding_topk_metrics(u, i, ex, ho, batch_users=7)
    ex_t = torch.sparse_coo_tensor(np.vstack(ex.nonzero()), torch.ones(ex.nnz), (20, 15), check_invariants=True)
    c = topk_metrics(u @ i.t(), ex_t, ho)
    assert a == pytest.approx(b) and a == pytest.approx(c)


def test_excluded_items_never_recommended():
    scores = torch.arange(10.0).repeat(3, 1)
    ex = _csr([[9, 8], [0], []], 3, 10)
    top = top_items(scores, ex, 3)
    assert top.tolist() == [[7, 6, 5], [9, 8, 7], [9, 8, 7]]


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="shape"):
        topk_metrics(torch.zeros(2, 3), _csr([[], []], 2, 4), _csr([[0], []], 2, 4))
    with pytest.raises(FloatingPointError, match="NaN"):
        topk_metrics(torch.full((1, 3), float("nan")), _csr([[]], 1, 3), _csr([[0]], 1, 3))
    with pytest.raises(ValueError, match="no user has held-out"):
        topk_metrics(torch.zeros(1, 3), _csr([[]], 1, 3), _csr([[]], 1, 3))


def test_callers_scores_are_left_unchanged():
    scores = torch.arange(12.0).view(3, 4)
    before = scores.clone()
    topk_metrics(scores, _csr([[3], [0, 1], []], 3, 4), _csr([[0], [2], [1]], 3, 4), ks=(2,))
    assert torch.equal(scores, before)


def test_top_20_with_many_ties_is_ordered_by_lower_id_and_matches_the_reference():
    """K = 20, the reported cut: beyond 16 tied values torch's unstable sort reorders ties, so the stable sort is what
    keeps ties by the lower id inside the top-K (NDCG and MAP read that order; the reference test stops at K = 10)."""
    g = torch.Generator().manual_seed(4)
    scores = torch.randint(0, 3, (40, 60), generator=g).float()
    top = topk_with_ties(scores, 20)
    for row, s in zip(top.tolist(), scores.numpy(), strict=True):
        assert row == np.lexsort((np.arange(60), -s))[:20].tolist()
    rng = np.random.default_rng(4)
    ex = sp.csr_matrix((rng.random((40, 60)) < 0.1).astype(float))
    ho = sp.csr_matrix(((rng.random((40, 60)) < 0.3) & (ex.toarray() == 0)).astype(float))
    got, want = topk_metrics(scores, ex, ho, ks=(20,)), _reference(scores, ex, ho, (20,))
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


def test_precision_divides_by_k_even_when_k_exceeds_the_catalogue():
    """MMRec's Precision@K is hits / K: with K = 5 over 3 items, the 2 held-out items found give 2/5, not 2/3."""
    res = topk_metrics(torch.tensor([[3.0, 2.0, 1.0]]), _csr([[]], 1, 3), _csr([[0, 2]], 1, 3), ks=(5,))
    assert res["Precision@5"] == pytest.approx(2 / 5) and res["Recall@5"] == 1.0


class _FixedEmbeddings(torch.nn.Module):
    """A model whose final embeddings are given: scores are user . item."""

    def __init__(self, users, items):
        super().__init__()
        self.users, self.items = users, items

    def embeddings(self):
        return self.users, self.items


def test_evaluate_model_masks_only_training_items_and_skips_an_empty_split():
    """The protocol masks the training items, not the validation ones, when scoring test; a split without
    interactions gives {} (not an error); on the CPU the configured block size is kept."""
    model = _FixedEmbeddings(torch.tensor([[1.0], [1.0]]), torch.tensor([[4.0], [3.0], [2.0], [1.0]]))
    mats = {"train": _csr([[0], [0]], 2, 4), "valid": _csr([[1], [1]], 2, 4), "test": _csr([[2], [3]], 2, 4)}
    out = evaluate_model(model, None, ("valid", "test"), ks=(1, 2), matrices=mats)
    assert out["valid"]["Recall@1"] == 1.0  # item 0 (train) masked: item 1 ranks first
    assert out["test"]["Recall@1"] == 0.0  # item 1 (valid) still ranks first for test
    assert out["test"]["Recall@2"] == pytest.approx(0.5)  # user 0 finds item 2 second, user 1's item 3 is third
    empty = {**mats, "valid": _csr([[], []], 2, 4)}
    assert evaluate_model(model, None, ("valid", "test"), ks=(1,), matrices=empty)["valid"] == {}
    assert block_users(7, 100, 50, torch.device("cpu")) == 7


def test_excluded_items_rank_below_every_score_however_low():
    """The mask is -inf, not a large negative number: with scores far below zero (an untrained or diverging model)
    a training item must still never be recommended nor counted as a hit."""
    scores = torch.tensor([[-1e7, -2e7, -3e7, -4e7]])
    assert top_items(scores, _csr([[0]], 1, 4), 2).tolist() == [[1, 2]]
    res = topk_metrics(scores, _csr([[0]], 1, 4), _csr([[2]], 1, 4), ks=(2,))
    assert res["Recall@2"] == 1.0  # ranking 1, 2 (item 0 masked): the held-out item 2 is second
    assert res["NDCG@2"] == pytest.approx(1 / math.log2(3))


def test_top_items_leaves_the_callers_scores_unchanged():
    scores = torch.arange(8.0).view(2, 4)
    before = scores.clone()
    assert top_items(scores, _csr([[3], [0, 2]], 2, 4), 2).tolist() == [[2, 1], [3, 1]]
    assert torch.equal(scores, before)


def test_a_cut_of_zero_is_refused():
    with pytest.raises(ValueError, match="positive"):
        topk_metrics(torch.zeros(1, 3), _csr([[]], 1, 3), _csr([[0]], 1, 3), ks=(0, 10))


class _TrainModeDiffers(_FixedEmbeddings):
    """Item embeddings that reverse in train mode, as dropout would change them."""

    def embeddings(self):
        return self.users, -self.items if self.training else self.items


def test_evaluate_model_scores_in_eval_mode_and_restores_the_mode():
    model = _TrainModeDiffers(torch.tensor([[1.0]]), torch.tensor([[4.0], [3.0], [2.0], [1.0]]))
    model.train()
    mats = {"train": _csr([[]], 1, 4), "test": _csr([[0]], 1, 4)}
    out = evaluate_model(model, None, ("test",), ks=(1,), matrices=mats)
    assert out["test"]["Recall@1"] == 1.0  # eval mode: item 0 scores 4, first; train mode would rank it last
    assert model.training
