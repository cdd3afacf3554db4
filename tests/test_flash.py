"""app.flash: a one-shot message survives the page's own reruns and no more (the CI of 886e8b0 lost a delete's)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _page() -> None:
    import streamlit as st

    from app import flash

    if st.session_state.pop("tick", False):  # a poll's tick: a fragment's own run, which ends in the page's rerun
        flash.rerun()
    flash.begin_run()  # as streamlit_app.py does on every run of the app
    if st.button("Delete", key="delete"):
        flash.say("deleted", "Deleted the run `x`.")
        st.session_state.poll_ends = True
        st.rerun()
    if message := flash.take("deleted"):
        st.success(message)
    st.button("Something else", key="other")
    if st.session_state.pop("poll_ends", None):  # the page's own rerun, in the run that showed the message
        flash.rerun()


def _said(at: AppTest) -> list[str]:
    return [s.value for s in at.success]


def test_a_message_survives_the_pages_own_rerun_and_goes_with_the_next_action():
    at = AppTest.from_function(_page).run()
    assert _said(at) == []
    at.button(key="delete").click().run()  # shown, then the page reran itself in that same run
    assert _said(at) == ["Deleted the run `x`."]
    at.session_state.tick = True  # a poll's tick a second later redraws the page again
    at.run()
    assert _said(at) == ["Deleted the run `x`."]
    at.button(key="other").click().run()  # what a person does next: the message has been read
    assert _said(at) == []
    at.session_state.tick = True  # and a later redraw of the page's own does not bring it back
    at.run()
    assert _said(at) == []
