"""Synthetic dataset specs: ``synthetic``, ``synthetic/<scenario>``, ``synthetic/<scenario>?knob=value&...``.

A spec names a scenario (``mambarec.data.scenarios``; ``dense`` when omitted) and overrides some of
its knobs. Its canonical form drops the default scenario and every override equal to the
scenario's own value, and sorts the rest by knob name, so equal data have one name:
``synthetic/dense`` -> ``synthetic``, ``synthetic/cold-items?seed=3&cold_share=0.3`` ->
``synthetic/cold-items?seed=3``. The canonical spec is the Dataset's ``name``. The slug is the same
spec in file-safe characters for run ids and folders: ``synthetic-cold-items_cold_share-0.6_seed-3``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from mambarec.data.dataset import Dataset
from mambarec.data.scenarios import (
    DEFAULT_SCENARIO,
    KNOBS,
    SCENARIOS,
    ScenarioConfig,
    ScenarioError,
    build_scenario,
    check_knob,
    scenario_config,
)

PREFIX = "synthetic"
SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ScenarioSpec:
    scenario: str = DEFAULT_SCENARIO
    overrides: tuple[tuple[str, int | float], ...] = ()  # (knob, value), canonical: sorted, non-default

    def config(self) -> ScenarioConfig:
        return dataclasses.replace(scenario_config(self.scenario), **dict(self.overrides))

    def canonical(self) -> str:
        head = PREFIX if self.scenario == DEFAULT_SCENARIO else f"{PREFIX}/{self.scenario}"
        query = "&".join(f"{k}={_format(v)}" for k, v in self.overrides)
        return f"{head}?{query}" if query else head

    def slug(self) -> str:
        head = PREFIX if self.scenario == DEFAULT_SCENARIO else f"{PREFIX}-{self.scenario}"
        return "_".join([head, *(f"{k}-{_format(v)}" for k, v in self.overrides)])


def is_synthetic(name: str) -> bool:
    return name == PREFIX or name.startswith((f"{PREFIX}/", f"{PREFIX}?"))


def _format(value: int | float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


def _coerce(name: str, text) -> int | float:
    """A knob value from a string (or a number), checked against the knob's type and range."""
    if name not in KNOBS:
        raise ScenarioError(f"unknown knob {name!r}; the knobs are {', '.join(sorted(KNOBS))}")
    value = text
    if isinstance(text, str):
        try:
            value = int(text) if KNOBS[name].type == "int" else float(text)
        except ValueError:
            value = text
    elif KNOBS[name].type == "float" and isinstance(text, int) and not isinstance(text, bool):
        value = float(text)
    check_knob(name, value)
    return value


def make_spec(scenario: str = DEFAULT_SCENARIO, **overrides) -> ScenarioSpec:
    """The canonical spec of ``scenario`` with knob ``overrides`` (strings or numbers)."""
    defaults = scenario_config(scenario)
    values = {k: _coerce(k, v) for k, v in overrides.items()}
    kept = tuple(sorted((k, v) for k, v in values.items() if v != getattr(defaults, k)))
    return ScenarioSpec(scenario, kept)


def parse_spec(text: str, **overrides) -> ScenarioSpec:
    """Parse ``synthetic[/<scenario>][?knob=value&...]``; keyword ``overrides`` apply on top."""
    if not is_synthetic(text):
        raise ScenarioError(f"{text!r} is not a synthetic spec; write synthetic[/<scenario>][?knob=value&...]")
    path, _, query = text.partition("?")
    scenario = path.partition("/")[2] or DEFAULT_SCENARIO
    values: dict[str, str] = {}
    for part in query.split("&") if query else []:
        name, eq, value = part.partition("=")
        if not eq or not name or not value:
            raise ScenarioError(f"{text!r}: {part!r} is not knob=value; the knobs are {', '.join(sorted(KNOBS))}")
        if name in values:
            raise ScenarioError(f"{text!r}: knob {name} is given twice")
        values[name] = value
    scenario_config(scenario)  # unknown scenario: list the known ones before any knob error
    return make_spec(scenario, **{**values, **overrides})


def canonical(text: str) -> str:
    return parse_spec(text).canonical()


def slug(text: str) -> str:
    return parse_spec(text).slug()


def spec_from_slug(text: str) -> ScenarioSpec:
    """Inverse of ``ScenarioSpec.slug``."""
    head, *_ = text.split("_", 1)
    rest = text[len(head):]
    if head != PREFIX and not head.startswith(f"{PREFIX}-"):
        raise ScenarioError(f"{text!r} is not a synthetic slug")
    knob = "|".join(sorted(map(re.escape, KNOBS), key=len, reverse=True))
    pairs = re.findall(rf"_({knob})-(.+?)(?=_(?:{knob})-|$)", rest)
    if "".join(f"_{k}-{v}" for k, v in pairs) != rest:
        raise ScenarioError(f"{text!r} is not a synthetic slug (knobs as _knob-value)")
    return make_spec(head[len(PREFIX) + 1:] or DEFAULT_SCENARIO, **dict(pairs))


def dataset_slug(name: str) -> str:
    """A file-safe form of any dataset name: the slug of a synthetic spec, else unsafe runs -> '_'."""
    return slug(name) if is_synthetic(name) else SAFE.sub("_", name).strip("_") or "dataset"


def load_scenario(text: str, **overrides) -> Dataset:
    """Build the dataset of a spec string; its name is the canonical spec."""
    spec = parse_spec(text, **overrides)
    return build_scenario(spec.config(), name=spec.canonical(), scenario=spec.scenario)


def scenario_specs() -> list[str]:
    """Canonical specs of every named scenario, ``synthetic`` (dense) first."""
    return [ScenarioSpec(name).canonical() for name in SCENARIOS]
