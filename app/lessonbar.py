"""The lesson step a page was opened for: its two sentences at the top of the page, the way back and on,
and what ``precomputed/`` does not hold yet for it.

``precomputed/`` is read through its manifest only (what it holds, not the numbers), which is cheap
enough for the Lessons page's first paint.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitAPIException

from app import lessons_content as L
from app import paths, roomlinks, state, urlsel
from mambarec.artifacts import PrecomputedError, read_manifest
from mambarec.data.spec import dataset_slug

STEP = "lesson.step"  # the step whose note the page shows
SEEN = "lesson.step_seen"  # the last step id that came in through the URL
NBSP = "\u00a0"  # a no-break space: words joined by it wrap as one
ROW_KEY = "lessonbar-row"  # the note's title row: on a phone it wraps (app/presentation.py's ALWAYS)
NEXT_LESSON = "Next lesson"  # a last step's way on, in Next step's place: the lesson's title is its tooltip


@st.cache_data(max_entries=2, show_spinner=False)
def inventory(folder: str, signature: tuple) -> dict:
    """What the precomputed folder holds: ``runs`` as (dataset, cell, seed) triples, ``checkpoints`` and ``maps``
    (the stored embedding maps) as (their folder: ``dataset_slug(dataset)``, cell, seed), and ``groups``
    (group -> its cells)."""
    out = {"runs": set(), "checkpoints": set(), "maps": set(), "groups": {}}
    try:
        manifest = read_manifest(Path(folder))
    except (PrecomputedError, OSError):
        return out
    for key in manifest.get("runs", {}):
        dataset, cell, seed = key.rsplit("/", 2)
        out["runs"].add((dataset, cell, int(seed.lstrip("s"))))
    for rel in manifest.get("files", {}):
        parts = Path(rel).parts
        if parts[0] in ("checkpoints", "alignment") and len(parts) == 3:
            cell, _, seed = Path(rel).stem.rpartition("_s")
            if seed.isdigit():
                out["checkpoints" if parts[0] == "checkpoints" else "maps"].add((parts[1], cell, int(seed)))
    for cell, info in manifest.get("cells", {}).items():
        out["groups"].setdefault(info.get("group", ""), []).append(cell)
    return out


def current_inventory() -> dict:
    folder = paths.precomputed_dir()
    return inventory(str(folder), paths.precomputed_signature(folder))


def missing(step: L.Step, inv: dict | None = None) -> list[str]:
    """Plain notes on what the step reads and ``precomputed/`` does not hold yet (empty: all there)."""
    if not step.cells():
        return []
    inv = inv if inv is not None else current_inventory()
    ds, notes = step.dataset, []
    have = {(d, c) for d, c, _ in inv["runs"]}
    if not any(d == ds for d, _ in have):
        return [f"precomputed/ holds no runs on `{ds}` yet (a regenerated grid or the scenario sweep adds them): the "
                "page opens with what there is (saved runs, or an untrained model)."]
    for group in step.groups():
        if not [c for c in L.group_cells(inv["groups"], group) if (ds, c) in have]:
            notes.append(f"no `{group}` cells on `{ds}` yet (the regenerated grid adds them): the page shows the "
                         "other cells of this step.")
    cells = [c for c in step.cells() if not c.startswith(L.GROUP)]
    absent = [c for c in cells if (ds, c) not in have]
    if absent:
        notes.append(f"precomputed/ does not hold {', '.join(f'`{c}`' for c in absent)} on `{ds}` yet: the page "
                     "opens without them.")
    if step.checkpoint:
        store, folder = inv["checkpoints"], dataset_slug(ds)  # the folder of synthetic/cold-items: ...-cold-items
        gone = [c for c in cells if c not in absent and not any(d == folder and k == c for d, k, _ in store)]
        if gone:
            notes.append(f"no checkpoint of {', '.join(f'`{c}`' for c in gone)} on `{ds}` is shipped (only "
                         "redistributable data get checkpoints): the page falls back to what it can show.")
    return notes


def show(page: str) -> dict[str, str]:
    """The note of the lesson step this page was opened for; returns the URL parameter that keeps it."""
    ss = st.session_state
    came = urlsel.incoming().get("step")
    if came and came != ss.get(SEEN):
        ss[STEP] = came
        if L.find_step(came) is None:
            st.caption(f":material/info: step={came!r} names no lesson step (the Lessons page lists them, each with "
                       "its link); the page opens without a step's note")
    ss[SEEN] = came
    found = L.find_step(ss.get(STEP)) if ss.get(STEP) else None
    if found is None:
        return {}
    lesson, index = found
    step = lesson.steps[index]
    # a step that cannot be shown here says why, where its note had gone without a word (audit r77, item 4)
    if step.page != page:
        if came:
            st.caption(f":material/info: step={came!r} is a step of the /{L.PAGES[step.page][1]} page: this page "
                       "opens without its note (the Lessons page, or the step's own link, opens it)")
        return {}
    if step.dataset != state.active_dataset_name():  # the reader picked another dataset: the note speaks of the step's
        ss[STEP] = None
        st.caption(f":material/info: the lesson step {L.step_id(lesson, index)!r} reads the dataset {step.dataset}, "
                   f"and {state.active_dataset_name()} is picked: its note is left out (pick {step.dataset} in the "
                   "sidebar and open the step's link again to see it)")
        return {}
    # The step's title and the way on in one row, its two sentences the whole width below: the buttons stacked
    # beside the text made the card 180-220 px tall at 1280 x 800 and pushed what the step talks about below the fold
    with st.container(border=True, gap=None):
        # the buttons as wide as they are, the title the rest: in fixed column shares one or the other wrapped, the
        # close button on a row of its own at 1024 x 768 or the title in three lines at 1280 (rehearsal r72)
        row = st.container(horizontal=True, wrap=False, vertical_alignment="center", gap="small", key=ROW_KEY)
        count = NBSP.join(("step", str(index + 1), "of", f"{len(lesson.steps)}:"))  # one piece: it wrapped as
        row.markdown(f"**{lesson.title}** · {count} *{step.title}*", width="stretch")  # "step 3 of" / "4:"
        nav = row.container(horizontal=True, horizontal_alignment="right", vertical_alignment="center",
                            gap="xsmall", width="content")
        if index > 0:
            link(nav, lesson, index - 1, "Previous", ":material/arrow_back:")
        if index + 1 < len(lesson.steps):
            link(nav, lesson, index + 1, "Next step", ":material/arrow_forward:")
        elif (after := next_lesson(lesson)) is not None:  # the last step: on to the next lesson in one click
            # no tooltip: under a presenter's resting pointer it covered the next note's title (rehearsal r55, P3)
            link(nav, after, 0, NEXT_LESSON, ":material/arrow_forward:")
        page_link(nav, "lessons", "All lessons", ":material/school:", {"lesson": lesson.id})
        # an icon alone, borderless like the links beside it: a labelled button wrapped the row in presentation mode
        with nav.popover("", icon=":material/qr_code_2:", type="tertiary", help="This step's link as a QR code: the "
                         "room scans it off the projector to open the step on their own screens"):
            url = L.step_url(roomlinks.app_base()[0], lesson, index)
            st.image(roomlinks.qr_svg(url), caption="scan to open this step", width=roomlinks.PROJECTOR_QR_PX)
            st.code(url, language=None, wrap_lines=True)
        # an icon alone, as a closing x: labelled "Hide", it took a row of its own at 1024 x 768 (rehearsal r72)
        if nav.button("", key=f"{page}.lesson.close", icon=":material/close:", type="tertiary",
                      help="Hide this lesson note"):
            ss[STEP] = None
            st.rerun()
        st.markdown(step.look)
        for note in missing(step):
            st.caption(f":material/info: {note}")
    return {"step": L.step_id(lesson, index)}


def step_cells(step: dict) -> list[str]:
    """The cells the lesson step a page shows (``show``'s answer) names, ``group:`` ones as written: the ones
    ``missing`` speaks of, so that a page names only the others a link asks for."""
    found = L.find_step(step.get("step")) if step else None
    return found[0].steps[found[1]].cells() if found is not None else []


def next_lesson(lesson: L.Lesson) -> L.Lesson | None:
    """The lesson after ``lesson`` in the order the Lessons page lists them; None after the last one."""
    ids = list(L.LESSON_IDS)
    at = ids.index(lesson.id) + 1
    return L.LESSON_IDS[ids[at]] if at < len(ids) else None


def link(where, lesson: L.Lesson, index: int, label: str, icon: str) -> None:
    """A link that opens the step's page with the step's selection (inside the app: no reload)."""
    page_link(where, lesson.steps[index].page, label, icon, L.step_query(lesson, index))


def page_link(where, page: str, label: str, icon: str, query: dict[str, str], help: str | None = None) -> None:
    """``st.page_link`` to one of the app's pages, ``help`` its tooltip; a plain link when the page runs outside
    the app's navigation (a page run alone, as tests do)."""
    query = state.with_presentation(query)
    try:
        where.page_link(L.PAGES[page][0], label=label, icon=icon, help=help, query_params=query)
    except StreamlitAPIException:
        title = ' "{}"'.format(help.replace('"', "'")) if help else ""
        where.markdown(f"[{label}](/{L.PAGES[page][1]}?{urlencode(query)}{title})")
