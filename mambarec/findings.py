"""What the grid says, in words backed by intervals (docs/protocol.md section 8): the effect of each part of
MambaRec, the bridge between MGCN and the paper's model, the schedules, and the scenario worlds.

An effect is "part on" minus "part off", paired by seed, in % of the "off" cell's mean, with its
95% t-interval (``mambarec.stats``): "helps" when the interval lies above 0, "hurts" when below,
"no measurable effect" when it holds 0; one common seed has no interval and says so. The parts shown together
(a line of the Summary, a table's group) are a family: a "helps" or "hurts" says whether it survives Holm's
correction over that family (``holm_notes``), since one in twenty true nulls clears a 95% interval by chance.
"""

from __future__ import annotations

from dataclasses import dataclass

from mambarec import stats
from mambarec.grid import CANDIDATE_SCHEDULES, DEFAULT_BUDGET, DREAM_BRANCHES, PAPER_PARTS, schedule_cell

HELPS, HURTS, NOTHING, ONE_SEED, UNMEASURED = ("helps", "hurts", "no measurable effect", "one seed: no interval",
                                               "not measured")
SCHEDULE_TOLERANCE = 3.0  # a schedule is safe when (it - paper) lies within ±3% of the paper schedule's mean
SCHEDULE_METRICS = ("test/Recall@20", "test/NDCG@20")
SCHEDULE_ASKED_SEEDS = (0, 1, 2)  # the check as the speed issue asked it; the grid may run more (grid.MAX_SEEDS)
# How a claim of a size (``Claim.at_most``, ``Claim.at_least``) is judged, in REPORT.md's words and the app's
SIZE_RULES = ("A claim of \"only X%\" disagrees when the whole interval lies beyond X (\"larger than claimed\") and "
              "agrees when it lies on the other side of 0; a claim of \"X% or more\" on an exact count disagrees "
              "below X.")


@dataclass(frozen=True)
class Claim:
    """A comparison the paper reports, as a relative change of ``cell`` over ``reference``."""

    claim: str  # the paper's statement
    source: str  # the claim's id in docs/protocol.md section 7, and the paper's dataset
    metric: str  # results column compared
    cell: str
    reference: str
    paper_change: float  # the paper's relative change of cell vs reference, in %
    at_least: bool = False  # the paper says "X% or more"
    at_most: bool = False  # the paper says "only X%": a change wholly beyond X disagrees on size


CLAIMS: tuple[Claim, ...] = (
    Claim("dual attention beats a single attention by 1.8% Recall@20: vs channel alone", "C1, Baby",
          "test/Recall@20", "paper", "no_spatial_attention", 1.8),
    Claim("dual attention beats a single attention by 1.8% Recall@20: vs spatial alone", "C2, Baby",
          "test/Recall@20", "paper", "no_channel_attention", 1.8),
    Claim("MMD alone (InfoNCE off) loses 0.9% NDCG@10", "C3, Baby", "test/NDCG@10", "no_infonce", "paper", -0.9),
    Claim("InfoNCE alone (MMD off) loses 1.2% Recall@20", "C4, Sports", "test/Recall@20", "no_mmd", "paper",
          -1.2),
    Claim("r = 8 cuts parameters by 30%+ (vs no reduction, r = 1)", "C5, Baby", "n_params", "paper", "r1",
          -30.0, at_least=True),
    Claim("r = 8 cuts time by 25% (vs r = 1)", "C6, Baby", "s_per_epoch", "paper", "r1", -25.0),
    Claim("r = 8 costs only 0.3% Recall@20 (vs r = 1)", "C7, Baby", "test/Recall@20", "paper", "r1", -0.3,
          at_most=True),
    Claim("r = 4 saves only 12% time (vs r = 1)", "C8", "s_per_epoch", "r4", "r1", -12.0, at_most=True),
    Claim("r = 16 loses 2.0% Recall@20 vs r = 8 (0.1147 -> 0.1124)", "C9, Sports", "test/Recall@20", "r16",
          "paper", -2.0),
    Claim("MambaRec beats MGCN: Recall@20 .1013 vs .0964 (+5.1%)", "C10, Baby", "test/Recall@20", "paper", "mgcn",
          5.1),
    Claim("the released code (published numbers) beats MGCN by 5.1% Recall@20", "C11, Baby", "test/Recall@20",
          "official", "mgcn", 5.1),
    Claim("MGCN beats LightGCN: Recall@20 .0964 vs .0728 (+32.4%)", "C12, Baby", "test/Recall@20", "mgcn",
          "lightgcn", 32.4),
    Claim("LightGCN beats BPR: Recall@20 .0728 vs .0595 (+22.4%)", "C13, Baby", "test/Recall@20", "lightgcn", "bpr",
          22.4),
)


@dataclass(frozen=True)
class Component:
    label: str  # plain words
    on: str  # the cell with the part
    off: str  # the cell without it


def _bridge_off(part: str) -> str:
    return {"dream": "no_dream", "mmd": "no_mmd"}.get(part, f"paper_without_{part}")


COMPONENTS: tuple[Component, ...] = (
    Component("DREAM", "paper", "no_dream"),
    Component("both alignment losses (MMD + InfoNCE)", "paper", "no_alignment"),
    Component("MMD (InfoNCE kept)", "paper", "no_mmd"),
    Component("InfoNCE (MMD kept)", "paper", "no_infonce"),
    Component("channel attention", "paper", "no_channel_attention"),
    Component("spatial attention", "paper", "no_spatial_attention"),
    *(Component(f"DREAM branch {b.removeprefix('branch_')}", "paper", f"no_{b}") for b in DREAM_BRANCHES),
    *(Component(f"r = 8 instead of r = {r}", "paper", f"r{r}") for r in (1, 2, 4, 16)),
)
BRIDGES: tuple[tuple[str, Component, Component], ...] = tuple(
    (words, Component(f"{words}, added to MGCN", f"mgcn_with_{part}", "mgcn"),
     Component(f"{words}, in the paper's model", "paper", _bridge_off(part)))
    for part, (words, _, _) in PAPER_PARTS.items())
HEADLINES: tuple[Component, ...] = (
    Component("the paper's MambaRec over MGCN", "paper", "mgcn"),
    Component("the released code over MGCN", "official", "mgcn"),
    Component("the paper's MambaRec over the released code", "paper", "official"),
)
SCENARIO_COMPONENTS: tuple[Component, ...] = (
    Component("alignment (MMD + InfoNCE)", "paper", "no_alignment"),
    Component("DREAM", "paper", "no_dream"),
    Component("MambaRec over MGCN", "paper", "mgcn"),
    Component("MambaRec over BPR", "paper", "bpr"),
    Component("MGCN over BPR", "mgcn", "bpr"),
)


def cells_of(rows: list[dict], dataset: str) -> dict[str, dict[int, dict]]:
    """cell -> seed -> row, for one dataset, seeds in ascending order (runs finish in any order)."""
    out: dict[str, dict[int, dict]] = {}
    for r in sorted(rows, key=lambda r: int(r["seed"])):
        if r["dataset"] == dataset:
            out.setdefault(r["cell"], {})[int(r["seed"])] = r
    return out


LATE_PEAK = 3  # a cell's seeds that peaked past this many patiences show the cell learns long after the warm-up


def peaked_in_warmup(best_epoch: int, stopped_early: bool, patience: int) -> bool:
    """Early stopping ended the run with its best epoch within the first ``patience`` epochs, past epoch 1 (a run
    whose best is epoch 1 never learned at all)."""
    return bool(stopped_early) and 1 < int(best_epoch or 0) <= patience


def seeds_listing(found: dict[str, list[int]], code: bool = False) -> str:
    """``paper seeds 0, 1; mgcn seed 4`` (cell names in backticks with ``code``, for markdown)."""
    tick = "`" if code else ""
    return "; ".join(f"{tick}{c}{tick} seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))}"
                     for c, s in found.items())


def stopped_in_warmup(cells: dict[str, dict[int, dict]], patience: int) -> dict[str, list[int]]:
    """cell -> the seeds that early stopping ended with their best epoch within the first ``patience`` epochs
    (past epoch 1: a cell stuck at epoch 1 never learned, ``summary.never_learned_lines``) while another seed of
    the same cell peaked after ``LATE_PEAK`` x ``patience`` epochs: the protocol's patience, counted from epoch 1,
    ran out in a dip after an early peak, before the run learned what its sister seeds did."""
    out = {}
    for name, runs in cells.items():
        late = any(int(r.get("best_epoch") or 0) > LATE_PEAK * patience for r in runs.values())
        early = [s for s, r in runs.items() if peaked_in_warmup(r.get("best_epoch"), r.get("stopped_early"), patience)]
        if late and early:
            out[name] = early
    return out


def all_in_warmup(cells: dict[str, dict[int, dict]], patience: int) -> dict[str, list[int]]:
    """cell -> its best epochs, for cells of two or more seeds that early stopping ended, every one, with its best
    epoch within the first ``patience`` epochs: ``stopped_in_warmup`` needs a late sister seed to tell a dip from
    a model that is simply done, so it cannot judge these."""
    return {name: sorted(int(r["best_epoch"]) for r in runs.values()) for name, runs in cells.items()
            if len(runs) > 1 and all(peaked_in_warmup(r.get("best_epoch"), r.get("stopped_early"), patience)
                                     for r in runs.values())}


def cell_change(cells: dict, metric: str, cell: str, reference: str) -> stats.PairedDifference | None:
    """``cell`` against ``reference`` on ``metric`` in % of the reference, paired by seed over the seeds both ran
    (``stats.relative_change``: a ratio for times); None when they share no seed."""
    a, b = cells.get(cell, {}), cells.get(reference, {})
    return stats.relative_change({s: r.get(metric) for s, r in a.items()}, {s: r.get(metric) for s, r in b.items()},
                                 metric)


WARMUP_NOTE = "stopped in the warm-up"  # appended to a verdict whose cells hold such seeds


def claim_verdict(claim: Claim, cells: dict, patience: int = DEFAULT_BUDGET.patience) -> tuple[str, str]:
    """(what we measured, the verdict) for one claim on one dataset's cells; a verdict that reads a cell with seeds
    early stopping ended in their warm-up (``stopped_in_warmup``) names them, since they move its mean."""
    measured, verdict = _claim_verdict(claim, cells)
    early = claim_warmup(claim, cells, patience)
    if early and verdict != stats.NOT_MEASURED:
        verdict += f"; {warmup_words(early)}"
    return measured, verdict


def claim_warmup(claim: Claim, cells: dict, patience: int = DEFAULT_BUDGET.patience) -> dict[str, list[int]]:
    """The seeds of the claim's two cells that early stopping ended in their warm-up (``stopped_in_warmup``)."""
    return pair_warmup(cells, claim.cell, claim.reference, patience)


def pair_warmup(cells: dict, a: str, b: str, patience: int = DEFAULT_BUDGET.patience) -> dict[str, list[int]]:
    """The seeds of cells ``a`` and ``b`` that early stopping ended in their warm-up: what a claim's verdict and a
    plain-words headline (``summary.in_short``) say beside a comparison of the two."""
    return stopped_in_warmup({c: cells[c] for c in (a, b) if c in cells}, patience)


def warmup_words(early: dict[str, list[int]]) -> str:
    return f"{seeds_listing(early)} {WARMUP_NOTE}"


def _claim_verdict(claim: Claim, cells: dict) -> tuple[str, str]:
    if claim.metric == "n_params":  # deterministic: compared exactly
        a, b = cells.get(claim.cell, {}), cells.get(claim.reference, {})
        if not a or not b:
            return "-", stats.NOT_MEASURED
        change = stats.exact_change(next(iter(a.values()))["n_params"], next(iter(b.values()))["n_params"])
        return f"{change:+.1f}% (exact)", stats.exact_verdict(claim.paper_change, change, claim.at_least)
    rel = cell_change(cells, claim.metric, claim.cell, claim.reference)
    if rel is None:
        return "-", stats.NOT_MEASURED
    return rel.format(1, "%"), stats.verdict(claim.paper_change, rel, claim.at_most)


def effect(cells: dict, component: Component, metric: str = "test/Recall@20") -> stats.PairedDifference | None:
    """on - off in % of off's mean, paired by seed (None when either cell has no run)."""
    return cell_change(cells, metric, component.on, component.off)


def word(diff: stats.PairedDifference | None) -> str:
    if diff is None:
        return UNMEASURED
    if not diff.has_interval:
        return ONE_SEED
    side = diff.excludes_zero()
    return HELPS if side > 0 else HURTS if side < 0 else NOTHING


HOLM_ALPHA = 1.0 - stats.CONFIDENCE  # the family-wise level a "helps" / "hurts" is checked at


def holm_notes(diffs: list[stats.PairedDifference | None]) -> list[str]:
    """For each difference of one family, in order: "" unless its interval excludes 0 (and the family holds two
    or more tests); else whether that survives Holm's correction over the family's tests, with the adjusted p."""
    tested = [i for i, d in enumerate(diffs) if d is not None and d.p is not None]
    if len(tested) < 2:
        return [""] * len(diffs)
    adjusted = dict(zip(tested, stats.holm([diffs[i].p for i in tested]), strict=True))
    notes = []
    for i, d in enumerate(diffs):
        if i not in adjusted or d.excludes_zero() == 0:
            notes.append("")
        else:
            holds = "holds" if adjusted[i] < HOLM_ALPHA else "not"
            notes.append(f"{holds} after Holm's correction over these {len(tested)}: p {p_words(adjusted[i])}")
    return notes


P_FLOOR = 1e-3  # smaller p-values read "< 0.001": five seeds cannot tell them apart in any way that matters


def p_words(p: float) -> str:
    return f"< {P_FLOOR:g}" if p < P_FLOOR else f"{p:.2g}"


def family_effects(cells: dict, components, metric: str = "test/Recall@20"
                   ) -> list[tuple[Component, stats.PairedDifference | None, str]]:
    """(part, its effect, its Holm note) for each part of one family (``holm_notes``)."""
    diffs = [effect(cells, c, metric) for c in components]
    return list(zip(components, diffs, holm_notes(diffs), strict=True))


def described(diff: stats.PairedDifference, note: str) -> str:
    """``+1.2% [+0.3%, +2.1%]``, with the Holm note after it when there is one."""
    return diff.format(1, "%") + (f"; {note}" if note else "")


def summarize_parts(cells: dict, components=COMPONENTS, metric: str = "test/Recall@20") -> dict[str, list[str]]:
    """word -> the labels of the parts it describes (with their interval and Holm note), for a summary sentence."""
    out: dict[str, list[str]] = {}
    for c, diff, note in family_effects(cells, components, metric):
        if diff is not None:
            out.setdefault(word(diff), []).append(f"{c.label} ({described(diff, note)})")
    return out


@dataclass(frozen=True)
class ScheduleCheck:
    """A faster schedule against the paper's for one model: the paired difference per metric and epochs/time."""

    cell: str  # the headline cell (the model)
    seeds: tuple[int, ...]  # the seeds both schedules ran, over which the differences are paired
    diffs: dict  # metric -> PairedDifference in % (this schedule - the paper's) or None
    fast: dict  # mean best epoch, epochs run, wall seconds under this schedule
    paper: dict  # ... under the paper's
    schedule: str = "fast"  # the schedule checked

    @property
    def safe(self) -> bool | None:
        """Both intervals hold 0 and lie within ±3% of the paper schedule's mean (None: not measured)."""
        if any(d is None or not d.has_interval for d in self.diffs.values()):
            return None
        return all(d.low <= 0 <= d.high and -SCHEDULE_TOLERANCE <= d.low and d.high <= SCHEDULE_TOLERANCE
                   for d in self.diffs.values())

    @property
    def seeds_needed(self) -> int | None:
        """The fewest seeds at which two schedules that do not differ could pass the bar at this check's spread
        (``stats.seeds_for_half_width`` of each metric, the larger); None when it cannot be told."""
        counts = [stats.seeds_for_half_width(d, SCHEDULE_TOLERANCE) if d is not None else None
                  for d in self.diffs.values()]
        return None if not counts or None in counts else max(counts)


def schedule_checks(cells: dict, seeds: tuple[int, ...] | None = None) -> list[ScheduleCheck]:
    """Each faster schedule against the paper's per model, over the seeds both ran (only ``seeds`` when given):
    the headline cell (the dataset's grid schedule, ``fast`` on ml100k) and its repeats under
    ``grid.CANDIDATE_SCHEDULES``, each against the repeat under the paper's schedule."""
    out = []
    for name in ("paper", "official", "mgcn"):
        slow = cells.get(schedule_cell(name, "paper"), {})
        for candidate in (name, *(schedule_cell(name, s) for s in CANDIDATE_SCHEDULES)):
            fast = cells.get(candidate, {})
            both = tuple(sorted(set(fast) & set(slow) & set(seeds if seeds is not None else fast)))
            if not both:
                continue
            fast, paired = {s: fast[s] for s in both}, {s: slow[s] for s in both}
            diffs = {m: stats.relative_change({s: r.get(m) for s, r in fast.items()},
                                              {s: r.get(m) for s, r in paired.items()}, m) for m in SCHEDULE_METRICS}
            schedule = next(iter(fast.values())).get("schedule", "fast")
            out.append(ScheduleCheck(name, both, diffs, _run_facts(fast), _run_facts(paired), schedule))
    return out


def schedule_check_pairs(cells: dict) -> list[tuple[ScheduleCheck, ScheduleCheck | None]]:
    """Per model and schedule, (the check over every seed both schedules ran, the check over SCHEDULE_ASKED_SEEDS
    alone, or None when those are the same seeds)."""
    asked = {(c.cell, c.schedule): c for c in schedule_checks(cells, SCHEDULE_ASKED_SEEDS)}
    return [(full, few if few is not None and few.seeds != full.seeds else None)
            for full in schedule_checks(cells) for few in (asked.get((full.cell, full.schedule)),)]


def _run_facts(runs: dict[int, dict]) -> dict:
    rows = list(runs.values())
    return {key: stats.summarize([r.get(key) for r in rows]) for key in ("best_epoch", "epochs_run", "wall_s")}


__all__ = ["Claim", "CLAIMS", "claim_verdict", "cell_change", "Component", "COMPONENTS", "BRIDGES", "HEADLINES",
           "SCENARIO_COMPONENTS", "effect", "word", "summarize_parts",
           "holm_notes", "family_effects", "described", "p_words", "schedule_checks", "ScheduleCheck",
           "schedule_check_pairs", "SCHEDULE_ASKED_SEEDS", "cells_of", "all_in_warmup", "pair_warmup", "HELPS", "HURTS",
           "NOTHING"]
