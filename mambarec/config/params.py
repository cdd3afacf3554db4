"""A run config as flat string parameters (the app's URL) and as a short readable name.

The parameters are the config's field names: ``?model_name=mambarec&variant=paper&use_mmd=false&epochs=20``.
Only values that differ from the model's defaults (MambaRec: its variant's preset) and from
``TrainConfig`` are written, plus ``dataset``, ``model_name``, ``variant`` (MambaRec) and ``epochs``,
so a link stays short and reproduces the setup exactly. Reading is forgiving and says why: a
parameter that belongs to another model, an unknown key or a bad value is reported, not silently
dropped.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any

from mambarec.config.fields import ConfigError, build, coerce_field, field_names
from mambarec.config.mambarec import mambarec_preset
from mambarec.config.run import (
    MGCN_ALIAS_NOTE,
    MODEL_CONFIGS,
    MODELS,
    RunConfig,
    TrainConfig,
    train_preset,
    with_schedule,
    without_compile,
)

TOP_KEYS = ("dataset", "model_name", "variant", "schedule")
SHORT_NAMES = {"reduction_factor": "r"}  # the paper's symbol where the field name is long
# What makes two runs seeds of one setup: every model and training field but these. The first change how a run
# is executed, not the model it learns (compiling DREAM changes only the rounding); the second bound how long it
# runs. ``setup_key`` ignores both (the Train page's match to precomputed seeds, which says how their length
# differs); ``setup_label`` names the length, because Compare must not pool a 20-epoch demo with converged seeds.
EXECUTION_FIELDS = ("seed", "device", "eval_batch_users", "compile")
LENGTH_FIELDS = ("epochs", "patience")


def model_defaults(model_name: str, variant: str | None = None) -> Any:
    """The config a model starts from: MambaRec's ``variant`` preset, the other models' defaults."""
    if model_name == "mambarec":
        return mambarec_preset(variant or "paper")
    return MODEL_CONFIGS[model_name]()


def encode_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def changed_fields(run: RunConfig) -> dict[str, Any]:
    """The model fields and training fields of ``run`` that differ from where it started."""
    base = model_defaults(run.model_name, run.variant)
    out = {f: getattr(run.model, f) for f in field_names(type(run.model))
           if f != "variant" and getattr(run.model, f) != getattr(base, f)}
    train = train_preset(run.train.schedule)
    out.update({f: getattr(run.train, f) for f in field_names(TrainConfig)
                if f != "schedule" and getattr(run.train, f) != getattr(train, f)})
    return out


def run_to_params(run: RunConfig) -> dict[str, str]:
    """The parameters that reproduce ``run``."""
    out = {"dataset": run.dataset, "model_name": run.model_name}
    if run.variant is not None:
        out["variant"] = run.variant
    out["schedule"] = run.train.schedule
    out["epochs"] = str(run.train.epochs)
    out.update({k: encode_value(v) for k, v in changed_fields(run).items() if k != "epochs"})
    return out


def run_from_params(params: Mapping[str, str], train: TrainConfig | None = None
                    ) -> tuple[RunConfig, list[str], list[str]]:
    """A RunConfig from parameters (missing training fields from ``train``), the parameters that could not
    be used (one message each), and notes (an alias that was followed)."""
    errors: list[str] = []
    notes: list[str] = []
    train = train or TrainConfig()
    if params.get("schedule", train.schedule) != train.schedule:  # a schedule's preset, the caller's other values
        try:
            train = with_schedule(train, params["schedule"])
        except ConfigError as exc:
            errors.append(f"schedule: {exc}")
    model_name = params.get("model_name", "mambarec")
    if model_name not in MODEL_CONFIGS:
        errors.append(f"model_name={model_name!r}: not a model (known: {', '.join(MODELS)})")
        model_name = "mambarec"
    variant = params.get("variant") if model_name == "mambarec" else None
    if params.get("variant") == "mgcn":
        notes.append(MGCN_ALIAS_NOTE)
        model_name, variant = "mgcn", None
    elif model_name != "mambarec" and params.get("variant"):
        errors.append(f"variant={params['variant']!r}: only MambaRec has variants; {model_name} ignores it")
    try:
        base = model_defaults(model_name, variant)
    except ConfigError as exc:
        errors.append(f"variant: {exc} (or mgcn, MMRec's MGCN: its own model)")
        variant, base = "paper", model_defaults(model_name)
    cls = type(base)
    model_over: dict[str, Any] = {}
    train_over: dict[str, Any] = {}
    dataset = params.get("dataset", "synthetic")
    other_models = {f for c in MODEL_CONFIGS.values() for f in field_names(c)}
    for key, raw in params.items():
        if key in TOP_KEYS:
            continue
        try:
            if key in field_names(cls):
                value = coerce_field(cls, key, raw)
                dataclasses.replace(base, **{key: value})  # valid alone
                model_over[key] = value
            elif key in field_names(TrainConfig):
                value = coerce_field(TrainConfig, key, raw)
                dataclasses.replace(train, **{key: value})
                train_over[key] = value
            elif key in other_models:
                errors.append(f"{key}: does not apply to {model_name} (a field of another model)")
            else:
                hint = _did_you_mean(key, [*field_names(cls), *field_names(TrainConfig)])
                errors.append(f"{key}: not a config field{hint}")
        except (ConfigError, TypeError, ValueError) as exc:
            errors.append(f"{key}={raw!r}: {exc}")
    try:
        model = dataclasses.replace(base, **model_over)
    except ConfigError as exc:  # fields valid alone but not together
        errors.append(f"model fields: {exc}; using the defaults")
        model = base
    try:
        train = dataclasses.replace(train, **train_over)
    except ConfigError as exc:
        errors.append(f"training: {exc}")
    allowed = without_compile(train, model)
    if allowed != train:  # valid apart, not together
        errors.append(f"compile={train.compile!r}: this {model_name} model has no DREAM to compile; not compiled")
        train = allowed
    return RunConfig(dataset=dataset, model_name=model_name, model=model, train=train), errors, notes


def setup_key(run: RunConfig) -> tuple:
    """What two runs of one setup share: dataset, model and every setting but ``EXECUTION_FIELDS`` and
    ``LENGTH_FIELDS`` (hashable)."""
    skip = EXECUTION_FIELDS + LENGTH_FIELDS
    train = {k: v for k, v in dataclasses.asdict(run.train).items() if k not in skip}
    return run.dataset, run.model_name, run.model, tuple(sorted(train.items()))


def setup_label(config: dict | RunConfig, ignore: tuple[str, ...] = ()) -> str:
    """A readable name of a setup: model (variant), the fields that differ from its defaults, the epoch cap.

    Runs with one label are seeds of one setup of one length: ``setup_key`` with the patience and the epoch cap.

    ``config`` is a RunConfig or its dict (any version). Fields in ``ignore`` are left out
    (``("reduction_factor",)`` names the family of an r sweep).
    """
    run = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
    name = f"mambarec/{run.variant}" if run.model_name == "mambarec" else run.model_name
    diffs = change_words(run, ignore + EXECUTION_FIELDS + ("epochs",))  # the cap is named last
    return name + (f" · {', '.join(diffs)}" if diffs else "") + f" · {run.train.epochs} ep"


def change_words(run: RunConfig, skip: tuple[str, ...] = (), sep: str = "=") -> list[str]:
    """What ``run`` changed from its preset, a word each ("r=16", "use_mmd=off"; ``sep`` between a field and its
    value), the fields in ``skip`` left out, and a schedule other than the paper's last ("fast schedule"): the
    setup's label and a live run's folder id (``store.new_run_id``) name the same changes."""
    words = [_short(k, v, sep) for k, v in changed_fields(run).items() if k not in skip]
    if run.train.schedule != "paper":
        words.append(f"{run.train.schedule} schedule")
    return words


def _short(key: str, value: Any, sep: str = "=") -> str:
    shown = {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else encode_value(value)
    return f"{SHORT_NAMES.get(key, key)}{sep}{shown}"


def build_model_config(model_name: str, values: dict, variant: str | None = None) -> Any:
    """A model's config from widget values: MambaRec through its variant preset, the others directly."""
    if model_name == "mambarec":
        values = {k: v for k, v in values.items() if k != "variant"}
        return mambarec_preset(variant or "paper", **values)
    return build(MODEL_CONFIGS[model_name], values, "model")


def _did_you_mean(key: str, fields: list[str]) -> str:
    """A hint for an unknown field: the one its letters are closest to, or whose words' initials it is (``lr``:
    ``learning_rate``), else where the fields are listed (a rehearsal's ``lr=zero`` had been sent to the source)."""
    initials = [f for f in fields if "_" in f and "".join(w[0] for w in f.split("_")) == key.lower()]
    near = initials or difflib.get_close_matches(key.lower(), fields, n=1, cutoff=0.6)
    return f"; did you mean {near[0]}?" if near else " (the fields and their values: python -m mambarec train --help)"


__all__ = ["run_to_params", "run_from_params", "setup_key", "setup_label", "change_words", "changed_fields",
           "model_defaults", "encode_value", "build_model_config", "SHORT_NAMES", "EXECUTION_FIELDS", "LENGTH_FIELDS"]
