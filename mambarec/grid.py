"""The ablation grid of docs/protocol.md section 7 and docs/departures.md section 6 as data: which cells run,
with which seeds and budget.

``mambarec.precompute`` runs it; ``mambarec.report`` turns its rows into tables.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mambarec.config import ConfigError, RunConfig, TrainConfig, make_model_config


@dataclass(frozen=True)
class Budget:
    epochs: int  # maximum epochs per run
    patience: int  # early stop after patience + 1 epochs without a better valid Recall@20


# Short budgets, so the whole grid can aim at about an hour on 2 CPU cores (the manifest and REPORT.md
# record them); full training (docs/model.md section 6, docs/protocol.md section 5) runs up to 1000 epochs with
# patience 20.
# ml100k: the paper's patience 20, so no run stops inside the first epochs' dip: with 39 batches per
# epoch the MGCN-style models sit at BPR loss ~ln 2 for several epochs and valid Recall@20 falls below
# its epoch-1 value (popularity-like rankings from the graph) before it climbs; patience 5 stopped them there.
BUDGETS = {"synthetic": Budget(epochs=40, patience=5), "ml100k": Budget(epochs=20, patience=20)}
DEFAULT_BUDGET = Budget(epochs=30, patience=5)


@dataclass(frozen=True)
class Cell:
    """One configuration of the grid: a model, a variant preset and the fields it overrides."""

    name: str  # file-safe id: results rows, alignment/<dataset>/<name>_s<seed>.json
    label: str  # what it is, in the paper's words
    group: str  # table section of the report
    model_name: str = "mambarec"
    variant: str = "paper"
    overrides: tuple[tuple[str, Any], ...] = ()
    seeds: str = "first"  # "all": every seed; "first": the first seed only
    headline: bool = False  # alignment maps (and, on redistributable data, the checkpoint)

    def seed_list(self, seeds: list[int]) -> list[int]:
        return list(seeds) if self.seeds == "all" else list(seeds[:1])

    def run_config(self, dataset: str, seed: int, budget: Budget) -> RunConfig:
        return RunConfig(dataset=dataset, model_name=self.model_name,
                         model=make_model_config(self.variant, **dict(self.overrides)),
                         train=TrainConfig(epochs=budget.epochs, patience=budget.patience, seed=seed))

    def describe(self) -> dict:
        return {"label": self.label, "group": self.group, "model_name": self.model_name, "variant": self.variant,
                "overrides": dict(self.overrides), "seeds": self.seeds, "headline": self.headline}


def cell(name: str, label: str, group: str, *, variant: str = "paper", model_name: str = "mambarec",
         seeds: str = "first", headline: bool = False, **overrides: Any) -> Cell:
    return Cell(name, label, group, model_name, variant, tuple(sorted(overrides.items())), seeds, headline)


DREAM_BRANCHES = ("branch_conv1x1", "branch_dilated_1", "branch_dilated_2", "branch_dilated_3", "branch_pool")
GRID: tuple[Cell, ...] = (
    cell("paper", "MambaRec as the paper describes it", "variants", seeds="all", headline=True),
    cell("official", "MambaRec as the released code computes it", "variants", variant="official", seeds="all",
         headline=True),
    cell("mgcn", "MGCN (MMRec's configuration)", "variants", variant="mgcn", seeds="all", headline=True),
    cell("no_alignment", "paper without MMD and InfoNCE", "alignment", seeds="all", headline=True,
         use_mmd=False, use_cl=False),
    *(cell(f"no_{b}", f"paper without DREAM branch {b}", "dream branches", **{b: False}) for b in DREAM_BRANCHES),
    cell("no_channel_attention", "spatial attention alone", "attention", channel_attention=False),
    cell("no_spatial_attention", "channel attention alone", "attention", spatial_attention=False),
    cell("no_dream", "paper without DREAM", "attention", use_dream=False),
    cell("no_mmd", "InfoNCE alone (MMD off)", "alignment", use_mmd=False),
    cell("no_infonce", "MMD alone (InfoNCE off)", "alignment", use_cl=False),
    # r = 8 is the paper default: the `paper` cell is its row
    *(cell(f"r{r}", f"reduction factor r = {r}", "reduction", reduction_factor=r) for r in (1, 2, 4, 16)),
    cell("pop", "most popular", "baselines", model_name="pop", seeds="all"),
    cell("bpr", "BPR-MF", "baselines", model_name="bpr", seeds="all"),
    cell("lightgcn", "LightGCN", "baselines", model_name="lightgcn", seeds="all"),
    cell("vbpr", "VBPR", "baselines", model_name="vbpr", seeds="all"),
    cell("freedom", "FREEDOM", "baselines", model_name="freedom", seeds="all"),
)


def grid_cells(only: Iterable[str] | None = None) -> list[Cell]:
    """The grid, or the named subset of it (unknown names raise ConfigError)."""
    if only is None:
        return list(GRID)
    names = [n.strip() for n in only if n.strip()]
    known = {c.name: c for c in GRID}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown cell(s) {unknown}; the grid has {list(known)}")
    return [c for c in GRID if c.name in names]


def budget_for(dataset: str, epochs: int | None = None) -> Budget:
    budget = BUDGETS.get(dataset, DEFAULT_BUDGET)
    return dataclasses.replace(budget, epochs=epochs) if epochs is not None else budget
