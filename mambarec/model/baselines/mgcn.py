"""MGCN: "Multi-View Graph Convolutional Network for Multimedia Recommendation", Yu et al.,
ACM MM 2023, as MMRec configures it.

It is MambaRec's backbone with every MambaRec extra off: the ``mgcn`` variant preset
(docs/departures.md section 6). A run whose model config already is an ``mgcn`` variant is used as is
(so its fields can be tuned); otherwise the preset is applied, keeping the run's
``embedding_dim`` and ``knn_k``.
"""

from __future__ import annotations

from mambarec.config import make_model_config
from mambarec.model.mambarec import MambaRec


def build(run, dataset, graphs) -> MambaRec:
    cfg = run.model
    if cfg.variant != "mgcn":
        cfg = make_model_config("mgcn", embedding_dim=cfg.embedding_dim, knn_k=cfg.knn_k)
    return MambaRec(cfg, dataset.n_users, dataset.n_items, dataset.visual, dataset.text, graphs,
                    reg_divisor=run.train.batch_size)
