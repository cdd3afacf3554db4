"""Sections of the Compare page that work on single runs: the paired Wilcoxon test, the paper's published
numbers beside ours, and checkpoints (inspect, reuse, download, upload; rename or delete a saved run); and the
page's CSV export. Kept apart from ``app/pages/compare.py`` so that page reads as its layout."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pandas as pd
import streamlit as st

from app import errors, flash, models, paper_numbers, results, run_actions, state, urlsel
from mambarec.comparison import compare_csv, one_per_seed
from mambarec.config import RunConfig


def kept(key: str) -> str:
    """Where ``held`` keeps the last value of the widget ``key``."""
    return f"{key}.kept"


def held(key: str, options: list, fallback=None) -> dict:
    """A picker's ``key`` and ``on_change``, its last pick put back first when Streamlit dropped its state.

    Only the open tab of the Compare page draws, and Streamlit forgets a widget the moment a run does not draw it,
    so a visit to another tab or page sent these pickers back to their first option (and hid a Wilcoxon result
    with them). ``fallback`` (when among ``options``) stands in for a pick never made."""
    ss = st.session_state
    if ss.get(key) not in options:
        last = [v for v in (ss.get(kept(key)), fallback) if v is not None and v in options]
        if last:
            ss[key] = last[0]
    return {"key": key, "on_change": lambda: ss.__setitem__(kept(key), ss[key])}


SEED_NOISE = ("This test takes each run as trained: it weighs the noise between users, not between seeds, and "
              "another seed of either setup can land elsewhere (a seed that early stopping ended in a dip after an "
              "early peak, say). Whether one setup beats another: the table's Δ, paired over seeds with its "
              "interval.")


def wilcoxon(rows: pd.DataFrame, dataset) -> None:
    st.caption("A paired Wilcoxon signed-rank test on the per-user test metric of two runs: is their difference "
               "more than the noise between users?")
    runs = rows[rows["checkpoint"].notna()]
    if len(runs) < 2:
        st.caption(f"Needs two runs with checkpoints on this dataset; it has {len(runs) or 'none'}. "
                   + models.train_hint(dataset.name))
        return
    labels = dict(zip(runs["checkpoint"], runs["label"], strict=True))
    a_col, b_col, m_col = st.columns([3, 3, 1])
    paths, metrics = list(labels), ["Recall@20", "NDCG@20", "Recall@10", "NDCG@10"]
    a = a_col.selectbox("Run A", paths, format_func=labels.get, **held("wilcoxon.a", paths, paths[0]))
    b = b_col.selectbox("Run B", paths, format_func=labels.get, **held("wilcoxon.b", paths, paths[1]))
    metric = m_col.selectbox("Metric", metrics, **held("wilcoxon.metric", metrics))
    if urlsel.button("Run the paired Wilcoxon test", key="wilcoxon.run", disabled=a == b):
        try:
            st.session_state["wilcoxon.result"] = (a, b, metric, results.paired_wilcoxon(a, b, dataset, metric))
        except Exception as exc:  # noqa: BLE001
            st.error(f"The test failed: {errors.said(exc)}. Pick two runs of this dataset whose checkpoints are "
                     "there (the Checkpoints tab lists them).")
    last = st.session_state.get("wilcoxon.result")
    if last and last[:3] == (a, b, metric):
        res = last[3]
        cols = st.columns(4)
        cols[0].metric(f"A: mean {metric}", f"{res['mean A']:.4f}")
        cols[1].metric(f"B: mean {metric}", f"{res['mean B']:.4f}", f"{res['mean B'] - res['mean A']:+.4f}")
        cols[2].metric("p-value", "–" if res["p_value"] is None else f"{res['p_value']:.3g}")
        cols[3].metric("users (differing)", f"{res['users']} ({res['differing users']})")
        st.info(res["verdict"])  # not a green "success": one seed each says nothing of the noise between seeds
        st.caption(SEED_NOISE)


def paper_table(name: str, table: pd.DataFrame) -> None:
    key_ = paper_numbers.paper_dataset(name)
    fmt = {m: st.column_config.NumberColumn(m, format="%.4f") for m in paper_numbers.PAPER_METRICS}
    if key_ is None:
        st.caption(f"{name!r} is not one of the paper's datasets (Baby, Sports, Clothing by name), so these are the "
                   "published numbers alone, without ours beside them.")
        st.dataframe(pd.DataFrame([{"model": model, "dataset": d.capitalize(), **dict(zip(
            paper_numbers.PAPER_METRICS, values[d], strict=True))} for model, values in paper_numbers.PUBLISHED.items()
            for d in paper_numbers.PAPER_DATASETS]), hide_index=True, column_config=fmt)
        return
    st.markdown(f"**The paper's numbers on {key_.capitalize()}, beside ours**")
    published = pd.DataFrame(paper_numbers.published_rows(name)).set_index("model")
    ours = {}
    for model, model_name in paper_numbers.MODEL_NAMES.items():
        mine = table[table["model_name"] == model_name] if model_name else table.iloc[0:0]
        if not mine.empty:
            best = mine.sort_values("Recall@20", ascending=False).iloc[0]
            ours[model] = {f"ours {m}": best[m] for m in paper_numbers.PAPER_METRICS}
    both = published.add_prefix("paper ").join(pd.DataFrame.from_dict(ours, orient="index"))
    st.dataframe(both, column_config={c: st.column_config.NumberColumn(c, format="%.4f") for c in both})
    st.caption("Published: test metrics from the released results table (docs/protocol.md section 6), chosen by test "
               "Recall@20 over a grid. Ours: best setup of that model here, chosen the same way for comparability.")


PICK = "ckpt.pick"  # the Checkpoint picker's widget key
RENAMED = "ckpt.renamed"  # the checkpoint a rename just moved, picked again on the next run
DELETED = "ckpt.deleted"  # the run a delete just removed, said on the next run (as a rename is)
GONE = "ckpt.gone"  # a picked run that another tab or session renamed or deleted first, said on the next run
DELETED_NAMES = "ckpt.deleted_names"  # ids and setup names of the runs this session deleted (its address may name them)


def versions_words(versions) -> str:
    """A checkpoint's ``versions`` in words ("mambarec 0.1.0, torch 2.13.0"), not a Python dict."""
    if isinstance(versions, dict) and versions:
        return ", ".join(f"{name} {version}" for name, version in versions.items())
    return "unrecorded versions"


def checkpoint_labels(runs: pd.DataFrame) -> dict[str, str]:
    """The picker's label of each checkpoint; a run that repeats a seed of its setup says that it is not the one in
    the table (``comparison.one_per_seed``: the run that trained furthest counts), so two alike runs look apart."""
    counted = set(one_per_seed(runs, ["source", "setup"])["checkpoint"])
    return {path: f"{source} · {label}" + ("" if path in counted else " · not counted: the table uses "
                                           "another run of this seed")
            for path, source, label in zip(runs["checkpoint"], runs["source"], runs["label"], strict=True)}


def pick_linked_run(rows: pd.DataFrame, linked: list[str]) -> None:
    """Hold the first saved run a link names by its id as the Checkpoint picker's pick, over any earlier one: the
    tab draws only when opened, so the pick waits in ``held``'s place until then."""
    if rows.empty or "checkpoint" not in rows:
        return
    paths = dict(zip(rows["run"], rows["checkpoint"], strict=True))
    named = [paths[n] for n in linked if isinstance(paths.get(n), str)]
    if not named and "name" in rows:  # the page's own address names a saved run by its setup's name, not its id: a
        # copied Compare link opened on the precomputed `paper` in the picker, not on the run shown (rehearsal r74)
        saved = rows[(rows["source"] == "saved") & rows["name"].isin(linked) & rows["checkpoint"].notna()]
        named = list(saved["checkpoint"])
    if named:
        st.session_state.pop(PICK, None)
        st.session_state[kept(PICK)] = named[0]


def checkpoints(rows: pd.DataFrame, dataset) -> None:
    deleted = flash.take(DELETED)
    if deleted:  # on the page, not a toast: a toast's 4 s passed unseen in a rehearsal (r72, item 9)
        st.success(f"Deleted the run `{deleted}` and its checkpoint.", icon=":material/delete:")
    gone = flash.take(GONE)
    if gone:
        st.warning(gone, icon=":material/sync_problem:")
    runs = rows[rows["checkpoint"].notna()] if "checkpoint" in rows else rows
    if runs.empty:
        st.caption(f"No checkpoint on this dataset yet. {models.train_hint(dataset.name)} Or upload one below.")
    else:
        labels = checkpoint_labels(runs)
        renamed = flash.take(RENAMED)
        if renamed in labels:  # the run just renamed stays picked (its old path is gone from the list)
            st.session_state[kept(PICK)] = renamed
            st.success(f"Renamed: the run is now `{Path(renamed).parent.name}`.", icon=":material/edit:")
        # the run the inspection pages show, when nothing was picked before
        path = st.selectbox("Checkpoint", list(labels), format_func=labels.get,
                            **held(PICK, list(labels), state.active_run()))
        row = runs[runs["checkpoint"] == path].iloc[0]
        try:
            info = run_actions.checkpoint_info(path, Path(path).stat().st_mtime_ns)
            data = Path(path).read_bytes()  # here, not at the button: the file can go meanwhile (its info is cached)
        except Exception as exc:  # noqa: BLE001
            if row["source"] == "saved" and gone is None:
                relist_if_gone(row["folder"])  # not "damaged": another session renamed or deleted it first
            st.error(f"Cannot read {path}: {errors.said(exc)}. Pick another run; a saved run whose file is "
                     "damaged can be deleted below.")
            info = None
        if info is not None:
            left, mid, right = st.columns(3)
            if left.button("Inspect on the other pages", width="stretch",
                           help="The Embeddings, DREAM inspector and Users pages show this run"):
                state.set_active_run(path)
            # said while it holds: a toast alone went unseen (rehearsal r72, item 9)
            if (active := state.active_run()) and str(path).startswith(active):
                st.caption(":material/check_circle: The Embeddings, DREAM inspector and Users pages show this run.")
            if mid.button("Use its setup on the Train page", width="stretch"):
                state.set_run(dataclasses.replace(RunConfig.from_dict(info["config"]),
                                                  dataset=state.active_dataset_name()))  # a folder's full path
                st.switch_page("app/pages/train.py")
            right.download_button("Download checkpoint.pt", data=data,
                                  file_name=f"{Path(path).parent.name}.pt", width="stretch")
            test = info["test"]
            st.markdown(f"**{info['setup']}** · seed {info['seed']} · ran {info['ran']} · best epoch "
                        f"{info['best_epoch']} · test Recall@20 {test.get('Recall@20') or float('nan'):.4f}  \n"
                        f"dataset `{info['dataset']}` (fingerprint `{info['fingerprint']}`) · written by "
                        f"{versions_words(info['versions'])} · "
                        f"{'resumable' if info['resumable'] else 'weights only'}")
            with st.expander("Exact config"):
                st.json(info["config"])
            if row["source"] == "saved" and state.classroom():
                st.caption("Classroom mode: saved runs are read-only here (no rename, delete or upload).")
            elif row["source"] == "saved":
                manage(row)
    upload(dataset)


def manage(row) -> None:
    """Rename or delete a saved run (``mambarec.store``); precomputed rows are read-only."""
    name, rename, delete = st.columns([3, 1, 1], vertical_alignment="bottom")
    new = name.text_input("Rename this saved run", value=row["run"], key=f"manage.name.{row['run']}",
                          help="Letters, digits, '.', '_' and '-'; no spaces or slashes (it names the run's folder)")
    # never disabled by the name: while it was being typed the box had not sent it, so Rename stayed disabled and
    # the first click only sent the name, with nothing said (audit r76); an unchanged name is answered instead
    clicked = rename.button("Rename", width="stretch")
    if clicked and new.strip() == row["run"]:
        st.info("Not renamed: type the new name in the box first.")
    elif clicked:
        folder, why = run_actions.rename_run(row["folder"], new, classroom=state.classroom())
        if folder is None:
            relist_if_gone(row["folder"], f"renamed to `{new.strip()}`")
            st.error(why)
        else:
            if state.active_run() and Path(state.active_run()).parent == Path(row["folder"]):  # not X-2's
                state.set_active_run(folder / "checkpoint.pt")
            flash.say(RENAMED, str(folder / "checkpoint.pt"))
            st.rerun()
    # keyed by the run: an unkeyed popover stayed open across the delete's rerun and then offered to delete the next
    # run in the picker, one more click away (rehearsal r72, item 1)
    with delete.popover("Delete", width="stretch", key=f"manage.delete_box.{row['run']}"):
        st.write(f"Delete `{row['run']}` and its checkpoint for good?")
        if urlsel.button("Delete the run", type="primary", key=f"manage.delete.{row['run']}"):
            why = run_actions.delete_run(row["folder"], classroom=state.classroom())
            if why:
                relist_if_gone(row["folder"], "deleted")
                st.error(why)
            else:
                if state.active_run() and Path(state.active_run()).parent == Path(row["folder"]):
                    state.set_active_run(None)
                flash.say(DELETED, row["run"])
                st.session_state.setdefault(DELETED_NAMES, set()).update({row["run"], row.get("name")})
                st.rerun()


def relist_if_gone(folder: str, what: str | None = None) -> None:
    """When the run's folder is gone (another tab or session renamed or deleted it first), say so on a fresh list:
    the page had called the run's file damaged and dropped this session's own rename (audit r60, item 7)."""
    if not os.path.lexists(folder):
        flash.say(GONE, f"`{Path(folder).name}` was renamed or deleted meanwhile, in another tab or session"
                        f"{f', so it was not {what} here' if what else ''}. The list below is up to date again.")
        st.rerun()


def upload(dataset) -> None:
    read_only = state.classroom()
    # any file: the content is checked. With type=["pt"], Streamlit refused a .txt with a red chip alone, under the
    # refusal of the file before, which then seemed to speak of it (rehearsal r72)
    uploaded = st.file_uploader("Upload a checkpoint (.pt)", key="ckpt.upload", disabled=read_only,
                                help=run_actions.READ_ONLY if read_only else
                                "A run's checkpoint.pt, from this app or `python -m mambarec train`. It is read "
                                "safely (no code in it runs), its weights checked against their digest, and it is "
                                "kept only if it was trained on the dataset picked in the sidebar")
    if uploaded is not None:
        # Each upload is a new file_id, so a corrected file of the same name and size is checked again.
        ident = (getattr(uploaded, "file_id", None), uploaded.name, uploaded.size)
        kept = st.session_state.get("ckpt.upload_result", (None, ""))[0]
        gone = kept is not None and not Path(kept).is_dir()  # the run that held it was deleted or renamed since
        if st.session_state.get("ckpt.uploaded") != ident or gone:  # (audit r60: the upload was never kept)
            folder, why = run_actions.import_checkpoint(uploaded.getvalue(), uploaded.name, dataset,
                                                        classroom=read_only)
            st.session_state["ckpt.uploaded"] = ident
            st.session_state["ckpt.upload_result"] = (str(folder) if folder else None, why)
        folder, why = st.session_state["ckpt.upload_result"]
        if folder is None:
            refusal = f"This checkpoint was refused: {why}"
            if not uploaded.name.lower().endswith(".pt"):
                refusal = (f"{refusal.rstrip('.')}. `{uploaded.name}` is not even a .pt file: a checkpoint is the "
                           "`checkpoint.pt` in a run's folder, or what 'Download checkpoint.pt' above gives.")
            st.error(refusal)
        elif why:  # the same file again: the run that holds it
            st.info(f"Checkpoint already here: {why}.")
        else:
            st.success(f"Checkpoint accepted and saved as run `{Path(folder).name}`.")


def export(rows: pd.DataFrame, table: pd.DataFrame, name: str, shown: list[str], reference: str,
           metrics: tuple[str, ...], rows_key: tuple) -> None:
    """The setups shown: the summary as numbers, in the columns of `python -m mambarec compare --csv` (per metric
    its mean, std and the change in % with its interval's ends; it had been the page's frame, text cells such as
    "0.3319 ± 0.0026" among them: audit r57), and every run and seed."""
    left, right = st.columns(2)
    summary_csv = results.per_rows(rows_key, ("summary csv", tuple(table["name"]), reference, metrics, tuple(shown)),
                                   lambda: compare_csv(results.shown_rows(table, shown), reference, metrics)
                                   .to_csv(index=False).encode())
    left.download_button("Summary table (CSV)", summary_csv,
                         f"{name}-summary.csv", mime="text/csv", width="stretch",
                         help="The numbers of the table above, as `python -m mambarec compare --csv` writes them")
    every = results.per_rows(rows_key, ("runs csv", tuple(shown)), lambda: (  # no run yet: the pop row alone
        rows[rows["name"].isin(shown)] if not rows.empty else rows).to_csv(index=False).encode())
    right.download_button("Every run and seed (CSV)", every,
                          f"{name}-runs.csv", mime="text/csv", width="stretch")
