"""Alignment analysis: metrics on known cases, deterministic projections, encoder stages of a tiny model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mambarec.analysis import alignment_metrics, common_width, modality_embeddings, project_joint
from mambarec.config import RunConfig, TrainConfig, mambarec_preset
from mambarec.model.losses import mmd_loss
from mambarec.model.zoo import build_model
from tests.tiny import tiny_dataset


def test_identical_modalities_are_perfectly_aligned():
    x = np.random.default_rng(0).normal(size=(200, 16))
    m = alignment_metrics(x, x, sigma=1.0)
    assert abs(m["mmd"]) < 1e-6
    assert m["recall@1"] == 1.0 and m["recall@10"] == 1.0
    assert m["mean_cosine"] == pytest.approx(1.0)
    assert m["alignment"] == pytest.approx(0.0, abs=1e-12)


def test_independent_modalities_retrieve_at_chance():
    n = 500
    rng = np.random.default_rng(1)
    m = alignment_metrics(rng.normal(size=(n, 16)), rng.normal(size=(n, 16)))
    for k in (1, 10):
        p = k / n
        assert m[f"chance@{k}"] == p
        # mean of n roughly independent Bernoulli(p) hits: 5 standard deviations, plus one hit
        assert abs(m[f"recall@{k}"] - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1 / n
    assert abs(m["mean_cosine"]) < 5 / math.sqrt(16 * n)


def test_metrics_use_the_training_loss_and_wang_isola_definitions():
    rng = np.random.default_rng(2)
    v, t = rng.normal(size=(50, 8)) + 2.0, rng.normal(size=(50, 8))
    m = alignment_metrics(v, t, sigma=1.5)
    expected = mmd_loss(torch.tensor(v), torch.tensor(t), 1.5).item()
    assert m["mmd"] == pytest.approx(expected, rel=1e-9)
    vn = v / np.linalg.norm(v, axis=1, keepdims=True)
    tn = t / np.linalg.norm(t, axis=1, keepdims=True)
    assert m["alignment"] == pytest.approx(np.mean(np.sum((vn - tn) ** 2, axis=1)))
    pooled = np.concatenate([vn, tn])
    sq = ((pooled[:, None] - pooled[None]) ** 2).sum(-1)
    iu = np.triu_indices(len(pooled), k=1)
    assert m["uniformity"] == pytest.approx(np.log(np.mean(np.exp(-2 * sq[iu]))))


def test_retrieval_ties_go_to_the_lower_id():
    v = np.ones((4, 3))  # every text is equally similar to every query: rank = own id
    m = alignment_metrics(v, v)
    assert m["recall@1"] == 0.25


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="shape"):
        alignment_metrics(np.zeros((5, 3)), np.zeros((5, 4)))


def test_pca_is_deterministic_and_joint():
    rng = np.random.default_rng(3)
    v, t = rng.normal(size=(60, 10)), rng.normal(size=(60, 10)) + 3.0
    a = project_joint(v, t, method="pca")
    b = project_joint(v, t, method="pca")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].shape == (60, 2) and a[1].shape == (60, 2)
    # one fit for both: the offset between the modalities survives along the first axis
    assert abs(a[0][:, 0].mean() - a[1][:, 0].mean()) > 1.0
    # the sign convention does not depend on the row order's effect on the SVD routine
    perm = rng.permutation(60)
    c = project_joint(v[perm], t[perm], method="pca")
    np.testing.assert_allclose(c[0], a[0][perm], atol=1e-9)


def test_different_widths_are_brought_to_a_common_width():
    rng = np.random.default_rng(4)
    v, t = rng.normal(size=(40, 12)), rng.normal(size=(40, 5))
    cv, ct = common_width(v, t)
    assert cv.shape == (40, 5) and ct.shape == (40, 5)
    xy_v, xy_t = project_joint(v, t, method="pca")
    assert xy_v.shape == (40, 2) and xy_t.shape == (40, 2)


@pytest.mark.slow  # numba compiles UMAP's kernels on first use (tens of seconds)
def test_umap_runs_and_is_seeded():
    pytest.importorskip("umap")
    rng = np.random.default_rng(5)
    v, t = rng.normal(size=(100, 8)), rng.normal(size=(100, 8)) + 1.0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = project_joint(v, t, method="umap", seed=7, n_epochs=50)
        assert torch.get_num_threads() == 1  # umap-learn resets the OpenMP thread count; we restore it
    finally:
        torch.set_num_threads(threads)
    b = project_joint(v, t, method="umap", seed=7, n_epochs=50)
    assert a[0].shape == (100, 2) and a[1].shape == (100, 2)
    assert np.isfinite(a[0]).all()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def _tiny_model(**overrides):
    ds = tiny_dataset()
    run = RunConfig(model=mambarec_preset("paper", reduction_factor=2, **overrides),
                    train=TrainConfig(epochs=1, batch_size=32, seed=0))
    return ds, build_model(run, ds)


def test_stages_of_the_paper_model_have_the_right_shapes():
    ds, model = _tiny_model()
    model.train()
    d, reduced = model.cfg.embedding_dim, ds.visual.shape[1] // 2
    for stage, width in (("input", reduced), ("dream", reduced), ("modal", d)):
        emb = modality_embeddings(model, stage)
        assert set(emb) == {"visual", "text"}
        for m in ("visual", "text"):
            assert emb[m].shape == (ds.n_items, width), (stage, m)
            assert emb[m].dtype == np.float32 and np.isfinite(emb[m]).all()
    assert model.training  # mode restored
    with torch.no_grad():
        model.eval()
        np.testing.assert_allclose(modality_embeddings(model, "modal")["text"],
                                   model.modal_features()["text"].numpy(), rtol=1e-6)


def test_stages_without_dream_and_without_modalities_are_refused():
    ds, model = _tiny_model(use_dream=False)
    assert modality_embeddings(model, "input")["visual"].shape == (ds.n_items, model.cfg.embedding_dim)
    with pytest.raises(ValueError, match="DREAM is off"):
        modality_embeddings(model, "dream")
    with pytest.raises(ValueError, match="unknown stage"):
        modality_embeddings(model, "raw")
    with pytest.raises(ValueError, match="no visual/text modal encoders"):
        modality_embeddings(torch.nn.Linear(2, 2), "modal")


def test_one_point_names_the_modalities_whose_items_share_one_vector():
    """A fresh `paper` model maps every synthetic item to one modal vector: DREAM's output map has one channel there,
    and in eval mode (BatchNorm's initial running statistics) its output conv starts below 0 for every item, so the
    ReLU gives all of them 0. `official` does not; a single item is never "one point" (audit r76)."""
    from mambarec.analysis import one_point
    from mambarec.data import load_dataset
    from mambarec.recommend import untrained_model

    ds = load_dataset("synthetic")
    assert one_point(modality_embeddings(untrained_model(ds, "paper"), "modal")) == ["visual", "text"]
    assert one_point(modality_embeddings(untrained_model(ds, "official"), "modal")) == []
    assert one_point({"text": np.ones((1, 4)), "visual": np.eye(3)}) == []
