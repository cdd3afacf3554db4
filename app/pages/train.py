"""Train & ablate: every switch of MambaRec, a clickable diagram of the model, runs in a server-wide queue.

The setup is the session's ``run_config`` (``app.state``): the form and the diagram draw it and edit it,
the URL carries it, Train runs exactly it. Train is disabled, with the reason, whenever the browser
may show something else (``app.widgets``). Runs train in worker processes, at most
``jobs.max_parallel()`` at once for the whole server; everyone sees the queue and may stop any run.
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from app import diagram, estimate, flash, jobs, live, presentation, roomlinks, same_setup, state, urlsel, widgets
from app.errors import said
from mambarec.atomic import unwritable
from mambarec.config import RunConfig, run_to_params, setup_label
from mambarec.config.run import VALIDATED_SCHEDULES
from mambarec.store import RUNS_DIR_ENV

N_SEEDS = 3
REFRESH_S = 2.0  # a run's own card; cheap (text, and a figure rebuilt only when an epoch was added)
REFUSED = "train.refused"  # why the last Train click did not start anything (shown once)
BASE = "train.base"  # the setup at the end of the last run of this page
ONCE_SHOWN_S = 2.0  # a one-time start cost worth naming in the estimate (compiling DREAM: ~25 s)
NO_BREAK = "\u00a0"  # between a number and its unit in a heading
SHARE_TEXT_PX = 360  # the link's share of the share dialog's width, beside its code


def _start(bound: RunConfig, n_seeds: int) -> None:
    """Train / Repeat callback: start ``bound`` (the setup the button was drawn with) if the form still shows it."""
    ss = st.session_state
    changed = widgets.mismatch(bound)
    if state.current_run() != bound or changed:
        flash.say(REFUSED, "The setup changed as Train was clicked" + (f" ({', '.join(changed)})" if changed else "")
                       + ": nothing was started. The form now shows the setup; press Train again to run it.")
        return
    try:
        dataset = state.get_dataset(bound.dataset)
        if n_seeds == 1:
            started = [jobs.start(bound, dataset, owner=state.owner(), classroom=state.classroom())]
        else:
            seeds = [bound.train.seed + i for i in range(n_seeds)]
            started = jobs.start_seeds(bound, dataset, seeds, owner=state.owner(), classroom=state.classroom())
    except Exception as exc:  # noqa: BLE001  (a refused start is said, not raised)
        flash.say(REFUSED, f"Nothing was started: {said(exc)}")
        return
    ss.jobs = [j.id for j in started] + [i for i in ss.jobs if i not in {j.id for j in started}]


def _few(labels: list[str]) -> str:
    return ", ".join(labels[:6]) + (", ..." if len(labels) > 6 else "")


def blocker(drifted: list[str], batch: list[str] | None, dataset_error: str | None) -> str | None:
    """Why Train cannot run now, in a sentence; None when it can."""
    if state.classroom():
        return ("Classroom mode: this server shows lessons and precomputed runs and trains nothing "
                f"(started with {state.CLASSROOM_ENV}=1 or `-- {state.CLASSROOM_FLAG}`).")
    if dataset_error:
        return f"The dataset cannot be loaded: {dataset_error}"
    root = state.runs_root()
    if why := unwritable(root):  # the run would train, then fail to save (audit r59: an OSError and its stack)
        return (f"Runs cannot be saved: the runs folder {root} cannot be written ({why}). Start the server with "
                f"{RUNS_DIR_ENV} set to a folder it can write.")
    if batch:
        return (f"{len(batch)} settings arrived changed at once ({_few(batch)}):"
                " a browser that lost the form sends its defaults back. They were not applied; the form shows the "
                "setup again. Check it, then press Train.")
    if drifted:
        return (f"The form's state was lost on its way ({_few(drifted)})."
                " It has been redrawn from the setup: check it, then press Train.")
    return None


def schedule_line(run: RunConfig) -> str:
    t = run.train
    if t.schedule != "paper":
        there = [d for d, s in VALIDATED_SCHEDULES.items() if s == t.schedule]
        where = ("its validated default here" if run.dataset in there
                 else f"validated on {', '.join(there)} only" if there
                 else "faster, not shown as accurate as the paper's: see the Schedules of REPORT.md")
    else:
        where = "the default here" if run.dataset not in VALIDATED_SCHEDULES else "chosen"
    if t.epochs <= t.stall_epochs:  # the cap comes before early stopping could: say which one ends the run
        ends = (f"The run ends at its **epoch cap** ({t.epochs:,}), before early stopping could (it needs "
                f"{t.stall_epochs} epochs without a better valid Recall@20).")
    else:
        ends = (f"The run ends by **early stopping**, after {t.stall_epochs} epochs without a better valid Recall@20, "
                f"or at its cap of {t.epochs:,} epochs if that comes first.")
    return f"Schedule **{t.schedule}** ({where}: learning rate {t.learning_rate:g}, batch {t.batch_size:,}). {ends}"


def estimate_panel(run: RunConfig, seeds_done: list | None = None) -> None:
    """The setup's timing; with ``seeds_done`` (its precomputed runs) the epochs they ran, which say far more about
    how long a run lasts than the floor early stopping allows ("at least 22 epochs, about 5 s", where the shipped
    runs ran 116-183)."""
    cost, pending = estimate.lookup(run), estimate.pending(run)
    if isinstance(cost, Exception):
        st.warning(f"Could not time this setup: {said(cost)}")
    elif cost is not None:
        t = run.train
        shortest = t.eval_every + t.stall_epochs  # the first evaluation best, then the stall
        per = cost.epoch_s + cost.eval_s / t.eval_every
        how = f"{cost.epochs_timed} epochs timed" if cost.epochs_timed else f"{cost.timed} batches timed"
        cap = f"the cap of {t.epochs:,} epochs would take {estimate.describe(cost.total_s(t.epochs, t.eval_every))}"
        ran = sorted(r.metrics["epochs_run"] for r in seeds_done or () if r.metrics.get("epochs_run"))
        if ran and ran[-1] <= t.epochs and shortest < t.epochs:  # (a lower cap than theirs: the floor, below)
            lo, hi = ran[0], ran[-1]
            span = f"{lo}" if lo == hi else f"{lo}-{hi}"
            took = (estimate.describe(cost.start_s + lo * per) if lo == hi else
                    f"{estimate.describe(cost.start_s + lo * per)} to {estimate.describe(cost.start_s + hi * per)}")
            ends = (f"Its precomputed seeds ran {span} epochs before early stopping ended them: ≈ {took} at this "
                    f"speed (at least {shortest} epochs: {t.eval_every} to the first evaluation, then the "
                    f"{t.stall_epochs} without a better one, if the first stays the best); {cap}")
        elif shortest < t.epochs:
            ends = (f"Early stopping ends it after at least {shortest} epochs ({t.eval_every} to the first "
                    f"evaluation, then the {t.stall_epochs} without a better one), if the first stays the best "
                    f"(≈ {estimate.describe(cost.start_s + shortest * per)}; a run that learns goes on for many more); "
                    f"{cap}")
        else:
            ends = f"The cap comes before early stopping can: {cap}"
        once = f", and {estimate.describe(cost.once_s)} once at the start" if cost.once_s >= ONCE_SHOWN_S else ""
        st.markdown(f":material/timer: **≈ {cost.epoch_s:.2f} s per epoch** ({how}) + "
                    f"{cost.eval_s:.2f} s evaluation{once}. {ends}.")
        return
    if pending:
        @st.fragment(run_every=1.0)
        def wait() -> None:
            if not estimate.pending(run):
                flash.rerun(scope="app")
            st.caption(":material/timer: Timing a few batches of this setup in the background...")

        wait()
        return
    st.button("Estimate the duration", icon=":material/timer:", disabled=state.classroom(), width="stretch",
              on_click=lambda: estimate.submit(run, state.get_dataset(run.dataset)),
              help="Times a few training batches and one evaluation of this setup in the background (seconds; "
              "longer for large d). Nothing is trained or saved; the result is kept for this setup.")


def my_runs_card() -> None:
    """The newest run of this session (with its curves) and its siblings, refreshed while they train."""
    mine = [j for j in (jobs.get(i) for i in st.session_state.jobs) if j is not None]
    was_active = any(j.active for j in mine)
    active_then = {j.id for j in mine if j.active}

    @st.fragment(run_every=REFRESH_S if was_active else None)
    def cards() -> None:
        if not mine:
            return
        live.job_card(mine[0])
        for job in mine[1:]:
            if job.active:
                st.markdown(f"{live.headline(job)} · seed {job.run.train.seed}")
        # one ended: the whole page says how (one that another session stopped had vanished from here until the
        # session's last run ended, audit r60); with the last one the polling stops
        if live.any_ended(mine, active_then):
            flash.rerun(scope="app")

    cards()


def run_panel(run: RunConfig, reason: str | None) -> None:
    # "5 ep" kept on one line (a no-break space): the heading wrapped "ep" onto a line of its own (rehearsal r70)
    st.markdown(f"**{setup_label(run).replace(' ep', NO_BREAK + 'ep')}**  \nseed {run.train.seed} · dataset "
                f"**{run.dataset}**")
    train, seeds = st.columns(2)
    train.button("Train", type="primary", icon=":material/play_arrow:", width="stretch", disabled=bool(reason),
                 on_click=_start, args=(run, 1), help=reason)  # no tooltip when it works: after the click it stayed
    # over the setup's name for the whole run, where a presenter's mouse rests (what it does: the card says)
    seeds.button(f"{N_SEEDS} seeds", icon=":material/repeat:", width="stretch", disabled=bool(reason),
                 on_click=_start, args=(run, N_SEEDS),
                 help=reason or f"Train this setup with seeds {run.train.seed} to {run.train.seed + N_SEEDS - 1} "
                 "(mean and spread on Compare).")
    if reason:
        st.warning(reason, icon=":material/block:")
    refused = flash.take(REFUSED)
    if refused:
        st.warning(refused, icon=":material/block:")
    my_runs_card()
    st.caption(schedule_line(run))
    # a dialog, in the middle of the window: a popover opened below the button, where at 1280 x 800 the window's
    # edge cut the code's bottom rows once the setup had changed, and no phone read it (rehearsal r74, item 1). Above
    # the precomputed seeds' note, which in presentation mode pushed it below the fold at 1280 x 800
    if st.button("Link to this setup", icon=":material/link:", width="stretch"):
        share_setup(run_to_params(run))
    seeds_done = same_setup.precomputed_seeds(run)
    # how long a run takes and the seed to pair a run with, before the note: below its ten lines, "Estimate the
    # duration" (rehearsal r78) and then "Use seed" (r79, item 8) sat under the fold at 1280 x 800 in presentation mode
    estimate_panel(run, seeds_done)
    offered = None if state.classroom() else run  # a server that trains nothing offers no live run
    paired = sorted(r.seed for r in seeds_done)
    if offered is not None and paired and run.train.seed not in paired:  # the default seed 2026 paired with none
        # of them: a live run on Compare read "no common seed" (rehearsal r55); one click makes it comparable
        st.button(f"Use seed {paired[0]}", icon=":material/join_inner:", width="stretch",
                  on_click=lambda: state.set_run(state.edit_run(run, "seed", paired[0])),
                  help=f"Seed {paired[0]} is one of the precomputed seeds, so Compare can pair this run with it")
    if seeds_done:
        st.info(same_setup.describe(seeds_done, offered), icon=":material/inventory_2:")


@st.dialog("Link to this setup", width="large")
def share_setup(params: dict) -> None:
    url, note = roomlinks.session_room_url()
    link = f"{url}?{urlencode(params)}"
    code, words = st.columns([roomlinks.PROJECTOR_QR_PX, SHARE_TEXT_PX], vertical_alignment="center")
    # as large as a lesson's code (it was 180 px), the link beside it
    code.image(roomlinks.qr_svg(link), caption="scan to open this setup", width=roomlinks.PROJECTOR_QR_PX)
    words.code(link, language="text", wrap_lines=True)
    if note:
        words.caption(note)


def server_queue() -> None:
    # polled also while the queue is empty: a page opened before the lecturer's Train never showed that run
    @st.fragment(run_every=jobs.QUEUE_REFRESH_S)
    def table() -> None:
        live.queue_table(set(st.session_state.jobs))

    table()


def session_runs() -> None:
    mine = [j for j in (jobs.get(i) for i in st.session_state.jobs) if j is not None and not j.active]
    for job in mine[1:] if mine and mine[0].id == st.session_state.jobs[0] else mine:
        with st.expander(f"{job.status} · {setup_label(job.run)} · seed {job.run.train.seed} · {job.id}"):
            live.job_card(job, chart=True)
    if mine and st.button("Clear finished runs from this list", help="They stay saved: see the Compare page"):
        st.session_state.jobs = [j.id for j in (jobs.get(i) for i in st.session_state.jobs) if j and j.active]
        st.rerun()


def render() -> None:
    ss = st.session_state
    edits = widgets.take_edits()
    batch = widgets.batch_labels(edits)
    if batch and BASE in ss:  # a stale form posted back: keep the setup it overwrote
        state.set_run(ss[BASE])
    if batch:  # its emptied or invalid boxes are part of it: the blocker says so once, no "Not applied" per box
        ss.pop(widgets.REJECTED, None)
    # arriving from another page, the form's keys are gone because Streamlit drops a page's widget state when it
    # is left: that is no lost state (``push`` redraws them), only a same-page rerun can drift
    drifted = [] if batch or state.arrived() else widgets.drift(edits)
    applied = state.apply_url_setup()
    errors, notes = applied or ([], [])
    run = state.current_run()

    st.title("Train & ablate")
    live.interrupted_while_away()
    for message in [*ss.pop("url_notes", []), *notes]:
        st.info(message)
    for message in [*ss.pop("url_errors", []), *errors]:
        st.warning(f"URL parameter not used: {message}")
    dataset_error = None
    try:
        state.get_dataset(run.dataset)
    except Exception as exc:  # noqa: BLE001  (a dataset that fails to load is shown, not raised)
        dataset_error = said(exc)
    reason = blocker(drifted, batch, dataset_error)

    form_col, run_col = st.columns([5, 2.6], gap="medium")
    with form_col:
        widgets.run_config_form(run, before_tabs=lambda: diagram.draw(run),
                                picture_tab=widgets.DIAGRAM_TAB if presentation.on() else None)
    with run_col:
        run_panel(run, reason)
    state.sync_url(run_to_params(run), scope="train")
    ss[BASE] = run
    urlsel.remember(["run_config", *widgets.widget_values(run)])  # an edit here is no link (urlsel.touched)
    st.subheader("The server's queue")
    server_queue()
    session_runs()
    if presentation.on():
        st.caption("Presentation mode: the sidebar's switch turns it off.")
    jobs.prestart(classroom=state.classroom())  # after the page: the first Train click then waits ~0.2 s, not ~3


render()
