"""Every config field as a command-line flag: ``lambda_mmd`` -> ``--lambda-mmd``, its help the field's documented
meaning and paper symbol (``mambarec.config.fields``) with its default per model, and the RunConfig that the flags
given describe (a flag the chosen ``--model`` does not have is an error). ``train`` uses them (``mambarec.cli``)."""

from __future__ import annotations

import argparse
import dataclasses

from mambarec.config import (
    MODEL_CONFIGS,
    ConfigError,
    RunConfig,
    TrainConfig,
    coerce_field,
    default_of,
    help_text,
    make_run,
)
from mambarec.config.fields import FALSE_WORDS, TRUE_WORDS

MODEL_FLAG_PREFIX, TRAIN_FLAG_PREFIX = "model.", "train."


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _metavar(f: dataclasses.Field) -> str:
    choices = f.metadata.get("choices")
    if choices is not None:
        return "{" + ",".join(str(c) for c in choices) + "}"
    t = str(f.type)
    return {"bool": "{true,false}", "int": "N", "float": "X"}.get(t, "A,B,C" if t.startswith("tuple") else "S")


def model_fields() -> dict[str, dict[str, dataclasses.Field]]:
    """field name -> {model name: its Field}, over every model's config (one flag per name)."""
    out: dict[str, dict[str, dataclasses.Field]] = {}
    for model, cls in MODEL_CONFIGS.items():
        for f in dataclasses.fields(cls):
            if f.name != "variant":
                out.setdefault(f.name, {})[model] = f
    return out


# The short spellings people type from other tools' habits: without it, --lr was "ambiguous" (--lr-decay...)
TRAIN_ALIASES = {"learning_rate": ("--lr",)}


def _shown(value) -> str:
    """A default as the flag takes it: true/false, 1,2,3, a bare word (Python's repr printed True and 'reduced')."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def _escaped(text: str) -> str:
    """A help text for argparse, which reads '%' as a format (a field's help with '25% faster' broke --help)."""
    return text.replace("%", "%%")


# A {true,false} flag takes every spelling parse_bool does; --help said only the two (audit r75, item 10)
BOOL_SPELLINGS = "a {true,false} flag also takes " + ", ".join(
    f"{t}/{f}" for t, f in zip(TRUE_WORDS, FALSE_WORDS, strict=True) if t != "true")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model fields (the --model's config; MambaRec's defaults come from --variant)",
                                      description=BOOL_SPELLINGS)
    for name, per_model in model_fields().items():
        models = list(per_model)
        cls = MODEL_CONFIGS[models[0]]
        defaults = ", ".join(f"{m} {_shown(default_of(f))}" for m, f in per_model.items())
        group.add_argument(flag(name), dest=MODEL_FLAG_PREFIX + name, default=None,
                           metavar=_metavar(per_model[models[0]]),
                           help=_escaped(f"{help_text(cls, name)} [defaults: {defaults}]"))
    train = parser.add_argument_group("training")
    for f in dataclasses.fields(TrainConfig):
        train.add_argument(flag(f.name), *TRAIN_ALIASES.get(f.name, ()), dest=TRAIN_FLAG_PREFIX + f.name, default=None,
                           metavar=_metavar(f),
                           help=_escaped(f"{help_text(TrainConfig, f.name)} [default: {_shown(default_of(f))}"
                                         + ("; with --resume, the run's own cap" if f.name == "epochs" else "") + "]"))


def explicit_values(args: argparse.Namespace, prefix: str) -> dict[str, str]:
    return {k[len(prefix):]: v for k, v in vars(args).items() if k.startswith(prefix) and v is not None}


def run_config_from_args(args: argparse.Namespace) -> tuple[RunConfig, list[str]]:
    """The RunConfig the flags describe and notes for the user; flags foreign to the model are errors."""
    model_name = args.model or "mambarec"
    given = explicit_values(args, MODEL_FLAG_PREFIX)
    target = "mgcn" if args.variant == "mgcn" else model_name
    cls = MODEL_CONFIGS.get(target)
    model = {k: coerce_field(cls, k, v, flag) if cls is not None and k in {f.name for f in dataclasses.fields(cls)}
             else v for k, v in given.items()}
    train = {k: coerce_field(TrainConfig, k, v, flag) for k, v in explicit_values(args, TRAIN_FLAG_PREFIX).items()}
    try:
        return make_run(args.dataset, model_name, args.variant, model, train, spell=flag)
    except ConfigError as exc:  # a config's own check names its field ("epochs must be >= 1"): the user typed a flag
        if exc.field in {**model, **train} or exc.mentions:
            raise exc.spelled(flag) from exc
        raise


__all__ = ["MODEL_FLAG_PREFIX", "TRAIN_FLAG_PREFIX", "flag", "model_fields", "add_config_flags", "explicit_values",
           "run_config_from_args"]
