"""Model zoo: ``build_model(run_config, dataset, graphs)`` for MambaRec and the baselines."""

from __future__ import annotations

from collections.abc import Callable

from mambarec.config import RunConfig
from mambarec.model.base import Recommender

# name -> builder(run_config, dataset, graphs); baselines register here (mambarec.model.baselines)
BUILDERS: dict[str, Callable] = {}


def _build_mambarec(run: RunConfig, dataset, graphs) -> Recommender:
    from mambarec.model.mambarec import MambaRec

    return MambaRec(run.model, dataset.n_users, dataset.n_items, dataset.visual, dataset.text, graphs,
                    reg_divisor=run.train.batch_size)


def build_model(run: RunConfig, dataset, graphs) -> Recommender:
    builders = {"mambarec": _build_mambarec, **BUILDERS}
    if run.model_name not in builders:
        try:
            import mambarec.model.baselines  # noqa: F401  (registers the baselines)
        except ImportError:
            pass
        builders = {"mambarec": _build_mambarec, **BUILDERS}
    if run.model_name not in builders:
        raise ValueError(f"unknown model {run.model_name!r}; known: {sorted(builders)}")
    return builders[run.model_name](run, dataset, graphs)


__all__ = ["Recommender", "build_model", "BUILDERS"]
