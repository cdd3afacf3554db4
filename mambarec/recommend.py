"""Per-user recommendations from a trained model, and how two models' top-K lists differ.

Scores are the dot products of the model's final user and item embeddings (docs/model.md section 5.4),
ranked over every item with the user's training items masked and ties broken by the lower item
id, exactly as the evaluator ranks them (``mambarec.metrics.top_items``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mambarec.artifacts import PrecomputedError, load_precomputed
from mambarec.catalog import list_runs, model_name_of, precomputed_records
from mambarec.config import RunConfig, TrainConfig, mambarec_preset
from mambarec.metrics import top_items
from mambarec.model.base import eval_mode
from mambarec.store import CHECKPOINT_NAME, RunRecord


@dataclass(frozen=True)
class Recommendation:
    user: int
    items: np.ndarray  # (k,) item ids, best first
    scores: np.ndarray  # (k,) their dot-product scores


@dataclass(frozen=True)
class TopKDiff:
    """How list B differs from list A (both best first)."""

    entering: tuple[int, ...]  # in B, not in A (B's order)
    leaving: tuple[int, ...]  # in A, not in B (A's order)
    moves: tuple[tuple[int, int, int], ...]  # (item, rank in A, rank in B) for items in both; ranks from 1
    overlap: float  # |A & B| / K


@torch.no_grad()
def item_scores(model, users) -> torch.Tensor:
    """(len(users), n_items) dot-product scores, computed in eval mode (mode restored after)."""
    with eval_mode(model):
        user_emb, item_emb = model.embeddings()
    idx = torch.as_tensor(np.atleast_1d(users), dtype=torch.long, device=user_emb.device)
    return (user_emb[idx] @ item_emb.t()).float().cpu()


def recommend(model, dataset, user: int, k: int = 10) -> Recommendation:
    """The top-``k`` items for ``user`` with their scores; the user's training items excluded."""
    if not 0 <= int(user) < dataset.n_users:
        raise ValueError(f"user {user} is outside 0..{dataset.n_users - 1}")
    exclude = dataset.matrix("train")[int(user)]
    k = max(0, min(int(k), dataset.n_items - exclude.nnz))  # never pad the list with masked items
    scores = item_scores(model, [int(user)])
    if k == 0:
        return Recommendation(user=int(user), items=np.zeros(0, np.int64), scores=np.zeros(0, np.float32))
    top = top_items(scores, exclude, k)[0]
    return Recommendation(user=int(user), items=top.numpy().astype(np.int64), scores=scores[0, top].numpy())


USERS_PER_BLOCK = 2048  # users ranked at once by ``topk_overlaps`` (peak memory ~ 2 x block x items x 4 bytes)


def topk_overlaps(model_a, model_b, dataset, k: int = 10) -> np.ndarray:
    """(n_users,) the share of each user's top-``k`` under A that B's top-``k`` holds, every user ranked as
    ``recommend`` ranks one (training items masked, ties to the lower id), in blocks of ``USERS_PER_BLOCK``. ``k``
    is cut to what the user with the most training items can be shown."""
    train = dataset.matrix("train").tocsr()
    k = max(0, min(int(k), dataset.n_items - int(np.diff(train.indptr).max(initial=0))))
    out = np.ones(dataset.n_users)
    if k == 0:
        return out
    for start in range(0, dataset.n_users, USERS_PER_BLOCK):
        users = np.arange(start, min(start + USERS_PER_BLOCK, dataset.n_users))
        tops = [top_items(item_scores(m, users), train[users], k) for m in (model_a, model_b)]
        shared = (tops[0][:, :, None] == tops[1][:, None, :]).any(-1).sum(-1)
        out[users] = shared.numpy() / k
    return out


def most_changed_user(model_a, model_b, dataset, k: int = 10) -> tuple[int, float]:
    """The user whose top-``k`` changes most from A to B (the least overlap; the lower id on a tie), and that
    overlap: where a class sees what B does differently (the Users page had opened on a user whose two lists were
    the same, audit r74 item 11)."""
    overlap = topk_overlaps(model_a, model_b, dataset, k)
    user = int(np.argmin(overlap))
    return user, float(overlap[user])


def user_history(dataset, user: int) -> dict[str, np.ndarray]:
    """The user's item ids per split: ``train`` (masked when ranking), ``valid``, ``test``."""
    if not 0 <= int(user) < dataset.n_users:
        raise ValueError(f"user {user} is outside 0..{dataset.n_users - 1}")
    return {split: np.sort(pairs[pairs[:, 0] == int(user), 1])
            for split, pairs in (("train", dataset.train), ("valid", dataset.valid), ("test", dataset.test))}


def compare_topk(a, b) -> TopKDiff:
    """Items entering and leaving between top-K lists ``a`` and ``b``, and the rank moves of the rest."""
    a, b = [int(i) for i in a], [int(i) for i in b]
    rank_a = {item: r for r, item in enumerate(a, start=1)}
    rank_b = {item: r for r, item in enumerate(b, start=1)}
    moves = tuple((item, rank_a[item], rank_b[item]) for item in b if item in rank_a)
    k = max(len(a), len(b), 1)
    return TopKDiff(entering=tuple(i for i in b if i not in rank_a), leaving=tuple(i for i in a if i not in rank_b),
                    moves=moves, overlap=len(moves) / k)


# ---- models to recommend with ---------------------------------------------------------------
def load_run_model(run_folder: str | Path, dataset):
    """The trained model of a saved run folder (``runs/<id>/``) or checkpoint file, best weights in place,
    in eval mode. Raises ``CheckpointError`` when the run was trained on other data."""
    from mambarec.checkpoint import load_model  # lazy: torch-backed, kept off the light path

    path = Path(run_folder)
    return load_model(path / CHECKPOINT_NAME if path.is_dir() else path, dataset)


def initial_model(run: RunConfig, dataset):
    """``run``'s model as it was before training: same config and seed, freshly initialized (eval mode).

    Models handed out for inspection start in eval mode: a model shared by several app sessions then
    stays in eval mode whatever order their mode switches interleave in.
    """
    from mambarec.model.zoo import build_model  # lazy: torch-backed, kept off the light path

    return build_model(run, dataset, device="cpu").eval()


def untrained_model(dataset, variant: str = "paper", seed: int | None = None, **overrides):
    """A freshly initialized MambaRec ``variant`` on ``dataset`` (nothing trained, eval mode)."""
    train = TrainConfig(device="cpu") if seed is None else TrainConfig(device="cpu", seed=seed)
    return initial_model(RunConfig(dataset=dataset.name, model=mambarec_preset(variant, **overrides), train=train),
                         dataset)


def run_label(record: RunRecord) -> str:
    """A short readable name of a run: id, model/variant, test Recall@20."""
    model = model_name_of(record)
    label = record.config.get("model", {}).get("variant", "") if model == "mambarec" else model
    recall = record.test("Recall@20")
    score = f", R@20 {recall:.4f}" if isinstance(recall, (int, float)) else ""
    return f"{record.id} ({label}{score})"


def precomputed_for(dataset, directory: str | Path) -> dict | None:
    """``artifacts.load_precomputed(directory)`` when it is intact and was computed on ``dataset``
    (same fingerprint); None when absent, modified or for other data. A stale folder is returned: the
    Compare page says what moved (``artifacts.staleness``)."""

    try:
        pre = load_precomputed(directory)
    except (PrecomputedError, OSError, ValueError, KeyError):
        return None
    entry = pre["manifest"].get("datasets", {}).get(dataset.name, {})
    return pre if entry.get("fingerprint") == dataset.fingerprint() else None


def model_sources(dataset, runs_root: str | Path | None = None,
                  precomputed_dir: str | Path | None = None) -> list[dict]:
    """Checkpoints that fit ``dataset``: saved runs (newest first), then precomputed checkpoints.

    Each entry: ``label``, ``path`` (a checkpoint file), ``kind`` ("run" or "precomputed") and
    ``config`` (the run config as a dict).
    """
    fp = dataset.fingerprint()
    records = [r for r in list_runs(Path(runs_root) if runs_root is not None else None)
               if r.fingerprint == fp and r.checkpoint is not None]
    out = [{"label": run_label(r), "path": r.checkpoint, "kind": "run", "config": r.config} for r in records]
    pre = precomputed_for(dataset, precomputed_dir) if precomputed_dir is not None else None
    if pre is not None:
        for r in sorted(precomputed_records(pre), key=lambda r: r.id):
            if r.dataset == dataset.name and r.checkpoint is not None:
                out.append({"label": f"precomputed: {r.cell} (seed {r.seed})", "path": r.checkpoint,
                            "kind": "precomputed", "config": r.config})
    return out


@dataclass(frozen=True)
class ItemCard:
    """What a page shows about one item: title, category, popularity and, when the dataset has them,
    the poster path and the overview text."""

    item: int
    title: str
    category: str
    popularity: int  # training interactions
    poster: Path | None
    overview: str | None


def item_card(dataset, item: int, popularity: np.ndarray | None = None) -> ItemCard:
    """``ItemCard`` of ``item``; poster = ``<image_dir>/<movie_id>.jpg`` when that file exists."""
    item = int(item)
    meta = dataset.items
    row = meta.iloc[item] if meta is not None else None
    title = str(row["title"]) if row is not None and "title" in meta.columns else f"item {item}"
    category = str(row["category"]) if row is not None and "category" in meta.columns else "-"
    poster = None
    if dataset.image_dir is not None:
        key = row["movie_id"] if row is not None and "movie_id" in meta.columns else item
        path = Path(dataset.image_dir) / f"{key}.jpg"
        poster = path if path.is_file() else None
    overview = None
    if row is not None and "overview" in meta.columns and isinstance(row["overview"], str) and row["overview"]:
        overview = row["overview"]
    pop = popularity if popularity is not None else dataset.item_popularity()
    return ItemCard(item=item, title=title, category=category, popularity=int(pop[item]), poster=poster,
                    overview=overview)
