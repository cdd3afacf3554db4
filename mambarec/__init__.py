"""MambaRec (CIKM 2025) reimplemented: model, ablations, trainer, evaluator and analysis."""

__version__ = "0.1.0"
