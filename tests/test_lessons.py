"""The lessons: every step opens its page without error and applies its selection, also when the step's link
is clicked inside a session that shows something else; step links name cells, never run folders.

Steps run through ``streamlit_app.py`` (the real entry: navigation, sidebar, URL handling) against the
repository's ``precomputed/``; a step whose cells or dataset are not there must still open, with a note.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from streamlit.testing.v1 import AppTest

from app import lessonbar, urlsel
from app import lessons_content as L
from mambarec.data import available_datasets

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "streamlit_app.py"
TIMEOUT = 300
STEPS = [(lesson, i) for lesson in L.LESSONS for i in range(len(lesson.steps))]
TITLES = {"compare": "Compare runs", "embeddings": "Embeddings before and after alignment", "dream": "DREAM inspector",
          "users": "Users", "about": "About MambaRec"}


@pytest.fixture(autouse=True)
def no_saved_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "runs"))


def open_step(at: AppTest, lesson: L.Lesson, index: int) -> AppTest:
    """What a step's link does: the step's page with the step's parameters in the URL."""
    at.query_params.clear()
    at.query_params.update(L.step_query(lesson, index))
    return at.switch_page(L.PAGES[lesson.steps[index].page][0]).run()


def shown(at: AppTest) -> str:
    """The page's text as read (a no-break space as a space)."""
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "warning", "error")
                     for e in getattr(at, kind)).replace(lessonbar.NBSP, " ")


def landing() -> AppTest:
    """A new session on the app's root URL (AppTest resolves pages by url_path only after a first run)."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception and at.title[0].value == "Lessons"
    return at


@pytest.mark.parametrize(("lesson", "index"), STEPS, ids=[L.step_id(lesson, i) for lesson, i in STEPS])
def test_every_step_opens_its_page_with_its_note(lesson, index):
    at = open_step(landing(), lesson, index)
    assert not at.exception, [e.message for e in at.exception]
    step = lesson.steps[index]
    assert at.title[0].value == TITLES[step.page]
    assert step.look[:60] in shown(at)  # the step's two sentences, on the page it opened
    assert at.session_state["dataset"] == step.dataset
    if not lessonbar.missing(step) and step.dataset in available_datasets():  # all there: all applied
        for key, raw in step.params.items():
            if key != "dataset" and "group:" not in raw:
                value = at.session_state[urlsel.widget_key(step.page, key)]
                assert (urlsel.show_list(value) if isinstance(value, list) else str(value)) == raw, key
    for name, widget, held in own_defaults(at, step.page):
        assert held == widget, f"{name}: its own default {held}, shown {widget}"
    if step.page == "dream" and "8 x 8" in step.look:  # the explanation once pointed at "the panels above" for a
        assert "on this model's 8 x 8 map, more of them land on it" in shown(at)  # 4 x 4 map they did not show
    if step.page == "compare":  # its pickers are unlabelled in a step: the reference's box says what it is
        ref = at.selectbox(key="compare.ref")
        assert ref.options and all(o.startswith("Δ vs ") for o in ref.options)


def own_defaults(at: AppTest, page: str) -> list[tuple[str, object, object]]:
    """(key, the option positions the widget holds, the positions it names as its own default) of the page's
    select widgets: a browser that falls back to a widget's default (seen with several sessions on a loaded
    machine) must still show what the page draws with."""
    out = []
    for kind in ("selectbox", "radio"):
        out += [(w.key, w.index, w.proto.default if w.proto.HasField("default") else None)
                for w in getattr(at, kind) if w.key and w.key.startswith(f"{page}.")]
    out += [(w.key, list(w.indices), list(w.proto.default)) for w in at.multiselect
            if w.key and w.key.startswith(f"{page}.")]
    return out


def compare_steps(dataset: str) -> list[tuple[L.Lesson, int]]:
    """Compare steps on ``dataset`` that name two or more cells, all of them held by precomputed/."""
    return [(lesson, i) for lesson in L.LESSONS for i, step in enumerate(lesson.steps)
            if step.page == "compare" and step.dataset == dataset and "group:" not in step.params.get("cells", "")
            and len(step.cells()) >= 2 and not lessonbar.missing(step)]


def test_a_cell_typed_into_a_steps_link_that_is_not_here_is_named():
    """`...&cells=paper,no_such_cell&...&step=...` showed paper alone and said nothing, where the same link without
    `step` names the typo: the page left every cells= note to the lesson bar, which names only the step's own
    missing cells (audit r77, item 3). The step's link as written still has no such note."""
    lesson, index = compare_steps("ml100k")[0]
    query = L.step_query(lesson, index)
    for cells, said in ((query["cells"], False), (query["cells"] + ",no_such_cell", True)):
        at = landing()
        at.query_params.clear()
        at.query_params.update({**query, "cells": cells})
        at.switch_page(L.PAGES["compare"][0]).run()
        assert not at.exception, [e.message for e in at.exception]
        notes = [c.value for c in at.caption if "cells=" in c.value]
        assert bool(notes) is said and all("no_such_cell" in n for n in notes), notes
        assert lesson.steps[index].look.split(".")[0] in shown(at)  # the step's note is still shown


def test_a_step_that_cannot_be_shown_here_says_why():
    """A step's id on another page's link, or with another dataset picked, dropped the step's note without a word
    (audit r77, item 4); a wrong step number was already named."""
    lesson, index = compare_steps("ml100k")[0]
    step = L.step_id(lesson, index)
    for page, query, said in (("embeddings", {"dataset": "ml100k", "step": step}, "is a step of the /compare page"),
                              ("compare", {**L.step_query(lesson, index), "dataset": "synthetic"},
                               "reads the dataset ml100k, and synthetic is picked")):
        at = landing()
        at.query_params.clear()
        at.query_params.update(query)
        at.switch_page(L.PAGES[page][0]).run()
        assert not at.exception, [e.message for e in at.exception]
        assert said in shown(at) and lesson.steps[index].look.split(".")[0] not in shown(at), page


def test_an_unknown_dataset_is_said_once_and_no_valid_cell_is_blamed():
    """`dataset=ml1m` gave the load error, then "cells='paper,no_alignment' is not available here" and "ref='paper' is
    not available here; showing the default (choose from )", blaming valid cells with an empty list (audit r77)."""
    at = landing()
    at.query_params.clear()
    at.query_params.update({"dataset": "ml1m", "cells": "paper,no_alignment", "ref": "paper"})
    at.switch_page(L.PAGES["compare"][0]).run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Cannot load the dataset 'ml1m'" in e.value for e in at.error)
    assert not [c.value for c in at.caption if "not available here" in c.value]


def test_a_step_clicked_inside_the_app_takes_effect_and_then_leaves_the_widgets_alone():
    at = landing()
    lesson, index = compare_steps("ml100k")[0]
    wanted = lesson.steps[index].params["cells"].split(",")
    open_step(at, lesson, index)
    assert at.session_state["dataset"] == "ml100k"  # the link's dataset, not the session's synthetic
    cells = at.multiselect(key="compare.cells")
    assert cells.value == wanted
    cells.set_value(wanted[:1]).run()  # the user changes it: a rerun must not put the link's back
    assert at.multiselect(key="compare.cells").value == wanted[:1]
    lesson, index = compare_steps("synthetic")[0]  # another step, another dataset, same session
    open_step(at, lesson, index)
    assert at.session_state["dataset"] == "synthetic"
    assert at.multiselect(key="compare.cells").value == lesson.steps[index].params["cells"].split(",")


def test_previous_on_the_same_page_goes_back_to_the_earlier_step():
    """Steps 1 and 2 of the alignment lesson both open Embeddings; Previous hands the page an address it wrote
    itself at step 1. That is a link, not an echo of a late rerun: the page shows step 1 again."""
    lesson = next(x for x in L.LESSONS if x.id == "alignment")
    assert lesson.steps[0].page == lesson.steps[1].page == "embeddings"
    at = open_step(landing(), lesson, 0)
    first = at.session_state["embeddings.before"]
    open_step(at, lesson, 1)
    assert at.session_state["embeddings.before"] == lesson.steps[1].params["before"] != first
    at.slider(key="embeddings.lines").set_value(120).run()  # the user's own change at step 2
    open_step(at, lesson, 0)  # Previous
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["embeddings.before"] == first and at.session_state["embeddings.lines"] == 80


def links(at: AppTest, label: str) -> list:
    """The page's ``st.page_link`` elements labelled ``label``, as their protos."""
    return [e.proto for e in at.get("page_link") if e.proto.label == label]


def follow(at: AppTest, link) -> AppTest:
    """What clicking a page link does inside the app: its page, with its query string as the URL's parameters."""
    page = next(file for file, url_path in L.PAGES.values() if url_path == link.page)
    at.query_params.clear()
    at.query_params.update(dict(parse_qsl(link.query_string)))
    return at.switch_page(page).run()


def test_a_lessons_last_step_leads_on_to_the_next_lessons_first_step():
    """A lecturer at the end of a lesson goes on in one click, in the order the Lessons page lists the lessons;
    the last lesson's last step leads nowhere further."""
    at = landing()
    order = at.radio[0].options  # the Lessons page's list, by title
    assert [lesson.title for lesson in L.LESSONS] == order
    first, second = L.LESSONS[:2]
    open_step(at, first, len(first.steps) - 1)
    assert not links(at, "Next step")
    (on,) = links(at, lessonbar.NEXT_LESSON)
    # no tooltip: it covered the next note's title under a presenter's resting pointer (rehearsal r55, P3)
    assert not on.help and dict(parse_qsl(on.query_string)) == L.step_query(second, 0)
    follow(at, on)
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == TITLES[second.steps[0].page] and at.query_params["step"] in ([f"{second.id}.1"],
                                                                                           f"{second.id}.1")
    assert f"**{second.title}** · step 1 of {len(second.steps)}:" in shown(at)
    assert len(links(at, "Next step")) == 1 and not links(at, lessonbar.NEXT_LESSON)  # a first step: Next step
    last = L.LESSONS[-1]
    open_step(at, last, len(last.steps) - 1)
    assert f"step {len(last.steps)} of {len(last.steps)}" in shown(at)
    assert not links(at, "Next step") and not links(at, lessonbar.NEXT_LESSON)


def test_step_links_name_cells_and_pages_that_exist():
    menu = next(ast.literal_eval(node.value) for node in ast.parse(APP.read_text()).body
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MENU")
    pages = {(f"app/pages/{script}.py", key) for entries in menu.values() for script, _, _, key in entries}
    for key, (path, url_path) in L.PAGES.items():
        assert (ROOT / path).is_file(), key
        assert (path, url_path) in pages, f"{url_path} is not a page of streamlit_app.py"
    for lesson, i in STEPS:
        url = L.step_url("http://host:8501", lesson, i)
        assert url.startswith(f"http://host:8501/{L.PAGES[lesson.steps[i].page][1]}?")
        assert "dataset=" in url and f"step={lesson.id}.{i + 1}" in url
        assert not re.search(r"saved|runs/|\d{8}-\d{6}", url), url  # cells and seeds, never run folders
        assert len(lesson.steps[i].look.split(". ")) <= 3  # "two sentences"
    assert L.find_step("alignment.1") == (L.LESSONS[0], 0) and L.find_step("alignment.99") is None


def test_no_step_note_points_left_or_right_at_panels_a_phone_stacks():
    """Audit r79, item 1: alignment.2 and .3 said "left ... right" of the Before and After maps, and r.1 of the r
    sweep's two panels, where a phone (or a narrow window) draws them one under the other. A note names a panel by
    what it shows. (A side within one chart, "left of the red line", "the left edge", no layout moves.)"""
    within = ("left of the red line", "right of the red line", "the left edge")
    for lesson, i in STEPS:
        look = lesson.steps[i].look
        for words in within:
            look = look.replace(words, "")
        assert not re.search(r"\b(left|right)\b", look, re.IGNORECASE), (lesson.id, i, look)


def test_group_selectors_name_groups_of_the_grid_and_take_their_subgroups():
    from mambarec import grid

    groups: dict[str, list[str]] = {}
    for c in grid.GRID:
        groups.setdefault(c.group, []).append(c.name)
    for lesson, i in STEPS:
        for group in lesson.steps[i].groups():  # a selector that matches no group shows nothing, forever
            assert L.group_cells(groups, group), f"{L.step_id(lesson, i)}: no group {group!r} in the grid"
    bridge = L.group_cells(groups, "bridge")
    assert "mgcn_with_layers4" in bridge and "paper_without_norm" in bridge and "paper" not in bridge
    assert L.group_cells(groups, "bridg") == []  # a prefix of a word is not a group


def test_a_root_link_with_a_setup_still_opens_train():
    assert urlsel.names_a_setup({"variant": "official", "epochs": "3"})
    assert urlsel.names_a_setup({"dataset": "ml100k"})  # every link to the root so far came from Train
    assert not urlsel.names_a_setup({"lesson": "alignment"}) and not urlsel.names_a_setup({})


def test_the_step_note_can_be_hidden_and_leaves_the_url():
    at = open_step(landing(), L.LESSON_IDS["alignment"], 3)
    assert "step 4 of 4" in shown(at) and at.query_params["step"] in (["alignment.4"], "alignment.4")
    at.button(key="compare.lesson.close").click().run()
    assert "step 4 of 4" not in shown(at) and "step" not in at.query_params
    assert at.multiselect(key="compare.cells").value == ["paper", "no_alignment"]  # the selection stays


def test_the_shipped_folder_holds_everything_every_step_reads():
    """No step of the shipped lessons may tell a class that something is missing (a false note, such as a
    checkpoint looked up under the dataset's name instead of its folder, reads as a broken demo)."""
    inv = lessonbar.inventory(str(ROOT / "precomputed"), ())
    assert inv["checkpoints"] and inv["runs"]
    notes = {f"{lesson.id}.{i}": lessonbar.missing(step, inv)
             for lesson in L.LESSONS for i, step in enumerate(lesson.steps, 1)}
    assert {k: v for k, v in notes.items() if v} == {}


def _shipped_rows(dataset: str, cell: str) -> list[dict]:
    import json

    rows = json.loads((ROOT / "precomputed" / "results.json").read_text())["rows"]
    return [r for r in rows if r["dataset"] == dataset and r["cell"] == cell]


def test_the_losses_step_says_what_the_shipped_curves_show():
    """converged.3 once said mgcn's loss had "settled" while it was falling to its last epoch: the text must hold
    for every shipped seed (mgcn starts near ln 2 and is still falling when early stopping ends it; paper starts
    lower and is still falling after a hundred epochs)."""
    import math

    text = L.LESSON_IDS["converged"].steps[2].look
    assert "still falling when its run ends" in text and "a hundred epochs" in text
    for r in _shipped_rows("ml100k", "mgcn"):
        loss = [e["loss/bpr"] for e in r["history"]]
        assert abs(loss[0] - math.log(2)) < 0.01 and loss[-1] < loss[r["best_epoch"] - 1] < loss[0]
    for r in _shipped_rows("ml100k", "paper"):
        loss = [e["loss/bpr"] for e in r["history"]]
        assert r["epochs_run"] >= 100 and loss[-1] < loss[-21] and loss[0] < math.log(2) - 0.05


def test_the_r_step_on_real_data_says_what_the_shipped_rows_show():
    """r.3 says an ml100k epoch takes ~50 s at r = 1 and ~5 s at r = 8, and that every r's Recall@20 lies inside
    the grey band (r = 8's mean +- one seed's std, as ``figures.r_sweep`` draws it): true of the shipped rows."""
    import statistics

    text = L.LESSON_IDS["r"].steps[2].look
    assert "~50 s at r = 1" in text and "~5 s at r = 8" in text and "inside the grey band" in text
    recall = {c: [r["test/Recall@20"] for r in _shipped_rows("ml100k", c)] for c in ("paper", "r1", "r2", "r4", "r16")}
    centre, noise = statistics.mean(recall["paper"]), statistics.stdev(recall["paper"])
    for cell, values in recall.items():
        assert len(values) >= 3 and abs(statistics.mean(values) - centre) <= noise, cell
    seconds = {c: statistics.mean(r["s_per_epoch"] for r in _shipped_rows("ml100k", c)) for c in ("paper", "r1")}
    assert 40 <= seconds["r1"] <= 60 and 4 <= seconds["paper"] <= 6


def test_the_cold_items_step_says_what_the_shipped_seeds_score():
    """cold-items.4 says that only mgcn's cold bar clears a random ranking, BPR's and pop's and paper's and
    no_alignment's below it: true of the grid's five seeds per setup, with their intervals, as the Cold vs warm tab
    reads them (each run's stored cold and warm Recall@20)."""
    from app import evidence, results
    from mambarec.data import load_dataset

    look = L.LESSON_IDS["cold-items"].steps[3].look
    assert "Only mgcn's cold bar clears the dashed line" in look and "five seeds" in look
    ds = load_dataset("synthetic/cold-items")
    rows, _ = results.results_table("synthetic/cold-items", ds.fingerprint())
    table = evidence.cold_warm_table(rows, ds, L.SWEEP.split(","))
    cold = table[table["group"] == "cold"].set_index("name")
    chance = results.COLD_WARM_K / ds.n_items  # the tab's dashed line
    assert results.COLD_WARM_METRIC == "Recall@20" and set(cold.index) == set(L.SWEEP.split(","))
    assert (cold["seeds"] == 5).all()
    assert cold.loc["mgcn", "low"] > chance  # clears it with its interval
    others = cold.drop(index="mgcn")
    assert (others["high"].fillna(others["mean"]) < chance).all()


def test_a_dream_step_on_a_seed_that_stopped_in_its_warm_up_says_so():
    """dream.2 (official, seed 0: best epoch 6 of 27) and dream.3 (cold-items paper, seed 0: best 9 of 30) show the
    only seeds whose weights are shipped, which early stopping ended in their warm-up; the inspector's attention
    values (a channel weight of 0.0000) then passed for what DREAM learns. The page now says so; dream.1's paper
    seed 0 (best 162 of 183) carries no such line."""
    lesson = L.LESSON_IDS["dream"]
    for index, cell, best in ((1, "official", 6), (2, "paper", 9)):
        text = shown(open_step(landing(), lesson, index))
        assert f"Seed 0 of {cell} peaked at epoch {best}, in its warm-up, and early stopping ended it" in text
        assert "These are a barely trained model's weights" in text
    assert "in its warm-up" not in shown(open_step(landing(), lesson, 0))


def test_the_lessons_page_names_no_dataset_of_its_own_and_a_step_opens_on_its_dataset():
    """The sidebar's picker showed the session's dataset (synthetic) beside lesson steps on ml100k: on Lessons it
    gives way to a note, and the step a lecturer opens has the picker back, on the step's own dataset."""
    at = landing()
    keys = [s.key for s in at.selectbox]
    assert "sidebar.dataset" not in keys and "each lesson step opens on its own" in shown(at)
    lesson = L.LESSON_IDS["alignment"]
    assert at.session_state["dataset"] != lesson.steps[0].dataset  # the session's own differs: the case at hand
    at = open_step(at, lesson, 0)
    assert not at.exception and at.selectbox(key="sidebar.dataset").value == lesson.steps[0].dataset
    assert "each lesson step opens on its own" not in shown(at)


def test_picking_another_dataset_ends_the_step():
    """The step's note speaks of its own dataset's runs and maps: on another dataset it would describe what is not
    shown (and a link copied then would carry the step onto the wrong data)."""
    lesson = L.LESSON_IDS["alignment"]
    at = open_step(landing(), lesson, 0)
    assert at.query_params["step"] == L.step_id(lesson, 0)  # "step 1 of 4:" as one unbreakable piece: in the
    assert any("step\u00a01\u00a0of\u00a04:" in m.value for m in at.markdown)  # title column it broke before "4:"
    other = next(o for o in at.selectbox(key="sidebar.dataset").options if o != lesson.steps[0].dataset)
    at.selectbox(key="sidebar.dataset").set_value(other).run()
    assert not at.exception and at.session_state["dataset"] == other
    assert "step 1 of" not in shown(at) and "step" not in at.query_params


def test_the_parts_and_paper_vs_code_lessons_open_with_the_grids_findings_as_report_md_says_them():
    """The grid's plain-words finding (REPORT.md's "In short, on ml100k") heads the two lessons about what matters,
    in the same words as the shipped REPORT.md; a lesson without ``findings_on`` shows none."""
    report = (ROOT / "precomputed" / "REPORT.md").read_text()
    said = next(line.split("): ", 1)[1] for line in report.splitlines() if line.startswith("- **In short, on ml100k**"))
    at = landing()
    assert "What the grid found" not in shown(at)  # the default lesson (alignment) has none
    for lesson in ("parts", "paper-vs-code"):
        at.radio[0].set_value(lesson).run()
        assert not at.exception
        line = next(m.value for m in at.markdown if m.value.startswith("**What the grid found on ml100k, in short**"))
        assert line.endswith(said)


def test_a_step_that_says_its_seed_stopped_in_the_warm_up_opens_one_that_did():
    """DREAM's steps 2 and 3 open the one shipped seed of their cell, which stopped in its warm-up; the steps say so
    (rehearsal r55), and the data must bear it out, and a step on a seed that learned must not say it."""
    import csv

    from mambarec import findings
    from mambarec.grid import DEFAULT_BUDGET

    with open(ROOT / "precomputed" / "results.csv", newline="") as f:
        runs = {(r["dataset"], r["cell"], r["seed"]): r for r in csv.DictReader(f)}
    said = 0
    for lesson, i in STEPS:
        step = lesson.steps[i]
        key = (step.params.get("dataset"), step.params.get("model"), step.params.get("seed"))
        if step.page != "dream" or key not in runs:
            continue
        run = runs[key]
        early = findings.peaked_in_warmup(int(float(run["best_epoch"])), run["stopped_early"] == "True",
                                          DEFAULT_BUDGET.patience)
        assert ("stopped in its warm-up" in step.look) == early, (L.step_id(lesson, i), run["best_epoch"])
        said += early
    assert said == 2


def test_in_presentation_mode_a_steps_links_carry_it_so_back_is_one_press():
    """A step's links left out `present=1`, which the page then added as a history entry of its own: Back after
    Open showed the same step once more (rehearsal r55, F1). Off, they carry no `present`."""
    at = landing()
    at.session_state["presentation"] = True  # the sidebar's switch, on
    at = open_step(at, L.LESSONS[0], 0)
    [nxt] = links(at, "Next step")
    assert dict(parse_qsl(nxt.query_string)).get("present") == "1"
    at.session_state["presentation"] = False
    at = open_step(at, L.LESSONS[0], 0)
    [nxt] = links(at, "Next step")
    assert "present" not in dict(parse_qsl(nxt.query_string))
