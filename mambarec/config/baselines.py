"""The baselines' configs, with the defaults of their papers and of MMRec's configs (docs/protocol.md
section 6). One frozen dataclass per model; a run stores exactly the one that built its model.

MMRec's ``src/configs/model/<NAME>.yaml`` lists grids for ``reg_weight`` (and FREEDOM's
``dropout``) rather than single values; where it does, the help says the grid and the default is
the value used here.
"""

from __future__ import annotations

from dataclasses import dataclass

from mambarec.config.fields import check, param
from mambarec.config.mambarec import MambaRecConfig, mambarec_preset


@dataclass(frozen=True)
class PopConfig:
    """Most-popular ranking: nothing to configure."""

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True)
class BPRConfig:
    """BPR-MF (Rendle et al., UAI 2009), MMRec's ``BPR.yaml``."""

    embedding_dim: int = param(64, "user and item embedding size", symbol="d", low=1)
    reg_weight: float = param(1e-4, "weight of MMRec's EmbLoss; MMRec's grid {2, 1, 1e-1, ..., 1e-5}",
                              symbol="lambda", low=0.0)

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True)
class LightGCNConfig:
    """LightGCN (He et al., SIGIR 2020), MMRec's LightGCN config."""

    embedding_dim: int = param(64, "ego (layer-0) embedding size", symbol="d", low=1)
    n_layers: int = param(2, "propagation layers on the user-item graph; MMRec's grid {1, 2, 3, 4}", symbol="K",
                          low=0)
    reg_weight: float = param(1e-4, "EmbLoss on the batch's ego embeddings; MMRec's grid {1e-2, ..., 1e-6}",
                              symbol="lambda", low=0.0)

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True)
class VBPRConfig:
    """VBPR (He and McAuley, AAAI 2016) in MMRec's "recommended version": ID part + content part."""

    embedding_dim: int = param(64, "item ID part and content part each; users get 2d", symbol="d", low=1)
    reg_weight: float = param(1e-4, "EmbLoss on the batch's user/item vectors; MMRec's grid {2, 1, 1e-1, ..., 1e-5}",
                              symbol="lambda", low=0.0)

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True)
class FreedomConfig:
    """FREEDOM (Zhou and Shen, ACM MM 2023), MMRec's ``FREEDOM.yaml``.

    MMRec's ``lambda_coeff`` (0.9) and ``degree_ratio`` are read but never used by its FREEDOM, so they
    are not fields here.
    """

    embedding_dim: int = param(64, "ID embeddings; also the modal projection size", symbol="d", low=1)
    n_ui_layers: int = param(2, "LightGCN layers on the (pruned) user-item graph", low=0)
    n_mm_layers: int = param(1, "propagation layers on the frozen item-item graph", low=0)
    knn_k: int = param(10, "neighbours per item in the per-modality k-NN graphs", symbol="k", low=1)
    mm_image_weight: float = param(0.1, "visual share of the item-item graph (text: 1 - alpha)", symbol="alpha",
                                   low=0.0, high=1.0)
    edge_dropout: float = param(0.8, "share of user-item edges pruned each epoch (MMRec `dropout`; grid {0.8, 0.9})",
                                symbol="rho", low=0.0, high=1.0, high_open=True)
    lambda_mirror: float = param(1e-4, "weight of the modal mirror BPR losses (MMRec `reg_weight`; grid {0, 1e-5, "
                                 "1e-4, 1e-3})", symbol="lambda", low=0.0)
    freeze_features: bool = param(False, "keep the raw feature tables fixed (MMRec trains them)")

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True)
class MGCNConfig:
    """MGCN (Yu et al., ACM MM 2023) with MMRec's ``MGCN.yaml``: MambaRec's backbone with no DREAM, no
    MMD, no LayerNorm or dropout, visual and text projected straight to d, and InfoNCE between the side
    and content views of the batch's items and users (docs/model.md section 5; its InfoNCE: docs/departures.md D8)."""

    embedding_dim: int = param(64, "user/item ID embedding size", symbol="d", low=1)
    n_ui_layers: int = param(2, "LightGCN layers on the user-item graph", symbol="L", low=0)
    n_mm_layers: int = param(1, "propagation layers on each modality's item-item graph", low=0)
    knn_k: int = param(10, "neighbours per item in the per-modality k-NN item-item graphs", symbol="k", low=1)
    reg_weight: float = param(1e-4, "L2 on the batch's final embeddings / batch size", symbol="lambda_reg", low=0.0)
    lambda_cl: float = param(0.01, "weight of the side-content InfoNCE (MMRec `cl_loss`; grid {0.001, 0.01, 0.1})",
                             symbol="lambda_cl", low=0.0)
    tau: float = param(0.2, "InfoNCE temperature (written in MGCN's code)", symbol="tau", low=0.0, low_open=True)
    freeze_features: bool = param(False, "keep the raw feature tables fixed (MMRec trains them)")

    def __post_init__(self) -> None:
        check(self)

    def as_mambarec(self) -> MambaRecConfig:
        """The same model as a MambaRec config: the ``backbone`` preset with these values."""
        return mambarec_preset("backbone", embedding_dim=self.embedding_dim, n_ui_layers=self.n_ui_layers,
                               n_mm_layers=self.n_mm_layers, knn_k=self.knn_k, reg_weight=self.reg_weight,
                               lambda_cl=self.lambda_cl, tau=self.tau, freeze_features=self.freeze_features)


__all__ = ["PopConfig", "BPRConfig", "LightGCNConfig", "VBPRConfig", "FreedomConfig", "MGCNConfig"]
