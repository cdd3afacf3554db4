"""The speed benchmark's ``--set FIELD=VALUE``: typed model fields, and a clear error for a wrong one."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mambarec.config import ConfigError

BENCH = Path(__file__).resolve().parents[1] / "bench" / "train_speed.py"


@pytest.fixture(scope="module")
def train_speed():
    spec = importlib.util.spec_from_file_location("train_speed", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_set_pairs_become_the_model_configs_typed_fields(train_speed):
    assert train_speed.model_overrides(["use_dream=false", "lambda_cl=0.05"], "paper", "mambarec") == {
        "use_dream": False, "lambda_cl": 0.05}
    assert train_speed.model_overrides(["knn_k=5"], "mgcn", "mambarec") == {"knn_k": 5}  # MGCN's own config
    run = train_speed.bench_run("synthetic", "paper", "mambarec", {"use_dream": False}, {"epochs": 1})
    assert run.model.use_dream is False


def test_a_wrong_set_says_what_is_wrong(train_speed):
    with pytest.raises(SystemExit, match="FIELD=VALUE"):
        train_speed.model_overrides(["use_dream"], "paper", "mambarec")
    with pytest.raises(ConfigError, match="no field 'use_drem'"):
        train_speed.model_overrides(["use_drem=false"], "paper", "mambarec")


@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.jit")  # torch.compile's import of torch._dynamo
def test_compile_dream_wraps_each_dream_block_and_counts_them(train_speed):
    from mambarec.data import load_dataset
    from mambarec.model.dream import Dream
    from mambarec.model.zoo import build_model

    ds = load_dataset("synthetic")
    paper = build_model(train_speed.bench_run("synthetic", "paper", "mambarec", {}, {"epochs": 1}), ds)
    blocks = [m for m in paper.modules() if isinstance(m, Dream)]
    assert all(getattr(b.forward, "__func__", None) is Dream.forward for b in blocks)  # the class's own method
    assert train_speed.compile_dream(paper) == len(blocks) == 2  # one per modality; compiling waits for a call
    assert not any(getattr(b.forward, "__func__", None) is Dream.forward for b in blocks)  # each one replaced
    no_dream = build_model(train_speed.bench_run("synthetic", "paper", "mambarec", {"use_dream": False},
                                                 {"epochs": 1}), ds)
    assert train_speed.compile_dream(no_dream) == 0  # measure_real turns this into a message, not a silent eager run
