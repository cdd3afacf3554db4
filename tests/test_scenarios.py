"""Synthetic scenarios: dense is today's synthetic byte for byte, each knob moves what it names and
nothing else, specs have one canonical form and a slug, errors say what is allowed."""

from __future__ import annotations

import dataclasses
import hashlib
import re

import numpy as np
import pytest

from mambarec.cli import main
from mambarec.data import DatasetError, available_datasets, load_dataset
from mambarec.data.coldstart import COLD_MAX_TRAIN
from mambarec.data.scenarios import KNOBS, SCENARIOS, ScenarioConfig, ScenarioError, scenario_config
from mambarec.data.spec import canonical, dataset_slug, parse_spec, slug, spec_from_slug
from mambarec.data.synthetic import make_synthetic
from mambarec.groundtruth import modality_gap_stats, modality_informativeness

# Computed on the generator before scenarios existed (commit c0d0c5f): the data, item table and
# ground truth that stored rows and checkpoints of "synthetic" were made with.
DENSE_FINGERPRINT = "2d182948204fd187"
DENSE_ITEMS_HASH = "8e2f7dc72f65af3e"
# The ground truth beside today's synthetic data: its integer and name extras byte for byte, its float ones by their
# sum, absolute sum and sum of squares. Those are computed with BLAS products and libm (Dirichlet draws, powers),
# whose last bits differ between CPUs: their bytes gave another hash on an AVX2-only EPYC (2026-12-02) although
# every interaction and feature agreed, so they are compared to 1e-9, a million times their rounding.
DENSE_EXACT_EXTRAS_HASH = "3ffa93f54d6ad11c"
EXACT_EXTRAS = ("item_category", "category_names", "original_user_ids", "original_item_ids", "seed")
DENSE_FLOAT_EXTRAS = {  # key: (sum, sum of |x|, sum of x^2)
    "item_factors": (102.59791450980643, 6049.823603389366, 9200.172875314562),
    "user_factors": (622.9417812144015, 6487.784579880765, 6991.39376033941),
    "user_tastes": (600.0, 600.0, 223.13047522233344),
    "category_centroids": (8.832964018964873, 103.77027204672808, 138.76610208056812),
    "item_popularity_weight": (12.093771212964938, 12.093771212964938, 2.239517276844),
}
ARRAYS = ("train", "valid", "test", "visual", "text")
SMALL = "n_users=200&n_items=150&visual_dim=64&text_dim=32"  # a quick world for knob tests


def small(scenario: str = "dense", **knobs):
    """The scenario at the SMALL size; ``knobs`` override any knob, size ones included."""
    return load_dataset(f"synthetic/{scenario}?{SMALL}", **knobs)


def items_hash(ds) -> str:
    h = hashlib.sha256()
    h.update("\n".join(ds.items["title"]).encode())
    h.update("\n".join(ds.items["category"]).encode())
    for column in ("popularity", "year", "rating"):
        h.update(np.ascontiguousarray(ds.items[column].to_numpy()).tobytes())
    return h.hexdigest()[:16]


def extras_hash(ds) -> str:
    h = hashlib.sha256()
    for key in EXACT_EXTRAS:
        value = ds.extras[key]
        h.update(key.encode())
        h.update(str(value).encode() if isinstance(value, list) else np.asarray(value).tobytes())
    return h.hexdigest()[:16]


def float_extras(ds) -> dict[str, tuple[float, float, float]]:
    out = {}
    for key in DENSE_FLOAT_EXTRAS:
        a = np.asarray(ds.extras[key], dtype=np.float64)
        out[key] = (float(a.sum()), float(np.abs(a).sum()), float((a * a).sum()))
    return out


def all_pairs(ds) -> np.ndarray:
    pairs = np.concatenate([ds.train, ds.valid, ds.test])
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def assert_same_data(a, b) -> None:
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.fingerprint() == b.fingerprint()


# ---- dense == today's synthetic -------------------------------------------------------------
def test_synthetic_and_dense_are_todays_synthetic_byte_for_byte():
    plain, dense = load_dataset("synthetic"), load_dataset("synthetic/dense")
    assert plain.fingerprint() == dense.fingerprint() == make_synthetic().fingerprint() == DENSE_FINGERPRINT
    assert_same_data(plain, dense)
    assert plain.name == dense.name == "synthetic"
    assert items_hash(plain) == items_hash(dense) == DENSE_ITEMS_HASH
    assert extras_hash(plain) == DENSE_EXACT_EXTRAS_HASH
    for key, stats in float_extras(plain).items():
        assert stats == pytest.approx(DENSE_FLOAT_EXTRAS[key], rel=1e-9), key
    assert dense.extras["scenario"] == "dense" and dense.extras["knobs"] == dataclasses.asdict(ScenarioConfig())
    assert not dense.extras["cold_items"].any()


# ---- every scenario ----------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_scenario_builds_deterministically(scenario):
    a, b, other = small(scenario), small(scenario), small(scenario, seed=1)
    assert_same_data(a, b)
    for key in ("item_factors", "user_factors", "cold_items", "content_factors"):
        np.testing.assert_array_equal(a.extras[key], b.extras[key])
    assert other.fingerprint() != a.fingerprint()
    assert a.name == canonical(f"synthetic/{scenario}?{SMALL}") and a.extras["scenario"] == scenario


def test_playground_worlds_are_one_knob_apart_and_dream_ready():
    from mambarec.model.dream import map_shape

    def diff(a: str, b: str) -> set[str]:
        x, y = dataclasses.asdict(scenario_config(a)), dataclasses.asdict(scenario_config(b))
        return {k for k in x if x[k] != y[k]}

    assert diff("noisy-modality", "cold-items") == {"visual_noise"}
    assert diff("large-gap", "cold-items") == {"modality_gap"}
    assert map_shape(scenario_config("cold-items").visual_dim // 8, 8) == (4, 8, 8)  # r = 8
    ds = load_dataset("synthetic/cold-items")
    assert ds.visual.shape[1] == 2048 and ds.text.shape[1] == 384
    assert ds.n_items >= 500 and ds.extras["cold_items"].mean() == pytest.approx(0.3, abs=0.01)


def test_available_datasets_offer_synthetic_first_then_the_scenarios(tmp_path):
    names = available_datasets(tmp_path)
    assert names[0] == "synthetic"
    assert names == ["synthetic", *(f"synthetic/{s}" for s in SCENARIOS if s != "dense")]


# ---- each knob moves its statistic, and only what it should ------------------------------------
def test_cold_share_makes_items_cold_and_only_moves_split_labels():
    worlds = [small(cold_share=c) for c in (0.0, 0.3, 0.6)]
    measured = [w.extras["cold_items_measured"].mean() for w in worlds]
    assert measured[0] < measured[1] < measured[2]
    for w, share in zip(worlds[1:], (0.3, 0.6), strict=True):
        cold = w.extras["cold_items"]
        assert cold.sum() == round(share * w.n_items)
        train_counts = np.bincount(w.train[:, 1], minlength=w.n_items)
        assert (train_counts[cold] <= COLD_MAX_TRAIN).mean() > 0.95  # a stranded user may give one back
        assert (w.extras["cold_items_measured"] | ~cold).mean() > 0.95
        np.testing.assert_array_equal(all_pairs(w), all_pairs(worlds[0]))  # same interactions, new labels
        np.testing.assert_array_equal(w.visual, worlds[0].visual)
        assert np.bincount(w.train[:, 0], minlength=w.n_users).min() >= 1


def test_interactions_per_user_raises_activity():
    per_user = [len(all_pairs(w)) / w.n_users for w in (small(interactions_per_user=v) for v in (6, 12, 24))]
    assert per_user[0] < per_user[1] < per_user[2]


@pytest.mark.parametrize("modality,other", [("visual", "text"), ("text", "visual")])
def test_modality_noise_lowers_that_modalitys_probe_only(modality, other):
    worlds = [small(**{f"{modality}_noise": v}) for v in (0.0, 0.5, 0.95)]
    r2 = [modality_informativeness(w)[modality].cv_r2 for w in worlds]
    assert r2[0] > r2[1] > r2[2] and r2[0] > 0.8 and r2[2] < 0.3
    for w in worlds[1:]:
        np.testing.assert_array_equal(getattr(w, other), getattr(worlds[0], other))
        np.testing.assert_array_equal(all_pairs(w), all_pairs(worlds[0]))


def test_content_share_sets_how_much_content_says_about_taste():
    worlds = [small(content_share=c) for c in (1.0, 0.5, 0.0)]
    for modality in ("visual", "text"):
        r2 = [modality_informativeness(w)[modality].cv_r2 for w in worlds]
        assert r2[0] > r2[1] > r2[2] and r2[2] < 0.2
    for w in worlds[1:]:
        np.testing.assert_array_equal(all_pairs(w), all_pairs(worlds[0]))


def test_modality_gap_widens_the_gap_and_keeps_the_information():
    worlds = [small(modality_gap=g) for g in (0.0, 1.0, 4.0)]
    stats = [modality_gap_stats(w.visual, w.text) for w in worlds]
    assert stats[0]["mean_shift"] < stats[1]["mean_shift"] < stats[2]["mean_shift"]
    assert stats[0]["scale_ratio"] < stats[1]["scale_ratio"] < stats[2]["scale_ratio"]
    r2 = [modality_informativeness(w)["visual"].cv_r2 for w in worlds]
    assert max(r2) - min(r2) < 0.05
    np.testing.assert_array_equal(all_pairs(worlds[2]), all_pairs(worlds[0]))


def test_sizes_and_widths():
    a, b = small(), small(n_users=300, n_items=200, visual_dim=96, text_dim=48)
    assert b.n_users > a.n_users and b.n_items > a.n_items
    assert (a.visual.shape[1], a.text.shape[1], b.visual.shape[1], b.text.shape[1]) == (64, 32, 96, 48)


# ---- specs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec,expected,expected_slug", [
    ("synthetic", "synthetic", "synthetic"),
    ("synthetic/dense", "synthetic", "synthetic"),
    ("synthetic/dense?seed=0&visual_dim=128", "synthetic", "synthetic"),
    ("synthetic?seed=3", "synthetic?seed=3", "synthetic_seed-3"),
    ("synthetic/cold-items?seed=3&cold_share=0.60", "synthetic/cold-items?cold_share=0.6&seed=3",
     "synthetic-cold-items_cold_share-0.6_seed-3"),
    ("synthetic/cold-items?cold_share=0.3", "synthetic/cold-items", "synthetic-cold-items"),
    ("synthetic/large-gap?text_noise=1e-05", "synthetic/large-gap?text_noise=1e-05",
     "synthetic-large-gap_text_noise-1e-05"),
])
def test_canonical_form_and_slug_round_trip(spec, expected, expected_slug):
    assert canonical(spec) == expected and canonical(expected) == expected
    assert slug(spec) == expected_slug and re.fullmatch(r"[A-Za-z0-9._-]+", expected_slug)
    assert spec_from_slug(expected_slug) == parse_spec(spec)
    assert dataset_slug(spec) == expected_slug


def test_load_dataset_accepts_specs_and_keyword_overrides():
    ds = load_dataset(f"synthetic/cold-items?{SMALL}&cold_share=0.5")
    assert ds.name == "synthetic/cold-items?cold_share=0.5&n_items=150&n_users=200&text_dim=32&visual_dim=64"
    same = load_dataset("synthetic/cold-items", n_users=200, n_items=150, visual_dim=64, text_dim=32, cold_share=0.5)
    assert same.name == ds.name
    assert_same_data(ds, same)
    assert dataset_slug("/data/ml100k") == "data_ml100k"


@pytest.mark.parametrize("spec,fragments", [
    ("synthetic/nope", ["unknown scenario 'nope'", "cold-items", "sparse-users"]),
    ("synthetic?colds=1", ["unknown knob 'colds'", "cold_share", "visual_noise"]),
    ("synthetic?cold_share=0.95", ["cold_share", "[0.0, 0.9]", "0.95"]),
    ("synthetic?visual_noise=-0.1", ["visual_noise", "[0.0, 1.0]"]),
    ("synthetic?seed=1.5", ["seed", "an integer", "[0, 4294967295]"]),
    ("synthetic?n_users=abc", ["n_users", "[5, 5000]", "'abc'"]),
    ("synthetic?seed", ["'seed' is not knob=value"]),
    ("synthetic?seed=1&seed=2", ["seed is given twice"]),
])
def test_bad_specs_say_what_is_allowed(spec, fragments):
    with pytest.raises(ScenarioError) as info:
        load_dataset(spec)
    for fragment in fragments:
        assert fragment in str(info.value)
    assert isinstance(info.value, DatasetError)  # the CLI prints DatasetErrors as "error: ..."


def test_config_rejects_bad_values_and_every_knob_is_documented():
    with pytest.raises(ScenarioError, match=r"content_share must be a number in \[0.0, 1.0\]"):
        ScenarioConfig(content_share=1.5)
    for f in KNOBS.values():
        assert f.metadata["help"] and len(f.metadata["range"]) == 2
        lo, hi = f.metadata["range"]
        assert lo <= f.default <= hi


def test_cli_lists_one_line_per_scenario(capsys):
    assert main(["data", "scenarios"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()[1:]  # after the header
    assert [line.split()[0] for line in lines] == [canonical(f"synthetic/{s}") for s in SCENARIOS]
