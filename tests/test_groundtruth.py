"""Ground-truth analyses: the ridge probe is honest where in-sample fits are not, and per-group
metrics agree with a slow per-user reference."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mambarec.groundtruth import cold_warm_metrics, factor_recovery_r2, group_topk_metrics
from mambarec.metrics import top_items, topk_metrics


@pytest.fixture(scope="module")
def factors() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((200, 6))


def test_probe_of_pure_noise_wider_than_the_data_overfits_in_sample_only(factors):
    noise = np.random.default_rng(1).standard_normal((200, 800))
    result = factor_recovery_r2(noise, factors)
    assert result.in_sample_r2 > 0.99
    assert abs(result.cv_r2) < 0.05
    assert len(result.penalties) == 5


def test_probe_recovers_a_linear_map_of_the_factors_whatever_its_scale(factors):
    rng = np.random.default_rng(2)
    embeddings = factors @ rng.standard_normal((6, 64)) + 0.05 * rng.standard_normal((200, 64))
    result = factor_recovery_r2(embeddings, factors)
    assert result.cv_r2 > 0.95
    shifted = factor_recovery_r2(1000.0 * embeddings + 7.0, factors)
    assert shifted.cv_r2 == pytest.approx(result.cv_r2, abs=1e-6)  # penalty relative to the data's scale
    wide = factor_recovery_r2(factors @ rng.standard_normal((6, 500)), factors)  # the dual (n < w) path
    assert wide.cv_r2 > 0.99


def test_probe_of_half_the_factors_explains_about_half(factors):
    embeddings = factors[:, :3] @ np.random.default_rng(3).standard_normal((3, 32))
    assert factor_recovery_r2(embeddings, factors).cv_r2 == pytest.approx(0.5, abs=0.1)


def test_probe_rejects_mismatched_rows_and_too_many_folds(factors):
    with pytest.raises(ValueError, match="same number of rows"):
        factor_recovery_r2(factors[:10], factors)
    with pytest.raises(ValueError, match="folds"):
        factor_recovery_r2(factors[:4], factors[:4], folds=5)


def _slow_group_metrics(top: np.ndarray, heldout: np.ndarray, mask: np.ndarray, k: int) -> tuple[float, float]:
    """Per-user reference: Recall@k and NDCG@k over held-out items of the group, users with >= 1."""
    recalls, ndcgs = [], []
    for u in range(len(top)):
        relevant = set(np.flatnonzero(heldout[u] & mask))
        if not relevant:
            continue
        hits = [1.0 if i in relevant else 0.0 for i in top[u, :k]]
        recalls.append(sum(hits) / len(relevant))
        dcg = sum(h / np.log2(r + 2) for r, h in enumerate(hits))
        ndcgs.append(dcg / sum(1 / np.log2(r + 2) for r in range(min(len(relevant), k))))
    return float(np.mean(recalls)), float(np.mean(ndcgs))


def test_group_metrics_agree_with_a_slow_per_user_reference():
    rng = np.random.default_rng(4)
    n_users, n_items, k = 25, 40, 10
    train = rng.random((n_users, n_items)) < 0.2
    heldout = (rng.random((n_users, n_items)) < 0.15) & ~train
    scores = torch.from_numpy(rng.standard_normal((n_users, n_items)).astype(np.float32))
    top = top_items(scores, sp.csr_matrix(train), k).numpy()
    cold = rng.random(n_items) < 0.3
    out = group_topk_metrics(top, sp.csr_matrix(heldout), {"cold": cold, "warm": ~cold}, ks=(k,))
    for name, mask in (("cold", cold), ("warm", ~cold)):
        recall, ndcg = _slow_group_metrics(top, heldout, mask, k)
        assert out[name].metrics[f"Recall@{k}"] == pytest.approx(recall)
        assert out[name].metrics[f"NDCG@{k}"] == pytest.approx(ndcg)
        assert out[name].users == int(((heldout & mask).sum(1) > 0).sum())
    everything = group_topk_metrics(top, sp.csr_matrix(heldout), {"all": np.ones(n_items, bool)}, ks=(k,))
    overall = topk_metrics(scores, sp.csr_matrix(train), sp.csr_matrix(heldout), ks=(k,))
    assert everything["all"].metrics[f"Recall@{k}"] == pytest.approx(overall[f"Recall@{k}"])


def test_cold_warm_metrics_on_a_scenario_see_the_truth():
    from mambarec.data import load_dataset

    ds = load_dataset("synthetic/cold-items?n_users=200&n_items=150&visual_dim=64&text_dim=32")
    truth = ds.extras["user_factors"] @ ds.extras["item_factors"].T
    oracle = cold_warm_metrics(truth, ds)
    noise = cold_warm_metrics(np.random.default_rng(5).standard_normal(truth.shape), ds)
    assert oracle["cold"].users > 0 and oracle["warm"].users > 0
    assert oracle["cold"].metrics["Recall@20"] > 2 * noise["cold"].metrics["Recall@20"]


def test_the_cold_items_every_page_reads_are_the_ones_the_world_made():
    """About's card counted the measured cold items (13 on sparse-users, which makes none) while the grid and
    Compare's bars read the world's own (audit r57, F7): one function now, and data that make none have none."""
    from mambarec.data import load_dataset
    from mambarec.data.coldstart import measured_cold_items
    from mambarec.groundtruth import world_cold_items

    sparse = load_dataset("synthetic/sparse-users")
    assert not world_cold_items(sparse).any() and measured_cold_items(sparse.train, sparse.n_items).any()
    cold = load_dataset("synthetic/cold-items")
    assert world_cold_items(cold).sum() == cold.extras["cold_items"].sum() > 100
    assert world_cold_items(load_dataset("ml100k")) is None
