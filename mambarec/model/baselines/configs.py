"""Hyper-parameters of the baselines, with the defaults of their papers and of MMRec's configs.

MMRec's ``src/configs/model/<NAME>.yaml`` lists grids for ``reg_weight`` (and FREEDOM's
``dropout``) rather than single values; where it does, the field says the grid and the value used
here. ``embedding_dim`` is overridden by the run's ``ModelConfig.embedding_dim`` when a baseline is
built by the trainer; the other fields are these defaults until ``RunConfig`` carries them.
Popularity ranking has no hyper-parameter, hence no config.
"""

from __future__ import annotations

from dataclasses import dataclass

from mambarec.config import ConfigError


def _check(name: str, ok: bool, why: str) -> None:
    if not ok:
        raise ConfigError(f"{name}: {why}")


@dataclass(frozen=True)
class BPRConfig:
    """BPR-MF (Rendle et al., UAI 2009), MMRec's ``BPR.yaml``."""

    embedding_dim: int = 64  # d: user and item embedding size
    reg_weight: float = 1e-4  # lambda: weight of MMRec's EmbLoss; grid {2, 1, 1e-1, ..., 1e-5}

    def __post_init__(self) -> None:
        _check("embedding_dim", self.embedding_dim > 0, "must be > 0")
        _check("reg_weight", self.reg_weight >= 0, "must be >= 0")


@dataclass(frozen=True)
class LightGCNConfig:
    """LightGCN (He et al., SIGIR 2020), MMRec's LightGCN config."""

    embedding_dim: int = 64  # d: ego (layer-0) embedding size
    n_layers: int = 2  # K: propagation layers on the user-item graph; grid {1, 2, 3, 4}
    reg_weight: float = 1e-4  # lambda: EmbLoss on the batch's ego embeddings; grid {1e-2, ..., 1e-6}

    def __post_init__(self) -> None:
        _check("embedding_dim", self.embedding_dim > 0, "must be > 0")
        _check("n_layers", self.n_layers >= 0, "must be >= 0")
        _check("reg_weight", self.reg_weight >= 0, "must be >= 0")


@dataclass(frozen=True)
class VBPRConfig:
    """VBPR (He and McAuley, AAAI 2016) in MMRec's "recommended version": ID part + content part."""

    embedding_dim: int = 64  # d: item ID part and content part each; users get 2d
    reg_weight: float = 1e-4  # lambda: EmbLoss on the batch's user/item vectors; grid {2, 1, 1e-1, ..., 1e-5}

    def __post_init__(self) -> None:
        _check("embedding_dim", self.embedding_dim > 0, "must be > 0")
        _check("reg_weight", self.reg_weight >= 0, "must be >= 0")


@dataclass(frozen=True)
class FreedomConfig:
    """FREEDOM (Zhou and Shen, ACM MM 2023), MMRec's ``FREEDOM.yaml``.

    MMRec's ``lambda_coeff`` (0.9) and ``degree_ratio`` are read but never used by its FREEDOM,
    so they are not fields here.
    """

    embedding_dim: int = 64  # d: ID embeddings; also the modal projection size (feat_embed_dim)
    n_ui_layers: int = 2  # LightGCN layers on the (pruned) user-item graph
    n_mm_layers: int = 1  # propagation layers on the frozen item-item graph
    knn_k: int = 10  # k of the per-modality k-NN graphs
    mm_image_weight: float = 0.1  # alpha: visual share of the item-item graph (text: 1 - alpha)
    edge_dropout: float = 0.8  # rho: share of user-item edges pruned each epoch (MMRec `dropout`); grid {0.8, 0.9}
    lambda_mirror: float = 1e-4  # lambda: weight of the modal "mirror" BPR losses (MMRec `reg_weight`);
    #                              grid {0, 1e-5, 1e-4, 1e-3}
    freeze_features: bool = False  # the raw feature tables are trainable in MMRec (from_pretrained, freeze=False)

    def __post_init__(self) -> None:
        _check("embedding_dim", self.embedding_dim > 0, "must be > 0")
        _check("knn_k", self.knn_k > 0, "must be > 0")
        _check("n_ui_layers", self.n_ui_layers >= 0, "must be >= 0")
        _check("n_mm_layers", self.n_mm_layers >= 0, "must be >= 0")
        _check("mm_image_weight", 0.0 <= self.mm_image_weight <= 1.0, "must be in [0, 1]")
        _check("edge_dropout", 0.0 <= self.edge_dropout < 1.0, "must be in [0, 1)")
        _check("lambda_mirror", self.lambda_mirror >= 0, "must be >= 0")


__all__ = ["BPRConfig", "LightGCNConfig", "VBPRConfig", "FreedomConfig"]
