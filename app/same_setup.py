"""Precomputed seeds of the setup on the Train form, so a lecture need not train what is already there.

Two setups are the same when ``mambarec.config.setup_key`` says so: dataset, model and every model and training
setting agree, except what does not change the model a run learns (the seed, the device, the evaluation block
size, whether DREAM is compiled) or only bounds how long it runs (the epoch cap and the early-stopping patience).
The precomputed grid stops with a shorter patience than live runs; the page says so beside the match.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import streamlit as st

from app import state
from mambarec.artifacts import PrecomputedError, load_precomputed
from mambarec.catalog import precomputed_records
from mambarec.config import RunConfig, setup_key
from mambarec.config.params import model_defaults
from mambarec.config.run import train_preset
from mambarec.store import RunRecord
from mambarec.tables import seed_list


@st.cache_resource(show_spinner=False, max_entries=4)
def _index(folder: str, mtime_ns: int) -> tuple[dict[tuple, list[RunRecord]], dict[tuple[str, str], tuple]]:
    """The grid's records by ``setup_key`` (each list by seed) and the seeds of each (dataset, cell), built once per
    manifest version and shared read-only: a cached list of the 530 records was unpickled at every call (0.14 s), and
    the Train page and every saved run's card ask."""
    try:
        records = precomputed_records(load_precomputed(folder))
    except (OSError, ValueError, PrecomputedError):
        records = []
    by_setup: dict[tuple, list[RunRecord]] = {}
    for rec in records:
        try:
            by_setup.setdefault(setup_key(rec.run), []).append(rec)
        except ValueError:  # a row whose config this version cannot read
            continue
    for same in by_setup.values():
        same.sort(key=lambda r: r.seed if r.seed is not None else -1)
    seeds: dict[tuple[str, str], set] = {}
    for rec in records:
        seeds.setdefault((rec.dataset, rec.cell), set()).add(rec.seed)
    return by_setup, {key: tuple(sorted(s for s in found if s is not None)) for key, found in seeds.items()}


def _grid(folder: Path | None = None) -> tuple[dict[tuple, list[RunRecord]], dict[tuple[str, str], tuple]]:
    folder = Path(folder) if folder is not None else state.precomputed_dir()
    try:
        mtime = (folder / "manifest.json").stat().st_mtime_ns
    except OSError:
        return {}, {}
    return _index(str(folder), mtime)


def precomputed_seeds(run: RunConfig, folder: Path | None = None) -> list[RunRecord]:
    """The precomputed runs of ``run``'s setup (any seed), by seed."""
    return list(_grid(folder)[0].get(setup_key(run), []))


def _reference(run: RunConfig) -> str | None:
    """The precomputed cell a saved run is best read against: its own setup's (other seeds of it), else its starting
    preset's under the same training (a paper-schedule run was measured against the fast-schedule `paper` while the
    grid holds `paper_paper_sched`: rehearsal r72), else the paper's model where the grid has it."""
    by_setup, cells = _grid()
    base = dataclasses.replace(run, model=model_defaults(run.model_name, run.variant))
    trains = (run.train, dataclasses.replace(train_preset(run.train.schedule), seed=run.train.seed))
    for candidate in (run, *(dataclasses.replace(base, train=train) for train in trains)):
        try:
            same = by_setup.get(setup_key(candidate), [])
        except ValueError:  # a setup this version cannot key
            continue
        if same:
            return same[0].cell
    return "paper" if (run.dataset, "paper") in cells else None


def compare_query(run: RunConfig, run_id: str) -> dict[str, str]:
    """Compare's link for a saved run beside its reference (``_reference``), or alone where the grid has none."""
    ref = _reference(run)
    if ref is None:
        return {"dataset": run.dataset, "cells": run_id}
    return {"dataset": run.dataset, "cells": f"{ref},{run_id}", "ref": ref}


def unpaired_note(run: RunConfig, ref: str | None) -> str | None:
    """What Compare's link (``compare_query``, whose ``ref`` it takes) cannot show for a run whose seed its reference
    never ran: a seed-8 run beside `paper` (seeds 0-4) read "no common seed" where its Δ should be, with nothing on
    the card saying why (rehearsal r71)."""
    seeds = _grid()[1].get((run.dataset, ref), ()) if ref else ()
    if not seeds or run.train.seed in seeds:
        return None
    return (f"Seed {run.train.seed} is not one of `{ref}`'s precomputed seeds ({', '.join(map(str, seeds))}): "
            "Compare shows this run beside them, but pairs runs by seed, so it has no Δ. Train one of those seeds "
            "to measure the change.")


def describe(records: list[RunRecord], run: RunConfig | None = None) -> str:
    """One line: which seeds, how they stopped, their test Recall@20; for the form's ``run``, what a live run of
    it adds (a short demo is not told it need not train, and a seed outside theirs is told it cannot be paired)."""
    seeds = seed_list(r.seed for r in records)  # "0-4": in presentation mode the note ran under the fold
    cell = records[0].cell
    train = records[0].run.train
    recall = [r.test("Recall@20") for r in records if r.test("Recall@20") is not None]
    mean = f"; test Recall@20 {sum(recall) / len(recall):.4f}" + (" (mean)" if len(recall) > 1 else " (one seed)")
    # the form's schedule line, just above, says how this setup stops: said again word for word, the note pushed
    # "Estimate the duration" below the fold at 1280 x 800 (rehearsal r78)
    same = run is not None and (run.train.stall_epochs, run.train.epochs) == (train.stall_epochs, train.epochs)
    stops = (" (stopped as the schedule above says)" if same else f" (early stopping after {train.stall_epochs} epochs "
             f"without a better valid Recall@20, i.e. patience {train.patience} as the protocol counts it; cap "
             f"{train.epochs:,} epochs)")
    return (f"Precomputed: cell `{cell}`, seed{'s' if len(records) > 1 else ''} {seeds}{stops}"
            f"{mean if recall else ''}. They are on the Compare page" + _live_words(records, run))


def _live_words(records: list[RunRecord], run: RunConfig | None) -> str:
    if run is None:
        return ": no need to train them live."
    # short: a cap that ends the run before any of theirs ended (a 400-epoch cap is no demo where they ran 116-183)
    ran = [int(r.metrics["epochs_run"]) for r in records if r.metrics.get("epochs_run")]
    short = run.train.epochs < (min(ran) if ran else records[0].run.train.epochs)
    head = (f": they are where this setup ends; a live run of {run.train.epochs:,} epochs shows how training starts"
            if short else ": no need to train them live")
    seeds = {r.seed for r in records}
    if run.train.seed in seeds:
        return f"{head}."
    return (f"{head}. Compare pairs runs by seed: set Seed to one of {seed_list(seeds)} to "
            "measure a live run against them.")
