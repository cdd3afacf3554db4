"""Baselines of the paper's comparison (docs/protocol.md section 6), one module each: ``pop`` (most
popular), ``bpr`` (BPR-MF), ``lightgcn``, ``vbpr``, ``freedom`` and ``mgcn`` (MambaRec's backbone alone).
Their configs are in ``mambarec.config.baselines``; ``mambarec.model.zoo`` registers them by name.
"""
