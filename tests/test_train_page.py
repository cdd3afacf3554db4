"""The Train page holds a room and never trains the wrong thing (AppTest; no browser).

One source of truth: the form shows the session's setup even when its widget state is lost, a browser
posting a stale form back cannot change it, a Train click runs what the form showed. URLs apply when
new to the session. The queue is server-wide with a cap; anyone can stop any run; classroom mode
trains nothing. The diagram's blocks switch their fields. Estimates run only when asked.
"""

from __future__ import annotations

import dataclasses
import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from app import diagram, estimate, jobs, sidebar, state, widgets
from app.labels import LABELS
from mambarec.config import RunConfig, TrainConfig, mambarec_preset, run_to_params, train_preset
from tests import test_app
from tests.test_app import APP, TIMEOUT, no_exception, open_app, tiny_run

data_root, env, keep_torch_threads = test_app.data_root, test_app.env, test_app.keep_torch_threads  # shared fixtures

LINK = {"variant": "official", "epochs": "7", "seed": "9", "use_mmd": "false", "sigma": "1.5", "lambda_cl": "0.02"}


def link_run() -> RunConfig:
    return RunConfig(dataset="tiny", model=mambarec_preset("official", use_mmd=False, sigma=1.5, lambda_cl=0.02),
                     train=dataclasses.replace(state.default_train("tiny"), epochs=7, seed=9))


def button(at: AppTest, label: str):
    return at.button[[b.label for b in at.button].index(label)]


def shows_link(at: AppTest) -> None:
    assert at.number_input(key="cfg.epochs").value == 7 and at.number_input(key="cfg.seed").value == 9
    assert at.toggle(key="cfg.use_mmd").value is False and at.number_input(key="cfg.sigma").value == 1.5
    assert at.number_input(key="cfg.lambda_cl").value == 0.02 and at.selectbox(key="cfg.variant").value == "official"


def stop_all() -> None:
    for job in jobs.queue():
        jobs.stop(job.id)
    for job in jobs.all_jobs():
        jobs.wait(job.id, TIMEOUT)


# ---- one source of truth ------------------------------------------------------------------------
def fragment_periods(monkeypatch) -> list:
    """The refresh period (``run_every``) of every fragment the pages define from now on, in order."""
    import streamlit

    polls = []
    real = streamlit.fragment

    def fragment(*args, **kwargs):
        polls.append(kwargs.get("run_every"))
        return real(*args, **kwargs)

    monkeypatch.setattr(streamlit, "fragment", fragment)
    return polls


def form_widget(at: AppTest, key: str):
    for kind in ("number_input", "toggle", "selectbox"):
        try:
            return getattr(at, kind)(key=key)
        except KeyError:
            continue
    raise KeyError(key)


def widget_default(widget, empty: bool = False):
    """What a browser that remounts a number box or a switch without its value shows: an empty box (the
    form's number boxes have no default) or, had they one, their minimum; a switch off."""
    if widget.type == "number_input":
        return None if empty else widget.proto.min if widget.proto.has_min else 0
    return False if widget.type == "toggle" else widget.value  # (selectboxes: left as they were)


@pytest.mark.parametrize("browser", ["kept its values", "shows the defaults", "shows empty boxes"])
def test_the_form_shows_the_links_setup_after_its_widget_state_is_lost(env, browser):
    at = open_app(**LINK)
    no_exception(at)
    shows_link(at)
    assert at.session_state["run_config"] == link_run()
    keys = list(widgets.widget_values(link_run()))
    sent = {k: form_widget(at, k).value for k in keys}
    if browser != "kept its values":
        sent = {k: widget_default(form_widget(at, k), empty=browser == "shows empty boxes") for k in keys}
    for key in keys:  # what a lost or late widget state does on the server
        del at.session_state[key]
    for key, value in sent.items():  # and what the browser sends back with the next rerun (disabled ones too)
        form_widget(at, key)._value = value
    at.run()
    no_exception(at)
    shows_link(at)  # redrawn from the setup, never from the widgets' defaults (their minimum values)
    assert at.session_state["run_config"] == link_run()
    train = button(at, "Train")
    if not train.disabled:  # either it trains the link's setup...
        train.click().run()
        [job_id] = at.session_state["jobs"]
        assert jobs.get(job_id).run == link_run()
    else:  # ...or it says why it cannot, until the next rerun shows the setup again
        assert any("at once" in w.value or "lost" in w.value for w in at.warning)
        at.run()
        assert not button(at, "Train").disabled
        button(at, "Train").click().run()
        [job_id] = at.session_state["jobs"]
        assert jobs.get(job_id).run == link_run()
    stop_all()


def test_a_stale_form_posted_back_changes_nothing(env):
    """A browser that remounted the form sends each widget's default with the next click: not an edit."""
    at = open_app(**LINK)
    at.number_input(key="cfg.epochs").set_value(1)
    at.number_input(key="cfg.seed").set_value(0)
    at.toggle(key="cfg.use_cl").set_value(False)
    at.number_input(key="cfg.lambda_cl").set_value(0.0)
    at.run()
    no_exception(at)
    assert at.session_state["run_config"] == link_run()
    shows_link(at)
    assert button(at, "Train").disabled and any("at once" in w.value for w in at.warning)
    at.run()
    assert not button(at, "Train").disabled


def test_a_stale_form_of_empty_boxes_is_one_batch_not_a_refusal_per_box(env):
    """A remounted form's number boxes are empty (no default): posted back together they are a batch, said once."""
    at = open_app(**LINK)
    for key in ("cfg.epochs", "cfg.seed", "cfg.lambda_cl"):
        at.number_input(key=key).set_value(None)
    at.toggle(key="cfg.use_cl").set_value(False)
    at.run()
    no_exception(at)
    assert at.session_state["run_config"] == link_run()
    shows_link(at)
    assert any("at once" in w.value for w in at.warning)
    assert not any("Not applied" in w.value for w in at.warning)


def test_one_edit_applies_and_a_click_with_an_edit_in_flight_trains_nothing(env):
    at = open_app(**LINK)
    at.number_input(key="cfg.epochs").set_value(5).run()
    assert at.session_state["run_config"].train.epochs == 5 and not button(at, "Train").disabled
    at.number_input(key="cfg.epochs").set_value(6)
    button(at, "Train").click()  # the same rerun: the edit and the click arrive together
    at.run()
    no_exception(at)
    assert at.session_state["jobs"] == [] and any("changed as Train was clicked" in w.value for w in at.warning)
    assert at.number_input(key="cfg.epochs").value == 6
    button(at, "Train").click().run()
    [job_id] = at.session_state["jobs"]
    assert jobs.get(job_id).run.train.epochs == 6
    stop_all()


def test_an_emptied_number_box_is_refused_not_read_as_its_minimum(env):
    """Clearing Epoch cap and pressing Enter sends None (no default): refused with the reason, never 1."""
    at = open_app(**LINK)
    assert at.number_input(key="cfg.epochs").proto.HasField("default") is False  # no minimum to fall back on
    at.number_input(key="cfg.epochs").set_value(None).run()
    no_exception(at)
    assert at.session_state["run_config"] == link_run()
    shows_link(at)
    assert any("Epoch cap" in w.value and "empty" in w.value for w in at.warning)
    assert not any("lost" in w.value for w in at.warning)  # an edit the user made, not lost state
    assert not button(at, "Train").disabled
    at.number_input(key="cfg.dilation_rates.1").set_value(None).run()
    assert at.session_state["run_config"] == link_run() and any("empty" in w.value for w in at.warning)


def test_an_invalid_value_is_refused_with_its_reason(env):
    at = open_app(**LINK)
    at.number_input(key="cfg.dropout").set_value(0.95).run()  # fine
    assert at.session_state["run_config"].model.dropout == 0.95
    at.number_input(key="cfg.dropout").set_value(1.0).run()  # the widget takes it, the config refuses p = 1
    no_exception(at)
    assert at.session_state["run_config"].model.dropout == 0.95
    refused = [w.value for w in at.warning if "Not applied" in w.value]
    # in the form's words: its label, never the config's field name
    assert refused and "Dropout share (p) must be in [0.0, 1.0), got 1.0" in refused[0], refused
    assert "dropout must" not in refused[0] and ": dropout" not in refused[0]
    assert at.number_input(key="cfg.dropout").value == 0.95  # the form shows the setup as it was
    at.selectbox(key="cfg.model_name").set_value("lightgcn").run()
    no_exception(at)
    assert at.session_state["run_config"].model_name == "lightgcn" and at.number_input(key="cfg.n_layers").value == 2


def test_the_last_dream_branch_switched_off_is_refused_in_the_forms_words(env):
    """A rule over several fields (DREAM keeps one branch) named the config's fields, branch_conv1x1 ... use_dream,
    in a form whose boxes say "Branch 1: point filter" and "DREAM"."""
    at = open_app(**LINK)
    for name in ("branch_conv1x1", "branch_dilated_1", "branch_dilated_2", "branch_dilated_3"):
        at.toggle(key=f"cfg.{name}").set_value(False).run()
    at.toggle(key="cfg.branch_pool").set_value(False).run()
    no_exception(at)
    assert at.session_state["run_config"].model.branch_pool  # refused: the setup keeps its last branch
    [refused] = [w.value for w in at.warning if "Not applied" in w.value]
    assert "(Branch 1: point filter, Branch 2: spacing a," in refused and "switch DREAM off" in refused, refused
    assert "branch_" not in refused and "use_dream" not in refused


def test_the_train_button_has_no_tooltip_to_cover_the_setup_while_it_trains(env):
    """A presenter clicks Train and leaves the mouse there: its tooltip stayed over the setup's name (and a preset
    button) for the whole run. A disabled button keeps its reason as its tooltip."""
    at = open_app(**LINK)
    [train] = [b for b in at.button if b.label == "Train"]
    assert not train.disabled and not train.help


def test_the_setup_heading_keeps_its_epoch_cap_and_unit_on_one_line(env):
    """At 1280 x 800 in presentation mode the heading "mambarec/paper · branch_dilated_1=off, use_mmd=off · 5 ep"
    wrapped "ep" onto a line of its own (rehearsal r70): a no-break space joins the number and its unit."""
    at = open_app(variant="paper", epochs="5", use_mmd="false")
    heading = next(m.value for m in at.markdown if "use_mmd=off" in m.value)
    assert heading.startswith("**mambarec/paper · use_mmd=off · 5\u00a0ep**")


# ---- URLs ---------------------------------------------------------------------------------------
def test_a_new_url_is_applied_and_a_stale_echo_is_not(env):
    at = open_app()
    at.number_input(key="cfg.epochs").set_value(3).run()
    stale = dict(at.query_params)  # what the browser holds now...
    at.number_input(key="cfg.epochs").set_value(4).run()
    at.query_params.clear()
    at.query_params.update({k: v[0] if isinstance(v, list) else v for k, v in stale.items()})
    at.run()  # ...sent back by a rerun that left before the browser saw the newer address
    assert at.session_state["run_config"].train.epochs == 4
    at.switch_page("app/pages/about.py").run()
    at.query_params.clear()
    at.query_params.update({"dataset": "tiny", **LINK})  # a lesson link, clicked inside the app
    at.switch_page("app/pages/train.py").run()
    no_exception(at)
    assert at.session_state["run_config"] == link_run()
    shows_link(at)


def test_a_page_link_opened_first_sets_only_the_dataset_of_the_setup(env):
    """An Embeddings or DREAM link names a stored run by its seed; that seed is no training setting."""
    run, errors, _ = state.parse_setup({"dataset": "tiny", "after": "paper", "seed": "0", "stage": "modal"})
    assert run.dataset == "tiny" and run.train.seed == state.default_run("tiny").train.seed and not errors
    linked, _, _ = state.parse_setup({"dataset": "tiny", "variant": "paper", "seed": "7"})  # a Train link: it is
    assert linked.train.seed == 7


def test_coming_back_to_train_from_another_page_leaves_train_enabled(env):
    """Streamlit drops the form's widget state when the page is left; back on Train that is no lost state."""
    at = open_app()
    at.number_input(key="cfg.epochs").set_value(3).run()
    for other in ("app/pages/about.py", "app/pages/lessons.py"):  # a page with a path, and the default page
        at.switch_page(other).run()
        at.switch_page("app/pages/train.py").run()
        no_exception(at)
        assert not button(at, "Train").disabled
        assert not any("state was lost" in w.value for w in at.warning)
        assert at.number_input(key="cfg.epochs").value == 3


def test_url_changes_reports_what_differs_from_what_the_page_applied():
    at = AppTest.from_string("""
import streamlit as st
from app import state
state.note_page(st.session_state.get("page", "p"))
st.session_state["out"] = state.url_changes("p", ("a", "b"), whole=st.session_state.get("whole", False))
state.sync_url({"a": "1", "b": "2"}, scope="p")
""")
    at.query_params.update({"a": "1"})
    at.run()
    assert at.session_state["out"] == {"a": "1"}  # a first visit: the URL is new
    at.run()
    assert at.session_state["out"] == {}  # our own address coming back
    at.session_state["page"] = "q"
    at.query_params.clear()
    at.query_params.update({"a": "5"})
    at.run()
    assert at.session_state["out"] == {"a": "5"}
    at.session_state["whole"] = True
    at.session_state["page"] = "r"
    at.query_params.clear()
    at.query_params.update({"a": "1"})
    at.run()
    assert at.session_state["out"] == {"b": ""}  # a link that names a but not b: b back to its default


# ---- the room -----------------------------------------------------------------------------------
def test_the_queue_is_server_wide_capped_and_first_come_first_served(env, monkeypatch):
    monkeypatch.setenv(jobs.PARALLEL_ENV, "1")
    ds = state.get_dataset("tiny")
    first = jobs.start(tiny_run(epochs=10_000), ds, root=env, owner="session a")
    second = jobs.start(tiny_run(seed=1, epochs=10_000), ds, root=env, owner="session b")
    third = jobs.start(tiny_run(seed=2, epochs=1), ds, root=env, owner="session c")
    assert (first.place, second.place, third.place) == (None, 1, 2)
    assert [j.id for j in jobs.queue()] == [first.id, second.id, third.id]
    jobs.stop(second.id, by="session c")  # anyone may stop anyone's run; a queued one never starts
    assert second.status == "cancelled" and second.stopped_by == "session c" and third.place == 1
    deadline = time.time() + TIMEOUT
    while not first.events and time.time() < deadline:
        time.sleep(0.05)
    jobs.stop(first.id, by="session b")
    jobs.wait(first.id, TIMEOUT)
    assert first.status == "stopped" and first.saved
    jobs.wait(third.id, TIMEOUT)
    assert third.status == "done" and third.started >= first.finished - 1.0


def test_runs_of_other_processes_in_the_runs_folder_take_slots_and_are_named(env, monkeypatch):
    """Audit r60, item 12: a second server (or a command-line `train`) on the same runs folder was invisible: each
    server trained its own 2 runs at once on 2 cores, and its page said "Nothing is training on this server". A
    living process's claim on a run folder now takes a slot, the queue names it, and the queued run starts once
    that process has ended (the queue looks again every few seconds: its end tells this server nothing)."""
    import subprocess
    import sys

    from mambarec.store import LOCK_NAME

    monkeypatch.setenv(jobs.PARALLEL_ENV, "1")
    monkeypatch.setattr(jobs, "OTHERS_POLL_S", 0.2)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (env / "cli-run").mkdir(parents=True)
        (env / "cli-run" / LOCK_NAME).write_text(str(other.pid))
        (env / "dead-run").mkdir()
        (env / "dead-run" / LOCK_NAME).write_text("999999999")  # a claim whose process is gone takes nothing
        assert jobs.others(env) == {"cli-run": other.pid}
        job = jobs.start(tiny_run(epochs=1), state.get_dataset("tiny"), root=env, owner="session abc123")
        monkeypatch.setattr(state, "_cookie", lambda name: "abc123")  # the browser that started it: its card
        at = open_app()
        no_exception(at)
        time.sleep(1.0)  # several looks of the queue: the slot is still taken
        assert job.status == "queued" and job.place == 1
        said = " ".join(c.value for c in at.caption)
        assert f"`cli-run` (process {other.pid}); they count toward the 1 at once" in said, said
        assert any("1st in line (1 of 1 slots busy, 1 by another process)" in m.value for m in at.markdown)
    finally:
        other.kill()
        other.wait()
    jobs.wait(job.id, TIMEOUT)
    assert job.status == "done" and jobs.others(env) == {}


def test_another_session_sees_the_queue_and_stops_a_run(env, monkeypatch):
    """A student's page drawn while nothing trained never polled the queue again, so the lecturer's run never
    showed there; two runs of one setup read alike in it; and the owner's card told a run another session stopped
    as if its owner had. The queue now polls while empty too, names each run's seed and id, and the card says
    who stopped the run."""
    polls = fragment_periods(monkeypatch)
    b = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    b.query_params.update({"dataset": "tiny"})
    b.run()  # opened before anything trains
    no_exception(b)
    assert any("Nothing is training on this server" in c.value for c in b.caption)
    assert jobs.QUEUE_REFRESH_S in polls  # and still polled
    # a patience as long as the cap: on the tiny data early stopping can end a run within a second, and then it had
    # left the queue before the other session looked (CI, once)
    a = open_app(model_name="mgcn", epochs="10000", patience="10000", batch_size="256", seed="7")
    button(a, "Train").click().run()
    [job_id] = a.session_state["jobs"]
    b.run()
    no_exception(b)
    assert any("seed 7 · started by **session" in m.value and f"`{job_id}`" in m.value for m in b.markdown)
    b.button(key=f"qstop.{job_id}").click().run()
    job = jobs.wait(job_id, TIMEOUT)
    assert job.stop_event.is_set() and job.stopped_by == b.session_state["owner"] != a.session_state["owner"]
    assert job.status in ("stopped", "cancelled")
    a.run()
    said = " ".join(e.value for kind in ("caption", "info") for e in getattr(a, kind))
    assert f"by {b.session_state['owner']}" in said, said


def test_the_queue_says_which_session_this_is_and_a_stop_at_once(env, monkeypatch):
    """From a lecturer's rehearsal in two browsers: a card said "stopped by session 30c2", but no page told a
    session its own label; and the session that pressed Stop saw "running, epoch 27" until the next refresh.
    The sidebar's count of runs refreshes with the queue while runs are active (it said "1 run(s) training" on)."""
    polls = fragment_periods(monkeypatch)
    b = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    b.query_params.update({"dataset": "tiny"})
    b.run()
    no_exception(b)
    me = b.session_state["owner"]
    assert any(f"This browser is **{me}**" in c.value for c in b.caption)
    job = jobs.Job(id="rehearsal-run", run=tiny_run(epochs=50), folder=env / "rehearsal-run", owner="session a1b2",
                   status="running", events=[{"epoch": 27}])
    job.stop_event.set()  # what jobs.stop does: the worker ends at its next batch, the row shows it meanwhile
    job.stopped_by = me
    monkeypatch.setitem(jobs._JOBS, job.id, job)
    monkeypatch.setattr(jobs, "_RUNNING", {*jobs._RUNNING, job.id})
    idle = polls.count(jobs.QUEUE_REFRESH_S)
    polls.clear()
    b.run()
    no_exception(b)
    assert polls.count(jobs.QUEUE_REFRESH_S) == idle + 1  # the sidebar's count too, now that a run is active
    assert any("1 training · 0 queued" in c.value for c in b.sidebar.caption)
    row = [m.value for m in b.markdown if "`rehearsal-run`" in m.value]
    assert row and "stopping at its next batch (asked by you" in row[0], row
    assert b.button(key="qstop.rehearsal-run").disabled


EPOCHS = [{"epoch": e, "epoch_s": 0.2, "lr": 1e-3, "loss/bpr": 0.69 - 0.01 * e, "loss/total": 0.7 - 0.01 * e,
           "valid/Recall@20": 0.1 + 0.01 * e, "valid/NDCG@20": 0.05 + 0.01 * e} for e in (1, 2, 3)]  # a run's events


def _open_train(env) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update({"dataset": "tiny"})
    at.run()
    no_exception(at)
    return at


def _stored_cookie(at: AppTest) -> str | None:
    """The label the page's script stores in this browser's cookie, if it writes one."""
    found = [m.group(1) for h in at.html if (m := re.search(rf"{state.OWNER_COOKIE}=([^;]*);", h.proto.body))]
    return found[0] if found else None


def test_a_reload_keeps_the_browsers_label_and_its_running_runs(env, monkeypatch):
    """Audit r60, item 8: a reload is a new session, and it made the browser's own running run "started by session
    4fce" with its card gone. The label now lives in a cookie the page writes, and a new session adopts the cards of
    the runs still training under it. A cookie the app did not write (not 6 hex digits) gets a fresh label."""
    first = _open_train(env)
    label = first.session_state["owner"].removeprefix("session ")
    assert re.fullmatch(r"[0-9a-f]{6}", label) and _stored_cookie(first) == label
    job = jobs.Job(id="before-reload", run=tiny_run(epochs=50), folder=env / "before-reload",
                   owner=f"session {label}", status="running", events=EPOCHS)
    other = jobs.Job(id="someone-else", run=tiny_run(seed=1, epochs=50), folder=env / "someone-else",
                     owner="session 00aa11", status="running", events=EPOCHS)
    for j in (job, other):
        monkeypatch.setitem(jobs._JOBS, j.id, j)
    monkeypatch.setattr(jobs, "_RUNNING", {*jobs._RUNNING, job.id, other.id})
    monkeypatch.setattr(state, "_cookie", lambda name: label if name == state.OWNER_COOKIE else "")
    reloaded = _open_train(env)
    assert reloaded.session_state["owner"] == f"session {label}"
    assert reloaded.session_state["jobs"] == ["before-reload"]  # its own run, not the other browser's
    assert _stored_cookie(reloaded) is None  # kept: nothing to write again
    rows = " ".join(m.value for m in reloaded.markdown)
    assert "(card above) · `before-reload`" in rows and "(card above) · `someone-else`" not in rows
    for forged in ("x'; alert(1)//", "ABCDEF", "a1b2", ""):
        monkeypatch.setattr(state, "_cookie", lambda name, v=forged: v)
        at = _open_train(env)
        fresh = at.session_state["owner"].removeprefix("session ")
        assert re.fullmatch(r"[0-9a-f]{6}", fresh) and _stored_cookie(at) == fresh and at.session_state["jobs"] == []


def test_classroom_mode_trains_nothing_and_says_why(env, monkeypatch):
    monkeypatch.setenv(state.CLASSROOM_ENV, "1")
    monkeypatch.setattr(jobs, "_PRESTARTED", False)
    at = open_app(**LINK)
    assert jobs._PRESTARTED is False  # a read-only server starts no forkserver for runs it will not train
    no_exception(at)
    assert button(at, "Train").disabled and button(at, "3 seeds").disabled
    assert any("Classroom mode" in w.value for w in at.warning)
    with pytest.raises(jobs.ClassroomError):
        jobs.start(link_run(), state.get_dataset("tiny"), root=env, classroom=state.classroom())
    assert jobs.queue() == []


def test_a_runs_folder_that_cannot_be_written_disables_train_with_the_fix(env, monkeypatch, tmp_path):
    """A read-only runs folder let Train start, and the run then failed with an OSError and its stack (audit r59)."""
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "a-file" / "runs"))
    at = open_app(**LINK)
    no_exception(at)
    assert button(at, "Train").disabled and button(at, "3 seeds").disabled
    [said] = [w.value for w in at.warning if "Runs cannot be saved" in w.value]
    assert "cannot be written (Not a directory)" in said and "MAMBAREC_RUNS" in said
    monkeypatch.setenv("MAMBAREC_RUNS", str(env))
    at.run()
    assert not button(at, "Train").disabled and not env.exists()  # the probe leaves no folder behind


def test_the_train_page_starts_the_forkserver_once_it_has_drawn(env, monkeypatch):
    """The first Train click used to wait ~3 s for the forkserver to import torch (bench/live_start.py); the page
    starts it in the background after drawing, once per process."""
    import multiprocessing.forkserver
    import os

    monkeypatch.setattr(jobs, "_PRESTARTED", False)
    at = open_app(**LINK)
    no_exception(at)
    assert jobs._PRESTARTED is True
    server = multiprocessing.forkserver._forkserver  # the process every run's worker forks from
    deadline = time.time() + TIMEOUT
    while getattr(server, "_forkserver_pid", None) is None and time.time() < deadline:
        time.sleep(0.1)
    assert server._forkserver_pid is not None
    os.kill(server._forkserver_pid, 0)  # alive (raises if not)


# ---- the page says what it does ----------------------------------------------------------------
def test_live_runs_use_the_datasets_schedule_and_early_stopping(env, monkeypatch):
    from mambarec.config import run as run_module

    # no faster schedule passed its check (REPORT.md, Schedules): every dataset defaults to the paper's
    assert run_module.VALIDATED_SCHEDULES == {} and state.default_run("ml100k").train == TrainConfig()
    assert state.default_run("synthetic").train == TrainConfig()  # paper schedule, patience 20, cap 1000
    at = open_app()
    assert "schedule" in at.query_params and at.session_state["run_config"].train.patience == 20
    assert any("early stopping" in c.value for c in at.caption)
    monkeypatch.setitem(run_module.VALIDATED_SCHEDULES, "ml100k", "fast")  # once a dataset's check passes
    assert state.default_run("ml100k").train.schedule == "fast"
    moved = state.retarget(state.default_run("synthetic"), "ml100k")
    assert moved.train.schedule == "fast" and moved.train.learning_rate == TrainConfig(learning_rate=4e-3).learning_rate


def test_the_schedule_line_says_whether_the_schedule_is_validated_where_it_runs(monkeypatch):
    from app.pages.train import schedule_line
    from mambarec.config import run as run_module

    def line(dataset, schedule):
        return schedule_line(RunConfig(dataset=dataset, model=mambarec_preset("paper"), train=train_preset(schedule)))

    assert "(the default here: learning rate 0.001, batch 2,048)" in line("ml100k", "paper")
    assert "not shown as accurate as the paper's" in line("ml100k", "large-batch")
    assert "batch 8,192" in line("ml100k", "large-batch")
    monkeypatch.setitem(run_module.VALIDATED_SCHEDULES, "ml100k", "large-batch")
    assert "its validated default here" in line("ml100k", "large-batch")
    assert "validated on ml100k only" in line("synthetic", "large-batch")
    assert "not shown as accurate" in line("ml100k", "fast")  # another schedule is validated there, not this one
    assert "(chosen:" in line("ml100k", "paper") and "(the default here:" in line("synthetic", "paper")
    assert "ends by **early stopping**, after 21 epochs" in line("synthetic", "paper")
    capped = RunConfig(dataset="synthetic", model=mambarec_preset("paper"), train=TrainConfig(epochs=3))
    assert "ends at its **epoch cap** (3), before early stopping could" in schedule_line(capped)


def test_precomputed_seeds_of_the_same_setup_are_named(env, monkeypatch):
    from pathlib import Path

    from app.pages.train import schedule_line

    monkeypatch.setenv(state.PRECOMPUTED_ENV, str(Path(__file__).resolve().parents[1] / "precomputed"))
    at = open_app(dataset="synthetic")
    no_exception(at)
    named = next(i.value for i in at.info if "Precomputed: cell `paper`" in i.value)
    run = at.session_state["run_config"]
    stall = f"after {run.train.stall_epochs} epochs without a better valid Recall@20"
    # stopped as the run would: the schedule line above says how, once (said twice, the note pushed the estimate
    # below the fold at 1280 x 800, rehearsal r78)
    assert stall in schedule_line(run) and stall not in named and "(stopped as the schedule above says)" in named
    # the default seed (2026) is none of theirs: Compare could not pair a live run with them, so the line says how
    assert "Compare pairs runs by seed: set Seed to one of 0-4 to measure a live run against them." in named
    [use] = [b for b in at.button if b.label == "Use seed 0"]  # one click does it (rehearsal r55)
    use.click().run()
    assert at.session_state["run_config"].train.seed == 0 and at.number_input(key="cfg.seed").value == 0
    assert not [b for b in at.button if b.label.startswith("Use seed")]
    at.number_input(key="cfg.seed").set_value(3).run()  # the seed does not make another setup
    named = next(i.value for i in at.info if "Precomputed: cell `paper`" in i.value)
    assert named.endswith("They are on the Compare page: no need to train them live.")
    at.number_input(key="cfg.epochs").set_value(3).run()  # a short demo of the setup is not told it need not train
    named = next(i.value for i in at.info if "Precomputed: cell `paper`" in i.value)
    assert named.endswith("They are on the Compare page: they are where this setup ends; a live run of 3 epochs "
                          "shows how training starts.")
    assert stall in named and "cap 1,000 epochs" in named  # another cap: how they stopped is theirs to say
    at.number_input(key="cfg.epochs").set_value(400).run()  # past where every precomputed seed ended: a full run
    named = next(i.value for i in at.info if "Precomputed: cell `paper`" in i.value)
    assert named.endswith("They are on the Compare page: no need to train them live.")
    at.selectbox(key="cfg.compile").set_value("dream").run()  # nor does compiling DREAM (the same mathematics)
    assert any("Precomputed: cell `paper`" in i.value for i in at.info)
    at.number_input(key="cfg.embedding_dim").set_value(72).run()
    assert not any("Precomputed" in i.value for i in at.info)


def test_a_saved_runs_compare_link_sets_it_beside_the_cell_it_is_read_against(env, monkeypatch):
    """A stopped run's card named its id, which Compare's table does not show, among 40 precomputed rows: the card
    now links to Compare with the run beside its setup's precomputed seeds, or the paper's model."""
    from pathlib import Path

    from app import same_setup

    monkeypatch.setenv(state.PRECOMPUTED_ENV, str(Path(__file__).resolve().parents[1] / "precomputed"))
    paper = RunConfig(dataset="synthetic", model=mambarec_preset("paper"), train=state.default_train("synthetic"))
    assert same_setup.compare_query(paper, "r1") == {"dataset": "synthetic", "cells": "paper,r1", "ref": "paper"}
    no_mmd = dataclasses.replace(paper, model=mambarec_preset("paper", use_mmd=False))  # the grid's InfoNCE-alone
    assert same_setup.compare_query(no_mmd, "r2")["ref"] == "no_mmd"
    other = dataclasses.replace(paper, model=mambarec_preset("paper", embedding_dim=72))  # no cell of its own
    assert same_setup.compare_query(other, "r3")["cells"] == "paper,r3"
    tiny = dataclasses.replace(paper, dataset="tiny")  # no precomputed grid there: the run alone
    assert same_setup.compare_query(tiny, "r4") == {"dataset": "tiny", "cells": "r4"}
    # no cell of its own: its starting preset's under its own schedule, not the fast-schedule `paper` (rehearsal r72)
    slow = RunConfig(dataset="ml100k", model=mambarec_preset("paper", use_mmd=False), train=train_preset("paper"))
    assert same_setup.compare_query(slow, "r5")["ref"] == "paper_paper_sched"
    fast = dataclasses.replace(slow, model=mambarec_preset("paper", embedding_dim=72), train=train_preset("fast"))
    assert same_setup.compare_query(fast, "r6")["ref"] == "paper"
    # a seed its reference never ran: the card says why Compare shows no Δ (rehearsal r71), and only then
    seed_0, seed_8 = (dataclasses.replace(other, train=dataclasses.replace(other.train, seed=s)) for s in (0, 8))
    def note(run):  # as the run's card asks: of the reference its Compare link names
        return same_setup.unpaired_note(run, same_setup.compare_query(run, "r").get("ref"))

    assert note(seed_0) is None and note(tiny) is None
    assert note(seed_8).startswith("Seed 8 is not one of `paper`'s precomputed seeds (0, 1, 2")


def test_a_classroom_server_offers_no_live_run_beside_the_precomputed_seeds(env, monkeypatch):
    """Train disabled for the room, the line beside it still offered "a live run of 4 epochs" and how to seed it."""
    from pathlib import Path

    monkeypatch.setenv(state.PRECOMPUTED_ENV, str(Path(__file__).resolve().parents[1] / "precomputed"))
    monkeypatch.setenv(state.CLASSROOM_ENV, "1")
    at = open_app(dataset="synthetic", epochs="4")
    no_exception(at)
    named = next(i.value for i in at.info if "Precomputed: cell `paper`" in i.value)
    assert named.endswith("They are on the Compare page: no need to train them live.")


def estimated(at, run) -> None:
    """Press Estimate, wait for the background timing of ``run``, and draw the page with its result."""
    button(at, "Estimate the duration").click().run()
    deadline = time.time() + TIMEOUT
    while estimate.pending(run) and time.time() < deadline:
        time.sleep(0.1)
    at.run()
    no_exception(at)


def test_the_estimate_runs_only_when_asked_and_never_trains(env):
    at = open_app(model_name="mgcn", batch_size="256")
    run = at.session_state["run_config"]
    assert estimate.lookup(run) is None and not estimate.pending(run)  # opening the page timed nothing
    estimated(at, run)
    assert any("s per epoch" in m.value and "after at least 22 epochs (1 to the first evaluation, then the 21 "
               "without a better one)" in m.value for m in at.markdown)  # 22 = 1 + the 21 of the schedule's line
    at.number_input(key="cfg.epochs").set_value(2).run()  # a cap before early stopping could end it
    assert any("The cap comes before early stopping can" in m.value for m in at.markdown)
    assert not any("after at least" in m.value for m in at.markdown)
    assert at.session_state["jobs"] == [] and not list(env.glob("*"))  # nothing trained, nothing saved


def test_the_estimate_says_how_long_the_precomputed_seeds_of_the_setup_ran(env, monkeypatch):
    """The floor early stopping allows ("at least 22 epochs, about 5 s") was all the estimate said, where the
    shipped runs of the same setup ran over a hundred epochs: a class expected 5 s."""
    from pathlib import Path

    from app import same_setup

    monkeypatch.setenv(state.PRECOMPUTED_ENV, str(Path(__file__).resolve().parents[1] / "precomputed"))
    at = open_app(dataset="synthetic")  # the paper preset: a precomputed cell
    run = at.session_state["run_config"]
    ran = sorted(r.metrics["epochs_run"] for r in same_setup.precomputed_seeds(run))
    assert len(ran) >= 2
    estimated(at, run)
    assert any(f"Its precomputed seeds ran {ran[0]}-{ran[-1]} epochs" in m.value for m in at.markdown)


def test_every_label_is_plain_words_with_one_line_of_help():
    for name, spec in LABELS.items():
        assert re.match(r"[A-Z0-9]", spec.label), f"{name}: {spec.label!r} starts with a symbol"
        assert "L_mmd" not in spec.label and not spec.label.startswith(("λ", "σ", "τ")), name
        assert spec.plain.endswith(".") and "\n" not in spec.plain and len(spec.plain) < 120, name
    from mambarec.config import SCHEDULES

    assert set(LABELS["schedule"].choices) == set(SCHEDULES)  # every preset has words, not its bare key


def test_every_model_and_every_field_has_its_words_and_its_place_on_the_form():
    """A model or config field added to mambarec/config must also be named for the app; what is missing is said
    with the file to edit (docs/architecture.md section 3, "Adding a switch or a model")."""
    from app.widgets import MODEL_LABELS, SECTIONS
    from mambarec.config import MODEL_CONFIGS, TrainConfig
    from mambarec.config.fields import field_names

    assert set(MODEL_LABELS) == set(MODEL_CONFIGS), "app/widgets.py MODEL_LABELS: a display name for every model"
    fields = {n for cls in (*MODEL_CONFIGS.values(), TrainConfig) for n in field_names(cls)}
    missing = sorted(fields - set(LABELS))
    assert not missing, f"app/labels.py LABELS: a label and a plain sentence for {missing}"
    placed = [n for rows in SECTIONS.values() for row in rows for n in row]
    assert len(placed) == len(set(placed)), "app/widgets.py SECTIONS: a field in two rows"
    wanted = (set(field_names(MODEL_CONFIGS["mambarec"])) | set(field_names(TrainConfig))) - {"variant", "seed",
                                                                                                  "epochs"}
    assert not sorted(wanted - set(placed)), (f"app/widgets.py SECTIONS: no row shows {sorted(wanted - set(placed))}; "
                                              "a field the form does not show could still be set by a link")


def test_switching_dream_away_takes_compile_with_it():
    """compile = dream needs DREAM: turning DREAM off, or picking a model or preset without it, on the form or the
    diagram sets compile back to none instead of being refused; asking to compile a model without DREAM is."""
    from mambarec.config import ConfigError

    run = state.edit_run(RunConfig(dataset="tiny", model=mambarec_preset("paper"), train=TrainConfig()), "compile",
                         "dream")
    assert run.train.compile == "dream"
    assert state.edit_run(run, "use_dream", False).train.compile == "none"
    assert diagram.toggle(run, "use_dream").train.compile == "none"
    assert state.edit_run(run, "model_name", "mgcn").train.compile == "none"
    assert state.edit_run(run, "variant", "backbone").train.compile == "none"
    assert state.edit_run(run, "lambda_mmd", 0.2).train.compile == "dream"  # DREAM still there: kept
    with pytest.raises(ConfigError, match="has none"):
        state.edit_run(state.edit_run(run, "use_dream", False), "compile", "dream")


# ---- the diagram ----------------------------------------------------------------------------------
def test_diagram_blocks_are_the_switches_and_off_is_drawn_off():
    run = RunConfig(dataset="tiny", model=mambarec_preset("paper"), train=TrainConfig())
    names = {b.name for b in diagram.blocks(run) if b.switch}
    assert {"use_dream", "branch_conv1x1", "branch_dilated_1", "branch_dilated_2", "branch_dilated_3", "branch_pool",
            "channel_attention", "spatial_attention", "use_mmd", "use_cl", "modal_norm_dropout"} <= names
    assert all(b.plain for b in diagram.blocks(run) if b.kind != "group")  # every block says what it does
    off = diagram.toggle(run, "use_mmd")
    assert off.model.use_mmd is False and diagram.toggle(off, "use_mmd") == run
    assert diagram.toggle(run, "visual_in").model.freeze_features is False
    no_dream = diagram.toggle(run, "use_dream")
    by_name = {b.name: b for b in diagram.blocks(no_dream)}
    assert not diagram.is_on(no_dream, by_name["channel_attention"])  # inside DREAM: off with it
    assert not diagram.is_on(no_dream, by_name["fusion"]) and diagram.is_on(run, by_name["fusion"])  # r55, P6
    no_gates = diagram.toggle(diagram.toggle(run, "channel_attention"), "spatial_attention")
    assert not diagram.is_on(no_gates, by_name["fusion"])  # nothing left to combine
    feats = {b.name: b for b in diagram.blocks(run)}["visual_in"]  # a click trains or fixes them (r55, W3)
    assert diagram._hover(run, feats).endswith("click to train them</i> · in run names: freeze_features")
    assert "click to keep them fixed</i>" in diagram._hover(diagram.toggle(run, "visual_in"), feats)
    # one branch, one name: the form's "Branch 3: spacing b" and the diagram's "3: spacing 2" name the field that run
    # labels and Compare's cells write (audit r74, item 9)
    branch = {b.name: b for b in diagram.blocks(run)}["branch_dilated_2"]
    assert diagram._hover(run, branch).endswith("click to switch off</i> · in run names: branch_dilated_2")
    assert widgets.tooltip(run, "branch_dilated_2").endswith(
        "In run names and links: `branch_dilated_2`; on the command line: `--branch-dilated-2`.")
    fig = diagram.figure(off)
    dashed = [s for s in fig.layout.shapes if s.line.dash == "dash"]
    assert len(dashed) == 1 and any("(off)" in (a.text or "") for a in fig.layout.annotations)


def test_the_diagram_on_the_page(env):
    at = open_app()
    no_exception(at)
    assert any("Click a framed block" in c.value for c in at.caption)
    assert run_to_params(at.session_state["run_config"])["variant"] == "paper"


def test_a_synthetic_worlds_knobs_are_sliders_that_edit_the_dataset_spec(env):
    at = open_app(dataset="synthetic/cold-items")
    no_exception(at)
    # drawn once their box is opened: closed, their sliders' code made every visitor's browser wait before the
    # page's first paint (docs/speed.md section 4)
    knobs = [w.key for w in (*at.slider, *at.number_input) if w.key and w.key.startswith(sidebar.KNOB)]
    assert [e.label for e in at.sidebar.expander] == ["World knobs"] and knobs == []
    at.session_state[sidebar.KNOBS_OPEN] = True  # what a click on the box does (it reruns the page)
    at.run()
    assert at.slider(key="knob.cold_share").value == pytest.approx(0.3)
    at.switch_page("app/pages/users.py").run()  # open on the next page too: a page switch had closed it (r78)
    at.switch_page("app/pages/train.py").run()
    assert at.slider(key="knob.cold_share").value == pytest.approx(0.3)
    at.slider(key="knob.cold_share").set_value(0.5).run()
    no_exception(at)
    assert at.session_state["run_config"].dataset == "synthetic/cold-items?cold_share=0.5"
    assert dict(at.query_params)["dataset"] in ("synthetic/cold-items?cold_share=0.5",
                                                ["synthetic/cold-items?cold_share=0.5"])
    at.slider(key="knob.cold_share").set_value(0.3).run()  # back to the world's own value: the plain name
    assert at.session_state["run_config"].dataset == "synthetic/cold-items"
    at.number_input(key="knob.seed").set_value(7).run()  # a whole-number box: a box of decimals sent 7.0, refused
    assert at.session_state["run_config"].dataset == "synthetic/cold-items?seed=7"
    at.number_input(key="knob.seed").set_value(0).run()  # the world's own seed again: its plain name
    assert at.session_state["run_config"].dataset == "synthetic/cold-items"
    at.number_input(key="knob.seed").set_value(None).run()  # an emptied seed box keeps the world
    no_exception(at)
    assert at.session_state["run_config"].dataset == "synthetic/cold-items"
    assert any("empty" in w.value for w in at.warning)
    # a world seed out of range reaches the server (a bounded box kept it, unsent, rehearsal r74) and is refused
    at.number_input(key="knob.seed").set_value(-1).run()
    no_exception(at)
    assert at.session_state["run_config"].dataset == "synthetic/cold-items"
    assert at.number_input(key="knob.seed").max is None and any("seed" in w.value for w in at.warning)
    at.selectbox(key="sidebar.dataset").set_value("tiny").run()
    assert not [s for s in at.slider if s.key and s.key.startswith("knob.")]  # a folder dataset has no knobs


def test_a_run_early_stopping_ended_after_an_early_best_is_called_out():
    from types import SimpleNamespace

    from app.live import early_stop_note

    def res(best, ran, early=True, cancelled=False):
        return SimpleNamespace(best_epoch=best, epochs_run=ran, stopped_early=early, cancelled=cancelled)

    assert "may have stopped before it learned" in early_stop_note(res(5, 26), patience=20)
    assert "never beat its first epoch" in early_stop_note(res(1, 22), patience=20)
    assert early_stop_note(res(95, 116), patience=20) is None  # a converged run
    assert early_stop_note(res(5, 5, early=False), patience=20) is None  # ended by its cap
    assert early_stop_note(res(5, 9, cancelled=True), patience=20) is None  # stopped by a user


def test_the_page_redraws_when_one_of_its_runs_ends_not_only_the_last():
    """A run another session stopped vanished from its owner's page until the owner's other runs ended (r60)."""
    from types import SimpleNamespace

    from app import live

    first, second = SimpleNamespace(id="a", active=False), SimpleNamespace(id="b", active=True)
    assert live.any_ended([first, second], {"a", "b"})  # "a" was stopped meanwhile, "b" still trains
    assert not live.any_ended([first, second], {"b"})  # "a" had ended before the page drew
    assert not live.any_ended([], set())


def test_the_run_cards_chart_draws_one_epoch_and_reads_at_any_length():
    """Rehearsal r72: a run stopped after epoch 1 drew no loss (a one-point line) under "1 epochs", and a 97-epoch
    run's seven x ticks ("0 16 32 ... 96") overlapped in the card's 140 px at 1024 x 768."""
    from app import live

    one = [{"epoch": 1, "loss/total": 0.69, "loss/bpr": 0.68, "valid/Recall@20": 0.05, "best_epoch": 1}]
    fig = live.progress_figure(one)
    assert {t.mode for t in fig.data if t.name != "valid R@20"} == {"markers"}
    assert {t.mode for t in live.progress_figure(one * 2).data if t.name != "valid R@20"} == {"lines"}
    for n in (1, 6, 25, 97, 400, 1000):
        step = live.epoch_step(n)
        assert n / step <= live.EPOCH_TICKS and str(step)[0] in "125" and set(str(step)[1:]) <= {"0"}
    assert live.epoch_step(97) == 20 and live.epoch_step(5) == 1


def test_an_ended_run_says_how_it_ended_in_its_headline_and_its_saved_box_stays_short(tmp_path):
    """Rehearsal r74, item 3: the saved box repeated the epochs, the best epoch and how the run ended in five lines,
    which pushed the card's curves below a 1280 x 800 window; how it ended is now the headline's."""
    from types import SimpleNamespace

    from app import jobs, live

    events = [{"epoch": e, "best_epoch": 2, "valid/Recall@20": 0.1} for e in (1, 2, 3)]
    for res, words in ((SimpleNamespace(cancelled=False, stopped_early=True), "3 epochs (early stop), best 2"),
                       (SimpleNamespace(cancelled=False, stopped_early=False), "3 epochs (the cap), best 2"),
                       (SimpleNamespace(cancelled=True, stopped_early=False), "3 epochs (stopped), best 2")):
        job = jobs.Job("x", RunConfig(dataset="tiny"), tmp_path, status="done", events=events, result=res)
        assert live.headline(job) == f":material/{live.STATUS_ICON['done']}: **done** · {words}"
