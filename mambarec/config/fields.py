"""Config fields that document and check themselves (docs/style.md habit 2).

Every field of every config is declared with ``param(default, help, symbol=..., choices=..., low=...,
high=...)``: its meaning, the paper's symbol and its valid range live in ``field(metadata=...)``,
where the CLI's ``--help``, the app's labels and the error messages read them. ``check(config)``
enforces the ranges in ``__post_init__``; ``build(cls, values)`` makes a config from a dict or from
strings (CLI flags, URL parameters) and refuses unknown keys.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import field, fields
from typing import Any, get_origin

from mambarec.errors import UserError

# The largest whole number any field takes: 2**53 - 1, what a browser's number box (a JavaScript number) and a
# float64 hold exactly. Beyond it a link's value would show rounded in the app's boxes and differ from the config.
INT_LIMIT = 2**53 - 1


class ConfigError(UserError):
    """A configuration value or key is wrong; the message says which and how to fix it. ``field``: the field a
    range check refused, whose name leads the message; ``mentions``: other fields the message names (a rule over
    several). ``spelled`` writes them as the user knows them: flags on the command line, labels in the app."""

    def __init__(self, message: str, field: str | None = None, mentions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.field = field
        self.mentions = tuple(mentions)

    def spelled(self, spell) -> ConfigError:
        """This error with its leading field name and its ``mentions`` written by ``spell`` (``--epochs``)."""
        text = str(self)
        if self.field is not None and text.startswith(self.field):
            text = spell(self.field) + text[len(self.field):]
        for name in self.mentions:  # whole names only: branch_dilated_1 is not inside branch_dilated_12
            text = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", lambda _, name=name: spell(name), text)
        return self if text == str(self) else ConfigError(text, self.field, self.mentions)


def param(default: Any, help: str, *, symbol: str | None = None, choices: tuple | None = None,
          low: float | None = None, high: float | None = None, low_open: bool = False,
          high_open: bool = False) -> Any:
    """A dataclass field with its help text, paper symbol and valid values in ``metadata``.

    ``low``/``high`` bound numbers (inclusive unless ``low_open``/``high_open``); ``choices`` lists the
    allowed values of a field with a closed set.
    """
    meta = {"help": help, "symbol": symbol, "choices": choices, "low": low, "high": high,
            "low_open": low_open, "high_open": high_open}
    return field(default=default, metadata=meta)


def choices_text(choices) -> str:
    """``paper, official, backbone``: a list of choices as a user reads it (not Python's ``['paper', ...]``)."""
    return ", ".join(map(str, choices))


def describe_range(f: dataclasses.Field) -> str:
    """The valid values of a field in words: ``one of a, b``, ``> 0``, ``in [0, 1)``."""
    m = f.metadata
    if m.get("choices") is not None:
        return f"one of {choices_text(m['choices'])}"
    low, high = m.get("low"), m.get("high")
    if low is not None and high is not None:
        return f"in {'(' if m['low_open'] else '['}{low}, {high}{')' if m['high_open'] else ']'}"
    if low is not None:
        return f"{'>' if m['low_open'] else '>='} {low}"
    if high is not None:
        return f"{'<' if m['high_open'] else '<='} {high}"
    return ""


def check(config: Any) -> None:
    """Raise ConfigError for the first field whose value is outside its declared choices or range."""
    for f in fields(config):
        value = getattr(config, f.name)
        m = f.metadata
        if m.get("choices") is not None and value not in m["choices"]:
            raise ConfigError(f"{f.name} must be {describe_range(f)}, got {value!r}", f.name)
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            if not math.isfinite(v):
                rng = describe_range(f)
                raise ConfigError(f"{f.name} must be a finite number{' ' + rng if rng else ''}, got {value!r}",
                                  f.name)
            if isinstance(v, int) and abs(v) > INT_LIMIT:
                raise ConfigError(f"{f.name} must be a whole number of at most {INT_LIMIT:,} (2^53 - 1, the largest "
                                  f"a browser's number box holds exactly), got {value!r}", f.name)
            low, high = m.get("low"), m.get("high")
            too_low = low is not None and (v <= low if m["low_open"] else v < low)
            too_high = high is not None and (v >= high if m["high_open"] else v > high)
            if too_low or too_high:
                raise ConfigError(f"{f.name} must be {describe_range(f)}, got {value!r}", f.name)


def field_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def field_of(cls: type, name: str) -> dataclasses.Field:
    for f in fields(cls):
        if f.name == name:
            return f
    raise ConfigError(f"{cls.__name__} has no field {name!r}; its fields: {field_names(cls)}")


def help_text(cls: type, name: str) -> str:
    """A field's documented meaning, with its paper symbol and valid values: the CLI help and the app tooltip."""
    f = field_of(cls, name)
    text = f.metadata.get("help", "")
    if f.metadata.get("symbol"):
        text = f"{f.metadata['symbol']}: {text}"
    rng = describe_range(f)
    return f"{text} ({rng})" if rng else text


def default_of(f: dataclasses.Field) -> Any:
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


TYPE_WORDS = {bool: "on or off (true/false, yes/no, on/off or 1/0)", int: "a whole number", float: "a number"}


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def parse_bool(text: str) -> bool:
    """A flag's or a link's on/off word (``true``, ``off``, ``1``, ...); ValueError for any other. The command
    line and the app's links read them alike (urlsel had a copy: audit r57)."""
    low = str(text).strip().lower()
    if low in TRUE_WORDS:
        return True
    if low in FALSE_WORDS:
        return False
    raise ValueError(text)


def coerce_field(cls: type, name: str, raw: Any, spell=str) -> Any:
    """Convert a string (CLI flag, URL parameter) to the type of ``cls.name``; other values pass. ``spell`` writes
    the field's name as the user typed it (``--use-dream`` on the command line)."""
    ftype = field_of(cls, name).type
    ftype = _TYPES.get(ftype, ftype) if isinstance(ftype, str) else ftype
    if not isinstance(raw, str):
        return raw
    try:
        if ftype is bool:
            return parse_bool(raw)
        if ftype is int:
            return int(raw)
        if ftype is float:
            return float(raw)
        if ftype is str:
            return raw
        if str(ftype).startswith("tuple"):
            return tuple(int(p) for p in raw.replace(" ", "").strip("()").split(",") if p)
    except ValueError as exc:
        words = TYPE_WORDS.get(ftype, getattr(ftype, "__name__", ftype))
        raise ConfigError(f"{spell(name)}: cannot read {raw!r} as {words}") from exc
    raise ConfigError(f"{name}: unsupported field type {ftype}")


def build(cls: type, values: Any, where: str) -> Any:
    """``cls(**values)`` from a dict whose values may be strings or lists; unknown keys raise ConfigError."""
    if isinstance(values, cls):
        return values
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(values).__name__}")
    reject_unknown(cls, values, where)
    clean = {}
    for f in fields(cls):
        if f.name not in values:
            continue
        v = values[f.name]
        is_tuple = get_origin(f.type) is tuple or str(f.type).startswith("tuple")
        if is_tuple:
            v = tuple(int(x) for x in v) if isinstance(v, (list, tuple)) else coerce_field(cls, f.name, v)
        elif isinstance(v, str) and f.type not in (str, "str"):
            v = coerce_field(cls, f.name, v)
        clean[f.name] = v
    try:
        return cls(**clean)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def reject_unknown(cls: type, values: dict, where: str) -> None:
    known = set(field_names(cls))
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}. Known keys: {sorted(known)}")


__all__ = ["ConfigError", "param", "check", "field_names", "field_of", "help_text", "describe_range", "coerce_field",
           "build", "reject_unknown", "default_of"]
