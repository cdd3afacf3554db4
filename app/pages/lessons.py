"""Lessons: guided stories over the precomputed runs, so a lecture needs no live training.

Each step opens a page with the right runs selected and says in two sentences what to look at; its
link names (dataset, cell, seed), so it can go on a slide. The stories are data
(``app.lessons_content``); what ``precomputed/`` does not hold yet is said step by step.
"""

from __future__ import annotations

import streamlit as st

from app import evidence, lessonbar, roomlinks, urlsel, warmup
from app import lessons_content as L
from app.urlsel import Param
from mambarec.summary import IN_SHORT_MEASURE

PAGE = "lessons"
PARAMS = (Param("lesson", L.LESSONS[0].id),)
PAGE_TITLES = {"compare": "Compare runs", "embeddings": "Embeddings", "dream": "DREAM inspector", "users": "Users",
               "about": "About"}


def step_card(lesson: L.Lesson, index: int, inv: dict, base: str) -> None:
    step = lesson.steps[index]
    with st.container(border=True):
        text, go = st.columns([5, 1.2], vertical_alignment="center")
        text.markdown(f"**{index + 1}. {step.title}** · {PAGE_TITLES[step.page]} · `{step.dataset}`  \n{step.look}")
        lessonbar.page_link(go, step.page, "Open", ":material/arrow_forward:", L.step_query(lesson, index))
        url = L.step_url(base, lesson, index)
        # an icon alone, as on the lesson note: at 1024 x 768 the labelled button read "Q."
        with go.popover("", icon=":material/qr_code_2:", help=f"Step {index + 1}'s link as a QR code, for the room's "
                        "phones, and with a copy button"):  # as large as the lesson note's, its link under it
            st.image(roomlinks.qr_svg(url), caption=f"step {index + 1}: scan to open it",
                     width=roomlinks.PROJECTOR_QR_PX)
            st.code(url, language=None, wrap_lines=True)  # drawn only when the pop-up opens
        for note in lessonbar.missing(step, inv):
            st.caption(f":material/info: {note}")
        # The link as text to select, not a code block: a code block on the landing page made every visitor's browser
        # load and compile Streamlit's 1.5 MB highlighter (over a third of the page's bytes): docs/speed.md section 4
        st.markdown(f"`{url}`")


def render() -> None:
    st.title("Lessons")
    st.caption("Guided stories over the precomputed runs: nothing trains. Each step opens a page with the runs "
               "selected and says what to look at. For a slide, take its link: select it under the step, or copy it "
               "from its QR pop-up.")
    base, note = roomlinks.app_base()
    if note:
        st.caption(f":material/co_present: {note}")
    for note in urlsel.restore(PAGE, PARAMS, {"lesson": L.LESSON_IDS}):
        st.caption(f":material/info: {note}")
    menu, body = st.columns([1, 2.8], gap="medium")
    lesson_id = menu.radio("Lesson", list(L.LESSON_IDS), **urlsel.bound(PAGE, "lesson", L.LESSON_IDS),
                           format_func=lambda i: L.LESSON_IDS[i].title)
    lesson = L.LESSON_IDS[lesson_id]
    inv = lessonbar.current_inventory()
    with body:
        st.subheader(lesson.title)
        st.caption(lesson.summary)
        said = evidence.grid_in_short(lesson.findings_on) if lesson.findings_on else None
        if said:  # the grid's verdict first, then the steps that show it
            st.markdown(f"**What the grid found on {lesson.findings_on}, in short** ({IN_SHORT_MEASURE}): {said}")
        for index in range(len(lesson.steps)):
            step_card(lesson, index, inv, base)
    urlsel.publish(PAGE, PARAMS, with_dataset=False)
    warmup.start()


render()
