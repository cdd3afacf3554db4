"""Markdown tables of the grid's rows, for REPORT.md and the README (one place, so both say the same):
ablations, schedules, the bridge between MGCN and the paper, the scenario sweep, the paper's claims and
the alignment numbers. Every difference is paired by seed with its 95% t-interval (``mambarec.stats``).
"""

from __future__ import annotations

from mambarec import findings, stats
from mambarec.data.coldstart import COLD_MAX_TRAIN
from mambarec.grid import GRID, SCENARIO_CELLS
from mambarec.groundtruth import COLD_WARM_METRIC, ITEM_GROUPS, stored_group_metrics

TABLE_METRICS = ("test/Recall@10", "test/Recall@20", "test/NDCG@10", "test/NDCG@20")
ALIGNMENT_COLUMNS = (("mmd", "MMD"), ("mean_cosine", "mean cos"), ("recall@1", "R@1"), ("recall@10", "R@10"),
                     ("alignment", "align"), ("uniformity", "uniformity"))


def fmt(values: list, digits: int = 4) -> str:
    """Mean ± sample std over seeds; a single seed's value alone (the seeds column says which)."""
    summary = stats.summarize(values)
    if summary.n == 0:
        return "-"
    return f"{summary.mean:.{digits}f}" + (f" ± {summary.std:.{digits}f}" if summary.std is not None else "")


def fmt_interval(values: list, digits: int = 4) -> str:
    """Mean and its 95% t-interval over seeds, "0.0590 [0.0528, 0.0652]"; a single seed's value with "(1 seed)"."""
    summary = stats.summarize(values)
    if summary.n == 0:
        return "-"
    interval = summary.interval()
    if interval is None:
        return f"{summary.mean:.{digits}f} (1 seed)"
    return f"{summary.mean:.{digits}f} [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"


def _diff(diff: stats.PairedDifference | None) -> str:
    return "-" if diff is None else diff.format(1, "%")


def ablation_table(rows: list[dict], dataset: str) -> str:
    cells = findings.cells_of(rows, dataset)
    head = ("| cell | what | seeds | " + " | ".join(m.split("/")[1] for m in TABLE_METRICS)
            + " | Δ Recall@20 vs paper (95% CI) | params | s/epoch | best / run epochs |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for c in GRID:
        if c.name not in cells:
            continue
        runs = list(cells[c.name].values())
        diff = findings.cell_change(cells, "test/Recall@20", c.name, "paper")
        delta_s = "-" if c.name == "paper" or diff is None else diff.format(1, "%")
        epochs = "/".join(f"{r['best_epoch']}:{r['epochs_run']}" for r in runs)
        lines.append(f"| `{c.name}` | {c.label} | {','.join(str(s) for s in cells[c.name])} | "
                     + " | ".join(fmt([r[m] for r in runs]) for m in TABLE_METRICS)
                     + f" | {delta_s} | {runs[0]['n_params']:,} | {fmt([r['s_per_epoch'] for r in runs], 2)} | "
                       f"{epochs} |")
    return "\n".join(lines)


def seed_list(seeds) -> str:
    """0-4 for a run of consecutive seeds, else 0,2,7."""
    seeds = sorted(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(str(s) for s in seeds)


def schedule_table(rows: list[dict], dataset: str) -> str:
    """Each faster schedule against the paper's per model, over every seed both ran and, where that is more,
    again over the seeds the speed issue's check named (findings.SCHEDULE_ASKED_SEEDS)."""
    pairs = findings.schedule_check_pairs(findings.cells_of(rows, dataset))
    if not pairs:
        return ""
    lines = ["| model | schedule | seeds | schedule - paper's, Recall@20 (95% CI) | NDCG@20 (95% CI) | safe (±3%) | "
             "best / run epochs | best / run epochs, paper's | wall s per run | paper's | seeds two equal "
             "schedules need to pass, at this spread |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for ch in (c for pair in pairs for c in pair if c is not None):
        safe = {True: "yes", False: "**no**", None: "not shown (needs 2+ seeds)"}[ch.safe]
        r, n = (ch.diffs[m] for m in findings.SCHEDULE_METRICS)
        lines.append(f"| `{ch.cell}` | {ch.schedule} | {seed_list(ch.seeds)} | {_diff(r)} | {_diff(n)} | {safe} | "
                     f"{ch.fast['best_epoch'].mean:.0f} / {ch.fast['epochs_run'].mean:.0f} | "
                     f"{ch.paper['best_epoch'].mean:.0f} / {ch.paper['epochs_run'].mean:.0f} | "
                     f"{ch.fast['wall_s'].mean:.0f} | {ch.paper['wall_s'].mean:.0f} | {ch.seeds_needed or '-'} |")
    return "\n".join(lines)


def _says(diff, note: str) -> str:
    """A part's word, with its Holm note (``findings.holm_notes``) when there is one."""
    return findings.word(diff) + (f" ({note})" if note else "")


def effects_table(rows: list[dict], dataset: str, families) -> str:
    """Each part's effect on Recall@20 and NDCG@20; ``families`` are groups of parts, each its own Holm family."""
    cells = findings.cells_of(rows, dataset)
    lines = ["| part | with | without | Δ Recall@20 (95% CI) | Δ NDCG@20 (95% CI) | says (Recall@20) |",
             "|---|---|---|---|---|---|"]
    shown = 0
    for family in families:
        for c, r, note in findings.family_effects(cells, family):
            if r is None:
                continue
            shown += 1
            n = findings.effect(cells, c, "test/NDCG@20")
            lines.append(f"| {c.label} | `{c.on}` | `{c.off}` | {_diff(r)} | {_diff(n)} | {_says(r, note)} |")
    return "\n".join(lines) if shown else ""


def bridge_table(rows: list[dict], dataset: str) -> str:
    cells = findings.cells_of(rows, dataset)
    lines = ["| the paper's part | added to MGCN: Δ Recall@20 vs `mgcn` | says | removed from the paper: Δ Recall@20 "
             "of `paper` over it | says |", "|---|---|---|---|---|"]
    shown = 0
    added = findings.family_effects(cells, [b[1] for b in findings.BRIDGES])
    kept = findings.family_effects(cells, [b[2] for b in findings.BRIDGES])
    for (words, _, _), (_, a, a_note), (_, k, k_note) in zip(findings.BRIDGES, added, kept, strict=True):
        if a is None and k is None:
            continue
        shown += 1
        lines.append(f"| {words} | {_diff(a)} | {_says(a, a_note)} | {_diff(k)} | {_says(k, k_note)} |")
    return "\n".join(lines) if shown else ""


def scenario_table(rows: list[dict], datasets: list[str]) -> str:
    """Test Recall@20 of the sweep's cells per world, and the effect of each component with its interval."""
    present = [d for d in datasets if findings.cells_of(rows, d)]
    if not present:
        return ""
    head = "| world | " + " | ".join(f"`{c}`" for c in SCENARIO_CELLS) + " |"
    lines = ["Test Recall@20, mean ± std over seeds:", "", head, "|" + "---|" * (len(SCENARIO_CELLS) + 1)]
    for d in present:
        cells = findings.cells_of(rows, d)
        lines.append(f"| `{d}` | " + " | ".join(fmt([r["test/Recall@20"] for r in cells.get(c, {}).values()])
                                                   for c in SCENARIO_CELLS) + " |")
    lines += ["", "Effects (Δ Recall@20 in %, paired by seed, 95% CI) and what they say:", "",
              "| world | " + " | ".join(c.label for c in findings.SCENARIO_COMPONENTS) + " |",
              "|" + "---|" * (len(findings.SCENARIO_COMPONENTS) + 1)]
    for d in present:
        cells = findings.cells_of(rows, d)
        parts = [f"{_diff(diff)}: {_says(diff, note)}" if diff is not None else "-"
                 for _, diff, note in findings.family_effects(cells, findings.SCENARIO_COMPONENTS)]
        lines.append(f"| `{d}` | " + " | ".join(parts) + " |")
    cold_warm = cold_warm_table(rows, present)
    return "\n".join(lines + (["", cold_warm] if cold_warm else []))


def cold_warm_table(rows: list[dict], datasets: list[str], metric: str = COLD_WARM_METRIC) -> str:
    """Test ``metric`` on the cold and on the warm items of each world that has cold items (each run's stored
    ``ground_truth["groups"]``, ``tasks.ground_truth``), mean and 95% interval over seeds, per sweep cell."""
    lines = []
    for d in datasets:
        cells = findings.cells_of(rows, d)
        groups = {c: [g for r in cells.get(c, {}).values() if (g := stored_group_metrics(r))] for c in SCENARIO_CELLS}
        if not any(g["cold"]["users"] for runs in groups.values() for g in runs):
            continue
        lines += [f"| `{d}` | {group} | " + " | ".join(fmt_interval([g[group][metric] for g in groups[c]])
                                                     for c in SCENARIO_CELLS) + " |" for group in ITEM_GROUPS]
    if not lines:
        return ""
    k = metric.rsplit("@", 1)[1]  # Recall@K: a random top-K finds about K / items of a user's held-out items
    return "\n".join([f"Test {metric} on the cold items (at most {COLD_MAX_TRAIN} training interactions) and on the "
                      "warm ones, mean "
                      "[95% CI] over seeds (a t-interval: near 0 it can reach below); a random ranking gets about "
                      f"{k} / the world's items:", "",
                      "| world | items | " + " | ".join(f"`{c}`" for c in SCENARIO_CELLS) + " |",
                      "|" + "---|" * (len(SCENARIO_CELLS) + 2), *lines])


def claims_table(rows: list[dict], dataset: str) -> str:
    cells = findings.cells_of(rows, dataset)
    lines = ["| paper's claim | where | compared | paper | measured here (95% CI) | verdict |",
             "|---|---|---|---|---|---|"]
    for claim in findings.CLAIMS:
        shown, verdict = findings.claim_verdict(claim, cells)
        lines.append(f"| {claim.claim} | {claim.source} | `{claim.cell}` vs `{claim.reference}`, "
                     f"{claim.metric.split('/')[-1]} | {claim.paper_change:+.1f}%{'+' if claim.at_least else ''} | "
                     f"{shown} | {verdict} |")
    return "\n".join(lines)


def alignment_table(alignment: dict, dataset: str) -> str:
    snaps = alignment.get(dataset, {})
    if not snaps:
        return ""
    lines = ["| run | " + " | ".join(label for _, label in ALIGNMENT_COLUMNS) + " |",
             "|---|" + "---|" * len(ALIGNMENT_COLUMNS)]
    for stem, snap in snaps.items():
        before, after = snap["before"]["metrics"], snap["after"]["metrics"]
        lines.append(f"| `{stem}` | " + " | ".join(f"{before[k]:.3f} → {after[k]:.3f}" for k, _ in ALIGNMENT_COLUMNS)
                     + " |")
    any_snap = next(iter(snaps.values()))["after"]["metrics"]
    lines.append(f"\nChance level of R@1 / R@10 over {any_snap['n_items']} items: {any_snap['chance@1']:.4f} / "
                 f"{any_snap['chance@10']:.4f}. MMD as the training loss computes it (Gaussian kernel, sigma "
                 f"{any_snap['sigma']}, L2-normalized rows) over ALL items; uniformity over the pooled visual and "
                 "text rows (t = 2, lower is more uniform).")
    return "\n".join(lines)


def markdown_tables(rows: list[dict], alignment: dict | None = None) -> dict[str, str]:
    """README-ready tables: ``<dataset>/ablation``, ``/claims``, ``/schedules``, ``/bridge``, ``/alignment``,
    and ``scenarios`` (the sweep over every synthetic world)."""
    out = {}
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    for dataset in (d for d in datasets if not d.startswith("synthetic/")):
        out[f"{dataset}/ablation"] = ablation_table(rows, dataset)
        out[f"{dataset}/claims"] = claims_table(rows, dataset)
        for key, table in (("schedules", schedule_table(rows, dataset)), ("bridge", bridge_table(rows, dataset)),
                           ("effects", effects_table(rows, dataset, (findings.COMPONENTS, findings.HEADLINES))),
                           ("alignment", alignment_table(alignment or {}, dataset))):
            if table:
                out[f"{dataset}/{key}"] = table
    scenarios = scenario_table(rows, [d for d in datasets if d.startswith("synthetic/")])
    if scenarios:
        out["scenarios"] = scenarios
    return out


__all__ = ["markdown_tables", "ablation_table", "schedule_table", "effects_table", "bridge_table", "scenario_table",
           "cold_warm_table", "claims_table", "alignment_table", "fmt", "fmt_interval", "TABLE_METRICS"]
