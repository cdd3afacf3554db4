"""MMRec's folder format (docs/protocol.md sections 1 and 2): reading, writing, 5-core filtering and splitting.

A folder holds ``<name>.inter`` (tab-separated: userID itemID rating timestamp x_label),
``image_feat.npy`` and ``text_feat.npy`` (one row per itemID) and optionally ``items.tsv``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mambarec.atomic import write_together
from mambarec.data.dataset import Dataset, DatasetError

INTER_COLUMNS = ("userID", "itemID", "x_label")
SPLIT_LABELS = {"train": 0, "valid": 1, "test": 2}


def find_inter_file(folder: Path) -> Path:
    candidates = sorted(folder.glob("*.inter"))
    if not candidates:
        raise DatasetError(
            f"{folder}: no <name>.inter file found. An MMRec-format folder needs <name>.inter, "
            "image_feat.npy and text_feat.npy (see docs/protocol.md section 1, or README, 'Datasets')."
        )
    preferred = folder / f"{folder.name}.inter"
    if preferred in candidates or len(candidates) == 1:
        return preferred if preferred in candidates else candidates[0]
    raise DatasetError(f"{folder}: {len(candidates)} .inter files ({', '.join(c.name for c in candidates)}) and none "
                       f"named after the folder; keep one, or name the one to read {folder.name}.inter")


def read_inter(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, sep="\t")
    except pd.errors.EmptyDataError as exc:
        raise DatasetError(f"{path}: the file is empty; it needs a header and interaction rows") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise DatasetError(f"{path}: cannot parse as tab-separated text ({exc})") from exc
    missing = [c for c in INTER_COLUMNS if c not in df.columns]
    if missing:
        raise DatasetError(
            f"{path}: missing column(s) {missing}; found {list(df.columns)}. The header must be "
            "tab-separated 'userID itemID rating timestamp x_label'."
        )
    if df.empty:
        raise DatasetError(f"{path}: the file has a header but no interactions; write one row per interaction "
                           "under it (userID, itemID, rating, timestamp, x_label)")
    for col in INTER_COLUMNS:
        if not pd.api.types.is_integer_dtype(df[col]):
            raise DatasetError(f"{path}: column {col} must hold integers only (found {df[col].dtype})")
    bad_labels = sorted(int(x) for x in set(df["x_label"].unique()) - {0, 1, 2})  # plain ints in the message
    if bad_labels:
        raise DatasetError(f"{path}: x_label must be 0 (train), 1 (valid) or 2 (test); found {bad_labels}")
    return df


def _check_contiguous(path: Path, ids: np.ndarray, what: str) -> int:
    if ids.min() < 0:
        raise DatasetError(f"{path}: {what} has negative ids; number them 0, 1, 2, ... (`python -m mambarec data "
                           "build` re-indexes a raw interaction file so)")
    present = np.unique(ids)  # sorted distinct ids: never allocate max(id) cells for one stray huge id
    n = int(present[-1]) + 1
    if len(present) != n:
        # the first 5 absent ids all lie below len(present) + 5
        missing = np.setdiff1d(np.arange(len(present) + 5), present)
        missing = missing[missing < n][:5]
        raise DatasetError(
            f"{path}: {what} ids are not contiguous 0..{n - 1}: {n - len(present)} id(s) never appear, "
            f"e.g. {missing.tolist()}. Re-index them (the data builder does this)."
        )
    return n


def _load_features(path: Path) -> np.ndarray:
    if not path.exists():
        raise DatasetError(f"{path}: file not found (an MMRec folder needs image_feat.npy and text_feat.npy)")
    try:
        # mapped, not read: a header that claims more rows than the file holds is refused here, before any
        # allocation (a damaged header once asked for 46 TiB)
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:
        # numpy's own message can advise allow_pickle=True, which would unpickle (run) whatever the file holds
        why = ("not numpy's .npy format" if "pickle" in str(exc) else
               "it holds Python objects, not numbers" if "Python objects" in str(exc) else
               "the file is shorter than its header says: truncated or damaged" if "greater than file size" in str(exc)
               else str(exc))
        raise DatasetError(f"{path}: not a readable .npy array ({why}); save the features with np.save as a "
                           "numeric (n_items, dim) array") from exc
    if not isinstance(arr, np.ndarray):  # np.load opens an .npz archive whatever the file's name
        arr.close()
        raise DatasetError(f"{path}: this is an .npz archive, not a .npy array; save it with np.save")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise DatasetError(f"{path}: features must be numeric (real, not complex), got dtype {arr.dtype}")
    if arr.ndim != 2:  # before the copy below, which makes a 0-d array 1-d
        raise DatasetError(f"{path}: features must be a 2-D (n_items, dim) array, got shape {arr.shape}")
    with np.errstate(over="ignore", invalid="ignore"):  # said below, in words, instead of numpy's warning
        out = np.array(arr, dtype=np.float32, order="C")  # a copy in memory: never a view of the mapped file
    if arr.dtype.itemsize > out.dtype.itemsize and not np.isfinite(out).all() and np.isfinite(arr).all():
        raise DatasetError(f"{path}: values beyond float32's range (largest {np.abs(arr).max():.3g}); the model "
                           "computes in float32: scale the features down (e.g. divide by their largest absolute value)")
    return out


def load_mmrec_folder(folder: str | Path, name: str | None = None) -> Dataset:
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder; give the folder that holds the <name>.inter file and its "
                           "image_feat.npy and text_feat.npy")
    inter_path = find_inter_file(folder)
    df = read_inter(inter_path)
    users = df["userID"].to_numpy(np.int64)
    items = df["itemID"].to_numpy(np.int64)
    n_users = _check_contiguous(inter_path, users, "userID")
    n_items = _check_contiguous(inter_path, items, "itemID")
    labels = df["x_label"].to_numpy()
    pairs = np.stack([users, items], axis=1)
    split = {k: pairs[labels == v] for k, v in SPLIT_LABELS.items()}
    visual = _load_features(folder / "image_feat.npy")
    text = _load_features(folder / "text_feat.npy")
    meta = None
    meta_path = folder / "items.tsv"
    if meta_path.exists():
        try:
            meta = pd.read_csv(meta_path, sep="\t", keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
            raise DatasetError(f"{meta_path}: cannot parse item metadata ({exc}); write it tab-separated, one row "
                               "per itemID with an itemID column, or remove the file (it only names the items)"
                               ) from exc
        if "itemID" not in meta.columns:
            raise DatasetError(f"{meta_path}: item metadata needs an itemID column")
        meta = meta.sort_values("itemID").reset_index(drop=True)
        if len(meta) != n_items or not (meta["itemID"].to_numpy() == np.arange(n_items)).all():
            raise DatasetError(f"{meta_path}: item metadata must have exactly one row per itemID 0..{n_items - 1}")
    image_dir = folder / "raw" / "posters"
    return Dataset(
        name=name or folder.name, n_users=n_users, n_items=n_items, train=split["train"],
        valid=split["valid"], test=split["test"], visual=visual, text=text, items=meta,
        source=str(folder), image_dir=image_dir if image_dir.is_dir() else None,
    )


def kcore_filter(pairs: np.ndarray, k: int = 5) -> np.ndarray:
    """Keep only (user, item) pairs whose user and item both have >= k interactions, to a fixpoint."""
    keep = np.ones(len(pairs), dtype=bool)
    while True:
        u, i = pairs[keep, 0], pairs[keep, 1]
        ucount = np.bincount(u, minlength=pairs[:, 0].max() + 1)
        icount = np.bincount(i, minlength=pairs[:, 1].max() + 1)
        new_keep = keep & (ucount[pairs[:, 0]] >= k) & (icount[pairs[:, 1]] >= k)
        if new_keep.sum() == keep.sum():
            return pairs[keep]
        keep = new_keep


def mmrec_split(n_per_user: np.ndarray) -> np.ndarray:
    """x_label per interaction for users laid out contiguously with ``n_per_user`` rows each, each user's rows
    already shuffled (``split_interactions`` shuffles them).

    MMRec's rule (docs/protocol.md section 2): fewer than 10 interactions: the last two go to valid and test;
    otherwise v = int(0.2 n) go to valid + test, valid takes v // 2 and test the rest. Returns the labels, in the
    rows' order.
    """
    labels = []
    for n in n_per_user:  # per-user bookkeeping only at build time, never on a training path
        if n < 10:
            v, n_valid = 2, 1
        else:
            v = int(0.2 * n)
            n_valid = v // 2
        lab = np.zeros(n, dtype=np.int64)
        lab[n - v: n - v + n_valid] = 1
        lab[n - v + n_valid:] = 2
        labels.append(lab)
    return np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)


def split_interactions(pairs: np.ndarray, seed: int) -> pd.DataFrame:
    """Shuffle each user's interactions with ``seed`` and label them with MMRec's split rule."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.permutation(len(pairs)), pairs[:, 0]))
    pairs = pairs[order]
    counts = np.bincount(pairs[:, 0])
    counts = counts[counts > 0]
    labels = mmrec_split(counts)
    return pd.DataFrame({"userID": pairs[:, 0], "itemID": pairs[:, 1], "x_label": labels})


def write_mmrec_folder(
    folder: str | Path, name: str, inter: pd.DataFrame, visual: np.ndarray, text: np.ndarray,
    items: pd.DataFrame | None = None,
) -> Path:
    """Write ``inter`` (userID, itemID, x_label and optional rating/timestamp) and features, as one set: every
    file is written under a temporary name first and renamed only when all are written, so a failure while
    rebuilding an existing folder never leaves new interactions beside old features (``atomic.write_together``);
    an ``items.tsv`` of an earlier build goes when this one has none."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = inter.copy()
    for col in ("rating", "timestamp"):
        if col not in out.columns:
            out[col] = 0
    out = out[["userID", "itemID", "rating", "timestamp", "x_label"]]
    writes = {folder / f"{name}.inter": lambda p: out.to_csv(p, sep="\t", index=False),
              folder / "image_feat.npy": lambda p: np.save(p, np.asarray(visual, dtype=np.float32)),
              folder / "text_feat.npy": lambda p: np.save(p, np.asarray(text, dtype=np.float32))}
    if items is not None:
        writes[folder / "items.tsv"] = lambda p: items.to_csv(p, sep="\t", index=False)
    write_together(writes)
    if items is None:
        (folder / "items.tsv").unlink(missing_ok=True)
    for old in folder.glob("*.inter"):  # a rebuild under another name: the folder holds one dataset
        if old.name != f"{name}.inter":
            old.unlink()
    return folder
