"""Frozen configs: the project's one vocabulary (docs/model.md section 7, docs/style.md habit 2).

* ``fields``: ``param(...)`` fields that carry their help, paper symbol and valid range;
* ``mambarec``: ``MambaRecConfig`` and its variant presets (paper, official, backbone);
* ``baselines``: one config per baseline (MGCN, BPR, LightGCN, VBPR, FREEDOM, popularity);
* ``run``: ``TrainConfig``, ``RunConfig`` (a model name with that model's config), the version-1 reader;
* ``params``: a run as flat URL parameters and as a short readable name.

CLI flags (``--lambda-mmd``), ``config.json`` keys and the app's URL parameters are the field names.
This package only re-exports; it imports no torch.
"""

from mambarec.config.baselines import BPRConfig, FreedomConfig, LightGCNConfig, MGCNConfig, PopConfig, VBPRConfig
from mambarec.config.fields import (
    ConfigError,
    build,
    coerce_field,
    default_of,
    field_names,
    field_of,
    help_text,
    param,
)
from mambarec.config.mambarec import (
    REDUCTION_FACTORS,
    VARIANTS,
    MambaRecConfig,
    mambarec_preset,
    variant_defaults,
)
from mambarec.config.params import (
    build_model_config,
    changed_fields,
    model_defaults,
    run_from_params,
    run_to_params,
    setup_key,
    setup_label,
)
from mambarec.config.run import (
    CONFIG_VERSION,
    DEVICES,
    MGCN_ALIAS_NOTE,
    MODEL_CONFIGS,
    MODELS,
    SCHEDULES,
    RunConfig,
    TrainConfig,
    default_model_config,
    default_schedule,
    make_run,
    migrate_v1,
    train_preset,
    without_compile,
)

__all__ = [
    "ConfigError", "param", "build", "coerce_field", "default_of", "field_names", "field_of", "help_text",
    "MambaRecConfig", "VARIANTS", "REDUCTION_FACTORS", "mambarec_preset", "variant_defaults",
    "PopConfig", "BPRConfig", "LightGCNConfig", "VBPRConfig", "FreedomConfig", "MGCNConfig",
    "TrainConfig", "RunConfig", "MODEL_CONFIGS", "MODELS", "SCHEDULES", "DEVICES", "train_preset", "CONFIG_VERSION",
    "default_model_config", "default_schedule", "make_run", "without_compile",
    "migrate_v1", "MGCN_ALIAS_NOTE", "run_to_params", "run_from_params", "setup_key", "setup_label", "changed_fields",
    "model_defaults", "build_model_config",
]
