"""Cached model sources shared by the inspection pages (Embeddings, DREAM inspector, Users).

One cache for all of them: a checkpoint restored on one page is not restored again on another.
Sources are listed in the grid's order (``paper`` first, never alphabetically), then the saved
runs, newest first; each has a stable key for the URL: the cell's name for a precomputed
checkpoint (with its seed apart), ``saved:<run id>`` for a saved run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from app import results, state, urlsel
from mambarec.artifacts import ships_checkpoints
from mambarec.grid import CHECKPOINT_DATASETS, GRID

GRID_ORDER = {c.name: i for i, c in enumerate(GRID)}
SAVED = "saved:"
UNTRAINED = "untrained:"


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


def grid_rank(cell: str | None) -> tuple:
    """Sort key of a cell: the grid's order, cells today's grid does not know (bridge cells) after it."""
    return (GRID_ORDER.get(cell, len(GRID_ORDER)), cell or "")


@st.cache_data(show_spinner=False, max_entries=8)
def sources(fingerprint: str, signature: tuple, _dataset) -> list[dict]:
    """Checkpoints trained on this dataset: precomputed ones in the grid's order, then saved runs (newest first).

    Each: ``key`` (cell name, or ``saved:<id>``), ``cell``, ``seed``, ``label`` (what differs, the epochs
    it ran), for a saved run ``short`` (what differs and its seed: a figure title's room), ``path`` (a checkpoint
    file), ``kind`` ("precomputed" | "run") and ``config`` (a dict)."""
    from mambarec.recommend import model_sources  # lazy: torch

    rows, _ = results.results_table(_dataset.name, fingerprint)
    by_path = {} if rows.empty else {r["checkpoint"]: r for _, r in rows.iterrows() if r["checkpoint"]}
    pre, saved = [], []
    for src in model_sources(_dataset, state.runs_root(), state.precomputed_dir()):
        row = by_path.get(str(src["path"]))
        if src["kind"] == "precomputed":
            cell, seed = (row["cell"], int(row["seed"])) if row is not None else (src["label"], 0)
            pre.append({**src, "key": cell, "cell": cell, "seed": seed,
                        "label": row["label"] if row is not None else src["label"]})
        else:
            run_id = Path(src["path"]).parent.name
            saved.append({**src, "key": f"{SAVED}{run_id}", "cell": None,
                          "seed": int(row["seed"]) if row is not None and row["seed"] is not None else None,
                          "label": row["label"] if row is not None else src["label"],
                          "short": row["short"] if row is not None else run_id})
    pre.sort(key=lambda s: (grid_rank(s["cell"]), s["seed"]))
    return pre + saved


def keys_of(found: list[dict]) -> list[str]:
    """The distinct keys of ``sources``, in order (a cell once, whatever its seeds)."""
    return list(dict.fromkeys(s["key"] for s in found))


def seeds_of(found: list[dict], key: str) -> list[int]:
    return [s["seed"] for s in found if s["key"] == key]


def pick(found: list[dict], key: str, seed: int | None = None) -> dict | None:
    """The source of ``key`` (and ``seed``, for a cell with several), or None."""
    mine = [s for s in found if s["key"] == key]
    return next((s for s in mine if seed is None or s["seed"] == seed), mine[0] if mine else None)


def has_dream(config: dict) -> bool:
    """Whether a run's config (its dict) has DREAM blocks: MambaRec with ``use_dream`` on."""
    return config.get("model_name", "mambarec") == "mambarec" and config.get("model", {}).get("use_dream", True)


def keep_pick(key: str, keys: list[str], fallback: Callable[[], str], found: list[dict],
              label: Callable[[str], str] | None = None) -> None:
    """The picker in session ``key`` keeps its value while it is among ``keys``; else it takes ``fallback()``, and
    when the value was a saved run the page says so (renamed or deleted meanwhile, here or by another session: the
    page had switched to another model without a word, audit r60). A fallback that is the run Compare's "Inspect on
    the other pages" chose (among ``found``) is the user's choice, which the page's address names. ``label``: the
    page's picker names, so the note names the fallback as its picker does ("untrained-paper" was the key: r72)."""
    held = st.session_state.get(key)
    if held in keys:
        return
    st.session_state[key] = default = fallback()
    if default == active_key(found):
        urlsel.chosen_elsewhere(key)
    if isinstance(held, str) and held.startswith(SAVED):
        st.caption(f":material/info: The saved run `{held.removeprefix(SAVED)}` is no longer in the runs folder "
                   f"(renamed or deleted meanwhile): showing "
                   f"`{label(default) if label else default.removeprefix(SAVED)}` instead.")


def default_pick(found: list[dict], keys: list[str], why_not: str = "") -> str:
    """A model picker's first choice: the run Compare's "Inspect on the other pages" chose, else `paper`, else the
    first. A chosen run this page cannot show (``why_not`` says why: the DREAM inspector's runs have DREAM) is named
    in a note: a run trained with use_dream=off had been swapped for another without a word (rehearsal r71)."""
    active = active_key(found)
    if active:
        return active
    fallback = "paper" if "paper" in keys else keys[0]
    if state.active_run() and why_not:
        st.caption(f":material/info: The run chosen on Compare (`{Path(state.active_run()).parent.name}`) is not "
                   f"shown here: {why_not}. Showing `{fallback}`.")
    return fallback


def key_label(found: list[dict], key: str, with_seed: bool = True) -> str:
    """A picker's label: the cell and what it is (and its one seed, unless a Seed box on the page says it:
    the label was cut at 1280 x 800 on Embeddings), or the saved run's label."""
    src = pick(found, key)
    if src is None:
        return key
    if src["kind"] == "precomputed":
        seeds = seeds_of(found, key)
        label = GRID[GRID_ORDER[key]].label if key in GRID_ORDER else "precomputed"
        return f"{key} · {label}" + ("" if len(seeds) > 1 or not with_seed else f" · seed {seeds[0]}")
    return src["label"]


def active_key(found: list[dict]) -> str | None:
    """The source the Compare page's "Inspect on the other pages" chose, if it is among ``found``."""
    active = state.active_run()
    hit = next((s for s in found if active and str(s["path"]).startswith(str(active))), None)
    return hit["key"] if hit else None


@st.cache_resource(show_spinner="Loading the checkpoint...", max_entries=6)
def model(path: str, mtime_ns: int, fingerprint: str, _dataset):
    """The trained model of a checkpoint, in eval mode (shared by every session and page)."""
    from mambarec.recommend import load_run_model  # lazy: torch

    return load_run_model(path, _dataset)


@st.cache_resource(show_spinner="Building an untrained model...", max_entries=4)
def untrained(variant: str, fingerprint: str, _dataset):
    from mambarec.recommend import untrained_model  # lazy: torch

    return untrained_model(_dataset, variant)


@st.cache_resource(show_spinner="Initializing the same run...", max_entries=6)
def initial(path: str, mtime_ns: int, fingerprint: str, _dataset):
    """The run of a checkpoint as it was before training: same config and seed, freshly initialized."""
    from mambarec.checkpoint import load_checkpoint  # lazy: torch
    from mambarec.recommend import initial_model  # lazy: torch

    return initial_model(load_checkpoint(path)["run"], _dataset)


def load(src: dict, dataset):
    """The trained model of a source from ``sources``."""
    return model(str(src["path"]), mtime(src["path"]), dataset.fingerprint(), dataset)


def train_hint(dataset_name: str) -> str:
    """Where a trained model of this dataset can come from: ``precompute`` ships checkpoints of some datasets only;
    a classroom server trains none, where pages had told its students to train one (audit r77, item 8)."""
    if state.classroom():
        return ("This server is in classroom mode and trains nothing; its lessons read the precomputed runs, and the "
                "lecturer trains on a server started without MAMBAREC_CLASSROOM.")
    if ships_checkpoints(dataset_name):
        return ("Train one on the **Train** page, or run `python -m mambarec precompute` for the precomputed "
                "checkpoints.")
    return ("Train one on the **Train** page: precomputed/ keeps weights only for "
            + " and ".join(f"`{d}`" for d in CHECKPOINT_DATASETS)
            + ", built-in worlds whose content may ship, so `precompute` brings none for this dataset.")


def dataset_or_error(name: str):
    """The active dataset, or None after saying why it cannot be loaded (a lesson may name data not here)."""
    try:
        return state.get_dataset(name)
    except Exception as exc:  # noqa: BLE001  (shown, not raised: the page stays usable)
        st.error(f"Cannot load the dataset {name!r}: {str(exc).rstrip('.')}. Pick another dataset in the sidebar.")
        return None
