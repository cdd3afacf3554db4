"""What the numbers are worth: REPORT.md's verdicts on the paper's claims, learning curves from each run's
``history``, and cold vs warm item metrics on scenario data (whether ``precomputed/`` is still today's is
``app.staleness``'s).

Every statistic comes from ``mambarec`` (``findings.claim_verdict``, ``stats.summarize``,
``groundtruth.cold_warm_metrics``); this module gathers and caches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app import paths, results
from mambarec import findings, stats
from mambarec.catalog import list_runs
from mambarec.findings import CLAIMS, claim_verdict
from mambarec.groundtruth import ITEM_GROUPS, cold_warm_metrics, world_cold_items
from mambarec.report import INTERVAL
from mambarec.summary import LOWEST_BPR, in_short, never_learned

CURVE_METRICS = {"valid/Recall@20": "valid Recall@20", "valid/NDCG@20": "valid NDCG@20",
                 "test/Recall@20": "test Recall@20 (for reading only: selection uses valid)",
                 "loss/total": "training loss (total)", "loss/bpr": "BPR loss", "loss/mmd": "MMD loss",
                 "loss/cl": "InfoNCE loss"}


# ---- the paper's claims ------------------------------------------------------------------------
def claim_cells(rows: pd.DataFrame) -> dict[str, dict[int, dict]]:
    """``findings.cells_of`` on the page's precomputed rows of one dataset, each row with the keys ``report`` reads:
    "test/<metric>" beside the table's own columns (best epoch and early stop too, which the warm-up notes need:
    a copy that kept only the metrics dropped the summary's warm-up seeds from the app)."""
    if rows.empty or "cell" not in rows:
        return {}
    pre = rows[(rows["source"] == "precomputed") & rows["cell"].notna()]
    if pre.empty:
        return {}
    records = pre.assign(**{f"test/{m}": pre[m] for m in results.METRICS}).to_dict("records")
    return findings.cells_of(records, records[0]["dataset"])


def grid_in_short(dataset: str, folder: Path | None = None) -> str | None:
    """The precomputed grid's findings on ``dataset`` (by name) in plain words, as REPORT.md's Summary and the
    Compare page say them (``summary.in_short``); None when the folder holds nothing that pairs there."""
    folder = folder or paths.precomputed_dir()
    return _grid_in_short(str(folder), paths.precomputed_signature(folder), dataset)


@st.cache_data(max_entries=8, show_spinner=False)
def _grid_in_short(folder: str, signature: tuple, dataset: str) -> str | None:
    """Once per folder version and dataset: ``claim_cells`` walks every precomputed row, and a lesson reruns often."""
    rows, _ = results.precomputed_results(folder, signature)
    return in_short(claim_cells(rows[rows["dataset"] == dataset])) if not rows.empty else None


def claims_table(cells: dict[str, dict[int, dict]]) -> pd.DataFrame:
    """REPORT.md's claims table on these precomputed cells (``claim_cells``): the paper's change, ours with its 95%
    interval, the verdict."""
    out = []
    for claim in CLAIMS:
        measured, verdict = claim_verdict(claim, cells)
        # the verdict beside the claim: last, it was off a phone's screen in a table that scrolls sideways, where the
        # r and parts lessons ask students to read it (audit r77, item 7)
        out.append({"claim": claim.claim, "verdict": verdict, "measured here": measured,
                    "paper": f"{claim.paper_change:+.1f}%{'+' if claim.at_least else ''}",
                    "compared": f"{claim.cell} vs {claim.reference}, {claim.metric.split('/')[-1]}",
                    "where": claim.source})
    return pd.DataFrame(out)


@st.cache_data(max_entries=4, show_spinner=False)
def report_intervals(folder: str, signature: float) -> int | None:
    """How many intervals of a difference the grid's REPORT.md holds (as its Setup counts them: ``report.INTERVAL``),
    None without one; ``signature``: the file's mtime. The Claims tab had said "some 250" whatever the grid."""
    path = Path(folder) / "REPORT.md"
    return len(INTERVAL.findall(path.read_text(encoding="utf-8"))) if signature and path.is_file() else None


def intervals_words() -> str:
    """"The grid's REPORT.md holds 340 such intervals", or words without a number where it has none."""
    path = paths.precomputed_dir() / "REPORT.md"
    n = report_intervals(str(path.parent), path.stat().st_mtime if path.is_file() else 0.0)
    return f"The grid's REPORT.md holds {n:,} such intervals" if n else "A grid holds hundreds of such intervals"


def claims_about(setups: list[str]) -> pd.Series:
    """For each of CLAIMS in ``claims_table``'s order: whether both its setups are among ``setups``."""
    return pd.Series([claim.cell in setups and claim.reference in setups for claim in CLAIMS])


def verdict_counts(table: pd.DataFrame) -> dict[str, int]:
    """How many claims agree, disagree, are inconclusive or were not measured."""
    kinds = (stats.AGREES, stats.DISAGREES, stats.INCONCLUSIVE, stats.NOT_MEASURED)
    return {k: int(table["verdict"].str.startswith(k).sum()) for k in kinds} if not table.empty else {}


# ---- learning curves -------------------------------------------------------------------------
def _history_rows(records, source: str) -> list[dict]:
    out = []
    for rec in records:
        for h in rec.history:
            out.append({"source": source, "run": rec.id, "cell": rec.cell, "seed": rec.seed,
                        "fingerprint": rec.fingerprint, "dataset": rec.dataset,
                        **{k: v for k, v in h.items() if k == "epoch" or k in CURVE_METRICS}})
    return out


@st.cache_data(max_entries=4, show_spinner=False)
def _precomputed_histories(folder: str, signature: tuple) -> pd.DataFrame:
    records, _ = results.precomputed_records(folder, signature)
    return pd.DataFrame(_history_rows(records, "precomputed"))


@st.cache_data(max_entries=8, show_spinner=False)
def _saved_histories(root: str, signature: tuple) -> pd.DataFrame:
    return pd.DataFrame(_history_rows(list_runs(Path(root)), "saved"))


HISTORY_KEYS = ["source", "run", "dataset", "name", "best_epoch", "epochs_cap", "stopped_early"]  # per run shown


def history_key(rows: pd.DataFrame, folders: tuple | None = None) -> tuple:
    """What ``histories(rows)`` depends on, small enough to hash on every page run: the runs' keys and both folders'
    signatures (``folders``: ``results.folders_of`` the rows' key, where the page has read them already). Hashing
    the history itself (every epoch of every run shown) had cost a page run more than reading it back (a room of 30
    students opening one lesson step at once, ``app/perf.py --room``)."""
    if folders is None:
        folder, root = paths.precomputed_dir(), paths.runs_root()
        folders = (str(folder), paths.precomputed_signature(folder), str(root), paths.runs_signature(root))
    return (tuple(rows[HISTORY_KEYS].itertuples(index=False, name=None)), *folders)


def histories(rows: pd.DataFrame, key: tuple | None = None) -> pd.DataFrame:
    """Per-epoch history of the runs in ``rows`` (one row per run and epoch), with each run's ``name``
    (cell or setup) and its best epoch, for the learning-curve chart; ``key`` is ``history_key(rows)`` when the
    caller has it."""
    if rows.empty:
        return pd.DataFrame()
    return _histories(key or history_key(rows), rows)


@st.cache_data(max_entries=64, show_spinner=False)
def _histories(key: tuple, _rows: pd.DataFrame) -> pd.DataFrame:
    _, folder, folder_signature, root, root_signature = key
    frames = [_precomputed_histories(folder, folder_signature), _saved_histories(root, root_signature)]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame()
    every = pd.concat(frames, ignore_index=True)
    # a precomputed run id ("paper s0") repeats on every dataset of the grid: match the dataset too
    return every.merge(_rows[HISTORY_KEYS], on=["source", "run", "dataset"], how="inner")


def untrained(rows: pd.DataFrame, shown: list[str]) -> list[str]:
    """The shown precomputed cells that never learned to rank (``summary.never_learned``, as REPORT.md's Summary
    names them): every seed stopped on the warm-up plateau, so their rows measure untrained models. Each row carries
    its lowest BPR loss, from its history (``summary.LOWEST_BPR``)."""
    picked = rows[(rows["source"] == "precomputed") & rows["name"].isin(shown)] if not rows.empty else rows
    if picked.empty:
        return []
    hist = histories(picked)
    lowest = hist.groupby("run")["loss/bpr"].min() if not hist.empty and "loss/bpr" in hist else pd.Series()
    records = [r | {LOWEST_BPR: lowest.get(r["run"])} for r in picked.to_dict("records")]
    dataset = picked["dataset"].iloc[0]
    return list(never_learned(findings.cells_of(records, dataset), dataset))


# ---- cold vs warm items ----------------------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner="Ranking every user's items (cold vs warm)...")
def cold_warm(checkpoint: str, mtime_ns: int, fingerprint: str, _dataset) -> dict[str, dict]:
    """``groundtruth.cold_warm_metrics`` of one checkpoint's test ranking: group -> users, held-out, metrics."""
    from mambarec.checkpoint import load_model  # lazy: torch
    from mambarec.recommend import item_scores  # lazy: torch

    model = load_model(checkpoint, _dataset)
    scores = item_scores(model, np.arange(_dataset.n_users))
    return {name: {"users": g.users, "held-out": g.heldout, **g.metrics}
            for name, g in cold_warm_metrics(scores, _dataset, cold=world_cold_items(_dataset)).items()}


def cold_warm_table(rows: pd.DataFrame, dataset, shown: list[str]) -> pd.DataFrame:
    """``results.COLD_WARM_METRIC`` on cold and on warm test items per setup shown, in their order (name, group,
    mean, seeds, low, high): over every seed with its 95% interval where the runs stored it (the grid's, from
    ``tasks.ground_truth``), else from the setup's first checkpoint (one seed, no interval); setups with
    neither are left out."""
    metric = results.COLD_WARM_METRIC
    out = []
    for name in shown:
        mine = rows[rows["name"] == name]
        stored = mine[mine[f"cold {metric}"].notna()] if f"cold {metric}" in mine else mine.iloc[:0]
        if not stored.empty:
            out += [{"name": name, "group": g, **results.mean_interval(stored[f"{g} {metric}"])}
                    for g in ITEM_GROUPS]
        elif mine["checkpoint"].notna().any():
            path = mine["checkpoint"].dropna().iloc[0]
            groups = cold_warm(path, Path(path).stat().st_mtime_ns, dataset.fingerprint(), dataset)
            out += [{"name": name, "group": g, "mean": groups[g].get(metric, float("nan")), "seeds": 1,
                     "low": None, "high": None} for g in ITEM_GROUPS if g in groups]
    return pd.DataFrame(out, columns=["name", "group", "mean", "seeds", "low", "high"])
