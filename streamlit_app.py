"""MambaRec explorer: ``streamlit run streamlit_app.py`` (``-- --classroom``: read-only, see the README).

Navigation over ``app/pages`` and the sidebar shared by every page (dataset and a synthetic world's
knobs, presentation mode, the server's training queue). Pages call ``mambarec`` and draw what it
returns (docs/style.md).
"""

from __future__ import annotations

import importlib.machinery

import streamlit as st

# Streamlit runs this file as a __main__ without a spec, which multiprocessing re-executes in every worker
# process it starts (a run, a timing): a spec named __main__ makes it leave the app alone (app.jobs.guard_main).
__spec__ = importlib.machinery.ModuleSpec("__main__", None)  # noqa: A001

from app import code_on_disk, flash, presentation, sidebar, state, urlsel

st.set_page_config(page_title="MambaRec explorer", page_icon="🧭", layout="wide")
if edited := code_on_disk.changed():  # pulled into a running server: its pages would mix new code and old modules
    st.error(code_on_disk.notice(edited), icon=":material/restart_alt:")
    st.stop()
state.init_session()
flash.begin_run()  # which one-shot messages ("Deleted the run") this run shows again (app/flash.py)
presentation.init()  # before the sidebar: its dataset picker names worlds shorter in presentation mode
ON_TRAIN = urlsel.arrive()  # keeps the URL before the sidebar rewrites it; a root link with a setup opens Train

MENU = {  # section -> (script, title, icon, url path = its urlsel key)
    "Teach": [("lessons", "Lessons", "school", "lessons")],
    "Experiment": [("train", "Train & ablate", "model_training", "train"),
                   ("compare", "Compare runs", "leaderboard", "compare")],
    "Inspect": [("embeddings", "Embeddings", "scatter_plot", "embeddings"),
                ("dream_inspector", "DREAM inspector", "blur_on", "dream"),
                ("users", "Users", "person_search", "users")],
    "Reference": [("about", "About", "menu_book", "about")],
}
LESSONS_ALIAS = "lessons"  # the Lessons page's own path: /lessons opens it, though as the default page it lives at /


def url_path(key: str) -> str:
    """A page's path; the default Lessons page's differs from its alias's, since a page's identity is its path."""
    return f"{key}-home" if key == LESSONS_ALIAS and not ON_TRAIN else key


LINKS = {section: [(st.Page(f"app/pages/{script}.py", title=title, icon=f":material/{icon}:", url_path=url_path(key),
                            default=key == ("train" if ON_TRAIN else "lessons")), key)
                   for script, title, icon, key in entries] for section, entries in MENU.items()}
PAGES = {section: [p for p, _ in links] for section, links in LINKS.items()}
ALIAS = st.Page("app/pages/lessons.py", title="Lessons", icon=":material/school:", url_path=LESSONS_ALIAS,
                visibility="hidden")
if not ON_TRAIN:  # the default page is served at "/" only: its own path, typed or bookmarked, gets the same page
    PAGES["Teach"].append(ALIAS)
page = st.navigation(PAGES, position="hidden")  # drawn by sidebar.page_links: Back then leaves a page in one press
state.note_page(page.title)  # unique; a default page's url_path is "" (Lessons, or Train when a root link lands on it)
if not ON_TRAIN and page.url_path == LESSONS_ALIAS:  # on /lessons the menu's Lessons link is the alias, so it is lit
    LINKS["Teach"] = [(ALIAS if key == LESSONS_ALIAS else p, key) for p, key in LINKS["Teach"]]

with st.sidebar:
    sidebar.page_links(LINKS)
    sidebar.queue_caption()
    presentation.toggle()  # above the dataset: at 1280 x 800 in presentation mode, below it, it was out of sight
    # The Lessons name a dataset per step: a picker there showed the session's (synthetic) beside ml100k's steps
    if page.title == "Lessons":
        dataset = None
        sidebar.lessons_data_note()
    else:
        dataset = sidebar.dataset_picker()
        sidebar.scenario_knobs(dataset)
    facts = st.container()  # filled after the page: loading the dataset must not delay the page's first paint
presentation.apply()

page.run()  # each page writes its own address once (urlsel.publish, Train: its setup); a second write here, of the
# dataset alone, pushed one more browser-history entry on every rerun, so Back seemed to do nothing

with facts:
    if dataset is not None:
        sidebar.dataset_caption(dataset)
    state.remember_owner()  # at the sidebar's foot: a reload keeps this browser's label on its runs
