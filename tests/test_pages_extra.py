"""The Embeddings, DREAM inspector and Users pages render on the synthetic data, with and without runs.

Each page runs alone through ``streamlit.testing.v1.AppTest`` (the app's default dataset is
``synthetic``); ``MAMBAREC_RUNS`` points at a temporary folder holding one tiny saved run, or at
an empty one, and ``MAMBAREC_PRECOMPUTED`` at a folder with no precomputed results (or a tiny one).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app import embedding_words as words
from app.pages.embeddings import title_room
from mambarec.config import RunConfig, TrainConfig, mambarec_preset
from mambarec.data import load_dataset
from mambarec.store import save_run
from mambarec.train import Trainer

PAGES = Path(__file__).resolve().parents[1] / "app" / "pages"
TIMEOUT = 600  # the first UMAP of a process compiles numba code


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic")


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory, synthetic) -> Path:
    """One saved 1-epoch official run on the synthetic data."""
    root = tmp_path_factory.mktemp("runs")
    run = RunConfig(dataset="synthetic", model=mambarec_preset("official"),
                    train=TrainConfig(epochs=1, device="cpu"))
    trainer = Trainer.for_run(run, synthetic)
    save_run(root / "20260101-000000-synthetic-official-s2026-1", trainer, trainer.fit())
    return root


@pytest.fixture()
def no_precomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMBAREC_PRECOMPUTED", str(tmp_path / "precomputed"))


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("info", "markdown", "caption", "subheader", "header", "warning", "error")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("name", ["embeddings", "dream_inspector", "users"])
def test_pages_without_runs_explain_how_to_get_one(name, tmp_path, monkeypatch, no_precomputed):
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "no-runs"))
    at = page(name)
    assert at.info, "a page without runs must say how to get one"
    info = at.info[0].value
    assert "Train" in info and "python -m mambarec precompute" in info
    assert not at.error


def alignment_numbers(at: AppTest):
    """The alignment table under the maps: one row per number, one plain sentence each."""
    return at.table[0].value


def test_embeddings_page_with_a_run(runs_root, monkeypatch, no_precomputed):
    monkeypatch.setenv("MAMBAREC_RUNS", str(runs_root))
    at = page("embeddings")
    assert not at.info and not at.error
    labels = [s.label for s in at.selectbox]
    assert "After (trained)" in labels and "Before" in labels
    assert next(s for s in at.selectbox if s.label == "Before").value == "initialized"
    # a saved run's panel titles: what it is, its seed and its state, short enough that "initialized" stays in
    # sight at 1280 x 800 (the run's whole label, with its epochs and folder id, pushed it out)
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]
    assert any(t.startswith("<b>Before</b> · mambarec/official · seed 2026, initialized") for t in titles), titles
    assert any(t.startswith("<b>After</b> · mambarec/official · seed 2026, trained") for t in titles), titles
    assert not any("20260101-000000" in t for t in titles)
    long = "mambarec/paper · use_mmd=off · lambda_cl=0.1 · seed 3"
    assert title_room(long) == "mambarec/paper · use_mmd=off… · seed 3"
    table = alignment_numbers(at)
    assert list(table.columns) == ["Before", "After", "what it says"]
    assert any(label.startswith("MMD") for label in table.index)
    assert all(len(sentence) > 20 for sentence in table["what it says"])  # each number explained
    # PCA with lines between a picture and its text is the default view
    assert next(r for r in at.radio if r.label == "Projection").value == "PCA"
    assert next(s for s in at.slider if s.label.startswith("Picture-text")).value == 60
    next(r for r in at.selectbox if r.label == "Colour by").set_value("category")
    next(s for s in at.slider if s.label.startswith("Picture-text")).set_value(50)
    at.run()
    assert not at.exception
    assert at.query_params["colour"] == ["category"] or at.query_params["colour"] == "category"  # in the URL
    # another stage of the encoders
    next(s for s in at.selectbox if s.label == "Stage").set_value("dream")
    at.run()
    assert not at.exception and not at.warning


def test_embeddings_page_shows_a_selection(runs_root, monkeypatch, no_precomputed):
    monkeypatch.setenv("MAMBAREC_RUNS", str(runs_root))
    at = AppTest.from_file(str(PAGES / "embeddings.py"), default_timeout=TIMEOUT)
    at.session_state["embeddings_selected_items"] = [0, 3, 7]
    at.run()
    assert not at.exception
    assert "Selected items (3)" in texts(at)
    assert at.dataframe[-1].value["item"].tolist() == [0, 3, 7]
    at.button(key="embeddings.clear").click().run()  # a press that counts as a choice (urlsel.button)
    assert not at.exception and at.session_state["embeddings_selected_items"] == []
    assert "Selected items" not in texts(at)


def test_embeddings_search_lists_the_nearest_texts_before_and_after(runs_root, monkeypatch, no_precomputed):
    monkeypatch.setenv("MAMBAREC_RUNS", str(runs_root))
    at = AppTest.from_file(str(PAGES / "embeddings.py"), default_timeout=TIMEOUT)
    at.query_params["item"] = "5"
    at.run()
    assert not at.exception
    assert next(s for s in at.selectbox if s.label == "Find an item by title").value == 5
    text = texts(at)
    assert "Nearest texts to the picture of" in text and text.count("its own text ranks") == 2
    neighbours = [d.value for d in at.dataframe if "text of" in d.value.columns]
    assert len(neighbours) == 2 and all(len(n) == 5 for n in neighbours)
    # each map's title carries the same rank as the caption under it (a projector shows the titles unscrolled)
    ranks = re.findall(r"its own text ranks \*\*(\d+)\*\*", text)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert len(ranks) == 2 and [re.search(r"ranks <b>(\d+)</b> of", t).group(1) for t in titles] == ranks


def test_a_channel_gate_cut_to_zero_says_the_spatial_gate_carries_the_item(tmp_path, monkeypatch, no_precomputed,
                                                                           synthetic):
    """The released code's channel gate read "0.0000" beside M_s 0.52, and a learner read a closed gate; the two
    meet in a maximum (rehearsal r53, F11)."""
    import torch

    run = RunConfig(dataset="synthetic", model=mambarec_preset("official"), train=TrainConfig(epochs=1, device="cpu"))
    trainer = Trainer.for_run(run, synthetic)
    with torch.no_grad():  # every input of the gate's 1x1 conv is >= 0 (a mean of ReLUs): the ReLU gives 0 throughout
        for name, param in trainer.model.named_parameters():
            if name.endswith("dream.channel.fc.weight"):
                param.fill_(-1.0)
    save_run(tmp_path / "runs" / "closed", trainer, trainer.fit())
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "runs"))
    at = page("dream_inspector")
    assert [m.value for m in at.metric if m.label == "one scalar for the whole item"] == ["0.0000"]
    assert any("the ReLU cut it to 0, yet the item is not shut out" in c.value and "spatial attention alone carries "
               "this item" in c.value for c in at.caption)


def test_dream_inspector_with_a_run_and_untrained_variants(runs_root, monkeypatch, no_precomputed):
    monkeypatch.setenv("MAMBAREC_RUNS", str(runs_root))
    at = page("dream_inspector")
    assert not at.info and not at.error
    text = texts(at)
    assert "64 x 1 x 1" in text
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["every dilated branch == its centre tap"] == "yes"
    assert metrics["DREAM parameters no gradient reaches (69.7%)"] == "98,304 of 141,056"
    assert "dead taps moved not at all" in text  # a trained run: off-centre taps never left their init
    model = next(s for s in at.selectbox if s.label == "Model")
    model.set_value("untrained-paper")
    at.run()
    assert not at.exception
    text = texts(at)
    # the paper map for contrast, then the released-code layout on the same data
    assert "untrained official model, same data" in text
    assert [m.value for m in at.metric if m.label == "every dilated branch == its centre tap"] == ["no", "yes"]
    # move the receptive-field centre: the receptive-field and branch pictures are redrawn around it
    before = [c.proto.spec for c in at.get("plotly_chart")]
    assert [s.value for s in at.slider] != [0] * len(at.slider)
    for s in at.slider:
        s.set_value(0)
    at.run()
    assert not at.exception
    after = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(after) == len(before) and after[0] != before[0] and after[1] != before[1]


@pytest.mark.parametrize("name", ["embeddings", "dream_inspector", "users"])
def test_a_classroom_server_never_tells_a_student_to_train(name, tmp_path, monkeypatch, no_precomputed):
    """In classroom mode Train is off, yet these pages told students "Train one on the Train page" (audit r77)."""
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "no-runs"))
    monkeypatch.setenv("MAMBAREC_CLASSROOM", "1")
    at = page(name)
    said = texts(at)
    assert "classroom mode and trains nothing" in said and "Train one" not in said and "train a run" not in said


def test_users_page_with_a_run(runs_root, monkeypatch, no_precomputed, synthetic):
    monkeypatch.setenv("MAMBAREC_RUNS", str(runs_root))
    at = page("users")
    assert not at.info and not at.error
    assert [s.value for s in at.selectbox] == ["saved:20260101-000000-synthetic-official-s2026-1", "untrained-paper"]
    rankings = [d.value for d in at.dataframe if "rank" in d.value.columns and "score" in d.value.columns]
    assert len(rankings) == 2 and all(len(r) == 10 for r in rankings)
    at.number_input[0].set_value(5)
    at.slider[0].set_value(20)
    at.run()
    assert not at.exception
    assert "User 5:" in texts(at)
    rankings = [d.value for d in at.dataframe if "rank" in d.value.columns and "score" in d.value.columns]
    assert all(len(r) == 20 for r in rankings)
    train_items = set(synthetic.train[synthetic.train[:, 0] == 5, 1].tolist())
    assert not train_items & set(rankings[0]["item"].tolist())


def test_users_page_offers_the_user_whose_top_k_changes_most(runs_root, monkeypatch, no_precomputed, synthetic):
    """The page opened on user 0, whose two lists were the same: "overlap (100%) ... Entering: none" was the first
    thing a class saw (audit r74, item 11). A button names the user whose list changes most and shows that user."""
    from mambarec.recommend import compare_topk, most_changed_user, recommend, topk_overlaps

    monkeypatch.setenv("MAMBAREC_RUNS", str(runs_root))
    at = page("users")
    (button,) = [b for b in at.button if b.label.startswith("Most changed user: ")]
    user = int(button.label.rsplit(" ", 1)[1])
    button.click().run()
    assert not at.exception and at.number_input[0].value == user and f"User {user}:" in texts(at)
    overlap = [m.label for m in at.metric if m.label.startswith("overlap")][0]
    from app import models

    runs = models.sources(synthetic.fingerprint(), models.signature(), synthetic)
    trained = models.load(models.pick(runs, "saved:20260101-000000-synthetic-official-s2026-1"), synthetic)
    untrained = models.untrained("paper", synthetic.fingerprint(), synthetic)
    found, share = most_changed_user(trained, untrained, synthetic, 10)
    assert found == user and overlap == f"overlap ({share:.0%})"
    shares = topk_overlaps(trained, untrained, synthetic, 10)
    direct = {u: compare_topk(recommend(trained, synthetic, u, 10).items, recommend(untrained, synthetic, u, 10).items)
              for u in range(0, synthetic.n_users, 37)}
    assert all(shares[u] == diff.overlap for u, diff in direct.items())
    assert shares.min() == share and (shares[:user] > share).all()  # the least overlap, the lower id on a tie


def test_users_page_keeps_a_link_s_b_out_of_a_s_place_when_a_cannot_be_used(runs_root, monkeypatch, no_precomputed):
    """``/users?a=nope&b=<run>``: A fell back to its default, the run B named, so the page compared a run with
    itself ("Entering: none / Leaving: none"; rehearsal r70). A now falls back to another model, and the note says
    why."""
    monkeypatch.setenv("MAMBAREC_RUNS", str(runs_root))
    run = "saved:20260101-000000-synthetic-official-s2026-1"
    at = AppTest.from_file(str(PAGES / "users.py"), default_timeout=TIMEOUT)
    at.query_params.update({"a": "nope", "b": run})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert [s.value for s in at.selectbox] == ["untrained-paper", run]
    assert any("nope" in c.value for c in at.caption)


def test_users_page_with_one_model_has_no_column_against_another(tmp_path, monkeypatch, no_precomputed, synthetic):
    """With one model (no saved run, no precomputed one) the "vs other" column compared the list with itself: "="
    on every row."""
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "no-runs"))
    at = page("users")
    assert not at.exception
    rankings = [d.value for d in at.dataframe if "rank" in d.value.columns and "score" in d.value.columns]
    assert len(rankings) == 1 and "vs other" not in rankings[0].columns


@pytest.fixture(scope="module")
def precomputed(tmp_path_factory, synthetic) -> Path:
    """A tiny precomputed folder: the official cell, 1 epoch, PCA maps only, its synthetic checkpoint."""
    from mambarec.precompute import precompute

    out = tmp_path_factory.mktemp("pre") / "precomputed"
    precompute(out, {"synthetic": synthetic}, seeds=[0], epochs=1, only=["official"], projections=("pca",),
               progress=False)
    return out


def test_pages_use_precomputed_maps_and_checkpoints(precomputed, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "no-runs"))
    monkeypatch.setenv("MAMBAREC_PRECOMPUTED", str(precomputed))
    at = page("embeddings")
    assert not at.info and not at.error
    assert next(s for s in at.selectbox if s.label == "After (trained)").value == "official"  # the cell, by name
    table = alignment_numbers(at)
    assert list(table.columns) == ["Before", "After", "what it says"] and (table["Before"] != "nan").all()
    # UMAP was not precomputed here: both maps are projected from the stored checkpoints, and say so
    next(r for r in at.radio if r.label == "Projection").set_value("UMAP")
    at.run()
    assert not at.exception
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")[:2]]
    assert len(titles) == 2 and all("UMAP of" in t for t in titles)
    assert not [c.value for c in at.caption if "no structure to read" in c.value]  # a fresh `official` spreads
    for name in ("dream_inspector", "users"):
        at = page(name)
        assert not at.info and not at.error
        assert at.selectbox[0].value == "official"
        assert "official · MambaRec as the released code computes it" in str(at.selectbox[0].format_func("official"))


def test_a_umap_of_points_that_are_all_one_says_it_has_no_structure(tmp_path, monkeypatch, no_precomputed):
    """A fresh `paper` model gives every item one and the same modal vector, and UMAP spread those identical points
    into a believable cloud in a lecture's "before" panel (audit r76); PCA draws them as the one point they are."""
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "no-runs"))
    at = AppTest.from_file(str(PAGES / "embeddings.py"), default_timeout=TIMEOUT)
    at.query_params.update({"view": "UMAP"})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    warned = [c.value for c in at.caption if "no structure to read" in c.value]
    assert warned == [words.ONE_POINT.format("visual and text")], warned
    next(r for r in at.radio if r.label == "Projection").set_value("PCA")
    at.run()
    assert not [c.value for c in at.caption if "no structure to read" in c.value]


def test_embeddings_without_a_checkpoint_says_why_and_forgets_another_datasets_picks(ml100k_dir, tmp_path,
                                                                                      monkeypatch):
    """ml100k's precomputed maps are of the modal stage and it ships no checkpoint: another stage says why
    instead of failing. Items picked on a larger dataset are no indices into this one."""
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "no-runs"))
    monkeypatch.setenv("MAMBAREC_PRECOMPUTED", str(PAGES.parents[1] / "precomputed"))
    monkeypatch.setenv("MAMBAREC_DATA", str(ml100k_dir.parent))
    at = AppTest.from_file(str(PAGES / "embeddings.py"), default_timeout=TIMEOUT)
    at.query_params.update({"dataset": "ml100k", "after": "paper", "stage": "dream"})
    at.session_state["embeddings_selected_items"] = [0, 10**6]
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Nothing to draw for this stage" in i.value for i in at.info)
    assert at.session_state["embeddings_selected_items"] == [0]
    after = next(s for s in at.selectbox if s.label == "After (trained)")
    assert after.format_func("paper") == "paper · MambaRec as the paper describes it"  # a stored map, in words


def test_a_umap_map_says_how_to_read_it(tmp_path, ml100k_dir, monkeypatch):
    """In a rehearsal a well aligned run (matched cosine 0.87) drew two UMAP islands joined by long lines under a
    caption that said to compare line lengths: the room would read "not aligned". A UMAP map says how to read it."""
    from app.embedding_words import UMAP_READING

    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "no-runs"))
    monkeypatch.setenv("MAMBAREC_PRECOMPUTED", str(PAGES.parents[1] / "precomputed"))
    monkeypatch.setenv("MAMBAREC_DATA", str(ml100k_dir.parent))
    at = AppTest.from_file(str(PAGES / "embeddings.py"), default_timeout=TIMEOUT)
    at.query_params.update({"dataset": "ml100k", "after": "paper"})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert UMAP_READING not in [c.value for c in at.caption]  # PCA, the default: lengths can be compared
    at.query_params.update({"view": "UMAP"})  # the stored UMAP maps of the precomputed runs
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert UMAP_READING in [c.value for c in at.caption]


def test_a_saved_run_whose_checkpoint_no_longer_loads_is_a_note_without_markup(tmp_path, monkeypatch, synthetic,
                                                                                no_precomputed):
    """A checkpoint damaged after it was saved raised on Embeddings (its load sat outside the page's try); then the
    note read "<b>After</b> · ...: nothing to draw", an HTML tag in Markdown."""
    root = tmp_path / "runs"
    run = RunConfig(dataset="synthetic", model=mambarec_preset("official"), train=TrainConfig(epochs=1, device="cpu"))
    trainer = Trainer.for_run(run, synthetic)
    folder = save_run(root / "20260101-000000-synthetic-official-s2026-9", trainer, trainer.fit())
    (folder / "checkpoint.pt").write_bytes(b"damaged after it was saved")
    monkeypatch.setenv("MAMBAREC_RUNS", str(root))
    at = page("embeddings")
    warnings = [w.value for w in at.warning]
    assert any("not a readable" in w for w in warnings), warnings
    assert any(w.startswith("**After**") and w.endswith("nothing to draw") for w in warnings), warnings
    assert not any("<b>" in w for w in warnings)


def test_an_attention_map_ticks_whole_channels_and_keeps_its_scale():
    """The paper model's channel attention on ml100k has one channel: its axis read -0.5, 0, 0.5 and, unlike the
    maps beside it, it had no colour scale to read the weights against."""
    from app import dream_figures

    channel = dream_figures.attention_map(np.full((5, 1), 0.5), ["a", "b", "c", "d", "e"])
    assert channel.data[0].showscale and (channel.data[0].zmin, channel.data[0].zmax) == (0, 1)
    assert (channel.layout.xaxis.tickmode, channel.layout.xaxis.dtick) == ("linear", 1)
    spatial = dream_figures.attention_map(np.full((4, 4), 0.5))
    assert spatial.data[0].showscale and spatial.layout.yaxis.dtick == 1
    wide = dream_figures.attention_map(np.full((5, 64), 0.5), list("abcde"))  # 64 channels: plotly's own ticks
    assert wide.layout.xaxis.dtick is None


def test_dream_heatmaps_axes_show_the_maps_cells_and_no_more():
    """The output map of a 4 x 4 map was ticked 0, 2, 4 along an x axis stretched past the map (its y axis read
    0-3): both maps' axes span the cells, -0.5 to W - 0.5 and H - 0.5 to -0.5, ticked at each whole cell."""
    from app import dream_figures

    for fig in (dream_figures.dream_output(np.ones((3, 2, 5))), dream_figures.attention_map(np.full((2, 5), 0.5))):
        x, y = fig.layout.xaxis, fig.layout.yaxis
        assert tuple(x.range) == (-0.5, 4.5) and tuple(y.range) == (1.5, -0.5)
        assert all((a.tickmode, a.tick0, a.dtick, a.constrain) == ("linear", 0, 1, "domain") for a in (x, y))
        assert y.scaleanchor == "x"


def test_dream_inspector_table_counts_dead_taps_over_every_position(tmp_path, monkeypatch, no_precomputed):
    """On the paper model's 4 x 4 map the panels read "1 of 9 on map" for dilation 3 at the centre (2, 2) while the
    table said "taps off the map: 0 of 9": its header says it counts the taps that miss the map from every position,
    and a note under it sets the panels' count at the centre beside it."""
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "no-runs"))
    at = page("dream_inspector")
    table = at.dataframe[0]
    assert "taps never on the map" in table.value.columns and "taps off the map" not in table.value.columns
    assert "from every output position" in json.loads(table.proto.columns)["taps never on the map"]["help"]
    assert list(table.value["taps never on the map"]) == ["0 of 9"] * 3
    text = texts(at)
    assert ("The panels above count the taps for the output at the chosen centre (row 2, column 2); 'taps never on "
            "the map' counts the taps that read the padding from every output position.") in text
    assert "3x3, dilation 3: 1 of 9 on the map there, 8 in the padding, 0 of 9 taps never on the map" in text
    assert "3x3, dilation 1:" not in text  # its 9 taps are on the map at the centre and from everywhere


def test_a_checkpoints_versions_are_words_not_a_python_dict():
    from app.compare_sections import versions_words

    assert versions_words({"mambarec": "0.1.0", "torch": "2.13.0"}) == "mambarec 0.1.0, torch 2.13.0"
    assert versions_words(None) == versions_words({}) == "unrecorded versions"  # an older or foreign file


def test_an_embedding_maps_title_grows_with_presentation_modes_type():
    """Presentation mode scales a chart's text through its layout font, which a title with its own size does not
    follow: the alignment maps' titles, where the lesson sends the room's eyes, stayed at 10-14 px under 19 px
    type."""
    import pandas as pd

    from app import figures

    xy = {m: np.zeros((3, 2)) for m in ("visual", "text")}
    hover = pd.DataFrame({"item": range(3), "title": ["a", "b", "c"], "category": ["x"] * 3, "popularity": [1] * 3})
    title = "<b>After</b> · paper<br>PCA of modal"
    plain, _ = figures.embedding_panel(xy, hover, "modality", [], [], title)
    large, _ = figures.embedding_panel(xy, hover, "modality", [], [], title, text_scale=1.25)
    assert plain.layout.title.font.size == figures.MAP_TITLE_PX
    assert large.layout.title.font.size == round(1.25 * figures.MAP_TITLE_PX)
    assert large.layout.margin.t > plain.layout.margin.t  # the larger lines keep their room above the map


def test_a_run_renamed_elsewhere_is_said_on_the_pages_that_showed_it(runs_root, monkeypatch, no_precomputed, tmp_path):
    """A run renamed or deleted by another session: Users, the DREAM inspector and Embeddings switched to another
    model without a word, where a link to a missing run is explained (audit r60)."""
    import shutil

    root = tmp_path / "runs"
    shutil.copytree(runs_root, root)
    monkeypatch.setenv("MAMBAREC_RUNS", str(root))
    name = "20260101-000000-synthetic-official-s2026-1"
    pages = [page(p) for p in ("users", "dream_inspector", "embeddings")]
    (root / name).rename(root / "renamed")
    for at in pages:
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        said = [c.value for c in at.caption if "is no longer in the runs folder" in c.value]
        assert said and said[0].startswith(f":material/info: The saved run `{name}` is no longer in the runs folder "
                                           "(renamed or deleted meanwhile): showing `"), (at, said)
        assert "untrained-paper" not in said[0]  # named as the picker names it (rehearsal r72)


def test_the_run_chosen_on_compare_is_named_in_each_inspection_pages_address(runs_root, monkeypatch, no_precomputed,
                                                                              synthetic, tmp_path):
    """Compare's "Inspect on the other pages" chose a run for Embeddings, Users and DREAM, but the address kept
    none of it: a reload or a copied link showed `paper` (a new session's default) without a word. And the DREAM
    inspector, which lists only runs with DREAM, swapped a run trained with DREAM off for `paper` in silence
    (rehearsal r71)."""
    monkeypatch.setenv("MAMBAREC_RUNS", str(runs_root))
    [run] = [p.name for p in runs_root.iterdir()]
    for name, param in (("embeddings", "after"), ("users", "a"), ("dream_inspector", "model")):
        at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=TIMEOUT)
        at.session_state["active_run"] = str(runs_root / run / "checkpoint.pt")  # what the button sets
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        named = at.query_params[param]
        assert (named if isinstance(named, str) else named[0]) == f"saved:{run}", (name, dict(at.query_params))
    off = tmp_path / "runs"
    trainer = Trainer.for_run(RunConfig(dataset="synthetic", model=mambarec_preset("paper", use_dream=False),
                                        train=TrainConfig(epochs=1, device="cpu")), synthetic)
    save_run(off / "no-dream", trainer, trainer.fit())
    monkeypatch.setenv("MAMBAREC_RUNS", str(off))
    at = AppTest.from_file(str(PAGES / "dream_inspector.py"), default_timeout=TIMEOUT)
    at.session_state["active_run"] = str(off / "no-dream" / "checkpoint.pt")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("`no-dream`" in c.value and "no DREAM blocks" in c.value for c in at.caption), texts(at)


def test_a_map_says_after_dream_only_of_a_model_with_dream():
    """Both Embeddings panels of a run trained with DREAM off read "the d-dim modal features (after DREAM)"
    (rehearsal r71): the words follow the run's config, or the precomputed cell's."""
    from app.embedding_words import stage_words

    def run(model_name: str, **model) -> dict:
        return {"config": {"model_name": model_name, "model": model}}

    assert stage_words("modal", run("mambarec", use_dream=True)).endswith("(after DREAM)")
    assert stage_words("modal", None).endswith("(after DREAM)")  # the untrained paper model
    assert "DREAM" not in stage_words("modal", run("mambarec", use_dream=False))
    assert "DREAM" not in stage_words("modal", run("mgcn"))
    assert "DREAM" not in stage_words("modal", None, "mgcn") and "DREAM" not in stage_words("modal", None, "no_dream")
    assert stage_words("modal", None, "no_mmd").endswith("(after DREAM)")
    assert stage_words("dream", run("mambarec", use_dream=True)) == "DREAM's output"
