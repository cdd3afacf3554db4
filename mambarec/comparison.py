"""Runs side by side: saved runs and precomputed rows as comparison rows, seeds aggregated (mean ± std, never
"± 0" for one seed), and each setup's change against a reference paired by seed with its 95% t-interval, marked
after Holm's correction over the rows compared (``mambarec.stats``, ``mambarec.findings``). The app's Compare page
draws these tables (``app/results.py`` caches them); ``python -m mambarec compare`` prints them for run folders.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import pandas as pd

from mambarec import findings, stats
from mambarec.catalog import model_name_of
from mambarec.config import ConfigError, setup_label
from mambarec.grid import GRID
from mambarec.groundtruth import COLD_WARM_METRIC, ITEM_GROUPS, stored_group_metrics
from mambarec.store import INTERRUPTED, RunRecord, named_by_hand

METRICS = tuple(f"{m}@{k}" for k in (10, 20) for m in ("Recall", "NDCG", "Precision"))
MAMBAREC_PREFIX = "mambarec/"  # ``setup_label``'s name of a MambaRec variant: "mambarec/paper"
NO_COMMON_SEED = "no common seed"  # a row none of whose seeds the reference ran: nothing to pair, no change
ALL_METRICS = (*METRICS, "MAP@10", "MAP@20")  # what a row carries and `compare --metrics` takes (every run stores MAP)
TEXT_METRICS = ("Recall@20", "NDCG@20")  # the printed table's default columns, as on the Compare page
DEFAULT_REFERENCE = "paper"  # the row others are measured against when it is there (the grid's cell)
# The legend's sentences, each printed only when the table shows what it explains (a two-row table got all five,
# "no common seed" among them, under it: rehearsal r54, F19). The first always: it says what Δ is.
LEGEND_PARTS = (
    ("", "Δ: change against the reference in % of its mean, paired by seed over the seeds both ran, with its 95% "
         "t-interval."),
    ("▲▼", "▲/▼ when the interval excludes 0 and that holds after Holm's correction over the rows shown."),
    ("△▽", "△/▽ when the interval excludes 0 but that does not hold after Holm's correction."),
    ("≈", "≈ when the interval holds 0."),
    ("±", "One seed is one value: no interval."),
    (NO_COMMON_SEED, f"{NO_COMMON_SEED}: the row ran none of the reference's seeds, so there is nothing to pair."),
)


def legend(cells: Sequence[str], one_seed: bool) -> str:
    """The legend's sentences for a table whose Δ cells are ``cells``; ``one_seed`` when a row ran one seed."""
    text = " ".join(cells)

    def shown(marks: str) -> bool:
        if marks == "±":
            return one_seed
        if marks == NO_COMMON_SEED:
            return NO_COMMON_SEED in text
        return not marks or any(m in text for m in marks)

    return " ".join(words for marks, words in LEGEND_PARTS if shown(marks))


def ran_text(epochs_run, cap, stopped_early: bool, cancelled: bool, interrupted: bool | str = False) -> str:
    """How long a run trained against its cap: "3 of 20 ep, early stop", "20 of 20 ep (the cap)"; a run stopped by
    no one's hand (``store.INTERRUPTED``: listed from its last save after its process died, or why in words) is
    "interrupted", not "stopped by hand"."""
    if not epochs_run:
        return "stopped before epoch 1" if cancelled else "no training"
    head = f"{int(epochs_run)} of {int(cap)} ep" if cap else f"{int(epochs_run)} ep"
    if cancelled:
        why = interrupted if isinstance(interrupted, str) else "its process died; kept from its last save"
        return f"{head}, " + (f"interrupted ({why})" if interrupted else "stopped by hand")
    if stopped_early:
        return f"{head}, early stop"
    return f"{head} (the cap)" if cap and int(epochs_run) >= int(cap) else head


def record_row(record) -> dict:
    """One comparison row of a ``mambarec.store.RunRecord`` (a saved run or a precomputed row)."""
    cfg, m = record.config, record.metrics
    try:
        setup, family = setup_label(cfg), setup_label(cfg, ignore=("reduction_factor",))
        run = record.run
        r = getattr(run.model, "reduction_factor", None)
        variant, cap, schedule = run.variant, run.train.epochs, run.train.schedule
        config_ok = True
    except ValueError:  # a config this version cannot read: still listed, by its id (never the default reference)
        setup = family = record.id
        r = variant = cap = schedule = None
        config_ok = False
    ran = ran_text(m.get("epochs_run"), cap, bool(m.get("stopped_early")), bool(m.get("cancelled")),
                   m.get(INTERRUPTED) or False)
    # a generated world's run in the grid stores its test metric on cold and warm items (tasks.ground_truth)
    groups = stored_group_metrics(m)
    head = record.cell if record.cell else setup.rsplit(" · ", 1)[0]
    # a saved run's name is its setup, whose last part is the epoch cap: say so ("≤20 ep"), the runs column says
    # how many it ran
    name = record.cell or (f"{head} · ≤{cap} ep" if cap else setup)
    by_hand = not record.cell and named_by_hand(record.id)
    return {
        "source": record.source, "run": record.id, "name": name, "setup": setup, "family": family,
        # a name a person gave comes first: last, a picker cut the one part that told two runs apart
        # without "mambarec/" (the pickers' names are the cells' and variants' own): half-width pickers cut the run's
        # state, the part that told two runs of one setup apart (rehearsal r72)
        "label": (f"{record.id} · " if by_hand else "") + f"{head.removeprefix(MAMBAREC_PREFIX)} · seed "
                 f"{record.seed} · ran {ran}"
        + ("" if record.cell or by_hand else f" · {record.id}"),
        # a title's room: what it is and its seed, no stamped folder id; a name a person gave it stands for the setup
        "short": f"{record.id if by_hand else head} · seed {record.seed}",
        "cell": record.cell, "dataset": record.dataset, "model_name": model_name_of(record), "variant": variant,
        "r": r, "schedule": schedule, "seed": record.seed, **{k: m.get(f"test/{k}") for k in ALL_METRICS},
        **{f"{g} {COLD_WARM_METRIC}": groups.get(g, {}).get(COLD_WARM_METRIC) for g in ITEM_GROUPS},
        "valid Recall@20": m.get("valid/Recall@20"), "n_params": m.get("n_params"),
        "s_per_epoch": m.get("s_per_epoch"), "best_epoch": m.get("best_epoch"), "epochs_run": m.get("epochs_run"),
        "epochs_cap": cap, "ran": ran, "stopped": bool(m.get("cancelled")), "interrupted": bool(m.get(INTERRUPTED)),
        "stopped_early": bool(m.get("stopped_early")), "fingerprint": record.fingerprint,
        "config_ok": config_ok, "checkpoint": str(record.checkpoint) if record.checkpoint else None,
        "folder": str(record.folder) if record.folder else None,
    }


def on_dataset(rows: pd.DataFrame, name: str, fingerprint: str | None) -> pd.DataFrame:
    """Rows of the same data (fingerprint), or of the same name where a row or the dataset has no fingerprint."""
    same_name = rows["dataset"] == name
    if fingerprint is None:
        return rows[same_name].reset_index(drop=True)
    return rows[(rows["fingerprint"] == fingerprint) | (rows["fingerprint"].isna() & same_name)].reset_index(drop=True)


def spread_text(summary) -> str:
    """``0.2446 ± 0.0019`` over seeds; one seed is one seed, never ``± 0.0000``."""
    if summary.n == 0:
        return "–"
    return f"{summary.mean:.4f} ± {summary.std:.4f}" if summary.std is not None else f"{summary.mean:.4f} · 1 seed"


def ran_summary(group: pd.DataFrame) -> str:
    """The epochs a group's seeds ran and how they ended: "3× 20/20 ep · cap", "3× 11–15 ep · early stop",
    "2× 6/20 ep · 1 early stop, 1 by hand". The cap is named only when a seed did not stop early (it says
    nothing about a run that early stopping ended, and it costs the column's width at 1280 x 800)."""
    runs = group["epochs_run"].dropna().astype(int)
    if runs.empty or runs.max() == 0:
        return "stopped before epoch 1" if group["stopped"].any() else "no training"
    cap = group["epochs_cap"].dropna()
    span = f"{runs.min()}" if runs.min() == runs.max() else f"{runs.min()}–{runs.max()}"
    lost = int(group["interrupted"].sum()) if "interrupted" in group else 0
    early, by_hand = int(group["stopped_early"].sum()), int(group["stopped"].sum()) - lost
    at_cap = int((runs >= cap.max()).sum()) if not cap.empty else 0
    all_early = early == len(group)
    head = f"{len(group)}× {span} ep" if cap.empty or all_early else f"{len(group)}× {span}/{int(cap.max())} ep"
    kinds = [(n, what) for n, what in ((early, "early stop"), (at_cap, "cap"), (by_hand, "by hand"),
                                        (lost, "interrupted")) if n]
    if len(kinds) == 1:
        return f"{head} · {kinds[0][1]}"
    return f"{head} · " + ", ".join(f"{n} {what}" for n, what in kinds) if kinds else head


def one_per_seed(rows: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """``rows`` with one run per group of ``by`` and seed, in their own order: the run that trained furthest (a
    finished run before one stopped by hand, more epochs before fewer), then the newest (the first listed). The same
    seed twice is the same run twice (training is deterministic) unless one was cut short; by age alone, a run
    stopped in its first epoch hid the finished one and became the table's reference."""
    if rows.empty:
        return rows
    ranked = rows
    if {"stopped", "epochs_run"} <= set(rows.columns):
        rank = pd.DataFrame({"stopped": rows["stopped"].astype(bool), "epochs": -rows["epochs_run"].fillna(0)},
                            index=rows.index)
        ranked = rows.loc[rank.sort_values(["stopped", "epochs"], kind="stable").index]
    keep = ranked.drop_duplicates(subset=[*by, "seed"], keep="first").index
    return rows[rows.index.isin(keep)]


def in_grid_order(rows: pd.DataFrame) -> pd.DataFrame:
    """Precomputed rows in the grid's order (``grid.GRID``: README.md and REPORT.md list the cells so), then the
    rest as they came; the grid's journal holds runs in the order they finished (r16 before r2, r4 and r1)."""
    if "cell" not in rows:
        return rows
    rank = {cell.name: i for i, cell in enumerate(GRID)}
    grid_cell = (rows["source"] == "precomputed") & rows["cell"].isin(rank)
    key = rows["cell"].map(rank).where(grid_cell, len(rank))
    return rows.iloc[key.argsort(kind="stable")]


def aggregate_seeds(rows: pd.DataFrame, metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Mean and sample std over the seeds of each setup (``mambarec.stats``): ``<metric> ±`` holds the
    std, empty (NaN) for a single seed, which is one seed, not a zero spread; ``<metric> text`` says so."""
    if rows.empty:
        return rows
    rows = in_grid_order(one_per_seed(rows, ["source", "setup"]))
    extra = [c for c in ("n_params", "s_per_epoch") if c in rows]
    out = []
    for (source, setup), group in rows.groupby(["source", "setup"], sort=False, dropna=False):
        first = group.iloc[0]
        entry = {"source": source, "setup": setup, "name": first.get("name", setup), "cell": first.get("cell"),
                 "seeds": len(group), "ran": ran_summary(group) if "epochs_run" in group else "",
                 "model_name": first["model_name"], "r": first["r"]}
        for m in metrics:
            summary = stats.summarize(group[m].tolist())
            entry[m], entry[f"{m} ±"] = summary.mean, (summary.std if summary.std is not None else float("nan"))
            entry[f"{m} text"] = spread_text(summary)
        entry.update({c: group[c].mean() for c in extra})
        out.append(entry)
    order = ["source", "name", "setup", "cell", "seeds", "ran",
             *[c for m in metrics for c in (m, f"{m} ±", f"{m} text")], "model_name", "r", *extra]
    return pd.DataFrame(out)[order]


def mean_interval(values) -> dict:
    """Mean over seeds and the 95% t-interval of that mean (``mambarec.stats``); no interval for one seed."""
    s = stats.summarize(list(values))
    low, high = s.interval() or (None, None)
    return {"mean": s.mean, "seeds": s.n, "low": low, "high": high}


def intervals(rows: pd.DataFrame, metric: str, by: list[str]) -> pd.DataFrame:
    """``mean_interval`` of ``metric`` per group of ``by``, with the groups' mean, lowest and highest seconds per
    epoch over seeds."""
    out = [{**dict(zip(by, keys if isinstance(keys, tuple) else (keys,), strict=True)),
            **mean_interval(group[metric].dropna()), "s_per_epoch": group["s_per_epoch"].mean(),
            "s_min": group["s_per_epoch"].min(), "s_max": group["s_per_epoch"].max()}
           for keys, group in rows.groupby(by, sort=False)]
    return pd.DataFrame(out)


def r_sweep_rows(rows: pd.DataFrame, shown: Collection[str]) -> pd.DataFrame:
    """The rows of an r sweep among the setups ``shown``: MambaRec's runs whose family (the setup but r) ran at two
    or more reduction factors."""
    sweep = rows[(rows["model_name"] == "mambarec") & rows["name"].isin(shown)].dropna(subset=["r"])
    return sweep[sweep.groupby("family")["r"].transform("nunique") >= 2] if not sweep.empty else sweep


def delta_text(rel, note: str = "") -> str:
    """A relative paired difference in words: ▲/▼ when its 95% interval excludes 0 and that holds after Holm's
    correction over the rows compared with it (``note``, from ``findings.holm_notes``; no note: nothing to
    correct), △/▽ when it excludes 0 but not after that correction, ≈ when it holds 0."""
    if rel is None or math.isnan(rel.mean):
        return ""
    if not rel.has_interval:
        return f"{rel.mean:+.1f}% ({rel.n} seed{'s' if rel.n != 1 else ''})"
    side = rel.excludes_zero()
    weak = note.startswith("not")
    mark = {1: "△" if weak else "▲", -1: "▽" if weak else "▼", 0: "≈"}[side]
    return f"{mark} {stats.signed(rel.mean)}% [{stats.signed(rel.low)}, {stats.signed(rel.high)}]"


def paired(rows: pd.DataFrame, metric: str) -> dict[str, dict[int, float]]:
    """name -> seed -> metric, one value per seed. By the table's name, not the setup: a saved run whose setup
    is a precomputed cell's (the default Train setup is the ``paper`` cell's) is its own row, not the cell."""
    return {name: group.set_index("seed")[metric].dropna().to_dict()
            for name, group in one_per_seed(rows, ["name"]).groupby("name")}


def add_deltas(table: pd.DataFrame, rows: pd.DataFrame, reference: str,
               metrics: tuple[str, ...] = METRICS, shown: Collection[str] | None = None) -> pd.DataFrame:
    """Per row (by ``name``), the change of each metric against the row named ``reference`` in % of its mean, paired by
    seed over the seeds both ran (``mambarec.stats.relative_change``): ``Δ <m> %`` is the mean change,
    ``Δ <m> 95% CI`` its t-interval ("1 seed: no interval" when they share one seed) and ``Δ <m>`` both in
    words (``delta_text``); ``Δ <m> low/high`` the interval's ends, for the charts. Holm's family is the rows
    ``shown`` (default: all) and the always-drawn reference row: the correction is over the rows a reader
    compares, not over cells out of sight (over ml100k's 40 cells, a change that holds over the 3 rows of a
    lesson step read as not holding)."""
    if reference not in set(table["name"]) or rows.empty:
        return table
    out = table.copy()
    rows = rows[rows["name"].isin([reference, *out["name"]])]  # pairing reads no other setup
    for m in metrics:
        by_name = paired(rows, m)
        ref = by_name.get(reference)
        means, cis, words, lows, highs = [], [], [], [], []
        rels = [stats.relative_change(by_name[name], ref, m)
                if name in by_name and ref is not None and name != reference else None for name in out["name"]]
        family = [rel if shown is None or name in shown or source == "reference" else None  # pop: always drawn
                  for name, source, rel in zip(out["name"], out["source"], rels, strict=True)]
        for name, rel, note in zip(out["name"], rels, findings.holm_notes(family), strict=True):
            means.append(rel.mean if rel is not None else float("nan"))
            lows.append(rel.low if rel is not None and rel.has_interval else float("nan"))
            highs.append(rel.high if rel is not None and rel.has_interval else float("nan"))
            no_interval = f"{rel.n} seed{'s' if rel.n != 1 else ''}: no interval" if rel is not None else ""
            cis.append("" if rel is None else (f"[{stats.signed(rel.low)}, {stats.signed(rel.high)}]"
                                               if rel.has_interval else no_interval))
            lonely = rel is None and name in by_name and ref is not None and name != reference
            words.append("reference" if name == reference else (NO_COMMON_SEED if lonely else delta_text(rel, note)))
        out[f"Δ {m} %"], out[f"Δ {m} 95% CI"], out[f"Δ {m}"] = means, cis, words
        out[f"Δ {m} low"], out[f"Δ {m} high"] = lows, highs
    return out


def comparison_rows(records: Sequence[RunRecord]) -> pd.DataFrame:
    """``record_row`` of each record, one row per run and seed."""
    return pd.DataFrame([record_row(r) for r in records])


def default_reference(names: Sequence[str], usable: Collection[str] | None = None) -> str:
    """The grid's ``paper`` cell when it is among ``names``, else the setup that changes the fewest settings of its
    preset (a saved run's name lists them: "mambarec/paper · use_mmd=off · ≤20 ep"), the first of a tie; among the
    ``usable`` names when any is (rows with numbers and a config this version reads: a run whose config could not be
    read is named by its folder, which has no " · " and always won)."""
    if DEFAULT_REFERENCE in names:
        return DEFAULT_REFERENCE
    candidates = [n for n in names if usable is None or n in usable] or list(names)
    return min(candidates, key=lambda name: name.count(" · "))


def compare_table(rows: pd.DataFrame, reference: str | None = None,
                  metrics: Sequence[str] = TEXT_METRICS) -> tuple[pd.DataFrame, str]:
    """``aggregate_seeds`` of ``rows`` (``comparison_rows`` of one dataset) with ``add_deltas`` against ``reference`` (a
    row's name; default: ``default_reference``), and that reference. Raises ConfigError for an unknown metric or
    reference, with the valid ones."""
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown:
        raise ConfigError(f"unknown metric {', '.join(unknown)}; choose from {', '.join(ALL_METRICS)}")
    if rows.empty:
        raise ConfigError("no runs to compare")
    metrics = tuple(metrics)
    table = aggregate_seeds(rows, metrics)
    names = list(table["name"])
    usable = rows[metrics[0]].notna() & (rows["config_ok"] if "config_ok" in rows else True)
    finished = usable & ~rows["stopped"].astype(bool) if "stopped" in rows else usable
    # a setup whose runs were all stopped by hand stands for no one: it won a tie as the newest (rehearsal r54)
    pool = set(rows.loc[finished, "name"]) or set(rows.loc[usable, "name"])
    reference = reference_name(reference, names, rows) if reference else default_reference(names, pool)
    return add_deltas(table, rows, reference, metrics), reference


def reference_name(given: str, names: Sequence[str], rows: pd.DataFrame) -> str:
    """The row ``given`` names: a row's name, a run folder's name (its setup's row), or a part of one row's name
    alone (a saved run's row is its setup, "mambarec/paper · use_mmd=off · ≤15 ep", which nobody types)."""
    if given in names:
        return given
    if "run" in rows and (rows["run"] == given).any():
        return str(rows.loc[rows["run"] == given, "name"].iloc[0])
    matches = [n for n in names if given.lower() in n.lower()]
    if len(matches) == 1:
        return matches[0]
    said = f"matches {len(matches)} rows" if matches else "is not one of the rows"
    raise ConfigError(f"--reference {given!r} {said}; give a row's name, a part of one row's name alone, or a run "
                      "folder's name; the rows: " + "; ".join(matches or names))


def partial_pairings(rows: pd.DataFrame, reference: str, names: Sequence[str], metric: str) -> list[str]:
    """One sentence per row of ``names`` whose change pairs with only some of the reference's seeds, with the mean of
    those seeds: its Δ is against them, not against the reference's mean printed beside it (3 seeds of a live run
    against `official`'s 0-2 read +8.2% beside means 2.9% apart, the reference's seeds 3-4 being far higher)."""
    if rows.empty or metric not in rows:  # nothing to pair (no runs on this dataset yet)
        return []
    seeds = paired(rows[rows["name"].isin([reference, *names])], metric)  # the rest of the grid is not asked about
    ref = seeds.get(reference, {})
    out = []
    for name in names:
        common = sorted(set(seeds.get(name, {})) & set(ref)) if name != reference else []
        if common and len(common) < len(ref):
            mean = sum(ref[s] for s in common) / len(common)
            out.append(f"{name}: against {reference}'s seed{'s' if len(common) > 1 else ''} "
                       f"{', '.join(map(str, common))} only (their {metric} mean {mean:.4f}; all "
                       f"{len(ref)}: {sum(ref.values()) / len(ref):.4f})")
    return out


def seeds_words(seeds) -> str:
    """``seed 3`` or ``seeds 0, 1, 2``."""
    seeds = sorted(seeds)
    return f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ", ".join(map(str, seeds))


def unpaired_note(rows: pd.DataFrame, part: pd.DataFrame, metric: str, reference: str) -> str | None:
    """The setups of ``part`` that ran none of the reference's seeds, said with the seeds: a live run (seed 2026)
    against the grid's seeds 0-4 drew an empty chart with blank changes and no word why."""
    names = [n for n in part["name"] if n != reference and part.loc[part["name"] == n, f"Δ {metric}"].iloc[0]
             == NO_COMMON_SEED]
    if not names:
        return None
    seeds = {n: set(g["seed"].dropna().astype(int)) for n, g in rows.groupby("name")}
    which = "; ".join(f"{n} ran {seeds_words(seeds.get(n, ()))}" for n in names)
    return (f"No change to draw for {len(names)} setup{'s' if len(names) != 1 else ''}: {which}, and {reference} ran "
            f"{seeds_words(seeds.get(reference, ()))}. A change is paired by seed: train one of {reference}'s seeds "
            "(the Train page's Seed box) to measure it.")


def compare_text(table: pd.DataFrame, reference: str, metrics: Sequence[str] = TEXT_METRICS) -> str:
    """``compare_table``'s result as Markdown: per setup its seeds and epochs, each metric's mean ± std over seeds and
    its change against the reference, then the legend."""
    head = "| setup | seeds × epochs | " + " | ".join(f"{m} | Δ {m}" for m in metrics) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(metrics))]
    for _, row in table.iterrows():
        cells = [f"{row[f'{m} text']} | {row[f'Δ {m}'] or '-'}" for m in metrics]
        lines.append(f"| {row['name']} | {row['ran']} | " + " | ".join(cells) + " |")
    deltas = [str(row[f"Δ {m}"] or "") for _, row in table.iterrows() for m in metrics]
    one_seed = any("±" not in str(row[f"{m} text"]) for _, row in table.iterrows() for m in metrics)
    return "\n".join([*lines, "", f"Reference: {reference}. {legend(deltas, one_seed)}"])


def compare_csv(table: pd.DataFrame, reference: str, metrics: Sequence[str] = TEXT_METRICS) -> pd.DataFrame:
    """``compare_table``'s result as numbers, one row per setup: seeds, epochs, and per metric its mean, sample std
    (empty for one seed) and the change against ``reference`` in % with its 95% interval's ends (empty where there
    is none)."""
    out = pd.DataFrame({"setup": table["name"], "reference": table["name"] == reference, "seeds": table["seeds"],
                        "epochs": table["ran"]})
    for m in metrics:
        out[m], out[f"{m} std"] = table[m], table[f"{m} ±"]
        for part, column in (("%", "Δ% vs reference"), ("low", "Δ% low"), ("high", "Δ% high")):
            out[f"{m} {column}"] = table.get(f"Δ {m} {part}", math.nan)
    return out
