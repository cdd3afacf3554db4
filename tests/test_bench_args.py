"""The benchmarks' arguments and helpers: the speed benchmark's `--set FIELD=VALUE` (typed model fields, a clear
error for a wrong one), and the schedule search's ranking and resumable log."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from mambarec.config import ConfigError

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str):
    """A benchmark script as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def train_speed():
    return _load("train_speed")


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


def test_compile_dream_reaches_the_runs_config(train_speed):
    """--compile dream is the training option TrainConfig.compile; a row without DREAM says so instead of timing an
    eager run under the compiled row's name."""
    run = train_speed.bench_run("synthetic", "paper", "mambarec", {}, {"epochs": 1, "compile": "dream"})
    assert run.train.compile == "dream"
    with pytest.raises(ConfigError, match="has none"):
        train_speed.bench_run("synthetic", "paper", "mambarec", {"use_dream": False}, {"epochs": 1, "compile": "dream"})


@pytest.fixture(scope="module")
def schedule_search():
    return _load("schedule_search")


def _row(schedule: str, seed: int, recall: float, cpu_s: float, epochs: int) -> dict:
    return {"model": "paper", "schedule": schedule, "seed": seed, "best_valid_recall20": recall,
            "epochs_run": epochs, "wall_s": cpu_s, "cpu_s": cpu_s}


def test_the_search_ranks_qualifying_candidates_by_cpu_seconds_not_epochs(schedule_search):
    big = schedule_search.schedule_name((0.008, 8192, 0))
    small = schedule_search.schedule_name((0.008, 2048, 0))
    weak = schedule_search.schedule_name((0.016, 8192, 0))
    assert big == "lr=0.008,batch=8192,warmup=0" and schedule_search.schedule_name(None) == "paper"
    rows = [_row("paper", s, 0.350, 900.0, 220) for s in (100, 101)]
    rows += [_row(small, s, 0.349, 260.0, 60) for s in (100, 101)]  # fewer epochs, each 4x dearer
    rows += [_row(big, s, 0.348, 110.0, 80) for s in (100, 101)]
    rows += [_row(weak, s, 0.330, 50.0, 40) for s in (100, 101)]  # fastest, but 5.7% short of the reference
    ranked = schedule_search.rank(rows, "paper", tolerance=0.01)
    assert ranked["qualifying"] == sorted([small, big])
    assert ranked["winner"] == big
    assert ranked["summary"][weak]["valid_recall20"] == pytest.approx(0.330)
    with pytest.raises(SystemExit, match="no run under the paper's schedule"):
        schedule_search.rank([r for r in rows if r["schedule"] != "paper"], "paper", tolerance=0.01)


def test_the_search_log_is_read_back_for_resuming(schedule_search, tmp_path):
    log = tmp_path / "search.jsonl"
    assert schedule_search.read_log(log) == [] and schedule_search.read_log(None) == []
    rows = [_row("paper", 100, 0.35, 900.0, 220), _row("paper", 101, 0.34, 880.0, 200)]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    assert schedule_search.read_log(log) == rows


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_the_servers_memory_counts_its_workers():
    """`app/perf.py` and `bench/lesson_tour.py` report a server's memory with its live-run and estimate workers
    (children of the server): a child holding 200 MB must show in its parent's figure, a gone process is NaN."""
    import math
    import os
    import subprocess
    import sys

    from app.serve import memory_mb

    alone = memory_mb(os.getpid())
    hold = "import sys, time; b = b'x' * (200 << 20); print('ok', flush=True); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ok"  # the 200 MB are written before this
        assert memory_mb(child.pid) >= 200 and memory_mb(os.getpid()) >= alone + 200
    finally:
        child.kill()
        child.wait()
    assert math.isnan(memory_mb(child.pid))


def test_the_memory_benchmark_refuses_settings_glibc_would_ignore(capsys):
    server_memory = _load("server_memory")
    for argv, said in ((["--arenas", "default,2,x"], "not x"), (["--sessions", "0"], "at least 1")):
        with pytest.raises(SystemExit):
            server_memory.main(argv)
        assert said in capsys.readouterr().err


def test_the_dream_forms_benchmark_compares_the_two_forms_of_one_block():
    """bench/dream_forms.py times the whole conv matrix against its blocks: two blocks with the same weights whose
    matrices are applied whole and by blocks, computing the same values; a map that keeps convolutions is refused."""
    import torch

    forms = _load("dream_forms")
    whole, blocks = forms.build((10, 4, 4), True), forms.build((10, 4, 4), False)
    assert whole.conv_matrix.dense_index is not None and blocks.conv_matrix.dense_index is None
    x = torch.randn(7, 160, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(whole(x), blocks(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(SystemExit, match="keeps its convolutions"):
        forms.build((10, 8, 8), True)


def test_the_exp_floor_benchmark_pairs_one_epoch_of_each_form_in_alternating_order():
    """bench/exp_floor.py: epochs before ``skip`` train with the floor and are not timed; then each pair holds one
    epoch of each form, the order swapping from pair to pair; an odd epoch at the end is in no pair."""
    plan = _load("exp_floor").schedule(epochs=10, skip=3)
    assert plan[:3] == [("floor", None)] * 3
    assert plan[3:] == [("floor", 0), ("none", 0), ("none", 1), ("floor", 1), ("floor", 2), ("none", 2),
                        ("floor", None)]


def test_perf_against_says_what_is_wrong_before_it_starts_anything(tmp_path, capsys):
    """``app/perf.py --against``: a folder that is no checkout of the app, or one round (no paired interval), is
    refused with the reason, before any server or browser starts."""
    from app import perf

    with pytest.raises(SystemExit) as stop:
        perf.main(["--against", str(tmp_path)])
    assert stop.value.code == 2 and "no streamlit_app.py there" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        perf.main(["--against", str(BENCH.parent), "--rounds", "1"])
    assert stop.value.code == 2 and "at least 2" in capsys.readouterr().err
