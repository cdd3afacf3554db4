"""The sidebar shared by every page: the dataset (with a synthetic world's knobs), presentation mode,
the server's training queue. Each section draws its widgets from the session's state on every run
and edits that state through a callback (the Train form's rule, ``app.widgets``)."""

from __future__ import annotations

import streamlit as st

from app import flash, jobs, presentation, state, urlsel
from mambarec.data.scenarios import KNOBS, SCENARIOS, ScenarioError, scenario_summary
from mambarec.data.spec import PREFIX, is_synthetic, make_spec, parse_spec

PICKER = "sidebar.dataset"
KNOB = "knob."  # widget keys: knob.<name>
KNOB_REJECTED = "knob.rejected"  # a knob value refused, said on the next run (app.flash)
KNOBS_OPEN = "sidebar.knobs"  # whether the World knobs expander is open: its sliders are drawn only then
KNOBS_KEPT = "sidebar.knobs.kept"  # the same, kept where Streamlit drops a widget's state: on a page switch
KNOB_LABELS = {
    "n_users": ("Users", "users drawn before the 5-core filter"),
    "n_items": ("Items", "items drawn before the 5-core filter"),
    "interactions_per_user": ("Clicks per user", "median interactions per user: the density"),
    "cold_share": ("Share of new (cold) items", "items that keep only 0-2 training clicks"),
    "content_share": ("Content that matters", "share of what the features describe that users care about"),
    "visual_noise": ("Image noise", "share of the image features that is noise (1: useless)"),
    "text_noise": ("Text noise", "share of the text features that is noise (1: useless)"),
    "modality_gap": ("Gap between image and text", "how differently the two feature clouds are shaped"),
    "visual_dim": ("Image feature width (D_V)", "numbers per item's image"),
    "text_dim": ("Text feature width", "numbers per item's text"),
    "seed": ("World seed", "another draw of the same world"),
}
FLOAT_STEP = {"interactions_per_user": 1.0, "modality_gap": 0.1}


def page_links(sections: dict) -> None:
    """The app's pages as links, by section: {section: [(st.Page, its urlsel key)]} (``st.navigation`` hidden).
    A link carries the address its page last wrote (``urlsel.link_params``), so following it adds one browser-history
    entry; Streamlit's own menu added the page's bare path first, an entry on which Back re-opened the same page."""
    for section, pages in sections.items():
        st.caption(section)
        for page, key in pages:
            st.page_link(page, query_params=urlsel.link_params(key))


def _on_dataset() -> None:
    state.set_active_dataset(st.session_state[PICKER])


def dataset_picker() -> str:
    """The active dataset, shared by every page; returns its name."""
    current = state.active_dataset_name()
    st.session_state[PICKER] = current
    st.selectbox("Dataset", state.dataset_options(current), key=PICKER, on_change=_on_dataset,
                 format_func=_dataset_label,
                 help="Every page works on this dataset. synthetic and synthetic/<world> are built in (their knobs "
                 "are below); others come from the data directory ($MAMBAREC_DATA)." + (
                     " Presentation mode names a world without its 'synthetic/'." if presentation.on() else ""))
    return current


def lessons_data_note() -> None:
    """In place of the picker on the Lessons page, whose steps name their own datasets: a step opens its page on
    its dataset, and the picker is back there."""
    st.caption(":material/dataset: **Dataset:** each lesson step opens on its own.")


def _dataset_label(name: str) -> str:
    """A built-in world by its own name in presentation mode ("cold-items"): at 19 px the narrow sidebar cut
    "synthetic/cold-items" to "synthetic/cold-it"."""
    world = f"{PREFIX}/"
    return name[len(world):] if presentation.on() and name.startswith(world) else name


def _on_knob(name: str) -> None:
    spec = parse_spec(state.active_dataset_name())
    values = {**dict(spec.overrides), name: st.session_state[KNOB + name]}
    try:
        if values[name] is None:  # an emptied number box: refused, the world kept
            raise ScenarioError(f"{KNOB_LABELS[name][0]}: the box was left empty; type a number.")
        state.set_active_dataset(make_spec(spec.scenario, **values).canonical())
    except ScenarioError as exc:
        flash.say(KNOB_REJECTED, str(exc))


def scenario_knobs(name: str) -> None:
    """Sliders for a synthetic world's knobs; a change makes a new spec (``synthetic/<world>?knob=value``)."""
    if not is_synthetic(name):
        return
    try:
        spec = parse_spec(name)
    except ScenarioError as exc:
        st.error(str(exc))
        return
    config = spec.config()
    box = st.expander("World knobs", icon=":material/tune:", key=KNOBS_OPEN, on_change="rerun",
                      expanded=st.session_state.get(KNOBS_KEPT, False))  # a page switch had closed it (r78, item 3)
    st.session_state[KNOBS_KEPT] = bool(box.open)
    rejected = flash.take(KNOB_REJECTED)
    if not box.open:  # drawn once opened: its sliders' and number box's code is ~15 files that every visitor's
        if rejected:  # browser had to fetch before the page's first paint (docs/speed.md section 4)
            st.warning(rejected)
        return
    with box:
        st.caption(scenario_summary(spec.scenario) if spec.scenario in SCENARIOS else "")
        if rejected:
            st.warning(rejected)
        for knob, (label, plain) in KNOB_LABELS.items():
            lo, hi = KNOBS[knob].metadata["range"]
            key = KNOB + knob
            st.session_state[key] = getattr(config, knob)
            helptext = f"{plain}. {KNOBS[knob].metadata['help']} ({lo} to {hi})"
            if knob == "seed":  # unbounded in the browser, which kept a value out of range unsent (r74, item 2)
                st.number_input(label, value=None, step=1, key=key, on_change=_on_knob, args=(knob,),
                                help=helptext)  # whole numbers: a box of decimals sent 7.0, refused (r78, item 1)
            elif KNOBS[knob].type == "int":
                st.slider(label, min_value=lo, max_value=hi, step=8 if knob.endswith("_dim") else 5, key=key,
                          on_change=_on_knob, args=(knob,), help=helptext)
            else:
                st.slider(label, min_value=float(lo), max_value=float(hi), step=FLOAT_STEP.get(knob, 0.05), key=key,
                          on_change=_on_knob, args=(knob,), help=helptext)


def dataset_caption(name: str) -> None:
    try:
        card = state.dataset_card(name)
    except Exception:  # noqa: BLE001  (a broken dataset must not take the app down)
        st.error(f"Cannot load {name!r}: the page says why. Pick another dataset above.")  # the whole reason,
        return  # with the data directory's list, here as well filled the narrow sidebar twice over
    st.caption(f"{card['users']:,} users · {card['items']:,} items · {card['interactions']:,} interactions · "
               f"density {card['density']:.3%}")


def queue_caption() -> None:
    """Under the menu, where it is in sight at 1280 x 800 (at the sidebar's foot it sat below the fold on Train):
    classroom mode, and how many runs the server is training; then the divider above the dataset."""
    if state.classroom():
        st.caption(":material/school: Classroom mode: lessons and precomputed runs; no training on this server.")

    # refreshed with the Train page's queue while runs are active: a count drawn once still said "1 run(s)
    # training" after the run had stopped, beside a queue that said nothing trained
    @st.fragment(run_every=jobs.QUEUE_REFRESH_S if jobs.queue() else None)
    def count() -> None:
        active = jobs.queue()
        if not active:
            st.empty()  # in the count's place: a fragment rerun that draws less can leave the old one up (app/live.py)
            return
        running = sum(j.status != "queued" for j in active)
        # two short lines: four had pushed the presentation switch and the dataset below the fold (rehearsal r55, P9)
        st.caption(f":material/progress_activity: {running} training · {len(active) - running} queued",
                   help=f"Runs of this server, at most {jobs.max_parallel()} at once: the Train page shows the queue.")

    count()
    st.divider()
