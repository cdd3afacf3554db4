"""Baselines: each learns a planted signal that popularity ranking cannot see, survives a
save/load round trip, and is deterministic under a seed; plus FREEDOM's edge pruning."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mambarec.checkpoint import load_checkpoint, restore_trainer
from mambarec.config import MGCNConfig, RunConfig, TrainConfig, default_model_config
from mambarec.data.dataset import Dataset
from mambarec.graphs import build_graphs
from mambarec.model.baselines.freedom import Freedom
from mambarec.model.zoo import MODEL_CLASSES, build_model
from mambarec.store import CHECKPOINT_NAME, save_run
from mambarec.train import Trainer

TRAINED = ("bpr", "lightgcn", "vbpr", "freedom", "mgcn")
N_USERS, N_ITEMS, PER_USER = 60, 50, 12


def planted_dataset(seed: int = 0) -> Dataset:
    """Two user groups, each interacting only with one half of the items; features reveal the halves.

    Both halves are equally popular, so popularity ranking mixes them while any personalized model
    can learn which half a user belongs to.
    """
    rng = np.random.default_rng(seed)
    half = N_ITEMS // 2
    item_group = (np.arange(N_ITEMS) >= half).astype(np.int64)
    splits: dict[str, list] = {"train": [], "valid": [], "test": []}
    for u in range(N_USERS):
        items = rng.choice(half, size=PER_USER, replace=False) + half * (u % 2)
        for j, i in enumerate(items):
            split = "valid" if j == PER_USER - 2 else "test" if j == PER_USER - 1 else "train"
            splits[split].append((u, int(i)))
    signal = np.eye(2)[item_group]
    visual = np.hstack([3 * signal, rng.normal(size=(N_ITEMS, 30))]).astype(np.float32)
    text = np.hstack([3 * signal, rng.normal(size=(N_ITEMS, 14))]).astype(np.float32)
    pairs = {k: np.array(v, dtype=np.int64) for k, v in splits.items()}
    return Dataset(name="planted", n_users=N_USERS, n_items=N_ITEMS, visual=visual, text=text, source="planted",
                   **pairs)


def run_config(name: str, seed: int = 7) -> RunConfig:
    train = TrainConfig(epochs=12, batch_size=32, learning_rate=0.01, patience=100, seed=seed, device="cpu")
    model = default_model_config(name)
    if hasattr(model, "embedding_dim"):
        model = dataclasses.replace(model, embedding_dim=16)
    return RunConfig(dataset="planted", model_name=name, model=model, train=train)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tensors this small gain nothing from intra-op threads, and on a busy machine they cost a lot."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    ds = planted_dataset()
    return ds, build_graphs(ds, (10,), use_cache=False)


@pytest.fixture(scope="module")
def fitted(data):
    """Each model trains on its own copy of the data, so one that alters its dataset spoils no other test."""
    _, graphs = data
    out = {}
    for name in ("pop", *TRAINED):
        trainer = Trainer.for_run(run_config(name), planted_dataset(), graphs)
        out[name] = (trainer, trainer.fit())
    return out


def test_every_baseline_is_registered():
    from mambarec.config import MODEL_CONFIGS

    assert set(MODEL_CLASSES) == {"mambarec", "pop", *TRAINED}
    assert set(MODEL_CONFIGS) == set(MODEL_CLASSES), (
        "a model needs both a config (mambarec/config/run.py MODEL_CONFIGS) and a class (mambarec/model/zoo.py "
        "MODEL_CLASSES)")


def test_popularity_ranks_by_training_counts(data, fitted):
    ds, _ = data
    trainer, result = fitted["pop"]
    assert not trainer.model.trainable and trainer.optimizer is None
    assert result.epochs_run == 0 and result.n_params == 0
    users, items = trainer.model.embeddings()
    scores = users @ items.t()
    assert torch.equal(scores[0], torch.as_tensor(ds.item_popularity(), dtype=torch.float32))
    assert torch.equal(scores[0], scores[-1])


@pytest.mark.parametrize("name", TRAINED)
def test_trained_baseline_beats_popularity(fitted, name):
    trainer, result = fitted[name]
    pop = fitted["pop"][1].test["Recall@10"]
    assert result.epochs_run == 12 and result.n_params == trainer.model.n_parameters() > 0
    assert all(np.isfinite(row["loss/total"]) for row in result.history)
    assert result.test["Recall@10"] > pop + 0.1, (name, result.test["Recall@10"], pop)


@pytest.mark.parametrize("name", TRAINED)  # trainable feature tables must not write through to the data
def test_training_leaves_the_dataset_untouched(fitted, name):
    assert fitted[name][0].dataset.fingerprint() == planted_dataset().fingerprint()


@pytest.mark.parametrize("name", ("pop", *TRAINED))
def test_save_load_round_trip(data, fitted, tmp_path, name):
    _, graphs = data
    trainer, result = fitted[name]
    ds = trainer.dataset
    folder = save_run(tmp_path / name, trainer, result)
    ckpt = load_checkpoint(folder / CHECKPOINT_NAME, expect_fingerprint=ds.fingerprint())
    assert ckpt["run"] == trainer.run
    restored = restore_trainer(ckpt, ds, graphs)
    assert type(restored.model) is type(trainer.model)
    assert restored.evaluate() == trainer.evaluate()


def without_timings(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "epoch_s"} for row in history]


def test_same_seed_same_run(data, fitted):
    ds, graphs = data
    again = Trainer.for_run(run_config("freedom"), ds, graphs).fit()
    assert without_timings(again.history) == without_timings(fitted["freedom"][1].history)
    other = Trainer.for_run(run_config("freedom", seed=8), ds, graphs).fit()
    assert other.history[0]["loss/total"] != again.history[0]["loss/total"]


def test_mgcn_is_mambarec_with_the_backbone_preset_and_stores_its_own_config(fitted):
    trainer = fitted["mgcn"][0]
    assert trainer.run.model == MGCNConfig(embedding_dim=16)  # what the run stores: MGCN's own fields
    assert trainer.model.cfg == MGCNConfig(embedding_dim=16).as_mambarec()  # what computes it


# ---- FREEDOM's graphs ---------------------------------------------------------------------
def freedom_model(data, seed: int = 0) -> Freedom:
    ds, graphs = data
    return build_model(run_config("freedom", seed=seed), ds, graphs=graphs)


def test_freedom_item_graph_mixes_unweighted_knn(data):
    model = freedom_model(data)
    k, alpha = model.cfg.knn_k, model.cfg.mm_image_weight
    g = model.item_graph.scipy
    assert np.allclose(g.sum(axis=1), 1.0)  # each modality row: k edges of 1/k
    allowed = np.array([alpha / k, (1 - alpha) / k, 1 / k])  # visual only, text only, both neighbours
    assert np.abs(np.unique(g.data)[:, None] - allowed).min(axis=1).max() < 1e-6


def test_freedom_prunes_a_fresh_degree_normalized_graph_each_epoch(data):
    ds, _ = data
    model = freedom_model(data)
    n_edges = len(ds.train)
    g = torch.Generator().manual_seed(0)
    first = model.prune_edges(g).scipy
    assert first.nnz == 2 * int(n_edges * (1 - model.cfg.edge_dropout))  # both directions of each kept edge
    assert abs(first - first.T).max() < 1e-7
    users, items = first[:N_USERS, N_USERS:].nonzero()
    deg_u, deg_i = np.bincount(users, minlength=N_USERS), np.bincount(items, minlength=N_ITEMS)
    assert np.allclose(first[:N_USERS, N_USERS:][users, items].A1, (deg_u[users] * deg_i[items]) ** -0.5)
    assert (model.prune_edges(g).scipy != first).nnz > 0  # re-drawn
    assert (model.prune_edges(torch.Generator().manual_seed(0)).scipy != first).nnz == 0  # same state, same graph


def test_the_trainer_calls_the_epoch_hook_once_per_epoch_and_freedom_trains_on_that_epochs_graph(data):
    ds, graphs = data
    run = dataclasses.replace(run_config("freedom"), train=dataclasses.replace(run_config("freedom").train, epochs=3))
    trainer = Trainer.for_run(run, ds, graphs)
    seen = []
    original = trainer.model.on_epoch_start

    def hook(epoch, generator):
        original(epoch, generator)
        seen.append((epoch, trainer.model.pruned_adj))

    trainer.model.on_epoch_start = hook
    trainer.fit()
    assert [e for e, _ in seen] == [0, 1, 2]
    assert len({id(adj) for _, adj in seen}) == 3  # a new graph each epoch
    fresh = freedom_model(data)
    with pytest.raises(RuntimeError, match="on_epoch_start"):  # no silent full-graph training
        fresh.loss(*(torch.as_tensor(ds.train[:4, c]) for c in (0, 1, 1)))
