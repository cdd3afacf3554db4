"""The Streamlit app through ``streamlit.testing.v1.AppTest``: pages render, widgets edit the URL's
config, a tiny run trains in the background and shows up on Compare, bad uploads are refused."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

from app import jobs, models, results, state
from app import worker as worker_module
from mambarec.config import (
    LightGCNConfig,
    MGCNConfig,
    RunConfig,
    TrainConfig,
    mambarec_preset,
    run_from_params,
    run_to_params,
)
from mambarec.store import HOST, INTERRUPTED, STARTED_BY, lock_owner
from tests.shown import compare_table

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "streamlit_app.py"
PAGES = ("app/pages/compare.py", "app/pages/about.py", "app/pages/embeddings.py", "app/pages/dream_inspector.py",
         "app/pages/users.py", "app/pages/train.py")
TIMEOUT = 60


def write_tiny_dataset(root: Path, name: str = "tiny", seed: int = 0) -> Path:
    """A small synthetic catalogue as an MMRec folder (a run of a few epochs takes about a second)."""
    from mambarec.data.mmrec import write_mmrec_folder
    from mambarec.data.synthetic import make_synthetic

    ds = make_synthetic(seed=seed, n_users=60, n_items=50, mean_per_user=10, visual_dim=32, text_dim=16)
    parts = [(ds.train, 0), (ds.valid, 1), (ds.test, 2)]
    inter = pd.DataFrame(np.concatenate([np.column_stack([p, np.full(len(p), lab)]) for p, lab in parts]),
                         columns=["userID", "itemID", "x_label"])
    return write_mmrec_folder(root / name, name, inter, ds.visual, ds.text, ds.items)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_tiny_dataset(root)
    write_tiny_dataset(root, "baby", seed=1)  # named like one of the paper's datasets, other data
    return root


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """The app sets torch to one thread per process (app.jobs); give the other tests theirs back."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture
def env(monkeypatch, tmp_path, data_root) -> Path:
    runs = tmp_path / "runs"
    monkeypatch.setenv("MAMBAREC_RUNS", str(runs))
    monkeypatch.setenv("MAMBAREC_DATA", str(data_root))
    monkeypatch.setenv("MAMBAREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MAMBAREC_PRECOMPUTED", str(tmp_path / "no-precomputed"))
    return runs


def open_app(**params) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update({"dataset": "tiny", **params})
    return at.run()


def tiny_run(seed: int = 0, epochs: int = 1) -> RunConfig:
    return RunConfig(dataset="tiny", model_name="mgcn", model=MGCNConfig(),
                     train=TrainConfig(epochs=epochs, seed=seed, batch_size=256))


def wait_for(at: AppTest) -> None:
    for job_id in at.session_state["jobs"]:
        job = jobs.wait(job_id, timeout=TIMEOUT)
        assert not job.active, f"{job_id} still {job.status}"
        assert job.status in ("done", "stopped"), job.traceback


def frame(at: AppTest, column: str) -> pd.DataFrame:
    """The first dataframe on the page that has ``column`` (the summary has "seeds", the per-run one "run")."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def open_tab(at: AppTest, tab: str) -> AppTest:
    """Open one tab of the Compare page (only the open tab's content runs)."""
    at.session_state["compare.tab"] = tab
    return at.run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


# ---- URL <-> RunConfig (no Streamlit) --------------------------------------------------------------
def test_url_params_round_trip_every_switch():
    run = RunConfig(dataset="tiny", model_name="mambarec",
                    model=mambarec_preset("official", use_mmd=False, sigma=1.5, dilation_rates=(2, 4, 6),
                                            reduction_factor=4, cl_views="both"),
                    train=TrainConfig(epochs=7, seed=3, learning_rate=5e-4))
    params = run_to_params(run)
    assert params["variant"] == "official" and params["use_mmd"] == "false" and params["dilation_rates"] == "2,4,6"
    assert "tau" not in params  # equal to the official preset: not written
    back, errors, notes = run_from_params(params)
    assert errors == [] and notes == [] and back == run
    lgcn = RunConfig(dataset="tiny", model_name="lightgcn", model=LightGCNConfig(n_layers=3),
                     train=TrainConfig(epochs=5))
    assert run_from_params(run_to_params(lgcn))[0] == lgcn  # every model's own fields


def test_bad_url_params_are_reported_not_ignored():
    base = state.default_train("tiny")
    run, errors, _ = run_from_params({"variant": "paper", "sigma": "-1", "nonsense": "1", "epochs": "x"}, base)
    assert run.model.sigma == 1.0 and run.train.epochs == base.epochs
    assert len(errors) == 3 and any("nonsense" in e for e in errors)
    run, errors, _ = run_from_params({"model_name": "lightgcn", "lambda_mmd": "0.3", "n_layers": "3"}, base)
    assert run.model == LightGCNConfig(n_layers=3)  # what applies is used...
    assert errors == ["lambda_mmd: does not apply to lightgcn (a field of another model)"]  # ...the rest is said
    run, errors, notes = run_from_params({"variant": "mgcn", "tau": "0.3"}, base)
    assert run.model_name == "mgcn" and run.model == MGCNConfig(tau=0.3) and errors == [] and "alias" in notes[0]
    run, errors, _ = run_from_params({"variant": "paper", "use_dream": "false", "compile": "dream"}, base)
    assert run.model.use_dream is False and run.train.compile == "none"  # valid apart, not together: said
    assert len(errors) == 1 and "compile='dream'" in errors[0] and "not compiled" in errors[0]


def test_a_link_asking_to_compile_a_model_without_dream_opens_with_a_note(env):
    """A URL fuzz of every page found this one crash: the Train page built the link's setup unchecked."""
    at = open_app(variant="paper", use_dream="false", compile="dream")
    no_exception(at)
    assert at.session_state["run_config"].train.compile == "none"


# ---- pages ------------------------------------------------------------------------------------------
# Addresses a slide, a typo or a curious student can produce: each page must open with a note, never a traceback.
BAD_PARAMS = ({"dataset": "../../etc"}, {"dataset": ""}, {"dataset": "synthetic/cold-items?cold_share=abc"},
              {"step": "r.99"},
              {"cells": "<script>x</script>,group:nope"}, {"ref": "zzz", "tab": "nope", "metric": "Recall@999"},
              {"seed": "99999999999999999999", "after": "nope", "lines": "-3"}, {"user": "-5", "k": "abc"},
              {"item": "x", "modality": "smell", "channel": "999"}, {"learning_rate": "nan", "epochs": "0"},
              {"variant": "nope", "compile": "banana", "dilation_rates": "a,b,c"},
              {"variant": "paper", "use_dream": "false", "compile": "dream"})


@pytest.mark.parametrize("params", BAD_PARAMS, ids=lambda p: ",".join(p))
def test_every_page_survives_bad_url_parameters(env, params):
    for page in ("streamlit_app.py", *PAGES):
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        at.query_params.update({"dataset": "tiny", **params})
        at.run()
        if page != "streamlit_app.py":
            at.switch_page(page).run()
        no_exception(at)
        shown = [m.value for m in (*at.warning, *at.error)]  # notes in the user's words, not Python's internals
        assert not [m for m in shown if "NoneType" in m or "has no attribute" in m or "'.'" in m], (page, shown)


def test_a_dataset_that_is_not_there_is_said_once_with_its_choices(env):
    """A link naming data the server lacks showed the whole reason twice (page and sidebar, the data directory's
    list in Python's brackets each time), with a ".." inside it, and then offered to train on the missing data."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update({"dataset": "nowhere"})
    at.run()
    at.switch_page("app/pages/compare.py").run()
    no_exception(at)
    said = [e.value for e in at.main.error]
    assert len(said) == 1 and "dataset 'nowhere' not found" in said[0] and ".." not in said[0]
    assert "Available: synthetic, synthetic/cold-items" in said[0] and said[0].endswith("Pick another dataset in "
                                                                                        "the sidebar.")
    assert [e.value for e in at.sidebar.error] == ["Cannot load 'nowhere': the page says why. Pick another dataset "
                                                   "above."]
    assert not any("train one" in i.value for i in at.info)  # no training on data that is not there


def test_a_link_never_points_the_server_at_a_folder(env, tmp_path):
    """Rehearsal r72: ``dataset=../../etc`` had the server look for a dataset in that folder ("no <name>.inter file
    found"); a real dataset folder named by its path loaded. The app takes names; the command line, paths."""
    from mambarec.data import DatasetError

    folder = write_tiny_dataset(tmp_path / "elsewhere")
    for name in ("../../etc", str(folder), "~/data", "tiny/../tiny", ".."):
        with pytest.raises(DatasetError, match="the app opens datasets by name, not by path"):
            state.get_dataset(name)
    assert state.get_dataset("tiny").name == "tiny" and state.get_dataset("synthetic/cold-items").n_items
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update({"dataset": str(folder)})
    at.run()
    at.switch_page("app/pages/compare.py").run()
    no_exception(at)
    [said] = [e.value for e in at.main.error]
    assert "by name, not by path" in said and "Available: synthetic" in said


def test_every_page_renders(env):
    at = open_app()
    no_exception(at)
    assert at.title[0].value == "Train & ablate"
    for page in PAGES:
        at.switch_page(page).run()
        no_exception(at)
        assert at.title, page
    at.switch_page("app/pages/compare.py").run()
    assert any("no precomputed results yet" in i.value for i in at.info)
    at.switch_page("app/pages/about.py").run()
    assert any("Dataset card: tiny" in s.value for s in at.subheader)
    d_v = state.get_dataset("tiny").visual.shape[1]
    shrink = next(m.value for m in at.markdown if "Shrink the visual feature" in m.value)
    assert f"{d_v} → {d_v // 8} on this dataset" in shrink  # this dataset's widths, not Baby's 4096 → 512 alone
    # it said what the model is, not what the app is, and named one doc in a folded section (rehearsal r53, F10)
    [intro] = [m.value for m in at.markdown if m.value.startswith("**This app**")]
    assert all(f"**{p}**" in intro for p in ("Lessons", "Train & ablate", "Compare runs", "Embeddings", "Users"))
    docs = ("README.md", "precomputed/REPORT.md", "docs/model.md", "docs/protocol.md", "docs/departures.md")
    assert all((ROOT / doc).is_file() and doc in intro for doc in docs)
    # with no trained run, the pages that need weights say where they can come from: precompute ships none of tiny's
    for page in ("app/pages/users.py", "app/pages/dream_inspector.py"):
        at.switch_page(page).run()
        hint = " ".join(i.value for i in at.info)
        assert "brings none for this dataset" in hint and "for the precomputed checkpoints" not in hint, page
    assert "for the precomputed checkpoints" in models.train_hint("synthetic")


@pytest.mark.parametrize(("spec", "note"), [
    ("synthetic", "396 of the 400 generated items are kept; the other 4 items fell to MMRec's 5-core filter"),
    ("synthetic?n_users=100", "99 of the 100 generated users and 168 of the 400 generated items are kept; the other "
                              "1 user and 232 items fell to MMRec's 5-core filter"),
    ("synthetic?n_items=100", None),  # every user and item drawn has 5 interactions or more: nothing to explain
])
def test_dataset_card_says_where_generated_items_went(env, spec, note):
    ds = state.get_dataset(spec)
    at = open_app(dataset=spec, show="dataset")
    at.switch_page("app/pages/about.py").run()
    no_exception(at)
    assert any(f"Dataset card: {spec}" in s.value for s in at.subheader)
    said = [c.value for c in at.caption if "generated" in c.value and "5-core" in c.value]
    if note is None:
        assert said == [] and (ds.n_users, ds.n_items) == (600, 100)
    else:
        assert len(said) == 1 and said[0].startswith(note), said
        assert said[0].endswith("which repeatedly drops users and items with fewer than 5 interactions.")


def test_widget_changes_edit_the_url_and_never_train(env):
    at = open_app()
    assert at.query_params["variant"] == ["paper"] or at.query_params["variant"] == "paper"
    at.number_input(key="cfg.epochs").set_value(3).run()
    at.toggle(key="cfg.use_mmd").set_value(False).run()
    at.selectbox(key="cfg.reduction_factor").set_value(4).run()
    no_exception(at)
    params = run_to_params(at.session_state["run_config"])
    assert params["epochs"] == "3" and params["use_mmd"] == "false" and params["reduction_factor"] == "4"
    url = {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert url == params
    assert at.session_state["jobs"] == []  # nothing trains until Train is pressed
    at.button(key="preset.No alignment").click().run()
    run = at.session_state["run_config"]
    assert (run.model.use_mmd, run.model.use_cl, run.model.reduction_factor) == (False, False, 8)
    assert run.train.epochs == 3  # presets keep the training settings
    at.switch_page("app/pages/about.py").run()
    assert dict(at.query_params) in ({"dataset": "tiny"}, {"dataset": ["tiny"]})
    at.switch_page("app/pages/train.py").run()  # back: the setup is still there, and in the URL again
    no_exception(at)
    assert at.number_input(key="cfg.epochs").value == 3 and at.toggle(key="cfg.use_cl").value is False
    assert run_to_params(at.session_state["run_config"])["use_cl"] == "false"


def test_a_link_reproduces_the_setup(env):
    at = open_app(variant="official", use_cl="false", tau="0.5", epochs="4", seed="9", bogus="1")
    no_exception(at)
    run = at.session_state["run_config"]
    assert run.model == mambarec_preset("official", use_cl=False, tau=0.5)
    assert (run.train.epochs, run.train.seed, run.dataset) == (4, 9, "tiny")
    assert at.toggle(key="cfg.use_cl").value is False
    assert any("bogus" in w.value for w in at.warning)


def test_a_root_link_without_a_model_or_preset_is_still_a_train_link(env):
    """``/?epochs=7&lambda_mmd=0.3`` opened Train with every value dropped and no word said."""
    at = open_app(epochs="7", lambda_mmd="0.3")
    no_exception(at)
    run = at.session_state["run_config"]
    assert run.model == mambarec_preset("paper", lambda_mmd=0.3) and run.train.epochs == 7
    assert at.number_input(key="cfg.epochs").value == 7
    assert state.root_link({"epochs": "7"}) and state.root_link({"dataset": "ml100k", "tau": "0.5"})
    assert not state.root_link({"dataset": "ml100k", "lesson": "alignment", "step": "alignment.1"})


def test_a_link_with_wide_dilations_or_a_huge_number_shows_its_values_or_says_why(env):
    """Dilations above the form's old cap of 64 left its boxes empty ("the form's state was lost", Train disabled);
    a 20-digit epoch cap was taken, shown rounded, then called "left empty"."""
    at = open_app(variant="paper", dilation_rates="100,100,100")
    no_exception(at)
    assert at.session_state["run_config"].model.dilation_rates == (100, 100, 100)
    assert [at.number_input(key=f"cfg.dilation_rates.{i}").value for i in range(3)] == [100, 100, 100]
    assert not [w.value for w in at.warning if "lost" in w.value]
    at = open_app(variant="paper", epochs="99999999999999999999")
    no_exception(at)
    assert at.session_state["run_config"].train.epochs == 1000 and at.number_input(key="cfg.epochs").value == 1000
    assert any("at most" in m.value for m in (*at.warning, *at.error)) and not any(
        "left empty" in w.value for w in at.run().warning)


def test_a_train_page_address_without_a_model_is_a_train_link_and_other_pages_are_not(monkeypatch):
    """``/train?epochs=7`` (an edited Train address) was dropped without a word; an Embeddings link's ``seed`` is the
    run it shows, never the Train setup's seed; an empty ``dataset=`` names no folder (it was read as '.')."""
    for path, link in (("/", True), ("/train", True), ("/embeddings", False), ("/compare", False)):
        monkeypatch.setattr(state.st, "context", types.SimpleNamespace(url=f"http://host:8501{path}?seed=3"))
        assert state.root_link({"epochs": "7", "seed": "3"}) is link, path
    run, errors, _ = state.parse_setup({"dataset": "", "epochs": "7"}, link=True)
    assert run.dataset == state.DEFAULT_DATASET and run.train.epochs == 7 and not errors


def test_tiny_training_run_completes_and_appears_in_compare(env):
    at = open_app(model_name="mgcn", epochs="2", batch_size="256")
    at.button[[b.label for b in at.button].index("Train")].click().run()
    [job_id] = at.session_state["jobs"]
    wait_for(at)
    at.run()
    no_exception(at)
    assert any(s.value.startswith(f"Saved as run `{job_id}`") for s in at.caption)  # the card's caption (r76, item 1)
    assert (env / job_id / "checkpoint.pt").is_file()
    at.switch_page("app/pages/compare.py").run()
    no_exception(at)
    rows = frame(at, "run")
    assert job_id in rows["run"].tolist()
    assert {"mgcn · batch_size=256 · ≤2 ep", "pop"} <= set(compare_table(at)["setup"])  # ≤2 ep: its epoch cap
    open_tab(at, "Checkpoints")
    at.button[[b.label for b in at.button].index("Use its setup on the Train page")].click().run()
    no_exception(at)
    assert at.title[0].value == "Train & ablate"
    assert at.session_state["run_config"].model == MGCNConfig()
    assert at.number_input(key="cfg.epochs").value == 2


def test_repeat_with_three_seeds_gives_mean_and_std(env):
    at = open_app(variant="mgcn", epochs="1", batch_size="256", seed="5")  # the alias of model mgcn
    at.button[[b.label for b in at.button].index("3 seeds")].click().run()
    assert len(at.session_state["jobs"]) == 3
    wait_for(at)
    at.switch_page("app/pages/compare.py").run()
    row = compare_table(at).set_index("setup").loc["mgcn · batch_size=256 · ≤1 ep"]
    assert row["seeds × epochs"] == "3× 1/1 ep · cap" and " ± " in row["Recall@20"]  # three seeds: a sample std
    assert sorted(jobs.get(j).run.train.seed for j in at.session_state["jobs"]) == [5, 6, 7]  # three, not one thrice


def test_the_papers_numbers_show_beside_ours_on_the_papers_datasets(env):
    at = open_app(dataset="baby")
    at.switch_page("app/pages/compare.py").run()
    open_tab(at, "The paper's numbers")
    no_exception(at)
    assert any("The paper's numbers on Baby, beside ours" in m.value for m in at.markdown)
    published = next(df.value for df in at.dataframe if "paper Recall@20" in df.value.columns)
    assert published.loc["MambaRec", "paper Recall@20"] == pytest.approx(0.1013)


def test_checkpoint_uploads_are_validated_against_the_active_dataset(env, tmp_path):
    good = jobs.wait(jobs.start(tiny_run(), state.get_dataset("tiny"), root=tmp_path / "elsewhere").id, TIMEOUT)
    data = (good.folder / "checkpoint.pt").read_bytes()
    at = open_app()
    at.switch_page("app/pages/compare.py").run()
    open_tab(at, "Checkpoints")
    for junk in (b"not a checkpoint", b"user,item\n1,2\n"):  # torch's reader raised IndexError on the CSV
        at.file_uploader(key="ckpt.upload").set_value(("evil.pt", junk, "application/octet-stream"))
        at.run()
        no_exception(at)
        assert any("refused" in e.value and "not a readable MambaRec checkpoint" in e.value for e in at.error)
    # any file is read, and a text file is told what a checkpoint is: with Streamlit's type filter it got a red chip
    # alone, under the refusal of the file before (rehearsal r72)
    at.file_uploader(key="ckpt.upload").set_value(("notes.txt", b"my notes", "text/plain")).run()
    [said] = [e.value for e in at.error]
    assert "refused" in said and "`notes.txt` is not even a .pt file" in said and "weights_only" not in said
    # a refused file, then the corrected one under the same name and size (what the refusal asks for): checked anew
    at.file_uploader(key="ckpt.upload").set_value(("good.pt", b"x" * len(data), "application/octet-stream")).run()
    assert any("refused" in e.value for e in at.error)
    at.file_uploader(key="ckpt.upload").set_value(("good.pt", data, "application/octet-stream")).run()
    no_exception(at)
    assert any("accepted" in m.value for m in at.success) and not at.error
    [folder] = [d for d in env.iterdir() if d.name.startswith("uploaded-")]
    assert (folder / "checkpoint.pt").read_bytes() == data
    assert folder.name in frame(open_tab(at, "Every run and seed"), "run")["run"].tolist()  # listed as a run
    at.switch_page("app/pages/about.py").run()
    no_exception(at)

    other = open_app(dataset="baby")  # same file, other data: refused by its fingerprint
    other.switch_page("app/pages/compare.py").run()
    open_tab(other, "Checkpoints")
    other.file_uploader(key="ckpt.upload").set_value(("good.pt", data, "application/octet-stream")).run()
    no_exception(other)
    assert any("refused" in e.value and "fingerprint" in e.value for e in other.error)


# ---- background jobs -------------------------------------------------------------------------------
def test_stop_keeps_the_best_state_and_saves_the_run(env):
    ds = state.get_dataset("tiny")
    job = jobs.start(tiny_run(epochs=500), ds, root=env)
    deadline = time.time() + TIMEOUT
    while not job.events and time.time() < deadline:
        time.sleep(0.05)
    jobs.stop(job.id)
    jobs.wait(job.id, TIMEOUT)
    assert job.status == "stopped" and job.saved and job.result.cancelled
    assert 1 <= job.result.best_epoch <= job.result.epochs_run < 500
    assert (env / job.id / "metrics.json").is_file()
    best = next(row for row in job.result.history if row["epoch"] == job.result.best_epoch)
    assert job.result.test["Recall@20"] == best["test/Recall@20"]  # the best epoch's numbers, not the last one's
    assert json.loads((env / job.id / "metrics.json").read_text())["test/Recall@20"] == best["test/Recall@20"]


OWNER = "session abc123"


def run_whose_server_went(env: Path, how: str) -> Path:
    """A live run of ``OWNER`` whose server went away mid-run: its pipe closed ("killed") or SIGTERM ("stopped")."""
    ds = state.get_dataset("tiny")
    folder = env / f"server-{how}"
    receive, send = jobs.CONTEXT.Pipe(duplex=False)
    stop = jobs.CONTEXT.Event()
    worker = jobs.CONTEXT.Process(target=jobs._in_worker, daemon=True,
                                  args=(tiny_run(epochs=100_000).to_json(), ds, str(folder), {}, send, stop, OWNER))
    jobs.guard_main()
    worker.start()
    send.close()
    deadline = time.time() + TIMEOUT
    while receive.recv()[0] != "epoch":  # the run is under way
        assert time.time() < deadline
    if how == "killed":
        receive.close()
    else:
        worker.terminate()
    worker.join(TIMEOUT)
    assert worker.exitcode == 0
    return folder


@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_a_server_that_goes_away_loses_no_live_run(env, how):
    """A server killed (its pipe closes) or stopped (multiprocessing sends its daemon workers SIGTERM at exit) used
    to take the live run with it: nothing reached runs/. The worker now stops as the Stop button does and saves."""
    folder = run_whose_server_went(env, how)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 1 <= metrics["best_epoch"] <= metrics["epochs_run"] < 100_000
    assert (folder / "checkpoint.pt").is_file()
    # Compare read it "stopped by hand", though no one stopped it (audit r59, item 10)
    from mambarec.comparison import ran_text

    assert metrics["cancelled"] and metrics[INTERRUPTED] == worker_module.SERVER_GONE
    assert ran_text(metrics["epochs_run"], 100_000, False, True, metrics[INTERRUPTED]).endswith(
        "interrupted (its server stopped; its best state so far was kept)")
    assert metrics[STARTED_BY] == OWNER  # so that its owner is told when back (next test)


def test_the_owner_of_a_run_interrupted_while_away_is_told_on_train_until_it_says_got_it(env):
    """A server restarted under a live run (after a pull, as the page asks) took the run's card with it: only
    Compare's label said what had become of it. Back on Train, its owner's browser (the cookie's label) is told,
    with how to continue it; another browser is not; "Got it" closes the note, also for the owner's next reload."""
    folder = run_whose_server_went(env, "stopped")
    metrics = json.loads((folder / "metrics.json").read_text())

    def train_page(owner: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        at.query_params.update({"dataset": "tiny", "epochs": "3"})
        at.session_state["owner"] = owner  # what the browser's cookie gives state.owner()
        return at.run()

    def notes(at: AppTest) -> list[str]:
        return [i.value for i in at.info if "interrupted while you were away" in i.value]

    at = train_page(OWNER)
    no_exception(at)
    said = notes(at)
    assert len(said) == 1 and f"`{folder.name}`" in said[0] and f"epoch {metrics['best_epoch']}" in said[0]
    assert f"--resume {folder}/checkpoint.pt --out {folder}" in said[0]
    assert notes(train_page("session 999999")) == []  # another browser's run is not named to this one
    next(b for b in at.button if b.label == "Got it").click().run()
    no_exception(at)
    assert notes(at) == [] and notes(train_page(OWNER)) == []  # closed, also after a reload (a new session)


def live_job(env: Path, epochs_reported: int = 1) -> jobs.Job:
    """A long live run of the tiny data, once it has reported ``epochs_reported`` epochs."""
    job = jobs.start(tiny_run(epochs=100_000), state.get_dataset("tiny"), root=env)
    deadline = time.time() + TIMEOUT
    while len(job.events) < epochs_reported:
        assert time.time() < deadline and job.active
        time.sleep(0.02)
    return job


def test_a_run_stopped_by_hand_is_not_marked_interrupted(env):
    job = live_job(env)
    jobs.stop(job.id, by="session abc123")
    jobs.wait(job.id, TIMEOUT)
    metrics = json.loads((job.folder / "metrics.json").read_text())
    assert job.status == "stopped" and metrics["cancelled"] and INTERRUPTED not in metrics


def test_a_worker_killed_outright_keeps_its_last_progress_save(env, monkeypatch):
    """A worker killed without warning (the out-of-memory killer's SIGKILL) lost the whole live run: "failed" and
    nothing in runs/. The worker now saves its progress as it goes, and the server lists the last save."""
    from mambarec.catalog import list_runs
    from mambarec.checkpoint import load_model

    monkeypatch.setenv("MAMBAREC_SAVE_EVERY", "0.001")  # a save at every epoch's end
    job = live_job(env, epochs_reported=3)  # epochs 1 and 2 are saved
    os.kill(job.process.pid, signal.SIGKILL)
    jobs.wait(job.id, TIMEOUT)
    assert job.status == "failed" and "SIGKILL" in job.error and job.saved
    metrics = json.loads((job.folder / "metrics.json").read_text())
    assert 2 <= metrics["epochs_run"] == job.result.epochs_run < 100_000 and metrics["cancelled"]
    assert job.result.test["Recall@20"] == metrics["test/Recall@20"]
    assert job.id in [r.id for r in list_runs(env)]
    assert sorted(p.name for p in job.folder.iterdir()) == ["checkpoint.pt", "config.json", "metrics.json"]
    load_model(job.folder / "checkpoint.pt", state.get_dataset("tiny"))  # the kept weights fit the model


def test_a_run_with_progress_saves_is_saved_whole_when_stopped(env, monkeypatch):
    """The final save continues the folder that the progress saves began (it used to refuse a folder with files)."""
    monkeypatch.setenv("MAMBAREC_SAVE_EVERY", "0.001")
    ds = state.get_dataset("tiny")
    job = jobs.start(tiny_run(epochs=100_000), ds, root=env)
    deadline = time.time() + TIMEOUT
    while len(job.events) < 2:
        assert time.time() < deadline and job.active
        time.sleep(0.02)
    jobs.stop(job.id)
    jobs.wait(job.id, TIMEOUT)
    assert job.status == "stopped" and job.saved and job.error is None
    metrics = json.loads((job.folder / "metrics.json").read_text())
    assert metrics["epochs_run"] == job.result.epochs_run >= 2


def test_a_worker_killed_with_its_server_is_listed_by_the_next_one(env):
    """Server and worker killed together (a machine's reboot, the whole process group): no one was left to list the
    last progress save. Its claim on the folder names a dead process, so the next page that lists runs adopts it;
    a folder whose worker lives is left alone."""
    from mambarec.catalog import list_runs
    from mambarec.progress import adopt_orphans

    ds = state.get_dataset("tiny")
    folder = env / "killed-with-server"
    receive, send = jobs.CONTEXT.Pipe(duplex=False)
    stop = jobs.CONTEXT.Event()  # held here: the worker unpickles it after start() returns
    worker = jobs.CONTEXT.Process(target=jobs._in_worker, daemon=True,
                                  args=(tiny_run(epochs=100_000).to_json(), ds, str(folder),
                                        {"MAMBAREC_SAVE_EVERY": "0.001"}, send, stop))
    jobs.guard_main()
    worker.start()
    send.close()
    deadline = time.time() + TIMEOUT
    epochs = 0
    while epochs < 3:  # epoch 3 reported: 1 and 2 are saved
        assert time.time() < deadline
        message = receive.recv()
        assert message[0] != "error", message
        epochs += message[0] == "epoch"
    assert adopt_orphans(env) == [] and not (folder / "metrics.json").exists()  # alive: not an orphan
    os.kill(worker.pid, signal.SIGKILL)
    worker.join(TIMEOUT)
    assert lock_owner(folder / ".train.lock") == (worker.pid, HOST) and not (folder / "metrics.json").exists()
    rows, _ = results.results_table("tiny", ds.fingerprint())  # what Compare does first: the run is listed
    assert folder.name in set(rows["run"])
    [ran] = rows.loc[rows["run"] == folder.name, "ran"]
    assert ran.endswith("interrupted (its process died; kept from its last save)")  # not "stopped by hand" (r59)
    # had this been a job of a living server, a page that listed the runs before its watcher noticed the death
    # adopted the save first: the job still says what was kept
    job = jobs.Job(id=folder.name, run=tiny_run(epochs=100_000), folder=folder)
    jobs._died(job, -signal.SIGKILL, worker.pid)
    assert job.status == "failed" and job.saved and job.result.epochs_run >= 2
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["cancelled"] and metrics["epochs_run"] >= 2
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint.pt", "config.json", "metrics.json"]
    assert folder.name in [r.id for r in list_runs(env)]


def test_a_worker_that_was_never_saved_fails_without_a_run(env, monkeypatch):
    monkeypatch.setenv("MAMBAREC_SAVE_EVERY", "0")  # no progress saves
    job = live_job(env)
    os.kill(job.process.pid, signal.SIGKILL)
    jobs.wait(job.id, TIMEOUT)
    assert job.status == "failed" and "signal 9" in job.error and not job.saved
    assert not job.folder.exists()  # its claim was all it held: no empty folder is left in runs/


def test_errors_are_kept_on_the_job(env):
    ds = state.get_dataset("tiny")
    run = tiny_run()
    run = RunConfig(dataset=run.dataset, model_name=run.model_name, model=run.model,
                    train=TrainConfig(epochs=1, device="cuda"))
    if torch.cuda.is_available():  # decided before the run: a silent fallback to the CPU must fail below
        pytest.skip("CUDA is available here")
    job = jobs.wait(jobs.start(run, ds, root=env).id, TIMEOUT)
    assert job.status == "failed" and "cuda is not available" in job.error.lower() and "--device cpu" in job.error
    assert not job.saved and not job.traceback  # advice, not a bug: no stack (a bug keeps one, below)


def test_a_workers_unexpected_error_keeps_its_stack_and_an_advised_one_does_not(tmp_path):
    import threading

    from app import worker

    sent = []
    conn = types.SimpleNamespace(send=sent.append, close=lambda: None)
    before = signal.getsignal(signal.SIGTERM)
    try:
        worker.train_job("{not json", None, str(tmp_path / "a"), {}, conn, threading.Event())  # a bug: stack kept
        run = dataclasses.replace(tiny_run(), train=TrainConfig(epochs=1, device="cuda"))
        if not torch.cuda.is_available():
            worker.train_job(run.to_json(), state.get_dataset("tiny"), str(tmp_path / "b"), {}, conn, threading.Event())
    finally:
        signal.signal(signal.SIGTERM, before)
    assert sent[0][0] == "error" and sent[0][1].startswith("JSONDecodeError") and "Traceback" in sent[0][2]
    assert all(m[0] == "error" and m[1].startswith("device 'cuda'") and m[2] == "" for m in sent[1:])


def test_a_diverged_run_says_what_to_change_without_a_stack(env):
    """A learning rate of 1e20: the loss becomes nan. The page showed "FloatingPointError: ..." and a Traceback
    expander; the message names what to lower, so it stands alone (a bug's stack is kept, above)."""
    run = tiny_run()
    run = dataclasses.replace(run, train=dataclasses.replace(run.train, learning_rate=1e20, epochs=2))
    job = jobs.wait(jobs.start(run, state.get_dataset("tiny"), root=env).id, TIMEOUT)
    assert job.status == "failed" and job.error.startswith("the loss became") and "lower learning_rate" in job.error
    assert not job.traceback


def test_paired_wilcoxon_on_two_runs(env):
    ds = state.get_dataset("tiny")
    a = jobs.wait(jobs.start(tiny_run(seed=0, epochs=2), ds, root=env).id, TIMEOUT)
    b = jobs.wait(jobs.start(tiny_run(seed=1, epochs=2), ds, root=env).id, TIMEOUT)
    res = results.paired_wilcoxon(str(a.folder / "checkpoint.pt"), str(b.folder / "checkpoint.pt"), "tiny")
    assert res["users"] == int((ds.matrix("test").getnnz(axis=1) > 0).sum())  # every user with a test item
    assert abs(res["mean A"] - a.result.test["Recall@20"]) < 1e-9
    assert abs(res["mean B"] - b.result.test["Recall@20"]) < 1e-9
    assert res["differing users"] > 0 and f"p = {res['p_value']:.3g}" in res["verdict"]  # the verdict cites its test
    same = results.paired_wilcoxon(str(a.folder / "checkpoint.pt"), str(a.folder / "checkpoint.pt"), "tiny")
    assert same["differing users"] == 0 and same["p_value"] is None


def test_estimate_times_batches_and_an_evaluation(data_root, monkeypatch):
    from app import estimate

    monkeypatch.setenv("MAMBAREC_DATA", str(data_root))
    run = tiny_run(epochs=10)
    cost = estimate.measure(run, state.get_dataset("tiny"))
    assert cost.batch_s > 0 and cost.eval_s > 0 and cost.n_batches == 3  # 556 training pairs / 256
    assert cost.epochs_timed >= 1 and cost.setup_s == 0  # short epochs are timed whole, after the cold first
    assert cost.total_s(10) == pytest.approx(cost.build_s + cost.once_s
                                             + 10 * (cost.setup_s + 3 * cost.batch_s + cost.eval_s))
    assert cost.total_s(10, eval_every=5) < cost.total_s(10)
    assert estimate.describe(0.2) == "< 1 s" and estimate.describe(90) == "1.5 min"


def test_the_estimate_is_not_moved_by_a_slow_epoch_after_the_first(data_root, monkeypatch):
    """Short epochs are timed whole, and a slow one among them (a fresh worker, a page redrawn on the same cores)
    does not set the figure: three epochs of 0.15 s had read 0.45 s with the mean of three."""
    from app import estimate
    from mambarec.train import NegativeSampler

    monkeypatch.setenv("MAMBAREC_DATA", str(data_root))
    draw = NegativeSampler.__call__
    calls = []

    def slow_second_epoch(self, *args, **kwargs):
        calls.append(1)
        if 4 <= len(calls) <= 6:  # tiny has 3 batches an epoch: the second epoch's three
            time.sleep(0.3)
        return draw(self, *args, **kwargs)

    monkeypatch.setattr(NegativeSampler, "__call__", slow_second_epoch)
    cost = estimate.measure(tiny_run(epochs=10), state.get_dataset("tiny"))
    assert cost.epochs_timed > estimate.WHOLE_EPOCHS  # more epochs than three when they are this short
    assert cost.epoch_s < 0.3  # the median: the 0.9 s epoch is one of several (the mean of three was >= 0.3)


def test_the_estimate_counts_a_cold_start_once_not_every_epoch(data_root, monkeypatch):
    """A cold first step (with compile = dream, ~25 s of compiling) is paid once by a run: the estimate names it as
    a one-time cost rather than leaving it out (the cold first epoch is not timed per epoch)."""
    from app import estimate
    from mambarec.train import NegativeSampler

    monkeypatch.setenv("MAMBAREC_DATA", str(data_root))
    draw = NegativeSampler.__call__
    calls = []

    def cold_first(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(1.5)  # what a first step that compiles costs, shortened
        return draw(self, *args, **kwargs)

    monkeypatch.setattr(NegativeSampler, "__call__", cold_first)
    cost = estimate.measure(tiny_run(epochs=10), state.get_dataset("tiny"))
    assert cost.epoch_s < 1.0 and cost.once_s >= 1.4  # the sleep, once
    assert cost.start_s == cost.build_s + cost.once_s and cost.total_s(10) >= 1.5


def test_code_changed_under_a_running_server_asks_for_a_restart_instead_of_a_traceback(env, monkeypatch, tmp_path):
    """A `git pull` into a running server: Streamlit read the new page scripts against the old modules, and Compare
    showed "module 'app.urlsel' has no attribute 'arriving'" (rehearsal r53)."""
    from app import code_on_disk

    for name in ("streamlit_app.py", "app/pages/compare.py", "mambarec/stats.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    before = code_on_disk.snapshot(tmp_path)
    assert set(before) == {"streamlit_app.py", "app/pages/compare.py", "mambarec/stats.py"}
    assert code_on_disk.differences(before, code_on_disk.snapshot(tmp_path)) == []
    (tmp_path / "app/pages/compare.py").write_text("x = 22\n")  # edited
    (tmp_path / "mambarec/stats.py").unlink()
    (tmp_path / "app/urlsel.py").write_text("y = 1\n")  # added
    assert code_on_disk.differences(before, code_on_disk.snapshot(tmp_path)) == [
        "app/pages/compare.py", "app/urlsel.py", "mambarec/stats.py"]

    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    no_exception(at)
    assert not at.error and at.title  # the code it started with: the page is drawn
    pulled = {**code_on_disk.snapshot(), "app/urlsel.py": (1, 1)}  # one module edited after the server started
    monkeypatch.setattr(code_on_disk, "snapshot", lambda root=code_on_disk.ROOT: pulled)
    looks = code_on_disk._last_look()
    assert code_on_disk.changed() == [] and looks["at"] > -math.inf  # a look within RECHECK_S reuses the last one
    monkeypatch.setitem(looks, "changed", [])  # both restored afterwards: later tests see the true code again
    monkeypatch.setitem(looks, "at", looks["at"] - code_on_disk.RECHECK_S)  # as if a second had passed
    at.run()
    no_exception(at)
    said = [e.value for e in at.error]
    assert len(said) == 1 and "code changed on disk since it started (`app/urlsel.py`)" in said[0]
    assert "Restart the server" in said[0] and not at.title  # no page ran against the old modules
