"""The grid on Ray (``mambarec.engine_ray``): the issue's command gives the local engine's numbers, a worker killed
mid-run is retried, a task that keeps failing is reported while every other run is written, and Ray stays an
optional dependency.

The Ray tests share one local Ray of 2 CPUs (started once for the module, shut down after it) and skip when
Ray is not installed, except under CI (CI=true), which installs it from requirements.txt.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mambarec import artifacts
from mambarec import precompute as pc
from mambarec.cli import main
from mambarec.data import load_dataset
from mambarec.engine_ray import RAY_REQUIREMENT

ROOT = Path(__file__).resolve().parents[1]
RAY_CPUS = 2  # the issue's local Ray


def _ray_or_skip():
    try:
        import ray
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"ray is not installed; CI=true requires it (requirements.txt pins {RAY_REQUIREMENT})")
        pytest.skip(f"ray is not installed (pip install {RAY_REQUIREMENT})")
    return ray


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray of 2 CPUs for the module: ``run_ray`` joins it and leaves it running; shut down here."""
    ray = _ray_or_skip()
    from mambarec.engine_ray import connect

    started = connect(None, num_cpus=RAY_CPUS)
    assert ray.cluster_resources().get("CPU") == RAY_CPUS
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def tiny():
    return load_dataset("synthetic", n_users=40, n_items=30)


def _rows(folder) -> dict:
    return {(r["dataset"], r["cell"], r["seed"]): r for r in artifacts.load_precomputed(folder)["results"]}


def _same_numbers(a: dict, b: dict) -> None:
    """Two rows of one task agree to the determinism tolerance (README, Determinism); timings differ."""
    for column in artifacts.METRIC_COLUMNS:
        assert a[column] == pytest.approx(b[column], abs=1e-6), column
    assert a["all_metrics"] == pytest.approx(b["all_metrics"], abs=1e-6)
    for key in ("best_epoch", "epochs_run", "n_params", "stopped_early"):
        assert a[key] == b[key], key
    for ra, rb in zip(a["history"], b["history"], strict=True):
        numbers = {k for k in ra if k != "epoch_s"}
        assert {k: ra[k] for k in numbers} == pytest.approx({k: rb[k] for k in numbers}, rel=1e-6, abs=1e-9)


# ---- the issue's test ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_issue_command_on_ray_gives_the_local_engines_metrics(local_ray, tmp_path):
    base = ["precompute", "--datasets", "synthetic", "--only", "paper,bpr", "--seeds", "0,1", "--epochs", "2"]
    assert main([*base, "--engine", "local", "--out", str(tmp_path / "local")]) == 0
    assert main([*base, "--engine", "ray", "--out", str(tmp_path / "ray")]) == 0
    local, remote = _rows(tmp_path / "local"), _rows(tmp_path / "ray")
    assert set(local) == set(remote) == {("synthetic", c, s) for c in ("paper", "bpr") for s in (0, 1)}
    for key in local:
        _same_numbers(local[key], remote[key])
    manifest = artifacts.load_precomputed(tmp_path / "ray")["manifest"]
    assert manifest["machine"]["engine"] == "ray" and manifest["machine"]["cpus_per_task"] == 1.0
    assert manifest["failed"] == []
    assert manifest["probes"] == artifacts.load_precomputed(tmp_path / "local")["manifest"]["probes"]
    assert sorted(p.name for p in (tmp_path / "ray" / "checkpoints" / "synthetic").iterdir()) == ["paper_s0.pt"]


# ---- failures ------------------------------------------------------------------------------------------------
def test_a_worker_killed_mid_run_is_retried_and_the_grid_completes(local_ray, tmp_path, tiny):
    marker = tmp_path / "killed"

    def kill_once(task, dataset, graphs):  # defined here, so Ray ships it by value to its workers
        from mambarec.tasks import execute

        def on_event(event):
            if task.key == "synthetic/bpr/s0" and not marker.exists():  # mid-run: after its first epoch
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)

        return execute(task, dataset, graphs, on_event=on_event)

    manifest = pc.precompute(tmp_path / "pre", {"synthetic": tiny}, seeds=[0, 1], epochs=2, only=["pop", "bpr"],
                             projections=("pca",), progress=False, engine="ray", execute=kill_once)
    assert marker.exists() and int(marker.read_text()) != os.getpid()  # a worker died, not the driver
    assert manifest["failed"] == []
    rows = _rows(tmp_path / "pre")
    assert set(rows) == {("synthetic", c, s) for c in ("pop", "bpr") for s in (0, 1)}
    pc.precompute(tmp_path / "inline", {"synthetic": tiny}, seeds=[0], epochs=2, only=["bpr"], projections=("pca",),
                  progress=False, workers=1)  # the killed task, trained here without interruption
    _same_numbers(rows[("synthetic", "bpr", 0)], _rows(tmp_path / "inline")[("synthetic", "bpr", 0)])


def test_a_task_that_keeps_failing_is_reported_and_the_other_runs_are_written(local_ray, tmp_path, tiny):
    attempts = tmp_path / "attempts"
    attempts.mkdir()

    def flaky(task, dataset, graphs):
        from mambarec.tasks import execute

        (attempts / f"{task.cell.name}-{uuid.uuid4().hex}").touch()
        if task.cell.name == "bpr":
            raise RuntimeError("bpr cannot train here")
        result = execute(task, dataset, graphs)
        if task.cell.name == "lightgcn":  # a worker running other code
            result["probe"]["history"][0]["loss/total"] *= 1.01
        return result

    manifest = pc.precompute(tmp_path / "pre", {"synthetic": tiny}, seeds=[0], epochs=1,
                             only=["pop", "bpr", "lightgcn"], projections=("pca",), progress=False, engine="ray",
                             execute=flaky, max_retries=1)
    failed = {f["task"]: f["error"] for f in manifest["failed"]}
    assert set(failed) == {"synthetic/bpr/s0", "synthetic/lightgcn/s0"}
    assert failed["synthetic/bpr/s0"] == "RuntimeError: bpr cannot train here"
    assert "other numbers" in failed["synthetic/lightgcn/s0"]
    assert sum(p.name.startswith("bpr-") for p in attempts.iterdir()) == 2  # tried, then retried once
    data = artifacts.load_precomputed(tmp_path / "pre")
    assert [r["cell"] for r in data["results"]] == ["pop"]
    assert "synthetic/bpr/s0" in data["report"]
    assert not (tmp_path / "pre.partial").exists()


def test_what_the_cluster_cannot_give_is_refused_not_left_pending(local_ray, tmp_path, tiny):
    from mambarec.config import ConfigError

    for options, message in (({"device": "cuda"}, "has none"), ({"cpus_per_task": 3.0}, "more than")):
        with pytest.raises(ConfigError, match=message):
            pc.precompute(tmp_path / "pre", {"synthetic": tiny}, seeds=[0], epochs=1, only=["pop"],
                          projections=("pca",), progress=False, engine="ray", **options)


# ---- ray stays optional --------------------------------------------------------------------------------------
def test_without_ray_the_cli_says_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    out = tmp_path / "pre"
    assert main(["precompute", "--engine", "ray", "--datasets", "synthetic", "--only", "pop", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"pip install {RAY_REQUIREMENT}" in err and "--engine local" in err
    assert not out.exists()


def test_only_the_ray_engine_imports_ray_and_only_inside_its_functions():
    importers = []
    for path in [*ROOT.glob("mambarec/**/*.py"), *ROOT.glob("app/**/*.py"), ROOT / "streamlit_app.py"]:
        tree = ast.parse(path.read_text())
        inner = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for n in ast.walk(f)}
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            if any(n == "ray" or n.startswith("ray.") for n in names if n):
                importers.append((path.relative_to(ROOT).as_posix(), id(node) in inner))
    assert importers and all(p == "mambarec/engine_ray.py" and inner for p, inner in importers), importers
    code = "import sys, mambarec.cli, mambarec.precompute, mambarec.engine_ray; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
