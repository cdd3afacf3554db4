"""The Compare page compares honestly: what a run changed and how long it really ran, one seed labelled as one
seed, every change with its 95% interval, REPORT.md's verdicts, charts that do not magnify noise, learning
curves with bands over seeds, cold vs warm items on scenario data, saved runs renamed and deleted, and the
stale-check of precomputed/ kept off the first paint."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from app import evidence, figures, results, run_actions, staleness
from mambarec import comparison, findings, stats
from mambarec.config import BPRConfig, RunConfig, TrainConfig, mambarec_preset
from mambarec.data import load_dataset
from mambarec.store import save_run
from mambarec.train import Trainer
from tests.shown import compare_table

PAGE = Path(__file__).resolve().parents[1] / "app" / "pages" / "compare.py"
TIMEOUT = 300


def saved(root: Path, run: RunConfig, name: str) -> Path:
    ds = load_dataset(run.dataset)
    trainer = Trainer.for_run(run, ds)
    return save_run(root / name, trainer, trainer.fit())


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    """Two saved 1-epoch runs on the synthetic data (one stopped by its 1-epoch cap) and a BPR run on the
    cold-items world."""
    root = tmp_path_factory.mktemp("runs")
    saved(root, RunConfig(dataset="synthetic", model=mambarec_preset("paper", use_mmd=False),
                          train=TrainConfig(epochs=1, device="cpu")), "one-epoch-no-mmd")
    saved(root, RunConfig(dataset="synthetic/cold-items", model_name="bpr", model=BPRConfig(),
                          train=TrainConfig(epochs=2, device="cpu")), "bpr-cold")
    return root


@pytest.fixture(scope="module")
def grid_folder(tmp_path_factory) -> Path:
    """A small real precomputed folder on synthetic, so that these tests do not hang on what the shipped grid
    holds: paper, no_alignment and bpr with seeds 0 and 1, and no_dream and the r sweep with seed 0 only
    (4 epochs each: at 2 every cell still sat on the ln 2 plateau, so the page rightly called it untrained)."""
    from mambarec.precompute import precompute

    ds = {"synthetic": load_dataset("synthetic")}
    out = tmp_path_factory.mktemp("grid") / "precomputed"
    precompute(out, ds, seeds=[0, 1], epochs=4, only=["paper", "no_alignment", "bpr"], projections=("pca",),
               progress=False)
    precompute(out, ds, seeds=[0], epochs=4, only=["no_dream", "r1", "r2", "r4", "r16"], projections=("pca",),
               progress=False, extend=True)
    return out


def compare(monkeypatch, runs: Path, precomputed: Path | None = None, **params) -> AppTest:
    monkeypatch.setenv("MAMBAREC_RUNS", str(runs))
    if precomputed is not None:
        monkeypatch.setenv("MAMBAREC_PRECOMPUTED", str(precomputed))
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def summary(at: AppTest) -> pd.DataFrame:
    """The results table as the page draws it, indexed by its first column ("setup")."""
    return compare_table(at).set_index("setup")


# ---- labels and numbers ---------------------------------------------------------------------------
def test_a_run_says_how_long_it_ran_against_its_cap():
    assert results.ran_text(3, 20, True, False) == "3 of 20 ep, early stop"
    assert results.ran_text(20, 20, False, False) == "20 of 20 ep (the cap)"
    assert results.ran_text(5, 20, False, True) == "5 of 20 ep, stopped by hand"
    # a run listed from its last save after its process died was "stopped by hand" too (audit r59)
    assert results.ran_text(5, 20, False, True, True) == "5 of 20 ep, interrupted (its process died; kept from its " \
                                                         "last save)"
    lost = pd.DataFrame({"epochs_run": [6, 9], "epochs_cap": [20] * 2, "stopped_early": [False] * 2,
                         "stopped": [True] * 2, "interrupted": [True, False]})
    assert results.ran_summary(lost) == "2× 6–9/20 ep · 1 by hand, 1 interrupted"
    group = pd.DataFrame({"epochs_run": [11, 15, 20], "epochs_cap": [20] * 3, "stopped_early": [True, True, False],
                          "stopped": [False] * 3})
    assert results.ran_summary(group) == "3× 11–20/20 ep · 2 early stop, 1 cap"
    converged = group.assign(epochs_cap=1000, stopped_early=True)  # early stopping ended every seed: no cap to name
    assert results.ran_summary(converged) == "3× 11–20 ep · early stop"


def test_a_saved_run_with_a_precomputed_cells_setup_is_compared_on_its_own_numbers():
    """The default Train setup is labelled like the precomputed ``paper`` cell: its row's change must come
    from its own seeds, and the cell as reference must not count it among the cell's seeds."""
    frame = {"source": ["precomputed"] * 4 + ["saved"], "setup": ["paper · 1000 ep"] * 2 + ["no_al"] * 2
             + ["paper · 1000 ep"], "name": ["paper", "paper", "no_alignment", "no_alignment", "paper · ≤1000 ep"],
             "seed": [0, 1, 0, 1, 0], "cell": ["paper", "paper", "no_alignment", "no_alignment", None],
             "model_name": "mambarec", "r": 8, **{m: [0.30, 0.32, 0.27, 0.29, 0.01] for m in results.METRICS},
             "epochs_run": 10, "epochs_cap": 1000, "stopped_early": True, "stopped": False}
    rows = pd.DataFrame(frame)
    table = results.add_deltas(results.aggregate_seeds(rows), rows, "paper").set_index("name")
    assert table.loc["paper · ≤1000 ep", "Δ Recall@20 %"] == pytest.approx(100 * (0.01 / 0.30 - 1))  # seed 0 alone
    assert table.loc["no_alignment", "Δ Recall@20 %"] == pytest.approx(100 * ((0.27 - 0.30 + 0.29 - 0.32) / 2) / 0.31)
    live = results.add_deltas(results.aggregate_seeds(rows), rows, "paper · ≤1000 ep").set_index("name")
    assert live.loc["paper · ≤1000 ep", "Δ Recall@20"] == "reference"
    assert live.loc["paper", "Δ Recall@20 %"] == pytest.approx(100 * (0.30 / 0.01 - 1))


def test_one_seed_is_one_seed_and_a_change_carries_its_interval():
    rows = pd.DataFrame({"source": "precomputed", "setup": ["a"] * 3 + ["b"] * 3 + ["c"], "seed": [0, 1, 2] * 2 + [0],
                         "name": ["a"] * 3 + ["b"] * 3 + ["c"], "cell": None, "model_name": "mambarec", "r": 8,
                         **{m: [0.30, 0.31, 0.32, 0.20, 0.22, 0.21, 0.305] for m in results.METRICS},
                         "epochs_run": 10, "epochs_cap": 20, "stopped_early": True, "stopped": False})
    table = results.add_deltas(results.aggregate_seeds(rows), rows, "a")
    c = table.set_index("name").loc["c"]
    assert np.isnan(c["Recall@20 ±"]) and c["Recall@20 text"] == "0.3050 · 1 seed"
    assert "± 0.0000" not in " ".join(table["Recall@20 text"])
    assert c["Δ Recall@20"] == "+1.7% (1 seed)"
    b = table.set_index("name").loc["b"]
    assert b["Δ Recall@20"].startswith("▼ -32.3% [") and b["Δ Recall@20 low"] < b["Δ Recall@20 %"] < 0


def test_a_change_that_does_not_survive_holm_over_the_rows_compared_is_drawn_hollow():
    """One barely significant drop among five rows compared is ▽, not ▼ (one in twenty true nulls clears a 95%
    interval); a drop far beyond the noise stays ▼; alone against the reference, the barely significant one is ▼."""
    ref = [0.50, 0.51, 0.49, 0.50, 0.52]
    setups = {"ref": ref, "weak": [v - d for v, d in zip(ref, (0.004, 0.010, 0.001, 0.008, 0.002), strict=True)],
              "strong": [v - 0.05 - 0.001 * s for s, v in enumerate(ref)],
              **{f"null{i}": [v + (-1) ** (s + i) * 0.003 for s, v in enumerate(ref)] for i in range(3)}}
    rows = pd.DataFrame([{"source": "precomputed", "setup": name, "name": name, "seed": s, "cell": None,
                          "model_name": "mambarec", "r": 8, **{m: v for m in results.METRICS}, "epochs_run": 10,
                          "epochs_cap": 20, "stopped_early": True, "stopped": False}
                         for name, values in setups.items() for s, v in enumerate(values)])
    table = results.add_deltas(results.aggregate_seeds(rows), rows, "ref").set_index("name")
    assert table.loc["weak", "Δ Recall@20"].startswith("▽ ") and table.loc["strong", "Δ Recall@20"].startswith("▼ ")
    assert all(table.loc[f"null{i}", "Δ Recall@20"].startswith("≈ ") for i in range(3))
    two = rows[rows["name"].isin(["ref", "weak"])]
    alone = results.add_deltas(results.aggregate_seeds(two), two, "ref").set_index("name")
    assert alone.loc["weak", "Δ Recall@20"].startswith("▼ ")
    # the page's family is the rows shown: the other cells of the grid, out of sight, do not weaken it
    shown = results.add_deltas(results.aggregate_seeds(rows), rows, "ref", shown=("ref", "weak")).set_index("name")
    assert shown.loc["weak", "Δ Recall@20"] == alone.loc["weak", "Δ Recall@20"]


def test_an_axis_never_zooms_into_less_than_the_seed_noise():
    lo, hi = figures.honest_range([0.2440, 0.2430], [0.2450, 0.2460], noise=0.002)
    assert hi - lo >= figures.NOISE_SPAN * 0.002 - 1e-12  # a 0.003 spread on an axis of 8 seed stds
    lo, hi = figures.honest_range([0.1], [0.5], noise=0.001)
    assert lo < 0.1 and hi > 0.5  # wide data: every interval shown


# ---- the page -------------------------------------------------------------------------------------
def test_the_table_names_changes_epochs_and_seeds(runs_root, grid_folder, monkeypatch):
    at = compare(monkeypatch, runs_root, grid_folder, dataset="synthetic",
                 cells="paper,no_alignment,no_dream,one-epoch-no-mmd")
    table = summary(at)
    saved_name = next(n for n in table.index if "use_mmd=off" in n)
    assert table.loc[saved_name, "seeds × epochs"] == "1× 1/1 ep · cap"
    assert table.loc["no_dream", "Recall@20"].endswith("· 1 seed")
    assert table.loc["no_dream", "Δ Recall@20"].endswith("(1 seed)")
    assert table.loc["no_alignment", "Δ Recall@20"][0] in "▲▼≈" and "[" in table.loc["no_alignment", "Δ Recall@20"]
    assert table.loc["paper", "seeds × epochs"] == "2× 4/4 ep · cap"  # two seeds, both stopped by the 4-epoch cap
    assert any("The paper's claims on this data" in m.value and "inconclusive" in m.value for m in at.markdown)
    # REPORT.md's plain-words line over the grid's cells: only no_alignment has two seeds to pair with paper
    short = [m.value for m in at.markdown if m.value.startswith("**The grid on this dataset, in short** (test")]
    assert len(short) == 1 and "Of the paper's 1 ablation (a part switched off, or r changed) measured over several " \
                               "seeds (the paper's model against the ablation" in short[0], short


def test_a_run_another_process_is_resuming_is_left_out_and_said(runs_root, monkeypatch, tmp_path, capsys):
    """`compare` listed a folder that a `train --resume` was writing as an ended run (its metrics.json is the state
    before the resume), and made it the reference (audit r73)."""
    import subprocess

    from mambarec.cli import main
    from mambarec.store import LOCK_NAME

    runs = tmp_path / "runs"
    shutil.copytree(runs_root, runs)
    writer = subprocess.Popen(["sleep", "60"])  # a living process of this host holds the run's claim
    try:
        (runs / "one-epoch-no-mmd" / LOCK_NAME).write_text(str(writer.pid))
        assert main(["compare", "--runs", str(runs), "--dataset", "synthetic/cold-items"]) == 0
        err = capsys.readouterr().err
        assert f"note: skipped {runs / 'one-epoch-no-mmd'}: process {writer.pid}" in err and "--resume" in err
        rows, _, busy = results.saved_runs(str(runs), ("r73",))
        assert "one-epoch-no-mmd" not in set(rows["run"]) and [Path(f).name for f, _ in busy] == ["one-epoch-no-mmd"]
        assert "Left out while another process writes them" in results.unreadable_note([], busy)
    finally:
        writer.kill()
        writer.wait()
    rows, _, busy = results.saved_runs(str(runs), ("r73", "ended"))  # its writer gone: listed again
    assert "one-epoch-no-mmd" in set(rows["run"]) and not busy


def test_a_run_folder_that_cannot_be_read_is_named_on_the_page(runs_root, grid_folder, monkeypatch, tmp_path):
    """A damaged metrics.json dropped its run from Compare without a word; the page now names the folder."""
    runs = tmp_path / "runs"
    shutil.copytree(runs_root, runs)
    (runs / "damaged").mkdir()
    (runs / "damaged" / "metrics.json").write_text('{"best_epoch": 1, "test/Rec')
    odd = os.fsencode(runs) + b"/\xff-latin1"  # a name that is not UTF-8 replaced the page with a traceback (r59)
    shutil.copytree(runs / "one-epoch-no-mmd", odd.decode(errors="surrogateescape"))
    at = compare(monkeypatch, runs, grid_folder, dataset="synthetic", cells="paper,one-epoch-no-mmd")
    notes = [w.value for w in at.warning if "cannot be read" in w.value]
    assert len(notes) == 1 and notes[0].startswith("Left out 2 run folders that cannot be read: ")
    assert "damaged (" in notes[0] and "\\xff-latin1 (its name is not valid UTF-8" in notes[0]
    assert "use_mmd=off" in " ".join(summary(at).index)  # the readable runs are all there


def test_a_live_run_that_shares_no_seed_with_the_reference_says_so_instead_of_an_empty_chart(runs_root, grid_folder,
                                                                                              monkeypatch):
    """A lecturer's live run (the default seed, 2026) against the grid's `paper` (seeds 0-4): the table's changes were
    blank and the Plots tab drew an empty 110-px chart, with no word why. Now the table says "no common seed" and the
    tab says which seeds each ran and how to pair them."""
    at = compare(monkeypatch, runs_root, grid_folder, dataset="synthetic", cells="paper,one-epoch-no-mmd",
                 ref="paper", tab="Plots")
    table = summary(at)
    live = next(n for n in table.index if "use_mmd=off" in n)
    assert table.loc[live, "Δ Recall@20"] == table.loc[live, "Δ NDCG@20"] == "no common seed"
    said = [i.value for i in at.info if i.value.startswith("No change to draw")]
    assert said == [f"No change to draw for 1 setup: {live} ran seed 2026, and paper ran seeds 0, 1. A change is "
                    "paired by seed: train one of paper's seeds (the Train page's Seed box) to measure it."]
    assert not [c for c in at.get("plotly_chart") if "forest" in str(c.proto.id)]
    at = compare(monkeypatch, runs_root, grid_folder, dataset="synthetic", cells="paper,no_alignment,one-epoch-no-mmd",
                 ref="paper", tab="Plots")  # with a row that pairs: its chart, and a line on the one that cannot
    assert [c for c in at.get("plotly_chart") if "forest" in str(c.proto.id)]
    assert [c.value for c in at.caption if c.value.startswith(f"No change to draw for 1 setup: {live} ran seed 2026")]


def test_a_change_paired_over_part_of_the_references_seeds_says_which(runs_root, grid_folder, monkeypatch):
    """A lecturer's 3 live seeds against `official`'s five read ▲ +8.2% beside means 2.9% apart: the change pairs
    with the reference's seeds 0-2 only. The table now says which seeds and their mean; here no_dream (seed 0) is
    paired with paper's seed 0 of 0 and 1."""
    at = compare(monkeypatch, runs_root, grid_folder, dataset="synthetic", cells="paper,no_dream", ref="paper")
    rows = results.results_table("synthetic", load_dataset("synthetic").fingerprint())[0]
    paper = rows[rows["name"] == "paper"].set_index("seed")["Recall@20"]
    said = [c.value for c in at.caption if "measured against part of the reference's seeds" in c.value]
    assert said == [":material/info: Δ is paired by seed, so these rows are measured against part of the reference's "
                    f"seeds: no_dream: against paper's seed 0 only (their Recall@20 mean {paper[0]:.4f}; all 2: "
                    f"{paper.mean():.4f})."], said


def test_a_run_a_person_named_is_titled_by_that_name(runs_root):
    """A renamed run ("demo-no-infonce") showed its name on DREAM and Users but not in Embeddings' titles, which
    name a run by its setup; a name a person gave now stands for the setup there, a stamped folder id never."""
    from mambarec.store import named_by_hand

    frame = results.saved_runs(str(runs_root), ())[0]
    shorts = dict(zip(frame["run"], frame["short"], strict=True))
    assert shorts["one-epoch-no-mmd"] == "one-epoch-no-mmd · seed 2026"
    assert shorts["bpr-cold"] == "bpr-cold · seed 2026"
    assert not named_by_hand("20261204-033808-synthetic-paper-s0-16836")
    assert not named_by_hand("uploaded-20261204-033808-mine") and named_by_hand("demo-no-infonce")


def test_a_new_run_id_names_what_differs_from_the_preset():
    """A live no-MMD run was saved as `...-synthetic-paper-s0-...`, a name that says `paper` (audit r74, item 12):
    the id now names the changes as the run's label does, in a bounded length, and a preset as it is stays bare."""
    from mambarec.config import make_run
    from mambarec.store import ID_CHANGES_CHARS, named_by_hand, new_run_id

    changed, _ = make_run("synthetic", "mambarec", "paper", {"use_mmd": False, "reduction_factor": 16},
                          {"seed": 0, "epochs": 50, "schedule": "fast", "learning_rate": 0.002})
    rid = new_run_id(changed, when=0)
    assert "-paper-r_16-use_mmd_off-learning_rate_0.002-fast_schedule-s0-" in rid and not named_by_hand(rid)
    plain, _ = make_run("synthetic", "mambarec", "paper", {}, {"seed": 0, "epochs": 50})
    assert "-synthetic-paper-s0-" in new_run_id(plain, when=0)
    many, _ = make_run("synthetic", "mambarec", "paper", {f: False for f in (
        "use_mmd", "use_cl", "channel_attention", "spatial_attention", "branch_dilated_2", "branch_pool")}, {})
    middle = new_run_id(many, when=0).split("-paper-", 1)[1].rsplit("-s2026-", 1)[0]
    assert len(middle) <= ID_CHANGES_CHARS and middle.endswith("_more") and "/" not in middle


def test_claims_curves_and_plots(runs_root, grid_folder, monkeypatch):
    at = compare(monkeypatch, runs_root, grid_folder, dataset="synthetic", cells="paper,no_alignment,bpr",
                 tab="Claims")
    claims = at.table[0].value
    assert claims["verdict"].str.startswith("inconclusive").any()  # REPORT.md's verdicts, in the app
    # a claim's size rule too: C5 and C8 said "disagrees" on the paper's side of 0 beside a caption that read
    # "disagrees: the interval excludes 0 on the other side" (rehearsal r53, F7)
    assert any(findings.SIZE_RULES in c.value for c in at.caption)
    at = compare(monkeypatch, runs_root, grid_folder, dataset="synthetic", cells="paper,no_alignment,bpr",
                 tab="Learning curves")
    [chart] = [c for c in at.get("plotly_chart")]
    assert '"fill":"toself"' in chart.proto.spec.replace(" ", "")  # a band over seeds
    at = compare(monkeypatch, runs_root, grid_folder, dataset="synthetic", cells="paper,r1,r2,r4,r16", tab="Plots")
    assert len(at.get("plotly_chart")) == 3  # each setup from 0, the changes with intervals, the r sweep
    # the change chart's caption reads rows as removals only against the paper's model: whole models against
    # mgcn (paper-vs-code.2) are no removals (audit r76)
    for ref, removal in (("paper", True), ("bpr", False)):
        at = compare(monkeypatch, runs_root, grid_folder, dataset="synthetic", cells="paper,no_alignment,bpr",
                     ref=ref, tab="Plots")
        [said] = [c.value for c in at.caption if c.value.startswith("Change of ")]
        assert ("removal costs accuracy" in said) is removal and (f"scores below {ref}" in said) is not removal


def test_the_table_says_which_schedule_each_setup_trained_under_when_they_differ(tmp_path, monkeypatch):
    """On ml100k the cell `paper` trains under `fast` and `paper_paper_sched` under the paper's schedule, and only the
    r sweep's legend said "fast" (rehearsal r53, F5). A schedule and a setup can share a name: "`paper` (...):
    `paper`" read as nonsense aloud, so each schedule is named as one (rehearsal r71)."""
    precomputed = PAGE.parents[2] / "precomputed"
    at = compare(monkeypatch, tmp_path / "no-runs", precomputed, dataset="ml100k", cells="paper,paper_paper_sched")
    [said] = [c.value for c in at.caption if "Trained under different schedules" in c.value]
    assert "the `fast` schedule (learning rate 0.004, batch 2,048) for `paper`;" in said
    assert "the `paper` schedule (learning rate 0.001, batch 2,048) for `paper_paper_sched`" in said
    at = compare(monkeypatch, tmp_path / "no-runs", precomputed, dataset="synthetic", cells="paper,mgcn")
    assert not [c for c in at.caption if "schedules" in c.value]  # one schedule throughout: nothing to say


def test_learning_curves_of_every_setup_draw_the_first_few_and_say_so(tmp_path, monkeypatch):
    """With nothing picked (all 41 of ml100k's setups) the legend filled the chart and the panels were 90 px tall."""
    at = compare(monkeypatch, tmp_path / "no-runs", PAGE.parents[2] / "precomputed", dataset="ml100k",
                 tab="Learning curves")
    [chart] = at.get("plotly_chart")
    legend = [t["name"] for t in json.loads(chart.proto.spec)["data"] if t.get("showlegend")]
    assert 1 < len(legend) < len(summary(at))  # importing the page module would run the page
    assert any(f"setups are shown: the curves are of the first {len(legend)}." in c.value for c in at.caption)


def test_the_claims_tab_keeps_to_the_setups_picked(runs_root, grid_folder, monkeypatch):
    """The r lesson opened the Claims tab on four claims about other parts, its three under the fold at 1280 x 800:
    with setups picked, the tab lists the claims about them and says how many others there are."""
    at = compare(monkeypatch, runs_root, grid_folder, dataset="synthetic", cells="paper,r1,r2,r4,r16", tab="Claims")
    claims = at.table[0].value
    assert list(claims["where"].str.split(",").str[0]) == ["C5", "C6", "C7", "C8", "C9"]
    assert any("The 5 claims about the setups shown; 8 more" in c.value for c in at.caption)
    # the verdict beside the claim, where a phone shows it (it was last, off screen: audit r77, item 7)
    assert list(claims.columns)[0] == "verdict"  # the claim is the index
    # the grid's own count of intervals, where the tab said "some 250" whatever the grid
    from mambarec.report import INTERVAL

    n = len(INTERVAL.findall((grid_folder / "REPORT.md").read_text()))
    assert any(f"The grid's REPORT.md holds {n:,} such intervals, at 95% each" in c.value for c in at.caption)


def _values(encoded) -> np.ndarray:
    """A plotly spec's array: a list, or plotly's typed-array form {"dtype": ..., "bdata": base64}."""
    import base64

    if isinstance(encoded, dict):
        return np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=np.dtype(encoded["dtype"]))
    return np.asarray(encoded, dtype=float)


def test_cold_and_warm_items_over_every_seed_the_grid_stored(runs_root, monkeypatch):
    """The tab drew only the setups with a shipped checkpoint (paper, mgcn, no_alignment; seed 0 each), so BPR,
    the setup that cannot rank a cold item, was missing: it reads every run's stored cold and warm Recall@20, each
    setup's mean over its seeds with a 95% interval, each value written past its whisker."""
    import json

    cells = ["paper", "mgcn", "bpr", "pop"]
    at = compare(monkeypatch, runs_root, dataset="synthetic/cold-items", tab="Cold vs warm", cells=",".join(cells))
    [chart] = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["layout"]["yaxis"]["ticktext"] == cells
    bars = {t["name"]: t for t in spec["data"] if t["type"] == "bar"}
    shipped = json.loads((PAGE.parents[2] / "precomputed" / "results.json").read_text())["rows"]
    for group in ("cold", "warm"):
        bar = bars[f"{group} items"]
        for i, cell in enumerate(cells):
            seeds = [r["ground_truth"]["groups"][group]["Recall@20"] for r in shipped
                     if r["dataset"] == "synthetic/cold-items" and r["cell"] == cell]
            assert len(seeds) == 5 and _values(bar["x"])[i] == pytest.approx(np.mean(seeds), abs=1e-12)
            if cell != "pop":  # pop ranks the same way whatever the seed: a zero-width interval
                assert _values(bar["error_x"]["array"])[i] > 0 and _values(bar["error_x"]["arrayminus"])[i] > 0
    texts = [t for t in spec["data"] if t["type"] == "scatter" and t.get("mode") == "text"]
    assert all(_values(t["x"])[i] >= _values(b["x"])[i] for t, b in zip(texts, bars.values(), strict=True)
               for i in range(len(cells)))
    assert "random ranking" in chart.proto.spec
    assert any("items are cold here" in c.value and "what a random ranking gets" in c.value for c in at.caption)


def test_cold_and_warm_items_of_a_run_without_stored_groups_come_from_its_checkpoint(monkeypatch):
    """A live run stores no cold and warm metrics: its first checkpoint is scored (1 seed, no interval), on the
    world's own cold items as the grid's runs were, once (cached across reruns)."""
    from mambarec import checkpoint
    from mambarec.checkpoint import load_model
    from mambarec.groundtruth import cold_warm_metrics
    from mambarec.recommend import item_scores

    ds = load_dataset("synthetic/cold-items")
    rows, _ = results.results_table("synthetic/cold-items", ds.fingerprint())
    rows = rows.copy()
    rows.loc[rows["name"] == "paper", ["cold Recall@20", "warm Recall@20"]] = None
    loads = []
    monkeypatch.setattr(checkpoint, "load_model", lambda *a: loads.append(a) or load_model(*a))
    evidence.cold_warm.clear()
    for _ in range(2):  # a rerun of the tab
        table = evidence.cold_warm_table(rows, ds, ["paper", "mgcn"]).set_index(["name", "group"])
    assert len(loads) == 1
    assert table.loc[("paper", "cold"), "seeds"] == 1 and pd.isna(table.loc[("paper", "cold"), "low"])
    assert table.loc[("mgcn", "cold"), "seeds"] == 5
    checkpoint = rows[(rows["name"] == "paper") & rows["checkpoint"].notna()]["checkpoint"].iloc[0]
    scores = item_scores(load_model(checkpoint, ds), np.arange(ds.n_users))
    direct = cold_warm_metrics(scores, ds, cold=ds.extras["cold_items"])["cold"].metrics["Recall@20"]
    assert table.loc[("paper", "cold"), "mean"] == direct


def test_saved_runs_can_be_renamed_and_deleted(runs_root, monkeypatch, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(runs_root / "one-epoch-no-mmd", root / "junk")
    # a 300-character name said only "[Errno 36] File name too long: '<the whole path>'"
    _, why = run_actions.rename_run(str(root / "junk"), "a" * 300)
    assert why.endswith("a run name has at most 200 characters; choose a shorter one") and (root / "junk").is_dir()
    at = compare(monkeypatch, root, dataset="synthetic", tab="Checkpoints")
    at.selectbox(key="ckpt.pick").set_value(str(root / "junk" / "checkpoint.pt")).run()
    # Rename is never disabled by the name (while typed, it had not been sent: the first click did nothing and said
    # nothing, audit r76); with the name unchanged it says what to do, and Delete stays on offer
    next(b for b in at.button if b.label == "Rename").click().run()
    said = [i.value for i in at.info if "Not renamed" in i.value]
    assert said == ["Not renamed: type the new name in the box first."]
    assert [b for b in at.button if b.label == "Delete the run"] and (root / "junk").is_dir()
    at.text_input(key="manage.name.junk").set_value("no-mmd-1ep").run()
    next(b for b in at.button if b.label == "Rename").click().run()
    assert not at.exception and (root / "no-mmd-1ep").is_dir() and not (root / "junk").exists()
    assert at.selectbox(key="ckpt.pick").value == str(root / "no-mmd-1ep" / "checkpoint.pt")  # still the one picked
    # the name a person gave leads its label: last, pickers cut it ("... · r53-upload-ren", rehearsal r53)
    [option] = [o for o in at.selectbox(key="ckpt.pick").options if "no-mmd-1ep" in o]
    assert option.startswith("saved · no-mmd-1ep · ")
    # said on the page, where a toast's 4 s went unseen (rehearsal r72, item 9)
    assert any("Renamed: the run is now `no-mmd-1ep`" in s.value for s in at.success)
    shown = "pages show this run"
    assert not any(shown in c.value for c in at.caption)
    next(b for b in at.button if b.label == "Inspect on the other pages").click().run()
    assert any(shown in c.value for c in at.caption)  # and it stays said on the next rerun
    at.run()
    assert any(shown in c.value for c in at.caption)
    # the stale-check of precomputed/ ends as the page is drawn after the delete: the banner above the table (in the
    # delete's own run, then in the run after it) hears "not yet", the poll at the page's foot "done". That poll
    # redrew the page at once, and the message went with the run it threw away (the CI of 886e8b0 failed so).
    answers = iter([(False, None), (False, None)])
    monkeypatch.setattr(staleness, "staleness_banner", lambda folder=None: next(answers, (True, None)))
    at.button(key="manage.delete.no-mmd-1ep").click().run()
    assert not at.exception and not (root / "no-mmd-1ep").exists()
    assert any("Deleted the run `no-mmd-1ep`" in s.value for s in at.success)  # it said nothing, a rename says so


def test_a_run_another_session_renamed_first_is_said_to_be_gone_not_damaged(runs_root, monkeypatch, tmp_path):
    """Audit r60, item 7: two sessions renamed one run at once. The loser's page, listed before the winner's rename,
    called the run's file damaged (FileNotFoundError) and dropped its own rename without a word; the store said
    "... is not a saved run". Each race is played here by the other session acting just before this one."""
    from mambarec.catalog import RunGoneError, delete_run, rename_run

    root = tmp_path / "runs"
    shutil.copytree(runs_root / "one-epoch-no-mmd", root / "junk")
    at = compare(monkeypatch, root, dataset="synthetic", tab="Checkpoints")
    at.selectbox(key="ckpt.pick").set_value(str(root / "junk" / "checkpoint.pt")).run()
    at.text_input(key="manage.name.junk").set_value("by_A").run()
    original = run_actions.rename_run

    def after_b(folder, new, classroom=False):
        (root / "junk").rename(root / "by_B")  # session B's rename wins the race
        return original(folder, new, classroom=classroom)

    monkeypatch.setattr(run_actions, "rename_run", after_b)
    next(b for b in at.button if b.label == "Rename").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [w.value for w in at.warning if "renamed or deleted meanwhile" in w.value] == [
        "`junk` was renamed or deleted meanwhile, in another tab or session, so it was not renamed to `by_A` here. "
        "The list below is up to date again."]
    options = at.selectbox(key="ckpt.pick").options
    assert any("by_B" in o for o in options) and not any("junk" in o for o in options)
    assert sorted(p.name for p in root.iterdir()) == ["by_B"]
    # the page's read of a run renamed between its listing and the read: gone, not "damaged"
    monkeypatch.setattr(run_actions, "rename_run", original)
    at.selectbox(key="ckpt.pick").set_value(str(root / "by_B" / "checkpoint.pt")).run()
    read = run_actions.checkpoint_info

    def moved_first(path, stamp):
        if (root / "by_B").exists():  # once: session B renames it again as this page reads it
            (root / "by_B").rename(root / "by_C")
        return read(path, stamp)

    monkeypatch.setattr(run_actions, "checkpoint_info", moved_first)
    at.run()
    assert not at.exception and not any("damaged" in e.value for e in at.error), [e.value for e in at.error]
    assert any(w.value.startswith("`by_B` was renamed or deleted meanwhile, in another tab or session. The list")
               for w in at.warning)
    # the store's own words, for the CLI and scripts
    for act, words in ((lambda f: rename_run(f, "other"), "not renamed"), (delete_run, "not deleted")):
        with pytest.raises(RunGoneError, match=f"'by_B' was renamed or deleted meanwhile .* so this one was {words}"):
            act(root / "by_B")


def test_the_checkpoint_picker_holds_its_pick_and_tells_a_repeated_seed_apart(runs_root, monkeypatch, tmp_path):
    root = tmp_path / "runs"
    for name in ("first", "again"):  # one setup, one seed, twice: their labels differed only by the folder's name
        shutil.copytree(runs_root / "one-epoch-no-mmd", root / name)
    at = compare(monkeypatch, root, dataset="synthetic", tab="Checkpoints")
    picker = at.selectbox(key="ckpt.pick")
    labels = [label for label in picker.options if label.startswith("saved")]  # as the browser shows them
    repeats = [label for label in labels if "not counted: the table uses another run of this seed" in label]
    assert len(labels) == 2 and len(repeats) == 1, labels
    assert not any("not counted" in label for label in picker.options if label.startswith("precomputed"))
    # and on 'Every run and seed', which listed both under one name (rehearsal r72), a column says which counts
    at.session_state["compare.tab"] = "Every run and seed"
    at.session_state["compare.cells"] = [n for n in at.multiselect(key="compare.cells").options if "use_mmd" in n]
    at.run()
    [table] = [d for d in at.dataframe if d.proto.id.endswith("compare.rows") or "counted" in d.value]
    assert "counted" in table.proto.column_order and sorted(table.value["counted"]) == [False, True]
    at.session_state["compare.tab"] = "Checkpoints"
    at.run()
    picker = at.selectbox(key="ckpt.pick")
    picker.set_value(str(root / "again" / "checkpoint.pt")).run()
    for tab in ("Plots", "Checkpoints"):  # away and back: Streamlit drops the state of a widget not drawn
        at.session_state["compare.tab"] = tab
        at.run()
    assert not at.exception and at.selectbox(key="ckpt.pick").value == str(root / "again" / "checkpoint.pt")
    at.session_state["compare.tab"] = "Is it noise?"
    at.run()
    at.selectbox(key="wilcoxon.b").set_value(str(root / "first" / "checkpoint.pt"))
    at.selectbox(key="wilcoxon.metric").set_value("NDCG@10").run()
    for tab in ("Checkpoints", "Is it noise?"):
        at.session_state["compare.tab"] = tab
        at.run()
    assert at.selectbox(key="wilcoxon.b").value == str(root / "first" / "checkpoint.pt")
    assert at.selectbox(key="wilcoxon.metric").value == "NDCG@10"


def test_a_link_naming_a_saved_run_opens_the_checkpoints_tab_on_it(runs_root, monkeypatch, tmp_path):
    """A run card's "Open it on Compare" names its run; the Checkpoints tab opened on the session's last pick (or
    the first checkpoint), so the run just trained had to be found again among forty."""
    root = tmp_path / "runs"
    for name in ("first", "again"):
        shutil.copytree(runs_root / "one-epoch-no-mmd", root / name)
    at = compare(monkeypatch, root, dataset="synthetic", tab="Checkpoints")
    at.selectbox(key="ckpt.pick").set_value(str(root / "first" / "checkpoint.pt")).run()
    at.query_params.clear()
    at.query_params.update(dataset="synthetic", cells="paper,again", ref="paper")  # the card's link, followed
    at.run()
    at.session_state["compare.tab"] = "Checkpoints"
    at.run()
    assert not at.exception and at.selectbox(key="ckpt.pick").value == str(root / "again" / "checkpoint.pt")
    at.selectbox(key="ckpt.pick").set_value(str(root / "first" / "checkpoint.pt")).run()
    at.session_state["compare.tab"] = "Plots"
    at.run()
    at.session_state["compare.tab"] = "Checkpoints"
    at.run()  # the same link still in the address is no new arrival: the user's own pick stands
    assert at.selectbox(key="ckpt.pick").value == str(root / "first" / "checkpoint.pt")


def test_the_wilcoxon_verdict_says_it_weighs_users_not_seeds(tmp_path, monkeypatch):
    """paper seed 0 against official seed 0 read, in a green box, "A is better beyond noise (p = 1.56e-13)", on a
    page that elsewhere reads setups over seeds; official's seed 0 is one that stopped in a dip (rehearsal r53)."""
    from app import compare_sections

    at = compare(monkeypatch, tmp_path / "no-runs", dataset="synthetic", tab="Is it noise?")
    at.button(key="wilcoxon.run").click().run()
    assert not at.exception and not at.success
    [verdict] = [i.value for i in at.info if "users" in i.value]
    assert "beyond the noise between users" in verdict or "within the noise between users" in verdict
    assert compare_sections.SEED_NOISE in [c.value for c in at.caption]


def test_in_classroom_mode_saved_runs_cannot_be_renamed_deleted_or_added_to(runs_root, monkeypatch, tmp_path):
    from app import state

    root = tmp_path / "runs"
    shutil.copytree(runs_root / "one-epoch-no-mmd", root / "mine")
    monkeypatch.setenv(state.CLASSROOM_ENV, "1")
    at = compare(monkeypatch, root, dataset="synthetic", tab="Checkpoints")
    at.selectbox(key="ckpt.pick").set_value(str(root / "mine" / "checkpoint.pt")).run()
    assert not at.exception and not [b for b in at.button if b.label in ("Rename", "Delete the run")]
    assert any("Classroom mode: saved runs are read-only" in c.value for c in at.caption)
    uploader = at.get("file_uploader")[0]
    assert uploader.proto.disabled
    # the actions themselves refuse too: a form drawn before the server turned read-only cannot get through
    assert run_actions.delete_run(str(root / "mine"), classroom=True) == run_actions.READ_ONLY
    assert run_actions.rename_run(str(root / "mine"), "other", classroom=True) == (None, run_actions.READ_ONLY)
    assert run_actions.import_checkpoint(b"", "x.pt", None, classroom=True) == (None, run_actions.READ_ONLY)
    assert (root / "mine" / "checkpoint.pt").is_file() and not (root / "other").exists()


def test_uploading_a_file_a_saved_run_holds_points_at_that_run_and_copies_nothing(runs_root, monkeypatch, tmp_path):
    """The same checkpoint uploaded three times made three runs, each listed in every picker (rehearsal r53, F9)."""
    root = tmp_path / "runs"
    shutil.copytree(runs_root / "one-epoch-no-mmd", root / "mine")
    data = (root / "mine" / "checkpoint.pt").read_bytes()  # downloaded from its card, uploaded again
    at = compare(monkeypatch, root, dataset="synthetic", tab="Checkpoints")
    at.file_uploader(key="ckpt.upload").set_value(("mine.pt", data, "application/octet-stream")).run()
    assert not at.exception and not at.success
    assert [i.value for i in at.info if "already here" in i.value] == [
        "Checkpoint already here: the saved run `mine` holds this very file, so no copy was made: pick it in the "
        "Checkpoint box above."]
    assert [p.name for p in root.iterdir()] == ["mine"]
    # another session deletes `mine` meanwhile: the next rerun keeps the upload, which had been lost (audit r60)
    shutil.rmtree(root / "mine")
    at.run()
    assert not at.exception and len(at.success) == 1 and "Checkpoint accepted and saved as run" in at.success[0].value
    assert [p.name for p in root.iterdir()] != [] and (next(root.iterdir()) / "checkpoint.pt").read_bytes() == data


def test_a_checkpoint_of_another_dataset_names_the_sidebar_pick_that_loads_it(runs_root, monkeypatch, tmp_path):
    """The loader's "load it with the dataset it was trained on" left a user of the app to find out how."""
    data = (runs_root / "bpr-cold" / "checkpoint.pt").read_bytes()  # trained on synthetic/cold-items
    at = compare(monkeypatch, tmp_path / "runs", dataset="synthetic", tab="Checkpoints")
    at.file_uploader(key="ckpt.upload").set_value(("cold.pt", data, "application/octet-stream")).run()
    assert not at.exception, [e.message for e in at.exception]
    said = ("load it with the dataset it was trained on: pick synthetic/cold-items in the sidebar's Dataset box, "
            "then upload it again")
    assert any(e.value.startswith("This checkpoint was refused: cold.pt: trained on dataset 'synthetic/cold-items'")
               and e.value.endswith(said) for e in at.error), [e.value for e in at.error]
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
    # trained on data of the same name as the one picked, but not the same data (audit r76, item 3)
    import io

    import torch

    from mambarec.artifacts import DEFAULT_OUT

    ckpt = torch.load(Path(DEFAULT_OUT) / "checkpoints" / "synthetic" / "paper_s0.pt", weights_only=True)
    buffer = io.BytesIO()
    torch.save({**ckpt, "dataset_fingerprint": "0" * 16}, buffer)
    at.file_uploader(key="ckpt.upload").set_value(("other.pt", buffer.getvalue(), "application/octet-stream")).run()
    [said] = [e.value for e in at.error if "other.pt" in e.value]
    assert "fingerprint 0000000000000000" in said and "pick synthetic" not in said and "version" in said, said


def test_the_sidebar_pick_a_refused_checkpoint_needs_names_knobs_and_missing_folders(monkeypatch, tmp_path):
    monkeypatch.setenv("MAMBAREC_DATA", str(tmp_path))  # no dataset folders there
    assert run_actions.picker_hint("synthetic/cold-items?cold_share=0.3&seed=3") == (
        "pick synthetic/cold-items in the sidebar's Dataset box and set its World knobs to cold_share=0.3, seed=3, "
        "then upload it again")
    assert run_actions.picker_hint("ml100k") == (
        "put the folder of ml100k in the data directory ($MAMBAREC_DATA), pick ml100k in the sidebar's Dataset box, "
        "then upload it again")
    assert run_actions.picker_hint(None) == (
        "pick the dataset it was trained on in the sidebar's Dataset box, then upload it again")
    # the same name as the dataset picked, other data: "pick synthetic" sent the user to the box that said synthetic
    # already (audit r76, item 3)
    for name in ("synthetic", "ml100k"):
        said = run_actions.picker_hint(name, name)
        assert "pick" not in said and ("version" if name == "synthetic" else "another build") in said, said


def test_seeds_early_stopping_ended_in_their_warm_up_are_named_under_the_table(monkeypatch, tmp_path):
    from mambarec import artifacts, findings
    from mambarec.grid import DEFAULT_BUDGET

    rows = artifacts.load_precomputed(artifacts.DEFAULT_OUT)["results"]
    cells = {c: runs for c, runs in findings.cells_of(rows, "synthetic").items() if c in ("paper", "no_alignment")}
    found = findings.stopped_in_warmup(cells, DEFAULT_BUDGET.patience)
    at = compare(monkeypatch, tmp_path / "no-runs", dataset="synthetic", cells="paper,no_alignment")
    lines = [c.value for c in at.caption if "peaked within their first" in c.value]
    if not found:  # a regenerated grid without such seeds: nothing to say
        assert lines == []
        return
    [line] = lines
    for cell, seeds in found.items():
        assert f"{cell} seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}" in line


def test_the_stale_check_does_not_hold_the_first_paint(monkeypatch, tmp_path):
    release = threading.Event()
    real = staleness._check

    def slow(folder, signature):
        release.wait(60)
        real(folder, signature)

    for _ in range(1200):  # a check an earlier test started must end first: the page would wait on it, not on this
        if not staleness._running:  # slow one, and its end raced the assertion below (CI failed on it once)
            break
        threading.Event().wait(0.1)
    monkeypatch.setattr(staleness, "_check", slow)
    monkeypatch.setattr(staleness, "_done", {})
    at = compare(monkeypatch, tmp_path / "no-runs", dataset="synthetic")
    assert not summary(at).empty  # the results, drawn while the check still runs
    # at the page's foot, after every caption of the results: at the top it shifted the page down, then up again
    assert "Checking that these precomputed numbers" in at.caption[-1].value
    release.set()
    for _ in range(600):
        if staleness.staleness_banner()[0]:
            break
        threading.Event().wait(0.1)
    at.run()
    assert not any("Checking that these precomputed numbers" in c.value for c in at.caption)


def test_a_stale_folder_shows_its_banner_once_the_check_is_done(monkeypatch, tmp_path):
    class Moved:
        current = False

        def message(self):
            return "paper moved"

    monkeypatch.setattr(staleness, "staleness", lambda manifest: Moved())
    monkeypatch.setattr(staleness, "_isolated", lambda fn, *args: fn(*args))  # in this process, to see the stand-in
    monkeypatch.setattr(staleness, "_done", {})
    at = compare(monkeypatch, tmp_path / "no-runs", dataset="synthetic")
    for _ in range(600):
        if staleness.staleness_banner()[0]:
            break
        threading.Event().wait(0.1)
    at.run()
    assert any("stale" in w.value and "paper moved" in w.value for w in at.warning)


def test_a_lesson_step_shows_the_changes_with_their_red_line_before_the_levels(monkeypatch, runs_root,
                                                                              grid_folder):
    """A step's text reads the intervals against the red line: that chart comes first, above the fold."""
    def charts(**step):
        at = compare(monkeypatch, runs_root, grid_folder, dataset="synthetic", cells="paper,no_alignment,bpr",
                     tab="Plots", **step)
        return ["% of its mean" in c.proto.spec for c in at.get("plotly_chart")]

    assert charts() == [False, True]
    assert charts(step="parts.3") == [True, False]


def test_an_r_lesson_step_opens_on_the_r_sweep(monkeypatch, runs_root, grid_folder):
    """The r lesson's text reads seconds per epoch and Recall@20 against r first: in a step, that chart leads."""
    def first_chart(**step):
        at = compare(monkeypatch, runs_root, grid_folder, dataset="synthetic", cells="paper,r1,r2,r4,r16",
                     tab="Plots", **step)
        return [("seconds per epoch" in c.proto.spec) for c in at.get("plotly_chart")]

    assert first_chart() == [False, False, True]  # browsing: levels, changes, then the sweep
    assert first_chart(step="r.1") == [True, False, False]
    # its legend names the setup, not its epoch cap ("mambarec/paper · 2 ep" read as the epochs every run ran)
    at = compare(monkeypatch, runs_root, grid_folder, dataset="synthetic", cells="paper,r1,r2,r4,r16", tab="Plots")
    sweep = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert {t["name"] for t in sweep["data"]} == {"mambarec/paper"}
    assert figures.without_cap(["a · 20 ep", "a · 1000 ep", "b · 5 ep"]) == {"a · 20 ep": "a · 20 ep",
                                                                          "a · 1000 ep": "a · 1000 ep", "b · 5 ep": "b"}


def test_the_metric_pickers_default_to_the_value_they_show(monkeypatch, runs_root, grid_folder):
    """A browser that falls back to a select widget's own default (seen with several sessions on a loaded machine)
    must still show the metric the charts are drawn with, not the first option."""
    at = compare(monkeypatch, runs_root, grid_folder, dataset="synthetic", cells="paper,no_alignment,bpr",
                 tab="Plots", metric="NDCG@20")
    picker = at.selectbox(key="compare.metric")
    assert picker.value == "NDCG@20" and picker.options[picker.proto.default] == "NDCG@20"
    at = compare(monkeypatch, runs_root, grid_folder, dataset="synthetic", cells="paper,no_alignment,bpr",
                 tab="Learning curves")
    picker = at.selectbox(key="compare.curve")
    assert picker.value == "valid/Recall@20" and picker.options[picker.proto.default] == "valid Recall@20"


def _order(node) -> list[str]:
    """Element and block types of the page in the order they are drawn (depth first)."""
    out = []
    for child in getattr(node, "children", {}).values():
        out.append(child.type)
        out += _order(child)
    return out


def test_a_lesson_step_opens_on_its_tab_and_the_table_follows(monkeypatch, runs_root, grid_folder):
    plain = _order(compare(monkeypatch, runs_root, grid_folder, dataset="synthetic", tab="Plots").main)
    step = _order(compare(monkeypatch, runs_root, grid_folder, dataset="synthetic", tab="Plots",
                          step="parts.3").main)
    for order, tabs_first in ((plain, False), (step, True)):
        tabs = order.index("tab_container")
        table = next(i for i, t in enumerate(order) if "data_frame" in t or t == "dataframe")
        assert (tabs < table) is tabs_first, order


def test_a_damaged_or_restored_results_file_is_read_again(tmp_path):
    """The pages' caches keyed on the manifest alone: a running server kept showing the old numbers after
    results.json was damaged, and the old error after it was restored."""
    import os

    from app.paths import precomputed_signature

    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "results.json").write_text("[]")
    before = precomputed_signature(tmp_path)
    stat = (tmp_path / "results.json").stat()
    os.utime(tmp_path / "results.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert precomputed_signature(tmp_path) != before
    assert precomputed_signature(tmp_path / "absent") == ()


def test_a_read_during_a_precomputed_swap_is_tried_again(monkeypatch, tmp_path):
    """Audit r60, item 10: `precompute` swaps its new folder in with two renames; a page reading in between got a
    raw FileNotFoundError (55 of 3,658 reads in a stress loop), or advice to regenerate the grid for hours. The
    read is tried once more after the swap; a folder that stays unreadable is said in a sentence."""
    from app import paths
    from mambarec import artifacts

    calls = []

    def mid_swap_once(folder):
        calls.append(folder)
        if len(calls) == 1:
            raise FileNotFoundError(2, "No such file or directory", str(folder / "alignment/synthetic/paper_s0.json"))
        return artifacts.load_precomputed(folder)

    monkeypatch.setattr(results, "load_precomputed", mid_swap_once)
    monkeypatch.setattr(results, "SWAP_WAIT_S", 0.01)
    shipped = Path(__file__).resolve().parents[1] / "precomputed"
    records, why = results.precomputed_records(str(shipped), ("mid-swap",))  # a signature of its own: not cached
    assert why is None and len(calls) == 2 and len(records) == len(artifacts.load_precomputed(shipped)["results"])

    def gone(folder):
        raise FileNotFoundError(2, "No such file or directory", str(folder / "results.json"))

    monkeypatch.setattr(results, "load_precomputed", gone)
    records, why = results.precomputed_records(str(shipped), ("gone",))
    assert records == [] and why.startswith("The precomputed results cannot be used: ") and "results.json" in why
    # the signature stats each file once, with no check before it that a swap could slip between: gone is None
    (tmp_path / "manifest.json").write_text("{}")
    assert dict(paths.precomputed_signature(tmp_path))[str(tmp_path / "manifest.json")] is not None
    assert paths._mtime(tmp_path / "moved-away.json") is None


def _lab(hex_color: str) -> np.ndarray:
    """CIE L*a*b* of an sRGB colour (D65), for colour distances as the eye sees them."""
    rgb = np.array([int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    rgb = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_every_ml100k_category_gets_a_colour_of_its_own():
    """Embeddings coloured by category: Action and War (and three other pairs) were two shades of one blue."""
    from mambarec.data import load_dataset

    n = load_dataset("ml100k").items["category"].nunique()
    colours = figures.CATEGORY_PALETTE[:n]
    assert len(set(colours)) == n
    closest = min(np.linalg.norm(_lab(a) - _lab(b)) for i, a in enumerate(colours) for b in colours[i + 1:])
    assert closest > 20  # CIE76: 2.3 is a just-noticeable difference; the old palette's closest pair was 4.6


def test_presentation_mode_scales_chart_text_on_a_copy():
    """Plotly sizes its text in px, so charts kept 12 px under the projector's 19 px type; the scaled chart must be
    a copy (live-run figures are cached and shared by every session, most not presenting)."""
    import json

    from streamlit.testing.v1 import AppTest

    def script():
        import plotly.graph_objects as go
        import streamlit as st

        from app import presentation

        st.session_state[presentation.KEY] = True
        fig = go.Figure(go.Bar(x=[1], y=[1]))
        presentation.chart(st, fig, key="figure")
        presentation.chart(st, go.Figure(go.Bar(x=[1], y=[2])).to_dict(), key="cached")  # a cached figure's dict
        st.session_state["left alone"] = fig.layout.font.size is None

    at = AppTest.from_function(script).run()
    assert not at.exception
    layouts = [json.loads(c.proto.spec)["layout"] for c in at.get("plotly_chart")]
    assert [lay["font"]["size"] for lay in layouts] == [16, 16]  # 15 px read small from the back (rehearsal r55)
    assert at.session_state["left alone"]
    # Streamlit's theme sizes ticks and legends by the page's root font unless the figure names a size: they stayed
    # 14 px in presentation mode (audit r74, item 10)
    assert all(lay[part][font]["size"] == 16 for lay in layouts
               for part, font in (("xaxis", "tickfont"), ("yaxis", "tickfont"), ("legend", "font")))


def test_in_presentation_mode_a_row_chart_keeps_the_height_its_labelled_rows_need():
    """Rehearsal r70: under a note, 50 px shorter in 16 px type, cold-items.2's four rows were 15 px apart and plotly
    left two unlabelled; a one-row chart's axis title sat on its ticks (140 px, or 90 under a note). Every row keeps
    its label (``figures.rows_in_order``), and a row chart keeps the height its rows need, under a note or not."""
    from app import presentation

    table = pd.DataFrame({"name": ["paper", *"abcd"], "Δ Recall@20 %": [np.nan, 1.0, -2.0, 0.5, 3.0],
                          "Δ Recall@20 low": [np.nan, 0.0, -3.0, -0.5, 2.0],
                          "Δ Recall@20 high": [np.nan, 2.0, -1.0, 1.5, 4.0], "Δ Recall@20": [""] * 5})
    fig = figures.delta_forest(table, "Recall@20", "paper", order=["paper", "d", "c", "b", "a"])
    assert list(fig.layout.yaxis.tickvals) == list(fig.layout.yaxis.ticktext) == ["d", "c", "b", "a"]
    need = presentation.UNDER_NOTE_MIN_PX + 3 * presentation.UNDER_NOTE_ROW_PX
    assert presentation.height(fig.layout.height, 4, under_note=True) == need > fig.layout.height - 50
    assert presentation.height(140, 1) == presentation.height(140, 1, under_note=True) == 150  # taller than it was
    assert presentation.height(400, 0, under_note=True) == 350 and presentation.height(400, 0) == 400
    assert presentation.height(320, 7, under_note=True) == 270  # 7 rows fit in 50 px less: paper-vs-code.4's fold


def test_a_chart_under_a_lesson_note_is_shorter_only_when_presenting():
    """The chart a lesson step's note talks about loses ``UNDER_NOTE_SHORTER_PX`` in presentation mode (its larger
    type put converged.2's axis 44 px under the fold), on a copy; other charts, and every chart when not
    presenting, keep their height."""
    import json

    from streamlit.testing.v1 import AppTest

    def script():
        import plotly.graph_objects as go
        import streamlit as st

        from app import presentation

        st.session_state[presentation.KEY] = st.session_state.get("presenting", True)
        fig = go.Figure(go.Bar(x=[1], y=[1])).update_layout(height=400)
        presentation.chart(st, fig, under_note=True, key="figure")
        presentation.chart(st, fig.to_dict(), under_note=True, key="cached")  # a cached figure's dict
        presentation.chart(st, fig, key="not under a note")
        st.session_state["left alone"] = fig.layout.height == 400

    from app import presentation

    shorter = 400 - presentation.UNDER_NOTE_SHORTER_PX
    for presenting, heights in ((True, [shorter, shorter, 400]), (False, [400, 400, 400])):
        at = AppTest.from_function(script)
        at.session_state["presenting"] = presenting
        at.run()
        assert not at.exception
        assert [json.loads(c.proto.spec)["layout"]["height"] for c in at.get("plotly_chart")] == heights
        assert at.session_state["left alone"]


def test_the_table_lists_the_setups_in_the_order_picked(tmp_path, monkeypatch):
    """A lesson's r1, r2, r4, r16 came out as r16, r2, r4, r1 on ml100k (the grid's order); pop, drawn always, last."""
    at = compare(monkeypatch, tmp_path / "no-runs", PAGE.parents[2] / "precomputed", dataset="synthetic",
                 cells="r16,paper,r1,r4", ref="paper")
    names = [n for n in summary(at).index if n != "pop"]
    assert names == ["r16", "paper", "r1", "r4"]


def test_a_setup_keeps_its_colour_from_chart_to_chart_and_the_legend_sits_above():
    """converged.1 drew mgcn orange (second of paper, mgcn, bpr) and converged.4 blue (first of its rows): a colour
    now follows the setup, the others take free colours, and no two setups of one chart share one."""
    first = figures.setup_colors(["paper", "mgcn", "bpr"])
    second = figures.setup_colors(["mgcn", "mgcn_paper_sched", "mgcn_large_batch_sched", "paper"])
    assert first["mgcn"] == second["mgcn"] and first["paper"] == second["paper"]
    assert len(set(second.values())) == 4
    others = set(second.values()) - {second["mgcn"], second["paper"]}
    assert not others & set(figures.SETUP_COLORS.values())  # no headline setup's colour on another setup
    alone = figures.setup_colors(["mgcn", "mgcn_paper_sched"])  # converged.4: paper's blue is not for another
    assert alone["mgcn_paper_sched"] not in figures.SETUP_COLORS.values()
    many = figures.setup_colors([f"cell{i}" for i in range(30)] + ["mgcn"])
    assert many["mgcn"] == first["mgcn"] and many["cell0"] != many["mgcn"]
    hist = pd.DataFrame({"name": ["mgcn"] * 2, "run": ["a"] * 2, "seed": [0, 0], "epoch": [1, 2],
                         "best_epoch": [2, 2], "epochs_cap": [10, 10], "valid/Recall@20": [0.1, 0.2]})
    fig = figures.learning_curves(hist, "valid/Recall@20", None)
    assert fig.layout.legend.y > 1  # above the panel: below it, it was under the fold at 1280 x 800
    assert {t.line.color for t in fig.data if t.mode == "lines"} == {first["mgcn"]}


def test_a_curve_drawn_over_another_leaves_it_a_rim():
    """converged.2's `paper` mean lay exactly under `no_alignment`'s, drawn after it and as wide: the lecturer saw
    two setups of three. Each setup's curve is thinner than the one drawn before it, so both stay visible."""
    epochs = [1, 2, 3]
    hist = pd.DataFrame([{"name": name, "run": name, "seed": 0, "epoch": e, "best_epoch": 3, "epochs_cap": 10,
                          "valid/Recall@20": 0.1 * e} for name in ("paper", "no_alignment", "bpr") for e in epochs])
    fig = figures.learning_curves(hist, "valid/Recall@20", None)
    widths = [t.line.width for t in fig.data if t.mode == "lines"]
    assert len(widths) == 3 and widths[0] > widths[1] > widths[2] >= 2
    alone = figures.learning_curves(hist[hist["name"] == "bpr"], "valid/Recall@20", None)
    assert [t.line.width for t in alone.data if t.mode == "lines"] == [figures.CURVE_WIDTH]


def test_the_mean_over_seeds_ends_where_the_first_seed_stopped_and_the_others_go_on_alone():
    """Synthetic `official`: four of five seeds stopped by epoch 32, and from there the "mean over 5 seeds" was seed 3
    alone, climbing to 0.60 beside a table mean of 0.52, its band of zero width (rehearsal r53, F2)."""
    rows = [{"name": "official", "run": f"s{seed}", "seed": seed, "epoch": e, "best_epoch": 2, "epochs_cap": 99,
             "valid/Recall@20": 0.1 * e + 0.01 * seed} for seed, last in ((0, 3), (1, 4), (2, 6)) for e in
            range(1, last + 1)]
    fig = figures.learning_curves(pd.DataFrame(rows), "valid/Recall@20", None)
    mean = next(t for t in fig.data if t.showlegend)
    assert list(mean.x) == [1, 2, 3] and mean.y[-1] == pytest.approx(0.31)  # every seed has epochs 1-3
    assert mean.name == "official (3 seeds; mean to epoch 3)"
    band = next(t for t in fig.data if t.fill == "toself")
    assert max(band.x) == 3
    alone = [t for t in fig.data if t.line.dash == "dot"]
    assert [list(t.x) for t in alone] == [[3, 4], [3, 4, 5, 6]]  # seeds 1 and 2 from the mean's end on
    assert list(alone[1].y) == pytest.approx([0.32, 0.42, 0.52, 0.62]) and "seed 2" in alone[1].hovertemplate
    together = figures.learning_curves(pd.DataFrame([r for r in rows if r["epoch"] <= 3]), "valid/Recall@20", None)
    assert [t.name for t in together.data if t.showlegend] == ["official (3 seeds)"]
    assert not [t for t in together.data if t.line.dash == "dot"]


def test_the_command_line_compares_saved_runs_with_paired_intervals(tmp_path, capsys, monkeypatch):
    """`python -m mambarec compare`: the Compare page's table for run folders on a machine without the app (the
    same functions, mambarec.comparison): mean ± std over seeds, the change paired by seed with its interval, one
    seed said as one seed, and bad input refused in one line with the valid choices."""
    from mambarec.cli import main

    for seed in (0, 1):
        for lr in (1e-3, 1e-2):
            saved(tmp_path / "runs", RunConfig(dataset="synthetic", model_name="bpr", model=BPRConfig(),
                                               train=TrainConfig(epochs=2, seed=seed, learning_rate=lr)),
                  f"lr{lr}-s{seed}")
    saved(tmp_path / "runs", RunConfig(dataset="synthetic", model_name="bpr", model=BPRConfig(embedding_dim=32),
                                       train=TrainConfig(epochs=2)), "d32-s2026")
    args = ["compare", "--runs", str(tmp_path / "runs"), "--reference", "bpr · learning_rate=0.01 · ≤2 ep"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split(" | ")[0].strip("| "): line for line in lines if line.startswith("| bpr")}
    assert set(rows) == {"bpr · learning_rate=0.01 · ≤2 ep", "bpr · ≤2 ep", "bpr · embedding_dim=32 · ≤2 ep"}
    assert rows["bpr · learning_rate=0.01 · ≤2 ep"].count("reference") == 2  # Recall@20 and NDCG@20
    slow = rows["bpr · ≤2 ep"]  # lr 1e-3 against 1e-2, seeds 0 and 1 paired
    assert slow.count(" ± ") == 2 and slow.count("% [") == 2 and "2× 2/2 ep · cap" in slow
    other = rows["bpr · embedding_dim=32 · ≤2 ep"]  # seed 2026 alone: no spread, and nothing to pair with
    assert "· 1 seed" in other and " ± " not in other and "% [" not in other
    assert lines[0] == "5 runs on synthetic"
    assert any(line.startswith("Reference: bpr · learning_rate=0.01") for line in lines)
    # the lr=1e-3 row's Δ is its own paired interval: the same numbers as mambarec.stats over the two seeds
    frame = results.saved_runs(str(tmp_path / "runs"), ())[0]
    by_seed = {name: g.set_index("seed")["Recall@20"].to_dict() for name, g in frame.groupby("name")}
    rel = stats.relative_change(by_seed["bpr · ≤2 ep"], by_seed["bpr · learning_rate=0.01 · ≤2 ep"], "Recall@20")
    assert f"{stats.signed(rel.mean)}% [{stats.signed(rel.low)}, {stats.signed(rel.high)}]" in slow
    assert main([*args, "--csv", str(tmp_path / "t.csv")]) == 0  # the same table as numbers
    numbers = pd.read_csv(tmp_path / "t.csv").set_index("setup")
    assert numbers.loc["bpr · ≤2 ep", ["Recall@20 Δ% vs reference", "Recall@20 Δ% low", "Recall@20 Δ% high"]].tolist(
    ) == pytest.approx([rel.mean, rel.low, rel.high])
    assert numbers.loc["bpr · learning_rate=0.01 · ≤2 ep", "reference"]
    assert pd.isna(numbers.loc["bpr · embedding_dim=32 · ≤2 ep", "Recall@20 std"])  # one seed: no spread, not 0
    capsys.readouterr()
    assert main(["compare", "--runs", str(tmp_path / "runs"), "--metrics", "NDCG@10"]) == 0  # no --reference: the
    out = capsys.readouterr().out  # setup that changes the fewest settings of its preset (the default lr here)
    assert "Reference: bpr · ≤2 ep." in out and "| bpr · ≤2 ep | 2× 2/2 ep · cap | " in out and "NDCG@10" in out
    # a part of one row's name, or a run folder's name, names its row: nobody types "bpr · learning_rate=0.01 · ≤2 ep"
    for short in ("learning_rate=0.01", "lr0.01-s1"):
        assert main(["compare", "--runs", str(tmp_path / "runs"), "--reference", short]) == 0
        assert "Reference: bpr · learning_rate=0.01 · ≤2 ep." in capsys.readouterr().out
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("x")
    for bad, says in ((["--metrics", "Recall@30"], "unknown metric Recall@30; choose from Recall@10"),
                      (["--reference", "nope"], "--reference 'nope' is not one of the rows; give a row's name"),
                      (["--reference", "bpr"], "--reference 'bpr' matches 3 rows"),
                      (["--dataset", "ml100k"], "no runs on dataset 'ml100k'; the runs are on: synthetic"),
                      (["--metrics", ","], "--metrics ',' names no metric"),
                      (["--precomputed", str(tmp_path / "nowhere")], "nowhere: no such folder"),
                      (["--csv", str(tmp_path / "no" / "t.csv")], "does not exist; create it"),
                      # a traceback (IsADirectoryError), and a stray temporary file beside the folder (rehearsal r54)
                      (["--csv", str(tmp_path / "a-folder")], "a-folder is a folder; name a file, such as"),
                      (["--csv", "/proc/x.csv"], "--csv /proc/x.csv cannot be written (")):
        assert main(["compare", "--runs", str(tmp_path / "runs"), *bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and says in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "a-folder", "runs", "t.csv"]  # no temporary file
    assert main(["compare", "--runs", str(tmp_path / "none")]) == 2
    assert "--runs " in (err := capsys.readouterr().err) and "none: no such folder" in err  # it said "no runs in"
    assert main(["compare", "--runs", str(tmp_path / "a-file")]) == 2
    assert "a-file: is a file, not a folder of run folders; name the folder that holds them" in capsys.readouterr().err
    assert main(["compare", "--runs", str(tmp_path / "a-folder")]) == 2
    err = capsys.readouterr().err
    assert "no runs in" in err and "pass --runs" not in err  # it had been passed (audit r73)
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "never-made"))  # the default folder, not there
    assert main(["compare"]) == 2
    assert f"no runs: the folder {tmp_path / 'never-made'} does not exist" in capsys.readouterr().err
    assert main(["compare", "--runs", str(tmp_path)]) == 2  # the runs one level down: it said only "no runs in"
    assert "; runs are one level down, in runs: pass that folder as --runs" in capsys.readouterr().err


def test_the_command_line_keeps_datasets_apart_and_never_lets_a_cut_run_stand_for_a_finished_one(tmp_path, capsys):
    """Found by a new user: `compare` grouped runs by the dataset's folder name, so runs on two different folders
    called `good` were averaged into one row (and one of the same seed dropped); of two runs of one setup and seed
    it kept the newer, so a run stopped in its first epoch hid the finished one and, having the shortest name,
    became the reference; a damaged run folder was skipped without a word. Now a name that two datasets share is
    split by fingerprint, the run that trained furthest stands for its seed, and every folder left out is named."""
    import json
    import shutil
    import time

    from mambarec.cli import main

    runs = tmp_path / "runs"
    for seed in (0, 1):
        saved(runs, RunConfig(dataset="synthetic", model_name="bpr", model=BPRConfig(),
                              train=TrainConfig(epochs=2, seed=seed)), f"s{seed}")
    finished = json.loads((runs / "s0" / "metrics.json").read_text())
    # the same setup and seed 0, stopped by hand before its first epoch ended, saved later (an older version did)
    shutil.copytree(runs / "s0", runs / "s0-cut")
    time.sleep(0.05)
    cut = {k: v for k, v in finished.items() if not k.startswith(("test/", "valid/"))}
    (runs / "s0-cut" / "metrics.json").write_text(json.dumps({**cut, "epochs_run": 0, "best_epoch": 0,
                                                              "cancelled": True, "history": []}))
    (runs / "damaged").mkdir()
    (runs / "damaged" / "metrics.json").write_text('{"best_epoch": 1, "test/Rec')
    shutil.copytree(runs / "s1", runs / "odd")  # a config this version cannot read: listed, said, never the reference
    config = json.loads((runs / "odd" / "config.json").read_text())
    (runs / "odd" / "config.json").write_text(json.dumps({**config, "model": {**config["model"], "embedding_dim": -4}}))
    assert main(["compare", "--runs", str(runs)]) == 0
    out, err = capsys.readouterr()
    row = next(line for line in out.splitlines() if line.startswith("| bpr · ≤2 ep"))
    assert "2× 2/2 ep · cap" in row and "reference" in row  # seeds 0 and 1, both finished
    assert f"{finished['test/Recall@20']:.4f}" not in row  # the mean of two seeds, not seed 0 alone
    # the header said "4 runs" over a table of three, and never which was set aside (rehearsal r54)
    assert out.startswith("4 runs (3 used: 1 repeat a setup and seed, and the one that trained furthest counts; left "
                          "out: s0-cut) on synthetic")
    assert f"warning: skipped {runs / 'damaged'}: it cannot be read" in err
    assert f"warning: {runs / 'odd'}: its config.json cannot be read by this version" in err
    shutil.rmtree(runs / "odd")
    assert main(["compare", "--runs", str(runs), "--metrics", "MAP@20"]) == 0  # stored by every run: comparable too
    assert "| setup | seeds × epochs | MAP@20 | Δ MAP@20 |" in capsys.readouterr().out
    # another dataset that is also called `synthetic` (its fingerprint differs): split, never averaged in
    other = json.loads((runs / "s1" / "metrics.json").read_text())
    shutil.copytree(runs / "s1", runs / "elsewhere")
    (runs / "elsewhere" / "metrics.json").write_text(json.dumps({**other, "dataset_fingerprint": "0123456789abcdef"}))
    shutil.rmtree(runs / "damaged")
    assert main(["compare", "--runs", str(runs)]) == 2
    err = capsys.readouterr().err
    assert "the runs are on 2 datasets (synthetic@01234567, synthetic@" in err
    assert main(["compare", "--runs", str(runs), "--dataset", "synthetic"]) == 2
    assert "are all named 'synthetic' (their fingerprints differ" in capsys.readouterr().err
    assert main(["compare", "--runs", str(runs), "--dataset", "synthetic@01234567"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 run on synthetic@01234567") and f"{other['test/Recall@20']:.4f} · 1 seed" in out


def test_the_plots_list_the_setups_in_the_tables_order():
    """The r lesson's plots read r16, r2, r4, r1 beside a table reading r1, r2, r4, r16: plotly orders a chart's
    rows by the first trace that names them (a hollow, one-seed dot is a trace of its own) and the intervals come
    grouped by name. Both charts now follow the order the setups were picked in, as the table does."""
    order = ["paper", "r1", "r2", "r4", "r16"]
    metric = "Recall@20"
    table = pd.DataFrame({"name": ["r16", "r2", "r4", "r1"], f"Δ {metric} %": [-1.0, 0.5, 0.2, 1.0],
                          f"Δ {metric} low": [-2.0, None, -0.5, 0.1], f"Δ {metric} high": [0.0, None, 0.9, 1.9],
                          f"Δ {metric}": ["-1.0%", "+0.5%", "+0.2%", "+1.0%"]})
    forest = figures.delta_forest(table, metric, "paper", order)
    assert [t.name for t in forest.data] == ["95% interval over paired seeds", "one common seed: no interval"]
    assert list(forest.layout.yaxis.categoryarray) == ["r1", "r2", "r4", "r16"]
    assert forest.layout.yaxis.autorange == "reversed"  # the first at the top, as in the table
    points = pd.DataFrame({"name": ["paper", "r16", "r2", "r4", "r1", "extra"], "mean": [0.3] * 6,
                           "low": [0.29] * 6, "high": [0.31] * 6, "seeds": [5] * 6})
    dots = figures.metric_dots(points, metric, order)
    assert list(dots.layout.yaxis.categoryarray) == [*order, "extra"]  # a row not picked: after the picked ones


def test_the_curves_axes_and_the_live_caption_name_the_losses_in_words():
    """The curves' axes read "valid/Recall@20" and "loss/cl", and the live run's caption "cl green, l2 grey",
    where every other line on the page says InfoNCE."""
    from app import live

    hist = pd.DataFrame([{"name": "paper", "run": "paper", "seed": 0, "epoch": e, "best_epoch": 2, "epochs_cap": 9,
                          "valid/Recall@20": 0.1 * e, "loss/cl": 1.0 / e} for e in (1, 2, 3)])
    fig = figures.learning_curves(hist, "valid/Recall@20", "loss/cl")
    assert (fig.layout.yaxis.title.text, fig.layout.yaxis2.title.text) == ("valid Recall@20", "InfoNCE loss")
    assert figures.curve_words("loss/total") == "training loss (total)" and figures.curve_words("loss/x") == "x loss"
    assert set(live.PART_WORDS) == set(live.COLOR_NAMES) == set(live.LOSS_COLORS)  # every part has its words
    assert live.PART_WORDS["cl"] == "InfoNCE" and live.PART_WORDS["l2"] == "L2 penalty"


def test_on_a_phone_the_two_panel_charts_stack():
    """Audit r77: on a phone the r sweep's and the learning curves' two panels, side by side, were ~150 px each and
    the right one's y-axis title lay over the left one's plot. Stacked, each panel takes the width, one under the
    other, and the chart grows to hold both; side by side (a projector) they share one row as before."""
    hist = pd.DataFrame([{"name": "paper", "run": "paper", "seed": 0, "epoch": e, "best_epoch": 2, "epochs_cap": 9,
                          "valid/Recall@20": 0.1 * e, "loss/total": 1.0 / e} for e in (1, 2, 3)])
    points = pd.DataFrame({"family": ["mambarec/paper"] * 2, "r": [1, 8], "mean": [0.3, 0.31], "low": [0.29, 0.3],
                           "high": [0.31, 0.32], "seeds": [2, 2], "s_per_epoch": [2.0, 1.0]})
    curves = lambda stacked: figures.learning_curves(hist, "valid/Recall@20", "loss/total", 0, stacked)  # noqa: E731
    sweep = lambda stacked: figures.r_sweep(points, "Recall@20", 0.01, 0.3, stacked)  # noqa: E731
    for build, tall in ((curves, figures.CURVES_HEIGHT), (sweep, figures.R_SWEEP_HEIGHT)):
        side, stacked = build(False), build(True)
        assert side.layout.xaxis.domain[1] < side.layout.xaxis2.domain[0]  # one row
        assert side.layout.yaxis.domain == side.layout.yaxis2.domain and side.layout.height == tall
        assert tuple(stacked.layout.xaxis.domain) == tuple(stacked.layout.xaxis2.domain) == (0, 1)  # the width each
        assert stacked.layout.yaxis2.domain[1] < stacked.layout.yaxis.domain[0]  # the second under the first
        assert stacked.layout.height == figures.panels_height(tall, True) > tall
        assert stacked.layout.yaxis2.title.text == side.layout.yaxis2.title.text  # each panel keeps its own axis


def test_on_a_phone_a_long_x_axis_title_wraps_at_its_last_comma():
    """Audit r79, item 4: under a plot ~150 px wide "Δ Recall@20 vs paper, % of its mean" ran past a phone's chart
    edge. There it takes two lines, split at its last comma, and the chart's margin grows to hold them; a short
    title stays whole, and the figure it came from (maybe a cached one) is left as it was."""
    from app import presentation

    table = pd.DataFrame({"name": ["a", "b"], "Δ Recall@20 %": [1.0, -2.0], "Δ Recall@20 low": [0.0, -3.0],
                          "Δ Recall@20 high": [2.0, -1.0], "Δ Recall@20": ["+1.0%", "-2.0%"]})
    fig = figures.delta_forest(table, "Recall@20", "paper")
    long = fig.layout.xaxis.title.text
    assert len(long) > presentation.PHONE_TITLE_CHARS and ", " in long
    wrapped = presentation.phone_titles(fig)
    head, _, tail = long.rpartition(", ")
    assert wrapped.layout.xaxis.title.text == f"{head},<br>{tail}" and wrapped.layout.xaxis.automargin
    assert fig.layout.xaxis.title.text == long  # the figure passed in is untouched
    short = go.Figure(layout={"xaxis": {"title": {"text": "epoch"}}})
    assert presentation.phone_titles(short).layout.xaxis.title.text == "epoch"


def test_the_summary_csv_holds_the_rows_shown_in_their_order():
    """The Summary CSV wrote every row, and a row out of sight carried ▲/▼ though Holm's correction had left it out
    (it corrects over the rows shown). The table and its CSV now take the same rows: the picked ones in the order
    picked, the pop floor last."""
    table = pd.DataFrame({"name": ["a", "b", "c", "pop"], "source": ["precomputed"] * 3 + ["reference"]})
    assert list(results.shown_rows(table, ["c", "a"])["name"]) == ["c", "a", "pop"]
    assert list(results.shown_rows(table, ["a", "b", "c"])["name"]) == ["a", "b", "c", "pop"]


def test_a_cell_that_never_learned_is_named_and_kept_out_of_the_change_chart(runs_root, tmp_path, monkeypatch):
    """ml100k's `official_paper_sched` (Δ -78%) stretched the change chart's axis to ±80%, so every ±2% interval
    drew as a dot, and nothing on the page said what REPORT.md's Summary does: that the cell never learned. Here
    `bpr` is still on the ln 2 plateau after 3 epochs (its BPR loss 0.6905-0.6907) while the others have left it
    (0.688). One budget for all: the folder once mixed 2-epoch bpr runs with 4-epoch ones, which an extension now
    refuses."""
    from mambarec.precompute import precompute

    ds = {"synthetic": load_dataset("synthetic")}
    grid = tmp_path / "precomputed"
    precompute(grid, ds, seeds=[0, 1], epochs=3, only=["paper", "no_alignment", "bpr"], projections=("pca",),
               progress=False)
    at = compare(monkeypatch, runs_root, grid, dataset="synthetic", cells="paper,no_alignment,bpr", ref="paper",
                 tab="Plots")
    note = next(c.value for c in at.caption if "never learned" in c.value)
    assert note.startswith("`bpr` never learned") and "`paper`" not in note and "`no_alignment`" not in note
    assert "bpr" in set(summary(at).index)  # the table keeps the row as the protocol gives it
    [forest] = [c for c in at.get("plotly_chart") if "forest" in str(c.proto.id)]
    drawn = {y for trace in json.loads(forest.proto.spec)["data"] for y in trace.get("y", [])}
    assert drawn == {"no_alignment"}
    assert any("Nor is bpr, which never learned" in c.value for c in at.caption)


def test_a_change_column_sorts_by_the_change_and_shows_its_words():
    """Sorting the table's Δ column sorted its words as text: ▼ -78.0% came between ▽ -2.2% and ▼ -6.2%. The
    column now holds the change as a number, drawn as its words (a Styler's display values)."""
    table = pd.DataFrame({"name": ["paper", "a", "b", "c", "live", "other"],
                          "Δ Recall@20 %": [np.nan, -2.2, -78.0, -6.2, np.nan, np.nan],
                          "Δ Recall@20": ["reference", "▽ -2.2% [-4, -0.4]", "▼ -78.0% [-80, -76]",
                                          "▼ -6.2% [-8, -4]", comparison.NO_COMMON_SEED, ""]})
    styler = results.by_number(table, ("Recall@20", "NDCG@20"))  # a metric not in the table is passed over
    order = styler.data["Δ Recall@20 order"]
    assert list(styler.data.sort_values("Δ Recall@20 order")["name"]) == ["b", "c", "a", "paper", "live", "other"]
    assert order.is_unique  # each number names its row's words, the rows with no change too
    html = styler.hide([c for c in styler.data if c != "Δ Recall@20 order"], axis="columns").to_html()
    assert all(words in html for words in table["Δ Recall@20"] if words) and "-78.0" not in html.replace("-78.0%", "")
    assert results.by_number(table[["name"]], ("Recall@20",)) is not None
    drawn = results.by_number(table, ("Recall@20",), ["name", "Δ Recall@20 order"])  # the Styler holds what is drawn
    assert list(drawn.data.columns) == ["name", "Δ Recall@20 order"] and drawn.data["Δ Recall@20 order"].equals(order)


def test_the_pop_row_counts_the_grids_pop_seeds_as_the_report_does():
    """The app's pop row said 1 seed with a blank spread, while REPORT.md and `compare --csv` counted the grid's 5
    seeds with a spread of 0, and its Δ paired over those 5. Computed now, with no pop run, it is one value."""
    pop = pd.DataFrame({"model_name": ["pop"] * 3, "seed": [0, 1, 2], **{m: [0.1676] * 3 for m in results.METRICS}})
    row = results.popularity_row(None, pop)
    assert row["seeds"] == 3 and row["Recall@20 ±"] == 0.0 and row["Recall@20 text"] == "0.1676"
    one = results.popularity_row(None, pop.iloc[:1])
    assert one["seeds"] == 1 and np.isnan(one["Recall@20 ±"])


def test_the_grids_rows_come_in_the_grids_order_as_in_the_readme():
    """The journal holds runs in the order they finished, so the app and `compare` listed r16 before r2, r4 and r1,
    unlike README.md and REPORT.md; a row-by-row check across them was slow."""
    names = ["r16", "bpr", "r2", "paper", "r1"]
    rows = pd.DataFrame({"source": ["precomputed"] * 5 + ["saved"], "setup": [*names, "mambarec/paper · 3 ep"],
                         "name": [*names, "mambarec/paper · 3 ep"], "cell": [*names, None], "seed": [0] * 6,
                         "model_name": "mambarec", "r": None, "Recall@20": 0.3})
    order = list(comparison.aggregate_seeds(rows, ("Recall@20",))["name"])
    assert order == ["paper", "r1", "r2", "r16", "bpr", "mambarec/paper · 3 ep"]


def test_an_empty_checkpoints_tab_says_why_the_grid_brings_no_weights_here(runs_root, grid_folder, monkeypatch):
    """On ml100k the Checkpoints and "Is it noise?" tabs said only "No checkpoint on this dataset yet", which a
    lecturer read as broken precomputed data: the grid keeps weights for the built-in worlds only, as the DREAM and
    Users pages already said."""
    at = compare(monkeypatch, runs_root, grid_folder, dataset="synthetic/noisy-modality", tab="Checkpoints")
    [said] = [c.value for c in at.caption if c.value.startswith("No checkpoint on this dataset yet")]
    assert "precomputed/ keeps weights only for `synthetic`" in said and said.endswith("Or upload one below.")


def test_a_setup_whose_runs_were_all_stopped_by_hand_is_not_the_default_reference(tmp_path, capsys):
    """Two setups that change equally few settings: the tie went to the newest row, a run stopped by hand after one
    epoch, against which a finished run read +3.3% (rehearsal r54)."""
    import json

    from mambarec.cli import main

    for epochs, name in ((3, "finished"), (5, "cut")):
        saved(tmp_path / "runs", RunConfig(dataset="synthetic", model_name="bpr", model=BPRConfig(),
                                           train=TrainConfig(epochs=epochs)), name)
    metrics = tmp_path / "runs" / "cut" / "metrics.json"
    metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "cancelled": True}))
    assert main(["compare", "--runs", str(tmp_path / "runs")]) == 0
    assert "Reference: bpr · ≤3 ep." in capsys.readouterr().out


def test_the_printed_legend_explains_only_what_the_table_shows():
    """`compare` printed all five legend sentences, "no common seed" among them, under a two-row table (r54, F19)."""
    from mambarec.comparison import NO_COMMON_SEED, legend

    quiet = legend(["reference", "≈ +0.5% [-0.9, +1.9]"], one_seed=False)
    assert quiet.startswith("Δ: change against the reference") and "≈ when the interval holds 0" in quiet
    assert "▲/▼" not in quiet and "△/▽" not in quiet and "One seed" not in quiet and NO_COMMON_SEED not in quiet
    busy = legend(["▼ -49.5% [-50.5, -48.5]", "△ +4.6% [+2.6, +6.7]", NO_COMMON_SEED], one_seed=True)
    assert all(part in busy for part in ("▲/▼ when", "△/▽ when", "One seed is one value", "nothing to pair"))
    assert "≈ when" not in busy


def test_a_cold_bar_short_of_the_random_line_has_its_value_written_past_the_line():
    """cold-items.4's values 0.003 and 0.001 sat on the red dashed random-ranking line and read struck through
    (rehearsal r55): a value is written past its whisker, or past the line when the whisker ends before it."""
    table = pd.DataFrame([
        {"name": "paper", "group": "warm", "mean": 0.30, "seeds": 5, "low": 0.29, "high": 0.31},
        {"name": "paper", "group": "cold", "mean": 0.003, "seeds": 5, "low": 0.001, "high": 0.005},
    ])
    fig = figures.cold_warm_bars(table, "Recall@20", chance=0.033)
    warm, cold = [t for t in fig.data if t.type == "scatter" and t.mode == "text"]
    assert list(warm.x) == pytest.approx([0.31]) and list(cold.x) == pytest.approx([0.033])
    assert cold.text[0].strip() == "0.003"
    no_line = [t for t in figures.cold_warm_bars(table, "Recall@20").data if t.type == "scatter"]
    assert list(no_line[1].x) == pytest.approx([0.005])
    # audit r79, item 3: on a phone "0.519" ran past the chart's edge as "0.5", and the line's name, above the plot,
    # lay under the key's "warm items". The axis leaves room for the values; the line is named in the key
    assert fig.layout.xaxis.range[1] >= 0.31 * (1 + figures.VALUE_ROOM) - 1e-9 and not fig.layout.annotations
    assert [t.name for t in fig.data if t.showlegend is not False and t.name] == [
        "warm items", "cold items", "random ranking ≈ 0.033"]


def test_the_app_says_the_grid_in_short_as_the_report_does_warm_up_seeds_included():
    """The app built its cells from the table's metrics alone, so the summary it showed on Compare and in the
    lessons lost the warm-up seeds REPORT.md names beside a headline (audit r57, F24)."""
    from mambarec.artifacts import load_precomputed
    from mambarec.summary import in_short

    folder = PAGE.parents[2] / "precomputed"
    rows = load_precomputed(folder)["results"]
    report = in_short(findings.cells_of(rows, "synthetic"))
    assert "stopped in the warm-up" in report
    assert evidence.grid_in_short("synthetic", folder) == report
    assert evidence.grid_in_short("ml100k", folder) == in_short(findings.cells_of(rows, "ml100k"))


def test_an_r_sweep_is_a_mambarec_family_shown_at_two_or_more_r():
    rows = pd.DataFrame([
        {"name": "paper", "family": "mambarec/paper", "model_name": "mambarec", "r": 8},
        {"name": "r16", "family": "mambarec/paper", "model_name": "mambarec", "r": 16},
        {"name": "r4", "family": "mambarec/paper", "model_name": "mambarec", "r": 4},
        {"name": "no_mmd", "family": "mambarec/paper · use_mmd=off", "model_name": "mambarec", "r": 8},
        {"name": "mgcn", "family": "mgcn", "model_name": "mgcn", "r": None},
    ])
    assert list(comparison.r_sweep_rows(rows, ["paper", "r16", "no_mmd", "mgcn"])["name"]) == ["paper", "r16"]
    assert comparison.r_sweep_rows(rows, ["paper", "no_mmd", "mgcn"]).empty  # one r per family: no sweep


def test_one_folder_that_cannot_be_read_never_hides_the_others(runs_root, tmp_path, capsys, monkeypatch):
    """A folder without read permission, or whose name is not UTF-8, crashed `compare` and the Compare page; a
    metrics.json holding NaN was kept over a sound copy of the same run, as the newer of the two (audit r59)."""
    from mambarec.catalog import list_runs, printable_name
    from mambarec.cli import main

    runs = tmp_path / "runs"
    shutil.copytree(runs_root, runs)
    good = runs / "one-epoch-no-mmd"
    shutil.copytree(good, runs / "denied")
    shutil.copytree(good, runs / "nan-copy")
    metrics = json.loads((good / "metrics.json").read_text())
    (runs / "nan-copy" / "metrics.json").write_text(json.dumps({**metrics, "test/Recall@20": float("nan")}))
    odd = os.fsencode(runs) + b"/bad\xffname"
    os.mkdir(odd)
    for name in ("config.json", "metrics.json"):
        with open(odd + b"/" + name.encode(), "wb") as f:
            f.write((good / name).read_bytes())
    is_file = Path.is_file

    def denied(path):  # what stat says inside a folder without read and search permission (tests run as root)
        if path.parent.name == "denied":
            raise PermissionError(13, "Permission denied", str(path))
        return is_file(path)

    monkeypatch.setattr(Path, "is_file", denied)
    unreadable: list = []
    assert sorted(r.id for r in list_runs(runs, unreadable)) == ["bpr-cold", "one-epoch-no-mmd"]
    why = {printable_name(folder): reason for folder, reason in unreadable}
    assert set(why) == {"denied", "nan-copy", "bad\\xffname"}
    assert "chmod -R u+rX 'denied'" in why["denied"] and "rename the folder" in why["bad\\xffname"]
    assert "metrics.json holds nan for test/Recall@20" in why["nan-copy"] and "retrain the run" in why["nan-copy"]
    assert main(["compare", "--runs", str(runs), "--dataset", "synthetic"]) == 0
    out, err = capsys.readouterr()
    assert "use_mmd=off" in out and "one-epoch-no-mmd" not in err
    assert f"skipped {runs / 'bad'}\\xffname: it cannot be read" in err
    rows, said, _ = results.saved_runs(str(runs), ("audit r59",))  # the page's own reading
    assert len(rows) == 2 and {Path(folder).name for folder, _ in said} == {"denied", "nan-copy", "bad\\xffname"}


def test_a_link_can_mark_an_epoch_on_the_learning_curves(tmp_path, monkeypatch):
    """converged.1 says "read them at epoch 20", and at 1024 x 768 the axis had ticks at 50 and 100 only (rehearsal
    r70): ``mark=20`` draws a dashed line there on both panels, named on the first, and the caption says what it is;
    a mark that is no epoch is named in a note and draws nothing."""
    precomputed = PAGE.parents[2] / "precomputed"
    at = compare(monkeypatch, tmp_path / "no-runs", precomputed, dataset="synthetic", cells="paper,no_alignment",
                 tab="Learning curves", mark="20")
    [chart] = at.get("plotly_chart")
    layout = json.loads(chart.proto.spec)["layout"]
    marks = [s for s in layout.get("shapes", []) if s.get("line", {}).get("dash") == "dash"]
    assert [(s["x0"], s["xref"]) for s in marks] == [(20, "x"), (20, "x2")]
    assert [a["text"] for a in layout.get("annotations", [])] == ["epoch 20"]
    assert any("Dark dashed line: epoch 20" in c.value for c in at.caption)
    at = compare(monkeypatch, tmp_path / "no-runs", precomputed, dataset="synthetic", cells="paper,no_alignment",
                 tab="Learning curves", mark="-3")
    assert not [s for s in json.loads(at.get("plotly_chart")[0].proto.spec)["layout"].get("shapes", [])
                if s.get("line", {}).get("dash") == "dash"]
    assert any("mark='-3' is not available here" in c.value for c in at.caption)


@pytest.mark.parametrize("present", [False, True])
def test_a_saved_runs_setup_column_is_as_wide_as_its_name(runs_root, monkeypatch, present):
    """A saved run is named by what it changed: in presentation mode the setup column's 219 px showed "mambarec/paper
    · use_mmd=off · 5 ep" as "mambarec/paper · use_mmd=" (rehearsal r70). The column now takes the width its
    longest name needs (``presentation.text_px``, which the browser test holds to Chromium's widths); a table of
    precomputed cells alone keeps its width, which fits 1280 px."""
    import json

    from app import presentation

    def opened(**params) -> AppTest:
        at = compare(monkeypatch, runs_root, dataset="synthetic", **params)
        at.session_state[presentation.KEY] = present  # what the app's ?present=1 sets before the page runs
        at.run()
        return at

    at = opened()
    table = next(d for d in at.dataframe if "Recall@20 text" in d.proto.column_order)
    names = list(compare_table(at)["setup"])
    long = max(names, key=len)
    assert "use_mmd=off" in long, names
    width = json.loads(table.proto.columns)["name"]["width"]
    em = presentation.ROOT_FONT_PX[present] * results.GRID_TEXT_REM
    need = em * presentation.text_em(long)
    assert width >= need + results.CELL_PADDING_PX and width > results.COLUMN_PX["name"][present]
    alone = opened(cells="paper,no_alignment")
    table = next(d for d in alone.dataframe if "Recall@20 text" in d.proto.column_order)
    assert json.loads(table.proto.columns)["name"]["width"] == results.COLUMN_PX["name"][present]


def test_a_saved_setup_whose_name_holds_a_comma_keeps_its_place_in_the_pages_address(runs_root, monkeypatch, tmp_path):
    """A saved run's name lists what it changed with commas ("use_mmd=off, lambda_cl=0.02") and a comma separates a
    link's setups: the page wrote the name into its own address, which came back as two unknown setups with a note,
    and a copied or reloaded address lost the run (rehearsal r71). The list splits only at a comma with no space
    after it, as the page writes it; a typed "paper, no_alignment" still names two setups."""
    root = tmp_path / "runs"
    shutil.copytree(runs_root / "one-epoch-no-mmd", root / "one-change")
    saved(root, RunConfig(dataset="synthetic", model=mambarec_preset("paper", use_mmd=False, lambda_cl=0.02),
                          train=TrainConfig(epochs=1, device="cpu")), "two-changes")
    at = compare(monkeypatch, root, dataset="synthetic", cells="paper,two-changes,one-change")
    names = list(compare_table(at)["setup"])
    [two] = [n for n in names if ", " in n]
    address = at.query_params["cells"]
    assert two in (address if isinstance(address, str) else address[0])
    at.run()  # the page's own address, read back
    again = compare(monkeypatch, root, **{k: at.query_params[k] for k in at.query_params})  # a copied address
    for page in (at, again):
        notes = [e.value for kind in (page.caption, page.info, page.warning) for e in kind]
        assert not [n for n in notes if "of that name on this dataset" in n], notes
        assert list(compare_table(page)["setup"]) == names
    typed = compare(monkeypatch, root, dataset="synthetic", cells="paper, no_alignment")
    assert set(compare_table(typed)["setup"]) >= {"paper", "no_alignment"}


def test_a_run_deleted_here_is_not_called_a_typo_in_the_address(runs_root, monkeypatch, tmp_path):
    """Rehearsal r74, item 6: right under "Deleted the run ...", the page said the address named "no setup or saved
    run of that name on this dataset (a typo, ...)": the run it had just deleted, still in its cells."""
    root = tmp_path / "runs"
    shutil.copytree(runs_root / "one-epoch-no-mmd", root / "junk")
    at = compare(monkeypatch, root, dataset="synthetic", tab="Checkpoints", cells="junk")
    assert not any("no setup or saved run of that name" in c.value for c in at.caption)
    at.selectbox(key="ckpt.pick").set_value(str(root / "junk" / "checkpoint.pt")).run()
    at.button(key="manage.delete.junk").click().run()
    assert not at.exception and not (root / "junk").exists()
    assert any("Deleted the run `junk`" in s.value for s in at.success)
    assert not any("no setup or saved run of that name" in c.value for c in at.caption), [c.value for c in at.caption]
    at.run()
    assert not any("no setup or saved run of that name" in c.value for c in at.caption), [c.value for c in at.caption]


def test_a_compare_address_that_names_a_saved_run_by_its_setup_opens_checkpoints_on_it(runs_root, monkeypatch,
                                                                                        tmp_path):
    """Rehearsal r74, item 5: the page writes a saved run into its address by its setup's name; that address, opened
    in a new session, picked the precomputed `paper` in Checkpoints, not the run the table showed."""
    root = tmp_path / "runs"
    shutil.copytree(runs_root / "one-epoch-no-mmd", root / "junk")
    first = compare(monkeypatch, root, dataset="synthetic", tab="Checkpoints", cells="junk")
    named = dict(first.query_params)["cells"]
    named = named[0] if isinstance(named, list) else named
    assert named != "junk" and "use_mmd=off" in named  # its setup's name, as a copied link holds it
    at = compare(monkeypatch, root, dataset="synthetic", tab="Checkpoints", cells=named)
    assert at.selectbox(key="ckpt.pick").value == str(root / "junk" / "checkpoint.pt")


def test_a_rooms_sessions_share_the_tables_numbers_and_a_run_saved_since_is_in_the_next(monkeypatch, tmp_path,
                                                                                          grid_folder):
    """A room opening one lesson step computed the page's numbers once a session (~0.2 s of CPU each, 30 sessions at
    once): a second session reads them back, and a run saved since is in the next session's table with its numbers
    computed anew (``results.per_rows``, keyed by the version of the rows)."""
    import streamlit as st

    st.cache_data.clear()
    calls = {"claim_cells": 0, "untrained": 0, "partial_pairings": 0}

    def counting(module, name):
        real = getattr(module, name)

        def counted(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)

    for module, name in ((evidence, "claim_cells"), (evidence, "untrained"), (comparison, "partial_pairings")):
        counting(module, name)
    runs = tmp_path / "runs"
    runs.mkdir()
    first = compare(monkeypatch, runs, grid_folder, dataset="synthetic", ref="paper")
    second = compare(monkeypatch, runs, grid_folder, dataset="synthetic", ref="paper")
    assert calls == {"claim_cells": 1, "untrained": 1, "partial_pairings": 1}
    assert summary(second).equals(summary(first)) and len(summary(first)) > 2
    saved(runs, RunConfig(dataset="synthetic", model=mambarec_preset("paper", use_mmd=False),
                          train=TrainConfig(epochs=1, device="cpu")), "saved-since")
    third = compare(monkeypatch, runs, grid_folder, dataset="synthetic", ref="paper")
    assert calls == {"claim_cells": 2, "untrained": 2, "partial_pairings": 2}
    assert len(summary(third)) == len(summary(first)) + 1
    assert "saved-since" in set(next(df.value for df in third.dataframe if "run" in df.value.columns)["run"])


def test_a_world_without_runs_does_not_leave_pop_as_the_reference_of_the_next(monkeypatch, tmp_path, grid_folder):
    """Rehearsal r78, item 2: a world with no runs (a knob moved) put pop in as the reference, and back on a dataset
    with runs every Δ was still against pop, which no one chose; a reference picked by hand stays picked."""
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MAMBAREC_PRECOMPUTED", str(grid_folder))
    at = AppTest.from_file(str(PAGE.parents[2] / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"dataset": "synthetic"})
    at.switch_page("app/pages/compare.py").run()
    assert at.selectbox(key="compare.ref").value == "paper"
    at.selectbox(key="sidebar.dataset").set_value("synthetic/cold-items").run()  # no run of this world here
    assert not at.exception and at.selectbox(key="compare.ref").value == "pop"
    at.selectbox(key="sidebar.dataset").set_value("synthetic").run()
    assert not at.exception and at.selectbox(key="compare.ref").value == "paper"
    at.selectbox(key="compare.ref").set_value("bpr").run()
    at.selectbox(key="sidebar.dataset").set_value("synthetic/cold-items").run()
    at.selectbox(key="sidebar.dataset").set_value("synthetic").run()
    assert at.selectbox(key="compare.ref").value == "bpr"
