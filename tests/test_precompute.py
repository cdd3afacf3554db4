"""The precomputed ablation grid: a 2-cell mini grid end to end, reproducibility, refusal of modified
artifacts, staleness by numerics probes, the licence rule for non-redistributable data, and the claim
verdicts."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from mambarec import artifacts, findings, grid, probes, stats
from mambarec import precompute as pc
from mambarec.checkpoint import load_checkpoint
from mambarec.cli import main
from mambarec.config import ConfigError
from mambarec.data import load_dataset
from mambarec.tasks import Task, execute

CELLS = ["paper", "no_mmd"]  # a headline cell (alignment maps, checkpoint) and a first-seed-only one
EPOCHS = 2


@pytest.fixture(scope="module")
def tiny():
    return load_dataset("synthetic", n_users=40, n_items=30)


@pytest.fixture(scope="module")
def grid_dir(tmp_path_factory, tiny):
    """The mini grid on the tiny synthetic set, and the same data under a non-redistributable name."""
    out = tmp_path_factory.mktemp("pc") / "precomputed"
    private = dataclasses.replace(tiny, name="ml100k", items=None)
    pc.precompute(out, {"synthetic": tiny, "ml100k": private}, seeds=[0], epochs=EPOCHS, only=CELLS,
                  projections=("pca",), progress=False)  # UMAP itself is tested in test_analysis
    return out


@pytest.fixture
def copy_of(grid_dir, tmp_path):
    dest = tmp_path / "copy"
    shutil.copytree(grid_dir, dest)
    return dest


def test_grid_is_well_formed():
    names = [c.name for c in grid.GRID]
    assert len(names) == len(set(names))
    for c in grid.GRID:
        run = c.run_config("ml100k", 0, grid.budget_for("ml100k"))  # every override is a real field
        assert run.train.epochs == 1000 and run.train.patience == 20  # converged: early stopping decides
        assert 3 <= c.seeds <= grid.MAX_SEEDS
        assert run.train.schedule == (c.schedule or "fast")  # ml100k: the validated fast schedule by default
        assert c.run_config("synthetic/cold-items", 0, grid.DEFAULT_BUDGET).train.schedule == (c.schedule or "paper")
    assert {c.name for c in grid.GRID if c.headline} == {"paper", "official", "mgcn", "no_alignment"}
    assert [c.name for c in grid.grid_cells(["mgcn", "paper"])] == ["paper", "mgcn"]
    with pytest.raises(ConfigError, match="unknown cell"):
        grid.grid_cells(["paper", "nope"])
    scenario = grid.cells_for("synthetic/cold-items", grid.GRID)
    assert [c.name for c in scenario] == ["paper", "mgcn", "no_alignment", "no_dream", "pop", "bpr"]
    # a schedule cell repeats its headline cell where the dataset's default schedule is already the paper's
    sched = {c.name for c in grid.GRID if c.group == grid.SCHEDULE_GROUP}
    assert sched <= {c.name for c in grid.cells_for("ml100k", list(grid.GRID))}
    assert not sched & {c.name for c in grid.cells_for("synthetic", list(grid.GRID))}


def test_a_candidate_schedule_s_cells_drop_out_where_the_grid_already_trains_with_it(monkeypatch):
    lb = {grid.schedule_cell(m, "large-batch") for m in ("paper", "official", "mgcn")}
    assert lb <= set(grid.CELLS) and all(grid.CELLS[c].schedule == "large-batch" for c in lb)
    monkeypatch.setitem(grid.GRID_SCHEDULES, "ml100k", "large-batch")  # were the grid moved to it
    kept = {c.name for c in grid.cells_for("ml100k", list(grid.GRID))}
    assert not lb & kept  # they would repeat the headline cells' rows
    assert {"paper_paper_sched", "mgcn_paper_sched"} <= kept  # the paper's schedule is still checked against


def test_bridge_cells_switch_one_paper_part_at_a_time():
    backbone = grid.CELLS["mgcn"].run_config("ml100k", 0, grid.DEFAULT_BUDGET).model.as_mambarec()
    paper = grid.CELLS["paper"].model_config()
    for part, (_, on, off) in grid.PAPER_PARTS.items():
        bridged = grid.CELLS[f"mgcn_with_{part}"].model_config()
        changed = {f for f in on if getattr(bridged, f) != getattr(backbone, f)}
        assert changed and all(getattr(bridged, f) == v for f, v in on.items()), part
        assert {f for f in dataclasses.fields(bridged) if getattr(bridged, f.name) != getattr(backbone, f.name)
                } <= {f for f in dataclasses.fields(bridged) if f.name in on or f.name == "variant"}, part
        back = grid.CELLS.get(f"paper_without_{part}") or grid.CELLS[{"dream": "no_dream", "mmd": "no_mmd"}[part]]
        assert all(getattr(back.model_config(), f) == v for f, v in off.items()), part
    assert paper.n_ui_layers == 4 and backbone.n_ui_layers == 2


def test_the_mini_grid_loads(grid_dir, tiny):
    data = artifacts.load_precomputed(grid_dir)
    rows = data["results"]
    assert {(r["dataset"], r["cell"], r["seed"]) for r in rows} == {
        (d, c, 0) for d in ("synthetic", "ml100k") for c in CELLS}
    for r in rows:
        assert r["epochs_run"] == EPOCHS and 0.0 <= r["test/Recall@20"] <= 1.0 and r["n_params"] > 0
    csv_lines = (grid_dir / "results.csv").read_text().splitlines()
    assert csv_lines[0].split(",") == list(artifacts.ROW_COLUMNS) and len(csv_lines) == 1 + len(rows)
    manifest = data["manifest"]
    assert manifest["datasets"]["synthetic"]["fingerprint"] == tiny.fingerprint()
    assert manifest["budgets"]["synthetic"] == {"epochs": EPOCHS, "patience": 20}
    assert set(manifest["runs"]) == {f"{d}/{c}/s0" for d in ("synthetic", "ml100k") for c in CELLS}
    snap = data["alignment"]["synthetic"]["paper_s0"]
    assert snap["item_id"] == list(range(tiny.n_items))
    for when in ("before", "after"):
        assert len(snap[when]["pca"]["visual"]) == tiny.n_items and len(snap[when]["pca"]["text"][0]) == 2
        assert snap[when]["metrics"]["n_items"] == tiny.n_items
    assert "no_mmd_s0" not in data["alignment"]["synthetic"]  # not a headline cell
    ckpt = load_checkpoint(data["checkpoints"]["synthetic"]["paper_s0"], expect_fingerprint=tiny.fingerprint())
    assert ckpt["resume"] is None and ckpt["run"].model.variant == "paper"
    assert data["labels"]["synthetic"]["title"] == tiny.titles()
    assert "### The paper's claims beside ours" in data["report"]


def test_results_json_keeps_the_history_the_curves_draw_and_every_final_metric(copy_of):
    from app import evidence
    from mambarec import report
    from mambarec.replay import rerender

    rows = artifacts.load_precomputed(copy_of)["results"]
    epoch = rows[0]["history"][0]
    drawn = set(evidence.CURVE_METRICS) | {m for m, _ in report.CURVE_METRICS}
    assert drawn <= set(epoch) and {"epoch", "epoch_s", "lr", "loss/bpr"} <= set(epoch)
    assert not {"valid/Precision@20", "test/MAP@10", "valid/Recall@10"} & set(epoch)  # trimmed ...
    assert {"test/Precision@20", "valid/Recall@10"} <= set(rows[0])                   # ... but final metrics kept
    assert "test/MAP@10" in rows[0]["all_metrics"]
    # A folder written with a fuller history is trimmed by --rerender, and still loads sealed.
    raw = json.loads((copy_of / "results.json").read_text())
    for r in raw["rows"]:
        r["history"] = [dict(h, **{"valid/MAP@20": 0.5}) for h in r["history"]]
    (copy_of / "results.json").write_text(json.dumps(raw))
    artifacts.seal_manifest(copy_of, json.loads((copy_of / "manifest.json").read_text()))
    assert "valid/MAP@20" in artifacts.load_precomputed(copy_of)["results"][0]["history"][0]
    rerender(copy_of)
    again = artifacts.load_precomputed(copy_of)["results"]
    assert "valid/MAP@20" not in again[0]["history"][0]
    assert [r["history"] for r in again] == [r["history"] for r in rows]


def test_nothing_of_the_content_of_non_redistributable_data_is_written(grid_dir, tiny):
    files = [p.relative_to(grid_dir).as_posix() for p in grid_dir.rglob("*") if p.is_file()]
    ml = sorted(f for f in files if "ml100k" in f)
    # coordinates keyed by item id and learning curves (numbers per epoch), nothing else
    assert ml == ["alignment/ml100k/paper_s0.json", "curves/ml100k/paper_loss_total.svg",
                  "curves/ml100k/paper_valid_recall20.svg"]
    for f in ml:
        text = (grid_dir / f).read_text()
        assert not any(title in text for title in tiny.titles())


def test_a_cell_rerun_with_the_same_seed_reproduces_its_metrics(grid_dir, tiny):
    stored = next(r for r in artifacts.load_precomputed(grid_dir)["results"]
                  if r["dataset"] == "synthetic" and r["cell"] == "no_mmd")
    cell = grid.grid_cells(["no_mmd"])[0]
    again = execute(Task("synthetic", cell, 0, grid.budget_for("synthetic", EPOCHS)), tiny)["row"]
    for column in artifacts.METRIC_COLUMNS:
        assert again[column] == pytest.approx(stored[column], abs=1e-6), column
    assert (again["best_epoch"], again["n_params"]) == (stored["best_epoch"], stored["n_params"])


@pytest.mark.parametrize("victim", ["results.csv", "alignment/synthetic/paper_s0.json",
                                    "checkpoints/synthetic/paper_s0.pt"])
def test_a_modified_artifact_is_refused(copy_of, victim):
    with open(copy_of / victim, "ab") as f:
        f.write(b" ")
    with pytest.raises(artifacts.TamperedArtifactError, match="differs"):
        artifacts.load_precomputed(copy_of)


def test_a_missing_artifact_is_refused(copy_of):
    (copy_of / "REPORT.md").unlink()
    with pytest.raises(artifacts.TamperedArtifactError, match="missing"):
        artifacts.load_precomputed(copy_of)


def test_an_edited_manifest_is_refused(copy_of):
    path = copy_of / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["budgets"]["synthetic"]["epochs"] = 1000  # claims a longer training than was run
    path.write_text(json.dumps(manifest))
    with pytest.raises(artifacts.TamperedArtifactError, match="own checksum"):
        artifacts.load_precomputed(copy_of)


def test_the_manifest_holds_a_probe_per_cell_and_they_reproduce(grid_dir):
    manifest = artifacts.load_precomputed(grid_dir)["manifest"]
    assert set(manifest["probes"]) == set(CELLS)
    assert manifest["probe_tolerance"]["rel"] == probes.TOLERANCE.rel
    found = artifacts.staleness(manifest)
    assert found.current and set(found.checked) == set(CELLS), found.message()


def test_a_moved_probe_makes_the_folder_stale_by_name_but_still_readable(copy_of, tmp_path, capsys):
    compare = ["compare", "--runs", str(tmp_path / "none"), "--precomputed", str(copy_of), "--dataset", "synthetic"]
    assert main(compare) == 0
    assert f"{copy_of}: current: the numerics probes of all" in capsys.readouterr().out
    manifest = artifacts.load_precomputed(copy_of)["manifest"]
    first = manifest["probes"]["no_mmd"]["history"][0]
    first["loss/bpr"] *= 1.001  # as if today's code computed a 0.1% different loss
    artifacts.seal_manifest(copy_of, manifest)
    data = artifacts.load_precomputed(copy_of)  # intact, so it loads
    found = artifacts.staleness(data["manifest"])
    assert not found.current and list(found.moved) == ["no_mmd"]
    assert "epoch 1 loss/bpr" in found.message() and "no_mmd" in found.message()
    assert main(compare) == 0
    out = capsys.readouterr().out  # a terminal's reader is told what the Compare page's banner tells
    assert "WARNING: These precomputed results are stale" in out and "no_mmd (epoch 1 loss/bpr" in out
    assert out.index("WARNING") < out.index("| setup |")  # above the table, not after it
    assert main([*compare, "--no-check"]) == 0
    assert "not checked against today's code" in capsys.readouterr().out
    with pytest.raises(artifacts.PrecomputedError, match="stale"):  # extending would mix two codes
        pc.precompute(copy_of, {"synthetic": load_dataset("synthetic", n_users=40, n_items=30)}, seeds=[0],
                      epochs=EPOCHS, only=["pop"], projections=("pca",), progress=False, extend=True)


def test_a_folder_that_is_not_precomputed_is_neither_loaded_nor_overwritten(tmp_path, tiny):
    (tmp_path / "notes.txt").write_text("mine")
    # ... and the advice is not to `precompute --out` there, which would be refused (audit r75)
    with pytest.raises(artifacts.PrecomputedError, match="no manifest.json.*holds other files and no grid: name the "
                       "folder that `python -m mambarec precompute --out DIR` wrote"):
        artifacts.load_precomputed(tmp_path)
    with pytest.raises(artifacts.PrecomputedError, match="not a precomputed folder"):
        pc.precompute(tmp_path, {"synthetic": tiny}, seeds=[0], epochs=1, only=["pop"], progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def _row(cell: str, seed: int, recall20: float) -> dict:
    return {"dataset": "d", "cell": cell, "seed": seed, "test/Recall@20": recall20}


def test_claim_verdicts_pair_the_common_seeds_and_need_an_interval():
    claim = next(c for c in findings.CLAIMS if c.reference == "no_spatial_attention")  # paper +1.8% over it
    paper = [_row("paper", 0, 0.100), _row("paper", 1, 0.101), _row("paper", 2, 0.099)]
    one = findings.cells_of(paper + [_row("no_spatial_attention", 0, 0.090)], "d")
    shown, verdict = findings.claim_verdict(claim, one)
    assert verdict == "inconclusive (1 seed)" and shown.startswith(f"{100 * (0.100 / 0.090 - 1):+.1f}%")
    better = findings.cells_of(paper + [_row("no_spatial_attention", s, 0.090 + 0.001 * s) for s in range(3)], "d")
    assert findings.claim_verdict(claim, better)[1] == "agrees"  # paired: +0.010 every seed
    worse = findings.cells_of(paper + [_row("no_spatial_attention", s, 0.110 + 0.001 * s) for s in range(3)], "d")
    assert findings.claim_verdict(claim, worse)[1] == "disagrees"
    noisy = findings.cells_of(paper + [_row("no_spatial_attention", s, v) for s, v in enumerate((0.09, 0.11, 0.1))],
                              "d")
    shown, verdict = findings.claim_verdict(claim, noisy)
    assert verdict == "inconclusive" and "[" in shown  # the interval is shown
    assert findings.claim_verdict(claim, findings.cells_of(paper, "d"))[1] == stats.NOT_MEASURED


def test_the_cli_registers_precompute():
    from mambarec.cli import build_parser
    from mambarec.precompute_cli import cmd_precompute

    args = build_parser().parse_args(["precompute", "--only", "paper,mgcn", "--seeds", "0", "--epochs", "2"])
    assert args.func is cmd_precompute and args.out == artifacts.DEFAULT_OUT and args.epochs == 2


def test_extend_trains_only_what_is_missing(copy_of, tiny):
    before = artifacts.load_precomputed(copy_of)["results"]
    pc.precompute(copy_of, {"synthetic": tiny}, seeds=[0, 1], epochs=EPOCHS, only=["no_mmd", "pop"],
                  projections=("pca",), progress=False, extend=True)
    data = artifacts.load_precomputed(copy_of)
    keys = [(r["dataset"], r["cell"], r["seed"]) for r in data["results"]]
    assert keys[: len(before)] == [(r["dataset"], r["cell"], r["seed"]) for r in before]  # kept, not retrained
    added = keys[len(before):]
    assert ("synthetic", "pop", 0) in added and ("synthetic", "pop", 1) in added
    assert ("synthetic", "no_mmd", 0) not in added  # it was there already
    assert {"paper", "no_mmd", "pop"} <= set(data["manifest"]["cells"])
    changed = dataclasses.replace(tiny, train=tiny.train[1:])
    with pytest.raises(artifacts.PrecomputedError, match="changed"):
        pc.precompute(copy_of, {"synthetic": changed}, seeds=[0], epochs=EPOCHS, only=["pop"],
                      projections=("pca",), progress=False, extend=True)


# ---- engines: failures, the journal, refused results ---------------------------------------------------
def _run_grid(out, tiny, only=("pop", "bpr"), **kw):
    return pc.precompute(out, {"synthetic": tiny}, seeds=[0], epochs=1, only=list(only), projections=("pca",),
                         progress=False, **kw)


def test_refresh_stale_never_drops_a_stale_run_it_would_not_train_again(tmp_path, tiny):
    out = tmp_path / "pre"
    _run_grid(out, tiny)  # pop and bpr, seed 0
    manifest = artifacts.load_precomputed(out)["manifest"]
    manifest["probes"]["bpr"]["digest"]["score_rms"] += 1.0  # as if bpr's numerics had moved since
    artifacts.seal_manifest(out, manifest)
    before = (out / "manifest.json").read_text()
    with pytest.raises(artifacts.PrecomputedError, match="stale runs of bpr on synthetic are outside this command"):
        _run_grid(out, tiny, only=("pop",), refresh_stale=True)  # it used to drop bpr's run, silently
    assert (out / "manifest.json").read_text() == before
    assert not list(tmp_path.glob("pre.tmp-*"))  # nothing half-written left beside it
    _run_grid(out, tiny, refresh_stale=True)  # bpr in the selection: retrained, and the folder current again
    pre = artifacts.load_precomputed(out)
    assert {r["cell"] for r in pre["results"]} == {"pop", "bpr"} and artifacts.staleness(pre["manifest"]).current


def test_an_extension_keeps_one_budget_per_dataset(tmp_path, tiny):
    """`--extend --epochs 5` into a folder of 2-epoch runs wrote "at most 5 epochs" over all of them in REPORT.md and
    set runs of both caps side by side as one setup (audit r73)."""
    out = tmp_path / "pre"
    _run_grid(out, tiny, only=("bpr",))  # 1 epoch
    before = (out / "manifest.json").read_text()
    with pytest.raises(artifacts.PrecomputedError, match=r"at most 1 epochs and patience .* asks for at most 3 .* "
                                                          r"one budget per dataset.* Extend it with --epochs 1"):
        pc.precompute(out, {"synthetic": tiny}, seeds=[0], epochs=3, only=["lightgcn"], projections=("pca",),
                      progress=False, extend=True)
    assert (out / "manifest.json").read_text() == before and not list(tmp_path.glob("pre.tmp-*"))
    _run_grid(out, tiny, only=("lightgcn",), extend=True)  # the folder's own budget: taken
    assert {r["cell"] for r in artifacts.load_precomputed(out)["results"]} == {"bpr", "lightgcn"}


def test_an_extension_that_retrains_nothing_keeps_the_probes_and_date_of_the_code_that_trained(tmp_path, tiny,
                                                                                               capsys):
    """A `--refresh-stale` with nothing stale rewrote every stored probe with today's values and the folder's
    creation date: changes each within tolerance of the last could then drift without end (audit r73)."""
    out = tmp_path / "pre"
    _run_grid(out, tiny)  # pop and bpr, seed 0
    manifest = artifacts.load_precomputed(out)["manifest"]
    manifest["probes"]["bpr"]["digest"]["score_rms"] *= 1 + 1e-8  # the code moved, within tolerance
    manifest["created"] = "2026-01-01T00:00:00+0000"
    artifacts.seal_manifest(out, manifest)
    capsys.readouterr()
    _run_grid(out, tiny, refresh_stale=True)  # nothing stale: nothing retrained, and said
    assert "none is stale: nothing to train" in capsys.readouterr().err
    after = artifacts.load_precomputed(out)["manifest"]
    assert after["probes"]["bpr"] == manifest["probes"]["bpr"] and after["created"] == manifest["created"]
    assert after["extended"] != after["created"] and "(extended " in (out / "REPORT.md").read_text()
    manifest["probes"]["bpr"]["digest"]["score_rms"] += 1.0  # now stale: retrained, and its probe today's
    artifacts.seal_manifest(out, after | {"probes": manifest["probes"]})
    _run_grid(out, tiny, refresh_stale=True)
    assert artifacts.load_precomputed(out)["manifest"]["probes"]["bpr"] != manifest["probes"]["bpr"]


def test_the_plan_of_refresh_stale_counts_the_stale_cells_runs(tmp_path, tiny):
    import argparse

    from mambarec.precompute_cli import _plan

    out = tmp_path / "pre"
    _run_grid(out, tiny)  # pop and bpr, seed 0
    args = argparse.Namespace(out=str(out), epochs=1, extend=True, refresh_stale=False, workers=1, device="cpu",
                              engine="local", cpus_per_task=1.0, overwrite=False)
    assert _plan(args, {"synthetic": tiny}, [0], ["pop", "bpr"]).startswith("nothing to train")
    other = _plan(argparse.Namespace(**{**vars(args), "epochs": 3}), {"synthetic": tiny}, [0], ["pop", "bpr"])
    assert other.startswith("note: run without --plan, this command would be refused: ") and "one budget" in other
    manifest = artifacts.load_precomputed(out)["manifest"]
    manifest["probes"]["bpr"]["digest"]["score_rms"] += 1.0  # bpr's numerics moved
    artifacts.seal_manifest(out, manifest)
    stale = _plan(args, {"synthetic": tiny}, [0], ["pop", "bpr"])
    assert stale.startswith("note:") and "--extend will refuse it" in stale and "nothing to train" in stale
    refresh = _plan(argparse.Namespace(**{**vars(args), "extend": False, "refresh_stale": True}),
                    {"synthetic": tiny}, [0], ["pop", "bpr"])
    assert "total: 1 runs" in refresh and refresh.splitlines()[1].split()[:2] == ["synthetic", "bpr"]


def test_a_task_that_keeps_failing_is_reported_and_every_other_run_is_written(tmp_path, tiny, monkeypatch):
    import mambarec.engines as engines

    real = engines.execute

    def flaky(task, *a, **k):
        if task.cell.name == "bpr":
            raise RuntimeError("worker lost")
        return real(task, *a, **k)

    monkeypatch.setattr(engines, "execute", flaky)
    manifest = _run_grid(tmp_path / "pre", tiny)
    assert [f["task"] for f in manifest["failed"]] == ["synthetic/bpr/s0"] and "worker lost" in manifest["failed"][0][
        "error"]
    data = artifacts.load_precomputed(tmp_path / "pre")
    assert [r["cell"] for r in data["results"]] == ["pop"]
    assert "## Failed" in data["report"] and "synthetic/bpr/s0" in data["report"]


def test_finished_runs_are_journalled_and_reused_after_a_crash(tmp_path, tiny, monkeypatch, capsys):
    import mambarec.engines as engines

    real = engines.execute
    calls = []

    def crash_on_bpr(task, *a, **k):
        calls.append(task.key)
        if task.cell.name == "bpr":
            raise KeyboardInterrupt  # the machine stops: not a task failure
        return real(task, *a, **k)

    monkeypatch.setattr(engines, "execute", crash_on_bpr)
    with pytest.raises(KeyboardInterrupt):
        _run_grid(tmp_path / "pre", tiny)
    assert (tmp_path / "pre.partial").is_dir() and not (tmp_path / "pre").exists()
    # said where the finished run is and how to go on; no half-written folder left beside it (audit r73)
    assert (f"{tmp_path / 'pre'} is not written; 1 of 2 run(s) finished (1 by this attempt) are kept in "
            f"{tmp_path / 'pre.partial'}, and the same command goes on from them.") in capsys.readouterr().err
    assert not list(tmp_path.glob("pre.tmp-*"))
    calls.clear()
    monkeypatch.setattr(engines, "execute", lambda task, *a, **k: calls.append(task.key) or real(task, *a, **k))
    _run_grid(tmp_path / "pre", tiny)
    assert calls == ["synthetic/bpr/s0"]  # pop came from the journal
    assert "1 run(s) finished by an interrupted attempt are reused" in capsys.readouterr().err
    assert {r["cell"] for r in artifacts.load_precomputed(tmp_path / "pre")["results"]} == {"pop", "bpr"}
    assert not (tmp_path / "pre.partial").exists()


def test_a_journalled_run_of_another_budget_is_trained_again_and_said(tmp_path, tiny, monkeypatch, capsys):
    """A rerun with another --epochs had reused the interrupted attempt's runs under the old cap beside new ones,
    and the manifest stated the new cap for both (audit r59)."""
    import mambarec.engines as engines

    real = engines.execute
    calls = []

    def crash_on_bpr(task, *a, **k):
        if task.cell.name == "bpr":
            raise KeyboardInterrupt
        return real(task, *a, **k)

    monkeypatch.setattr(engines, "execute", crash_on_bpr)
    with pytest.raises(KeyboardInterrupt):
        _run_grid(tmp_path / "pre", tiny)
    capsys.readouterr()
    monkeypatch.setattr(engines, "execute", lambda task, *a, **k: calls.append(task.key) or real(task, *a, **k))
    pc.precompute(tmp_path / "pre", {"synthetic": tiny}, seeds=[0], epochs=2, only=["pop", "bpr"],
                  projections=("pca",), progress=False)
    assert sorted(calls) == ["synthetic/bpr/s0", "synthetic/pop/s0"]
    assert "ran another setup or budget and are trained again: synthetic/pop/s0" in capsys.readouterr().err
    runs = artifacts.load_precomputed(tmp_path / "pre")["manifest"]["runs"]
    assert {key: run["train"]["epochs"] for key, run in runs.items()} == {"synthetic/pop/s0": 2, "synthetic/bpr/s0": 2}


def test_an_out_folder_that_cannot_be_written_is_said_before_anything_trains(tmp_path, tiny):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError, match=r"a-file/pre cannot be written \(a file is in the way\); choose another"):
        _run_grid(tmp_path / "a-file" / "pre", tiny)


def test_a_second_precompute_into_the_same_out_is_refused_while_the_first_runs(tmp_path, tiny, monkeypatch):
    """Two at once had each replaced the other's grid, the later silently, and shared one journal (audit r60)."""
    import subprocess
    import sys

    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".pre.lock").write_text(str(first.pid))
        with pytest.raises(ConfigError, match=rf"pre: another precompute \(process {first.pid}\) is writing it"):
            _run_grid(tmp_path / "pre", tiny)
    finally:
        first.kill()
        first.wait()
    assert _run_grid(tmp_path / "pre", tiny)["runs"] and not (tmp_path / ".pre.lock").exists()


def test_a_result_computed_by_other_code_is_refused(tmp_path, tiny, monkeypatch):
    import mambarec.engines as engines

    real = engines.execute

    def other_code(task, *a, **k):
        res = real(task, *a, **k)
        if task.cell.name == "bpr":
            res["probe"]["history"][0]["loss/total"] *= 1.01
        return res

    monkeypatch.setattr(engines, "execute", other_code)
    manifest = _run_grid(tmp_path / "pre", tiny, only=("bpr", "pop"))
    assert [f["task"] for f in manifest["failed"]] == ["synthetic/bpr/s0"]
    assert "other numbers" in manifest["failed"][0]["error"]
    with pytest.raises(artifacts.PrecomputedError, match="every run failed.*other numbers.*left as it was"):
        _run_grid(tmp_path / "alone", tiny, only=("bpr",))  # nothing succeeded: no folder of zero runs is written
    assert not (tmp_path / "alone").exists()


def test_the_cli_never_replaces_a_grid_it_was_not_asked_to_and_checks_its_numbers_first(copy_of, capsys):
    before = (copy_of / "manifest.json").read_text()
    base = ["precompute", "--datasets", "synthetic", "--only", "pop", "--seeds", "0", "--out", str(copy_of)]
    assert main(base) == 2
    assert "already holds a precomputed grid; --extend adds runs to it, --overwrite" in capsys.readouterr().err
    for extra, message in ((["--epochs", "-5"], "--epochs must be at least 1"),
                           (["--workers", "0"], "--workers must be at least 1"),
                           (["--seeds", "0,1,2,3,4,5"], "--seeds takes 1 to 5 different seeds"),
                           (["--seeds", "0,0"], "different seeds"),
                           # contradictions and flags that meant nothing, once taken in silence (audit r75)
                           (["--extend"], "--overwrite replaces the folder as a whole, and --extend"),
                           (["--address", "auto"], "add --engine ray, or leave --address out")):
        assert main([*base, "--overwrite", *extra]) == 2 and message in capsys.readouterr().err
    # a mistyped --out with --extend or --refresh-stale had trained a whole new grid there (audit r75)
    for keep in ("--extend", "--refresh-stale"):
        assert main([*base[:-1], str(copy_of.parent / "typo"), keep]) == 2
        assert "typo holds no precomputed grid to extend or refresh (no manifest.json); check --out" in (
            capsys.readouterr().err)
        assert not (copy_of.parent / "typo").exists()
    assert (copy_of / "manifest.json").read_text() == before  # untouched by every refusal
    assert main([*base, "--overwrite", "--epochs", "1"]) == 0
    assert {r["cell"] for r in artifacts.load_precomputed(copy_of)["results"]} == {"pop"}  # replaced, as asked


def test_a_run_that_today_s_grid_defines_otherwise_makes_its_cell_stale(copy_of):
    manifest = artifacts.load_precomputed(copy_of)["manifest"]
    manifest["runs"]["synthetic/no_mmd/s0"]["train"]["patience"] = 3  # as if stored under another budget
    artifacts.seal_manifest(copy_of, manifest)
    found = artifacts.staleness(artifacts.load_precomputed(copy_of)["manifest"])
    assert not found.current and list(found.redefined) == ["no_mmd"] and not found.moved
    assert "train.patience 3 -> 20" in found.message()


def test_the_plan_expects_the_epochs_of_earlier_converged_runs():
    from mambarec.plan import EXPECTED_EPOCHS, expected_epochs

    rows = [{"dataset": "ml100k", "cell": "paper", "schedule": "fast", "epochs_run": e, "stopped_early": True,
             "model_name": "mambarec"} for e in (100, 110)]
    rows.append({"dataset": "ml100k", "cell": "pop", "schedule": "fast", "epochs_run": 1, "stopped_early": False,
                 "model_name": "pop"})
    assert expected_epochs(rows, "ml100k", "paper", "fast") == (105.0, "2 earlier run(s)")
    assert expected_epochs(rows, "ml100k", "no_mmd", "fast") == (105.0, "2 run(s) of other cells")
    assert expected_epochs(rows, "ml100k", "paper_paper_sched", "paper") == (float(EXPECTED_EPOCHS["paper"]),
                                                                            "default")
    assert expected_epochs(rows, "synthetic", "paper", "fast")[1] == "default"
    from mambarec.config import SCHEDULES

    for schedule in SCHEDULES:  # a new preset comes with its expected epochs, or the plan could not be printed
        assert expected_epochs([], "ml100k", "paper", schedule) == (float(EXPECTED_EPOCHS[schedule]), "default")


def test_the_bridge_summary_sorts_each_paper_part_by_what_its_interval_says():
    from mambarec.summary import bridge_lines

    mgcn = [_row("mgcn", s, 0.300 + 0.001 * s) for s in range(3)]
    layers = [_row("mgcn_with_layers4", s, 0.280 + 0.001 * s) for s in range(3)]  # -6.6% every seed
    norm = [_row("mgcn_with_norm", s, v) for s, v in enumerate((0.29, 0.31, 0.302))]  # noise around 0
    frozen = [_row("mgcn_with_frozen", 0, 0.33)]  # one common seed
    paper = [_row("paper", s, 0.290 + 0.001 * s) for s in range(3)]
    without = [_row("paper_without_layers4", s, 0.300 + 0.001 * s) for s in range(3)]  # paper loses to it
    lines = bridge_lines(findings.cells_of(mgcn + layers + norm + frozen + paper + without, "d"), "d")
    added, removed = lines
    assert "added to MGCN" in added and "taken out of the paper's model" in removed
    costs, rest = added.split("**costs accuracy**: ")[1].split("; no measurable effect: ")
    assert costs.startswith("4 user-item layers instead of 2 (-") and "[" in costs  # with its interval
    assert "LayerNorm" in rest.split("; one seed")[0] and "one seed, no interval: " in rest
    assert "**costs accuracy**: 4 user-item layers" in removed and "LayerNorm" not in removed
    assert "In plain words" not in added  # a part costs accuracy: the list says which
    calm = bridge_lines(findings.cells_of(mgcn + norm, "d"), "d")[0]
    assert "no part, on its own, costs accuracy" in calm and "largest drop is LayerNorm" in calm
    assert bridge_lines(findings.cells_of(mgcn + paper, "d"), "d") == []  # no bridge rows, no sentence


def test_a_cell_that_never_left_epoch_1_or_the_loss_plateau_is_called_untrained():
    from mambarec.summary import never_learned_lines

    stuck = [{**_row("official_paper_sched", s, 0.07), "best_epoch": 1, "epochs_run": 22, "stopped_early": True,
              "history": [{"epoch": 1, "loss/bpr": 0.6929}, {"epoch": 2, "loss/bpr": 0.6923}]} for s in range(3)]
    learned = [{**_row("official", s, 0.34), "best_epoch": 40 + s, "epochs_run": 61 + s} for s in range(3)]
    one_learned = [{**_row("no_mmd", s, 0.3), "best_epoch": 1 if s else 30, "epochs_run": 22} for s in range(3)]
    untrained_by_design = [{**_row("pop", s, 0.17), "best_epoch": 0, "epochs_run": 0} for s in range(3)]
    # a best epoch of 2 on the ln 2 plateau is noise: the large-batch `official` runs of the grid did this
    plateau_2 = [{**_row("official_large_batch_sched", s, 0.1), "best_epoch": 1 + s % 2, "epochs_run": 22 + s % 2,
                  "stopped_early": True,
                  "history": [{"epoch": e, "loss/bpr": 0.6928 - 0.0001 * e} for e in (1, 2, 3)]} for s in range(3)]
    # ... but a best epoch of 2 after the loss left it is a model that learned (and stopped early for a reason)
    left = [{**_row("mgcn_with_norm", s, 0.1), "best_epoch": 2, "epochs_run": 23,
             "history": [{"epoch": 1, "loss/bpr": 0.69}, {"epoch": 2, "loss/bpr": 0.45}]} for s in range(3)]
    lines = never_learned_lines(findings.cells_of(stuck + learned + one_learned + untrained_by_design + plateau_2
                                                  + left, "d"), "d")
    assert len(lines) == 2 and lines[0].startswith("- `official_paper_sched` on d never learned") and "22" in lines[0]
    assert "never went below 0.6923" in lines[0] and "best valid epoch is 1," in lines[0]
    assert lines[1].startswith("- `official_large_batch_sched` on d never learned: every seed's best valid epoch "
                               "is 1 or 2, and early stopping ended it after 22/23 epochs")
    assert "a longer patience would be needed" in lines[1]
    capped = [{**r, "stopped_early": False, "epochs_run": 2} for r in stuck]  # a grid run with --epochs 2
    line = never_learned_lines(findings.cells_of(capped, "d"), "d")[0]
    assert "its epoch cap ended it after 2 epochs" in line and "more epochs would be needed" in line
    # every seed still at its best when the cap came (a 2-epoch demo's `paper` ranked at 0.44): cut short, and not
    # called a model that never learned (audit r75, item 3)
    rising = [{**r, "best_epoch": 2} for r in capped]
    line = never_learned_lines(findings.cells_of(rising, "d"), "d")[0]
    assert line.startswith("- `official_paper_sched` on d was cut short: its epoch cap ended every seed after 2 ")
    assert "never learned" not in line and "untrained" not in line
    # a row that carries its lowest BPR loss instead of its history (the app's table rows) reads the same
    from mambarec.summary import LOWEST_BPR

    bare = [{k: v for k, v in r.items() if k != "history"} | {LOWEST_BPR: 0.6923} for r in plateau_2 + left]
    bare[-1][LOWEST_BPR] = 0.45
    said = never_learned_lines(findings.cells_of(bare, "d"), "d")
    assert len(said) == 1 and "`official_large_batch_sched` on d never learned" in said[0]
    assert "never went below 0.6923" in said[0]


def test_a_seed_early_stopping_ended_in_its_warm_up_is_named_with_what_it_cost():
    from mambarec.summary import warmup_stop_lines

    def run(cell, seed, best, recall, early=True):
        return {**_row(cell, seed, recall), "best_epoch": best, "epochs_run": best + 21, "stopped_early": early}

    rows = [run("paper", 0, 120, 0.60), run("paper", 1, 5, 0.54), run("paper", 2, 130, 0.62),
            run("mgcn", 0, 10, 0.5), run("mgcn", 1, 12, 0.5),  # every seed peaks early: listed apart
            run("bpr", 0, 1, 0.1), run("bpr", 1, 100, 0.6),  # epoch 1 is never-learned, reported apart
            run("lightgcn", 0, 8, 0.5, early=False), run("lightgcn", 1, 90, 0.6)]  # the cap ended it, not patience
    assert findings.stopped_in_warmup(findings.cells_of(rows, "d"), patience=20) == {"paper": [1]}
    apart, line = warmup_stop_lines(rows, {"d": {"epochs": 1000, "patience": 20}})
    assert apart.startswith("- On d every seed of 1 cell(s)") and "`mgcn` (best epochs 10, 12)" in apart
    assert "1 of 9 runs on d peaked within their first 20 epochs and were ended by early stopping 21 epochs "\
           "later" in line and "`paper` seed 1." in line
    assert "averages 0.5400 against 0.6100" in line
    assert warmup_stop_lines(rows, {"d": {"epochs": 1000, "patience": 3}}) == []  # 5 > 3: not in its warm-up


def test_the_schedule_check_pairs_common_seeds_and_shows_the_issue_s_three_seeds_beside_all():
    from mambarec.summary import summary_lines
    from mambarec.tables import schedule_table

    def run(cell, seed, recall):
        return {**_row(cell, seed, recall), "test/NDCG@20": recall / 2, "best_epoch": 10, "epochs_run": 31,
                "wall_s": 60.0}

    noise = (0.02, -0.02, 0.01, 0.0, -0.01, 0.5)  # seed 5 ran the fast schedule only: never paired
    rows = [run("mgcn", s, 0.30 * (1 + e)) for s, e in enumerate(noise)]
    rows += [run("mgcn_paper_sched", s, 0.30) for s in range(5)] + [run("paper", 0, 0.3)]  # a summary needs paper
    cells = findings.cells_of(rows, "d")
    every, = findings.schedule_checks(cells)
    asked, = findings.schedule_checks(cells, findings.SCHEDULE_ASKED_SEEDS)
    assert every.seeds == (0, 1, 2, 3, 4) and asked.seeds == (0, 1, 2)
    assert every.safe and not asked.safe  # t = 2.78 over five seeds (+-2.0%), 4.30 over three (+-5.2%)
    table = schedule_table(rows, "d").splitlines()
    assert [line.split(" | ")[1:3] for line in table[2:]] == [["fast", "0-4"], ["fast", "0-2"]]
    assert "| yes |" in table[2] and "| **no** |" in table[3]
    # per-seed differences 2, -2, 1, 0, -1 %: at their spread an interval fits in +-3% from 4 seeds; seeds 0-2
    # alone (2, -2, 1 %) spread more and need 5, so their check could not pass whatever the schedules did
    assert (every.seeds_needed, asked.seeds_needed) == (4, 5)
    assert table[2].endswith("| 4 |") and table[3].endswith("| 5 |")
    summary = summary_lines(rows, ["d"])
    head = next(i for i, x in enumerate(summary) if x.startswith("- Faster schedules against the paper's on d"))
    assert summary[head].endswith("within ±3%, the speed issue's bar): shown safe: `mgcn` fast over seeds 0-4.")
    line = summary[head + 1]
    assert line.startswith("  - `mgcn`, fast: Recall@20 +0.0% [-2.0%, +2.0%], NDCG@20 +0.0% [-2.0%, +2.0%] "
                           "(seeds 0-4): safe; best epoch 10 against 10")
    assert line.endswith("; over the issue's seeds 0-2 alone: Recall@20 +0.3% [-4.8%, +5.5%], NDCG@20 +0.3% "
                         "[-4.8%, +5.5%]: not shown safe: at this spread an interval is wider than ±3% until about 5 "
                         "seeds, so 3 seeds rarely show a schedule safe.")


def test_each_candidate_schedule_is_checked_against_the_paper_s_by_its_own_cell():
    from mambarec.tables import schedule_table

    def run(cell, seed, recall, schedule, wall):
        return {**_row(cell, seed, recall), "test/NDCG@20": recall / 2, "best_epoch": 10, "epochs_run": 31,
                "wall_s": wall, "schedule": schedule}

    rows = [run("mgcn_paper_sched", s, 0.30, "paper", 200.0) for s in range(5)]
    rows += [run("mgcn", s, 0.30 * (1 - 0.05 + 0.001 * s), "fast", 70.0) for s in range(5)]  # 5% worse
    rows += [run(grid.schedule_cell("mgcn", "large-batch"), s, 0.30 * (1 + 0.01 * (-1) ** s), "large-batch", 50.0)
             for s in range(5)]
    rows += [run("mgcn_large_batch_sched", 7, 0.5, "large-batch", 50.0)]  # never ran under the paper's: not paired
    checks = {c.schedule: c for c in findings.schedule_checks(findings.cells_of(rows, "d"))}
    assert set(checks) == {"fast", "large-batch"} and all(c.cell == "mgcn" for c in checks.values())
    assert checks["fast"].safe is False and checks["large-batch"].safe is True
    assert checks["large-batch"].seeds == (0, 1, 2, 3, 4)
    assert (checks["large-batch"].fast["wall_s"].mean, checks["large-batch"].paper["wall_s"].mean) == (50.0, 200.0)
    table = schedule_table(rows, "d").splitlines()
    assert [line.split(" | ")[1] for line in table[2:]] == ["fast", "fast", "large-batch", "large-batch"]


def test_learning_curve_svg_draws_mean_band_and_best_epochs_and_keeps_its_legend_off_the_curves():
    import re

    from mambarec.curves import HEIGHT, learning_curve_svg

    def history(values):
        return [{"valid/Recall@20": v} for v in values]

    rising = {"fast": [history([0.1, 0.3, 0.35, 0.36]), history([0.12, 0.28, 0.34, 0.35])]}
    svg = learning_curve_svg(rising, "valid/Recall@20", "t", {"fast": [4, 3]})
    assert svg.count("<polygon") == 1 and svg.count("<polyline") == 1  # one band (2 seeds), one mean line
    assert svg.count("<circle") == 2  # each seed's best epoch
    legend_y = [float(y) for y in re.findall(r'<text x="[\d.]+" y="([\d.]+)" text-anchor="end" fill=', svg)]
    assert legend_y and min(legend_y) > HEIGHT / 2  # a rising metric plateaus at the top: legend at the bottom
    falling = {"loss": [history([0.9, 0.5, 0.3, 0.2])]}
    svg = learning_curve_svg(falling, "valid/Recall@20")
    legend_y = [float(y) for y in re.findall(r'<text x="[\d.]+" y="([\d.]+)" text-anchor="end" fill=', svg)]
    assert legend_y and max(legend_y) < HEIGHT / 2 and "<polygon" not in svg  # one seed: no band
    assert learning_curve_svg({"none": [history([float("nan")])]}) == ""


def test_learning_curve_line_is_the_mean_over_seeds_and_a_best_epoch_sits_on_it():
    """Three seeds (with two, mean and median agree): the line is the per-epoch mean, and a seed's best epoch is
    marked at that epoch's point of the line."""
    import re

    from mambarec.curves import HEIGHT, MARGIN, learning_curve_svg

    seeds = [[0.1, 0.2, 0.3], [0.2, 0.3, 0.4], [0.6, 0.7, 0.5]]  # means 0.3, 0.4, 0.4; medians 0.2, 0.3, 0.4
    svg = learning_curve_svg({"c": [[{"valid/Recall@20": v} for v in s] for s in seeds]}, "valid/Recall@20", "",
                             {"c": [2]})
    points = [tuple(map(float, p.split(","))) for p in re.search(r'<polyline points="([^"]+)"', svg)[1].split()]
    lo, hi = 0.1 - 0.6 * 0.08, 0.7 + 0.6 * 0.08
    plot_h = HEIGHT - MARGIN["top"] - MARGIN["bottom"]
    want = [MARGIN["top"] + plot_h * (1 - (m - lo) / (hi - lo)) for m in (0.3, 0.4, 0.4)]
    assert [py for _, py in points] == pytest.approx(want, abs=0.06)
    circle = re.search(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg)
    assert (float(circle[1]), float(circle[2])) == points[1]

def test_a_headline_cell_s_curves_show_each_schedule_it_ran_named_by_schedule():
    from mambarec.report import curve_files

    def run(cell, seed, schedule):
        history = [{"epoch": e, "valid/Recall@20": 0.1 * e, "loss/total": 1.0 / e} for e in (1, 2, 3)]
        return {**_row(cell, seed, 0.3), "schedule": schedule, "best_epoch": 3, "history": history}

    rows = [run("mgcn", s, "fast") for s in (0, 1)] + [run("mgcn_paper_sched", 0, "paper")]
    rows += [run(grid.schedule_cell("mgcn", "large-batch"), s, "large-batch") for s in (0, 1, 2)]
    files = curve_files(rows)
    svg = files["curves/d/mgcn_valid_recall20.svg"]
    assert "fast schedule (2 seeds)" in svg and "paper schedule (1 seed)" in svg
    assert "large-batch schedule (3 seeds)" in svg and "mgcn_paper_sched" not in svg
    assert svg.count("<polyline") == 3 and "curves/d/mgcn_loss_total.svg" in files


def test_the_plan_of_an_extension_counts_only_the_runs_it_would_add(tmp_path, tiny):
    import argparse

    from mambarec.precompute_cli import _plan

    out = tmp_path / "pre"
    _run_grid(out, tiny, only=("bpr",))  # seed 0
    args = argparse.Namespace(out=str(out), epochs=1, extend=True, refresh_stale=False, workers=1, device="cpu",
                              engine="local", cpus_per_task=1.0, overwrite=False)
    assert _plan(args, {"synthetic": tiny}, [0], ["bpr"]).startswith("nothing to train")
    added = _plan(args, {"synthetic": tiny}, [0, 1, 2], ["bpr"])
    assert "total: 2 runs" in added and added.splitlines()[1].split()[:4] == ["synthetic", "bpr", "paper", "2"]
    whole = _plan(argparse.Namespace(**{**vars(args), "extend": False}), {"synthetic": tiny}, [0, 1, 2], ["bpr"])
    assert "total: 3 runs" in whole  # and it says that, run so, it would be refused (rehearsal r54, F21)
    assert whole.startswith(f"note: run without --plan, this command would be refused: {out} already holds a "
                            "precomputed grid; --extend adds runs to it, --overwrite replaces it")
    assert not _plan(argparse.Namespace(**{**vars(args), "extend": False, "overwrite": True}), {"synthetic": tiny},
                     [0, 1, 2], ["bpr"]).startswith("note")
    (out / "results.json").write_text("{damaged")  # the plan counted the whole grid and never said why
    damaged = _plan(args, {"synthetic": tiny}, [0, 1, 2], ["bpr"])
    assert damaged.startswith(f"note: {out} cannot be read") and "total: 3 runs" in damaged


def test_the_plan_expects_no_run_to_train_past_the_epochs_cap(tiny):
    import argparse

    from mambarec.precompute_cli import _plan

    args = argparse.Namespace(out="/nonexistent/pre", epochs=2, extend=False, refresh_stale=False, workers=1,
                              device="cpu", engine="local", cpus_per_task=1.0, overwrite=False)
    line = _plan(args, {"synthetic": tiny}, [0], ["paper"]).splitlines()[1]
    assert line.split()[6] == "2" and "the --epochs cap (expected 140, default)" in line  # not the 140 expected
    # a folder that cannot be written: the plan's table came without a word of the refusal to come (audit r75)
    unwritable = _plan(argparse.Namespace(**{**vars(args), "out": "/proc/pre"}), {"synthetic": tiny}, [0], ["pop"])
    assert unwritable.startswith("note: run without --plan, this command would be refused: /proc/pre cannot be "
                                 "written (")


def test_the_plans_runs_at_once_follow_the_engine():
    import argparse
    import os

    from mambarec.precompute_cli import plan_workers

    assert plan_workers(argparse.Namespace(engine="local", workers=3, cpus_per_task=1.0)) == 3
    ray = argparse.Namespace(engine="ray", workers=2, cpus_per_task=0.5)  # --workers means nothing to Ray
    assert plan_workers(ray) == int(os.cpu_count() // 0.5)


def test_the_plan_times_a_cell_by_its_median_batch():
    """One batch slowed by something else on the machine must not become the cell's speed."""
    from mambarec.plan import batch_seconds

    polls = [0.0, 2.0, 2.1, 2.2, 7.2]  # warm-up batch, then 0.1, 0.1 and one slowed to 5.0
    assert batch_seconds(polls) == pytest.approx(0.1)
    assert batch_seconds([0.0, 1.0]) == 0.0  # nothing timed


def test_a_damaged_shipped_folder_is_restored_from_git_not_retrained(tmp_path):
    """A damaged precomputed/results.json advised `precompute --overwrite`, the whole grid (hours), where
    `git checkout` restores the shipped files in seconds; a stale folder needs training, which git cannot give."""
    from mambarec.artifacts import regenerate_hint

    shipped = Path(__file__).resolve().parents[1] / "precomputed"
    if not (shipped.parent / ".git").exists():
        pytest.skip("not a git checkout")
    assert regenerate_hint(shipped).startswith(f"restore the shipped files with `git checkout -- {shipped}`")
    assert "git" not in regenerate_hint(shipped, damaged=False)
    assert "git" not in regenerate_hint(tmp_path / "mine") and "precompute --out" in regenerate_hint(tmp_path / "mine")


def test_the_summary_opens_with_the_findings_in_plain_words():
    """``in_short_line``: the headline models against each other, how many ablations move Recall@20 measurably
    (none here but DREAM), and a departure from MGCN named only when it costs accuracy on both sides of the bridge."""
    from mambarec.summary import in_short_line

    noise = (0.000, 0.002, -0.002)  # per seed, shared by every cell: the pairs see only the cells' differences
    level = {"paper": 0.300, "mgcn": 0.310, "official": 0.305, "no_dream": 0.290, "no_mmd": 0.300,
             "mgcn_with_vt_infonce": 0.300, "paper_without_vt_infonce": 0.310,  # costs on both sides
             "mgcn_with_layers4": 0.300, "paper_without_layers4": 0.300}  # costs added to MGCN only
    rows = [_row(cell, s, value + e + 0.0005 * s * (cell == "no_mmd")) for cell, value in level.items()
            for s, e in enumerate(noise)]
    line = in_short_line(findings.cells_of(rows, "d"), "d")
    assert line.startswith("- **In short, on d** (test Recall@20, paired by seed, 95% CI): the paper's MambaRec "
                           "over MGCN -3.2%")
    assert "Of the paper's 2 ablations (a part switched off, or r changed) measured over several seeds (the paper's " \
           "model against the ablation: + means the part helps), 1 moves it beyond seed noise by its own interval: " \
           "DREAM helps (+3.4%" in line  # the sign said: Compare's table shows the ablation against the paper
    assert "what costs accuracy on both sides of the bridge is visual-text InfoNCE (tau 0.01) in place of " \
           "side-content (tau 0.2): -3.2%" in line
    assert "4 user-item layers" not in line
    assert in_short_line(findings.cells_of([_row("paper", 0, 0.3)], "d"), "d") is None  # nothing paired: no line


def test_the_plain_words_name_the_seeds_that_stopped_in_their_warm_up():
    """On synthetic the released code's -12.3% against MGCN is mostly four seeds that early stopping ended in a dip;
    REPORT.md's claims said so and the one sentence a class reads did not (rehearsal r55)."""
    from mambarec.summary import in_short

    rows = [_row(cell, s, level + 0.001 * s) for cell, level in (("paper", 0.30), ("mgcn", 0.31)) for s in range(3)]
    for s in range(3):  # seeds 0 and 1 peaked at epoch 8 and stopped; seed 2 went on to epoch 140
        best = 140 if s == 2 else 8
        rows.append({**_row("official", s, 0.25 + 0.001 * s), "best_epoch": best, "stopped_early": True})
    said = in_short(findings.cells_of(rows, "d"))
    assert "the released code over MGCN" in said and "(official seeds 0, 1 stopped in the warm-up)" in said
    assert said.split(";")[0].startswith("the paper's MambaRec over MGCN") and "warm-up" not in said.split(";")[0]


def test_a_curves_mean_and_band_end_where_its_first_seed_stopped_and_the_seed_that_ran_on_is_dotted():
    """REPORT.md's plots drew the mean over whichever seeds were left (synthetic `official`: one of five from epoch 33
    on) as the app did before rehearsal r53; both now read ``seed_band``. A best epoch past the mean's end sits on
    its own seed's line."""
    import re

    from mambarec.curves import learning_curve_svg, seed_band

    band = seed_band([0, 0, 0, 1, 1, 1, 1, 1], [1, 2, 3, 1, 2, 3, 4, 5], [0.1, 0.2, 0.3, 0.3, 0.4, 0.5, 0.6, 0.7])
    assert band.common == 3 and list(band.epochs) == [1, 2, 3]
    assert list(band.mean) == pytest.approx([0.2, 0.3, 0.4]) and list(band.high) == pytest.approx([0.3, 0.4, 0.5])
    short, long = [0.1, 0.2, 0.3], [0.3, 0.4, 0.5, 0.6, 0.7]
    svg = learning_curve_svg({"c": [[{"valid/Recall@20": v} for v in s] for s in (short, long)]},
                             "valid/Recall@20", "", {"c": [2, 5]})
    mean, dotted = re.findall(r'<polyline points="([^"]+)"', svg)
    assert len(mean.split()) == 3 and len(dotted.split()) == 3 and 'stroke-dasharray="2,2"' in svg  # epochs 3-5
    circles = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg)
    assert len(circles) == 2 and tuple(map(float, circles[1])) == tuple(map(float, dotted.split()[-1].split(",")))


def test_a_loss_that_runs_away_without_nan_is_named_with_what_to_change():
    """At learning rate 1e5 the BPR loss reached ~5e9 and a run ended with no word (audit r59); NaN has its own
    error, which stops the run."""
    from mambarec.summary import runaway_loss

    healthy = [{"epoch": e, "loss/bpr": 0.693 / e} for e in range(1, 6)]
    assert runaway_loss(healthy) is None and runaway_loss([]) is None
    rough = [{"epoch": 1, "loss/bpr": 0.7}, {"epoch": 2, "loss/bpr": 6.0}, {"epoch": 3, "loss/bpr": 0.5}]
    assert runaway_loss(rough) is None  # under ten times a random ranking's: a rough start, not a runaway
    runaway = [{"epoch": 1, "loss/bpr": 4.3e9}, {"epoch": 2, "loss/bpr": 5.8e9}, {"epoch": 3, "loss/bpr": 5.0e9}]
    said = runaway_loss(runaway)
    assert said.startswith("its BPR loss ran away to 5.8e+09 at epoch 2") and "--lr" in said


def test_a_killed_runs_scratch_folder_is_cleared_by_the_next_run(tmp_path, tiny):
    """Each killed precompute left an empty `<out>.tmp-<pid>` beside --out, for good (audit r59)."""
    import os
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / f"pre.tmp-{gone.pid}").mkdir()
    living = tmp_path / f"pre.tmp-{os.getppid()}"  # a process that lives: not ours to clear
    living.mkdir()
    _run_grid(tmp_path / "pre", tiny)
    assert sorted(p.name for p in tmp_path.iterdir() if ".tmp-" in p.name) == [living.name]


def test_plain_words_need_an_interval_and_a_summary_needs_the_paper_s_model():
    """A headline pair over one common seed is no finding for ``in_short`` (it has no interval to say it with); a
    dataset without the paper's model gets no Summary lines at all."""
    from mambarec.summary import in_short, summary_lines

    rows = [_row("paper", 0, 0.30), _row("mgcn", 0, 0.31), _row("mgcn", 1, 0.31)]
    assert in_short(findings.cells_of(rows, "d")) is None
    rows = [_row(cell, s, 0.3 + 0.01 * s) for cell in ("mgcn", "mgcn_with_norm") for s in range(3)]
    assert summary_lines(rows, ["d"]) == []


def test_never_learned_reads_its_bounds_as_documented():
    """A run of one epoch has nothing to learn from (not "never learned"); a best valid epoch of 1 is never learned
    even when the loss left the plateau; a lowest BPR loss of exactly PLATEAU_BPR (0.69) is not above it, so a run
    that reached it and peaked later learned, and a stuck run that reached it gets no plateau aside."""
    from mambarec.summary import LOWEST_BPR, PLATEAU_BPR, never_learned

    def runs(cell, best, epochs, lowest):
        return [{**_row(cell, s, 0.1), "best_epoch": best, "epochs_run": epochs, "stopped_early": True,
                 LOWEST_BPR: lowest} for s in range(2)]

    one_epoch = runs("one_epoch", 1, 1, 0.6931)
    left_plateau_at_1 = runs("peaked_at_1", 1, 22, 0.5)
    at_the_bound = runs("at_the_bound", 5, 26, PLATEAU_BPR)
    stuck_at_the_bound = runs("stuck_at_the_bound", 1, 22, PLATEAU_BPR)
    said = never_learned(findings.cells_of(one_epoch + left_plateau_at_1 + at_the_bound + stuck_at_the_bound, "d"),
                         "d")
    assert set(said) == {"peaked_at_1", "stuck_at_the_bound"}
    assert "never went below" not in said["peaked_at_1"] and "never went below" not in said["stuck_at_the_bound"]


def test_a_loss_exactly_ten_times_a_random_ranking_s_is_not_a_runaway():
    from mambarec.summary import RUNAWAY_BPR, runaway_loss

    assert runaway_loss([{"loss/bpr": RUNAWAY_BPR}]) is None
    assert runaway_loss([{"loss/bpr": RUNAWAY_BPR * 1.01}]).startswith("its BPR loss ran away to 7 at epoch 1")


def test_a_schedule_verdict_gives_the_seeds_needed_only_when_more_are_needed():
    """Not safe, no metric moved, and the interval fits ±3% at these seeds' spread (it only sits off-centre): the
    verdict must not say that 3 seeds need "about 3 seeds"."""
    from mambarec.summary import schedule_verdict

    def diff(low, high):
        return stats.PairedDifference(seeds=(0, 1, 2), mean=(low + high) / 2, low=low, high=high, reference_mean=1.0)

    ch = findings.ScheduleCheck("mgcn", (0, 1, 2), dict(zip(findings.SCHEDULE_METRICS, (diff(-3.5, 0.5),
                                                                                         diff(-1.0, 1.0)),
                                                            strict=True)), {}, {})
    assert ch.safe is False and ch.seeds_needed == 3
    assert schedule_verdict(ch) == ("Recall@20 -1.5% [-3.5%, +0.5%], NDCG@20 +0.0% [-1.0%, +1.0%] (seeds 0-2): "
                                    "not shown safe")


def test_a_schedule_verdict_names_the_metric_better_and_the_one_worse():
    """Mutation audit r62 (U17): better and worse swapped in the verdict survived every test but the README's
    snapshot, whose own advice (regenerate it) would have written the swap in."""
    from mambarec.summary import schedule_verdict

    def diff(low, high):
        return stats.PairedDifference(seeds=(0, 1, 2), mean=(low + high) / 2, low=low, high=high, reference_mean=1.0)

    ch = findings.ScheduleCheck("paper", (0, 1, 2), dict(zip(findings.SCHEDULE_METRICS, (diff(1.0, 7.0),
                                                                                         diff(-7.0, -1.0)),
                                                            strict=True)), {}, {})
    assert schedule_verdict(ch, seeds=False) == ("Recall@20 +4.0% [+1.0%, +7.0%], NDCG@20 -4.0% [-7.0%, -1.0%]: "
                                                 "not shown safe, better on Recall@20, worse on NDCG@20")


def test_the_bridge_names_the_largest_drop_not_the_largest_gain():
    """Mutation audit r62 (U19): "the largest drop" taking the largest mean survived every test but the README's
    snapshot. Two added parts within the noise, one -1% and one -5%, and one gain: the drop named is the -5% one."""
    from mambarec.summary import bridge_lines

    parts = {part: words for part, (words, _, _) in findings.PAPER_PARTS.items()}
    small, large, gain = list(parts)[:3]
    rows = [_row("mgcn", s, 0.300) for s in range(3)]
    for part, values in ((small, (0.290, 0.300, 0.301)), (large, (0.240, 0.300, 0.315)),
                         (gain, (0.330, 0.290, 0.320))):
        rows += [_row(f"mgcn_with_{part}", s, v) for s, v in enumerate(values)]
    line, = bridge_lines(findings.cells_of(rows, "d"), "d")
    assert "**costs accuracy**" not in line, line
    assert f"the largest drop is {parts[large]} (-5.0% [" in line, line


def test_cells_of_orders_each_cells_seeds_whatever_order_the_runs_finished_in():
    """Mutation audit r62 (F24): rows arrive in the order runs finish; tables and the warm-up lists read seeds in
    order from ``cells_of``."""
    rows = [_row("paper", s, 0.1) for s in (3, 0, 4, 1)] + [_row("paper", 2, 0.1) | {"dataset": "other"}]
    assert list(findings.cells_of(rows, "d")["paper"]) == [0, 1, 3, 4]


def test_a_comparisons_warm_up_aside_names_the_early_seeds_of_both_cells():
    """Mutation audit r62 (F22, U22): `pair_warmup` reading only its first cell, and the summary's aside reading its
    `on` cell twice, survived every test but the README's snapshot: the reference cell's early-stopped seeds went
    unnamed beside a headline comparison."""
    from mambarec.summary import _warmup_aside

    def run(cell, seed, best):  # a seed ended by early stopping at best + 21 epochs
        return _row(cell, seed, 0.3) | {"best_epoch": best, "stopped_early": True}

    rows = [run("official", 0, 10), run("official", 1, 80), run("mgcn", 2, 12), run("mgcn", 3, 90)]
    cells = findings.cells_of(rows, "d")
    assert findings.pair_warmup(cells, "official", "mgcn", patience=20) == {"official": [0], "mgcn": [2]}
    aside = _warmup_aside(cells, findings.Component("the released code over MGCN", "official", "mgcn"))
    assert "official seed 0" in aside and "mgcn seed 2" in aside, aside


def test_the_bridge_names_no_largest_drop_when_nothing_dropped():
    """"The largest drop is X" is said only of a negative mean: parts whose effects are all gains within the noise
    get no plain-words sentence."""
    from mambarec.summary import bridge_lines

    mgcn = [_row("mgcn", s, 0.300) for s in range(3)]
    norm = [_row("mgcn_with_norm", s, v) for s, v in enumerate((0.29, 0.32, 0.305))]  # +1.7%, interval holds 0
    line, = bridge_lines(findings.cells_of(mgcn + norm, "d"), "d")
    assert "no measurable effect: LayerNorm" in line and "In plain words" not in line


def test_the_reports_setup_speaks_of_its_own_grid(grid_dir, copy_of):
    """Audit r75: every REPORT.md said ml100k's cells train under `fast`, which "moves `paper` by about +6%", and
    that it held "some 250 intervals", a one-seed synthetic demo's too. The Setup now counts its own intervals and
    reads the schedule check from its own rows."""
    from mambarec.report import INTERVAL

    text = (grid_dir / "REPORT.md").read_text()
    count = int(text.split("This report holds ", 1)[1].split(" ", 1)[0].replace(",", ""))
    assert count == len(INTERVAL.findall(text))
    # the private "ml100k" here trains `paper` under `fast` and holds no repeat under the paper's schedule
    assert ("- ml100k's MambaRec and MGCN cells train under the `fast` schedule (their `<cell>_paper_sched` rows "
            "repeat the headline ones under the paper's) and its baselines under the paper's schedule; this folder "
            "holds no `paper_paper_sched` row to check `fast` against: the claims and effects on ml100k are measured "
            "under `fast`.") in text
    assert "about +6%" not in text and "some 250" not in text
    # a grid of synthetic alone (the paper's schedule) says nothing of schedules
    pc.precompute(copy_of, {"synthetic": load_dataset("synthetic", n_users=40, n_items=30)}, seeds=[0],
                  epochs=EPOCHS, only=["pop"], projections=("pca",), progress=False, overwrite=True)
    text = (copy_of / "REPORT.md").read_text()
    assert "schedule (their" not in text and "This report holds 0 intervals of a difference" in text
