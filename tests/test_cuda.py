"""Training and evaluating on CUDA, and what it relies on.

Cases marked ``cuda`` skip with the reason "no CUDA device" where torch sees none (tests/conftest.py);
``bench/gpu_check.sh`` runs them on a GPU machine. The unmarked tests run everywhere: training draws nothing
from torch's global generators, evaluation blocks are sized from free GPU memory, a run whose config says
cuda resumes on a CPU with ``--device cpu``, and ``pytest -m cuda`` collects without the app's libraries.

Tolerances, CPU against CUDA with one seed:
* float64: losses to 1e-6 relative, metrics to 1e-9 (the same ranking): both devices compute the same
  mathematics, and float64 leaves only ~1e-13 of kernel rounding to amplify.
* float32: losses to 1e-3 relative, metrics to 3e-3 absolute, every epoch. Float32 kernels of two devices
  differ by ~1e-7; on this project's CPU a 1e-7 relative perturbation of the initial weights moved the
  paper variant's losses by 1.6e-4 (relative) and its valid metrics by 5.6e-4 after 3 epochs on the
  synthetic set (the other models by less), and one user's hit entering or leaving a top-K moves a metric
  of its 600 users by up to 1.7e-3.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mambarec.checkpoint import load_checkpoint, restore_trainer
from mambarec.cli import main
from mambarec.config import ConfigError, make_run
from mambarec.data import load_dataset
from mambarec.evaluate import BYTES_PER_SCORE, DEFAULT_BLOCK_USERS, GPU_MEMORY_SHARE, block_users, evaluate_model
from mambarec.graphs import ConstantSparse, Graphs
from mambarec.model.zoo import build_model, resolve_device
from mambarec.store import save_run
from mambarec.train import Trainer
from tests.devices import DEVICES
from tests.tiny import tiny_dataset

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"paper": ("mambarec", "paper"), "official": ("mambarec", "official"), "mgcn": ("mgcn", None),
          "pop": ("pop", None), "bpr": ("bpr", None), "lightgcn": ("lightgcn", None), "vbpr": ("vbpr", None),
          "freedom": ("freedom", None)}
FLOAT32_MODELS = ("paper", "official", "mgcn")  # the models with DREAM, MMD and InfoNCE, and their backbone
LOSS_REL64, METRIC_ABS64 = 1e-6, 1e-9
LOSS_REL32, METRIC_ABS32 = 1e-3, 3e-3
APP_LIBRARIES = ("streamlit", "umap", "playwright", "plotly", "sklearn", "numba", "PIL", "ray", "safetensors",
                 "hypothesis")
GPU_CHECK_TESTS = ("tests/test_model.py", "tests/test_dream.py", "tests/test_metrics.py", "tests/test_train.py",
                   "tests/test_cuda.py")


def _run(name: str, device: str, epochs: int = 2, dataset: str = "tiny", **train):
    model_name, variant = MODELS[name]
    run, _ = make_run(dataset, model_name, variant, train={"epochs": epochs, "batch_size": 16, "seed": 4,
                                                           "patience": 10, "device": device, **train})
    return run


@pytest.fixture
def float64():
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(dtype)


def _numbers(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ("epoch_s", "epoch")} for row in history]


def _agree(a: list[dict], b: list[dict], loss_rel: float, metric_abs: float) -> None:
    for ra, rb in zip(_numbers(a), _numbers(b), strict=True):
        assert ra.keys() == rb.keys()
        for k in ra:
            if k.startswith(("valid/", "test/")):
                assert ra[k] == pytest.approx(rb[k], abs=metric_abs), k
            else:
                assert ra[k] == pytest.approx(rb[k], rel=loss_rel, abs=1e-12), k


def _graph_devices(model) -> set[torch.device]:
    """Where every sparse graph the model holds lives."""
    found = set()
    for value in vars(model).values():
        items = value.values() if isinstance(value, dict) else [value]
        for v in items:
            if isinstance(v, ConstantSparse):
                found |= {v.a.device, v.a_t.device}
            elif isinstance(v, Graphs):
                found |= {g.a.device for g in (v.norm_adj, v.r, *v.knn.values())}
    return found


# ---- everywhere ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(MODELS))
def test_training_draws_nothing_from_torchs_global_generators(name, device):
    ds = tiny_dataset()
    torch.manual_seed(1)
    a = Trainer.for_run(_run(name, device), ds)
    torch.manual_seed(2)  # initialization draws from the run's generator alone
    b = Trainer.for_run(_run(name, device), ds)
    for (key, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert torch.equal(x, y), key
    cpu_state = torch.get_rng_state()
    cuda_state = torch.cuda.get_rng_state() if device == "cuda" else None
    a.fit()
    assert torch.equal(torch.get_rng_state(), cpu_state)  # negatives, shuffling, dropout, FREEDOM's pruning
    if cuda_state is not None:
        assert torch.equal(torch.cuda.get_rng_state(), cuda_state)


def test_evaluation_blocks_on_cuda_are_sized_from_free_gpu_memory(monkeypatch):
    gib = 1 << 30
    free = {"bytes": 100 * gib}
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free["bytes"], 141 * gib))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 3 * gib)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 1 * gib)  # 2 GiB cached, reusable
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    baby = (19445, 7050)  # Amazon Baby: users, items
    assert block_users(DEFAULT_BLOCK_USERS, *baby, cuda) == 19445  # every user in one block
    assert block_users(512, *baby, cuda) == 512  # a value set explicitly caps the block
    assert block_users(DEFAULT_BLOCK_USERS, *baby, cpu) == DEFAULT_BLOCK_USERS  # the CPU keeps its setting
    free["bytes"] = 1 * gib  # a crowded GPU: smaller blocks, never more than the share of memory
    fit = int(3 * gib * GPU_MEMORY_SHARE) // (BYTES_PER_SCORE * 7050)
    assert block_users(DEFAULT_BLOCK_USERS, *baby, cuda) == fit < 19445
    assert block_users(100_000, *baby, cuda) == fit
    free["bytes"] = 0
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 0)
    assert block_users(DEFAULT_BLOCK_USERS, *baby, cuda) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message seen without CUDA")
def test_asking_for_cuda_without_it_is_an_error_never_a_cpu_run():
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        Trainer.for_run(_run("bpr", "cuda"), tiny_dataset())


def test_a_run_saved_with_device_cuda_resumes_on_the_cpu_with_the_device_flag(tmp_path, capsys):
    """As a GPU's checkpoint arrives on a CPU machine: its config says cuda, its tensors are on the CPU."""
    folder = tmp_path / "run"
    assert main(["train", "--dataset", "synthetic", "--model", "bpr", "--epochs", "2", "--seed", "5",
                 "--device", "cpu", "--out", str(folder)]) == 0
    ckpt = folder / "checkpoint.pt"
    payload = torch.load(ckpt, weights_only=True)
    payload["config"] = payload["config"].replace('"device": "cpu"', '"device": "cuda"')
    torch.save(payload, ckpt)
    if not torch.cuda.is_available():
        assert main(["train", "--resume", str(ckpt), "--out", str(folder), "--epochs", "4"]) == 2
        assert "--device cpu" in capsys.readouterr().err
    assert main(["train", "--resume", str(ckpt), "--out", str(folder), "--epochs", "4", "--device", "cpu"]) == 0
    assert main(["train", "--dataset", "synthetic", "--model", "bpr", "--epochs", "4", "--seed", "5",
                 "--device", "cpu", "--out", str(tmp_path / "straight")]) == 0
    resumed = load_checkpoint(ckpt)["resume"]["history"]
    straight = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")["resume"]["history"]
    assert _numbers(resumed) == _numbers(straight)
    with pytest.raises(SystemExit):  # --device is the only setting besides --epochs a resume may change
        main(["train", "--resume", str(ckpt), "--out", str(folder), "--no-such-flag"])
    assert main(["train", "--resume", str(ckpt), "--out", str(folder), "--epochs", "5", "--lr-decay", "0.5"]) == 2


def test_the_cuda_tests_collect_without_the_apps_libraries():
    """``bench/gpu_check.sh`` runs them on a bare GPU machine: its own Python and torch, no app libraries."""
    blocker = ("import sys\n"
               f"sys.modules.update(dict.fromkeys({APP_LIBRARIES!r}))\n"  # None: absent, as find_spec sees it
               "import pytest, mambarec.cli\n"
               "mambarec.cli.build_parser()\n"
               "sys.exit(pytest.main(['-p', 'no:cacheprovider', '--collect-only', '-m', 'cuda', "
               f"*{GPU_CHECK_TESTS!r}]))\n")
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # nor the plugins of libraries not there
    out = subprocess.run([sys.executable, "-c", blocker], cwd=ROOT, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "tests/test_cuda.py::test_cpu_and_cuda_runs_of_one_seed_agree_in_float64" in out.stdout


def test_the_gpu_checks_step_limits_fit_the_minutes_it_promises():
    """A lent GPU machine gives a session minutes, not hours: the check's header (and the README) promise at most 8
    minutes, which holds only while its steps' time limits add up to no more (the install step counted once)."""
    import re

    script = (ROOT / "bench" / "gpu_check.sh").read_text()
    limits = dict(re.findall(r"^\s*step (\w+) (\d+) ", script, flags=re.M))
    assert set(limits) == {"install", "pytest_cuda", "baby_speed", "ml100k_converged"}
    assert sum(map(int, limits.values())) <= 8 * 60
    assert "at most 8 minutes" in script.splitlines()[1]


# ---- on a GPU ------------------------------------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.parametrize("name", list(MODELS))
def test_cpu_and_cuda_runs_of_one_seed_agree_in_float64(name, float64):
    ds = tiny_dataset()
    on = {dev: Trainer.for_run(_run(name, dev), ds) for dev in ("cpu", "cuda")}
    results = {dev: t.fit() for dev, t in on.items()}
    assert on["cuda"].model.device.type == "cuda"
    assert {d.type for d in _graph_devices(on["cuda"].model)} <= {"cuda"}  # FREEDOM's pruned graph included
    _agree(results["cpu"].history, results["cuda"].history, LOSS_REL64, METRIC_ABS64)
    cpu_emb, cuda_emb = (torch.cat(on[d].model.embeddings()).detach().cpu() for d in ("cpu", "cuda"))
    assert torch.allclose(cpu_emb, cuda_emb, rtol=LOSS_REL64, atol=1e-9)


@pytest.mark.cuda
@pytest.mark.parametrize("name", FLOAT32_MODELS)
def test_cpu_and_cuda_metrics_of_one_seed_agree_in_float32(name):
    ds = load_dataset("synthetic")
    histories = {dev: Trainer.for_run(_run(name, dev, epochs=3, dataset="synthetic", batch_size=2048), ds).fit()
                 .history for dev in ("cpu", "cuda")}
    _agree(histories["cpu"], histories["cuda"], LOSS_REL32, METRIC_ABS32)


@pytest.mark.cuda
@pytest.mark.parametrize("first,then", [("cuda", "cpu"), ("cpu", "cuda")])
@pytest.mark.parametrize("name", ["paper", "freedom"])
def test_a_checkpoint_crosses_devices_with_its_resume_state(name, first, then, tmp_path, float64):
    ds = tiny_dataset()
    part = Trainer.for_run(_run(name, first), ds)
    result = part.fit()
    save_run(tmp_path / "run", part, result)
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt", expect_fingerprint=ds.fingerprint())
    moved = restore_trainer(ckpt, ds, run=_run(name, then))
    assert moved.model.device.type == then
    assert moved.evaluate()["test"] == pytest.approx(result.test, abs=METRIC_ABS64)  # best weights, other device
    for state in moved.optimizer.state.values():  # the optimizer state follows the parameters
        assert {t.device.type for t in state.values() if isinstance(t, torch.Tensor)} == {then}
    rest = restore_trainer(ckpt, ds, run=_run(name, then, epochs=4)).fit()  # as `train --resume --device` does
    straight = Trainer.for_run(_run(name, first, epochs=4), ds).fit()
    _agree(rest.history, straight.history, LOSS_REL64, METRIC_ABS64)


@pytest.mark.cuda
def test_evaluation_on_cuda_in_one_block_equals_the_cpus_blocks(float64):
    ds = load_dataset("synthetic")
    trainer = Trainer.for_run(_run("mgcn", "cpu", dataset="synthetic", eval_batch_users=64), ds)  # 10 blocks
    trainer.fit()
    on_cuda = build_model(_run("mgcn", "cuda", dataset="synthetic"), ds)
    on_cuda.load_state_dict(trainer.model.state_dict())
    assert block_users(DEFAULT_BLOCK_USERS, ds.n_users, ds.n_items, on_cuda.device) == ds.n_users
    cpu_blocks, one_block = trainer.evaluate(), evaluate_model(on_cuda, ds)
    for split in ("valid", "test"):
        assert one_block[split] == pytest.approx(cpu_blocks[split], abs=METRIC_ABS64)
