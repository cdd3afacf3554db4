"""Session state, URL parameters <-> RunConfig, the cached dataset, where runs and results live.

The URL vocabulary is the config's field names (``mambarec.config``): ``?variant=paper&use_mmd=false
&reduction_factor=4&epochs=20``. Only values that differ from the variant's preset (model fields)
or from ``TrainConfig`` (training fields) are written, plus ``dataset``, ``model_name``, ``variant``
and ``epochs``, so a link stays short and reproduces the setup exactly.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

import streamlit as st

from mambarec import config as cfg
from mambarec.config import ConfigError, ModelConfig, RunConfig, TrainConfig, make_model_config

APP_DEFAULT_EPOCHS = 20  # a live run on the synthetic data finishes in well under a minute
DEFAULT_DATASET = "synthetic"
PRECOMPUTED_ENV = "MAMBAREC_PRECOMPUTED"  # another precomputed folder (tests, a second grid)
SHORT_NAMES = {"reduction_factor": "r"}  # the paper's symbol where the field name is long
LABEL_SKIP_TRAIN = ("seed", "epochs", "device", "eval_batch_users")  # not part of a setup's name

MODEL_FIELDS = tuple(cfg.field_names(ModelConfig))
TRAIN_FIELDS = tuple(cfg.field_names(TrainConfig))
TOP_FIELDS = ("dataset", "model_name")


# ---- URL parameters <-> RunConfig ----------------------------------------------------------
def default_run(dataset: str = DEFAULT_DATASET) -> RunConfig:
    return RunConfig(dataset=dataset, model=make_model_config("paper"), train=TrainConfig(epochs=APP_DEFAULT_EPOCHS))


def encode_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def run_to_params(run: RunConfig) -> dict[str, str]:
    """The URL parameters that reproduce ``run`` (differences from the presets only)."""
    out = {"dataset": run.dataset, "model_name": run.model_name, "variant": run.model.variant,
           "epochs": str(run.train.epochs)}
    preset = make_model_config(run.model.variant)
    for name in MODEL_FIELDS:
        if getattr(run.model, name) != getattr(preset, name):
            out[name] = encode_value(getattr(run.model, name))
    base = TrainConfig()
    for name in TRAIN_FIELDS:
        if name != "epochs" and getattr(run.train, name) != getattr(base, name):
            out[name] = encode_value(getattr(run.train, name))
    return out


def run_from_params(params: Mapping[str, str]) -> tuple[RunConfig, list[str]]:
    """A RunConfig from URL parameters, and a message per parameter that could not be used."""
    errors: list[str] = []
    base = default_run()
    variant = params.get("variant", "paper")
    try:
        make_model_config(variant)
    except ConfigError as exc:
        errors.append(f"variant: {exc}")
        variant = "paper"
    model_over, train_over, top = {}, {}, {}
    for key, raw in params.items():
        if key == "variant":
            continue
        try:
            if key in MODEL_FIELDS:
                model_over[key] = cfg.coerce_field(ModelConfig, key, raw)
                make_model_config(variant, **{key: model_over[key]})
            elif key in TRAIN_FIELDS:
                train_over[key] = cfg.coerce_field(TrainConfig, key, raw)
                TrainConfig(**{key: train_over[key]})
            elif key in TOP_FIELDS:
                top[key] = raw
                RunConfig(**{key: raw})
            else:
                errors.append(f"{key}: not a config field (known: the names in mambarec/config.py)")
        except (ConfigError, TypeError, ValueError) as exc:
            errors.append(f"{key}={raw!r}: {exc}")
            model_over.pop(key, None), train_over.pop(key, None), top.pop(key, None)
    try:
        model = make_model_config(variant, **model_over)
    except ConfigError as exc:  # fields valid alone but not together
        errors.append(f"model switches: {exc}; using the {variant!r} preset")
        model = make_model_config(variant)
    try:
        train = TrainConfig(**{"epochs": base.train.epochs, **train_over})
    except ConfigError as exc:
        errors.append(f"training: {exc}")
        train = base.train
    return RunConfig(model=model, train=train, **top), errors


# ---- session -----------------------------------------------------------------------------
def init_session() -> None:
    """Read the URL once per browser session (a page switch clears it; the session keeps the config)."""
    ss = st.session_state
    if "run_config" not in ss:
        run, errors = run_from_params(st.query_params.to_dict())
        ss.run_config, ss.url_errors = run, errors
        ss.dataset = run.dataset
    ss.setdefault("jobs", [])


def current_run() -> RunConfig:
    init_session()
    return st.session_state.run_config


def set_run(run: RunConfig) -> None:
    st.session_state.run_config = run
    st.session_state.dataset = run.dataset


def active_dataset_name() -> str:
    init_session()
    return st.session_state.dataset


def set_active_dataset(name: str) -> None:
    st.session_state.dataset = name
    run = current_run()
    if run.dataset != name:
        st.session_state.run_config = dataclasses.replace(run, dataset=name)


def sync_url(params: dict[str, str]) -> None:
    """Write ``params`` to the address bar (only when they changed: each write is a message)."""
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def set_active_run(path: str | Path | None) -> None:
    """The run (folder or checkpoint file) the inspection pages show; None clears it."""
    st.session_state.active_run = None if path is None else str(path)


def active_run() -> str | None:
    return st.session_state.get("active_run")


# ---- cached data -----------------------------------------------------------------------
@st.cache_resource(max_entries=3, show_spinner="Loading the dataset...")
def get_dataset(name: str):
    from mambarec.data import load_dataset

    return load_dataset(name)


@st.cache_data(max_entries=8, show_spinner=False)
def dataset_card(name: str) -> dict:
    ds = get_dataset(name)
    return {**ds.summary(), "fingerprint": ds.fingerprint(), "source": ds.source}


def dataset_options(current: str) -> list[str]:
    from mambarec.data import available_datasets

    names = available_datasets()
    return names if current in names else [*names, current]


def runs_root() -> Path:
    from mambarec.runs import runs_dir

    return runs_dir()


def runs_signature(root: Path) -> tuple:
    """Changes whenever a run folder is added, removed or rewritten (the cache key of the tables)."""
    if not root.is_dir():
        return ()
    out = []
    for folder in root.iterdir():
        metrics = folder / "metrics.json"
        if metrics.is_file():
            out.append((folder.name, metrics.stat().st_mtime_ns))
    return tuple(sorted(out))


def setup_label(config: dict, ignore: tuple[str, ...] = ()) -> str:
    """A readable name of a setup: model (variant), the switches that differ from the preset, epochs.

    Fields in ``ignore`` are left out (``("reduction_factor",)`` names the family of an r sweep).
    """
    model_name = config.get("model_name", "mambarec")
    model = {k: v for k, v in config.get("model", {}).items() if k not in ignore}
    train = config.get("train", {})
    if model_name != "mambarec":
        name = model_name
        diffs = []
    else:
        variant = model.get("variant", "paper")
        name = f"mambarec/{variant}"
        preset = dataclasses.asdict(make_model_config(variant))
        diffs = [_short(k, v) for k, v in model.items() if k != "variant" and _differs(v, preset.get(k))]
    base = dataclasses.asdict(TrainConfig())
    diffs += [_short(k, v) for k, v in train.items() if k not in LABEL_SKIP_TRAIN and _differs(v, base.get(k))]
    epochs = train.get("epochs")
    tail = f" · {epochs} ep" if epochs else ""
    return name + (f" · {', '.join(diffs)}" if diffs else "") + tail


def _differs(a, b) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return list(a or []) != list(b or [])
    return a != b


def _short(key: str, value) -> str:
    shown = {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value
    if isinstance(value, (list, tuple)):
        shown = ",".join(str(v) for v in value)
    return f"{SHORT_NAMES.get(key, key)}={shown}"


def precomputed_dir() -> Path:
    default = Path(__file__).resolve().parents[1] / "precomputed"
    return Path(os.environ.get(PRECOMPUTED_ENV, default))


def precomputed_table(dataset: str):
    """Precomputed rows of ``dataset`` and a message when there are none (see ``app.results``)."""
    from app import results

    return results.precomputed_table(dataset)
