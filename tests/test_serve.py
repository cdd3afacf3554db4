"""``app/serve.py``, the app as a child process for the real-browser tests and benchmarks: a server that prints
more than a pipe holds goes on serving (its output goes to a file, never to a pipe nobody reads), and one that
exits before it is healthy says why."""

from __future__ import annotations

import asyncio
import os

import pytest

from app import roomload
from app.serve import streamlit_server

LOUD = 200_000  # characters each script run prints: three times a Linux pipe's 64 KB


@pytest.mark.slow
def test_a_server_that_prints_more_than_a_pipe_holds_still_serves(tmp_path):
    script = tmp_path / "loud_app.py"
    script.write_text(f'import streamlit as st\nprint("x" * {LOUD}, flush=True)\nst.title("Lessons")\nst.code("a")\n')
    with streamlit_server(dict(os.environ), 60, script=str(script)) as srv:
        served = asyncio.run(roomload.room(srv.url + "/", 2, [srv.url + "/"], "Lessons", '[data-testid="stCode"]'))
        assert [r.problem for r in served] == ["", ""]
        assert srv.log.stat().st_size > 2 * LOUD
        assert srv.output_tail(50) == srv.log.read_text()[-50:]


def test_a_server_that_exits_says_why(tmp_path):
    with pytest.raises(RuntimeError, match=r"(?s)streamlit exited with \d+: .*File does not exist"), \
            streamlit_server(dict(os.environ), 60, script=str(tmp_path / "missing.py")):
        pass
