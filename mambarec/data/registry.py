"""``load_dataset(name_or_path)``: resolve a dataset name or folder to a ``Dataset``.

``synthetic`` and its scenario specs (``synthetic/cold-items?seed=3``, ``mambarec.data.spec``) are
generated in memory. Named datasets live in a data directory: ``data_dir`` argument, else ``$MAMBAREC_DATA``, else
``../shared/datasets`` relative to the repository root (the development fallback).
"""

from __future__ import annotations

import os
from pathlib import Path

from mambarec.data.dataset import Dataset, DatasetError
from mambarec.data.mmrec import load_mmrec_folder
from mambarec.data.spec import is_synthetic, load_scenario, scenario_specs

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_DATA_DIR = REPO_ROOT.parent / "shared" / "datasets"
HOW_TO_GET = {
    "ml100k": (
        "ml100k is MovieLens-100k with TMDB plots and posters in MMRec format. Point MAMBAREC_DATA "
        "(or --data-dir) at a folder that holds ml100k/, or build it from the raw GroupLens files "
        "plus items.csv and posters with `python -m mambarec data build-movielens --raw RAW --out "
        "DATA/ml100k` (README, 'Datasets')."
    ),
}


def data_dir(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("MAMBAREC_DATA")
    return Path(env) if env else DEV_DATA_DIR


def available_datasets(explicit_dir: str | Path | None = None) -> list[str]:
    """Names that ``load_dataset`` accepts right now: synthetic (first), the named synthetic scenarios,
    then the folders in the data dir."""

    names = scenario_specs()
    root = data_dir(explicit_dir)
    if root.is_dir():
        names += sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.inter")))
    return names


def resolve_dataset_path(name: str, explicit_dir: str | Path | None = None) -> Path:
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    root = data_dir(explicit_dir)
    if (root / name).is_dir():
        return root / name
    hint = _misplaced(name, root) or HOW_TO_GET.get(name, (
        "Give the path of an MMRec-format folder (<name>.inter, image_feat.npy, text_feat.npy), or "
        "build one from your own catalogue with `python -m mambarec data build`."
    ))
    missing = ", which does not exist" if not root.is_dir() else ""
    raise DatasetError(
        f"dataset {name!r} not found: it is not a folder and not in the data directory {root}{missing} (set "
        f"MAMBAREC_DATA or --data-dir). Available: {', '.join(available_datasets(explicit_dir))}. {hint}"
    )


def _misplaced(name: str, root: Path) -> str | None:
    """The likeliest slip with a data directory, said: it is the dataset's folder itself, or its grandparent."""
    if root.name == name and any(root.glob("*.inter")):
        return (f"The data directory {root} is the {name} dataset itself: pass its parent ({root.parent}) as "
                f"--data-dir, or the folder itself as --dataset {root}.")
    deeper = sorted(p.parent for p in root.glob(f"*/{name}") if p.is_dir() and any(p.glob("*.inter"))) \
        if root.is_dir() else []
    if deeper:
        return f"{name} is one level down, in {deeper[0]}: pass that folder as --data-dir."
    return None


def load_dataset(name_or_path: str | Path, data_dir: str | Path | None = None, **kwargs) -> Dataset:
    """Load ``synthetic`` or a synthetic spec (built in, no files; ``kwargs`` override its knobs), a
    named dataset, or an MMRec-format folder."""

    name = str(name_or_path)
    if is_synthetic(name):
        return load_scenario(name, **kwargs)

    path = resolve_dataset_path(name, data_dir)
    return load_mmrec_folder(path, name=path.name)
