"""Live runs on the Train page: a run's card (status, curves, Stop), the server's queue, and a note to a browser
whose run stopped with a previous server while it was away.

Cheap to redraw: a refresh reads the job's rows and draws text; the curves' figure is rebuilt only when
an epoch was added (``_figure`` is cached by run and epoch count). The refresh itself is a fragment
(``st.fragment(run_every=...)``) on the Train page; the run trains in another process (``app.jobs``).
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from app import jobs, lessonbar, paths, presentation, same_setup, state
from mambarec import findings
from mambarec.catalog import list_runs
from mambarec.config import setup_label
from mambarec.store import CHECKPOINT_NAME, INTERRUPTED, METRICS_NAME, STARTED_BY
from mambarec.summary import runaway_loss

QUEUE_ROWS = "queue.rows"  # rows the server's queue drew last in this session
STATUS_ICON = {"queued": "schedule", "building": "construction", "running": "progress_activity", "saving": "save",
               "done": "check_circle", "stopped": "stop_circle", "cancelled": "cancel", "failed": "error"}
LOSS_COLORS = {"total": "#222222", "bpr": "#1f77b4", "l2": "#7f7f7f", "cl": "#2ca02c", "mmd": "#d62728",
               "mirror": "#8c564b"}
COLOR_NAMES = {"total": "black", "bpr": "blue", "l2": "grey", "cl": "green", "mmd": "red", "mirror": "brown"}
PART_WORDS = {"total": "total", "bpr": "BPR", "l2": "L2 penalty", "cl": "InfoNCE", "mmd": "MMD", "mirror": "mirror BPR"}
CHART_HEIGHT = 250
_FIGURES: dict[tuple[str, int], object] = {}  # (job id, epochs drawn) -> figure
AWAY_S = 24 * 3600  # a run interrupted while its owner was away is named to the owner for a day after it stopped


def ordinal(n: int) -> str:
    return f"{n}{'tsnrhtdd'[(n // 10 % 10 != 1) * (n % 10 < 4) * n % 10::4]}"


def owner_text(job: jobs.Job) -> str:
    return "you" if job.owner == state.owner() else (job.owner or "another session")


def _figure(job: jobs.Job):
    """Loss per part (log scale) and valid Recall@20 per epoch, side by side; cached per epoch count."""
    key = (job.id, len(job.events))
    figure = _FIGURES.get(key)
    if figure is None:
        if len(_FIGURES) > 64:
            _FIGURES.clear()  # another session may clear it too: return our own figure, not a lookup
        figure = _FIGURES[key] = progress_figure(job.events)
    return figure


def progress_figure(events: list[dict]):
    """One compact chart: each loss part (log scale, left) and valid Recall@20 (right) per epoch."""
    import plotly.graph_objects as go  # lazy: plotly loads after the form's first paint

    fig = go.Figure()
    epochs = [e["epoch"] for e in events]
    parts = sorted({k[5:] for e in events for k in e if k.startswith("loss/")}, key=lambda p: (p != "total", p))
    for part in parts:  # one epoch is a point, not a line (a run stopped after epoch 1 drew no loss: r72)
        fig.add_trace(go.Scatter(x=epochs, y=[e.get(f"loss/{part}") for e in events], name=part,
                                 mode="lines" if len(epochs) > 1 else "markers",
                                 line={"color": LOSS_COLORS.get(part), "width": 1.5}))
    fig.add_trace(go.Scatter(x=epochs, y=[e.get("valid/Recall@20") for e in events], name="valid R@20",
                             mode="lines+markers", line={"color": "#9467bd", "width": 2.5}, yaxis="y2"))
    fig.update_layout(
        height=CHART_HEIGHT, margin={"l": 4, "r": 4, "t": 4, "b": 4}, hovermode="x unified", showlegend=False,
        xaxis={"title": {"text": "epoch", "standoff": 2}, "dtick": epoch_step(len(epochs))},
        # ticks a class can read: 1e-5 as 10^-5, not plotly's SI "10µ"; Recall to two decimals, not 0.0193
        # automargin with some standoff: at 4 px of margin the title sat on the "10^-2" tick label
        yaxis={"type": "log", "title": {"text": "loss (log)", "standoff": 6}, "exponentformat": "power",
               "automargin": True},
        yaxis2={"overlaying": "y", "side": "right", "title": {"text": "valid Recall@20", "standoff": 6},
                "rangemode": "tozero", "showgrid": False, "tickformat": ".2f", "nticks": 5, "automargin": True},
    )
    return fig


EPOCH_TICKS = 5  # at most, on the card's x-axis: seven ("0 16 32 ... 96") overlapped in its 140 px at 1024 (r72)


def epoch_step(n: int) -> int:
    """The x-axis step for ``n`` epochs: 1, 2 or 5 times a power of ten, giving at most ``EPOCH_TICKS`` ticks."""
    magnitude = 1
    while True:
        for k in (1, 2, 5):
            if n <= EPOCH_TICKS * k * magnitude:
                return k * magnitude
        magnitude *= 10


def headline(job: jobs.Job) -> str:
    text = f":material/{STATUS_ICON.get(job.status, 'help')}: **{job.status}**"
    if job.place is not None:
        running = sum(j.status != "queued" for j in jobs.queue())
        others = len(jobs.others(job.folder.parent))
        text += (f" · {ordinal(job.place)} in line ({running + others} of {jobs.max_parallel()} slots busy"
                 + (f", {others} by another process" if others else "") + ")")
    elif job.events and not job.active:
        ran = f"{job.last_epoch} epoch{'s' if job.last_epoch != 1 else ''}"
        text += f" · {ran}{ending(job)}, best {job.events[-1].get('best_epoch')}"
    elif job.events:
        last = job.events[-1]
        since = job.last_epoch - (last.get("best_epoch") or 0)
        text += (f" · epoch {job.last_epoch}, best {last.get('best_epoch')} · no gain for {since} of "
                 f"{job.run.train.stall_epochs} epochs")
    return text


def ending(job: jobs.Job) -> str:
    """How an ended run ended, for its headline: " (early stop)", " (the cap)", " (stopped)", or "" when unknown."""
    res = job.result
    if res is None:
        return ""
    return " (stopped)" if res.cancelled else " (early stop)" if res.stopped_early else " (the cap)"


def job_card(job: jobs.Job, chart: bool = True) -> None:
    with st.container(border=True):
        # a saved run's headline takes the whole row (no Stop left to press) and its name the caption's end: as a
        # box above the chart they pushed the curves half below 1280 x 800 in presentation mode (audit r76, item 1)
        query = saved_query(job)
        if query is not None:
            st.markdown(headline(job))
        else:
            head, stop = st.columns([2, 1], vertical_alignment="center")
            head.markdown(headline(job))
            stop.button("Stop", key=f"stop.{job.id}", on_click=jobs.stop, args=(job.id, state.owner()),
                        width="stretch", disabled=not job.active or job.stop_event.is_set(),
                        help="Stop now and keep the best state so far (saved as a run); a queued run never starts. "
                        "Anyone may stop any run.")
        # once saved, the run's name stands for its setup and seed (it names both: store.new_run_id); beside them it
        # made the caption four lines in the card's third of 1280 px (audit r76, item 1)
        st.caption(saved_words(job) if query is not None else
                   f"{setup_label(job.run)} · seed {job.run.train.seed} · started by {owner_text(job)}")
        best = max(job.events, key=lambda e: e.get("valid/Recall@20") or -1.0) if job.events else None
        test = getattr(job.result, "test", None) or {}
        facts = [f"test Recall@20 **{test['Recall@20']:.4f}** (epoch {job.result.best_epoch})"
                 if test.get("Recall@20") is not None
                 # the best valid score while it trains; once tested, its epoch is the headline's and its curve drawn
                 else f"best valid Recall@20 **{best['valid/Recall@20']:.4f}** (epoch {best['epoch']})" if best
                 else None,
                 f"{job.n_params:,} parameters" if job.n_params else None,
                 f"{job.s_per_epoch:.2f} s/epoch" if job.s_per_epoch else None]
        if any(facts):
            st.markdown(" · ".join(f for f in facts if f))
        if query is not None:  # in one row of its own: in the headline's row it was cut to "Open i"
            lessonbar.page_link(st, "compare", "Open it on Compare", ":material/table_chart:", query,
                                "Compare with this run beside its setup's precomputed seeds (or the paper's model)")
        # an ended run's outcome above its chart: under it, it was below a 1024 x 768 window (rehearsal r72); its
        # notes under the chart, which they had pushed below 1280 x 800 (r74)
        outcome(job)
        if chart and job.events:
            presentation.chart(st, _figure(job), key=f"chart.{job.id}", config={"displayModeBar": False})
            parts = [k[5:] for k in job.events[-1] if k.startswith("loss/")]
            st.caption("Training loss, log scale (left): " + ", ".join(
                f"{PART_WORDS.get(p, p)} {COLOR_NAMES.get(p, '')}".strip()
                for p in sorted(parts, key=lambda p: (p != "total", p)))
                + ". Purple: valid Recall@20 (right).")
        outcome_notes(job, query)


def any_ended(runs: list, active_then: set[str]) -> bool:
    """Whether one of ``runs`` active when the page drew (``active_then``, their ids) has ended since: finished,
    failed, or stopped, also by another session."""
    return any(job.id in active_then and not job.active for job in runs)


def early_stop_note(res, patience: int) -> str | None:
    """What to make of a run that early stopping ended with its best epoch within the first ``patience`` epochs:
    such a run may have stopped before it learned (a live synthetic run, seed 7, stopped at epoch 26 with its best
    at 5 and test Recall@20 0.52 against the grid's 0.60, and said nothing)."""
    if res.cancelled:
        return None
    if res.stopped_early and res.best_epoch <= 1:
        return (f"It never beat its first epoch's valid score in {res.epochs_run} epochs: the model did not learn "
                "under this setup. Try another learning rate or seed.")
    if not findings.peaked_in_warmup(res.best_epoch, res.stopped_early, patience):
        return None
    return (f"Its best epoch came early ({res.best_epoch}) and it stopped {res.epochs_run - res.best_epoch} epochs "
            "later: its valid score dipped after an early peak for longer than the patience, so it may have stopped "
            "before it learned (a few precomputed seeds did this; see their curves on Compare). Compare its test "
            "numbers with other seeds of the setup, or train another seed.")


def saved_query(job: jobs.Job) -> dict | None:
    """The query of a saved run's Compare link (None for a run not saved, or a failed one's progress save, which
    ``outcome`` names): straight to it, since among 40 precomputed rows a saved run was found only by typing."""
    return same_setup.compare_query(job.run, job.id) if job.saved and job.status != "failed" else None


def saved_words(job: jobs.Job) -> str:
    """``Saved as run `id` · started by you``, and who stopped it when that was another session (the owner's card
    had read as if the owner had; the epochs and how it ended are the headline's)."""
    res = job.result
    by = f" · stopped by {job.stopped_by}" if res.cancelled and job.stopped_by and job.stopped_by != job.owner else ""
    return f"Saved as run `{job.id}` · started by {owner_text(job)}{by}"


def outcome(job: jobs.Job) -> None:
    """How a run that was not saved ended: a failure (with its progress save, if any), or stopped before it had
    anything to save. A saved run's card says so in its caption, with its Compare link (``saved_query``)."""
    if job.status == "failed":
        st.error(f"The run failed: {job.error}")
        if job.saved:
            st.info(f"Its last progress save is kept as run `{job.id}` (stopped after epoch {job.result.epochs_run}, "
                    f"the best state then, epoch {job.result.best_epoch}); it is on the Compare page. `python -m "
                    f"mambarec train --resume {job.folder / CHECKPOINT_NAME} --out {job.folder}` continues it.")
        if job.traceback:
            with st.expander("Traceback"):
                st.code(job.traceback, language="text")
    elif job.status == "cancelled" and not job.saved:
        by = f" by {job.stopped_by}" if job.stopped_by and job.stopped_by != job.owner else ""
        st.info(f"Stopped{by} before the first epoch ended: nothing to save.")


def outcome_notes(job: jobs.Job, query: dict | None) -> None:
    """What to make of a saved run (``query``: its Compare link's, from ``outcome``), under its chart: why Compare
    shows it no Δ, an early stop that may have come before it learned, a loss that ran away."""
    if query is None:
        return
    res = job.result
    if unpaired := same_setup.unpaired_note(job.run, query.get("ref")):
        st.caption(unpaired)
    if note := early_stop_note(res, job.run.train.patience):
        st.warning(note)
    if runaway := runaway_loss(getattr(res, "history", None) or []):
        st.warning(f"Check this run: {runaway}.")


def queue_table(mine: set[str]) -> None:
    """Every active run of the server, in queue order, each with Stop (their own cards show more)."""
    drawn = _queue_rows(mine)
    # A row the last run drew and this one does not is overwritten with an empty element: left to Streamlit, a stopped
    # run's row stayed up under "Nothing is training" (Chromium, Streamlit 1.67: 4 of 4 tries, also with the rows in
    # a container or a placeholder of their own), because a fragment rerun that draws fewer elements did not clear
    # the rest.
    for _ in range(drawn, st.session_state.get(QUEUE_ROWS, 0)):
        st.empty()
    st.session_state[QUEUE_ROWS] = drawn


def _queue_rows(mine: set[str]) -> int:
    """The queue's caption and rows; the number of rows drawn."""
    active = jobs.queue()
    # the labels below (and a run card's "stopped by session ...") name sessions: say which one this is
    me = f"This browser is **{state.owner()}** in the queue and on run cards."
    others = jobs.others()
    if others:  # they take slots: say whose, or a queued run seemed to wait for nothing
        names = ", ".join(f"`{n}` (process {pid})" for n, pid in sorted(others.items())[:4])
        me += (f" Also training into this runs folder from another process (a command-line `train`, another "
               f"server): {names}{', ...' if len(others) > 4 else ''}; they count toward the {jobs.max_parallel()} "
               "at once.")
    if not active:
        st.caption(f"Nothing is training on this server. At most {jobs.max_parallel()} runs train at once; "
                   f"more wait in line here. {me}")
        return 0
    st.caption(me)
    for job in active:
        cols = st.columns([5, 1.3])
        place = f"{ordinal(job.place)} in line" if job.place else f"{job.status}, epoch {job.last_epoch}"
        if job.stop_event.is_set():  # Stop was pressed: say so now, not at the next refresh
            who = "you" if job.stopped_by == state.owner() else (job.stopped_by or "another session")
            place = f"stopping at its next batch (asked by {who}; its best state so far is kept)"
        # the seed and the run's id tell two runs of one setup apart (two rows alike, a Stop could hit the other)
        cols[0].markdown(f":material/{STATUS_ICON.get(job.status, 'help')}: {place} · {setup_label(job.run)} · "
                         f"seed {job.run.train.seed} · started by **{owner_text(job)}**"
                         + (" (card above)" if job.id in mine else "") + f" · `{job.id}`")
        cols[1].button("Stop", key=f"qstop.{job.id}", on_click=jobs.stop, args=(job.id, state.owner()),
                       width="stretch", disabled=job.stop_event.is_set(),
                       help=f"Stop {owner_text(job)}'s run (it keeps its best state so far)")
    return len(active)


# ---- runs interrupted while their owner was away ----------------------------------------------------
@st.cache_data(max_entries=16, show_spinner=False)
def _interrupted(root: str, signature: tuple, owner: str) -> list[dict]:
    """The saved runs that ``owner`` started and that stopped by no one's hand (``store.INTERRUPTED``)."""
    out = []
    for rec in list_runs(Path(root)):
        m = rec.metrics
        if owner and m.get(STARTED_BY) == owner and m.get(INTERRUPTED) and rec.folder is not None:
            out.append({"id": rec.id, "folder": str(rec.folder), "why": m[INTERRUPTED], "ran": m.get("epochs_run"),
                        "best": m.get("best_epoch"), "at": (rec.folder / METRICS_NAME).stat().st_mtime})
    return out


@st.cache_resource(show_spinner=False)
def _acknowledged() -> dict[str, set[str]]:
    return {}  # owner label -> run ids whose note its browser closed (for this server's life, across reloads)


def interrupted_while_away() -> None:
    """A note for each run this browser started that stopped while it was away (the server restarted under it, e.g.
    after a pull): the run card went with the old server, and only Compare's label said what had become of it."""
    owner, root = state.owner(), paths.runs_root()
    seen = _acknowledged().setdefault(owner, set())
    runs = [r for r in _interrupted(str(root), paths.runs_signature(root), owner)
            if r["id"] not in seen and time.time() - r["at"] < AWAY_S]
    if not runs:
        return
    for r in runs:
        resume = f"{r['folder']}/{CHECKPOINT_NAME}"
        st.info(f"Your run `{r['id']}` was interrupted while you were away ({r['why']}): it had run {r['ran']} "
                f"epochs, and its best state, epoch {r['best']}, is saved and on the Compare page. `python -m "
                f"mambarec train --resume {resume} --out {r['folder']}` continues it.", icon=":material/history:")
    if st.button("Got it", key="away.ack", help="The runs stay saved; this browser is not told of them again"):
        seen.update(r["id"] for r in runs)
        st.rerun()
