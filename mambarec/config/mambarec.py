"""MambaRec's config and its variant presets (docs/model.md section 7, docs/departures.md sections 1 and 6).

Defaults are the ``paper`` variant. A preset fills in defaults and nothing else, so any field can be
set in any variant:
* ``paper``: MambaRec as the paper describes it;
* ``official``: as the released code computes it, quirks included;
* ``backbone``: every MambaRec extra off, i.e. MGCN computed through MambaRec's own model. It equals
  ``--model mgcn`` (``MGCNConfig``) bit for bit, and is where the "bridge" cells start from to switch
  the paper's parts on one at a time.
A version-1 config with ``variant = "mgcn"`` is read as ``backbone`` (``mambarec.config.run``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mambarec.config.fields import ConfigError, build, check, choices_text, param

VARIANTS = ("paper", "official", "backbone")
REDUCTION_FACTORS = (1, 2, 4, 8, 16, 32)
# The MMD's smallest bandwidth: its kernel divides by 2 sigma^2, which leaves float32's range below ~4e-20 (a crash
# in the loss, audit r75); at 1e-6 the kernel of any two distinct embeddings is already 0.
SIGMA_MIN = 1e-6
BRANCHES = ("branch_conv1x1", "branch_dilated_1", "branch_dilated_2", "branch_dilated_3", "branch_pool")  # DREAM's


@dataclass(frozen=True)
class MambaRecConfig:
    """MambaRec and every ablation switch. Defaults: the ``paper`` variant."""

    variant: str = param("paper", "preset the defaults came from: paper (as described), official (as released), "
                         "backbone (every extra off: MGCN through MambaRec's code)", choices=VARIANTS)
    embedding_dim: int = param(64, "user/item ID embedding size and the working size", symbol="d", low=1)
    n_ui_layers: int = param(4, "LightGCN layers on the user-item graph", symbol="L", low=0)
    n_mm_layers: int = param(1, "propagation layers on each modality's item-item graph", low=0)
    knn_k: int = param(10, "neighbours per item in the per-modality k-NN item-item graphs", symbol="k", low=1)
    reduction_factor: int = param(8, "visual features D_V -> D_V / r (r = 1 skips the reduction layer)", symbol="r",
                                  choices=REDUCTION_FACTORS)
    text_path: str = param("reduced", "text 384 -> D_V / r (reduced, paper) or 384 -> d (direct, released code)",
                           choices=("reduced", "direct"))
    freeze_features: bool = param(True, "keep the raw feature tables fixed (paper); the released code trains them")
    # DREAM (Dilated REfinement Attention Module)
    use_dream: bool = param(True, "DREAM on; off: the projected features go straight on")
    dream_map: str = param("map", "DREAM's input: D_V / r reshaped to C x H x W (map, paper) or d x 1 x 1 (vector, "
                           "released code)", choices=("map", "vector"))
    dream_side: int = param(8, "largest H = W tried for the C x H x W map (512 = 8 x 8 x 8)", low=1)
    dilation_rates: tuple[int, int, int] = param((1, 2, 3), "dilation of the three 3x3 branches", low=1)
    branch_conv1x1: bool = param(True, "branch (1): 1x1 conv")
    branch_dilated_1: bool = param(True, "branch (2): 3x3 conv at dilation_rates[0]")
    branch_dilated_2: bool = param(True, "branch (3): 3x3 conv at dilation_rates[1]")
    branch_dilated_3: bool = param(True, "branch (4): 3x3 conv at dilation_rates[2]")
    branch_pool: bool = param(True, "branch (5): global average pool -> 1x1 conv -> upsample")
    channel_attention: bool = param(True, "channel attention on; off: replaced by ones", symbol="M_c")
    spatial_attention: bool = param(True, "spatial attention on; off: replaced by ones", symbol="M_s")
    attention_style: str = param("paper", "paper: FC-ReLU-FC-sigmoid and channel mean -> conv -> sigmoid; official: "
                                 "as released (one ReLU scalar per item, a learned 1x1 conv)",
                                 choices=("paper", "official"))
    attention_reduction: int = param(4, "bottleneck ratio of the channel attention's FC layers (paper style)", low=1)
    fusion: str = param("max", "how F_c and F_s are fused", choices=("max", "mean", "sum"))
    bn_momentum: float = param(0.1, "BatchNorm momentum in DREAM (official: 0.19 reproduces its double pass)",
                               low=0.0, high=1.0, low_open=True)
    # modal feature post-processing
    modal_norm_dropout: bool = param(True, "one shared LayerNorm + dropout on both modal features")
    dropout: float = param(0.2, "dropout probability when modal_norm_dropout is on", symbol="p", low=0.0, high=1.0,
                           high_open=True)
    # losses
    reg_weight: float = param(1e-4, "L2 on the batch's final embeddings / batch size", symbol="lambda_reg", low=0.0)
    use_mmd: bool = param(True, "MMD distribution alignment on")
    lambda_mmd: float = param(0.15, "weight of the MMD loss", symbol="lambda_mmd", low=0.0)
    sigma: float = param(1.0, "Gaussian kernel bandwidth of the MMD", symbol="sigma", low=SIGMA_MIN)
    mmd_items: str = param("unique", "items the MMD compares: the batch's distinct positives (unique, paper) or its "
                           "positives with repeats (batch, released code)", choices=("unique", "batch"))
    use_cl: bool = param(True, "InfoNCE on")
    lambda_cl: float = param(0.01, "weight of the InfoNCE loss", symbol="lambda_cl", low=0.0)
    tau: float = param(0.01, "InfoNCE temperature", symbol="tau", low=0.0, low_open=True)
    cl_views: str = param("visual-text", "what InfoNCE contrasts: visual-text (paper), side-content (released code, "
                          "MGCN) or both", choices=("visual-text", "side-content", "both"))

    def __post_init__(self) -> None:
        check(self)
        if len(self.dilation_rates) != 3:
            raise ConfigError(f"dilation_rates must be three integers >= 1, got {self.dilation_rates!r}",
                              "dilation_rates")
        if self.use_dream and not any(self.dream_branches):
            raise ConfigError(f"DREAM needs at least one of its five branches switched on ({', '.join(BRANCHES)}); "
                              "switch one on, or switch use_dream off", mentions=(*BRANCHES, "use_dream"))

    @property
    def dream_branches(self) -> tuple[bool, bool, bool, bool, bool]:
        return tuple(getattr(self, name) for name in BRANCHES)


_OFFICIAL = dict(
    variant="official", text_path="direct", freeze_features=False, dream_map="vector", dilation_rates=(6, 12, 18),
    attention_style="official", bn_momentum=0.19, mmd_items="batch", tau=0.2, cl_views="side-content",
)
_BACKBONE = dict(
    _OFFICIAL, variant="backbone", use_dream=False, use_mmd=False, modal_norm_dropout=False, n_ui_layers=2,
    reduction_factor=1, bn_momentum=0.1,
)


def variant_defaults(variant: str) -> dict[str, Any]:
    """The fields a variant preset sets (docs/departures.md section 6)."""
    presets = {"paper": {"variant": "paper"}, "official": _OFFICIAL, "backbone": _BACKBONE}
    if variant not in presets:
        raise ConfigError(f"variant must be one of {choices_text(VARIANTS)}; got {variant!r}"
                          + ("; MGCN is its own model: --model mgcn" if variant == "mgcn" else ""), "variant")
    return dict(presets[variant])


def mambarec_preset(variant: str = "paper", **overrides: Any) -> MambaRecConfig:
    """A MambaRecConfig from a variant preset plus overrides; unknown keys raise ConfigError."""
    values = variant_defaults(variant)
    values.update(overrides)
    return build(MambaRecConfig, values, "model")


__all__ = ["MambaRecConfig", "VARIANTS", "REDUCTION_FACTORS", "variant_defaults", "mambarec_preset"]
