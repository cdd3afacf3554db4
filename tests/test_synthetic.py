"""The synthetic generator: determinism, MMRec invariants, a modality gap, informative features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mambarec.data import DatasetError, load_dataset
from mambarec.data.synthetic import CATEGORY_NAMES, make_synthetic

ARRAYS = ("train", "valid", "test", "visual", "text")


@pytest.fixture(scope="module")
def ds():
    return make_synthetic(seed=0)


def _all_pairs(ds) -> np.ndarray:
    return np.concatenate([ds.train, ds.valid, ds.test])


def _pairwise_distances(feat: np.ndarray) -> np.ndarray:
    sq = (feat.astype(np.float64) ** 2).sum(1)
    return np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * feat @ feat.T, 0.0))


def _recall_at_20(scores: np.ndarray, ds) -> float:
    train = ds.matrix("train").toarray() > 0
    test = ds.matrix("test").toarray() > 0
    top = np.argsort(-np.where(train, -np.inf, scores), axis=1, kind="stable")[:, :20]
    return float((np.take_along_axis(test, top, 1).sum(1) / test.sum(1)).mean())


def test_same_seed_gives_identical_data(ds):
    again = make_synthetic(seed=0)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(ds, name), getattr(again, name))
    assert ds.fingerprint() == again.fingerprint()
    pd.testing.assert_frame_equal(ds.items, again.items)
    for key, value in ds.extras.items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(again.extras[key]))


def test_different_seed_gives_different_data(ds):
    other = make_synthetic(seed=1)
    assert other.fingerprint() != ds.fingerprint()
    assert not np.array_equal(other.visual[:10], ds.visual[:10])
    assert other.items["title"].tolist() != ds.items["title"].tolist()


def test_registry_passes_arguments_through():
    small = load_dataset("synthetic", seed=3, n_users=80, n_items=60)
    assert small.fingerprint() == make_synthetic(seed=3, n_users=80, n_items=60).fingerprint()
    assert small.n_users <= 80 and small.n_items <= 60


def test_shapes_and_dtypes(ds):
    assert ds.name == "synthetic" and ds.source == "synthetic"
    assert 500 <= ds.n_users <= 600 and 300 <= ds.n_items <= 400
    assert ds.visual.shape == (ds.n_items, 128) and ds.visual.dtype == np.float32
    assert ds.text.shape == (ds.n_items, 64) and ds.text.dtype == np.float32
    for split in (ds.train, ds.valid, ds.test):
        assert split.dtype == np.int64 and split.shape[1] == 2
    ex = ds.extras
    assert ex["item_factors"].shape[0] == ds.n_items
    assert ex["user_factors"].shape[0] == ds.n_users
    assert ex["user_tastes"].shape == (ds.n_users, len(ex["category_names"]))
    np.testing.assert_allclose(ex["user_tastes"].sum(1), 1.0, rtol=1e-9)
    assert ex["item_category"].shape == (ds.n_items,)


def test_ids_contiguous_and_five_core_on_union_of_splits(ds):
    pairs = _all_pairs(ds)
    user_counts = np.bincount(pairs[:, 0], minlength=ds.n_users)
    item_counts = np.bincount(pairs[:, 1], minlength=ds.n_items)
    assert len(user_counts) == ds.n_users and len(item_counts) == ds.n_items
    assert user_counts.min() >= 5 and item_counts.min() >= 5
    assert len(np.unique(pairs, axis=0)) == len(pairs), "no duplicate (user, item) pairs"


def test_every_user_has_train_and_test_interactions(ds):
    assert np.bincount(ds.test[:, 0], minlength=ds.n_users).min() >= 1
    assert np.bincount(ds.train[:, 0], minlength=ds.n_users).min() >= 1


def test_popularity_is_skewed_and_matches_metadata(ds):
    pop = ds.item_popularity()
    np.testing.assert_array_equal(ds.items["popularity"].to_numpy(), pop)
    top_tenth = np.sort(pop)[::-1][: ds.n_items // 10].sum() / pop.sum()
    assert top_tenth > 0.2  # uniform popularity would give 0.1


def test_modalities_have_different_distributions(ds):
    # the gap DREAM's MMD term closes: disjoint value ranges, very different means and norms
    assert ds.visual.min() > ds.text.max()
    assert ds.visual.mean() - ds.text.mean() > 5.0
    visual_norm = np.linalg.norm(ds.visual, axis=1).mean()
    text_norm = np.linalg.norm(ds.text, axis=1).mean()
    assert visual_norm > 10 * text_norm


@pytest.mark.parametrize("modality", ["visual", "text"])
def test_each_modality_separates_categories(ds, modality):
    dist = _pairwise_distances(getattr(ds, modality))
    cat = ds.extras["item_category"]
    same = (cat[:, None] == cat[None, :]) & ~np.eye(ds.n_items, dtype=bool)
    assert dist[same].mean() < 0.85 * dist[cat[:, None] != cat[None, :]].mean()


def test_modalities_share_information(ds):
    upper = np.triu_indices(ds.n_items, 1)
    visual = _pairwise_distances(ds.visual)[upper]
    text = _pairwise_distances(ds.text)[upper]
    assert np.corrcoef(visual, text)[0, 1] > 0.5


def test_category_labels_titles_and_attributes(ds):
    items = ds.items
    assert list(items.columns[:4]) == ["itemID", "title", "category", "popularity"]
    np.testing.assert_array_equal(items["itemID"].to_numpy(), np.arange(ds.n_items))
    assert set(items["category"]) <= set(CATEGORY_NAMES) and items["category"].nunique() == 8
    names = np.asarray(ds.extras["category_names"])
    assert (names[ds.extras["item_category"]] == items["category"].to_numpy()).all()
    assert items["title"].is_unique and all(len(t.split()) >= 2 for t in items["title"])
    assert ds.titles() == items["title"].tolist() and ds.categories() == items["category"].tolist()
    assert items["year"].between(1970, 2024).all() and items["rating"].between(1.0, 5.0).all()


def test_interactions_are_learnable_beyond_popularity(ds):
    # item-kNN on the training matrix: a model-free check that the data rewards personalisation
    train = ds.matrix("train").toarray()
    normed = train / np.sqrt(np.maximum(train.sum(0), 1.0))
    sim = normed.T @ normed
    np.fill_diagonal(sim, 0.0)
    popularity = np.tile(ds.item_popularity().astype(np.float64), (ds.n_users, 1))
    assert _recall_at_20(train @ sim, ds) > 1.5 * _recall_at_20(popularity, ds)


@pytest.mark.parametrize("kwargs", [{"n_categories": 9}, {"n_categories": 0}, {"n_users": 2},
                                    {"mean_per_user": 0.0}])
def test_bad_arguments_raise_dataset_error(kwargs):
    with pytest.raises(DatasetError, match="synthetic"):
        make_synthetic(**kwargs)


def test_fewer_categories():
    small = make_synthetic(seed=2, n_users=120, n_items=80, n_categories=3)
    assert small.items["category"].nunique() <= 3
    assert set(small.items["category"]) <= set(CATEGORY_NAMES[:3])
