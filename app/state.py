"""Session state, URL parameters <-> RunConfig, the cached dataset, where runs and results live.

The URL vocabulary is the configs' field names (``mambarec.config.params``): ``?model_name=mambarec
&variant=paper&use_mmd=false&reduction_factor=4&epochs=20``. Only values that differ from the
model's defaults are written, so a link stays short and reproduces the setup exactly.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import streamlit as st

from mambarec.config import RunConfig, TrainConfig, mambarec_preset, run_from_params, setup_label  # noqa: F401

APP_DEFAULT_EPOCHS = 20  # a live run on the synthetic data finishes in well under a minute
DEFAULT_DATASET = "synthetic"
PRECOMPUTED_ENV = "MAMBAREC_PRECOMPUTED"  # another precomputed folder (tests, a second grid)
TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def default_run(dataset: str = DEFAULT_DATASET) -> RunConfig:
    return RunConfig(dataset=dataset, model=mambarec_preset("paper"), train=TrainConfig(epochs=APP_DEFAULT_EPOCHS))


# ---- session -----------------------------------------------------------------------------
def init_session() -> None:
    """Read the URL once per browser session (a page switch clears it; the session keeps the config)."""
    ss = st.session_state
    if "run_config" not in ss:
        run, errors, notes = run_from_params(st.query_params.to_dict(), TrainConfig(epochs=APP_DEFAULT_EPOCHS))
        ss.run_config, ss.url_errors, ss.url_notes = run, errors, notes
        ss.dataset = run.dataset
    ss.setdefault("jobs", [])


def current_run() -> RunConfig:
    init_session()
    return st.session_state.run_config


def set_run(run: RunConfig) -> None:
    st.session_state.run_config = run
    st.session_state.dataset = run.dataset


def active_dataset_name() -> str:
    init_session()
    return st.session_state.dataset


def set_active_dataset(name: str) -> None:
    st.session_state.dataset = name
    run = current_run()
    if run.dataset != name:
        st.session_state.run_config = dataclasses.replace(run, dataset=name)


def sync_url(params: dict[str, str]) -> None:
    """Write ``params`` to the address bar (only when they changed: each write is a message)."""
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def set_active_run(path: str | Path | None) -> None:
    """The run (folder or checkpoint file) the inspection pages show; None clears it."""
    st.session_state.active_run = None if path is None else str(path)


def active_run() -> str | None:
    return st.session_state.get("active_run")


# ---- cached data -----------------------------------------------------------------------
@st.cache_resource(max_entries=3, show_spinner="Loading the dataset...")
def get_dataset(name: str):
    from mambarec.data import load_dataset

    return load_dataset(name)


@st.cache_data(max_entries=8, show_spinner=False)
def dataset_card(name: str) -> dict:
    ds = get_dataset(name)
    return {**ds.summary(), "fingerprint": ds.fingerprint(), "source": ds.source}


def dataset_options(current: str) -> list[str]:
    from mambarec.data import available_datasets

    names = available_datasets()
    return names if current in names else [*names, current]


def runs_root() -> Path:
    from mambarec.store import runs_dir

    return runs_dir()


def runs_signature(root: Path) -> tuple:
    """Changes whenever a run folder is added, removed or rewritten (the cache key of the tables)."""
    if not root.is_dir():
        return ()
    out = []
    for folder in root.iterdir():
        metrics = folder / "metrics.json"
        if metrics.is_file():
            out.append((folder.name, metrics.stat().st_mtime_ns))
    return tuple(sorted(out))


def precomputed_dir() -> Path:
    default = Path(__file__).resolve().parents[1] / "precomputed"
    return Path(os.environ.get(PRECOMPUTED_ENV, default))


def precomputed_table(dataset: str):
    """Precomputed rows of ``dataset`` and a message when there are none (see ``app.results``)."""
    from app import results

    return results.precomputed_table(dataset)
