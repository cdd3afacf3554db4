"""Compare runs: saved runs and precomputed results on the active dataset, side by side.

Metric table (mean ± std over seeds, deltas against a reference), plots per ablation and against r,
popularity as a floor, a paired Wilcoxon test on per-user Recall@20, the paper's numbers when the
dataset is one of the paper's, CSV export, and checkpoints to load, download or upload.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import streamlit as st

from app import paper_numbers, results, state
from mambarec.config import RunConfig

METRIC_FORMAT = "%.4f"


def metric_columns(table: pd.DataFrame) -> dict:
    config = {m: st.column_config.NumberColumn(m, format=METRIC_FORMAT, width="small") for m in results.METRICS}
    config |= {f"{m} ±": st.column_config.NumberColumn("±", format=METRIC_FORMAT, width="small",
                                                     help=f"std of {m} over seeds") for m in results.METRICS}
    config |= {c: st.column_config.NumberColumn(c, format="%+.1f%%", help="mean change against the reference, "
                                                "paired by seed") for c in table.columns if c.endswith(" %")}
    config |= {c: st.column_config.TextColumn(c, help="95% t-interval of the paired change (in %); one common seed "
                                              "has none") for c in table.columns if c.endswith("95% CI")}
    config |= {"n_params": st.column_config.NumberColumn("parameters", format="localized"),
               "s_per_epoch": st.column_config.NumberColumn("s / epoch", format="%.2f"),
               "setup": st.column_config.TextColumn("setup", width="large")}
    return config


def summary_table(rows: pd.DataFrame, dataset: str) -> pd.DataFrame:
    with_pop = st.toggle("Popularity ranking as a reference row", value=True,
                         help="Most-popular items for everyone: the floor every recommender should beat")
    runs = rows[rows["model_name"] != "pop"] if with_pop and not rows.empty else rows
    table = results.aggregate_seeds(runs) if not runs.empty else pd.DataFrame()
    if with_pop:
        try:
            pop = pd.DataFrame([results.reference_row(dataset, rows)])
            table = pd.concat([table, pop], ignore_index=True) if not table.empty else pop
        except Exception as exc:  # noqa: BLE001
            st.warning(f"Popularity reference unavailable: {exc}")
    return table


def show_table(table: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    setups = table["setup"].tolist()
    default = next((i for i, s in enumerate(setups) if s.startswith("mambarec/paper")), 0)
    reference = st.selectbox("Reference for the deltas", setups, index=default,
                             help="Δ columns: relative change of each metric against this setup")
    table = results.add_deltas(table, rows, reference)
    main = ("Recall@20", "NDCG@20")
    rest = [m for m in results.METRICS if m not in main]
    order = ["setup", "source", "seeds", *[c for m in main for c in (m, f"{m} ±", f"Δ {m} %", f"Δ {m} 95% CI")],
             *[c for m in rest for c in (m, f"{m} ±")], "n_params", "s_per_epoch"]
    st.dataframe(table, column_order=[c for c in order if c in table], column_config=metric_columns(table),
                 hide_index=True, key="compare.table")
    st.caption("Test metrics at the epoch with the best valid Recall@20; mean ± sample std over seeds (empty ± "
               "for a single seed). Δ: change against the reference paired by seed, with its 95% t-interval. Click "
               "a column header to sort.")
    return table


def plots(rows: pd.DataFrame, table: pd.DataFrame) -> None:
    import plotly.express as px  # here, not at the top: the table paints before plotly loads
    import plotly.graph_objects as go

    metrics = st.multiselect("Metrics to plot", results.METRICS, default=["Recall@20", "NDCG@20"])
    if not metrics:
        return
    bars = go.Figure()
    for m in metrics:
        bars.add_trace(go.Bar(name=m, y=table["setup"], x=table[m], orientation="h",
                              error_x={"type": "data", "array": table[f"{m} ±"].fillna(0.0)}))
    height = 120 + 28 * len(table) * max(1, len(metrics) // 2 + 1)
    bars.update_layout(barmode="group", title="Per ablation (mean ± std over seeds)", height=height,
                       margin={"l": 10, "r": 10, "t": 40, "b": 10}, yaxis={"autorange": "reversed"},
                       legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"})
    st.plotly_chart(bars, key="compare.bars")
    sweep = rows[rows["model_name"] == "mambarec"].dropna(subset=["r"]) if not rows.empty else rows
    if not sweep.empty:  # only setups tried at two or more r make a line
        sweep = sweep[sweep.groupby("family")["r"].transform("nunique") >= 2]
    if sweep.empty:
        st.caption("Metric vs r appears once a setup has runs at two or more reduction factors r "
                   "(Train page, Features & graph, 'r: reduction factor').")
        return
    by_r = sweep.groupby(["family", "r"], as_index=False)[metrics].mean()
    long = by_r.melt(id_vars=["family", "r"], value_vars=metrics, var_name="metric", value_name="value")
    line = px.line(long, x="r", y="value", color="family", facet_col="metric", markers=True, log_x=True,
                   title="Metric vs reduction factor r (mean over seeds)", labels={"family": "setup (r aside)"})
    line.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    line.update_xaxes(tickvals=sorted(sweep["r"].unique()), title_text="r")
    line.update_yaxes(matches=None, showticklabels=True, title_text="")
    line.update_layout(height=420, margin={"l": 10, "r": 10, "t": 60, "b": 10},
                       legend={"orientation": "h", "y": -0.25, "yanchor": "top", "title": None})
    st.plotly_chart(line, key="compare.r")


def paper_table(dataset: str, table: pd.DataFrame) -> None:
    key = paper_numbers.paper_dataset(dataset)
    if key is None:
        st.caption(f"{dataset!r} is not one of the paper's datasets (Baby, Sports, Clothing by name), so these are "
                   "the published numbers alone, without ours beside them.")
        published = pd.DataFrame([{"model": model, "dataset": d.capitalize(), **dict(zip(
            paper_numbers.PAPER_METRICS, values[d], strict=True))} for model, values in paper_numbers.PUBLISHED.items()
            for d in paper_numbers.PAPER_DATASETS])
        st.dataframe(published, hide_index=True, column_config={
            m: st.column_config.NumberColumn(m, format=METRIC_FORMAT) for m in paper_numbers.PAPER_METRICS})
        return
    st.markdown(f"**The paper's numbers on {key.capitalize()}, beside ours**")
    published = pd.DataFrame(paper_numbers.published_rows(dataset)).set_index("model")
    ours = {}
    for model, name in paper_numbers.MODEL_NAMES.items():
        mine = table[table["model_name"] == name] if name and "model_name" in table else table.iloc[0:0]
        if not mine.empty:
            best = mine.sort_values("Recall@20", ascending=False).iloc[0]
            ours[model] = {f"ours {m}": best[m] for m in paper_numbers.PAPER_METRICS}
    both = published.add_prefix("paper ").join(pd.DataFrame.from_dict(ours, orient="index"))
    st.dataframe(both, column_config={c: st.column_config.NumberColumn(c, format=METRIC_FORMAT) for c in both})
    st.caption("Published: test metrics from the released results table (docs/protocol.md section 6), chosen by test "
               "Recall@20 over a grid. Ours: best setup of that model here, chosen the same way for comparability.")


def wilcoxon_section(rows: pd.DataFrame, dataset: str) -> None:
    st.caption("A paired Wilcoxon signed-rank test on the per-user test metric of two runs: is their difference "
               "more than the noise between users?")
    runs = rows[rows["checkpoint"].notna()] if "checkpoint" in rows else rows.iloc[0:0]
    if len(runs) < 2:
        st.caption("Needs two runs with checkpoints on this dataset.")
        return
    labels = {r["checkpoint"]: f"{r['run']} · {r['setup']}" for _, r in runs.iterrows()}
    paths = list(labels)
    a_col, b_col, m_col = st.columns([3, 3, 1])
    a = a_col.selectbox("Run A", paths, format_func=labels.get, key="wilcoxon.a")
    b = b_col.selectbox("Run B", paths, index=1, format_func=labels.get, key="wilcoxon.b")
    metric = m_col.selectbox("Metric", ["Recall@20", "NDCG@20", "Recall@10", "NDCG@10"], key="wilcoxon.metric")
    if st.button("Run the paired Wilcoxon test", disabled=a == b,
                 help="Both checkpoints are evaluated on the test split per user; the signed-rank test is "
                 "paired by user"):
        try:
            st.session_state["wilcoxon.result"] = (a, b, metric, results.paired_wilcoxon(a, b, dataset, metric))
        except Exception as exc:  # noqa: BLE001
            st.error(f"The test failed: {exc}")
    last = st.session_state.get("wilcoxon.result")
    if last and last[:3] == (a, b, metric):
        res = last[3]
        cols = st.columns(4)
        cols[0].metric(f"A: mean {metric}", f"{res['mean A']:.4f}")
        cols[1].metric(f"B: mean {metric}", f"{res['mean B']:.4f}", f"{res['mean B'] - res['mean A']:+.4f}")
        cols[2].metric("p-value", "–" if res["p_value"] is None else f"{res['p_value']:.3g}")
        cols[3].metric("users (differing)", f"{res['users']} ({res['differing users']})")
        (st.success if res["p_value"] is not None and res["p_value"] < 0.05 else st.info)(res["verdict"])


def checkpoints_section(rows: pd.DataFrame, dataset: str) -> None:
    runs = rows[rows["checkpoint"].notna()] if "checkpoint" in rows else rows.iloc[0:0]
    if runs.empty:
        st.caption("No checkpoint on this dataset yet: train a run, or upload one below.")
    else:
        labels = {r["checkpoint"]: f"{r['source']} · {r['run']} · {r['setup']}" for _, r in runs.iterrows()}
        path = st.selectbox("Checkpoint", list(labels), format_func=labels.get, key="ckpt.pick")
        try:
            info = results.checkpoint_info(path, Path(path).stat().st_mtime_ns)
        except Exception as exc:  # noqa: BLE001
            st.error(f"Cannot read {path}: {exc}")
            info = None
        if info is not None:
            left, mid, right = st.columns(3)
            if left.button("Inspect on the other pages", width="stretch",
                           help="The Embeddings, DREAM inspector and Users pages show this run"):
                state.set_active_run(path)
                st.toast("Loaded: the inspection pages now show this run")
            if mid.button("Use its setup on the Train page", width="stretch"):
                state.set_run(dataclasses.replace(RunConfig.from_dict(info["config"]), dataset=dataset))
                st.switch_page("app/pages/train.py")
            right.download_button("Download checkpoint.pt", data=Path(path).read_bytes(),
                                  file_name=f"{Path(path).parent.name}.pt", width="stretch")
            test = info["test"]
            st.markdown(f"**{info['setup']}** · seed {info['seed']} · best epoch {info['best_epoch']} · test "
                        f"Recall@20 {test.get('Recall@20') or float('nan'):.4f} · NDCG@20 "
                        f"{test.get('NDCG@20') or float('nan'):.4f}  \ndataset `{info['dataset']}` (fingerprint "
                        f"`{info['fingerprint']}`) · versions {info['versions']} · "
                        f"{'resumable' if info['resumable'] else 'weights only'}")
            with st.expander("Exact config"):
                st.json(info["config"])
    uploaded = st.file_uploader("Upload a checkpoint (.pt)", type=["pt"], key="ckpt.upload",
                                help="Checked with mambarec.checkpoint.load_checkpoint against the active dataset")
    if uploaded is not None:
        key = (uploaded.name, uploaded.size)
        if st.session_state.get("ckpt.uploaded") != key:
            folder, why = results.import_checkpoint(uploaded.getvalue(), uploaded.name, dataset)
            st.session_state["ckpt.uploaded"] = key
            st.session_state["ckpt.upload_result"] = (str(folder) if folder else None, why)
        folder, why = st.session_state["ckpt.upload_result"]
        if folder is None:
            st.error(f"This checkpoint was refused: {why}")
        else:
            st.success(f"Checkpoint accepted and saved as run `{Path(folder).name}`.")


def export(rows: pd.DataFrame, table: pd.DataFrame, dataset: str) -> None:
    left, right = st.columns(2)
    left.download_button("Summary table (CSV)", table.to_csv(index=False).encode(), f"{dataset}-summary.csv",
                         mime="text/csv", width="stretch")
    right.download_button("Every run and seed (CSV)", rows.to_csv(index=False).encode(), f"{dataset}-runs.csv",
                          mime="text/csv", width="stretch")


TABS = ("Every run and seed", "Plots", "Is it noise?", "The paper's numbers", "Checkpoints")

dataset = state.active_dataset_name()
st.title("Compare runs")
st.caption(f"Dataset **{dataset}**: saved runs (`{state.runs_root()}`) and precomputed results.")
rows, message = results.results_table(dataset)
if message:
    (st.info if message == results.PRECOMPUTE_HINT else st.warning)(message)
if rows.empty:
    st.info("No saved run on this dataset yet: train one on the Train & ablate page.")
table = summary_table(rows, dataset)
if not table.empty:
    table = show_table(table, rows)
    export(rows, table, dataset)
# Only the open tab runs (on_change="rerun"): the first paint does not wait for plotly or checkpoints.
tabs = dict(zip(TABS, st.tabs(list(TABS), key="compare.tab", on_change="rerun"), strict=True))
with tabs["Every run and seed"]:
    if tabs["Every run and seed"].open and not rows.empty:
        st.dataframe(rows.drop(columns=["fingerprint", "family"], errors="ignore"), hide_index=True,
                     column_config=metric_columns(rows), key="compare.rows")
with tabs["Plots"]:
    if tabs["Plots"].open and not table.empty:
        plots(rows, table)
with tabs["Is it noise?"]:
    if tabs["Is it noise?"].open:
        wilcoxon_section(rows, dataset)
with tabs["The paper's numbers"]:
    if tabs["The paper's numbers"].open:
        paper_table(dataset, table)
with tabs["Checkpoints"]:
    if tabs["Checkpoints"].open:
        checkpoints_section(rows, dataset)
