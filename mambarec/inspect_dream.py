"""Look inside DREAM for one item (docs/model.md section 3 and docs/departures.md section 2).

``inspect_item`` runs one item's DREAM input through the module and returns every intermediate
the paper names: the five branch outputs (per channel and averaged over channels), the channel
attention M_c, the spatial attention M_s, the concatenation F and the output, plus the map shape
and each branch's receptive field around a chosen centre position.

``centre_tap_equivalence`` is the released-code finding of section 4 in numbers: on a C x 1 x 1
map every off-centre tap of a dilated 3x3 conv lands in the zero padding, so the branch equals a
1x1 conv that keeps only the centre tap (max abs difference ~0), and the off-centre taps
(C x C x 8 per branch: 98,304 of 141,056 DREAM parameters at C = 64) never receive a gradient.
On the paper's C x H x W maps the same comparison shows how much the off-centre taps contribute.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mambarec.model.base import eval_mode
from mambarec.model.dream import ConvBranch, Dream, PoolBranch

BRANCH_ORDER = ("conv1x1", "dilated_1", "dilated_2", "dilated_3", "pool")
# a dilated branch "is" its centre tap when the two outputs differ by no more than float32 rounding, relative to the
# output's size (one product summed in two orders differs in the last ~2 of float32's ~7 digits)
CENTRE_TAP_RTOL = 1e-5


@dataclass(frozen=True)
class ReceptiveField:
    """The map positions one branch reads to produce its output at ``centre``."""

    branch: str
    kernel: int  # 1 or 3 (0 for the global-pool branch, which reads every position)
    dilation: int
    centre: tuple[int, int]
    positions: tuple[tuple[int, int], ...]  # (row, col) taps that fall inside the map
    outside: int  # taps that fall in the zero padding (outside the H x W map)


@dataclass
class DreamInspection:
    """Everything DREAM computes for one item of one modality (arrays are numpy, float32)."""

    item: int
    modality: str
    style: str  # attention style: "paper" or "official"
    shape: tuple[int, int, int]  # (C, H, W) of the input map
    input: np.ndarray  # (C, H, W)
    branches: dict[str, np.ndarray]  # name -> (C, H, W) branch output (after BN + ReLU)
    branch_means: dict[str, np.ndarray]  # name -> (H, W), averaged over channels
    labels: dict[str, str]  # name -> readable label, e.g. "3x3, dilation 6"
    channel_attention: np.ndarray | None  # M_c: (n_branches, C) weights (paper) or (1, 1) scalar (official)
    spatial_attention: np.ndarray | None  # M_s: (H, W)
    concat: np.ndarray  # F: (n_branches * C, H, W)
    output: np.ndarray  # (C, H, W) DREAM output
    receptive_fields: dict[str, ReceptiveField] = field(default_factory=dict)


@dataclass(frozen=True)
class BranchEquivalence:
    branch: str
    dilation: int
    max_abs_diff: float  # max |dilated 3x3 conv(x) - centre-tap 1x1 conv(x)| over the inputs
    max_abs_output: float  # max |dilated 3x3 conv(x)|, the scale the difference is measured against
    dead_taps: int  # off-centre taps that can never land inside the map
    dead_params: int  # weights of those taps: C_out x C_in x dead_taps
    max_dead_grad: float | None  # max |gradient| reaching those weights in a backward pass (0 when dead)
    dead_drift: float | None = None  # max |w - w_init| over the dead taps (None: no initial model given)
    live_drift: float | None = None  # max |w - w_init| over the taps that touch the map


@dataclass(frozen=True)
class Equivalence:
    """``centre_tap_equivalence`` for one modality's DREAM."""

    modality: str
    shape: tuple[int, int, int]
    n_inputs: int
    branches: tuple[BranchEquivalence, ...]
    n_params: int  # every DREAM parameter
    n_dead_params: int  # parameters that never receive a gradient (off-centre taps that miss the map)

    @property
    def all_identical(self) -> bool:
        """Every dilated branch is exactly its centre tap (up to float32 rounding)."""
        return all(b.max_abs_diff <= CENTRE_TAP_RTOL * max(1.0, b.max_abs_output) for b in self.branches)

    def summary(self) -> str:
        """The finding in one or two sentences, its numbers as the inspector's table prints them (3 significant
        digits): "at most 10" under a table that said 10.5 read as a misquote, and "at most 1.5e+02" as small."""
        worst = max((b.max_abs_diff for b in self.branches), default=0.0)
        reach = max((b.max_abs_output for b in self.branches), default=0.0)
        text = (f"Over {self.n_inputs:,} items the dilated branches differ from their centre-tap 1x1 conv by at most "
                f"{worst:.3g}, float rounding: they are 1x1 convolutions." if self.all_identical else
                f"Over {self.n_inputs:,} items the dilated branches differ from their centre-tap 1x1 conv by up to "
                f"{worst:.3g} (their outputs reach {reach:.3g}): on these maps the off-centre taps read real "
                "positions.")
        text += (f" {self.n_dead_params:,} of {self.n_params:,} DREAM parameters "
                 f"({self.n_dead_params / max(self.n_params, 1):.1%}) can never receive a gradient.")
        moved = [b for b in self.branches if b.dead_drift is not None]
        if moved:
            dead = max(b.dead_drift for b in moved)
            text += (f" After training, the dead taps moved {'not at all' if dead == 0 else f'by at most {dead:.3g}'}"
                     f" from their initial values, the live ones by up to {max(b.live_drift for b in moved):.3g}.")
        return text


# ---- finding DREAM in a model ---------------------------------------------------------------
def dream_modules(model: nn.Module) -> dict[str, Dream]:
    """modality -> its DREAM module; empty for models without DREAM (MGCN, the baselines)."""
    encoders = getattr(model, "encoders", None)
    if encoders is None:
        return {}
    return {m: enc.dream for m, enc in encoders.items() if getattr(enc, "dream", None) is not None}


def _dream(model: nn.Module, modality: str) -> Dream:
    dreams = dream_modules(model)
    if modality not in dreams:
        have = sorted(dreams) or "none (this model has no DREAM: use_dream=False or a baseline)"
        raise ValueError(f"no DREAM for modality {modality!r}; modalities with DREAM: {have}")
    return dreams[modality]


@torch.no_grad()
def dream_input(model: nn.Module, modality: str, items=None) -> torch.Tensor:
    """The flat (n, C*H*W) maps DREAM receives for ``items`` (all items when None).

    Paper layout: the reduced feature (D_V / r) reshaped to C x H x W; released code: the
    projected d-dim feature as d x 1 x 1.
    """
    _dream(model, modality)
    encoder = model.encoders[modality]
    x = model.features[modality].weight
    if items is not None:
        x = x[torch.as_tensor(items, dtype=torch.long, device=x.device).reshape(-1)]
    if encoder.dream_on_map:
        return encoder.reduce(x) if encoder.reduce is not None else x
    return encoder._linear_chain(x)


def branch_dilation(branch: nn.Module) -> tuple[int, int]:
    """(kernel, dilation) of a branch; (0, 0) for the global-pool branch."""
    if isinstance(branch, PoolBranch):
        return 0, 0
    return int(branch.conv.kernel_size[0]), int(branch.dilation)


def branch_label(name: str, branch: nn.Module) -> str:
    kernel, dilation = branch_dilation(branch)
    if kernel == 0:
        return "global pool + 1x1"
    if kernel == 1:
        return "1x1 conv"
    return f"3x3, dilation {dilation}"


# ---- receptive fields -----------------------------------------------------------------------
def receptive_field(hw: tuple[int, int], centre: tuple[int, int], kernel: int, dilation: int,
                    branch: str = "") -> ReceptiveField:
    """Positions a ``kernel`` x ``kernel`` conv at ``dilation`` reads for output ``centre``, clipped to the map.

    ``kernel = 0`` stands for the global-pool branch: every position.
    """
    h, w = hw
    r, c = centre
    if not (0 <= r < h and 0 <= c < w):
        raise ValueError(f"centre {centre} is outside the {h} x {w} map")
    if kernel == 0:
        cells = tuple((i, j) for i in range(h) for j in range(w))
        return ReceptiveField(branch, 0, 0, (r, c), cells, 0)
    half = kernel // 2
    taps = [(r + dy * dilation, c + dx * dilation) for dy in range(-half, half + 1) for dx in range(-half, half + 1)]
    inside = tuple(t for t in taps if 0 <= t[0] < h and 0 <= t[1] < w)
    return ReceptiveField(branch, kernel, dilation, (r, c), inside, len(taps) - len(inside))


def dead_taps(hw: tuple[int, int], kernel: int, dilation: int) -> int:
    """Taps of a dilated conv that miss the map from every output position (never any gradient).

    Tap (dy, dx) reads row i + dy * dilation: some output row uses it iff |dy| * dilation < H.
    """
    if kernel <= 1:
        return 0
    return int(_dead_mask(kernel, dilation, hw).sum())


# ---- one item -------------------------------------------------------------------------------
def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().float().numpy()


@torch.no_grad()
def inspect_item(model: nn.Module, item: int, modality: str = "visual",
                 centre: tuple[int, int] | None = None) -> DreamInspection:
    """Run ``item``'s ``modality`` feature through DREAM in eval mode and return every part.

    ``centre`` (row, col) is the output position whose receptive fields are reported; default
    the map's middle. The model's train/eval mode is restored afterwards.
    """
    dream = _dream(model, modality)
    n_items = model.features[modality].weight.shape[0]
    if not 0 <= int(item) < n_items:
        raise ValueError(f"item {item} is outside 0..{n_items - 1}")
    with eval_mode(model):
        x = dream_input(model, modality, [int(item)])
        out, parts = dream(x, return_parts=True)
    c, h, w = dream.shape
    centre = centre if centre is not None else (h // 2, w // 2)
    branches = {name: _np(t[0]) for name, t in parts["branches"].items()}
    att = parts["attention"]
    channel = None
    if "channel" in att:
        weights = _np(att["channel"][0]).reshape(-1)
        channel = weights.reshape(len(branches), c) if weights.size == len(branches) * c else weights.reshape(1, -1)
    spatial = _np(att["spatial"][0, 0]) if "spatial" in att else None
    fields_ = {}
    labels = {}
    for name, branch in dream.branches.items():
        kernel, dilation = branch_dilation(branch)
        fields_[name] = receptive_field((h, w), centre, kernel, dilation, name)
        labels[name] = branch_label(name, branch)
    return DreamInspection(
        item=int(item), modality=modality, style=dream.style, shape=(c, h, w), input=_np(x[0].reshape(c, h, w)),
        branches=branches, branch_means={k: v.mean(axis=0) for k, v in branches.items()}, labels=labels,
        channel_attention=channel, spatial_attention=spatial, concat=_np(parts["concat"][0]),
        output=_np(out[0].reshape(c, h, w)), receptive_fields=fields_,
    )


# ---- the released code's 1x1 maps -----------------------------------------------------------
def _full_conv(branch: ConvBranch, x: torch.Tensor) -> torch.Tensor:
    """The branch's 3x3 dilated conv as nn.Conv2d computes it: all nine taps, zero padding."""
    return branch.conv(x)


def _centre_tap_conv(branch: ConvBranch, x: torch.Tensor) -> torch.Tensor:
    c = branch.conv.kernel_size[0] // 2
    return F.conv2d(x, branch.conv.weight[:, :, c:c + 1, c:c + 1], branch.conv.bias)


def dream_parameter_count(dream: Dream) -> int:
    return sum(p.numel() for p in dream.parameters())


def centre_tap_equivalence(model: nn.Module, modality: str = "visual", items=None,
                           check_gradients: bool = True, initial: nn.Module | None = None) -> Equivalence:
    """Compare each dilated 3x3 branch with a 1x1 conv made of its centre tap, on real DREAM inputs.

    For every dilated branch: the max abs difference between the full conv (all nine taps, zero
    padding, as ``nn.Conv2d`` computes it) and the centre-tap 1x1 conv over ``items`` (all items
    when None); how many taps and weights can never touch the map; and, with
    ``check_gradients``, the largest gradient that a backward pass through the full conv sends
    to those weights (exactly 0 when they are dead). With ``initial`` (the same run freshly
    initialized, e.g. ``recommend.initial_model(run, dataset)``) also how far training moved the dead
    and the live taps: dead taps stay exactly at their initial values. On C x 1 x 1 maps (released
    code) every difference is 0 and 8 of 9 taps per branch are dead; on the paper's C x H x W maps
    they are not. Weights are not modified.
    """
    initial_dream = _dream(initial, modality) if initial is not None else None
    dream = _dream(model, modality)
    c, h, w = dream.shape
    x = dream_input(model, modality, items).detach().reshape(-1, c, h, w)
    results = []
    for name in BRANCH_ORDER:
        branch = dream.branches[name] if name in dream.branches else None
        kernel, dilation = branch_dilation(branch) if branch is not None else (0, 0)
        if branch is None or kernel <= 1:
            continue
        with torch.no_grad():
            full = _full_conv(branch, x)
            centre = _centre_tap_conv(branch, x)
        taps = dead_taps((h, w), kernel, dilation)
        max_grad = None
        if check_gradients and taps:
            max_grad = _max_dead_gradient(branch, x, (h, w))
        drift = (None, None)
        if initial_dream is not None and name in initial_dream.branches:
            drift = _drift(branch.conv.weight, initial_dream.branches[name].conv.weight, (h, w), dilation)
        results.append(BranchEquivalence(
            branch=name, dilation=dilation, max_abs_diff=float((full - centre).abs().max()),
            max_abs_output=float(full.abs().max()), dead_taps=taps,
            dead_params=taps * branch.conv.weight.shape[0] * branch.conv.weight.shape[1],
            max_dead_grad=max_grad, dead_drift=drift[0], live_drift=drift[1],
        ))
    return Equivalence(modality=modality, shape=(c, h, w), n_inputs=int(x.shape[0]), branches=tuple(results),
                       n_params=dream_parameter_count(dream), n_dead_params=sum(b.dead_params for b in results))


def _dead_mask(kernel: int, dilation: int, hw: tuple[int, int]) -> torch.Tensor:
    """(kernel, kernel) True where the tap misses the map from every output position."""
    half = kernel // 2
    offsets = torch.arange(-half, half + 1).abs() * dilation
    return (offsets[:, None] >= hw[0]) | (offsets[None, :] >= hw[1])


def _max_dead_gradient(branch: ConvBranch, x: torch.Tensor, hw: tuple[int, int]) -> float:
    """Backward a generic loss through the full conv; the max |grad| on the taps that miss the map."""
    weight = branch.conv.weight.detach().clone().requires_grad_(True)
    pad, dil = branch.conv.padding, branch.conv.dilation
    y = F.conv2d(x, weight, branch.conv.bias.detach() if branch.conv.bias is not None else None,
                 padding=pad, dilation=dil)
    # A loss whose gradient w.r.t. y is non-zero everywhere, so every live tap gets a gradient.
    (y.square().sum() + y.sum()).backward()
    mask = _dead_mask(weight.shape[-1], int(dil[0]), hw)
    return float(weight.grad[:, :, mask].abs().max()) if mask.any() else 0.0


def _drift(weight: torch.Tensor, initial: torch.Tensor, hw: tuple[int, int], dilation: int) -> tuple:
    """(max |w - w0| over dead taps or None when none is dead, max |w - w0| over live taps)."""
    diff = (weight.detach().cpu() - initial.detach().cpu()).abs()
    mask = _dead_mask(weight.shape[-1], dilation, hw)
    dead = float(diff[:, :, mask].max()) if mask.any() else None
    return dead, float(diff[:, :, ~mask].max())
