"""Presentation mode: large type for a projector, laid out for 1280 x 800 without cut-off columns.

Plain CSS over Streamlit's own classes (no custom component): a larger root font (Streamlit sizes
text in rem), a narrower sidebar and less padding, so the main area keeps its width for the form, its
columns and the run card. Outside presentation mode only the top padding shrinks, so the Train page's
run card stays above the fold at 1280 x 800. A link with ``?present=1`` opens in presentation mode.
"""

from __future__ import annotations

import streamlit as st

from app import state
from mambarec.config.fields import parse_bool

KEY = state.PRESENTATION  # the session's choice
WIDGET = "presentation.widget"  # the toggle's key: written from KEY on every run, like the Train form's

ALWAYS = """
<style>
/* a saved setup's name (what it changed) in a multiselect's chip wraps inside the box: one of four changes ran
   ~70 px past "Setups shown" at 1280 x 800, its remove button under the next box (rehearsal r71) */
[data-testid="stMultiSelect"] [data-tag] { max-width: 100%; height: auto; }
[data-testid="stMultiSelect"] [data-tag] > span { white-space: normal; overflow-wrap: anywhere; }
.block-container, [data-testid="stMainBlockContainer"] { padding: 3.6rem 2rem 2rem 2rem; }
h1 { font-size: 2rem !important; padding-top: 0.2rem !important; }
.stButton button p { overflow-wrap: normal; word-break: keep-all; hyphens: none; }
/* a widget's label wraps instead of ending in "..." (a switch's "Pair each item's views (InfoNCE)" at 1280 x 800) */
[data-testid="stMainBlockContainer"] label [data-testid="stMarkdownContainer"],
[data-testid="stMainBlockContainer"] label [data-testid="stMarkdownContainer"] p {
  white-space: normal !important; text-overflow: clip !important; overflow-wrap: normal !important;
  word-break: normal !important; }
/* a multiselect's chips wrap onto more rows: in one scrolling row the parts lesson's seventh setup was out of sight,
   faded ("no_channel_attention", no "no_spatial_attention") */
[data-testid="stMultiSelectTagsContainer"] { flex-wrap: wrap !important; height: auto !important;
  overflow: visible !important; mask-image: none !important; -webkit-mask-image: none !important; }
[data-testid="stMultiSelect"] .react-aria-ComboBox > div[role="group"] { height: auto !important;
  max-height: none !important; }
/* below 1200 px a number box's clear button (x) took the room of the digits: Epoch cap 1000 showed as "100" */
@media (max-width: 1200px) { [data-testid="stNumberInputClearButton"] { display: none; } }
/* at 1024 x 768 Compare's eighth tab ("Checkpoints") hid behind the tab strip's scroll arrow */
@media (max-width: 1200px) { [role="tablist"]:has(> [data-testid="stTab"]) { gap: 0.5rem; }
  [data-testid="stTab"] p { font-size: 0.8rem; } }
/* on a phone (no hover) Plotly's toolbar stays shown and its eight buttons lay over the charts' titles and keys
   (audit r77): there it keeps the full-screen button, which a small chart needs most. A table's toolbar (columns,
   download, search, full screen) stays shown too, 44 px tall above the table's top: it hid the end of the caption
   over the table ("its own text ranks 1 of 396 (cosin..."; audit r79, item 2). The table moves down by as much,
   the toolbar into that room. The tab strip wraps there: in one scrolling row the open tab read "Cold v" under
   the strip's arrow (item 7) */
@media (hover: none) and (max-width: 700px) {
  .modebar-btn:not([data-title="Fullscreen"]) { display: none !important; }
  [data-testid="stFullScreenFrame"]:has(> [data-testid="stDataFrame"]) { padding-top: 2.75rem; }
  [role="tablist"]:has(> [data-testid="stTab"]) { flex-wrap: wrap !important; row-gap: 0.25rem; } }
/* on a phone a lesson note's title row wraps, its buttons under the title: kept in one row, the title became a
   column of single letters 1,150 px tall and pushed the step's chart two screens down (audit r77, item 1) */
@media (max-width: 700px) { .st-key-lessonbar-row { flex-wrap: wrap !important; }
  .st-key-lessonbar-row > div:first-child { flex: 1 1 100% !important; } }
</style>
"""
LARGE = """
<style>
html { font-size: 19px; }
/* a 1024 x 768 projector: a step's note wrapped to more lines and pushed its chart out of sight (rehearsal r55, F6) */
@media (max-width: 1100px) { html { font-size: 17px; } }
section[data-testid="stSidebar"] { width: 232px !important; min-width: 232px !important; }
/* the narrow sidebar keeps its menu and dataset names whole ("DREAM inspecto", "synthetic/cold-i..." at 19 px) */
section[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"] p,
section[data-testid="stSidebar"] input[role="combobox"] { font-size: 0.8rem; }
.block-container, [data-testid="stMainBlockContainer"] { padding-left: 1.2rem; padding-right: 1.2rem;
  padding-top: 1rem; max-width: 100%; }
[data-testid="stHeader"] { display: none; }
h1 { font-size: 1.9rem !important; padding-top: 0 !important; }
[data-testid="stMetricValue"] { font-size: 1.5rem; }
/* large type in a button keeps Streamlit's wide side padding out of the label's room ("3 se..." at 1024 x 768) */
.stButton button, .stDownloadButton button, .stPopover button { padding-left: 0.45rem; padding-right: 0.45rem; }
</style>
"""


def init() -> None:
    """Presentation mode on for a session opened with ``?present=1``."""
    if KEY not in st.session_state:
        asked = st.query_params.get("present", "").strip().lower()
        try:
            st.session_state[KEY] = bool(asked) and parse_bool(asked)  # the links' one reading of on and off
        except ValueError:
            st.session_state[KEY] = False
            st.caption(f":material/info: present={asked!r} is neither on nor off: presentation mode is off "
                       "(present=1 turns it on; the sidebar's switch too)")


def _flip() -> None:
    st.session_state[KEY] = bool(st.session_state[WIDGET])


def toggle() -> bool:
    """The sidebar's switch; returns whether presentation mode is on."""
    init()
    st.session_state[WIDGET] = st.session_state[KEY]
    st.toggle("Presentation mode", key=WIDGET, on_change=_flip,
              help="Large type and a layout for a projector (1280 x 800).")
    return bool(st.session_state[KEY])


def apply() -> None:
    """Inject the page's CSS (call once per run, after ``toggle``)."""
    st.html(ALWAYS + (LARGE if st.session_state.get(KEY) else ""))


def scale() -> float:
    """How much larger text drawn in figures should be (Plotly does not follow the page's CSS); the model diagram's
    height and labels follow it."""
    return 1.25 if on() else 1.0


def chart_scale() -> float:
    """How much larger a chart's text is in presentation mode: 16 px ticks, legends and hover labels, and the
    embedding maps' subtitles (at 1.25 they were 14-15 px, under what the back of a room reads: rehearsal r55)."""
    return CHART_TEXT_SCALE if on() else 1.0


# The page's root font, outside and in presentation mode (LARGE's html font-size; its 17 px below 1100 px is smaller,
# so a width that holds at 19 px holds there).
ROOT_FONT_PX = (16, 19)
# How wide a character of Streamlit's Source Sans is, in em: the widest of each group, from Chromium's canvas at
# 100 px ("m" 0.83, "b" 0.55, "t" 0.34, "i" 0.25), rounded up to the next hundredth; any other character (digits,
# "a", "e", "=", "×": 0.50) 0.51 em. A flat 0.5 em had "mgcn_with_mmd" at 91 px where Chromium draws 103; these
# say 107, and 177 for the 171 px of "paper_without_reduced_text" (tests/test_projector_layout.py holds them to the
# browser's own widths).
EM_CLASSES = ((" ", 0.21), ("ijlI.,:;'·|!", 0.26), ("f", 0.30), ("()[]{}-", 0.32), ("tr/\\", 0.36), ('*?sz"', 0.44),
              ("xcvy", 0.48), ("VX", 0.52), ("bdnpqhou`ATZES", 0.56), ("KCPRBΔ▲▼", 0.61), ("&DG", 0.63),
              ("OQHNU", 0.67), ("wM", 0.74), ("W", 0.80), ("@m%", 0.86))
EM_OTHER = 0.51


def text_em(text: str) -> float:
    """About how wide ``text`` is in Source Sans, in em of its font (``EM_CLASSES``): rather more than less."""
    return sum(next((em for chars, em in EM_CLASSES if c in chars), EM_OTHER) for c in text)


def text_px(text: str, rem: float) -> float:
    """About how wide ``text`` is drawn at ``rem`` of the page's root font in this mode (``text_em``)."""
    return rem * ROOT_FONT_PX[on()] * text_em(text)


PLOTLY_FONT_PX = 12  # Plotly's default text size, which a chart keeps whatever the page's CSS says
CHART_TEXT_SCALE = 4 / 3  # 12 -> 16 px


# How much shorter the chart a lesson step's note talks about is in presentation mode: the larger type of the note
# and the pickers put the r and converged lessons' x axes 4-44 px, and the alignment maps' key ~30 px, under a
# 1280 x 800 projector's fold
UNDER_NOTE_SHORTER_PX = 50
# ...but a row chart never below its need at 16 px type, under a note or not: its first row with the key and the x
# axis, and a line for each further row. At 140 - 50 px a one-row interval chart drew its axis title over the ticks,
# the 0 its note asked about among them, and four rows at 180 px came out 15 px apart (rehearsal r70).
UNDER_NOTE_MIN_PX = 150
UNDER_NOTE_ROW_PX = 20


def chart(where, fig, under_note: bool = False, **kwargs):
    """``where.plotly_chart(fig, **kwargs)`` with the chart's text as large as the page's in presentation mode
    (Plotly sizes its text in px, not rem: tick labels and bar values stayed 12 px under 19 px type), at the
    ``height`` that mode gives it."""
    if on():  # on a copy: a figure may be cached and shared with other sessions (app.live's are)
        size = round(PLOTLY_FONT_PX * chart_scale())
        if isinstance(fig, dict):  # a cached figure's dict
            layout = {**fig.get("layout", {})}
            layout["font"] = {**layout.get("font", {}), "size": size}
            for axis in {"xaxis", "yaxis", *(k for k in layout if k.startswith(("xaxis", "yaxis")))}:
                layout[axis] = _sized(layout.get(axis) or {}, "tickfont", size)
            layout["legend"] = _sized(layout.get("legend") or {}, "font", size)
            if layout.get("height"):
                rows = len(layout.get("yaxis", {}).get("tickvals") or ())
                layout["height"] = height(layout["height"], rows, under_note)
            fig = {**fig, "layout": layout}
        else:
            fig = type(fig)(fig).update_layout(font_size=size)
            fig.update_xaxes(tickfont_size=size).update_yaxes(tickfont_size=size).update_layout(legend_font_size=size)
            if fig.layout.height:
                fig.update_layout(height=height(fig.layout.height, len(fig.layout.yaxis.tickvals or ()), under_note))
    if phone() and not isinstance(fig, dict):  # (the cached dicts, the learning curves', have short titles)
        fig = phone_titles(fig)
    return where.plotly_chart(fig, **kwargs)


# On a phone an x-axis title longer than this ran past the chart's edge under a plot ~150 px wide (row labels take
# the rest): "Δ Recall@20 vs paper, % of its me..." (audit r79, item 4). There it wraps at its last comma.
PHONE_TITLE_CHARS = 24


def phone_titles(fig):
    """A copy of ``fig`` whose long x-axis titles (``PHONE_TITLE_CHARS``) wrap onto two lines at their last comma,
    the chart's bottom margin growing to hold them."""
    fig = type(fig)(fig)

    def wrap(axis) -> None:
        text = axis.title.text or ""
        if len(text) > PHONE_TITLE_CHARS and ", " in text:
            head, _, tail = text.rpartition(", ")
            axis.update(title_text=f"{head},<br>{tail}", automargin=True)

    return fig.for_each_xaxis(wrap)


def _sized(part: dict, font: str, size: int) -> dict:
    """A layout part's dict (an axis, the legend) with its ``font`` at ``size`` px: Streamlit's chart theme draws
    ticks and legends at 0.75 of the page's root font unless the figure names a size, so the layout's font had left
    them at 14 px under 19 px type (audit r74, item 10)."""
    return {**part, font: {**(part.get(font) or {}), "size": size}}


def height(px: int, rows: int = 0, under_note: bool = False) -> int:
    """A chart's height in presentation mode: ``UNDER_NOTE_SHORTER_PX`` less under a lesson step's note (the chart
    the note talks about), and a chart of ``rows`` labelled rows (``figures.rows_in_order`` labels each; 0: not a
    row chart) at least what they need in its larger type, which may be more than it had: a one-row chart's 140 px
    drew its axis title on its ticks in 16 px type."""
    need = UNDER_NOTE_MIN_PX + UNDER_NOTE_ROW_PX * max(rows - 1, 0) if rows or under_note else 0
    return max(px - UNDER_NOTE_SHORTER_PX if under_note else px, need)


def on() -> bool:
    return bool(st.session_state.get(KEY))


def phone() -> bool:
    """Whether the browser calls itself a phone ("Mobi" in its User-Agent, the test MDN gives): a chart of many
    panels in one row cannot reflow to a phone's width as the page's columns do, so it is built with fewer panels
    to a row there (``app.dream_figures.PHONE_PANELS``)."""
    try:
        return "Mobi" in (st.context.headers.get("User-Agent") or "")
    except Exception:  # noqa: BLE001  (no request behind the script run: a test harness, a bare script)
        return False
