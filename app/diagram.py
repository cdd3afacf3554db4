"""The model as a clickable diagram (after TensorFlow Playground): its blocks are the on/off switches.

It draws MambaRec's paths (docs/model.md): the image and text features, shrunk and refined by DREAM
(five branches, channel and spatial attention), normalized, propagated on item-item graphs and fused
with the ID embeddings of the user-item graph into the score; MMD and InfoNCE sit on the modal
features they compare. A block that is a switch toggles its config field when clicked
(``st.plotly_chart(on_select=...)`` point selection on an invisible marker at its centre); a block
that is off is drawn grey and dashed. Hovering a block shows its one-line help. Only what the setup
says is drawn: no model math here.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from app import flash, presentation, state, widgets
from app.labels import LABELS
from mambarec.config import ConfigError, RunConfig

ON, OFF, LOSS, INFO, LINE = "#dbe9f6", "#eeeeee", "#fde3cf", "#f4f4f4", "#6b6b6b"
HEIGHT = 360
LABEL_PX = 11  # block labels at 1x; presentation mode scales them
# Labels fit their blocks while font / figure width <= this. The blocks scale with the figure, Plotly's fonts do not,
# so a CSS container query shrinks the labels in a narrower figure (cqi: 1% of the container's width). Chromium, the
# widest line against its block (each label's lines kept short, "(off)" on a line of its own): 14 px labels fit the
# 640 px figure of presentation mode at 1280 x 800 (11.2 px before the lines were shortened, rehearsal r55), 9.2 px
# the 418 px of 1024 x 768 (tests/test_projector_layout.py measures every block).
LABEL_PER_WIDTH = 0.022
CONTAINER = "model-diagram"  # st.container key -> CSS class st-key-model-diagram
COUNTER = "diagram.n"  # bumped after each click: a fresh chart forgets the selection it was clicked with


@dataclass(frozen=True)
class Block:
    name: str  # id, and the config field it switches when ``switch``
    label: str
    x: float
    y: float
    w: float
    h: float
    plain: str
    switch: bool = False
    kind: str = "step"  # step | loss | info | group


def blocks(run: RunConfig) -> list[Block]:
    """The diagram's blocks for ``run`` (MambaRec); labels carry the values that matter."""
    m = run.model
    feats = "fixed" if m.freeze_features else "trained"
    text = "shrink ÷ r" if m.text_path == "reduced" else "straight<br>to d"
    return [
        Block("group_dream", "", 5.9, 4.1, 4.4, 3.5, "", kind="group"),
        Block("visual_in", f"Image<br>features<br>({feats})", 0.95, 5.0, 1.7, 0.75,
              "Each item's picture, as numbers from an image model. Click: keep them fixed, or train them.", True),
        Block("text_in", f"Text<br>features<br>({feats})", 0.95, 3.2, 1.7, 0.75,
              "Each item's description, as numbers from a sentence model. Click: keep them fixed, or train them.",
              True),
        Block("shrink", f"Shrink ÷ r<br>(r = {m.reduction_factor})", 2.75, 5.0, 1.4, 0.75,
              LABELS["reduction_factor"].plain, kind="info"),
        Block("text_path", f"Text:<br>{text}", 2.75, 3.2, 1.4, 0.75, LABELS["text_path"].plain, kind="info"),
        Block("use_dream", "DREAM, one per modality", 5.85, 5.5, 3.3, 0.55, LABELS["use_dream"].plain, True),
        Block("branch_conv1x1", "1: point", 4.5, 4.85, 1.5, 0.46, LABELS["branch_conv1x1"].plain, True),
        Block("branch_dilated_1", f"2: spacing {m.dilation_rates[0]}", 4.5, 4.3, 1.5, 0.46,
              LABELS["branch_dilated_1"].plain, True),
        Block("branch_dilated_2", f"3: spacing {m.dilation_rates[1]}", 4.5, 3.75, 1.5, 0.46,
              LABELS["branch_dilated_2"].plain, True),
        Block("branch_dilated_3", f"4: spacing {m.dilation_rates[2]}", 4.5, 3.2, 1.5, 0.46,
              LABELS["branch_dilated_3"].plain, True),
        Block("branch_pool", "5: whole grid", 4.5, 2.65, 1.5, 0.46, LABELS["branch_pool"].plain, True),
        Block("channel_attention", "Channel<br>attention", 6.2, 4.45, 1.35, 0.7, LABELS["channel_attention"].plain,
              True),
        Block("spatial_attention", "Spatial<br>attention", 6.2, 3.2, 1.35, 0.7, LABELS["spatial_attention"].plain,
              True),
        Block("fusion", f"Combine<br>({m.fusion})", 7.55, 3.85, 1.0, 1.3, LABELS["fusion"].plain, kind="info"),
        Block("modal_norm_dropout", "Normalize<br>+ dropout", 9.0, 4.1, 1.3, 2.4, LABELS["modal_norm_dropout"].plain,
              True),
        Block("use_mmd", f"MMD: match the<br>clouds (λ {m.lambda_mmd:g})", 10.8, 5.45, 2.2, 0.72,
              LABELS["use_mmd"].plain, True, "loss"),
        Block("use_cl", f"InfoNCE: pair<br>views (λ {m.lambda_cl:g})", 10.8, 4.5, 2.2, 0.72,
              LABELS["use_cl"].plain, True, "loss"),
        Block("item_graph", f"Item-item graphs<br>(k = {m.knn_k})", 10.8, 3.4, 2.2, 0.72,
              "Each item's features are averaged with those of its look-alike items.", kind="info"),
        Block("ids", "User & item<br>IDs", 0.95, 1.05, 1.7, 0.75,
              "A learned vector per user and per item, from who clicked what.", kind="info"),
        Block("ui_graph", f"User-item graph<br>({m.n_ui_layers} hops)", 5.85, 1.05, 2.3, 0.75,
              "Users and items average their neighbours' vectors in the click graph.", kind="info"),
        Block("fuse", "Fuse IDs<br>+ content", 10.8, 2.25, 2.2, 0.72,
              "Adds what the content says about an item to what its clicks say.", kind="info"),
        Block("score", "Score & rank<br>(BPR loss)", 10.8, 1.05, 2.2, 0.72,
              "Ranks items for each user; trained so clicked items beat unclicked ones.", kind="info"),
    ]


# (from, side, to, side): r/l/t/b = the middle of a block's right, left, top or bottom edge
EDGES = [("visual_in", "r", "shrink", "l"), ("text_in", "r", "text_path", "l"), ("shrink", "r", "group_dream", "l"),
         ("text_path", "r", "group_dream", "l"), ("group_dream", "r", "modal_norm_dropout", "l"),
         ("modal_norm_dropout", "r", "use_mmd", "l"), ("modal_norm_dropout", "r", "use_cl", "l"),
         ("modal_norm_dropout", "r", "item_graph", "l"), ("item_graph", "b", "fuse", "t"),
         ("ids", "r", "ui_graph", "l"), ("ui_graph", "r", "fuse", "l"), ("fuse", "b", "score", "t")]


def _anchor(blk: Block, side: str, other: Block) -> tuple[float, float]:
    """A point on ``blk``'s ``side``; on a group, level with the block at the other end."""
    y = other.y if blk.kind == "group" else blk.y
    return {"r": (blk.x + blk.w / 2, y), "l": (blk.x - blk.w / 2, y), "t": (blk.x, blk.y + blk.h / 2),
            "b": (blk.x, blk.y - blk.h / 2)}[side]


def is_on(run: RunConfig, block: Block) -> bool:
    """Whether a block computes in ``run`` (parts of DREAM need DREAM on; the features are always read)."""
    m = run.model
    if block.name == "fusion":  # it combines the two attentions' products: drawn on once it had stayed on without DREAM
        return m.use_dream and (m.channel_attention or m.spatial_attention)
    if block.name in ("visual_in", "text_in") or block.kind in ("info", "group"):
        return block.name != "group_dream" or m.use_dream
    on = bool(getattr(m, block.name))
    inside = block.name.startswith("branch_") or block.name.endswith("_attention")
    return on and (m.use_dream or not inside)


def switch_field(name: str) -> str:
    """The config field block ``name`` switches (both feature blocks switch ``freeze_features``)."""
    return "freeze_features" if name in ("visual_in", "text_in") else name


def toggle(run: RunConfig, name: str) -> RunConfig:
    """``run`` with the switch of block ``name`` flipped (the features: fixed <-> trained)."""
    field = switch_field(name)
    return state.edit_run(run, field, not getattr(run.model, field))


def figure(run: RunConfig, clickable: bool = True):
    import plotly.graph_objects as go  # lazy: plotly loads after the form's first paint

    fig = go.Figure()
    found = {b.name: b for b in blocks(run)}
    for a, side_a, b, side_b in EDGES:
        src, dst = found[a], found[b]
        (x0, y0), (x1, y1) = _anchor(src, side_a, dst), _anchor(dst, side_b, src)
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                           arrowhead=2, arrowsize=1, arrowwidth=1.2, text="",
                           arrowcolor=LINE if is_on(run, dst) else "#bbbbbb")
    for blk in found.values():
        on = is_on(run, blk)
        fill = {"loss": LOSS, "info": INFO, "group": "rgba(0,0,0,0)"}.get(blk.kind, ON) if on else OFF
        fig.add_shape(type="rect", x0=blk.x - blk.w / 2, x1=blk.x + blk.w / 2, y0=blk.y - blk.h / 2,
                      y1=blk.y + blk.h / 2, fillcolor=fill, layer="below",
                      line={"color": LINE if on else "#aaaaaa", "width": 2 if blk.switch else 1,
                            "dash": "solid" if on else "dash"})
        if blk.label:
            text = blk.label + ("" if on or not blk.switch else "<br>(off)")  # on a line of its own: no wider
            font = {"size": label_px(), "color": "#222222" if on else "#888888"}
            fig.add_annotation(x=blk.x, y=blk.y, text=text, showarrow=False, font=font)
    blocks_hit = [b for b in found.values() if b.kind != "group"]
    fig.add_trace(go.Scatter(
        x=[b.x for b in blocks_hit], y=[b.y for b in blocks_hit], mode="markers",
        marker={"size": 26, "color": "rgba(0,0,0,0)"}, customdata=[b.name for b in blocks_hit],
        hovertext=[_hover(run, b, clickable) for b in blocks_hit], hoverinfo="text", showlegend=False))
    fig.update_xaxes(visible=False, range=[0, 12], fixedrange=True)
    fig.update_yaxes(visible=False, range=[0.55, 5.95], fixedrange=True)
    fig.update_layout(height=round(HEIGHT * presentation.scale()), margin={"l": 0, "r": 0, "t": 0, "b": 0},
                      hoverdistance=40, dragmode=False, plot_bgcolor="white", clickmode="event+select")
    return fig


def label_px() -> int:
    return round(LABEL_PX * presentation.scale())


def fit_css() -> str:
    """Block labels no larger than LABEL_PER_WIDTH of the figure's width (unchanged where it is wide enough)."""
    return (f"<style>.st-key-{CONTAINER} {{ container-type: inline-size; }}\n"
            f".st-key-{CONTAINER} .annotation-text {{ font-size: min({label_px()}px, {100 * LABEL_PER_WIDTH:g}cqi) "
            "!important; }</style>")


def _hover(run: RunConfig, blk: Block, clickable: bool = True) -> str:
    if not blk.switch or not clickable:
        return blk.plain
    field = switch_field(blk.name)
    if field == "freeze_features":  # a click trains them or fixes them: "switch off" misled (r55)
        action = "train them" if run.model.freeze_features else "keep them fixed"
    else:
        action = f"switch {'off' if is_on(run, blk) else 'on'}"
    # the field's name, as run labels and Compare's cells write it (audit r74, item 9)
    return f"{blk.plain}<br><i>click to {action}</i> · in run names: {field}"


def _on_click(key: str) -> None:
    event = st.session_state.get(key)
    points = (event or {}).get("selection", {}).get("points", [])
    names = [p.get("customdata") for p in points if p.get("customdata")]
    block = {b.name: b for b in blocks(state.current_run())}.get(names[0]) if names else None
    if block is None or not block.switch:
        return
    try:
        state.set_run(toggle(state.current_run(), block.name))
    except ConfigError as exc:  # in the form's words: the diagram's blocks are its switches
        flash.say(widgets.REJECTED, widgets.refusal(switch_field(block.name), exc))
    st.session_state[COUNTER] = st.session_state.get(COUNTER, 0) + 1


def draw(run: RunConfig, clickable: bool = True) -> None:
    """The diagram of ``run`` (MambaRec only); clicking a switch block edits the setup unless ``clickable`` is
    off (the About page shows the preset's, to read)."""
    if run.model_name != "mambarec":
        return
    key = f"diagram.{st.session_state.get(COUNTER, 0)}"
    click = {"key": key, "on_select": lambda: _on_click(key), "selection_mode": "points"} if clickable else {}
    with st.container(key=CONTAINER):
        st.html(fit_css())
        st.plotly_chart(figure(run, clickable), config={"displayModeBar": False, "scrollZoom": False},
                        width="stretch", **click)
    st.caption("Click a framed block to switch it on or off; hover any block for what it does. Grey, dashed: off."
               if clickable else "Hover a block for what it does. The framed blocks are the switches of the Train "
               "page, where clicking one turns it off; the orange ones are the alignment losses.")
