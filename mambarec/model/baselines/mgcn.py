"""MGCN: "Multi-View Graph Convolutional Network for Multimedia Recommendation", Yu et al., ACM MM 2023,
as MMRec configures it (docs/model.md section 5, docs/departures.md section 1).

MGCN is MambaRec's backbone with every MambaRec extra off, so it is computed by MambaRec's own model
from ``MGCNConfig.as_mambarec()`` (the ``backbone`` preset): one implementation of the backbone, and
``--model mgcn`` equals ``--model mambarec --variant backbone`` bit for bit. The run stores the
``MGCNConfig``, which says exactly what MGCN has: d, its layers, k, the L2 and InfoNCE weights, the
temperature and whether the feature tables train.
"""

from __future__ import annotations

from mambarec.config import MGCNConfig
from mambarec.graphs import Graphs
from mambarec.model.mambarec import MambaRec


class MGCN(MambaRec):
    @classmethod
    def graph_ks(cls, config: MGCNConfig) -> tuple[int, ...]:
        return (config.knn_k,)

    @classmethod
    def from_config(cls, config: MGCNConfig, dataset, graphs: Graphs, train) -> MGCN:
        return cls(config.as_mambarec(), dataset.n_users, dataset.n_items, dataset.visual, dataset.text, graphs,
                   reg_divisor=train.batch_size)
