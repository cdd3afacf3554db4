"""One-shot messages ("Deleted the run `x`"): said on the run after the action, and kept through the page's own reruns.

An action stores its message (``say``) and the next run shows it (``take``). A message used to be popped as it was
shown, so a rerun the page starts by itself (Compare's stale-check ending, the Train page's card when a run ends)
threw away the run that showed it and drew the page again without it: a delete then said nothing (the CI of 886e8b0
failed so, when the stale-check ended while Compare was drawn after a delete). Such a rerun goes through ``rerun``,
and the run after it shows the messages of the run it replaced once more; a run a person causes does not.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

SHOWN = "flash.shown"  # the messages this run has shown: key -> message
REPLAY = "flash.replay"  # the messages the run before showed, when the page itself asked for this run
AGAIN = "flash.again"  # set by ``rerun``: the next run is the page's own


def begin_run() -> None:
    """At the top of every run of the app (``streamlit_app.py``): which shown messages, if any, this run replays."""
    ss = st.session_state
    ss[REPLAY] = ss.get(SHOWN, {}) if ss.pop(AGAIN, False) else {}
    ss[SHOWN] = {}


def say(key: str, message: Any) -> None:
    """Show ``message`` where ``take(key)`` is called on the next run."""
    st.session_state[key] = message


def take(key: str) -> Any:
    """The message ``say`` stored under ``key`` (then forgotten), or the one the run before showed when the page
    itself started this run; None when there is none."""
    ss = st.session_state
    new, old = ss.pop(key, None), ss.get(REPLAY, {}).pop(key, None)
    message = new if new is not None else old
    if message is not None:
        ss.setdefault(SHOWN, {})[key] = message
    return message


def rerun(**kwargs: Any) -> None:
    """``st.rerun`` for a rerun the page starts by itself: the messages shown by the run it replaces show again."""
    st.session_state[AGAIN] = True
    st.rerun(**kwargs)
