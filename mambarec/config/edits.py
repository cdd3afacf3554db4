"""One setting of a run changed, as the app's form and model diagram change it, and a run moved to another dataset.

The rules live here, beside the configs, not in the app (audit r57): ``model_name`` starts the model from its
defaults, ``variant`` from MambaRec's preset, ``schedule`` from its preset of learning rate, batch size and
warm-up with the other training settings kept (``run_from_params`` reads a link's schedule by the same rule), and
an edit that removes DREAM takes ``compile = dream`` with it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mambarec.config.fields import ConfigError, field_names
from mambarec.config.mambarec import mambarec_preset
from mambarec.config.params import model_defaults
from mambarec.config.run import (
    SCHEDULE_FIELDS,
    RunConfig,
    TrainConfig,
    default_schedule,
    train_preset,
    with_schedule,
    without_compile,
)


def default_train(dataset: str) -> TrainConfig:
    """A live run's training on ``dataset``: its default schedule, run to early stopping (patience 20)."""
    return train_preset(default_schedule(dataset))


def with_setting(run: RunConfig, name: str, value: Any) -> RunConfig:
    """``run`` with one setting changed (a model field, a training field, ``model_name``, ``variant`` or
    ``schedule``); raises ConfigError (a ValueError) when the value is not valid for the field."""
    if name == "model_name":
        model = model_defaults(value)
        return dataclasses.replace(run, model_name=value, model=model, train=without_compile(run.train, model))
    if name == "variant":
        model = mambarec_preset(value)
        return dataclasses.replace(run, model=model, train=without_compile(run.train, model))
    if name == "schedule":
        return dataclasses.replace(run, train=with_schedule(run.train, value))
    if name in field_names(TrainConfig):
        return dataclasses.replace(run, train=dataclasses.replace(run.train, **{name: value}))
    if name not in field_names(type(run.model)):
        raise ConfigError(f"{name} is not a setting of {run.model_name}")
    model = dataclasses.replace(run.model, **{name: value})
    return dataclasses.replace(run, model=model, train=without_compile(run.train, model))


def on_dataset(run: RunConfig, dataset: str) -> RunConfig:
    """``run`` on another dataset; a schedule left at the old dataset's default follows the new one's."""
    train = run.train
    old = default_train(run.dataset)
    if all(getattr(train, f) == getattr(old, f) for f in (*SCHEDULE_FIELDS, "schedule")):
        new = default_train(dataset)
        train = dataclasses.replace(train, schedule=new.schedule, **{f: getattr(new, f) for f in SCHEDULE_FIELDS})
    return dataclasses.replace(run, dataset=dataset, train=train)


__all__ = ["default_train", "with_setting", "on_dataset"]
