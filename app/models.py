"""Cached model sources shared by the inspection pages (Embeddings, DREAM inspector, Users).

One cache for all of them: a checkpoint restored on one page is not restored again on another.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import state


def mtime(path=None) -> int:
    """Modification time of ``path`` (default: the precomputed manifest), a cache key; 0 if absent."""
    try:
        return Path(path or state.precomputed_dir() / "manifest.json").stat().st_mtime_ns
    except OSError:
        return 0


def signature() -> tuple:
    """Changes whenever a run is saved or the precomputed folder is rewritten: the cache key of ``sources``."""
    root = state.runs_root()
    return str(root), state.runs_signature(root), str(state.precomputed_dir()), mtime()


@st.cache_data(show_spinner=False, max_entries=8)
def sources(fingerprint: str, signature: tuple, _dataset) -> list[dict]:
    """Saved runs and precomputed checkpoints trained on this dataset."""
    from mambarec.recommend import model_sources

    return model_sources(_dataset, state.runs_root(), state.precomputed_dir())


@st.cache_resource(show_spinner="Loading the checkpoint...", max_entries=6)
def model(path: str, mtime_ns: int, fingerprint: str, _dataset):
    """The trained model of a checkpoint, in eval mode (shared by every session and page)."""
    from mambarec.recommend import load_run_model

    return load_run_model(path, _dataset)


@st.cache_resource(show_spinner="Building an untrained model...", max_entries=4)
def untrained(variant: str, fingerprint: str, _dataset):
    from mambarec.recommend import untrained_model

    return untrained_model(_dataset, variant)


@st.cache_resource(show_spinner="Initializing the same run...", max_entries=6)
def initial(path: str, mtime_ns: int, fingerprint: str, _dataset):
    """The run of a checkpoint as it was before training: same config and seed, freshly initialized."""
    from mambarec.checkpoint import load_checkpoint
    from mambarec.recommend import initial_model

    return initial_model(load_checkpoint(path)["run"], _dataset)
