"""Compare runs: saved runs and precomputed results on the active dataset, side by side, honestly.

One row per setup (mean ± std over seeds; one seed says so), how long its seeds really ran, each
change against a reference with its 95% interval over paired seeds, REPORT.md's verdicts on the
paper's claims, charts that do not magnify noise, learning curves with bands over seeds, cold vs
warm items on scenario data, the paper's numbers, and saved runs to inspect, rename or delete.
The selection (setups, reference, tab) lives in the URL, so a lesson step can open it.
"""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from app import (
    compare_notes,
    compare_sections,
    errors,
    evidence,
    lessonbar,
    models,
    presentation,
    results,
    state,
    urlsel,
    warmup,
)
from app import lessons_content as L
from app.urlsel import Param
from mambarec import comparison, findings
from mambarec.data.coldstart import COLD_MAX_TRAIN
from mambarec.groundtruth import world_cold_items

PAGE = "compare"
# "Every run and seed" first: it was the page's first tab, and links and tests open on it
TABS = ("Every run and seed", "Plots", "Learning curves", "Claims", "Cold vs warm", "Is it noise?",
        "The paper's numbers", "Checkpoints")
NO_ROWS_NEEDED = ("Claims", "The paper's numbers", "Checkpoints")  # the tabs that draw without any run
SHOWN = ("Recall@20", "NDCG@20")
CURVES_AT_MOST = 8  # setups on the learning-curve chart: more, and the legend took the panels' place


def as_cells(text: str) -> list[str]:
    """The setups a link names, split at the commas the page writes between them (``urlsel.show_list``), not
    followed by a space: a saved setup's name lists what it changed as "use_mmd=off, lambda_cl=0.02", and split at
    every comma the page's own address came back as two unknown setups with a note (rehearsal r71)."""
    return [part for part in (s.strip() for s in re.split(r",(?!\s)", str(text))) if part]


PARAMS = (Param("cells", [], as_cells, urlsel.show_list), Param("ref", ""), Param("tab", TABS[0]),
          Param("metric", "Recall@20"), Param("curve", "valid/Recall@20"), Param("mark", 0, int))  # mark: an epoch


def key(name: str) -> str:
    return urlsel.widget_key(PAGE, name)


# ---- the selection -----------------------------------------------------------------------------------
def expand(names: list[str], groups: dict[str, list[str]], aliases: dict[str, str], known: list[str]) -> list[str]:
    """``group:<name>`` stands for every precomputed cell of that group and its subgroups; a saved run's id
    for its setup; a part that names no setup but holds commas ("paper, mgcn", typed) for its pieces."""
    out = []
    for n in names:
        if n.startswith(L.GROUP):
            out += L.group_cells(groups, n[len(L.GROUP):])
        elif n not in known and n not in aliases and "," in n:
            out += expand(urlsel.as_list(n), groups, aliases, known)
        else:
            out.append(aliases.get(n, n))
    return list(dict.fromkeys(out))


def selection(names: list[str], rows: pd.DataFrame, step: list[str] | tuple = ()) -> list[str]:
    """Restore the page's URL selection (before its widgets) and return notes on what is not here: on any cell the
    link names but those of its lesson ``step`` (``lessonbar.step_cells``), whose missing ones its note names."""
    groups = lessonbar.current_inventory()["groups"]
    aliases = dict(zip(rows["run"], rows["name"], strict=True)) if not rows.empty else {}
    check = {"cells": lambda v: [n for n in expand(v, groups, aliases, names) if n in names] or None,
             "ref": names, "tab": TABS, "metric": results.METRICS, "curve": evidence.CURVE_METRICS,
             "mark": lambda v: v if v > 0 else None}
    linked = as_cells(urlsel.incoming().get("cells", ""))
    wanted = expand(linked, groups, aliases, names)
    if urlsel.arriving(PAGE, PARAMS):  # a link that names a saved run (its card's) opens Checkpoints on it
        compare_sections.pick_linked_run(rows, linked)
    notes = urlsel.restore(PAGE, PARAMS, check)
    # not a run this session deleted (a typo was suggested under "Deleted", r74), nor a cell the step's note names
    skip = {*expand(list(step), groups, {}, names), *st.session_state.get(compare_sections.DELETED_NAMES, ())}
    absent = [n for n in wanted if n not in names and n not in skip]
    if absent and not any(n.startswith("cells=") for n in notes):  # none of them here: restore's note said so
        notes.append(f"cells={','.join(absent)}: no setup or saved run of that name on this dataset (a typo, a "
                     "run renamed or deleted since, or not trained here yet)")
    keep_reference(names)
    # a step's own missing cells are its note's to name; a cell a student typed into its link is not (audit r77)
    return [n for n in notes if not (step and n.startswith("cells=") and not absent)]


def keep_reference(names: list[str]) -> None:
    """The reference for Δ where it is not among ``names`` (another dataset or world): paper, else the first; the one
    meant back once it is here again, unless picked by hand since (a world without runs had left pop: r78, item 2)."""
    ss, ref = st.session_state, st.session_state[key("ref")]
    meant = ss.get(key("ref_meant")) or (None, None)  # (the reference meant, the stand-in shown for it)
    meant = meant if meant[1] == ref else None  # else picked by hand since
    if ref not in names:
        ss[key("ref")] = stand_in = "paper" if "paper" in names else names[0]
        meant = (meant[0] if meant else ref, stand_in) if (meant or ref) else None
    elif meant and meant[0] in names:
        ss[key("ref")], meant = meant[0], None
    ss[key("ref_meant")] = meant


# ---- the table --------------------------------------------------------------------------------------
def summary(rows: pd.DataFrame, dataset, rows_key: tuple) -> pd.DataFrame:
    runs = rows[rows["model_name"] != "pop"] if not rows.empty else rows
    table = results.aggregated(rows_key, runs) if not runs.empty else pd.DataFrame()
    if dataset is None:  # the data did not load (the page says why): no popularity to count
        return table
    try:
        pop = pd.DataFrame([results.popularity_row(dataset, rows)])
        table = pd.concat([table, pop], ignore_index=True) if not table.empty else pop
    except Exception as exc:  # noqa: BLE001
        st.warning(f"Popularity reference unavailable: {errors.said(exc)}. The table is complete without it; "
                   "it is only the floor drawn under the others.")
    return table


def show_table(table: pd.DataFrame, shown: list[str]) -> None:
    view = results.shown_rows(table, shown)
    order = ["name", "ran", *[c for m in SHOWN for c in (f"{m} text", f"Δ {m} order")]]
    st.dataframe(results.by_number(view, SHOWN, order), column_order=order, hide_index=True, key="compare.table",
                 column_config=results.column_config(view["name"], SHOWN))
    # Two lines at 1280 x 800, where seven had pushed the tabs to the window's foot (audit r74, item 7); the marks'
    # rule in full is the Δ headers' help, and every run and seed is the first tab
    st.caption("Test metrics at the epoch with the best valid Recall@20. Δ: change against the reference, paired by "
               "seed, [95% interval]; ▲/▼ beyond noise after Holm's correction over these rows, △/▽ before it only, ≈ "
               "within noise (a Δ header's help says more; a click on it sorts). pop, everyone offered the most "
               "popular items, is the floor a model must beat. In a terminal: `python -m mambarec compare`.")


# The reference picker's share of its row: a quarter of a 1024 x 768 projector's ~750 px main column (presentation
# mode) cut its "Δ vs mgcn_paper_sched" to "Δ vs mgcn_paper_sc" (rehearsal r70). A box's edges and arrow take ~60 px.
NARROW_MAIN_PX, BOX_CHROME_PX = 750, 60


def ref_share(label: str) -> float:
    """The share of the row the reference box needs to show ``label`` whole on a 1024 projector: 1/4 to 1/2."""
    return min(0.5, max(0.25, (presentation.text_px(label, 1.0) + BOX_CHROME_PX) / NARROW_MAIN_PX))


def two_boxes(swapped: bool) -> tuple:
    """Two containers in the order they are written to, drawn in that order or, when ``swapped``, the second
    above the first: a lesson step puts what its text talks about above the fold."""
    above, below = st.container(), st.container()
    return (below, above) if swapped else (above, below)


# ---- tabs --------------------------------------------------------------------------------------------
def plots(rows: pd.DataFrame, table: pd.DataFrame, shown: list[str], reference: str, changes_first: bool,
          untrained: list[str]) -> None:
    """Each setup's level from 0, the changes against the reference with their intervals (first when
    ``changes_first``: a lesson step's text talks about them, and at 1280 x 800 the second chart is below the fold),
    and the r sweep (first of all in a lesson step whose setups form one: the r lesson reads it first). The
    ``untrained`` rows stay out of the changes, as the pop row does: a -78% would squeeze every ±2% into a dot."""
    from app import figures  # lazy: plotly

    metric = st.columns(3)[0].selectbox("Metric", results.METRICS, **urlsel.bound(PAGE, "metric", results.METRICS),
                                        label_visibility=quiet_label(changes_first))
    sweep_box = st.container() if changes_first else None
    levels, changes = two_boxes(changes_first)
    picked = rows[rows["name"].isin(shown)]
    if not picked.empty:
        presentation.chart(levels, figures.metric_dots(results.intervals(picked, metric, ["name"]), metric, shown),
                           key="compare.dots")
    left_out = [n for n in untrained if n != reference]  # the reference is the chart's zero line: always drawn
    part = table[table["name"].isin(shown) & (table["source"] != "reference") & ~table["name"].isin(left_out)]
    lonely = comparison.unpaired_note(rows, part, metric, reference)
    if lonely and part[f"Δ {metric} %"].notna().sum() == 0 and len(part) > 1:  # nothing to draw: say why instead
        changes.info(lonely)
    elif (table["name"] == reference).any() and len(part) > 1:
        presentation.chart(changes, figures.delta_forest(part, metric, reference, shown),
                           under_note=changes_first, key="compare.forest")
        if lonely:
            changes.caption(lonely)
        # rows of whole models against mgcn are no removals (paper-vs-code.2 said so of them: audit r76)
        reading = ("a part whose removal costs accuracy sits left of the line (the Claims tab and the grid's summary "
                   "read the other way, the paper's model against the ablation)" if reference == "paper" else
                   f"a setup that scores below {reference} sits left of the line")
        changes.caption(f"Change of {metric} against **{reference}** with its 95% interval over the seeds both ran: "
                        f"each row minus {reference}, so {reading}. An interval that crosses the red line is within "
                        "seed noise; a hollow dot is one seed: no interval. Among many rows one may clear the line by "
                        "luck: the table's △/▽ marks a change that does not hold after Holm's correction over the "
                        "rows shown." + (
                            " The pop row (the floor, no training) is in the table, not here: its change, many times "
                            "the others', would squeeze every interval into a sliver." if (
                                table["source"] == "reference").any() else "") + (
                            f" Nor {'is' if len(left_out) == 1 else 'are'} {', '.join(left_out)}, which never "
                            "learned (the note under the table)."
                            if left_out else ""))
    sweep = comparison.r_sweep_rows(rows, shown)
    if sweep.empty:
        if not changes_first:  # a lesson step's text says what to read; this hint under each one was noise
            st.caption("Metric vs r appears once a setup has runs at two or more reduction factors r.")
        return
    points = results.intervals(sweep, metric, ["family", "r"])
    ref = table[table["name"] == reference]
    noise = ref[f"{metric} ±"].iloc[0] if not ref.empty else None
    noise = None if noise is None or noise != noise else float(noise)
    box = sweep_box or st.container()
    presentation.chart(box, figures.r_sweep(points, metric, noise, float(ref[metric].iloc[0]) if noise else None,
                                            presentation.phone()), under_note=changes_first, key="compare.r")
    first, second = ("Top", "Bottom") if presentation.phone() else ("Left", "Right")  # a phone's panels stack
    box.caption((f"{first}, whiskers: 95% interval of the mean over seeds (hollow: one seed). Grey band: {reference}'s "
                 "mean ± one seed's standard deviation; the axis always spans at least 8 of them, so a move smaller "
                 "than the noise looks small." if noise else "No setup here has two seeds, so there is no noise band "
                 "to draw.") + f" {second}: mean seconds per epoch, whiskers from the lowest to the highest seed (a "
                "run that shared its cores with others is slower).")


@st.cache_data(max_entries=32, show_spinner=False)
def curves_figure(key: tuple, _hist: pd.DataFrame, metric: str, loss: str | None, mark: int, stacked: bool) -> dict:
    """The learning-curve chart of ``_hist`` (``evidence.histories``, known by its ``key``) as a dict, cached:
    building it costs ~0.2 s, reading it back ~20 ms (a class of students opening one lesson step draws it once)."""
    from app import figures  # lazy: plotly

    return figures.learning_curves(_hist, metric, loss, mark, stacked).to_dict()


def quiet_label(in_step: bool) -> str:
    """A picker drops its label in a lesson step (the step's note names the setups and the reference, a chart's
    axis its metric): at 1280 x 800 the labels' lines were what pushed the r and converged lessons' axes under
    the fold."""
    return "collapsed" if in_step else "visible"


def curves(rows: pd.DataFrame, shown: list[str], in_step: bool, rows_key: tuple) -> None:
    if len(shown) > CURVES_AT_MOST:  # all 41 of ml100k's setups: a legend that filled the chart, 90 px panels
        st.caption(f":material/info: {len(shown)} setups are shown: the curves are of the first {CURVES_AT_MOST}. "
                   "Pick the setups to follow in 'Setups shown' above.")
        shown = shown[:CURVES_AT_MOST]
    picked = rows[rows["name"].isin(shown)]
    runs = evidence.history_key(picked, results.folders_of(rows_key)) if not picked.empty else None
    hist = evidence.histories(picked, runs)
    if hist.empty:
        st.caption("No per-epoch history for these runs.")
        return
    options = list(evidence.CURVE_METRICS)
    metric = st.columns(3)[0].selectbox("Curve", options, format_func=evidence.CURVE_METRICS.get,
                                        **urlsel.bound(PAGE, "curve", options), label_visibility=quiet_label(in_step))
    loss = "loss/total" if metric.startswith(("valid", "test")) and "loss/total" in hist else None
    mark = st.session_state.get(key("mark"), 0)
    presentation.chart(st, curves_figure(runs, hist, metric, loss, mark, presentation.phone()), under_note=in_step,
                       key="compare.curves")  # on a phone (presentation.phone) the two panels stack
    st.caption("Line: mean over seeds per epoch, and band: lowest to highest seed, while every seed runs; dotted "
               "lines: each seed that ran on after the first one stopped (hover names it). ▲: each seed's best "
               "valid epoch (its test numbers are the table's). Dotted vertical line: the epoch cap, drawn when a "
               "seed stopped there, i.e. did not converge by early stopping."
               + (f" Dark dashed line: epoch {mark}, which the link marks (`mark={mark}`)." if mark else ""))


def claims(rows: pd.DataFrame, picked: list[str]) -> None:
    """The paper's claims; with setups picked, those about them (the r lesson's three came after four others,
    under the fold at 1280 x 800), and a line saying how many others there are."""
    table = evidence.claims_table(evidence.claim_cells(rows))
    if picked:
        about = evidence.claims_about(picked)
        if about.any():
            n = int(about.sum())
            st.caption(f"The {n} claim{'s' if n != 1 else ''} about the setups shown; {int((~about).sum())} more "
                       "about others (clear 'Setups shown' to see them all).")
            table = table[about]
    st.table(table.set_index("claim"))  # a table wraps the claims; a dataframe cuts them
    st.caption("As in precomputed/REPORT.md: the paper's relative change beside ours with its 95% interval over "
               "paired seeds. agrees / disagrees: the interval excludes 0 on the paper's / the other side; "
               "inconclusive: it holds 0 (\"smaller than claimed\": it holds 0 but not the paper's change, so the "
               "paper's size is not reached here); '(1 seed)': one common seed, so no interval yet. "
               + findings.SIZE_RULES + f" Parameters compare exactly. {evidence.intervals_words()}, at 95% each: "
               "expect a few verdicts by chance (docs/protocol.md section 8).")


def cold_warm(rows: pd.DataFrame, dataset, shown: list[str], in_step: bool) -> None:
    from app import figures  # lazy: plotly

    cold = world_cold_items(dataset)
    if cold is None or not cold.any():
        st.caption("This dataset has no cold items of its own (a generated world's, each with at most 2 training "
                   "interactions): pick a scenario such as `synthetic/cold-items` in the sidebar.")
        return
    table = evidence.cold_warm_table(rows, dataset, shown)
    if table.empty:
        st.caption("Per-group metrics need checkpoints: train a run on this dataset, or regenerate precomputed/ with "
                   "the scenario sweep.")
        return
    metric, k = results.COLD_WARM_METRIC, results.COLD_WARM_K
    chance = k / dataset.n_items  # a random top-K finds about K / items of a user's held-out items
    presentation.chart(st, figures.cold_warm_bars(table, metric, chance), under_note=in_step, key="compare.coldwarm")
    st.caption(f"{int(cold.sum())} of {dataset.n_items} items are cold here (at most {COLD_MAX_TRAIN} training "
               "interactions). "
               f"{metric} over the users with a held-out item of the group (groundtruth.cold_warm_metrics): the mean "
               "over a setup's seeds with its 95% interval where the grid stored them, else its first checkpoint "
               f"(1 seed); the dashed line is what a random ranking gets, about {k} / {dataset.n_items} items. A "
               "cold bar near or below it means the model does not rank cold items from their content.")


def every_run(rows: pd.DataFrame, shown: list[str]) -> None:
    """One row per run and seed, the columns that fit 1280 px (every column: the CSV)."""
    number = {m: st.column_config.NumberColumn(m, format="%.4f", width=82) for m in ("Recall@20", "NDCG@20",
                                                                                  "Recall@10", "NDCG@10")}
    picked = rows[rows["name"].isin(shown)]
    order = {name: i for i, name in enumerate(shown)}  # setups in the order picked, then seeds ascending
    picked = picked.sort_values(["seed"], kind="stable").sort_values("name", key=lambda s: s.map(order), kind="stable")
    # two runs of one setup and seed (two browsers, one link): the summary counts one (``one_per_seed``), and a
    # column says which where that happens; the table had listed both under one name (rehearsal r72)
    counted = picked.index.isin(comparison.one_per_seed(picked, ["source", "setup"]).index) if not picked.empty else []
    repeated = not all(counted)
    picked = picked.assign(counted=counted)
    # setup, seed and epochs in columns of their own: one label of all three ran past its 310 px ("…stopped b")
    st.dataframe(picked, hide_index=True, key="compare.rows",
                 column_order=["name", "seed", "ran", *(["counted"] if repeated else []), *number, "best_epoch",
                               "s_per_epoch"],
                 column_config={"name": results.column_config(picked["name"], SHOWN)["name"],
                                "seed": st.column_config.NumberColumn("seed", width=48),
                                "ran": st.column_config.TextColumn("epochs", width=200, help="epochs run of the cap, "
                                                                   "and how the run ended"), **number,
                                "counted": st.column_config.CheckboxColumn(
                                    "in table", width=64, help="Counted in the table above: one run per setup and "
                                    "seed, the one that trained furthest (a finished run before one stopped)"),
                                "best_epoch": st.column_config.NumberColumn("best ep", width=62),
                                "s_per_epoch": st.column_config.NumberColumn("s/ep", format="%.2f", width=60)})


def render() -> None:
    name = state.active_dataset_name()
    st.title("Compare runs")
    step = lessonbar.show(PAGE)
    dataset = models.dataset_or_error(name)
    rows, message, rows_key = results.keyed_results_table(name, dataset.fingerprint() if dataset else None)
    checking = False  # the stale-check still running: polled at the page's foot
    if message:
        (st.info if message == results.PRECOMPUTE_HINT else st.warning)(message)
    elif not rows.empty and (rows["source"] == "precomputed").any():
        checking = compare_notes.stale_banner()
    if rows.empty and dataset is not None:  # no data: its error says what to do, and training it cannot be done
        st.info(f"No saved run on this dataset yet. {models.train_hint(name)}")
    table = summary(rows, dataset, rows_key)
    names = list(dict.fromkeys(table["name"])) if not table.empty else [""]
    for note in selection(names, rows, lessonbar.step_cells(step)):
        if dataset is not None:  # else its error says why; "ref='paper' is not available (choose from )" (r77)
            st.caption(f":material/info: {note}")
    ref_box = ref_share(f"Δ vs {st.session_state[key('ref')]}" if step else st.session_state[key("ref")])
    c1, c2 = st.columns([1 - ref_box, ref_box])
    offered = [n for n in names if n]
    picked = c1.multiselect("Setups shown (empty: all)", offered, **urlsel.bound_values(PAGE, "cells", offered),
                            help="Precomputed cells by name, saved runs by what they changed",
                            label_visibility=quiet_label(bool(step)))
    reference = c2.selectbox("Reference for Δ", names, **urlsel.bound(PAGE, "ref", names),
                             help="Δ columns and charts: change against this setup, paired by seed",
                             label_visibility=quiet_label(bool(step)),  # unlabelled, the box names its role
                             format_func=(lambda n: f"Δ vs {n}") if step else str)
    shown = picked or offered
    untrained = results.per_rows(rows_key, ("untrained", tuple(shown)), lambda: evidence.untrained(rows, shown))
    # A lesson step opens on what it talks about (its tab), above the fold at 1280 x 800; the table follows.
    table_box, tabs_box = two_boxes(bool(step))
    if not table.empty:
        metrics = tuple(dict.fromkeys((*SHOWN, st.session_state[key("metric")])))
        if (table["name"] == reference).any():
            table = results.deltas(rows_key, table, rows, reference, metrics, tuple(shown))
        with table_box:
            show_table(table, shown)
            partial = results.per_rows(rows_key, ("partial", reference, tuple(shown)),
                                       lambda: comparison.partial_pairings(rows, reference, shown, SHOWN[0]))
            if partial:
                st.caption(":material/info: Δ is paired by seed, so these rows are measured against part of the "
                           "reference's seeds: " + "; ".join(partial) + ".")
            compare_notes.verdicts(rows, rows_key)
            compare_notes.early_stops(rows, shown, untrained)
            compare_notes.schedules(rows, shown)
    # Only the open tab runs (on_change="rerun"): the first paint does not wait for plotly or checkpoints.
    tabs = dict(zip(TABS, tabs_box.tabs(list(TABS), key=key("tab"), on_change="rerun"), strict=True))
    for title, body in (("Every run and seed", lambda: every_run(rows, shown)),
                        ("Plots", lambda: plots(rows, table, shown, reference, bool(step), untrained)),
                        ("Learning curves", lambda: curves(rows, shown, bool(step), rows_key)),
                        ("Claims", lambda: claims(rows, picked)),
                        ("Cold vs warm", lambda: cold_warm(rows, dataset, shown, bool(step))),
                        ("Is it noise?", lambda: compare_sections.wilcoxon(rows, dataset)),
                        ("The paper's numbers", lambda: compare_sections.paper_table(name, table)),
                        ("Checkpoints", lambda: compare_sections.checkpoints(rows, dataset))):
        with tabs[title]:
            if tabs[title].open and (title in NO_ROWS_NEEDED or not rows.empty) and (
                    dataset is not None or title in ("Claims", "The paper's numbers")):
                body()
    if not table.empty:  # at the foot, below the tabs, which it had pushed to the window's edge (audit r74, item 7)
        compare_sections.export(rows, table, name, shown, reference, metrics, rows_key)
    if checking:
        compare_notes.pending_staleness()
    urlsel.publish(PAGE, PARAMS, step)
    warmup.start()


render()
