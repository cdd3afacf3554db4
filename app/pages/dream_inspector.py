"""DREAM inspector: one item's branch outputs, attention maps and receptive fields
(docs/model.md section 3, docs/departures.md section 2).

Everything drawn comes from ``mambarec.inspect_dream``: ``inspect_item`` for the maps and
``centre_tap_equivalence`` for the released code's 1x1-map finding. Without a saved run the page
builds an untrained model of the chosen variant on the active dataset, so it always shows something.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from app import models, state
from mambarec.inspect_dream import centre_tap_equivalence, dream_modules, inspect_item
from mambarec.recommend import initial_trainer

NO_RUNS = ("No saved run with DREAM on this dataset yet: showing an **untrained** model (its weights are the "
           "seeded initialization). Train one on the **Train** page, or run `python -m mambarec precompute` for the "
           "precomputed checkpoints.")
UNTRAINED = {"untrained paper": "paper", "untrained official": "official"}
MEAN = -1  # "mean over channels" in the channel picker
NUMBER_COLUMNS = ("max |full - centre tap|", "max |full|", "max grad, dead taps", "trained Δ, dead taps",
                  "trained Δ, live taps")


# ---- cached library calls -----------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=8)
def sources(fingerprint: str, signature: tuple, _dataset) -> list[dict]:
    return [s for s in models.sources(fingerprint, signature, _dataset)
            if s["config"].get("model_name", "mambarec") == "mambarec"
            and s["config"].get("model", {}).get("use_dream", True)]


@st.cache_resource(show_spinner="Initializing the same run (to measure what training moved)...", max_entries=4)
def initial(key: str, _trainer):
    return initial_trainer(_trainer)


@st.cache_data(show_spinner="Comparing each dilated branch with its centre tap...", max_entries=16)
def equivalence(key: str, modality: str, _model, _initial=None):
    return centre_tap_equivalence(_model, modality, initial=_initial)


# ---- choices ------------------------------------------------------------------------------------
def choose_model(dataset):
    """(trainer, key, label, trained) of the chosen run, or of an untrained variant."""
    fp = dataset.fingerprint()
    runs = sources(fp, models.signature(), dataset)
    if not runs:
        st.info(NO_RUNS)
    options = [*range(len(runs)), *UNTRAINED]
    active = state.active_run()
    default = next((i for i, s in enumerate(runs) if active and str(s["path"]).startswith(str(active))), 0)
    pick = st.selectbox("Model", options, index=default if runs else 0,
                        format_func=lambda o: runs[o]["label"] if isinstance(o, int) else f"{o} (no run needed)")
    if isinstance(pick, str):
        return models.untrained(UNTRAINED[pick], fp, dataset), f"untrained|{pick}|{fp}", pick, False
    src = runs[pick]
    mtime = models.mtime(src["path"])
    return models.trainer(str(src["path"]), mtime, fp, dataset), f"run|{src['path']}|{mtime}", src["label"], True


def choose_view(dataset, model) -> tuple[str, int, tuple[int, int] | None, int]:
    dreams = dream_modules(model)
    c1, c2, c3, c4 = st.columns([0.8, 2.2, 1.2, 1.2])
    modality = c1.radio("Modality", list(dreams), horizontal=True)
    titles = dataset.titles()
    popular = int(np.argmax(dataset.item_popularity()))
    item = c2.selectbox("Item", range(dataset.n_items), index=popular,
                        format_func=lambda i: f"{i} · {titles[i]}", help="Default: the most popular item")
    c, h, w = dreams[modality].shape
    centre = None
    if h * w > 1:
        row = c3.slider("Receptive-field centre: row", 0, h - 1, h // 2)
        col = c3.slider("column", 0, w - 1, w // 2)
        centre = (row, col)
    else:
        c3.caption(f"The map is {c} x 1 x 1: there is one position, the centre.")
    channel = MEAN
    if c > 1 and h * w > 1:
        channel = c4.selectbox("Channel shown", [MEAN, *range(c)],
                               format_func=lambda k: "mean over channels" if k == MEAN else f"channel {k}")
    return modality, int(item), centre, channel


# ---- figures ------------------------------------------------------------------------------------
def _heat(z: np.ndarray, colorscale: str = "Viridis", zmin=None, zmax=None, showscale: bool = False) -> go.Heatmap:
    return go.Heatmap(z=z, colorscale=colorscale, zmin=zmin, zmax=zmax, showscale=showscale,
                      hovertemplate="row %{y}, col %{x}: %{z:.4f}<extra></extra>")


def spatial_maps(ins, channel: int) -> go.Figure:
    """Input and each branch output as H x W heatmaps, taps of each receptive field on top."""
    names = list(ins.branches)
    pick = (lambda a: a.mean(axis=0)) if channel == MEAN else (lambda a: a[channel])
    titles = ["input map", *[ins.labels[n] for n in names]]
    fig = make_subplots(1, len(titles), subplot_titles=titles, horizontal_spacing=0.02)
    fig.add_trace(go.Heatmap(z=pick(ins.input), coloraxis="coloraxis2",
                             hovertemplate="row %{y}, col %{x}: %{z:.4f}<extra></extra>"), 1, 1)
    for j, name in enumerate(names, start=2):
        fig.add_trace(go.Heatmap(z=pick(ins.branches[name]), coloraxis="coloraxis",
                                 hovertemplate="row %{y}, col %{x}: %{z:.4f}<extra></extra>"), 1, j)
        rf = ins.receptive_fields[name]
        if rf.kernel:
            rows, cols = zip(*rf.positions, strict=True)
            fig.add_trace(go.Scatter(x=cols, y=rows, mode="markers", hoverinfo="skip", showlegend=False,
                                     marker=dict(symbol="circle-open", size=12, color="white", line=dict(width=2))),
                          1, j)
        fig.add_trace(go.Scatter(x=[rf.centre[1]], y=[rf.centre[0]], mode="markers", hoverinfo="skip",
                                 showlegend=False, marker=dict(symbol="x", size=9, color="red")), 1, j)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    top = max(float(pick(ins.branches[n]).max()) for n in names)
    fig.update_layout(height=260, margin=dict(l=5, r=5, t=40, b=5),
                      coloraxis=dict(colorscale="Viridis", cmin=0, cmax=top or 1.0,
                                     colorbar=dict(title="branch", thickness=10)),
                      coloraxis2=dict(colorscale="RdBu", showscale=False))
    return fig


def channel_maps(ins) -> go.Figure:
    """For 1 x 1 maps: the input, then every branch output, as rows of C channel values."""
    names = list(ins.branches)
    fig = make_subplots(2, 1, row_heights=[0.17, 0.83], vertical_spacing=0.04, shared_xaxes=True)
    fig.add_trace(go.Heatmap(z=ins.input.reshape(1, -1), y=["input"], coloraxis="coloraxis2",
                             hovertemplate="input, channel %{x}: %{z:.4f}<extra></extra>"), 1, 1)
    z = np.stack([ins.branches[n].reshape(-1) for n in names])
    fig.add_trace(go.Heatmap(z=z, y=[ins.labels[n] for n in names], coloraxis="coloraxis",
                             hovertemplate="%{y}, channel %{x}: %{z:.4f}<extra></extra>"), 2, 1)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="channel", row=2, col=1)
    fig.update_layout(height=290, margin=dict(l=5, r=5, t=10, b=5),
                      coloraxis=dict(colorscale="Viridis", cmin=0, colorbar=dict(title="branch", thickness=10)),
                      coloraxis2=dict(colorscale="RdBu", showscale=False))
    return fig


def _taps(rf) -> list[tuple[int, int]]:
    if rf.kernel != 3:
        return list(rf.positions)
    r0, c0 = rf.centre
    return [(r0 + dy * rf.dilation, c0 + dx * rf.dilation) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def receptive_fields(ins) -> go.Figure:
    """Each branch's taps around the centre: on the map (grey) or in its zero padding (red x).

    Every panel has the same scale, so a map much smaller than the dilation looks as small as it is.
    """
    _, h, w = ins.shape
    names = list(ins.branches)
    fields = [ins.receptive_fields[n] for n in names]
    titles = [f"{ins.labels[n]}<br>{len(rf.positions)} in map, {rf.outside} in padding" for n, rf in zip(
        names, fields, strict=True)]
    fig = make_subplots(1, len(names), subplot_titles=titles, horizontal_spacing=0.03)
    span = max(max(abs(t[0] - (h - 1) / 2), abs(t[1] - (w - 1) / 2)) for rf in fields for t in _taps(rf) or [(0, 0)])
    half = max(span, h / 2, w / 2) + 1
    for j, rf in enumerate(fields, start=1):
        taps = _taps(rf)
        fig.add_shape(type="rect", x0=-0.5, x1=w - 0.5, y0=-0.5, y1=h - 0.5, row=1, col=j,
                      fillcolor="rgba(160,160,160,0.55)", line=dict(color="black", width=1))
        inside = [t for t in taps if 0 <= t[0] < h and 0 <= t[1] < w]
        outside = [t for t in taps if t not in inside]
        for pts, marker, what in ((inside, dict(size=8, color="#2ca02c"), "in the map"),
                                  (outside, dict(size=9, symbol="x", color="#d62728"), "in the zero padding")):
            if pts:
                fig.add_trace(go.Scatter(x=[p[1] for p in pts], y=[p[0] for p in pts], mode="markers", marker=marker,
                                         showlegend=False, hovertemplate=f"tap {what}: row %{{y}}, col %{{x}}"
                                                                         "<extra></extra>"), 1, j)
        fig.update_xaxes(range=[(w - 1) / 2 - half, (w - 1) / 2 + half], row=1, col=j)
        fig.update_yaxes(range=[(h - 1) / 2 + half, (h - 1) / 2 - half], row=1, col=j,
                         scaleanchor="x" if j == 1 else f"x{j}")
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_layout(height=290, margin=dict(l=5, r=5, t=55, b=5), plot_bgcolor="rgba(255,235,235,0.6)")
    return fig


def attention(ins) -> None:
    c1, c2, c3 = st.columns(3)
    with c1:
        st.markdown("**Channel attention M_c**")
        m_c = ins.channel_attention
        if m_c is None:
            st.caption("switched off (replaced by ones)")
        elif m_c.size == 1:
            st.metric("one scalar for the whole item", f"{float(m_c.reshape(-1)[0]):.4f}")
            st.caption("Released code: GAP -> 1x1 conv (5C -> 1) -> ReLU, so every channel gets the same weight.")
        else:
            fig = go.Figure(go.Heatmap(z=m_c, y=[ins.labels[n] for n in ins.branches], colorscale="Blues", zmin=0,
                                       zmax=1, hovertemplate="%{y}, channel %{x}: %{z:.4f}<extra></extra>"))
            fig.update_yaxes(autorange="reversed")
            fig.update_layout(height=230, margin=dict(l=5, r=5, t=5, b=5), xaxis_title="channel of the branch")
            st.plotly_chart(fig, key="dream_channel_attention")
    with c2:
        st.markdown("**Spatial attention M_s**")
        m_s = ins.spatial_attention
        if m_s is None:
            st.caption("switched off (replaced by ones)")
        elif m_s.size == 1:
            st.metric("one position", f"{float(m_s.reshape(-1)[0]):.4f}")
            st.caption("A 1 x 1 map has one position: the 'spatial' gate is again one scalar per item.")
        else:
            fig = go.Figure(_heat(m_s, "Blues", 0, 1, showscale=True))
            fig.update_yaxes(autorange="reversed", scaleanchor="x")
            fig.update_layout(height=230, margin=dict(l=5, r=5, t=5, b=5))
            st.plotly_chart(fig, key="dream_spatial_attention")
    with c3:
        st.markdown("**DREAM output** (mean over channels)")
        out = ins.output
        if out.shape[1] * out.shape[2] == 1:
            fig = go.Figure(go.Bar(y=out.reshape(-1)))
            fig.update_layout(height=230, margin=dict(l=5, r=5, t=5, b=5), xaxis_title="channel")
        else:
            fig = go.Figure(_heat(out.mean(axis=0), showscale=True))
            fig.update_yaxes(autorange="reversed", scaleanchor="x")
            fig.update_layout(height=230, margin=dict(l=5, r=5, t=5, b=5))
        st.plotly_chart(fig, key="dream_output")


# ---- the 1 x 1 finding ----------------------------------------------------------------------------
def equivalence_table(eq) -> pd.DataFrame:
    table = pd.DataFrame([{
        "branch": f"3x3, dilation {b.dilation}", "max |full - centre tap|": b.max_abs_diff,
        "max |full|": b.max_abs_output, "taps off the map": f"{b.dead_taps} of 9", "dead weights": b.dead_params,
        "max grad, dead taps": b.max_dead_grad, "trained Δ, dead taps": b.dead_drift,
        "trained Δ, live taps": b.live_drift} for b in eq.branches])
    return table.dropna(axis=1, how="all")  # the gradient and drift columns only apply to some models


def summary(eq) -> str:
    """One sentence with the numbers of ``eq``."""
    worst = max((b.max_abs_diff for b in eq.branches), default=0.0)
    text = (f"Over {eq.n_inputs:,} items the dilated branches differ from their centre-tap 1x1 conv by at most "
            f"{worst:.2g}; {eq.n_dead_params:,} of {eq.n_params:,} DREAM parameters "
            f"({eq.n_dead_params / max(eq.n_params, 1):.1%}) can never receive a gradient.")
    moved = [b for b in eq.branches if b.dead_drift is not None]
    if moved:
        dead = max(b.dead_drift for b in moved)
        text += (f" After training, the dead taps moved {'not at all' if dead == 0 else f'by at most {dead:.2g}'} "
                 f"from their initial values, the live ones by up to {max(b.live_drift for b in moved):.2g}.")
    return text


def explain(dataset, key: str, model, modality: str, trained_trainer, label: str) -> None:
    st.header("Why the released code's dilated branches are 1x1 convolutions")
    st.markdown(
        "The paper runs DREAM on a C x H x W feature map, so a 3x3 kernel at dilation 6, 12 or 18 reads 9 "
        "positions spread over the map. The released code instead feeds each item's 64-d vector as a "
        "**64 x 1 x 1** map. With padding = dilation, the output's only position reads its centre tap from the "
        "map and its 8 other taps from the zero padding (the red crosses above, for an official model). So every "
        "dilated branch computes exactly a 1x1 conv with the kernel's centre weights, and the 8 x 64 x 64 "
        "off-centre weights per branch multiply zeros: they never receive a gradient and keep their initial values.")
    init = initial(key, trained_trainer).model if trained_trainer is not None else None
    eq = equivalence(key, modality, model, init)
    shown = [(label, eq)]
    if eq.shape[1] * eq.shape[2] > 1:
        official = models.untrained("official", dataset.fingerprint(), dataset).model
        shown.append(("untrained official model, same data (released-code layout)",
                      equivalence(f"untrained|untrained official|{dataset.fingerprint()}", modality, official)))
    for name, result in shown:
        c, h, w = result.shape
        st.subheader(f"{name}: {modality} DREAM on {c} x {h} x {w} maps")
        share = result.n_dead_params / result.n_params if result.n_params else 0.0
        m1, m2, m3 = st.columns(3)
        m1.metric("every dilated branch == its centre tap", "yes" if result.all_identical else "no")
        m2.metric(f"DREAM parameters never updated ({share:.1%})", f"{result.n_dead_params:,} of {result.n_params:,}")
        m3.metric("items compared", f"{result.n_inputs:,}")
        st.dataframe(equivalence_table(result), hide_index=True,
                     column_config={k: st.column_config.NumberColumn(format="%.3g") for k in NUMBER_COLUMNS})
        st.markdown(summary(result))
        if result.all_identical:
            st.caption("'full': the 3x3 dilated conv with all nine taps and zero padding, as nn.Conv2d computes it. "
                       "The differences are float32 rounding (the two convs sum in another order). 'max grad': the "
                       "largest gradient a backward pass sends to the off-map taps. docs/departures.md section 2 "
                       "(D3): 98,304 of 141,056 DREAM parameters per modality at C = 64.")
        else:
            st.caption("On a real C x H x W map the off-centre taps read neighbouring positions: the dilated branches "
                       "differ from their centre tap, and no weight is dead.")


def render() -> None:
    st.title("DREAM inspector")
    st.caption("One item through DREAM: the five branches (conv + BN + ReLU), the channel and spatial attention, "
               "the output, and where each dilated 3x3 kernel reads from (docs/model.md section 3 and "
               "docs/departures.md section 2).")
    dataset = state.get_dataset(state.active_dataset_name())
    try:
        chosen, key, label, trained = choose_model(dataset)
    except (ValueError, RuntimeError) as exc:  # CheckpointError (unreadable, other data), no CUDA
        st.error(str(exc))
        return
    model = chosen.model
    if not dream_modules(model):
        st.warning("This model has no DREAM (use_dream is off): pick another run or an untrained variant.")
        return
    modality, item, centre, channel = choose_view(dataset, model)
    ins = inspect_item(model, item, modality, centre)
    c, h, w = ins.shape
    st.markdown(f"**{label}** · {modality} DREAM on **{c} x {h} x {w}** maps · attention style `{ins.style}` · "
                f"item {item}: *{dataset.titles()[item]}*")
    if h * w > 1:
        st.plotly_chart(spatial_maps(ins, channel), key="dream_branches")
        st.caption("White circles: the positions each branch reads for the output at the red x (clipped to the map).")
    else:
        st.plotly_chart(channel_maps(ins), key="dream_branches")
        st.caption("A 1 x 1 map has no spatial extent: each branch output is one value per channel.")
    st.markdown("**Receptive fields** around the chosen centre, all panels at one scale: grey = the map, green = "
                "taps inside it, red x = taps in the zero padding" + (" (the 1 x 1 map is the single cell under the "
                                                                       "green centre tap)." if h * w == 1 else "."))
    st.plotly_chart(receptive_fields(ins), key="dream_receptive_fields")
    attention(ins)
    explain(dataset, key, model, modality, chosen if trained else None, label)


render()
