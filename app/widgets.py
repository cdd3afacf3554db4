"""The Train form: each widget shows one field of the session's setup and edits it through a callback.

One source of truth (``state.current_run()``). On every run ``push`` writes the setup into every
widget's key *before* the widget is drawn, so Streamlit sends each widget with its value. (A keyed
widget's value reaches the browser only in a run that wrote it; a browser that remounts the form
otherwise shows each widget's default, its minimum, and sends those back on the next click.) A change
in the browser calls ``_on_field``, which edits the setup with ``state.edit_run`` (checked by the
config) or refuses it with the reason. ``mismatch`` says which widgets the browser sent with a value
other than the setup's, which is when Train must not run.
"""

from __future__ import annotations

import streamlit as st

from app import flash, state
from app.labels import LABELS, label_of
from mambarec import config as C
from mambarec.config import MODEL_CONFIGS, ConfigError, RunConfig, TrainConfig, field_names, field_of, help_text

PRESETS = {  # button label -> (model, MambaRec variant, switches); short words: they must not wrap mid-word
    "Paper": ("mambarec", "paper", {}),
    "Released code": ("mambarec", "official", {}),
    "MGCN": ("mgcn", None, {}),
    "No alignment": ("mambarec", "paper", {"use_mmd": False, "use_cl": False}),
}
PRESET_HELP = {
    "Paper": "MambaRec as the paper describes it",
    "Released code": "MambaRec as the authors' released code computes it",
    "MGCN": "MGCN, the graph backbone MambaRec builds on (no DREAM, no MMD)",
    "No alignment": "the paper's MambaRec without its two alignment losses (MMD and InfoNCE)",
}
MODEL_LABELS = {"mambarec": "MambaRec", "pop": "Popularity", "bpr": "BPR-MF", "lightgcn": "LightGCN",
                "vbpr": "VBPR", "freedom": "FREEDOM", "mgcn": "MGCN"}
HEADER_FIELDS = ("epochs", "seed")  # drawn beside model and variant: the fields changed most
# presentation mode's first tab of the form: the diagram, so each settings tab opens where it was, in sight (under the
# diagram the tab strip sat at a 1280 x 800 projector's bottom edge; rehearsal r55, F7)
DIAGRAM_TAB = "Model diagram"
# tab -> rows of fields (one row is one line of columns; at most three, so plain labels fit at 1280 x 800)
SECTIONS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Alignment": (("use_mmd", "lambda_mmd", "sigma"), ("use_cl", "lambda_cl", "tau"), ("mmd_items", "cl_views")),
    "DREAM": (("use_dream", "dream_map", "dream_side"), ("dilation_rates", "bn_momentum"),
              ("branch_conv1x1", "branch_dilated_1"), ("branch_dilated_2", "branch_dilated_3"), ("branch_pool",)),
    "Attention": (("channel_attention", "spatial_attention"), ("attention_style", "fusion", "attention_reduction")),
    "Features & graph": (("freeze_features", "reduction_factor", "text_path"), ("modal_norm_dropout", "dropout"),
                         ("embedding_dim", "n_ui_layers", "n_mm_layers"), ("knn_k", "reg_weight")),
    "Training": (("schedule", "batch_size", "learning_rate"), ("warmup_epochs", "lr_decay", "lr_decay_epochs"),
                 ("patience", "eval_every"), ("device", "eval_batch_users", "compile")),
}
ENABLED_BY = {"lambda_mmd": "use_mmd", "sigma": "use_mmd", "mmd_items": "use_mmd", "lambda_cl": "use_cl",
              "tau": "use_cl", "cl_views": "use_cl", "dropout": "modal_norm_dropout"}
DREAM_FIELDS = frozenset(n for title in ("DREAM", "Attention") for row in SECTIONS[title] for n in row) - {"use_dream"}
REJECTED = "form.rejected"  # the last edit the config refused, with its reason (shown once)
PUSHED = "form.pushed"  # widget key -> the value the last run sent to the browser
EDITED = "form.edited"  # fields the browser changed since the last run (their callbacks ran)
BATCH = 3  # this many fields changed in one rerun is a browser posting a stale form back, not an edit
# A select whose longest choice has more characters than this gets a line of its own: a third of the form column
# holds about 12 at 1024 x 768 in presentation mode (tests/test_projector_layout.py measures every choice's words)
WIDE_CHOICE = 12
HEADER = "form-header"  # the model / preset / epoch cap / seed row: two by two where it is narrow (header_css)
HEADER_WRAP_EM = 32  # below this width the four fields cut "MambaRec" (1024 x 768); em follow presentation mode


def _key(name: str) -> str:
    return f"cfg.{name}"


def _owner(run: RunConfig, name: str) -> type:
    if name == "variant":
        return MODEL_CONFIGS["mambarec"]
    return TrainConfig if name in state.TRAIN_FIELDS else type(run.model)


def model_fields(model_name: str) -> list[str]:
    """The widgets a model's config needs (MambaRec's variant is drawn in the header)."""
    return [n for n in field_names(MODEL_CONFIGS[model_name]) if n != "variant"]


def tooltip(run: RunConfig, name: str) -> str:
    """The plain sentence, the config's own help (symbol, meaning, valid values), then the field's name as run
    labels, Compare's cells, links and the command line write it: "Branch 3: spacing b" is `branch_dilated_2` there,
    which no box said (audit r74, item 9)."""
    return (f"{LABELS[name].plain}\n\n{help_text(_owner(run, name), name)}\n\nIn run names and links: `{name}`; "
            f"on the command line: `--{name.replace('_', '-')}`.")


# ---- the setup -> the widgets' keys -------------------------------------------------------------
def widget_values(run: RunConfig) -> dict[str, object]:
    """Every widget key of the form and the value it must show for ``run``."""
    out: dict[str, object] = {_key("model_name"): run.model_name, _key("variant"): run.variant or "paper"}
    for name in (*model_fields(run.model_name), *state.TRAIN_FIELDS):
        owner = run.train if name in state.TRAIN_FIELDS else run.model
        value = getattr(owner, name)
        if name == "dilation_rates":
            out.update({f"{_key(name)}.{i}": int(rate) for i, rate in enumerate(value)})
        else:
            out[_key(name)] = float(value) if LABELS[name].kind == "float" else value
    return out


def push(run: RunConfig) -> None:
    """Write ``run`` into every widget's key; call before the widgets are drawn, on every run."""
    ss = st.session_state
    values = widget_values(run)
    for key, value in values.items():
        ss[key] = value
    ss[PUSHED] = values


def _name(key: str) -> str:
    return key.removeprefix("cfg.").split(".")[0]


def _labels(names) -> list[str]:
    return list(dict.fromkeys("Model" if n == "model_name" else label_of(n) for n in names))


def mismatch(run: RunConfig) -> list[str]:
    """Labels of the widgets whose value in this run (what the browser sent) is not ``run``'s."""
    ss = st.session_state
    return _labels(_name(k) for k, v in widget_values(run).items() if k not in ss or ss[k] != v)


def drift(edited: list[str]) -> list[str]:
    """Widgets whose state was lost or changed since the last run other than by ``edited`` (labels); [] normally."""
    ss = st.session_state
    pushed = ss.get(PUSHED, {})
    return _labels(_name(k) for k, v in pushed.items()
                   if _name(k) not in set(edited) and (k not in ss or ss[k] != v))


def take_edits() -> list[str]:
    """The fields the browser changed since the last run (and forget them)."""
    return list(dict.fromkeys(st.session_state.pop(EDITED, [])))


def batch_labels(edits: list[str]) -> list[str] | None:
    """When ``edits`` is a batch (a stale form posted back), their labels; else None."""
    return _labels(edits) if len(edits) >= BATCH else None


def _read(name: str):
    ss = st.session_state
    if name == "dilation_rates":
        rates = [ss[f"{_key(name)}.{i}"] for i in range(3)]
        return None if None in rates else tuple(int(r) for r in rates)
    return ss[_key(name)]


def _on_field(name: str) -> None:
    """A widget changed in the browser: edit the setup, or refuse the value and say why."""
    run = state.current_run()
    try:
        value = _read(name)
    except KeyError:  # the server lost the widget's key: not an edit (``drift`` reports it, ``push`` redraws)
        return
    if value is not None and _valid(run, name, value) and \
            widget_values(state.edit_run(run, name, value)) == widget_values(run):
        return  # the browser re-sent the setup's own value (its state was lost on the server): not an edit
    st.session_state.setdefault(EDITED, []).append(name)
    try:
        if value is None:  # an emptied number box: refused like any invalid value, never read as its minimum
            raise ConfigError("the box was left empty; type a number")
        state.set_run(state.edit_run(run, name, value))
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        flash.say(REJECTED, f"{refusal(name, exc)}. The form shows the setup as it was.")


def refusal(name: str, exc: Exception) -> str:
    """Why a value was refused, in the form's words: ``Epoch cap must be >= 1, got 0``, not the field's name."""
    label = label_of(name) if name in LABELS else name
    if isinstance(exc, ConfigError) and (exc.field is not None or exc.mentions):
        spelled = exc.spelled(lambda field: label_of(field) if field in LABELS else field)
        if str(spelled) != str(exc):
            return str(spelled)
    return f"{label}: {exc}"


def _valid(run: RunConfig, name: str, value) -> bool:
    try:
        state.edit_run(run, name, value)
        return True
    except (ConfigError, KeyError, TypeError, ValueError):
        return False


def apply_preset(name: str) -> None:
    """Callback: the preset's model and switches (the training settings are kept)."""
    model_name, variant, over = PRESETS[name]
    run = state.edit_run(state.current_run(), "model_name", model_name)
    if variant is not None:
        run = state.edit_run(run, "variant", variant)
    for field, value in over.items():
        run = state.edit_run(run, field, value)
    state.set_run(run)


# ---- drawing ----------------------------------------------------------------------------------
def _bounds(name: str) -> dict:
    """number_input's step and format (the label's). No min_value or max_value: with them the browser kept a value
    out of range in the box ("-5" in Epoch cap, with a small red mark) and never sent it, so the form showed what
    Train would not run (rehearsal r74, item 2). Every value reaches the config, which refuses it in words."""
    kind, extra = LABELS[name].kind, dict(LABELS[name].widget)
    cast = float if kind == "float" else int
    out = {"step": 1} if kind == "int" else {}  # an int step keeps the widget an integer box
    out.update(extra)
    return {k: cast(v) if k == "step" else v for k, v in out.items()}


def field_widget(run: RunConfig, name: str, disabled: bool = False) -> None:
    spec = LABELS[name]
    key, helptext = _key(name), tooltip(run, name)
    common = {"key": key, "help": helptext, "disabled": disabled, "on_change": _on_field, "args": (name,)}
    if spec.kind == "bool":
        st.toggle(spec.label, **common)
    elif spec.kind == "select":
        options = field_of(_owner(run, name), name).metadata["choices"]
        st.selectbox(spec.label, options, format_func=lambda v: spec.choices.get(v, str(v)), **common)
    elif spec.kind in ("int", "float"):
        # value=None: an emptied box sends None, which ``_on_field`` refuses (the default, "min", would
        # send the minimum: clearing Epoch cap would silently make it 1)
        st.number_input(spec.label, value=None, **_bounds(name), **common)
    elif spec.kind == "rates":
        st.markdown(spec.label, help=helptext)  # a caption read as a disabled control's grey (rehearsal r70)
        for i, col in enumerate(st.columns(3)):  # the config's range for each rate (no cap of the form's own)
            col.number_input('abc'[i], value=None, **_bounds(name), key=f"{key}.{i}",
                             disabled=disabled, on_change=_on_field, args=(name,))


def _disabled(run: RunConfig, name: str) -> bool:
    gate = ENABLED_BY.get(name)
    if gate and not getattr(run.model, gate, True):
        return True
    return name in DREAM_FIELDS and not getattr(run.model, "use_dream", True)


def wide(name: str) -> bool:
    """A select with a choice longer than WIDE_CHOICE characters: a third of the form cuts its words."""
    spec = LABELS[name]
    return spec.kind == "select" and max((len(w) for w in spec.choices.values()), default=0) > WIDE_CHOICE


def lines(row: tuple[str, ...]) -> list[tuple[str, ...]]:
    """One row of SECTIONS as drawn: its other fields side by side, then each wide select on a line of its own."""
    rest = tuple(n for n in row if not wide(n))
    return ([rest] if rest else []) + [(n,) for n in row if wide(n)]


def section(run: RunConfig, title: str) -> None:
    """Draw one tab of the form, row by row."""
    for row in (line for r in SECTIONS[title] for line in lines(r)):
        if len(row) == 1 and wide(row[0]):
            field_widget(run, row[0], disabled=_disabled(run, row[0]))
            continue
        switches = [LABELS[n].kind == "bool" for n in row]
        # switches alone share the line evenly; one before number boxes gets more (its label is long); a group of
        # three boxes (DREAM's filter spacings) two thirds of the line: in a third, each box was too narrow for its
        # digit beside the clear button (rehearsal r70)
        widths = [1] * len(row) if all(switches) else [1.4, 1, 1] if switches[0] else [1, 1, 1]
        if any(LABELS[n].kind == "rates" for n in row):
            widths = [2 if LABELS[n].kind == "rates" else 1 for n in row]
        for col, name in zip(st.columns(widths), row, strict=False):
            with col:
                field_widget(run, name, disabled=_disabled(run, name))


def model_header(run: RunConfig) -> None:
    """Presets, model, variant, epoch cap and seed."""
    for col, name in zip(st.columns(len(PRESETS)), PRESETS, strict=True):
        col.button(name, key=f"preset.{name}", on_click=apply_preset, args=(name,), width="stretch", wrap=True,
                   help=PRESET_HELP[name])
    with st.container(key=HEADER):
        st.html(header_css())
        model, variant, epochs, seed = st.columns([3, 3, 2, 2])
        _header_fields(run, model, variant, epochs, seed)


def header_css() -> str:
    """The header's four columns two by two when its container is narrower than HEADER_WRAP_EM."""
    return (f"<style>.st-key-{HEADER} {{ container-type: inline-size; }}\n"
            f"@container (max-width: {HEADER_WRAP_EM}em) {{ .st-key-{HEADER} [data-testid=stHorizontalBlock] "
            "{ flex-wrap: wrap; } .st-key-" + HEADER + " [data-testid=stColumn] { min-width: calc(50% - 1rem) "
            "!important; } }</style>")


def _header_fields(run: RunConfig, model, variant, epochs, seed) -> None:
    model.selectbox("Model", C.MODELS, key=_key("model_name"), format_func=lambda m: MODEL_LABELS.get(m, m),
                    on_change=_on_field,
                    args=("model_name",), help="Which model to train; each has its own settings.")
    variant.selectbox(LABELS["variant"].label, C.VARIANTS, key=_key("variant"), on_change=_on_field,
                      args=("variant",), format_func=lambda v: LABELS["variant"].choices.get(v, v),
                      disabled=run.model_name != "mambarec", help=tooltip(run, "variant"))
    for col, name in zip((epochs, seed), HEADER_FIELDS, strict=True):
        with col:
            field_widget(run, name)


def run_config_form(run: RunConfig, before_tabs=None, picture_tab: str | None = None) -> None:
    """Every switch of the model and trainer, each showing ``run``'s value; ``before_tabs()`` draws above the tabs,
    or, for MambaRec with ``picture_tab`` named, in a first tab of that name. Presentation mode does so: below the
    diagram the tabs sat at the projector's bottom edge, so a click on one showed nothing (rehearsal r55, F7)."""
    push(run)
    rejected = flash.take(REJECTED)
    # in a slot drawn with or without it: the warning's coming and going had moved the tabs in the page's tree, and
    # the browser opened them on the first tab again, away from the box the warning was about (audit r76, item 2)
    slot = st.container()
    if rejected:
        slot.warning(f"Not applied: {rejected}", icon=":material/block:")
    model_header(run)
    first = [picture_tab] if picture_tab and before_tabs is not None and run.model_name == "mambarec" else []
    if before_tabs is not None and not first:
        before_tabs()
    if run.model_name == "mambarec":
        tabs = st.tabs([*first, *SECTIONS])
        if first:
            with tabs[0]:
                before_tabs()
        for tab, title in zip(tabs[len(first):], SECTIONS, strict=True):
            with tab:
                section(run, title)
        return
    own, training = st.tabs([f"{MODEL_LABELS.get(run.model_name, run.model_name)} settings", "Training"])
    with own:
        names = model_fields(run.model_name)
        for row in (names[i:i + 3] for i in range(0, len(names), 3)):
            for col, name in zip(st.columns(3), row, strict=False):
                with col:
                    field_widget(run, name)
        if not names:
            st.caption("Popularity has nothing to set: it ranks items by how often they were clicked.")
    with training:
        section(run, "Training")
