"""mambarec.recommend: per-user top-K, history, list differences, loading runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mambarec.checkpoint import CheckpointError
from mambarec.config import RunConfig, TrainConfig, mambarec_preset
from mambarec.metrics import embedding_topk_metrics
from mambarec.recommend import (
    compare_topk,
    initial_model,
    item_scores,
    load_run_model,
    recommend,
    untrained_model,
    user_history,
)
from mambarec.store import save_run
from mambarec.train import Trainer
from tests.tiny import tiny_dataset


@pytest.fixture(scope="module")
def trained():
    run = RunConfig(dataset="tiny", model=mambarec_preset("official"), train=TrainConfig(epochs=1, batch_size=32))
    trainer = Trainer.for_run(run, tiny_dataset())
    return trainer, trainer.fit()


def test_recommend_excludes_training_items_and_sorts(trained):
    trainer, _ = trained
    ds = trainer.dataset
    with torch.no_grad():
        u, i = trainer.model.eval().embeddings()
    for user in range(ds.n_users):
        rec = recommend(trainer.model, trainer.dataset, user, k=5)
        assert len(rec.items) == 5 and len(set(rec.items.tolist())) == 5
        train_items = set(user_history(ds, user)["train"].tolist())
        assert not train_items & set(rec.items.tolist())
        assert np.all(np.diff(rec.scores) <= 0)
        # the same scores as the model's embeddings give
        np.testing.assert_allclose(rec.scores, (u[user] @ i.t())[rec.items].numpy(), rtol=1e-5)


def test_recommend_is_the_best_unmasked_items(trained):
    trainer, _ = trained
    ds = trainer.dataset
    scores = item_scores(trainer.model, [3])[0].numpy().copy()
    scores[user_history(ds, 3)["train"]] = -np.inf
    best = np.argsort(-scores, kind="stable")[:7]
    np.testing.assert_array_equal(recommend(trainer.model, trainer.dataset, 3, k=7).items, best)


def test_recommend_hits_match_the_evaluator(trained):
    trainer, _ = trained
    ds = trainer.dataset
    trainer.model.eval()
    with torch.no_grad():
        u, i = trainer.model.embeddings()
    per = embedding_topk_metrics(u, i, ds.matrix("train"), ds.matrix("test"), ks=(10,), per_user=True)
    for user, recall in zip(per["users"], per["per_user"]["Recall@10"], strict=True):
        held = set(user_history(ds, int(user))["test"].tolist())
        hits = len(held & set(recommend(trainer.model, trainer.dataset, int(user), 10).items.tolist()))
        assert recall == pytest.approx(hits / len(held))


def test_recommend_never_pads_with_masked_items(trained):
    trainer, _ = trained
    ds = trainer.dataset
    n_train = len(user_history(ds, 0)["train"])
    rec = recommend(trainer.model, trainer.dataset, 0, k=ds.n_items)
    assert len(rec.items) == ds.n_items - n_train
    assert np.isfinite(rec.scores).all()


def test_recommend_bad_user(trained):
    with pytest.raises(ValueError, match="outside"):
        recommend(trained[0].model, trained[0].dataset, trained[0].dataset.n_users)


def test_user_history_splits(trained):
    ds = trained[0].dataset
    hist = user_history(ds, 4)
    total = sum(len(v) for v in hist.values())
    assert total == sum(int((p[:, 0] == 4).sum()) for p in (ds.train, ds.valid, ds.test))
    assert len(hist["valid"]) == 1 and len(hist["test"]) == 1


def test_compare_topk():
    diff = compare_topk([5, 1, 9, 3], [1, 7, 5, 8])
    assert diff.entering == (7, 8)
    assert diff.leaving == (9, 3)
    assert diff.moves == ((1, 2, 1), (5, 1, 3))
    assert diff.overlap == 0.5
    same = compare_topk([1, 2], [1, 2])
    assert same.entering == () and same.leaving == () and same.overlap == 1.0


def test_load_run_model_round_trip(trained, tmp_path):
    trainer, result = trained
    folder = save_run(tmp_path / "run", trainer, result)
    restored = load_run_model(folder, trainer.dataset)
    assert not restored.training  # handed out for inspection: BatchNorm uses its running statistics
    for user in (0, 5):
        np.testing.assert_array_equal(recommend(restored, trainer.dataset, user, 10).items,
                                      recommend(trainer.model, trainer.dataset, user, 10).items)
    with pytest.raises(CheckpointError):
        load_run_model(folder, tiny_dataset(seed=1))


def test_untrained_and_initial_models(trained):
    trainer, _ = trained
    fresh = untrained_model(trainer.dataset, "paper", seed=3, reduction_factor=2)
    assert fresh.cfg.variant == "paper" and not fresh.training
    assert len(recommend(fresh, trainer.dataset, 0, 3).items) == 3
    init = initial_model(trainer.run, trainer.dataset)
    # the same seed draws the same initial weights, and training moved them
    again = Trainer.for_run(trainer.run, trainer.dataset)
    w0, w1 = init.item_embedding.weight, again.model.item_embedding.weight
    assert torch.equal(w0, w1)
    assert not torch.equal(w0, trainer.model.item_embedding.weight)
