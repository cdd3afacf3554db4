"""REPORT.md: a plain summary first (which parts matter, with intervals), then per dataset the ablations, the
schedules, the bridge between MGCN and the paper, the paper's claims beside ours, learning curves and the
alignment numbers, then the scenario sweep. The Summary's words come from ``mambarec.summary``, tables from
``mambarec.tables``, verdicts from ``mambarec.findings``, plots from ``mambarec.curves``.
"""

from __future__ import annotations

import re

from mambarec import findings, grid, stats
from mambarec.artifacts import dataset_folder
from mambarec.curves import learning_curve_svg
from mambarec.summary import summary_lines, warmup_stop_lines
from mambarec.tables import markdown_tables

CURVE_CELLS = ("paper", "official", "mgcn", "no_alignment")  # the headline cells get learning-curve plots
CURVE_METRICS = (("valid/Recall@20", "valid Recall@20"), ("loss/total", "training loss"))


def curve_files(rows: list[dict]) -> dict[str, str]:
    """``curves/<dataset>/<cell>.svg`` -> SVG text: per headline cell, valid Recall@20 and the loss over epochs,
    the mean over seeds with the band between the lowest and the highest seed while every seed runs (then each seed
    that ran on, dotted), and its repeats under the paper's
    schedule and the candidate schedules beside it where they ran; a line is named by its schedule."""
    out = {}
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        cells = findings.cells_of(rows, dataset)
        for cell in CURVE_CELLS:
            if cell not in cells:
                continue
            series, best = {}, {}
            for name in (cell, *(grid.schedule_cell(cell, s) for s in ("paper", *grid.CANDIDATE_SCHEDULES))):
                if name in cells:  # the legend names each line by its schedule: the title names the cell
                    runs = list(cells[name].values())
                    key = f"{runs[0].get('schedule', 'default')} schedule"
                    key = key if key not in series else f"{name}, {key}"  # two cells on one schedule: both shown
                    series[key] = [r.get("history", []) for r in runs]
                    best[key] = [int(r["best_epoch"]) for r in runs]
            for metric, label in CURVE_METRICS:
                svg = learning_curve_svg(series, metric, f"{dataset} · {cell} · {label}", best)
                if svg:
                    name = f"{cell}_{metric.replace('/', '_').replace('@', '').lower()}"
                    out[f"curves/{dataset_folder(dataset)}/{name}.svg"] = svg
    return out


def missing_cells(rows: list[dict], datasets=(*grid.MAIN_DATASETS, *grid.SCENARIO_DATASETS)) -> dict[str, list[str]]:
    """Dataset -> the grid's cells with no row there (a subset run, or a grid cut short); datasets without any
    row list every cell they would run."""
    have = {(r["dataset"], r["cell"]) for r in rows}
    out = {}
    for name in datasets:
        absent = [c.name for c in grid.cells_for(name, list(grid.GRID)) if (name, c.name) not in have]
        if absent:
            out[name] = absent
    return out


def missing_lines(rows: list[dict]) -> list[str]:
    """What the default grid holds that this folder lacks, and the command that adds it."""
    missing = missing_cells(rows)
    if not missing:
        return []
    lines = ["This folder holds part of the default grid; a cell missing here has no row, not a zero. "
             "`python -m mambarec precompute --extend --datasets <names> --only <cells>` trains what is missing and "
             "keeps the rest (`--plan` first prints the arithmetic).", ""]
    lines += [f"- {name}: {', '.join(f'`{c}`' for c in cells)}" for name, cells in missing.items()]
    return lines


def seeds_line(rows: list[dict]) -> str:
    """How many seeds the cells of ``rows`` ran (read from the rows, not from the grid's definition)."""
    held: dict[tuple[str, str], set] = {}
    for r in rows:
        held.setdefault((r["dataset"], r["cell"]), set()).add(r["seed"])
    if not held:
        return "- Seeds per cell: no runs yet."
    most = max(len(s) for s in held.values())
    fewer: dict[str, int] = {}
    for (_, cell), seeds in held.items():
        if len(seeds) < most:
            fewer[cell] = min(fewer.get(cell, most), len(seeds))
    but = (" but " + ", ".join(f"`{c}` ({k})" for c, k in sorted(fewer.items()))) if fewer else ""
    schedules = (", the schedule check also over seeds 0-2, as the speed issue asked it"
                 if most > 3 and any(cell.endswith("_sched") for _, cell in held) else "")
    budget = (" Five seeds of everything does not fit the 120-minute budget at today's speed (`python -m mambarec "
              "precompute --plan` prints the arithmetic), so the grid gives " + ", ".join(
                  f"`{c.name}` {c.seeds}" for c in grid.GRID if c.seeds < grid.MAX_SEEDS) + " (the issue's floor is "
              "three)." if any(c.seeds < grid.MAX_SEEDS for c in grid.GRID) else "")
    return f"- Seeds per cell: {most} for every cell{but}{schedules}.{budget}"


def render_report(rows: list[dict], manifest: dict, alignment: dict | None = None) -> str:
    """REPORT.md of a grid's rows and manifest."""
    machine, tables = manifest["machine"], markdown_tables(rows, alignment)
    datasets = list(manifest["datasets"])
    main = [d for d in datasets if not d.startswith("synthetic/")]
    budgets = {(b["epochs"], b["patience"]) for b in manifest["budgets"].values()}
    budget_words = "; ".join(f"at most {e} epochs, early stop after {p} + 1 epochs without a better valid Recall@20"
                             for e, p in sorted(budgets))
    lines = ["# MambaRec ablation grid: the paper's claims beside what we measured", "",
             "Generated by `python -m mambarec precompute` from `results.csv`; do not edit by hand.", "",
             "## Summary", "", *summary_lines(rows, main), *warmup_stop_lines(rows, manifest["budgets"]), "",
             "## Setup", "",
             f"- {_probe_line(manifest)} Created {manifest['created']}"
             + (f" (extended {manifest['extended']})" if manifest.get("extended") else "") + ", wall time "
             f"{manifest['wall_time_s'] / 60:.1f} min on {machine['cpu_count']} CPUs ({machine.get('engine', 'local')} "
             f"engine, {machine['torch_threads']} torch thread(s) per run, CUDA {machine['cuda']}).",
             f"- Budget: {budget_words}. A run that reaches its epoch cap instead is marked by best / run epochs.",
             f"- Seeds {', '.join(map(str, manifest['seeds']))}; the seeds column of each table lists the ones a cell "
             "ran. Test metrics are those of the epoch with the best valid "
             "Recall@20 (docs/protocol.md section 5); each row's schedule is in results.csv.",
             seeds_line(rows),
             "- Each comparison pairs the seeds both cells ran and shows the 95% t-interval of the difference "
             "(docs/protocol.md section 8). Against the paper's claims: \"agrees\" when the interval excludes 0 on "
             "the paper's side, \"disagrees\" when it excludes 0 on the other side, \"inconclusive\" otherwise (with "
             "one common seed there is no interval: \"inconclusive (1 seed)\"), and \"inconclusive; smaller than "
             "claimed\" when the interval holds 0 but not the paper's change. " + findings.SIZE_RULES
             + " For a part: \"helps\" / \"hurts\" "
             "when the interval excludes 0, \"no measurable effect\" when it holds 0 (not \"no effect\": the "
             "interval bounds how large it can be). Parameter counts are compared exactly.",
             f"- This report holds {INTERVALS} intervals of a difference, at 95% each, and an interval is not "
             "corrected for the others: about one in twenty true nulls shows as \"helps\" or \"hurts\" by chance. "
             "So every \"helps\", \"hurts\" or \"costs accuracy\" of a part says whether it holds after Holm's "
             "correction over the parts shown with it (a line of the Summary, a group of a table; in the whole "
             "grid: the 15 parts of the paper's model, the three model-against-model rows, the 7 bridge parts on "
             "each side, the 5 effects of a world), with the adjusted p (docs/protocol.md section 8); the claims "
             "are the paper's own, each read on its own. Each seed trains on the same split; the intervals cover "
             "seeds (initial draws, sampling order), not the choice of split.",
             *schedule_setup_lines(rows, main),
             "- Time claims (C6, C8) read each run's own "
             "seconds per epoch, taken two runs at a time on shared cores, so their intervals carry the machine's "
             "load as much as the seeds (the README's speed comparisons alternate configurations in one process "
             "instead); C5-C8 read r = 1 as the "
             "released code does (no reduction layer; docs/departures.md section 3).",
             "- The paper's numbers come from Amazon Baby/Sports/Clothing, with the run picked by its best TEST "
             "Recall@20 (docs/departures.md); ours come from other data and valid-set selection, so a relative change "
             "is what we compare."]
    for name in main:
        info, b = manifest["datasets"][name], manifest["budgets"][name]
        lines += ["", f"## {name}", "",
                  f"{info['n_users']:,} users, {info['n_items']:,} items, {info['n_train']:,} / {info['n_valid']:,} / "
                  f"{info['n_test']:,} train / valid / test interactions; visual {info['visual_dim']}-d, text "
                  f"{info['text_dim']}-d; fingerprint `{info['fingerprint']}`; {b['epochs']} epochs max, "
                  f"patience {b['patience']}.", "", "### Ablations", "", tables.get(f"{name}/ablation", "(no runs)")]
        for key, title in (("schedules", "Schedules: each faster one against the paper's (test metrics, paired by "
                                          "seed)"),
                           ("bridge", "Bridge: what in the paper's description costs accuracy against MGCN"),
                           ("effects", "Every part's effect, in words")):
            if f"{name}/{key}" in tables:
                lines += ["", f"### {title}", "", tables[f"{name}/{key}"]]
        lines += ["", "### The paper's claims beside ours", "", tables.get(f"{name}/claims", "(no runs)")]
        cells = findings.cells_of(rows, name)
        verdicts = {c: findings.claim_verdict(c, cells)[1] for c in findings.CLAIMS}
        disagreements = [c.claim + (f" ({findings.warmup_words(early)})" if (early := findings.claim_warmup(c, cells))
                                    else "") for c, v in verdicts.items() if v.startswith(stats.DISAGREES)]
        open_ = [c for c, v in verdicts.items() if v.startswith(stats.INCONCLUSIVE)]
        smaller = [c for c, v in verdicts.items() if v.startswith(f"{stats.INCONCLUSIVE}; {stats.SMALLER}")]
        lines += ["", "Where we disagree with the paper (the 95% interval excludes 0 on the other side, or a "
                  "size claim misses its bound): " + ("; ".join(disagreements) + "." if disagreements else "nowhere.")
                  + f" Inconclusive in direction (the interval holds 0, or one seed): {len(open_)} of "
                    f"{len(findings.CLAIMS)} claims, of which {len(smaller)} exclude the paper's change (smaller than "
                    "claimed here). A cell with seeds that stopped in their warm-up (Summary) weighs on the claims "
                    "that read it."]
        curves = [p for p in curve_files([r for r in rows if r["dataset"] == name])]
        if curves:
            lines += ["", "### Learning curves (mean over seeds and band from lowest to highest seed, while every seed "
                      "runs; dotted: a seed that ran on; dots: best epochs)", "",
                      " ".join(f"![{p.rsplit('/', 1)[-1][:-4]}]({p})" for p in curves)]
        if f"{name}/alignment" in tables:
            lines += ["", "### Alignment of the modal features (before → after training, first seed)", "",
                      tables[f"{name}/alignment"]]
    if "scenarios" in tables:
        lines += ["", "## The scenario sweep: worlds where a part can matter", "", tables["scenarios"]]
    if missing_cells(rows):
        lines += ["", "## Not in this folder", "", *missing_lines(rows)]
    if manifest.get("skipped"):
        lines += ["", "## Skipped", ""]
        lines += [f"- {s['dataset']} / {s['cell']}: {s['reason']}" for s in manifest["skipped"]]
    if manifest.get("failed"):
        lines += ["", "## Failed (after their retries; not in the tables)", ""]
        lines += [f"- {f['task']}: {f['error']}" for f in manifest["failed"]]
    text = "\n".join(lines) + "\n"
    return text.replace(INTERVALS, f"{len(INTERVAL.findall(text)):,}")


INTERVALS = "<the intervals counted>"  # a placeholder in the Setup, counted once the report is whole
INTERVAL = re.compile(r"\[[+-]?\d[\d.,]*%, [+-]?\d[\d.,]*%\]")  # a difference's, "[+1.8%, +10.2%]" (a mean's has no %)


def schedule_setup_lines(rows: list[dict], datasets: list[str]) -> list[str]:
    """Per dataset whose `paper` cell trains under a faster schedule than the paper's: which schedule, and by how
    much the schedule check moves `paper` (a sentence that named ml100k and "+6%" was printed for every grid, a
    synthetic demo's too; audit r75)."""
    lines = []
    for name in datasets:
        cells = findings.cells_of(rows, name)
        schedule = next((r.get("schedule") for r in cells.get("paper", {}).values()), None)
        if schedule in (None, "paper"):
            continue
        check = next((c for c in findings.schedule_checks(cells) if c.cell == "paper" and c.schedule == schedule),
                     None)
        recall = check.diffs.get(findings.SCHEDULE_METRICS[0]) if check else None
        moved = (f", and the schedule check below shows that `{schedule}` moves `paper`'s test Recall@20 by "
                 f"{recall.format(1, '%')}" if recall is not None else
                 f"; this folder holds no `paper_paper_sched` row to check `{schedule}` against")
        lines.append(f"- {name}'s MambaRec and MGCN cells train under the `{schedule}` schedule (their "
                     f"`<cell>_paper_sched` rows repeat the headline ones under the paper's) and its baselines under "
                     f"the paper's schedule{moved}: the claims and effects on {name} are measured under `{schedule}`.")
    return lines


def _probe_line(manifest: dict) -> str:
    n = len(manifest.get("probes", {}))
    if not n:
        return "No numerics probes (a folder older than probes)."
    return (f"{n} numerics probes (one per cell: 2 epochs on the probe data, one thread, float64) say which code "
            "these numbers belong to; `python -m pytest tests/test_probes.py` checks them against today's code.")


__all__ = ["render_report", "curve_files", "missing_cells", "missing_lines", "seeds_line"]
