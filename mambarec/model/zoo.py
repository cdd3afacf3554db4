"""Every model by name, and ``build_model``: a ready model from a run config (docs/architecture.md section 2).

A model declares the graphs it needs (``graph_ks``), builds itself from its own config
(``from_config``) and initializes itself from the generator it is given (``init_weights``, drawing
every weight from the run's generator, nanoGPT's ``self.apply(self._init_weights)``). Training
code receives the ready model.
"""

from __future__ import annotations

import torch

from mambarec.config import ConfigError, RunConfig
from mambarec.graphs import Graphs, build_graphs
from mambarec.model.base import Recommender
from mambarec.model.baselines.bpr import BPR
from mambarec.model.baselines.freedom import Freedom
from mambarec.model.baselines.lightgcn import LightGCN
from mambarec.model.baselines.mgcn import MGCN
from mambarec.model.baselines.pop import Popularity
from mambarec.model.baselines.vbpr import VBPR
from mambarec.model.mambarec import MambaRec

MODEL_CLASSES: dict[str, type[Recommender]] = {
    "mambarec": MambaRec, "mgcn": MGCN, "pop": Popularity, "bpr": BPR, "lightgcn": LightGCN, "vbpr": VBPR,
    "freedom": Freedom,
}


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` is CUDA when available; asking for CUDA without it is an error, never a silent CPU run."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but CUDA is not available here; use --device cpu (a run "
                          "trained on a GPU resumes on the CPU with `train --resume ... --device cpu`)")
    return torch.device(name)


def full_float32_on_cuda() -> None:
    """Make CUDA compute float32 as float32 (process-wide): cuDNN convolutions default to TF32 on Ampere and
    later GPUs (a 10-bit mantissa), which moves DREAM's outputs by ~1e-3 relative, and CPU and CUDA runs of one
    seed would no longer agree to ~1e-3; matrix products are float32 already (torch's default), said here too.
    The legacy flags are used because they set convolutions and matrix products consistently."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def run_generator(run: RunConfig) -> torch.Generator:
    """The run's one random generator (on the CPU, whatever the device: CPU and CUDA runs draw alike)."""
    return torch.Generator(device="cpu").manual_seed(run.train.seed)


def model_class(model_name: str) -> type[Recommender]:
    if model_name not in MODEL_CLASSES:
        raise ValueError(f"unknown model {model_name!r}; known: {sorted(MODEL_CLASSES)}")
    return MODEL_CLASSES[model_name]


def graphs_for(runs, dataset, use_cache: bool = True) -> Graphs:
    """One ``Graphs`` of ``dataset`` holding every k-NN graph the given runs' models need."""
    ks = sorted({k for run in runs for k in model_class(run.model_name).graph_ks(run.model)})
    return build_graphs(dataset, tuple(ks), use_cache=use_cache)


def build_model(run: RunConfig, dataset, generator: torch.Generator | None = None,
                device: str | torch.device | None = None, graphs: Graphs | None = None) -> Recommender:
    """``run``'s model on ``dataset``, initialized from ``generator`` (default: a fresh one seeded by the run),
    on ``device`` (default: the run's), ready to train or to load weights into.

    The generator is left where initialization stopped: the trainer continues drawing from it, so a
    run's numbers depend on its seed alone.
    """
    cls = model_class(run.model_name)
    ks = cls.graph_ks(run.model)
    if graphs is None or not graphs.has_knn(ks):
        graphs = build_graphs(dataset, ks)
    model = cls.from_config(run.model, dataset, graphs, run.train)
    generator = generator if generator is not None else run_generator(run)
    model.init_weights(generator)
    model.set_generator(generator)
    target = resolve_device(device if device is not None else run.train.device)
    if target.type == "cuda":
        full_float32_on_cuda()
    model.to(target)
    if target.type != "cpu":
        model.move_graphs(target)
    return model


__all__ = ["MODEL_CLASSES", "build_model", "model_class", "resolve_device", "run_generator", "graphs_for",
           "full_float32_on_cuda"]
