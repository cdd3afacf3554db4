"""Session state, URL parameters <-> RunConfig, the cached dataset, where runs and results live.

The URL vocabulary is the configs' field names (``mambarec.config.run_to_params``): ``?model_name=mambarec
&variant=paper&use_mmd=false&reduction_factor=4``. Only values that differ from the model's defaults are
written, so a link stays short and reproduces the setup exactly.

One source of truth: ``session_state.run_config`` is the setup. The Train form's widgets are drawn from
it on every run and edit it through callbacks (``app.widgets``); Train runs it. A URL is applied to it
when the URL is new to the session (``url_changes``), not only on the session's first run, so a lesson
link clicked inside the app takes effect.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import sys
from collections.abc import Collection
from pathlib import Path
from urllib.parse import urlparse

import streamlit as st

from app import jobs
from app.paths import PRECOMPUTED_ENV, precomputed_dir, runs_root, runs_signature  # noqa: F401  (re-exported)
from mambarec.config import (
    MODEL_CONFIGS,
    RunConfig,
    TrainConfig,
    field_names,
    mambarec_preset,
    run_from_params,
    setup_label,  # noqa: F401  (re-exported for the pages)
)
from mambarec.config.edits import default_train  # noqa: F401  (the Train page's defaults; re-exported)
from mambarec.config.edits import on_dataset as retarget
from mambarec.config.edits import with_setting as edit_run  # noqa: F401  (the form's and diagram's edits)
from mambarec.data import DatasetError, available_datasets, data_dir, load_dataset
from mambarec.data.spec import is_synthetic

DEFAULT_DATASET = "synthetic"
CLASSROOM_ENV = "MAMBAREC_CLASSROOM"  # 1: read-only classroom mode (lessons and precomputed runs, no training)
CLASSROOM_FLAG = "--classroom"  # the same as a script argument: streamlit run streamlit_app.py -- --classroom
TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))
SETUP_KEYS = frozenset({"dataset", "model_name", "variant", "schedule", *TRAIN_FIELDS,
                        *(f for cls in MODEL_CONFIGS.values() for f in field_names(cls))})
TRAIN_PATH = "train"  # the Train page's own path (streamlit_app.MENU)
LINK_KEYS = frozenset({"model_name", "variant"})  # a URL holding one of these is a Train link, not a page's dataset
APP_KEYS = frozenset({"present"})  # app-level parameters: never a config field, never reported as unknown
PRESENTATION = "presentation"  # the session's presentation-mode choice (``app.presentation``), kept in the URL
ECHO_MEMORY = 16  # addresses this session wrote that a late rerun may still carry back


# ---- defaults ------------------------------------------------------------------------------
def default_run(dataset: str = DEFAULT_DATASET) -> RunConfig:
    return RunConfig(dataset=dataset, model=mambarec_preset("paper"), train=default_train(dataset))


def classroom() -> bool:
    """Read-only classroom mode: ``$MAMBAREC_CLASSROOM=1`` or ``streamlit run streamlit_app.py -- --classroom``."""
    flag = os.environ.get(CLASSROOM_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    return flag or CLASSROOM_FLAG in sys.argv[1:]


# ---- session -------------------------------------------------------------------------------
def at_root(*pages: str) -> bool:
    """Whether the browser asked for the app's root (or one of ``pages``' own paths, such as ``train``), not
    another page's path (unknown: the root)."""
    url = st.context.url
    if not url:
        return True
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    path = urlparse(url).path.strip("/")
    return path in {base, *(f"{base}/{p}".strip("/") for p in pages)}


def root_link(url: dict[str, str]) -> bool:
    """A root or Train page address that holds config fields other than the dataset is a Train link even without
    a model or preset (``/?epochs=7&lambda_mmd=0.3``, ``/train?epochs=7``: the paper's preset with those; they were
    dropped without a word); the dataset alone, or another page's parameters (``lesson=...``, an Embeddings
    link's ``seed``), are not."""
    return bool((SETUP_KEYS - {"dataset"}) & set(url)) and at_root(TRAIN_PATH)


def init_session() -> None:
    """The session's setup, from the URL on its first run (later URLs: ``apply_url_setup``)."""
    ss = st.session_state
    if "run_config" not in ss:
        url = st.query_params.to_dict()
        run, errors, notes = parse_setup(url, link=root_link(url))
        ss.run_config, ss.url_errors, ss.url_notes = run, errors, notes
        ss.dataset = run.dataset
        url_applied("train", _setup_part(url))
    if "jobs" not in ss:  # a reload is a new session: this browser's runs still training keep their cards
        ss.jobs = [j.id for j in jobs.all_jobs() if j.active and j.owner == owner()]


def parse_setup(params: dict[str, str], link: bool = False) -> tuple[RunConfig, list[str], list[str]]:
    """A RunConfig from URL parameters (training defaults: the dataset's schedule), with errors and notes; ``link``:
    the address is a Train link even without ``LINK_KEYS`` (the app's root)."""
    params = {k: v for k, v in params.items() if k not in APP_KEYS}
    if not link and not LINK_KEYS & set(params):  # another page's address: only its dataset is the setup's
        params = {k: v for k, v in params.items() if k == "dataset"}  # (an Embeddings link's seed=0 names a run)
    dataset = params.pop("dataset", "") or DEFAULT_DATASET  # ?dataset= (empty) names no folder: the default
    return run_from_params({"dataset": dataset, **params}, default_train(dataset))


def _setup_part(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k in SETUP_KEYS}


OWNER_COOKIE = "mambarec_session"  # keeps a browser's label across reloads (audit r60, item 8)
OWNER_HEX = 6  # hex digits of a label: 16.7 M of them, so 30 students draw two alike with odds ~3e-5 (4 gave ~0.7%)
OWNER_COOKIE_DAYS = 30
_OWNER_LABEL = re.compile(f"[0-9a-f]{{{OWNER_HEX}}}")


def owner() -> str:
    """This browser's label on the jobs it starts (random, never a name): the one its cookie keeps, if any, so a
    reload (a new session) still calls its running runs "you"; else a new one, which ``remember_owner`` stores."""
    if "owner" not in st.session_state:
        kept = _cookie(OWNER_COOKIE)
        label = kept if _OWNER_LABEL.fullmatch(kept) else secrets.token_hex(OWNER_HEX // 2)
        st.session_state.owner = f"session {label}"
        st.session_state.owner_unsaved = label != kept
    return st.session_state.owner


def _cookie(name: str) -> str:
    try:
        return str(st.context.cookies.get(name) or "")
    except Exception:  # noqa: BLE001  (no request behind the script run: a test harness, a bare script)
        return ""


def remember_owner() -> None:
    """Stores a new label in a cookie of this site (a script of the app's own text: the label is hex it drew)."""
    label = owner().removeprefix("session ")
    if st.session_state.get("owner_unsaved") and _OWNER_LABEL.fullmatch(label):
        st.html(f"<script>document.cookie = '{OWNER_COOKIE}={label}; path=/; "
                f"max-age={OWNER_COOKIE_DAYS * 86_400}; SameSite=Strict';</script>", unsafe_allow_javascript=True)


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
    run = current_run()
    if run.dataset != name:
        set_run(retarget(run, name))
    st.session_state.dataset = name


# ---- the URL -------------------------------------------------------------------------------
def note_page(name: str) -> None:
    """Called by the entry script before a page runs: remembers which page ran last (see ``arrived``)."""
    ss = st.session_state
    ss["_page.arrived"] = ss.get("_page.current") != name
    ss["_page.current"] = name
    if ss["_page.arrived"]:
        ss["_page.visit"] = visit() + 1


def arrived() -> bool:
    """True on a page's first run after another page (a navigation carries the link's own address)."""
    return bool(st.session_state.get("_page.arrived", True))


def visit() -> int:
    """Which page visit of the session this run belongs to (0 when pages run without the entry script)."""
    return int(st.session_state.get("_page.visit", 0))


def with_presentation(params: dict[str, str]) -> dict[str, str]:
    """``params`` with ``present=1`` in presentation mode: an address copied off the projector for a slide opens in
    presentation mode too, and a link inside the app carries it, or the page's own write of it added a second
    history entry after the link's (Back then landed on the same page: rehearsal r55)."""
    rest = {k: v for k, v in params.items() if k != "present"}  # a page's last write from before a toggle
    return {**rest, "present": "1"} if st.session_state.get(PRESENTATION) else rest


def sync_url(params: dict[str, str], scope: str | None = None) -> None:
    """Write ``params`` to the address bar (only when they changed: each write is a message).

    The write is remembered for a while: a rerun the browser sent before it saw this write carries the
    older address back, and ``url_changes`` must not take that echo for a new link. With ``scope``, the
    parameters also count as applied by that page.
    """
    ss = st.session_state
    params = with_presentation(params)
    mine = frozenset(params.items())
    # also when the server already holds them: a link to the same page (a lesson's Next step) hands the run its
    # parameters without showing them in the address bar, which only this write updates
    if st.query_params.to_dict() != params or (ss.get("_url.written") or [None])[-1] != mine:
        st.query_params.from_dict(params)
    written = [w for w in ss.get("_url.written", []) if w != mine]
    ss["_url.written"] = [*written, mine][-ECHO_MEMORY:]
    if scope is not None:
        url_applied(scope, params)


def wrote(url: dict[str, str]) -> bool:
    """Whether this session wrote ``url`` lately (``sync_url``): a rerun the browser sent before it saw a newer
    write carries such an address back (an echo), which is no new link."""
    return frozenset(url.items()) in (st.session_state.get("_url.written") or [])


def url_applied(scope: str, params: dict[str, str]) -> None:
    """Record that page ``scope`` now shows ``params`` (it applied them, or wrote them itself)."""
    st.session_state.setdefault("_url.applied", {})[scope] = dict(params)


def url_changes(scope: str, keys: Collection[str], whole: bool = False) -> dict[str, str]:
    """The URL parameters among ``keys`` that differ from what page ``scope`` last applied or wrote.

    The URL of a same-page rerun that this session wrote itself is an echo and changes nothing; the
    first run after arriving from another page takes the URL as it is (a navigation carries its link's
    own parameters). With ``whole``, a URL holding any of ``keys`` speaks for all of them: a key it
    lacks counts as changed (to its default) when the page had it; the value is then ``""``.
    Call ``url_applied`` (or ``sync_url`` with the scope) once the page has applied them.
    """
    ss = st.session_state
    url = st.query_params.to_dict()
    if not arrived() and wrote(url):
        return {}
    before = ss.get("_url.applied", {}).get(scope, {})
    changed = {k: v for k, v in url.items() if k in keys and before.get(k) != v}
    if whole and any(k in url for k in keys):
        changed.update({k: "" for k in before if k in keys and k not in url})
    return changed


def apply_url_setup() -> tuple[list[str], list[str]] | None:
    """Apply a Train link the session has not applied yet; returns its (errors, notes), or None if none."""
    url = {k: v for k, v in st.query_params.to_dict().items() if k not in APP_KEYS}
    link = root_link(url)
    if not link and not LINK_KEYS & set(url):  # another page's address: at most the dataset changed
        changed = url_changes("train", ("dataset",))
        if changed.get("dataset"):
            set_active_dataset(changed["dataset"])
            url_applied("train", {**st.session_state["_url.applied"].get("train", {}), **changed})
        return None
    if not url_changes("train", SETUP_KEYS, whole=True):
        return None
    run, errors, notes = parse_setup(url, link=link)
    if run != current_run():
        set_run(run)
    url_applied("train", _setup_part(url))
    return errors, notes


# ---- other pages' selection ------------------------------------------------------------------
def set_active_run(path: str | Path | None) -> None:
    """The run (folder or checkpoint file) the inspection pages show; None clears it."""
    st.session_state.active_run = None if path is None else str(path)


def active_run() -> str | None:
    return st.session_state.get("active_run")


# ---- cached data -----------------------------------------------------------------------
def get_dataset(name: str):
    """The dataset of that name: a synthetic world, or a folder of the data directory named as it is there. A path
    is refused: a link's ``dataset=../../etc`` had the server look for a dataset in that folder (rehearsal r72), and
    every student's link is a server request. The command line still takes paths."""
    if not is_synthetic(name) and (not name or name in (".", "..") or any(sep in name for sep in "/\\~:")):
        raise DatasetError(
            f"the app opens datasets by name, not by path (a link could otherwise point the server at any folder). "
            f"Put the folder in the data directory {data_dir()} (or start the server with MAMBAREC_DATA set to the "
            f"folder that holds it) and name it as it is there. Available: {', '.join(available_datasets())}")
    return _load(name)


@st.cache_resource(max_entries=3, show_spinner="Loading the dataset...")
def _load(name: str):
    return load_dataset(name)


@st.cache_data(max_entries=8, show_spinner=False)
def dataset_card(name: str) -> dict:
    ds = get_dataset(name)
    return {**ds.summary(), "fingerprint": ds.fingerprint(), "source": ds.source}


def dataset_options(current: str) -> list[str]:
    names = available_datasets()
    return names if current in names else [*names, current]
