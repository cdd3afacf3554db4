"""Train & ablate: every switch of MambaRec, runs in the background with live progress.

The setup lives in the URL (config field names), so a link reproduces it; a widget change only
edits the setup, never trains. Train / Repeat with 3 seeds start background jobs (``app.jobs``);
Stop keeps the best state so far; every finished or stopped run is saved and shows up on the
Compare page.
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from app import estimate, jobs, state, widgets
from mambarec.config import run_to_params

REFRESH_S = 1.0  # live-progress refresh period
N_SEEDS = 3
EXPANDED_CARDS = 3  # older finished runs fold into expanders
STATUS_ICON = {"queued": "schedule", "building": "construction", "running": "progress_activity", "saving": "save",
               "done": "check_circle", "stopped": "stop_circle", "cancelled": "cancel", "failed": "error"}
LOSS_COLORS = {"total": "#222222", "bpr": "#1f77b4", "l2": "#7f7f7f", "cl": "#2ca02c", "mmd": "#d62728"}


def progress_figure(events: list[dict]):
    import plotly.graph_objects as go  # here, not at the top: the form paints before plotly loads
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss (per part, log scale)", "valid Recall@20"))
    epochs = [e["epoch"] for e in events]
    parts = sorted({k[5:] for e in events for k in e if k.startswith("loss/")}, key=lambda p: (p != "total", p))
    for part in parts:
        fig.add_trace(go.Scatter(x=epochs, y=[e.get(f"loss/{part}") for e in events], name=part, mode="lines+markers",
                                 line={"color": LOSS_COLORS.get(part)}), row=1, col=1)
    fig.add_trace(go.Scatter(x=epochs, y=[e.get("valid/Recall@20") for e in events], name="valid Recall@20",
                             mode="lines+markers", line={"color": "#9467bd"}, showlegend=False), row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_xaxes(title_text="epoch", dtick=max(1, len(epochs) // 8))
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h", "y": -0.3})
    return fig


def job_card(job: jobs.Job) -> None:
    with st.container(border=True):
        head, stop = st.columns([5, 1])
        head.markdown(f":material/{STATUS_ICON.get(job.status, 'help')}: **{job.status}** · `{job.id}`  \n"
                      f"{state.setup_label(job.run.to_dict())} · seed {job.run.train.seed}")
        stop.button("Stop", key=f"stop.{job.id}", on_click=jobs.stop, args=(job.id,), width="stretch",
                    disabled=not job.active or job.stop_event.is_set(),
                    help="Stop now and keep the best state so far (it is saved as a run)")
        done = job.last_epoch / job.epochs if job.epochs else 1.0
        st.progress(min(done, 1.0), text=f"epoch {job.last_epoch} / {job.epochs}")
        best = max(job.events, key=lambda e: e.get("valid/Recall@20") or -1.0) if job.events else None
        cols = st.columns(4)
        cols[0].metric("Parameters", f"{job.n_params:,}" if job.n_params else "…")
        cols[1].metric("Seconds / epoch", f"{job.s_per_epoch:.2f}" if job.s_per_epoch else "…")
        cols[2].metric("Best valid Recall@20", f"{best['valid/Recall@20']:.4f}" if best else "…",
                       help=f"epoch {best['epoch']}" if best else None)
        test = job.result.test.get("Recall@20") if job.result is not None and job.result.test else None
        cols[3].metric("Test Recall@20 (best epoch)", f"{test:.4f}" if test is not None else "…")
        if job.events:
            st.plotly_chart(progress_figure(job.events), key=f"chart.{job.id}")
        if job.status == "failed":
            st.error(f"The run failed: {job.error}")
            with st.expander("Traceback"):
                st.code(job.traceback or "", language="text")
        elif job.saved:
            res = job.result
            how = (f"stopped at epoch {res.epochs_run}, the best state (epoch {res.best_epoch}) kept" if res.cancelled
                   else f"{res.epochs_run} epochs, best epoch {res.best_epoch}"
                   + (", stopped early (patience)" if res.stopped_early else ""))
            st.success(f"Saved as run `{job.id}` ({how}).")
        elif job.status == "cancelled":
            st.info("Stopped before the first epoch ended: nothing to save.")


def live_runs() -> None:
    my_jobs = [j for j in (jobs.get(i) for i in st.session_state.jobs) if j is not None]
    was_active = any(j.active for j in my_jobs)

    @st.fragment(run_every=REFRESH_S if was_active else None)
    def panel() -> None:
        if not my_jobs:
            st.caption("No run started in this session yet. Saved runs are on the Compare page.")
        for i, job in enumerate(my_jobs):
            if i < EXPANDED_CARDS or job.active:
                job_card(job)
            else:
                with st.expander(f"{job.status} · {job.id}"):
                    job_card(job)
        if was_active and not any(j.active for j in my_jobs):
            st.rerun(scope="app")  # stop polling, refresh the rest of the page

    panel()
    if any(not j.active for j in my_jobs) and st.button("Clear finished runs from this list",
                                                        help="They stay saved: see the Compare page"):
        st.session_state.jobs = [j.id for j in my_jobs if j.active]
        st.rerun()
    others = [j for j in jobs.all_jobs() if j.id not in st.session_state.jobs and j.active]
    if others:
        st.caption(f"{len(others)} other run(s) are training in this server (other tabs or users).")


def estimate_panel(run, dataset) -> None:
    cost = estimate.request(run, dataset)
    pending = cost is None

    @st.fragment(run_every=REFRESH_S if pending else None)
    def panel() -> None:
        now = estimate.request(run, dataset)
        if now is None:
            st.info("Estimating the duration (timing two training batches and one evaluation)…",
                    icon=":material/timer:")
            return
        if pending:
            st.rerun(scope="app")
        if isinstance(now, Exception):
            st.warning(f"Could not estimate the duration: {type(now).__name__}: {now}")
            return
        trainable = run.model_name != "pop"
        total = now.total_s(run.train.epochs, run.train.eval_every, trainable)
        detail = (f"build {now.build_s:.1f} s + {run.train.epochs} epochs × ({now.epoch_s:.2f} s training "
                  f"+ {now.eval_s:.2f} s evaluation)") if trainable else "one evaluation, nothing to train"
        st.markdown(f":material/timer: Estimated duration: **up to {estimate.describe(total)}**  \n"
                    f"{detail}; early stopping can only shorten it.")
        if total > estimate.MINUTES_WARNING_S:
            st.warning(f"This run would take about {estimate.describe(total)}. Lower the epochs, or try a "
                       "lighter setup, for a quick look.")

    panel()


def launch(run, dataset) -> None:
    if st.button("Train", type="primary", width="stretch", icon=":material/play_arrow:"):
        st.session_state.jobs.insert(0, jobs.start(run, dataset).id)
    seeds = [run.train.seed + i for i in range(N_SEEDS)]
    if st.button(f"Repeat with {N_SEEDS} seeds", width="stretch", icon=":material/repeat:",
                 help=f"Train this setup with seeds {', '.join(map(str, seeds))} (mean ± std on Compare)"):
        for job in reversed(jobs.start_seeds(run, dataset, seeds)):
            st.session_state.jobs.insert(0, job.id)
    st.caption("Runs train in the background: switch pages or start others meanwhile.")


st.title("Train & ablate")
st.caption("Every switch of MambaRec and its trainer, named as in `mambarec/config.py` (the paper's symbols in "
           "the labels). Changing a switch only edits the setup, and the URL, so a link reproduces it.")
for message in st.session_state.pop("url_notes", []):
    st.info(message)
for message in st.session_state.pop("url_errors", []):
    st.warning(f"URL parameter not used: {message}")

form_col, run_col = st.columns([5, 2], gap="large")
with form_col:
    current = state.current_run()
    run, error = widgets.run_config_form(current)
    if error:
        st.error(f"These switches do not fit together: {error}")
    else:
        state.set_run(run)
params = run_to_params(run)
state.sync_url(params)

with run_col:
    st.subheader("Run")
    st.markdown(f"{state.setup_label(run.to_dict())}  \nseed {run.train.seed} · dataset **{run.dataset}**")
    with st.popover("Link to this setup", icon=":material/link:"):
        st.code("?" + urlencode(params), language="text", wrap_lines=True)
    try:
        dataset = state.get_dataset(run.dataset)
    except Exception as exc:  # noqa: BLE001  (a dataset that fails to load is shown, not raised)
        st.error(f"Cannot load dataset {run.dataset!r}: {exc}")
        dataset = None
    if dataset is not None and not error:
        launch(run, dataset)
        estimate.cancel_pending(keep=run)
        estimate_panel(run, dataset)

st.subheader("Runs of this session")
live_runs()
