"""What the Compare page does to a saved run or a checkpoint: read one, import an uploaded file as a run, rename or
delete a run (the rules of ``mambarec.store`` and ``mambarec.catalog``). Each returns the reason a refusal gives,
never raises it; a classroom server (``READ_ONLY``) changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.paths import runs_root
from mambarec.catalog import delete_run as store_delete
from mambarec.catalog import rename_run as store_rename
from mambarec.comparison import METRICS, ran_text
from mambarec.config import setup_label
from mambarec.data import available_datasets
from mambarec.data.spec import is_synthetic
from mambarec.store import RunStoreError
from mambarec.store import import_checkpoint as store_import


def checkpoint_summary(ckpt: dict) -> dict:
    """The plain facts of a loaded checkpoint (no tensors), for display."""
    run = ckpt["run"]
    m = ckpt["metrics"]
    return {"setup": setup_label(run.to_dict()), "model_name": run.model_name, "seed": ckpt["seed"],
            "dataset": ckpt["dataset"], "fingerprint": ckpt["dataset_fingerprint"], "versions": ckpt["versions"],
            "resumable": ckpt["resume"] is not None, "best_epoch": m.get("best_epoch"),
            "ran": ran_text(m.get("epochs_run"), run.train.epochs, bool(m.get("stopped_early")),
                            bool(m.get("cancelled"))),
            "test": {k: m.get(f"test/{k}") for k in METRICS}, "config": run.to_dict()}


@st.cache_data(max_entries=32, show_spinner="Reading the checkpoint...")
def checkpoint_info(path: str, mtime_ns: int) -> dict:
    from mambarec.checkpoint import load_checkpoint  # lazy: torch

    return checkpoint_summary(load_checkpoint(path))


# What a read-only server (classroom mode) says when asked to change its saved runs
READ_ONLY = ("this server is in classroom mode: its saved runs can be read, not renamed, deleted or added to; the "
             "lecturer changes them on a server started without MAMBAREC_CLASSROOM")


def import_checkpoint(data: bytes, filename: str, dataset, classroom: bool = False) -> tuple[Path | None, str]:
    """Validate uploaded checkpoint bytes against ``dataset`` (a loaded Dataset) and save them as a run folder.

    Returns (the run folder, "") for a new run, (the run folder, a note) for bytes a saved run already holds, or
    (None, the reason it was refused).
    """
    from mambarec.checkpoint import CheckpointError, DatasetMismatchError  # lazy: torch

    if classroom:
        return None, READ_ONLY
    try:
        folder, new = store_import(data, filename, dataset, runs_root())
        return folder, "" if new else (f"the saved run `{folder.name}` holds this very file, so no copy was made: "
                                       "pick it in the Checkpoint box above")
    except DatasetMismatchError as exc:
        return None, f"{exc}: {picker_hint(exc.trained_on, dataset.name)}"
    except (CheckpointError, RunStoreError, OSError) as exc:
        return None, str(exc)


def picker_hint(name, active: str | None = None) -> str:
    """How to make ``name`` (a checkpoint's dataset) the active dataset with the sidebar's Dataset box, for a
    checkpoint refused because it was trained on another dataset; when ``name`` is the ``active`` dataset's own (the
    same name, other data: another build of the folder, another version of the generator), what would load it,
    where "pick synthetic" had sent the user to the box that already said synthetic (audit r76, item 3)."""
    if not isinstance(name, str) or not name:
        return "pick the dataset it was trained on in the sidebar's Dataset box, then upload it again"
    if name == active:
        if is_synthetic(name):
            return (f"this code generates {name} otherwise than the code that trained it did (another version of "
                    "the project); train the setup again here, or load it with the version that trained it")
        return (f"the {name} folder here holds other data than the one it was trained on (another build: other "
                "encoders, texts, posters or split); put that build's folder in the data directory "
                "($MAMBAREC_DATA), or train the setup again on this one")
    if is_synthetic(name):
        head, _, knobs = name.partition("?")  # a changed knob is part of the name: synthetic/cold-items?seed=3
        if knobs:
            return (f"pick {head} in the sidebar's Dataset box and set its World knobs to "
                    f"{knobs.replace('&', ', ')}, then upload it again")
    elif name not in available_datasets():
        return (f"put the folder of {name} in the data directory ($MAMBAREC_DATA), pick {name} in the sidebar's "
                "Dataset box, then upload it again")
    return f"pick {name} in the sidebar's Dataset box, then upload it again"


def rename_run(folder: str, new_name: str, classroom: bool = False) -> tuple[Path | None, str]:
    """``mambarec.catalog.rename_run``: (the new folder, "") or (None, why it was refused)."""
    if classroom:
        return None, READ_ONLY
    try:
        return store_rename(Path(folder), new_name), ""
    except (RunStoreError, OSError) as exc:
        return None, str(exc)


def delete_run(folder: str, classroom: bool = False) -> str:
    """``mambarec.catalog.delete_run``: "" or why nothing was deleted."""
    if classroom:
        return READ_ONLY
    try:
        store_delete(Path(folder))
        return ""
    except (RunStoreError, OSError) as exc:
        return str(exc)
