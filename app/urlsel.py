"""Each page's selection as URL parameters, applied whenever the URL is new to the page.

A lesson step, a slide or the browser's back button hands a page a URL; a rerun hands the page back
the URL it wrote itself. So a page applies its parameters when they differ from what it last
published, and keeps its widgets otherwise:

* ``arrive`` (called by ``streamlit_app`` before the sidebar rewrites the address) keeps the URL as
  it came in, switches the active dataset when a link names another one, and says whether the URL
  is a Train setup (a link to the root with config fields opens the Train page);
* ``restore`` (a page, before its widgets) puts the page's parameters into the widgets' keys when
  the URL is new to the page; after a page switch, when Streamlit has dropped the widgets' state,
  it puts back the last published values;
* ``publish`` (a page, after its widgets) writes the selection to the URL, defaults left out.

Steps of the lessons name (dataset, cell, seed), never run folders, so a link keeps working when the
precomputed grid is regenerated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app import state
from mambarec.config import run_to_params

INCOMING = "url.incoming"  # the URL of this run, as the browser sent it
SEEN_DATASET = "url.dataset"  # the dataset the address carried at the end of the last run
LANDING = "url.landing_on_train"
SHOWN = "url.shown"  # the URL-bound values the last run ended with (``remember``)
TOUCHED = "url.touched"  # whether this run began with other values than those (``touched``)
BUTTONS = "url.buttons"  # the session keys of buttons whose press is a choice (``button``)


@dataclass(frozen=True)
class Param:
    """One URL parameter of a page; its widget's session key is ``<page>.<key>``."""

    key: str
    default: Any
    parse: Callable[[str], Any] = str  # URL text -> widget value (raises ValueError when bad)
    show: Callable[[Any], str] = str  # widget value -> URL text


def names_a_setup(params: Mapping[str, str]) -> bool:
    """A URL that holds config fields (a Train link, the app's links before the lessons)."""
    return bool(state.SETUP_KEYS & set(params))


def arrive() -> bool:
    """Keep this run's URL, follow a link to another dataset; True when the session opened on a Train setup.

    Only a root link opens Train as the landing page: the default page is served at the root, so a Train page
    of its own path (``/train?variant=...``, the address bar of a Train page, shared) must stay a page with a
    path, or Streamlit answers it with "Page not found"."""
    ss = st.session_state
    incoming = st.query_params.to_dict()
    ss[INCOMING] = incoming
    _take_snapshot()
    linked = incoming.get("dataset")
    if (linked and SEEN_DATASET in ss and linked != ss[SEEN_DATASET] and linked != state.active_dataset_name()
            and not (state.wrote(incoming) and touched())):  # a link (a lesson step, back/forward), not an echo
        state.set_active_dataset(linked)
    ss[SEEN_DATASET] = state.active_dataset_name()
    if LANDING not in ss:
        ss[LANDING] = names_a_setup(incoming) and state.at_root()
    return ss[LANDING]


def link_params(page: str) -> dict[str, str]:
    """The address a menu link to ``page`` carries: what the page last wrote there (Train: the setup), so that
    arriving adds one browser-history entry, not a bare one the page then rewrites (Back would land on it)."""
    if page == "train":
        return state.with_presentation(run_to_params(state.current_run()))
    mine = dict(st.session_state.get(_published(page)) or {})
    return state.with_presentation(mine if page == "lessons" else {"dataset": state.active_dataset_name(), **mine})


def incoming() -> dict[str, str]:
    """This run's URL as it arrived (a page run alone, as in tests, reads the address directly)."""
    return dict(st.session_state.get(INCOMING, st.query_params.to_dict()))


def widget_key(page: str, key: str) -> str:
    return f"{page}.{key}"


def _implied(page: str) -> str:
    return f"url.implied.{page}"


def _published(page: str) -> str:
    return f"url.published.{page}"


CHOICES_LISTED = 8  # a note names up to this many of a parameter's choices, then how many more there are


def choices_words(rule) -> str:
    """What a parameter may be, for a note on a value it may not (empty for a rule that is a function)."""
    if isinstance(rule, range):
        step = f" in steps of {rule.step}" if rule.step != 1 else ""
        return f" (a whole number from {rule.start} to {rule.stop - 1}{step})" if len(rule) else ""
    if callable(rule):
        return ""
    names = [str(c) for c in rule]
    more = len(names) - CHOICES_LISTED
    listed = ", ".join(names[:CHOICES_LISTED]) + (f", and {more} more: see the picker" if more > 0 else "")
    return f" (choose from {listed})" if names else ""


def default_words(p: Param) -> str:
    """The default a note says is shown instead of a link's value, named (", 10") where the parameter has one of its
    own; a page that picks it from what it holds (Compare's reference, the runs of a picker) shows it in the widget."""
    return "" if p.default in (None, "", []) else f", {p.show(p.default)}"


def checked_by(rule, value):
    """``value`` where ``rule`` allows it, else None; a rule is a function (returns the value to use, or None),
    or the choices themselves (a collection, or a range of whole numbers)."""
    return rule(value) if callable(rule) else value if value in rule else None


def arriving(page: str, params: Sequence[Param]) -> bool:
    """Whether this run's URL is a new address for ``page`` (a link followed), to be applied over its widgets."""
    url = incoming()
    mine = {p.key: url[p.key] for p in params if p.key in url}
    return bool(mine) and mine != st.session_state.get(_published(page)) and not _echo(url)


def restore(page: str, params: Sequence[Param], check: Mapping[str, Any] | None = None) -> list[str]:
    """Before the page's widgets: set their keys from a new URL, else from the last published values
    where Streamlit dropped them. ``check[key]`` is the parameter's rule (``checked_by``): a value it does not
    allow is not available here (then the default is used and a note says so, with the choices when the rule
    lists them). Returns those notes."""
    ss = st.session_state
    url = incoming()
    mine = {p.key: url[p.key] for p in params if p.key in url}
    published = ss.get(_published(page))
    fresh = arriving(page, params)
    notes = []
    for p in params:
        key = widget_key(page, p.key)
        if fresh:
            raw = mine.get(p.key)
        elif key not in ss:
            raw = (published or {}).get(p.key)
        else:
            continue
        value = p.default
        rule = (check or {}).get(p.key)
        hint = (choices_words(rule) if rule is not None else "") + "; showing the default" + default_words(p)
        if raw is not None:
            try:
                value = p.parse(raw)
            except (TypeError, ValueError):
                notes.append(f"{p.key}={raw!r} is not a valid value here{hint}")
        if rule is not None and value != p.default:
            checked = checked_by(rule, value)
            if checked is None:
                notes.append(f"{p.key}={raw!r} is not available here{hint}")
                value = p.default
            else:
                value = checked
        ss[key] = value
    if fresh:
        ss[_published(page)] = mine  # applied: a rerun with the same URL keeps what the user changes next
    return notes


def _echo(url: Mapping[str, str]) -> bool:
    """Whether this run's URL is an older address of this session's own, carried back by a rerun that the user
    started with a widget before the browser had seen the newest address (a slow browser in a full room).
    Applying it would undo the user's last choice. A link to an address written before (a lesson's Previous
    step, the browser's Back) changes no widget, so it is applied."""
    return not state.arrived() and state.wrote(dict(url)) and touched()


def touched() -> bool:
    """Whether this run was started by the user's choice rather than by a link: a URL-bound widget of the page
    that ran last (or the Train form's setup) held another value when this run began than when that run ended
    (``remember``). Streamlit drops a page's widget keys when it is left: a dropped key counts as unchanged."""
    return bool(st.session_state.get(TOUCHED, False))  # set by ``arrive``, at the start of every run


def _take_snapshot() -> None:
    """Compare the snapshot the last run that ended left with this run's values, once, at the start of the run. The
    snapshot stays until the next run that ends replaces it: a run that a quicker click interrupted before its end
    (a busy server) left none when it was taken away here, so the click's run read the user's choice as no choice
    and applied an older address over it. A button drawn with ``button`` that was pressed is a choice too."""
    ss = st.session_state
    shown = ss.get(SHOWN) or {}
    pressed = any(ss.get(key) is True for key in ss.get(BUTTONS, ()))
    ss[TOUCHED] = pressed or any(ss.get(key, value) != value for key, value in shown.items())


def button(label: str, key: str, **kwargs) -> bool:
    """``st.button`` whose press counts as the user's choice in ``touched``: a page's key-less button, pressed
    before the browser had seen the page's newest address, sent an older one back that the page then applied as
    a link (undoing the choice the newer address held)."""
    registered = st.session_state.setdefault(BUTTONS, set())
    registered.add(key)
    return st.button(label, key=key, **kwargs)


def remember(keys: Iterable[str]) -> None:
    """At the end of a page's run: the values of its session ``keys`` (widgets, the setup) that the next run
    compares its own with (``touched``)."""
    ss = st.session_state
    ss[SHOWN] = {key: ss[key] for key in keys if key in ss}


def held_index(page: str, key: str, options: Sequence, missing: int | None = 0) -> int | None:
    """The position in ``options`` of the value ``restore`` put in the widget's key, to give a select widget as
    its own default: a browser that falls back to the widget's default (seen with several sessions on a loaded
    machine) then still shows the value the script draws with, not the first option. ``missing`` when the key
    holds no option (None: a select box's placeholder)."""
    value = st.session_state.get(widget_key(page, key))
    options = list(options)
    return options.index(value) if value in options else missing


def bound(page: str, key: str, options: Sequence, missing: int | None = 0) -> dict[str, Any]:
    """A select widget's ``key`` and ``index`` for the page's parameter ``key``, named once:
    ``st.selectbox(label, options, **bound(PAGE, "metric", options))`` (also ``st.radio``)."""
    return {"key": widget_key(page, key), "index": held_index(page, key, options, missing)}


def available(page: str, key: str, options: Sequence, what: str) -> str | None:
    """Put the page's parameter ``key`` on ``options[0]`` when its value is not among ``options``; the note to show
    when the address asked for that value (``seed=7`` of a run stored with seeds 0-4), None otherwise."""
    ss, name = st.session_state, widget_key(page, key)
    asked = ss.get(name)
    if asked in options:
        return None
    ss[name] = options[0]
    if asked is None or incoming().get(key) != str(asked):
        return None
    return (f"{key}={asked}: {what} has no {key} {asked} (it has {', '.join(map(str, options))}); "
            f"showing {key} {options[0]}")


def bound_values(page: str, key: str, options: Sequence) -> dict[str, Any]:
    """``bound`` for a multiselect: its ``key`` and ``default``."""
    return {"key": widget_key(page, key), "default": held_values(page, key, options)}


def held_values(page: str, key: str, options: Sequence) -> list:
    """``held_index`` for a multiselect: the held values that are options, as its default."""
    held = st.session_state.get(widget_key(page, key)) or []
    return [v for v in held if v in options]


ELSEWHERE = "urlsel.elsewhere"  # widget keys that hold a value the user chose on another page


def chosen_elsewhere(widget: str) -> None:
    """``widget`` holds a value the user chose on another page (Compare's "Inspect on the other pages"): the address
    names it like a pick made here. Taken as the page's own choice, it stayed out of the address, and a reload or a
    copied link showed another run without a word (rehearsal r71)."""
    st.session_state.setdefault(ELSEWHERE, set()).add(widget)


def publish(page: str, params: Sequence[Param], extra: Mapping[str, str] | None = None,
            with_dataset: bool = True) -> dict[str, str]:
    """After the page's widgets: the selection (values other than the defaults, and any value the URL named
    itself) and the dataset to the URL. A URL that the page just applied comes back unchanged, so it adds no
    entry to the browser's history (one Back goes one step back). A value the page chose itself when it was
    opened (a reference or a run picked because the URL named none) counts as a default for the visit: written
    out, it made a first visit two history entries (the link's address, then the page's).

    ``with_dataset=False`` leaves the dataset out (the landing page: a root URL with config fields in it
    opens the Train page)."""
    ss = st.session_state
    named = ss.get(_published(page)) or {}
    visit, implied = ss.get(_implied(page)) or (None, {})
    if visit != state.visit():  # what the page chose itself on arriving, where the URL named nothing, is a default
        implied = {p.key: ss[widget_key(page, p.key)] for p in params
                   if widget_key(page, p.key) in ss and p.key not in named}
        ss[_implied(page)] = (state.visit(), implied)
    values = {}
    for p in params:
        key = widget_key(page, p.key)
        if key not in ss:
            continue
        if ss[key] is None or p.show(ss[key]) == "":  # nothing chosen (a refused ?item=99999, ?a=paper where no
            continue  # run is): no "item=None" or "a=" for a lecturer to copy off the address bar
        chose_itself = p.key in implied and ss[key] == implied[p.key] and key not in ss.get(ELSEWHERE, ())
        if p.key in named or (ss[key] != p.default and not chose_itself):
            values[p.key] = p.show(ss[key])
    values.update(extra or {})
    ss[_published(page)] = {k: v for k, v in values.items() if k in {p.key for p in params}}
    remember([widget_key(page, p.key) for p in params])
    state.sync_url({"dataset": state.active_dataset_name(), **values} if with_dataset else values)
    return values


# ---- parsers shared by the pages ---------------------------------------------------------------
def as_list(text: str) -> list[str]:
    return [part for part in (s.strip() for s in str(text).split(",")) if part]


def show_list(values) -> str:
    return ",".join(str(v) for v in values)

