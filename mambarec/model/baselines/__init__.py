"""Baselines of the paper's comparison (docs/protocol.md section 6), registered into ``BUILDERS`` on import.

pop: most-popular ranking; bpr: BPR-MF; lightgcn: LightGCN; vbpr: VBPR; freedom: FREEDOM;
mgcn: MGCN (MambaRec's backbone alone). Each module holds one model and its ``build(run,
dataset, graphs)``; hyper-parameters and their defaults are in ``configs``.
"""

from __future__ import annotations

from mambarec.model import BUILDERS
from mambarec.model.baselines import bpr, freedom, lightgcn, mgcn, pop, vbpr

BASELINES = {"pop": pop.build, "bpr": bpr.build, "lightgcn": lightgcn.build, "vbpr": vbpr.build,
             "freedom": freedom.build, "mgcn": mgcn.build}
BUILDERS.update(BASELINES)

__all__ = ["BASELINES"]
