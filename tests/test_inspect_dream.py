"""mambarec.inspect_dream: branch maps, attention, receptive fields, and the 1x1-map equivalence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mambarec.config import RunConfig, TrainConfig, mambarec_preset
from mambarec.inspect_dream import (
    centre_tap_equivalence,
    dead_taps,
    dream_input,
    dream_modules,
    inspect_item,
    receptive_field,
)
from mambarec.model.zoo import build_model
from mambarec.recommend import initial_model
from mambarec.train import Trainer
from tests.tiny import tiny_dataset


def _trained(variant: str, **overrides) -> Trainer:
    run = RunConfig(model=mambarec_preset(variant, **overrides), train=TrainConfig(epochs=1, batch_size=32))
    trainer = Trainer.for_run(run, tiny_dataset())
    trainer.fit()
    return trainer


@pytest.fixture(scope="module")
def paper() -> Trainer:
    # visual 128 / r=2 = 64 = 1 x 8 x 8: the dilated taps (rates 1, 2, 3) land inside the map
    return _trained("paper", reduction_factor=2)


@pytest.fixture(scope="module")
def official() -> Trainer:
    return _trained("official")


def test_inspect_item_paper_shapes_and_consistency(paper):
    model = paper.model
    ins = inspect_item(model, 5, "visual")
    c, h, w = ins.shape
    assert (c, h, w) == (1, 8, 8)
    assert list(ins.branches) == ["conv1x1", "dilated_1", "dilated_2", "dilated_3", "pool"]
    for name, out in ins.branches.items():
        assert out.shape == (c, h, w)
        assert (out >= 0).all()  # conv + BN + ReLU
        np.testing.assert_array_equal(ins.branch_means[name], out[0])  # one channel: its mean is the channel
    assert ins.channel_attention.shape == (5, c)  # paper: one sigmoid weight per concat channel
    assert ((ins.channel_attention > 0) & (ins.channel_attention < 1)).all()
    assert ins.spatial_attention.shape == (h, w)
    assert ins.concat.shape == (5 * c, h, w)
    np.testing.assert_allclose(ins.concat, np.concatenate(list(ins.branches.values())), rtol=1e-6)
    # the output is what the model's own DREAM returns for this item (eval mode)
    model.eval()
    with torch.no_grad():
        expected = model.encoders["visual"].dream(dream_input(model, "visual", [5]))
    np.testing.assert_allclose(ins.output.reshape(-1), expected[0].numpy(), rtol=1e-5, atol=1e-6)
    assert ins.labels["dilated_3"] == "3x3, dilation 3"


def test_inspect_item_restores_training_mode(paper):
    paper.model.train()
    inspect_item(paper.model, 0, "text")
    assert paper.model.training
    paper.model.eval()
    inspect_item(paper.model, 0, "text")
    assert not paper.model.training


def test_inspect_item_official_scalar_channel_attention(official):
    ins = inspect_item(official.model, 2, "visual")
    assert ins.shape == (64, 1, 1)
    assert ins.channel_attention.shape == (1, 1)  # released code: ONE scalar per item
    assert ins.spatial_attention.shape == (1, 1)
    assert ins.style == "official"


def test_receptive_fields_are_the_dilated_taps_clipped_to_the_map(paper):
    ins = inspect_item(paper.model, 1, "visual", centre=(1, 6))
    rf = ins.receptive_fields
    assert rf["conv1x1"].positions == ((1, 6),)
    assert set(rf["dilated_1"].positions) == {(r, c) for r in (0, 1, 2) for c in (5, 6, 7)}
    assert rf["dilated_1"].outside == 0
    # rate 2 from (1, 6): rows -1, 1, 3 and cols 4, 6, 8 -> row -1 and col 8 are padding
    assert set(rf["dilated_2"].positions) == {(r, c) for r in (1, 3) for c in (4, 6)}
    assert rf["dilated_2"].outside == 5
    assert len(rf["pool"].positions) == 64
    with pytest.raises(ValueError, match="outside"):
        receptive_field((8, 8), (8, 0), 3, 1)


def test_receptive_field_on_a_1x1_map_is_the_centre_only(official):
    ins = inspect_item(official.model, 0, "visual")
    for name in ("dilated_1", "dilated_2", "dilated_3"):
        assert ins.receptive_fields[name].positions == ((0, 0),)
        assert ins.receptive_fields[name].outside == 8


def test_dead_taps():
    assert dead_taps((1, 1), 3, 6) == 8
    assert dead_taps((8, 8), 3, 3) == 0
    assert dead_taps((8, 8), 3, 8) == 8
    assert dead_taps((8, 2), 3, 2) == 6  # the two side columns miss a 2-wide map
    assert dead_taps((1, 1), 1, 1) == 0


def test_official_dilated_branches_are_their_centre_tap(official):
    eq = centre_tap_equivalence(official.model, "visual", initial=initial_model(official.run, official.dataset))
    assert eq.shape == (64, 1, 1)
    assert eq.n_inputs == official.dataset.n_items
    assert [b.dilation for b in eq.branches] == [6, 12, 18]
    assert eq.all_identical
    for b in eq.branches:
        assert b.max_abs_diff < 1e-5 and b.max_abs_output > 0
        assert b.dead_taps == 8 and b.dead_params == 64 * 64 * 8
        assert b.max_dead_grad == 0.0
        assert b.dead_drift == 0.0  # never moved from their initial values...
        assert b.live_drift > 0.0  # ...while the centre tap trained
    # docs/departures.md section 2 (D3): 98,304 of 141,056 DREAM parameters per modality never get a gradient
    assert eq.n_params == 141_056
    assert eq.n_dead_params == 98_304
    assert "they are 1x1 convolutions" in eq.summary() and "98,304 of 141,056" in eq.summary()
    assert "the dead taps moved not at all" in eq.summary()


def test_official_dead_taps_receive_no_gradient_in_a_real_training_step(official):
    model = official.model
    model.train()
    batch = torch.from_numpy(official.dataset.train[:16])
    neg = torch.randint(0, official.dataset.n_items, (16,))
    model.zero_grad()
    model.loss(batch[:, 0], batch[:, 1], neg)["total"].backward()
    dream = dream_modules(model)["visual"]
    for name in ("dilated_1", "dilated_2", "dilated_3"):
        grad = dream.branches[name].conv.weight.grad
        off = grad.clone()
        off[:, :, 1, 1] = 0
        assert off.abs().max() == 0
        assert grad[:, :, 1, 1].abs().max() > 0
    model.zero_grad()


def test_paper_map_dilated_branches_differ_from_their_centre_tap(paper):
    eq = centre_tap_equivalence(paper.model, "text")
    assert not eq.all_identical
    assert eq.n_dead_params == 0
    assert all(b.max_abs_diff > 1e-3 and b.dead_taps == 0 and b.max_dead_grad is None for b in eq.branches)
    worst = max(b.max_abs_diff for b in eq.branches)
    # the sentence quotes the table's number (3 significant digits) and does not call the branches 1x1 convolutions
    assert f"by up to {worst:.3g} " in eq.summary() and "1x1 convolutions" not in eq.summary()


def test_errors_for_models_without_dream():
    run = RunConfig(model=mambarec_preset("backbone"), train=TrainConfig(epochs=1, batch_size=32))
    model = build_model(run, tiny_dataset())
    assert dream_modules(model) == {}
    with pytest.raises(ValueError, match="no DREAM"):
        inspect_item(model, 0)


def test_item_out_of_range(official):
    with pytest.raises(ValueError, match="outside"):
        inspect_item(official.model, official.dataset.n_items)


def test_the_branch_maps_titles_count_each_dilated_kernels_taps_on_the_map(paper):
    """The DREAM lesson's first step points at the maps' titles for the taps that fall off the map (the receptive
    field row that spells them out lies under a projector's fold): each 3x3 branch's title counts its own."""
    from app import dream_figures

    ins = inspect_item(paper.model, 1, "visual", centre=(1, 6))
    titles = [a.text for a in dream_figures.spatial_maps(ins, 0).layout.annotations]
    assert titles[0] == "input<br>map" and titles[1] == "1x1 conv"  # no count where nothing falls off
    assert titles[2].endswith("<br>9/9 on map") and titles[3].endswith("<br>4/9 on map")
    assert titles[4].endswith(f"<br>{len(ins.receptive_fields['dilated_3'].positions)}/9 on map")
    assert "on map" not in titles[5]  # the global pool reads every position


def test_on_a_phone_the_panels_go_into_rows_of_two(paper):
    """Audit r77: on a phone a row of six branch maps left each ~20 px wide, their titles run into each other. With
    ``per_row`` the panels fill rows of that many, each panel as wide as a row's share, the chart as tall as its
    rows; without it they stay in one row (the projector's layout)."""
    from app import dream_figures

    ins = inspect_item(paper.model, 1, "visual", centre=(1, 6))
    maps = lambda per_row: dream_figures.spatial_maps(ins, 0, per_row)  # noqa: E731
    fields = lambda per_row: dream_figures.receptive_fields(ins, per_row)  # noqa: E731
    for build, n, top in ((maps, 6, dream_figures.THREE_LINE_TOP), (fields, 5, dream_figures.RECEPTIVE_TOP)):
        one_row, rows = build(None), build(dream_figures.PHONE_PANELS)
        assert len({round(a.y, 3) for a in one_row.layout.annotations}) == 1
        assert len({round(a.y, 3) for a in rows.layout.annotations}) == -(-n // dream_figures.PHONE_PANELS) == 3
        axes = [rows.layout[f"xaxis{j if j > 1 else ''}"] for j in range(1, n + 1)]  # panel j's, row by row
        widths = [axis.domain[1] - axis.domain[0] for axis in axes]
        assert min(widths) > 0.4 > 1 / n  # half the width each, where one row gave a sixth
        assert rows.layout.height == 3 * (top + dream_figures.ROW_PANEL_PX) + 10 > one_row.layout.height


def test_on_a_phone_the_channel_maps_rows_name_themselves_on_two_lines(official):
    """Audit r79: the released code's 1 x 1 maps (dream.2) on a phone: the rows' one-line names ("global pool +
    1x1") took most of the width and left the 64 channels ~107 px. ``narrow`` names each on two lines."""
    from app import dream_figures

    ins = inspect_item(official.model, 1, "visual")
    wide, narrow = (dream_figures.channel_maps(ins, narrow=n).data[1].y for n in (False, True))
    assert not any("<br>" in name for name in wide)
    assert all("<br>" in name for name in narrow if name.startswith(("3x3", "global")))
    assert [name.replace("<br>+ ", " + ").replace("<br>", ", ") for name in narrow] == list(wide)
