"""One run: which model, with which config, on which data, trained how (docs/architecture.md section 2).

``RunConfig.model`` is the config of the model named by ``model_name`` (``MODEL_CONFIGS``), so a
stored run holds exactly the config that built its model. ``config.json`` and checkpoints carry
``config_version``; version 1 (one MambaRec-shaped config for every model, and ``mgcn`` both a
model and a variant) is read by ``migrate_v1``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from mambarec.config.baselines import BPRConfig, FreedomConfig, LightGCNConfig, MGCNConfig, PopConfig, VBPRConfig
from mambarec.config.fields import INT_LIMIT, ConfigError, build, check, choices_text, param, reject_unknown
from mambarec.config.mambarec import MambaRecConfig, mambarec_preset, variant_defaults

CONFIG_VERSION = 2
MODEL_CONFIGS: dict[str, type] = {
    "mambarec": MambaRecConfig, "mgcn": MGCNConfig, "pop": PopConfig, "bpr": BPRConfig,
    "lightgcn": LightGCNConfig, "vbpr": VBPRConfig, "freedom": FreedomConfig,
}
MODELS = tuple(MODEL_CONFIGS)
DEVICES = ("auto", "cpu", "cuda")
COMPILE_CHOICES = ("none", "dream")  # what TrainConfig.compile may put through torch.compile
# Training schedules (docs/model.md section 6 for the paper's; docs/protocol.md section 8 for both): the values a
# schedule preset gives TrainConfig's fields.
# "paper" is the paper's (lr 1e-3, batch 2048); "fast" converges in fewer epochs, "large-batch" in fewer CPU
# seconds (each step propagates the whole graph and encodes every item, so four times fewer steps make an ml100k
# epoch about three times cheaper). Both were chosen on validation data only (docs/protocol.md sections 5 and 8)
# and are checked against "paper" over seeds (REPORT.md, "Schedules").
SCHEDULES: dict[str, dict[str, Any]] = {
    "paper": {"learning_rate": 1e-3, "batch_size": 2048, "warmup_epochs": 0},
    "fast": {"learning_rate": 4e-3, "batch_size": 2048, "warmup_epochs": 0},
    "large-batch": {"learning_rate": 4e-3, "batch_size": 8192, "warmup_epochs": 0},
}
PAPER_SCHEDULE = SCHEDULES["paper"]  # TrainConfig's defaults
SCHEDULE_FIELDS = tuple(dict.fromkeys(f for preset in SCHEDULES.values() for f in preset))  # what a preset sets

SEED_MAX = INT_LIMIT  # torch takes seeds up to 2**64 - 1; a browser's number box holds integers exactly up to 2**53 - 1


@dataclass(frozen=True)
class TrainConfig:
    """The training loop (docs/model.md section 6)."""

    schedule: str = param("paper", "the schedule preset that sets the learning rate, batch size and warm-up: paper "
                          "(the paper's), fast (fewer epochs to converge) or large-batch (fewer CPU seconds to "
                          "converge); any of the three given beside it overrides the preset, and the run's label "
                          "names it", choices=tuple(SCHEDULES))
    epochs: int = param(1000, "maximum epochs", low=1)
    batch_size: int = param(PAPER_SCHEDULE["batch_size"], "interactions per batch (also the L2 divisor, as released)",
                            low=1)
    learning_rate: float = param(PAPER_SCHEDULE["learning_rate"], "Adam learning rate", symbol="lr", low=0.0,
                                 low_open=True)
    lr_decay: float = param(0.96, "learning-rate decay: lr x lr_decay ** (epoch / lr_decay_epochs), every epoch",
                            low=0.0, high=1.0, low_open=True)
    lr_decay_epochs: int = param(50, "period of the learning-rate decay, in epochs", low=1)
    warmup_epochs: int = param(PAPER_SCHEDULE["warmup_epochs"], "linear learning-rate warm-up over this many epochs "
                               "(0: none)", low=0)
    patience: int = param(20, "early stop after patience + 1 epochs without a strictly better valid Recall@20",
                          low=0)
    eval_every: int = param(1, "evaluate on valid every N epochs", low=1)
    seed: int = param(2026, "seeds every random draw of the run (initialization, shuffling, negatives, dropout)",
                      low=0, high=SEED_MAX)
    device: str = param("auto", "auto (CUDA when available), cpu or cuda", choices=DEVICES)
    compile: str = param("none", "none, or dream: each DREAM block through torch.compile (needs a C++ compiler; the "
                         "first step compiles for ~25 s, then a Baby-sized epoch takes a quarter less time; on ml100k "
                         "only r <= 2 gains). The same mathematics, rounded differently", choices=COMPILE_CHOICES)
    eval_batch_users: int = param(2048, "users scored per evaluation block on the CPU (peak memory ~ users x items "
                                  "x 4 bytes); on CUDA the default sizes blocks from the free GPU memory and another "
                                  "value caps them", low=1)

    def __post_init__(self) -> None:
        check(self)

    @property
    def stall_epochs(self) -> int:
        """Epochs without a better valid Recall@20 that end a run: patience counts evaluations (patience + 1 of
        them), one every ``eval_every`` epochs."""
        return (self.patience + 1) * self.eval_every


# Datasets on which a faster schedule was shown safe against the paper's (REPORT.md, "Schedules": the paired 95%
# interval of it - paper holds 0 and lies within +-3% for `paper` and `mgcn`), and that schedule: the app trains live
# runs there with it; elsewhere the paper's schedule is the default. None yet: on ml100k `fast` failed (`mgcn`'s
# test Recall@20 -1.5% [-3.1%, +0.0%] over seeds 0-4 and NDCG@20 -2.1% [-3.4%, -0.7%]; `paper` gained +6.0%
# [+1.8%, +10.2%]), so the app does not use it by default.
VALIDATED_SCHEDULES: dict[str, str] = {}


def without_compile(train: TrainConfig, model: Any) -> TrainConfig:
    """``train`` with compile off where ``model`` has no DREAM to compile (the pair RunConfig refuses); else as is."""
    if train.compile != "none" and not getattr(model, "use_dream", False):
        return dataclasses.replace(train, compile="none")
    return train


def with_schedule(train: TrainConfig, schedule: str) -> TrainConfig:
    """``train`` under another schedule preset: the preset's learning rate, batch size and warm-up, every other
    setting kept (the app's form and a link's ``schedule`` read it alike)."""
    kept = {f.name: getattr(train, f.name) for f in dataclasses.fields(TrainConfig)
            if f.name not in (*SCHEDULE_FIELDS, "schedule")}
    return train_preset(schedule, **kept)


def default_schedule(dataset: str) -> str:
    """The schedule a live run on ``dataset`` uses by default: the one validated there, else ``paper``."""
    return VALIDATED_SCHEDULES.get(dataset, "paper")


def train_preset(schedule: str = "paper", **overrides: Any) -> TrainConfig:
    """A TrainConfig from a schedule preset plus overrides; unknown keys raise ConfigError."""
    if schedule not in SCHEDULES:
        raise ConfigError(f"schedule must be one of {choices_text(SCHEDULES)}; got {schedule!r}", "schedule")
    return build(TrainConfig, {**SCHEDULES[schedule], "schedule": schedule, **overrides}, "train")


def default_model_config(model_name: str) -> Any:
    """The default config of ``model_name`` (MambaRec: the ``paper`` preset)."""
    if model_name not in MODEL_CONFIGS:
        raise ConfigError(f"model_name must be one of {choices_text(MODELS)}; got {model_name!r}")
    return MODEL_CONFIGS[model_name]()


@dataclass(frozen=True)
class RunConfig:
    """One run: dataset, model name, that model's config and the training settings."""

    dataset: str = param("synthetic", "a dataset name (synthetic, ml100k, synthetic/cold-items, ...) or the path "
                         "of an MMRec-format folder")
    model_name: str = param("mambarec", "which model trains", choices=MODELS)
    model: Any = field(default_factory=MambaRecConfig)  # the config of model_name's model
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.model_name not in MODEL_CONFIGS:
            raise ConfigError(f"model_name must be one of {choices_text(MODELS)}; got {self.model_name!r}")
        expected = MODEL_CONFIGS[self.model_name]
        if not isinstance(self.model, expected):
            raise ConfigError(f"model {self.model_name!r} takes a {expected.__name__}, got "
                              f"{type(self.model).__name__}")
        if without_compile(self.train, self.model) != self.train:
            raise ConfigError(f"compile 'dream' compiles DREAM, but this {self.model_name} model has none "
                              "(use_dream is off or the model lacks it); set compile to none")

    @property
    def variant(self) -> str | None:
        """The MambaRec preset, or None for the other models."""
        return getattr(self.model, "variant", None)

    def to_dict(self) -> dict[str, Any]:
        return {"config_version": CONFIG_VERSION, "dataset": self.dataset, "model_name": self.model_name,
                "model": _plain(dataclasses.asdict(self.model)), "train": dataclasses.asdict(self.train)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """A RunConfig from ``to_dict``'s output, of this or an older ``config_version``."""
        if not isinstance(data, dict):
            raise ConfigError(f"a run config must be a JSON object, got {type(data).__name__}")
        version = data.get("config_version", 1)
        if version == 1:
            data = migrate_v1(data)
        elif version != CONFIG_VERSION:
            raise ConfigError(f"config_version {version!r} is not one this mambarec reads (1 or {CONFIG_VERSION}); "
                              "upgrade mambarec")
        reject_unknown(_RunKeys, data, "run config")
        model_name = data.get("model_name", "mambarec")
        if model_name not in MODEL_CONFIGS:
            raise ConfigError(f"model_name must be one of {choices_text(MODELS)}; got {model_name!r}")
        return cls(dataset=data.get("dataset", "synthetic"), model_name=model_name,
                   model=build(MODEL_CONFIGS[model_name], data.get("model", {}), "model"),
                   train=build(TrainConfig, data.get("train", {}), "train"))


@dataclass(frozen=True)
class _RunKeys:  # the keys a version-2 run config may hold
    config_version: int = CONFIG_VERSION
    dataset: str = ""
    model_name: str = ""
    model: Any = None
    train: Any = None


def _plain(values: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


# ---- from flags and URL parameters ---------------------------------------------------------------
# MambaRec's parts on MGCN: the `backbone` variant (the same computation as MGCN with the parts off)
MGCN_PARTS_HINT = "To start from MGCN and switch MambaRec's parts on, use model 'mambarec' with variant 'backbone'."
MGCN_ALIAS_NOTE = f"variant 'mgcn' is an alias of model 'mgcn': MGCN has its own config (MGCNConfig). {MGCN_PARTS_HINT}"


def make_run(dataset: str = "synthetic", model_name: str = "mambarec", variant: str | None = None,
             model: dict | None = None, train: dict | None = None, spell=str) -> tuple[RunConfig, list[str]]:
    """A RunConfig from explicitly given values (CLI flags, URL parameters), and notes to show the user.

    A value given for a field that ``model_name``'s config does not have is an error that names the
    model's fields, never silently ignored. ``variant`` applies to MambaRec; ``variant = "mgcn"`` is an
    alias of ``model_name = "mgcn"`` (with a note). ``spell`` writes a field's name as the user typed it
    (``--lambda-mmd`` on the command line).
    """
    notes: list[str] = []
    model = dict(model or {})
    if variant == "mgcn":
        if model_name not in ("mambarec", "mgcn"):
            raise ConfigError(f"variant 'mgcn' means model 'mgcn', but model {model_name!r} was asked for; leave "
                              "the variant out, or ask for model 'mgcn'")
        if model_name == "mambarec":  # `--model mgcn --variant mgcn` (the README's command) says it already
            notes.append(MGCN_ALIAS_NOTE)
        model_name, variant = "mgcn", None
    if model_name not in MODEL_CONFIGS:
        raise ConfigError(f"model_name must be one of {choices_text(MODELS)}; got {model_name!r}")
    cls = MODEL_CONFIGS[model_name]
    if variant is not None and model_name != "mambarec":
        raise ConfigError(f"variant applies to model 'mambarec' only; model {model_name!r} has no variants")
    known = [f.name for f in dataclasses.fields(cls)]
    foreign = sorted(k for k in model if k not in known)
    if foreign:
        raise ConfigError(f"{', '.join(map(spell, foreign))} do{'es' if len(foreign) == 1 else ''} not apply to "
                          f"model {model_name!r}; its own: {', '.join(map(spell, known)) or 'none'}"
                          + (f". {MGCN_PARTS_HINT}" if model_name == "mgcn" else ""))
    config = mambarec_preset(variant or "paper", **model) if model_name == "mambarec" else build(cls, model, "model")
    train = dict(train or {})
    return RunConfig(dataset=dataset, model_name=model_name, model=config,
                     train=train_preset(train.pop("schedule", "paper"), **train)), notes


# ---- version 1 -----------------------------------------------------------------------------------
_MGCN_OWN = tuple(f.name for f in dataclasses.fields(MGCNConfig))


def migrate_v1(data: dict) -> dict:
    """A version-1 run config as version 2.

    Version 1 stored one MambaRec-shaped ``model`` dict for every model. The baselines used only its
    ``embedding_dim`` (and MGCN its ``knn_k``) with fixed defaults for the rest, which is what they get
    here. ``mgcn`` was both a model and a MambaRec variant: a config of the MGCN preset becomes
    ``model_name = "mgcn"`` when MGCNConfig can say everything it says, otherwise MambaRec's
    ``backbone`` variant with the same fields (the same computation).
    """
    reject_unknown(_RunKeys, {k: v for k, v in data.items() if k != "config_version"}, "run config")
    model_name = data.get("model_name", "mambarec")
    m = dict(data.get("model", {}))
    reject_unknown(MambaRecConfig, {k: v for k, v in m.items() if k != "variant"}, "model")
    out = {"config_version": CONFIG_VERSION, "dataset": data.get("dataset", "synthetic"),
           "train": data.get("train", {})}
    if m.get("variant") == "mgcn" and model_name in ("mambarec", "mgcn"):
        preset = {k: v for k, v in variant_defaults("backbone").items() if k != "variant"}
        values = {**dataclasses.asdict(mambarec_preset("backbone")), **m, "variant": "backbone"}
        others_at_preset = all(_same(values[k], preset[k]) for k in preset if k not in _MGCN_OWN)
        others_at_preset &= all(_same(values[k], v) for k, v in dataclasses.asdict(MambaRecConfig()).items()
                                if k not in preset and k not in _MGCN_OWN and k != "variant")
        if others_at_preset:
            return {**out, "model_name": "mgcn", "model": {k: values[k] for k in _MGCN_OWN}}
        return {**out, "model_name": "mambarec", "model": values}
    if model_name == "mambarec":
        return {**out, "model_name": "mambarec", "model": m}
    dim = {"embedding_dim": m["embedding_dim"]} if "embedding_dim" in m else {}
    if model_name == "mgcn":  # the v1 builder applied the MGCN preset, keeping d and k
        return {**out, "model_name": "mgcn", "model": {**dim, **({"knn_k": m["knn_k"]} if "knn_k" in m else {})}}
    if model_name == "pop":
        return {**out, "model_name": "pop", "model": {}}
    if model_name in MODEL_CONFIGS:
        return {**out, "model_name": model_name, "model": dim}
    raise ConfigError(f"model_name must be one of {choices_text(MODELS)}; got {model_name!r}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


__all__ = ["TrainConfig", "RunConfig", "MODEL_CONFIGS", "MODELS", "CONFIG_VERSION", "default_model_config",
           "SCHEDULES", "SCHEDULE_FIELDS", "train_preset", "with_schedule", "default_schedule", "VALIDATED_SCHEDULES",
           "migrate_v1", "make_run", "MGCN_ALIAS_NOTE"]
