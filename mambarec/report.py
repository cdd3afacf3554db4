"""REPORT.md: a plain summary first (which parts matter, with intervals), then per dataset the ablations, the
schedules, the bridge between MGCN and the paper, the paper's claims beside ours, learning curves and the
alignment numbers, then the scenario sweep. Tables come from ``mambarec.tables``, words from
``mambarec.findings``, plots from ``mambarec.curves``.
"""

from __future__ import annotations

from mambarec import findings, grid, stats
from mambarec.artifacts import dataset_folder
from mambarec.curves import learning_curve_svg
from mambarec.tables import markdown_tables, seed_list

CURVE_CELLS = ("paper", "official", "mgcn", "no_alignment")  # the headline cells get learning-curve plots
CURVE_METRICS = (("valid/Recall@20", "valid Recall@20"), ("loss/total", "training loss"))


def curve_files(rows: list[dict]) -> dict[str, str]:
    """``curves/<dataset>/<cell>.svg`` -> SVG text: per headline cell, valid Recall@20 and the loss over epochs,
    the mean over seeds with the band between the lowest and the highest seed, and its repeats under the paper's
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


def summary_lines(rows: list[dict], datasets: list[str]) -> list[str]:
    """The report's first section: which parts matter, per main dataset, with intervals; the bridge; schedules."""
    lines = []
    for dataset in datasets:
        cells = findings.cells_of(rows, dataset)
        if "paper" not in cells:
            continue
        words = findings.summarize_parts(cells)
        parts = [f"**{w}**: {'; '.join(words[w])}" for w in (findings.HELPS, findings.HURTS) if words.get(w)]
        nothing = words.get(findings.NOTHING, [])
        if nothing:
            parts.append(f"**no measurable effect** (the interval holds 0; it may still hold effects as large as the "
                         f"paper's): {'; '.join(nothing)}")
        one = words.get(findings.ONE_SEED, [])
        if one:
            parts.append(f"single seed, no interval: {len(one)} part(s)")
        short = in_short_line(cells, dataset)
        lines += [short] if short else []
        lines.append(f"- On {dataset} (test Recall@20 of the paper's model with the part against without it, "
                     f"paired by seed, 95% CI): " + ("; ".join(parts) if parts else "no ablation rows yet") + ".")
        lines += bridge_lines(cells, dataset)
        lines += never_learned_lines(cells, dataset)
        lines += schedule_lines(findings.schedule_check_pairs(cells), dataset)
    return lines


def in_short_line(cells: dict, dataset: str) -> str | None:
    """A dataset's findings in plain words before their detail: the headline models against each other, how many
    of the paper's parts move test Recall@20 measurably and which, and which of its departures from MGCN cost
    accuracy on both sides of the bridge (added to MGCN and taken out of the paper's model)."""
    heads = [f"{c.label} {d.format(1, '%')}" for c in findings.HEADLINES
             if (d := findings.effect(cells, c)) is not None and d.has_interval]
    measured = [(c, d, note) for c, d, note in findings.family_effects(cells, findings.COMPONENTS)
                if d is not None and d.has_interval]
    if not heads and not measured:
        return None
    said = []
    if heads:
        said.append("; ".join(heads) + ".")
    if measured:
        moved = [f"{c.label} {'helps' if d.excludes_zero() > 0 else 'hurts'} ({findings.described(d, note)})"
                 for c, d, note in measured if d.excludes_zero()]
        said.append(f"Of the paper's {len(measured)} ablations (a part switched off, or r changed), "
                    + (f"{len(moved)} move{'s' if len(moved) == 1 else ''} it measurably: {'; '.join(moved)}."
                       if moved else "none moves it measurably (every interval holds 0)."))
    costs = []
    for words, added, kept in findings.BRIDGES:
        a, k = findings.effect(cells, added), findings.effect(cells, kept)
        if a is not None and k is not None and findings.word(a) == findings.word(k) == findings.HURTS:
            costs.append(f"{words}: {a.format(1, '%')} added to MGCN, {k.format(1, '%')} in the paper's model")
    if costs:
        said.append("Of its departures from MGCN, what costs accuracy on both sides of the bridge is "
                    + "; ".join(costs) + ".")
    return f"- **In short, on {dataset}** (test Recall@20, paired by seed, 95% CI): " + " ".join(said)


def schedule_lines(pairs: list, dataset: str) -> list[str]:
    """One bullet that states the speed issue's bar once, then one sub-bullet per model and faster schedule: the
    paired differences over every seed both schedules ran, the verdict and why, and the check again over the seeds
    the issue named (``few``) where the grid ran more."""
    if not pairs:
        return []
    safe = [f"`{c.cell}` {c.schedule} over seeds {seed_list(c.seeds)}" for pair in pairs for c in pair
            if c is not None and c.safe]
    lines = [f"- Faster schedules against the paper's on {dataset} (test metrics, paired by seed, 95% CI; safe: "
             f"both intervals hold 0 and lie within ±3%, the speed issue's bar): "
             f"{'shown safe: ' + '; '.join(safe) if safe else 'none is shown safe'}."]
    for ch, few in pairs:
        line = (f"  - `{ch.cell}`, {ch.schedule}: {schedule_verdict(ch)}; best epoch "
                f"{ch.fast['best_epoch'].mean:.0f} against {ch.paper['best_epoch'].mean:.0f}, "
                f"{ch.fast['wall_s'].mean:.0f} against {ch.paper['wall_s'].mean:.0f} s a run")
        if few is not None:
            line += f"; over the issue's seeds {seed_list(few.seeds)} alone: {schedule_verdict(few, seeds=False)}"
        lines.append(line + ".")
    return lines


def schedule_verdict(ch: findings.ScheduleCheck, seeds: bool = True) -> str:
    """Both differences with their seeds, then safe or not and why: the metrics on which the schedule is measurably
    better or worse, else, when the interval is wider than the bar at these seeds' spread, how many seeds could show
    two equal schedules safe. ``seeds=False`` leaves out the seeds, for a line that has named them."""
    shown = [f"{m.split('/', 1)[-1]} {d.format(1, '%') if d else '-'}" for m, d in ch.diffs.items()]
    verdict = {True: "safe", False: "not shown safe", None: "not shown"}[ch.safe]
    if ch.safe is False:
        moved = [(m.split('/', 1)[-1], x) for m, x in ch.diffs.items() if x is not None and x.excludes_zero()]
        for side in ("better", "worse"):
            names = [m for m, x in moved if (x.excludes_zero() > 0) == (side == "better")]
            verdict += f", {side} on {' and '.join(names)}" if names else ""
        need = ch.seeds_needed
        if not moved and need is not None and need > len(ch.seeds):
            verdict += (f": at this spread an interval is wider than ±3% until about {need} seeds, so {len(ch.seeds)} "
                        "seeds rarely show a schedule safe")
    return f"{', '.join(shown)}{f' (seeds {seed_list(ch.seeds)})' if seeds else ''}: {verdict}"


PLATEAU_BPR = 0.69  # a BPR loss above this is still ln 2 = 0.6931 to two decimals: no ranking learned yet


def never_learned_lines(cells: dict, dataset: str) -> list[str]:
    """Cells none of whose seeds learned to rank: each one's best valid epoch is epoch 1, or its BPR loss never left
    the ln 2 plateau (a best epoch of 2 on the plateau is noise, not learning). Early stopping ran out of patience
    before the model left its warm-up plateau, so the row measures an untrained model, not the cell's setup."""
    lines = []
    for name, runs in cells.items():
        # a model with no training epochs (pop) has nothing to stop early: only runs that trained count
        if not runs or any((r.get("epochs_run") or 0) <= 1 or not _stuck(r) for r in runs.values()):
            continue
        ran = sorted({r.get("epochs_run") for r in runs.values() if r.get("epochs_run")})
        best = sorted({int(r.get("best_epoch") or 0) for r in runs.values()})
        lows = [low for r in runs.values() if (low := _lowest_bpr(r)) is not None]
        plateau = (f" (its BPR loss never went below {min(lows):.4f}; ln 2 = 0.6931 is a random ranking)"
                   if lows and min(lows) > PLATEAU_BPR else "")
        stopped = {bool(r.get("stopped_early")) for r in runs.values()}
        ended = {frozenset({True}): "early stopping", frozenset({False}): "its epoch cap"}.get(
            frozenset(stopped), "early stopping or its epoch cap")
        remedy = "more epochs" if False in stopped else "a longer patience"
        lines.append(f"- `{name}` on {dataset} never learned: every seed's best valid epoch is "
                     f"{' or '.join(map(str, best))}, and {ended} ended it after "
                     f"{'/'.join(map(str, ran)) or 'a few'} epochs, before the model left its warm-up "
                     f"plateau{plateau}. Its row measures an untrained model, not its setup; {remedy} would be "
                     "needed (docs/protocol.md, section 8, follows one seed past the plateau), and we show the "
                     "protocol's result as it is.")
    return lines


def warmup_stop_lines(rows: list[dict], budgets: dict[str, dict]) -> list[str]:
    """Per dataset of ``budgets`` (the manifest's: dataset -> epochs, patience), the runs early stopping ended in
    their warm-up (``findings.stopped_in_warmup``) and what they cost their cells: kept in the tables as the
    protocol gives them."""
    lines = []
    for dataset, budget in budgets.items():
        patience = int(budget["patience"])
        cells = findings.cells_of(rows, dataset)
        found = findings.stopped_in_warmup(cells, patience)
        lines += _all_early_line(findings.all_in_warmup(cells, patience), dataset, patience)
        if not found:
            continue
        early = [cells[c][s]["test/Recall@20"] for c, seeds in found.items() for s in seeds]
        rest = [r["test/Recall@20"] for c, seeds in found.items() for s, r in cells[c].items() if s not in seeds]
        listed = findings.seeds_listing(found, code=True)
        total = sum(len(runs) for runs in cells.values())
        lines.append(f"- {len(early)} of {total} runs on {dataset} peaked within their first {patience} epochs and "
                     f"were ended by early stopping {patience + 1} epochs later, while another seed of the same cell "
                     f"peaked after epoch {findings.LATE_PEAK * patience}: {listed}. Their test Recall@20 averages "
                     f"{sum(early) / len(early):.4f} against {sum(rest) / max(len(rest), 1):.4f} for the other seeds "
                     "of those cells: they stopped in a dip after an early peak, short of what their sister seeds went "
                     f"on to reach. They stay in the tables as the protocol gives them (patience {patience}, counted "
                     "from epoch 1); they lower those cells' means and widen their intervals, and a claim or effect "
                     "on such a cell carries that. The rule (docs/protocol.md section 8) sees only cells with a late "
                     "sister seed; a cell whose seeds all peak early is listed apart.")
    return lines


def _all_early_line(found: dict[str, list[int]], dataset: str, patience: int) -> list[str]:
    """The cells ``findings.all_in_warmup`` finds: the warm-up rule cannot judge them, and the report says so."""
    if not found:
        return []
    listed = "; ".join(f"`{c}` (best epochs {', '.join(map(str, e))})" for c, e in found.items())
    return [f"- On {dataset} every seed of {len(found)} cell(s) peaked within its first {patience} epochs and was "
            f"ended by early stopping: {listed}. With no seed that went on learning, the rule above cannot tell a "
            "model that is done from one that stopped in the same dip, so these cells, and every effect read from "
            "them, carry that doubt (docs/protocol.md section 8)."]


def _lowest_bpr(run: dict) -> float | None:
    """The lowest BPR loss of the run's history (None when it records none)."""
    return min((e["loss/bpr"] for e in run.get("history") or () if "loss/bpr" in e), default=None)


def _stuck(run: dict) -> bool:
    """The run's best valid epoch is its first, or its BPR loss never went below the plateau."""
    low = _lowest_bpr(run)
    return (run.get("best_epoch") or 0) <= 1 or low is not None and low > PLATEAU_BPR


def bridge_lines(cells: dict, dataset: str) -> list[str]:
    """The bridge in words: each paper part added to MGCN, and taken out of the paper's model, sorted by
    what its interval says (costs accuracy, helps, no measurable effect, one seed)."""
    lines = []
    sides = (("added to MGCN, one at a time", 1), ("taken out of the paper's model, one at a time", 2))
    for title, at in sides:
        said: dict[str, list[str]] = {}
        worst = None
        family = findings.family_effects(cells, [bridge[at] for bridge in findings.BRIDGES])
        for bridge, (_, diff, note) in zip(findings.BRIDGES, family, strict=True):
            if diff is None:
                continue
            # added: on - off is the part's effect; taken out: paper - paper without it is the part's effect too
            said.setdefault(findings.word(diff), []).append(f"{bridge[0]} ({findings.described(diff, note)})")
            if worst is None or diff.mean < worst[1].mean:
                worst = (bridge[0], diff)
        if not said:
            continue
        parts = [f"{label}: {'; '.join(said[w])}" for w, label in
                 ((findings.HURTS, "**costs accuracy**"), (findings.HELPS, "**helps**"),
                  (findings.NOTHING, "no measurable effect"), (findings.ONE_SEED, "one seed, no interval"))
                 if said.get(w)]
        plain = ""
        if not said.get(findings.HURTS) and worst is not None and worst[1].mean < 0:
            plain = (f" In plain words: no part, on its own, costs accuracy that these seeds can measure; the "
                     f"largest drop is {worst[0]} ({worst[1].format(1, '%')}).")
        lines.append(f"- The paper's departures from MGCN on {dataset}, {title} (Δ test Recall@20 of the model with "
                     f"the part over it without, paired by seed, 95% CI): " + "; ".join(parts) + "." + plain)
    return lines


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
             f"- {_probe_line(manifest)} Created {manifest['created']}, wall time "
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
             "claimed\" when the interval holds 0 but not the paper's change. A claim of \"only X%\" disagrees when "
             "the whole interval lies beyond X (\"larger than claimed\") and agrees when it lies on the other side of "
             "0; a claim of \"X% or more\" on an exact count disagrees below X. For a part: \"helps\" / \"hurts\" "
             "when the interval excludes 0, \"no measurable effect\" when it holds 0 (not \"no effect\": the "
             "interval bounds how large it can be). Parameter counts are compared exactly.",
             "- This report holds some 250 intervals at 95% each, and an interval is not corrected for the others: "
             "about one in twenty true nulls shows as \"helps\" or \"hurts\" by chance. So every \"helps\", "
             "\"hurts\" or \"costs accuracy\" of a part says whether it holds after Holm's correction over the "
             "parts shown with it (a line of the Summary, a group of a table: the 15 parts of the paper's model, the "
             "three model-against-model rows, the 7 bridge parts on each side, the 5 effects of a world), with the "
             "adjusted p (docs/protocol.md section 8); the claims are the paper's own, each read on its own. Each "
             "seed trains on the same split; the intervals cover seeds (initial draws, sampling order), not the "
             "choice of split.",
             "- ml100k's cells train under the `fast` schedule (their `<cell>_paper_sched` rows repeat the headline "
             "ones under the paper's), and the schedule check below shows that `fast` moves `paper` by about +6%: "
             "the claims and effects on ml100k are measured under `fast`. Time claims (C6, C8) read each run's own "
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
            lines += ["", "### Learning curves (mean over seeds, band: lowest to highest seed, dots: best epochs)", "",
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
    return "\n".join(lines) + "\n"


def _probe_line(manifest: dict) -> str:
    n = len(manifest.get("probes", {}))
    if not n:
        return "No numerics probes (a folder older than probes)."
    return (f"{n} numerics probes (one per cell: 2 epochs on the probe data, one thread, float64) say which code "
            "these numbers belong to; `python -m pytest tests/test_probes.py` checks them against today's code.")


__all__ = ["render_report", "curve_files", "summary_lines", "bridge_lines", "never_learned_lines", "missing_cells",
           "missing_lines", "seeds_line", "warmup_stop_lines"]
