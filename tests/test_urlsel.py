"""A URL a page cannot use (a typo on a slide, a cell a regenerated grid dropped) opens the page anyway, with
the defaults and a note naming what was not used; a good one round-trips through the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

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
