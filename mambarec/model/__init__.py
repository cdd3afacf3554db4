"""The models: MambaRec (``mambarec``, ``dream``, ``modal``, ``losses``), the baselines (``baselines/``),
their common interface (``base``) and the registry that builds any of them by name (``zoo``).

Nothing is imported here: ``from mambarec.model.zoo import build_model``.
"""
