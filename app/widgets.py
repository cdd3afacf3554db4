"""Sidebar and form sections: each draws its widgets and returns plain values or a RunConfig.

Widget keys are ``cfg.<field>`` with the config's own field names; ``load_run`` fills them from a
RunConfig (first visit, a preset, a page switch back), ``run_config_form`` reads them back.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from app import state
from mambarec import config as C
from mambarec.config import (
    MODEL_CONFIGS,
    ConfigError,
    MambaRecConfig,
    RunConfig,
    TrainConfig,
    build_model_config,
    field_names,
    field_of,
    help_text,
    mambarec_preset,
    model_defaults,
)


def _choices(name: str) -> tuple:
    """A MambaRec field's allowed values, as its config declares them."""
    return field_of(MambaRecConfig, name).metadata["choices"]


PRESETS = {
    "MambaRec (paper)": ("mambarec", {}),
    "MambaRec (official code)": ("mambarec", {"variant": "official"}),
    "MGCN": ("mgcn", {}),
    "no alignment": ("mambarec", {"use_mmd": False, "use_cl": False}),
}
MODEL_LABELS = {"mambarec": "MambaRec", "pop": "Popularity", "bpr": "BPR-MF", "lightgcn": "LightGCN",
                "vbpr": "VBPR", "freedom": "FREEDOM", "mgcn": "MGCN"}

# field -> (label with the paper's symbol, kind, options). kind: bool | select | int | float | rates
SPEC: dict[str, tuple] = {
    "variant": ("Variant", "select", C.VARIANTS),
    "embedding_dim": ("d: embedding size", "int", {"min_value": 1, "step": 8}),
    "n_ui_layers": ("L: user-item graph layers", "int", {"min_value": 0, "max_value": 8}),
    "n_mm_layers": ("Item-item graph layers", "int", {"min_value": 0, "max_value": 4}),
    "knn_k": ("k: item-item k-NN neighbours", "int", {"min_value": 1, "max_value": 200}),
    "reduction_factor": ("r: reduction factor, D_V → D_V / r", "select", C.REDUCTION_FACTORS),
    "text_path": ("Text path", "select", _choices("text_path")),
    "freeze_features": ("Freeze the raw feature tables", "bool", None),
    "use_dream": ("DREAM on", "bool", None),
    "dream_map": ("DREAM input map", "select", _choices("dream_map")),
    "dream_side": ("Largest map side H = W", "int", {"min_value": 1, "max_value": 64}),
    "dilation_rates": ("Dilation rates a, b, c", "rates", None),
    "branch_conv1x1": ("(1) 1×1 conv", "bool", None),
    "branch_dilated_1": ("(2) 3×3 conv, rate a", "bool", None),
    "branch_dilated_2": ("(3) 3×3 conv, rate b", "bool", None),
    "branch_dilated_3": ("(4) 3×3 conv, rate c", "bool", None),
    "branch_pool": ("(5) global pool → 1×1 conv → upsample", "bool", None),
    "channel_attention": ("M_c: channel attention", "bool", None),
    "spatial_attention": ("M_s: spatial attention", "bool", None),
    "attention_style": ("Attention style", "select", _choices("attention_style")),
    "attention_reduction": ("Channel-attention bottleneck ratio", "int", {"min_value": 1, "max_value": 64}),
    "fusion": ("Fusion of F_c and F_s", "select", _choices("fusion")),
    "bn_momentum": ("BatchNorm momentum", "float", {"min_value": 0.01, "max_value": 1.0, "step": 0.01}),
    "modal_norm_dropout": ("LayerNorm + dropout on modal features", "bool", None),
    "dropout": ("Dropout p", "float", {"min_value": 0.0, "max_value": 0.95, "step": 0.05}),
    "reg_weight": ("λ_reg: L2 weight", "float", {"min_value": 0.0, "step": 1e-5, "format": "%.1e"}),
    "use_mmd": ("L_mmd (MMD)", "bool", None),
    "lambda_mmd": ("λ_mmd", "float", {"min_value": 0.0, "step": 0.05, "format": "%.3f"}),
    "sigma": ("σ: kernel bandwidth", "float", {"min_value": 0.05, "step": 0.5, "format": "%.2f"}),
    "mmd_items": ("Items the MMD sees", "select", _choices("mmd_items")),
    "use_cl": ("L_cl (InfoNCE)", "bool", None),
    "lambda_cl": ("λ_cl", "float", {"min_value": 0.0, "step": 0.01, "format": "%.3f"}),
    "tau": ("τ: temperature", "float", {"min_value": 0.001, "step": 0.01, "format": "%.3f"}),
    "cl_views": ("InfoNCE views", "select", _choices("cl_views")),
    "n_layers": ("K: user-item graph layers", "int", {"min_value": 0, "max_value": 8}),
    "mm_image_weight": ("α: visual share of the item graph", "float", {"min_value": 0.0, "max_value": 1.0,
                                                                       "step": 0.05}),
    "edge_dropout": ("ρ: share of edges pruned per epoch", "float", {"min_value": 0.0, "max_value": 0.95,
                                                                     "step": 0.05}),
    "lambda_mirror": ("λ: mirror loss weight", "float", {"min_value": 0.0, "step": 1e-5, "format": "%.1e"}),
    "epochs": ("Epochs (max)", "int", {"min_value": 1, "max_value": 5000}),
    "seed": ("Seed", "int", {"min_value": 0}),
    "batch_size": ("Batch size", "int", {"min_value": 1, "step": 256}),
    "learning_rate": ("Learning rate", "float", {"min_value": 1e-6, "step": 1e-4, "format": "%.1e"}),
    "lr_decay": ("Learning-rate decay", "float", {"min_value": 0.01, "max_value": 1.0, "step": 0.01}),
    "lr_decay_epochs": ("Decay period (epochs)", "int", {"min_value": 1}),
    "schedule": ("Schedule", "select", ("paper", "fast")),
    "warmup_epochs": ("Warm-up (epochs)", "int", {"min_value": 0}),
    "patience": ("Early-stopping patience", "int", {"min_value": 0}),
    "eval_every": ("Evaluate every N epochs", "int", {"min_value": 1}),
    "device": ("Device", "select", ("auto", "cpu", "cuda")),
    "eval_batch_users": ("Users per evaluation batch", "int", {"min_value": 1, "step": 512}),
}
HEADER_FIELDS = ("epochs", "seed")  # drawn beside model and variant: the fields changed most
# tab -> rows of fields (one row is one line of columns)
SECTIONS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Alignment": (("use_mmd", "lambda_mmd", "sigma", "mmd_items"), ("use_cl", "lambda_cl", "tau", "cl_views")),
    "DREAM": (("use_dream", "dream_map", "dream_side"), ("dilation_rates", "bn_momentum"),
              ("branch_conv1x1", "branch_dilated_1", "branch_dilated_2"), ("branch_dilated_3", "branch_pool")),
    "Attention": (("channel_attention", "spatial_attention"), ("attention_style", "fusion", "attention_reduction")),
    "Features & graph": (("reduction_factor", "text_path", "freeze_features"), ("modal_norm_dropout", "dropout"),
                         ("embedding_dim", "n_ui_layers", "n_mm_layers"), ("knn_k", "reg_weight")),
    "Training": (("batch_size", "learning_rate", "patience"), ("lr_decay", "lr_decay_epochs", "eval_every"),
                 ("device", "eval_batch_users")),
}
ENABLED_BY = {"lambda_mmd": "use_mmd", "sigma": "use_mmd", "mmd_items": "use_mmd", "lambda_cl": "use_cl",
              "tau": "use_cl", "cl_views": "use_cl", "dropout": "modal_norm_dropout"}


def field_helps(model_name: str = "mambarec") -> dict[str, str]:
    """Each field's documented meaning, symbol and range (``field(metadata=...)``), for the tooltips."""
    cls = MODEL_CONFIGS[model_name]
    return {**{n: help_text(TrainConfig, n) for n in state.TRAIN_FIELDS},
            **{n: help_text(cls, n) for n in field_names(cls)}}


def model_fields(model_name: str) -> list[str]:
    """The widgets a model's config needs (MambaRec's variant is drawn in the header)."""
    return [n for n in field_names(MODEL_CONFIGS[model_name]) if n != "variant"]


def _key(name: str) -> str:
    return f"cfg.{name}"


# ---- RunConfig <-> widget state ----------------------------------------------------------------
def load_run(run: RunConfig) -> None:
    """Put every field of ``run`` into the widgets' session state."""
    ss = st.session_state
    ss[_key("model_name")] = run.model_name
    ss[_key("variant")] = run.variant or "paper"
    for name in model_fields(run.model_name):
        value = getattr(run.model, name)
        if name == "dilation_rates":
            for i, rate in enumerate(value):
                ss[f"{_key(name)}.{i}"] = int(rate)
        else:
            ss[_key(name)] = float(value) if SPEC[name][1] == "float" else value
    for name in state.TRAIN_FIELDS:
        value = getattr(run.train, name)
        ss[_key(name)] = float(value) if SPEC[name][1] == "float" else value


def _load_model(model, model_name: str | None = None) -> None:
    run = state.current_run()
    run = dataclasses.replace(run, model=model, model_name=model_name or run.model_name)
    state.set_run(run)
    load_run(run)


def apply_preset(name: str) -> None:
    """Callback: the preset's model and switches (training settings are kept)."""
    model_name, over = PRESETS[name]
    over = dict(over)
    if model_name == "mambarec":
        _load_model(mambarec_preset(over.pop("variant", "paper"), **over), model_name)
    else:
        _load_model(model_defaults(model_name), model_name)


def _on_variant_change() -> None:
    _load_model(mambarec_preset(st.session_state[_key("variant")]), "mambarec")


def _on_model_change() -> None:
    name = st.session_state[_key("model_name")]
    _load_model(model_defaults(name), name)


def read_widgets(dataset: str) -> RunConfig:
    """The RunConfig the widgets describe (raises ConfigError on an invalid combination)."""
    ss = st.session_state
    model_name = ss[_key("model_name")]
    model = {}
    for name in model_fields(model_name):
        if name == "dilation_rates":
            model[name] = tuple(int(ss[f"{_key(name)}.{i}"]) for i in range(3))
        else:
            model[name] = ss[_key(name)]
    train = {name: ss[_key(name)] for name in state.TRAIN_FIELDS}
    return RunConfig(dataset=dataset, model_name=model_name,
                     model=build_model_config(model_name, model, ss.get(_key("variant"))), train=TrainConfig(**train))


# ---- drawing ----------------------------------------------------------------------------------
def field_widget(name: str, disabled: bool = False, model_name: str = "mambarec") -> None:
    label, kind, options = SPEC[name]
    help_text = field_helps(model_name).get(name)
    key = _key(name)
    if kind == "bool":
        st.toggle(label, key=key, help=help_text, disabled=disabled)
    elif kind == "select":
        st.selectbox(label, options, key=key, help=help_text, disabled=disabled)
    elif kind in ("int", "float"):
        st.number_input(label, key=key, help=help_text, disabled=disabled, **(options or {}))
    elif kind == "rates":
        st.caption(label, help=help_text)
        cols = st.columns(3)
        for i, col in enumerate(cols):
            col.number_input(f"rate {'abc'[i]}", min_value=1, max_value=64, key=f"{key}.{i}", disabled=disabled)


def section(title: str) -> dict:
    """Draw one tab of the form, row by row; returns its fields' current values."""
    ss = st.session_state
    names = [n for row in SECTIONS[title] for n in row]
    for row in SECTIONS[title]:
        # an on/off switch leading a row gets more room: its label is long and its values follow it
        spec = [1.4 if SPEC[n][1] == "bool" and i == 0 and len(row) > 2 else 1 for i, n in enumerate(row)]
        for col, name in zip(st.columns(spec), row, strict=True):
            gate = ENABLED_BY.get(name)
            with col:
                field_widget(name, disabled=bool(gate and not ss[_key(gate)]) or _dream_off(name))
    return {n: ss.get(_key(n)) for n in names}


def _dream_off(name: str) -> bool:
    dream = [n for title in ("DREAM", "Attention") for row in SECTIONS[title] for n in row]
    return name in dream and name != "use_dream" and not st.session_state[_key("use_dream")]


def form_keys(model_name: str = "mambarec") -> list[str]:
    """Every widget key of the form for ``model_name`` (three for the dilation rates)."""
    keys = [_key("model_name"), _key("variant")]
    for name in (*model_fields(model_name), *state.TRAIN_FIELDS):
        keys += [f"{_key(name)}.{i}" for i in range(3)] if name == "dilation_rates" else [_key(name)]
    return keys


def model_header() -> tuple[str, str]:
    """Presets, model, variant, epochs and seed; returns (model_name, variant)."""
    st.write("**Presets**")
    cols = st.columns(len(PRESETS))
    for col, name in zip(cols, PRESETS, strict=True):
        col.button(name, key=f"preset.{name}", on_click=apply_preset, args=(name,), width="stretch", wrap=True)
    model, variant, epochs, seed = st.columns([3, 3, 2, 2])
    model.selectbox("Model", C.MODELS, key=_key("model_name"), format_func=MODEL_LABELS.get,
                    on_change=_on_model_change, help="Which model to train; each has its own settings.")
    variant.selectbox(SPEC["variant"][0], C.VARIANTS, key=_key("variant"), on_change=_on_variant_change,
                      disabled=st.session_state[_key("model_name")] != "mambarec",
                      help="MambaRec's preset the switches start from. paper: as the paper describes; official: as "
                      "the released code computes; backbone: every MambaRec extra off (MGCN through MambaRec's "
                      "code). Changing it resets the switches to that preset.")
    for col, name in zip((epochs, seed), HEADER_FIELDS, strict=True):
        with col:
            field_widget(name)
    return st.session_state[_key("model_name")], st.session_state[_key("variant")]


def run_config_form(run: RunConfig) -> tuple[RunConfig, str | None]:
    """Every switch of the model and trainer; returns the RunConfig it describes and an error, if any."""
    if any(k not in st.session_state for k in form_keys(run.model_name)):  # first visit, or back from another page
        load_run(run)
    model_name, _ = model_header()
    if model_name == "mambarec":
        tabs = st.tabs(list(SECTIONS))
        for tab, title in zip(tabs, SECTIONS, strict=True):
            with tab:
                section(title)
    else:
        own, training = st.tabs([f"{MODEL_LABELS[model_name]} settings", "Training"])
        with own:
            names = model_fields(model_name)
            for row in (names[i:i + 3] for i in range(0, len(names), 3)):
                for col, name in zip(st.columns(3), row, strict=False):
                    with col:
                        field_widget(name, model_name=model_name)
        with training:
            section("Training")
    try:
        return read_widgets(run.dataset), None
    except (ConfigError, TypeError, ValueError) as exc:
        return run, str(exc)


# ---- sidebar -------------------------------------------------------------------------------------
def _on_dataset_change() -> None:
    state.set_active_dataset(st.session_state["sidebar.dataset"])


def dataset_picker() -> str:
    """The active dataset, shared by every page; returns its name."""
    current = state.active_dataset_name()
    st.session_state["sidebar.dataset"] = current
    st.selectbox("Dataset", state.dataset_options(current), key="sidebar.dataset", on_change=_on_dataset_change,
                 help="Every page works on this dataset: synthetic is built in; others come from the data "
                 "directory ($MAMBAREC_DATA).")
    return current


def dataset_caption(name: str) -> None:
    try:
        card = state.dataset_card(name)
    except Exception as exc:  # noqa: BLE001  (a broken dataset must not take the app down)
        st.error(f"Cannot load {name!r}: {exc}")
        return
    st.caption(f"{card['users']:,} users · {card['items']:,} items · {card['interactions']:,} interactions · "
               f"density {card['density']:.3%}")


def jobs_caption(n_active: int) -> None:
    if n_active:
        st.caption(f":material/progress_activity: {n_active} run(s) training in the background")
