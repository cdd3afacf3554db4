"""Frozen run configuration: every switch of the model, the losses and the trainer.

The field names here are the project's one vocabulary: CLI flags (``--lambda-mmd``), ``config.json``
keys and the app's URL parameters are all derived from them. Each field documents its type, its
default and the paper symbol it stands for (docs/model.md section 7, docs/departures.md section 6).

Three variant presets (docs/departures.md section 6) fill in defaults: ``paper`` (as the paper describes),
``official`` (as the released code computes it) and ``mgcn`` (MMRec's MGCN, the base of both).
Any field can be overridden in any variant, so any mix can be tried.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Any, get_origin

VARIANTS = ("paper", "official", "mgcn")
REDUCTION_FACTORS = (1, 2, 4, 8, 16, 32)
FUSIONS = ("max", "mean", "sum")
ATTENTION_STYLES = ("paper", "official")
DREAM_MAPS = ("map", "vector")
CL_VIEWS = ("visual-text", "side-content", "both")
MMD_ITEMS = ("unique", "batch")
TEXT_PATHS = ("reduced", "direct")
MODELS = ("mambarec", "pop", "bpr", "lightgcn", "vbpr", "freedom", "mgcn")


class ConfigError(ValueError):
    """A configuration value or key is wrong; the message says which and how to fix it."""


@dataclass(frozen=True)
class ModelConfig:
    """MambaRec and its ablations. Defaults are the ``paper`` variant (docs/departures.md section 6)."""

    variant: str = "paper"  # preset the defaults came from: paper | official | mgcn
    embedding_dim: int = 64  # d: user/item ID embedding size and the working size
    n_ui_layers: int = 4  # L: LightGCN layers on the user-item graph
    n_mm_layers: int = 1  # item-item graph propagation layers per modality
    knn_k: int = 10  # k of the per-modality item-item k-NN graphs
    reduction_factor: int = 8  # r: visual D_V -> D_V / r (r = 1 skips the reduction layer)
    text_path: str = "reduced"  # text 384 -> D_V/r ("reduced", paper) or 384 -> d ("direct", code)
    freeze_features: bool = True  # raw feature tables fixed (paper); the released code trains them
    # DREAM (Dilated REfinement Attention Module)
    use_dream: bool = True  # DREAM on/off (off: the projected features go straight on)
    dream_map: str = "map"  # "map": D_V/r reshaped to C x H x W (paper); "vector": d x 1 x 1 (code)
    dream_side: int = 8  # largest H = W tried for the C x H x W map (paper: 512 = 8 x 8 x 8)
    dilation_rates: tuple[int, int, int] = (1, 2, 3)  # dilation of the three 3x3 branches
    branch_conv1x1: bool = True  # branch (1): 1x1 conv
    branch_dilated_1: bool = True  # branch (2): 3x3 conv, dilation_rates[0]
    branch_dilated_2: bool = True  # branch (3): 3x3 conv, dilation_rates[1]
    branch_dilated_3: bool = True  # branch (4): 3x3 conv, dilation_rates[2]
    branch_pool: bool = True  # branch (5): global average pool -> 1x1 conv -> upsample
    channel_attention: bool = True  # M_c on/off (off: replaced by ones)
    spatial_attention: bool = True  # M_s on/off (off: replaced by ones)
    attention_style: str = "paper"  # "paper": FC-ReLU-FC-Sigmoid / mean-conv-sigmoid; "official": as released
    attention_reduction: int = 4  # channel-attention FC bottleneck ratio (paper style)
    fusion: str = "max"  # how F_c and F_s are fused: max (paper) | mean | sum
    bn_momentum: float = 0.1  # BatchNorm momentum in DREAM (official: 0.19 reproduces its double pass)
    # Modal feature post-processing
    modal_norm_dropout: bool = True  # one shared LayerNorm + dropout on both modal features
    dropout: float = 0.2  # dropout probability when modal_norm_dropout is on
    # Losses
    reg_weight: float = 1e-4  # lambda_reg: L2 on the batch's final embeddings / batch_size
    use_mmd: bool = True  # MMD distribution alignment on/off
    lambda_mmd: float = 0.15  # lambda_mmd
    sigma: float = 1.0  # sigma: Gaussian kernel bandwidth of the MMD
    mmd_items: str = "unique"  # items the MMD sees: "unique" positives (paper) or "batch" with repeats (code)
    use_cl: bool = True  # InfoNCE on/off
    lambda_cl: float = 0.01  # lambda_cl
    tau: float = 0.01  # tau: InfoNCE temperature
    cl_views: str = "visual-text"  # visual-text (paper) | side-content (code, MGCN) | both

    def __post_init__(self) -> None:
        _check_choice("variant", self.variant, VARIANTS)
        _check_choice("reduction_factor", self.reduction_factor, REDUCTION_FACTORS)
        _check_choice("text_path", self.text_path, TEXT_PATHS)
        _check_choice("dream_map", self.dream_map, DREAM_MAPS)
        _check_choice("attention_style", self.attention_style, ATTENTION_STYLES)
        _check_choice("fusion", self.fusion, FUSIONS)
        _check_choice("mmd_items", self.mmd_items, MMD_ITEMS)
        _check_choice("cl_views", self.cl_views, CL_VIEWS)
        if len(self.dilation_rates) != 3 or any(int(r) < 1 for r in self.dilation_rates):
            raise ConfigError(f"dilation_rates must be three integers >= 1, got {self.dilation_rates!r}")
        _check_positive("embedding_dim", self.embedding_dim)
        _check_positive("knn_k", self.knn_k)
        _check_positive("dream_side", self.dream_side)
        _check_positive("attention_reduction", self.attention_reduction)
        _check_positive("sigma", self.sigma)
        _check_positive("tau", self.tau)
        if self.n_ui_layers < 0 or self.n_mm_layers < 0:
            raise ConfigError("n_ui_layers and n_mm_layers must be >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 < self.bn_momentum <= 1.0:
            raise ConfigError(f"bn_momentum must be in (0, 1], got {self.bn_momentum}")
        if min(self.lambda_mmd, self.lambda_cl, self.reg_weight) < 0:
            raise ConfigError("lambda_mmd, lambda_cl and reg_weight must be >= 0")

    @property
    def dream_branches(self) -> tuple[bool, bool, bool, bool, bool]:
        return (self.branch_conv1x1, self.branch_dilated_1, self.branch_dilated_2,
                self.branch_dilated_3, self.branch_pool)


@dataclass(frozen=True)
class TrainConfig:
    """The training loop (docs/model.md section 6)."""

    epochs: int = 1000  # maximum epochs
    batch_size: int = 2048  # interactions per batch (also the L2 divisor, as released)
    learning_rate: float = 1e-3  # Adam learning rate
    lr_decay: float = 0.96  # lr x lr_decay ** (epoch / lr_decay_epochs), stepped every epoch
    lr_decay_epochs: int = 50
    patience: int = 20  # early stop after patience + 1 epochs without a strictly better valid Recall@20
    eval_every: int = 1  # evaluate on valid every N epochs
    seed: int = 2026  # seeds every random generator the run owns
    device: str = "auto"  # auto (CUDA when available) | cpu | cuda
    eval_batch_users: int = 2048  # users scored per evaluation batch (peak memory ~ users x items x 4 B)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "lr_decay_epochs", "eval_every", "eval_batch_users"):
            _check_positive(name, getattr(self, name))
        _check_positive("learning_rate", self.learning_rate)
        if self.patience < 0:
            raise ConfigError("patience must be >= 0")
        _check_choice("device", self.device, ("auto", "cpu", "cuda"))


@dataclass(frozen=True)
class RunConfig:
    """One run: which model, on which data, with which switches."""

    dataset: str = "synthetic"  # dataset name (synthetic, ml100k, ...) or an MMRec-format folder
    model_name: str = "mambarec"  # mambarec | pop | bpr | lightgcn | vbpr | freedom | mgcn
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        _check_choice("model_name", self.model_name, MODELS)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"a run config must be a JSON object, got {type(data).__name__}")
        _reject_unknown(cls, data, "run config")
        top = {k: v for k, v in data.items() if k not in ("model", "train")}
        return cls(
            model=_build(ModelConfig, data.get("model", {}), "model"),
            train=_build(TrainConfig, data.get("train", {}), "train"),
            **top,
        )


def variant_defaults(variant: str) -> dict[str, Any]:
    """The ModelConfig fields a variant preset sets (docs/departures.md section 6)."""
    _check_choice("variant", variant, VARIANTS)
    if variant == "paper":
        return {"variant": "paper"}
    official = dict(
        variant="official", text_path="direct", freeze_features=False, dream_map="vector", dilation_rates=(6, 12, 18),
        attention_style="official", bn_momentum=0.19, mmd_items="batch", tau=0.2,
        cl_views="side-content",
    )
    if variant == "official":
        return official
    return dict(
        official, variant="mgcn", use_dream=False, use_mmd=False, modal_norm_dropout=False,
        n_ui_layers=2, reduction_factor=1, bn_momentum=0.1,
    )


def make_model_config(variant: str = "paper", **overrides: Any) -> ModelConfig:
    """A ModelConfig from a variant preset plus overrides; unknown keys raise ConfigError."""
    values = variant_defaults(variant)
    values.update(overrides)
    return _build(ModelConfig, values, "model")


def field_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def coerce_field(cls: type, name: str, raw: Any) -> Any:
    """Convert a string (CLI flag, URL parameter) to the type of ``cls.name``."""
    ftype = {f.name: f.type for f in fields(cls)}[name]
    ftype = ftype if not isinstance(ftype, str) else _TYPE_NAMES.get(ftype, ftype)
    if not isinstance(raw, str):
        return raw
    try:
        if ftype in (bool, "bool"):
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if ftype in (int, "int"):
            return int(raw)
        if ftype in (float, "float"):
            return float(raw)
        if ftype in (str, "str"):
            return raw
        if str(ftype).startswith("tuple"):
            return tuple(int(p) for p in raw.replace(" ", "").strip("()").split(",") if p)
    except ValueError as exc:
        raise ConfigError(f"{name}: cannot read {raw!r} as {ftype}") from exc
    raise ConfigError(f"{name}: unsupported field type {ftype}")


_TYPE_NAMES = {"int": int, "float": float, "bool": bool, "str": str}


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    if isinstance(values, cls):
        return values
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(values).__name__}")
    _reject_unknown(cls, values, where)
    clean = {}
    for f in fields(cls):
        if f.name not in values:
            continue
        v = values[f.name]
        if isinstance(v, list) or (get_origin(f.type) is tuple or str(f.type).startswith("tuple")):
            v = tuple(int(x) for x in v) if isinstance(v, (list, tuple)) else coerce_field(cls, f.name, v)
        elif isinstance(v, str) and f.type not in (str, "str"):
            v = coerce_field(cls, f.name, v)
        clean[f.name] = v
    return cls(**clean)


def _reject_unknown(cls: type, values: dict[str, Any], where: str) -> None:
    known = set(field_names(cls))
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {unknown}. Known keys: {sorted(known)}"
        )


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {list(choices)}, got {value!r}")


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")


__all__ = [
    "ConfigError", "ModelConfig", "TrainConfig", "RunConfig", "make_model_config", "variant_defaults",
    "field_names", "coerce_field", "VARIANTS", "REDUCTION_FACTORS",
]
