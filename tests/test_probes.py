"""Numerics probes: the shipped precomputed/ is what today's code computes, probes cover every code path,
equivalent rewrites keep them and changes of the mathematics move them, by name."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from mambarec import artifacts, grid, probes
from mambarec.model import losses
from mambarec.model.dream import map_shape

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_precomputed_folder_is_current():
    """Every cell's stored probe reproduces today (seconds; cached per source version afterwards)."""
    manifest = artifacts.load_precomputed(ROOT / "precomputed")["manifest"]
    found = artifacts.staleness(manifest)
    detail = "\n".join(f"{cell}:\n  " + "\n  ".join(lines[:8]) for cell, lines in found.moved.items())
    assert found.current, (f"precomputed/ is stale: {found.message()}\n{detail}\nRetrain the cells that moved with "
                           "`python -m mambarec precompute --refresh-stale`, or regenerate the folder.")


def test_every_cell_that_changes_the_model_changes_its_probe():
    """A switch added to a config (and a cell for it) that the model never reads gives a cell whose numbers equal
    those of the cell it starts from, and every test would still pass; two cells may share a probe only when they
    differ by their training schedule alone (the probe trains every cell alike)."""
    today = probes.cached_probes(probes.cells_to_runs(grid.GRID))

    def what(cell):
        return cell.model_name, cell.variant, tuple(sorted(cell.overrides))

    for i, a in enumerate(grid.GRID):
        for b in grid.GRID[i + 1:]:
            if what(a) != what(b):
                assert probes.differences(today[a.name], today[b.name]), (
                    f"cells {a.name} and {b.name} compute the same numbers although their configs differ "
                    f"({what(a)} vs {what(b)}): is the switch read by the model (mambarec/model/)?")


SHIPPED_LIMIT_MB = 60  # the guide's "tens of MB, not hundreds", with room for the missing ml100k cells


def test_the_shipped_precomputed_folder_stays_small():
    files = [p for p in (ROOT / "precomputed").rglob("*") if p.is_file()]
    sizes = sorted(((p.stat().st_size, p.relative_to(ROOT).as_posix()) for p in files), reverse=True)
    total = sum(s for s, _ in sizes) / 2**20
    assert total <= SHIPPED_LIMIT_MB, (f"precomputed/ holds {total:.0f} MB (limit {SHIPPED_LIMIT_MB}); largest: "
                                      f"{sizes[:3]}. Trim what results.json keeps (artifacts.compact_history) "
                                      "and rewrite it with `python -m mambarec precompute --rerender`.")


def test_every_shipped_checkpoint_carries_its_weights_digest():
    """Inside precomputed/ the manifest's sha256 guards a checkpoint; a copy taken out of it (to upload, or to
    `evaluate`) has only its own digest to say that its weights were changed. The shipped ones predated the
    digest, so a tampered copy loaded silently."""
    from mambarec.checkpoint import weights_digest

    shipped = artifacts.load_precomputed(ROOT / "precomputed")["checkpoints"]
    paths = [p for by_name in shipped.values() for p in by_name.values()]
    assert paths
    for path in paths:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        assert payload.get("digest") == weights_digest({"state_dict": payload["state_dict"],
                                                        "resume": payload.get("resume")}), path


def test_probe_data_runs_every_code_path():
    ds = probes.probe_dataset()
    rates = {dict(c.overrides).get("reduction_factor", 8) for c in grid.GRID}
    for r in rates:  # a real DREAM map with at least two channels at every r of the grid
        c, h, w = map_shape(ds.visual.shape[1] // r, 8)
        assert c >= 2 and h == w == 8, r
    train = probes.PROBE_TRAIN
    assert len(ds.train) > 3 * train.batch_size  # several optimizer steps per epoch
    assert ds.n_users > train.eval_batch_users  # the evaluator's block loop runs
    probe = probes.run_probes(probes.cells_to_runs(grid.grid_cells(["paper"])))["paper"]
    lrs = [row["lr"] for row in probe["history"]]
    assert len(lrs) == 2 and lrs[0] != lrs[1]  # the scheduler moved the rate
    assert train.patience == 0  # the second evaluation decides early stopping


def test_probes_are_deterministic_and_a_cell_switch_changes_its_probe():
    runs = probes.cells_to_runs(grid.grid_cells(["paper", "no_mmd"]))
    a, b = probes.run_probes(runs), probes.run_probes(runs)
    assert a == b
    assert probes.differences(a["paper"], a["no_mmd"])  # the MMD switch is seen by the probe


def test_an_equivalent_rewrite_keeps_the_probe(monkeypatch):
    """InfoNCE written the direct way (softmax, then the log of the diagonal): the same mathematics."""
    runs = probes.cells_to_runs(grid.grid_cells(["paper"]))
    before = probes.run_probes(runs)["paper"]

    def direct_info_nce(view1, view2, tau):
        sim = torch.nn.functional.normalize(view1, dim=1) @ torch.nn.functional.normalize(view2, dim=1).t()
        return -torch.log(torch.softmax(sim / tau, dim=1).diagonal()).mean()

    monkeypatch.setattr("mambarec.model.mambarec.info_nce", direct_info_nce)
    after = probes.run_probes(runs)["paper"]
    assert probes.flatten(after) != probes.flatten(before)  # other floats...
    assert probes.differences(before, after) == []  # ...the same numbers within the tolerance


def test_a_change_of_the_mathematics_moves_the_probe_by_name(monkeypatch):
    runs = probes.cells_to_runs(grid.grid_cells(["paper", "bpr"]))
    before = probes.run_probes(runs)
    monkeypatch.setattr("mambarec.model.mambarec.mmd_loss",
                        lambda x, y, sigma, **kw: losses.mmd_loss(x, y, sigma * 1.1, **kw))
    after = probes.run_probes(runs)
    assert probes.differences(before["bpr"], after["bpr"]) == []  # BPR has no MMD
    moved = probes.differences(before["paper"], after["paper"])
    assert any("loss/mmd" in line for line in moved)
    stale = probes.Staleness(("paper", "bpr"), {"paper": moved}, ())
    assert not stale.current and "paper" in stale.message() and "loss/mmd" in stale.message()  # the largest move


def test_tolerance_rules():
    tol = probes.TOLERANCE
    assert tol.same("loss/bpr", 0.6931, 0.6931 * (1 + 1e-10))  # float64 noise, amplified by training
    assert tol.same("digest/score_mean", 0.0135293, 0.0135293 * (1 + 9e-8))  # another machine's kernels
    assert not tol.same("loss/bpr", 0.6931, 0.6931 * (1 + 1e-5))
    assert tol.same("valid/Recall@20", 0.5, 0.5 + 1e-12)
    assert not tol.same("valid/Recall@20", 0.5, 0.5 + 1 / probes.PROBE_USERS)  # one user's rank swap
    assert tol.same("x", float("nan"), float("nan")) and not tol.same("x", float("nan"), 0.0)
    assert dataclasses.asdict(tol)["rel"] == 1e-6


def test_the_probe_cache_is_keyed_by_source_and_config(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMBAREC_CACHE", str(tmp_path))
    runs = probes.cells_to_runs(grid.grid_cells(["pop"]))
    first = probes.cached_probes(runs)
    assert probes.cache_path().is_file()
    calls = []
    monkeypatch.setattr(probes, "run_probes", lambda *a, **k: calls.append(a) or {})
    assert probes.cached_probes(runs) == first and not calls  # read back, not recomputed
    with pytest.raises(KeyError):  # another config is another key: it would be computed
        probes.cached_probes(probes.cells_to_runs(grid.grid_cells(["bpr"])))
    assert calls
