"""A URL a page cannot use (a typo on a slide, a cell a regenerated grid dropped) opens the page anyway, with
the defaults and a note naming what was not used; a good one round-trips through the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import urlsel

PAGES = Path(__file__).resolve().parents[1] / "app" / "pages"
BAD = {
    "embeddings": {"item": "99999", "lines": "-4", "colour": "x", "view": "tsne", "after": "nope", "seed": "s"},
    "users": {"k": "7", "user": "100000", "a": "zzz"},
    "dream_inspector": {"item": "-1", "modality": "audio", "model": "x", "seed": "abc"},
    "compare": {"cells": "nope,paper", "ref": "zz", "tab": "nah", "metric": "x"},
    "about": {"show": "zz"},
    "lessons": {"lesson": "zz"},
}


@pytest.mark.parametrize("page", list(BAD))
def test_a_bad_url_opens_the_page_with_a_note(page, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=300)
    at.query_params.update({"dataset": "synthetic", **BAD[page]})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    notes = " ".join(c.value for c in at.caption)
    for key in BAD[page]:
        assert f"{key}=" in notes, key  # each parameter that could not be used is named
    # and none goes back to the address bar as "None" or "" (a refused item=99999 came back as item=None, users' a=zzz
    # as a=)
    assert all(v not in ("None", ["None"], "", [""]) for v in at.query_params.values()), dict(at.query_params)


@pytest.mark.parametrize("page,params", [("embeddings", {"after": "paper", "seed": "7"}),
                                         ("dream_inspector", {"seed": "-1"}), ("compare", {"step": "nope"})])
def test_a_seed_the_setup_lacks_or_an_unknown_step_is_named(page, params, tmp_path, monkeypatch):
    """They were dropped without a word: seed=7 of a cell stored with seeds 0-4 showed seed 0 as if asked for."""
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=300)
    at.query_params.update({"dataset": "synthetic", **params})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    name, value = list(params.items())[-1]
    notes = " ".join(c.value for c in at.caption)
    assert f"{name}={value}" in notes or f"{name}={value!r}" in notes, notes
    if name == "seed":
        assert at.selectbox(key=f"{'dream' if page == 'dream_inspector' else page}.seed").value != int(value)


def test_a_refused_pick_leaves_the_address_instead_of_an_empty_value(tmp_path, monkeypatch):
    """Users on ml100k (no shipped weights): ?a=paper&b=no_alignment is refused with a note, and the address bar
    read "a=&b=" after it, empty parameters a lecturer then copied onto a slide."""
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(PAGES / "users.py"), default_timeout=300)
    at.query_params.update({"dataset": "ml100k", "a": "paper", "b": "no_alignment"})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("a='paper' is not available here" in c.value for c in at.caption)
    assert "a" not in at.query_params and "b" not in at.query_params, dict(at.query_params)


def test_presentation_mode_stays_in_the_address_a_lecturer_copies(tmp_path, monkeypatch):
    """?present=1 turned presentation mode on, and the page's first URL write dropped it: an address copied off the
    projector for a slide opened in normal mode. The address now carries it while the mode is on, and not after."""
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(PAGES.parent.parent / "streamlit_app.py"), default_timeout=300)
    at.query_params.update({"present": "1"})
    at.run()
    assert not at.exception and at.session_state["presentation"]
    assert at.query_params.get("present") in ("1", ["1"]), dict(at.query_params)
    at.toggle(key="presentation.widget").set_value(False).run()
    assert not at.exception and "present" not in at.query_params, dict(at.query_params)


def test_a_present_value_that_is_neither_on_nor_off_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(PAGES.parent.parent / "streamlit_app.py"), default_timeout=300)
    at.query_params.update({"dataset": "synthetic", "present": "abc"})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("present='abc'" in c.value for c in at.caption) and not at.session_state["presentation"]


def test_a_good_url_round_trips(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(PAGES / "compare.py"), default_timeout=300)
    wanted = {"dataset": "synthetic", "cells": "paper,bpr", "ref": "bpr", "tab": "Claims"}
    at.query_params.update(wanted)
    at.run()
    assert not at.exception
    assert {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()} == wanted


def test_a_page_opened_from_the_menu_adds_one_address_not_two(tmp_path, monkeypatch):
    """What a page picks itself on arrival (Compare's reference, when the URL names none) stays out of the URL:
    written, it made every first visit two browser-history entries, so Back re-opened the same page."""
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(PAGES.parent.parent / "streamlit_app.py"), default_timeout=300)
    at.query_params.update({"dataset": "synthetic"})
    at.run()
    at.switch_page("app/pages/compare.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="compare.ref").value == "paper" and "ref" not in dict(at.query_params)
    at.run()  # a rerun keeps it out
    assert "ref" not in dict(at.query_params)
    at.selectbox(key="compare.ref").set_value("bpr").run()  # the user's own choice is written
    assert dict(at.query_params)["ref"] in ("bpr", ["bpr"])


def _params(at) -> dict[str, str]:
    return {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}


def _session_on(page: str, tmp_path, monkeypatch) -> AppTest:
    """A session opened at the root on synthetic, then on ``page`` through the app's navigation."""
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(PAGES.parent.parent / "streamlit_app.py"), default_timeout=300)
    at.query_params.update({"dataset": "synthetic"})
    at.run()
    return at.switch_page(f"app/pages/{page}.py").run()


def _browser_sends(at, url: dict[str, str]) -> None:
    """The address the next rerun carries (what the browser holds, not what the server wrote last)."""
    at.query_params.clear()
    at.query_params.update(url)


def test_a_stale_echo_of_the_page_s_own_address_does_not_undo_a_choice(tmp_path, monkeypatch):
    """A rerun the browser sent before it saw the page's newest address carries an older one that the page wrote
    itself; under load (a room of students) that happens. It must not put the older selection back."""
    at = _session_on("compare", tmp_path, monkeypatch)
    at.selectbox(key="compare.ref").set_value("bpr").run()
    stale = _params(at)  # what the browser holds now...
    at.selectbox(key="compare.ref").set_value("mgcn").run()
    assert _params(at)["ref"] == "mgcn"
    _browser_sends(at, stale)
    at.multiselect(key="compare.cells").set_value(["paper", "bpr", "mgcn"]).run()  # ...sent back by the user's
    # next choice, made before the browser saw the newer address
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="compare.ref").value == "mgcn" and at.multiselect(key="compare.cells").value == [
        "paper", "bpr", "mgcn"]
    assert _params(at)["ref"] == "mgcn" and _params(at)["cells"] == "paper,bpr,mgcn"
    # A link to an address the page wrote before (Back, a lesson's Previous step) changes no widget: applied
    _browser_sends(at, stale)
    at.run()
    assert at.selectbox(key="compare.ref").value == "bpr" and _params(at)["ref"] == "bpr"


EDITS = {  # page -> a user's next choice there, and what it leaves
    "compare": (lambda at: at.multiselect(key="compare.cells").set_value(["paper", "bpr"]),
                lambda at: at.multiselect(key="compare.cells").value == ["paper", "bpr"]),
    "train": (lambda at: at.number_input(key="cfg.epochs").set_value(7),
              lambda at: at.session_state["run_config"].train.epochs == 7),
}


@pytest.mark.parametrize("page", list(EDITS))
def test_a_stale_echo_does_not_switch_the_dataset_back(page, tmp_path, monkeypatch):
    from app.sidebar import PICKER

    at = _session_on(page, tmp_path, monkeypatch)
    stale = _params(at)  # dataset=synthetic, as the browser still holds it...
    at.selectbox(key=PICKER).set_value("synthetic/cold-items").run()
    assert _params(at)["dataset"] == "synthetic/cold-items"
    _browser_sends(at, stale)
    edit, kept = EDITS[page]
    edit(at).run()  # ...when the user's next choice left
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["dataset"] == "synthetic/cold-items" and _params(at)["dataset"] == "synthetic/cold-items"
    assert at.session_state["run_config"].dataset == "synthetic/cold-items" and kept(at)


def _choices_script():
    import streamlit as st

    from app import urlsel

    urlsel._take_snapshot()  # as urlsel.arrive does at the start of every run
    st.session_state.setdefault("touched", []).append(urlsel.touched())
    st.number_input("w", key="w", value=1)
    urlsel.button("press", key="press")
    if not st.session_state.get("interrupted"):  # a run a quicker click took over ends before its last line
        urlsel.remember(["w"])


def test_a_choice_still_counts_after_a_run_that_never_ended_and_a_press_is_a_choice():
    """The echo rule asks whether the user chose something since the last run that ended (``urlsel.touched``). The
    snapshot was taken away at the start of each run, so a run interrupted by a quicker click (a busy server) left
    none, and the next run read the user's change as no change: a stale address it carried back was applied over
    the choice. A key-less button's press was no choice either."""
    at = AppTest.from_function(_choices_script, default_timeout=60).run()
    at.number_input(key="w").set_value(2)
    at.session_state["interrupted"] = True
    at.run()  # the run of the change: interrupted before it ended
    at.session_state["interrupted"] = False
    at.run()  # the next click's run still compares with the last run that ended (w = 1)
    at.run()  # that one ended (w = 2): nothing changed since
    at.button(key="press").click().run()
    at.run()
    assert at.session_state["touched"] == [False, True, True, False, True, False]


@pytest.mark.parametrize("cells,said", [("foo,bar", "cells='foo,bar' is not available here"),
                                        ("paper,foo", "cells=foo: no setup or saved run of that name on this dataset")])
def test_a_misspelt_cell_is_named_once_without_calling_it_untrained(cells, said, tmp_path, monkeypatch):
    """cells=foo,bar drew two notes, the second calling a typo "not on this dataset yet"."""
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(PAGES / "compare.py"), default_timeout=300)
    at.query_params.update({"dataset": "synthetic", "cells": cells})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    notes = [c.value for c in at.caption if "cells=" in c.value]
    assert len(notes) == 1 and said in notes[0], notes


@pytest.mark.parametrize("page,params,said", [
    ("embeddings", {"view": "3D"}, "view='3D' is not available here (choose from PCA, UMAP); showing the default, "
                                   "PCA"),
    ("users", {"k": "7"}, "k='7' is not available here (a whole number from 5 to 50 in steps of 5); showing the "
                          "default, 10"),
    ("lessons", {"lesson": "zz"}, "(choose from alignment, "),
    ("lessons", {"lesson": "zz"}, "; showing the default, alignment"),
    ("dream_inspector", {"item": "x"}, "item='x' is not a valid value here (a whole number from 0 to 395); showing "
                                       "the default")])
def test_a_value_a_link_may_not_carry_is_named_with_the_choices(page, params, said, tmp_path, monkeypatch):
    """The notes said 'not available here' without saying what is, nor which default they showed instead: a
    student with a mistyped slide link had to guess."""
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=300)
    at.query_params.update({"dataset": "synthetic", **params})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any(said in c.value for c in at.caption), [c.value for c in at.caption]


def test_a_long_list_of_choices_is_cut_and_counted():
    assert urlsel.choices_words([f"run{i}" for i in range(11)]) == (
        " (choose from run0, run1, run2, run3, run4, run5, run6, run7, and 3 more: see the picker)")
    assert urlsel.choices_words(lambda v: v) == urlsel.choices_words([]) == urlsel.choices_words(range(0)) == ""
    assert urlsel.checked_by(range(5, 51, 5), 45) == 45 and urlsel.checked_by(range(5, 51, 5), 47) is None
