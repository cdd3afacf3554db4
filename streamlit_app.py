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

from app import presentation, sidebar, state, urlsel

st.set_page_config(page_title="MambaRec explorer", page_icon="🧭", layout="wide")
state.init_session()
ON_TRAIN = urlsel.arrive()  # keeps the URL before the sidebar rewrites it; a root link with a setup opens Train

TRAIN = st.Page("app/pages/train.py", title="Train & ablate", icon=":material/model_training:", url_path="train",
                default=ON_TRAIN)
PAGES = {
    "Teach": [st.Page("app/pages/lessons.py", title="Lessons", icon=":material/school:", url_path="lessons",
                      default=not ON_TRAIN)],
    "Experiment": [
        TRAIN,
        st.Page("app/pages/compare.py", title="Compare runs", icon=":material/leaderboard:", url_path="compare"),
    ],
    "Inspect": [
        st.Page("app/pages/embeddings.py", title="Embeddings", icon=":material/scatter_plot:", url_path="embeddings"),
        st.Page("app/pages/dream_inspector.py", title="DREAM inspector", icon=":material/blur_on:",
                url_path="dream"),
        st.Page("app/pages/users.py", title="Users", icon=":material/person_search:", url_path="users"),
    ],
    "Reference": [
        st.Page("app/pages/about.py", title="About", icon=":material/menu_book:", url_path="about"),
    ],
}
page = st.navigation(PAGES)
state.note_page(page.title)  # unique; a default page's url_path is "" (Lessons, or Train when a root link lands on it)

with st.sidebar:
    dataset = sidebar.dataset_picker()
    sidebar.scenario_knobs(dataset)
    facts = st.container()  # filled after the page: loading the dataset must not delay the page's first paint
    presentation.toggle()
presentation.apply()

if page is not TRAIN:  # the Train page writes the whole setup; elsewhere the dataset is enough
    state.sync_url({"dataset": dataset})
page.run()

with facts:
    sidebar.dataset_caption(dataset)
    sidebar.queue_caption()
