"""The report's Summary in words: per main dataset the findings in plain words (``in_short``), which parts move
test Recall@20, the bridge between MGCN and the paper, cells that never learned, the schedule checks, and the
seeds that early stopping ended in their warm-up. REPORT.md (``mambarec.report``) and the README's results block
(``mambarec.readme``) open with these lines; the app's Compare page shows ``in_short``.
"""

from __future__ import annotations

import math

from mambarec import findings
from mambarec.tables import seed_list


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


IN_SHORT_MEASURE = "test Recall@20, paired by seed, 95% CI"  # what the plain-words sentences compare


def in_short_line(cells: dict, dataset: str) -> str | None:
    """The summary's first bullet for a dataset: ``in_short`` with its label."""
    said = in_short(cells)
    return f"- **In short, on {dataset}** ({IN_SHORT_MEASURE}): {said}" if said else None


def in_short(cells: dict) -> str | None:
    """A dataset's findings in plain words before their detail: the headline models against each other, how many
    of the paper's parts move test Recall@20 measurably and which, and which of its departures from MGCN cost
    accuracy on both sides of the bridge (added to MGCN and taken out of the paper's model). None when the cells
    pair nothing (no headline pair or ablation with an interval)."""
    heads = [f"{c.label} {d.format(1, '%')}{_warmup_aside(cells, c)}" for c in findings.HEADLINES
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
        said.append(f"Of the paper's {len(measured)} ablation{'s' if len(measured) != 1 else ''} (a part switched "
                    "off, or r changed) measured over several seeds (the paper's model against the ablation: + means "
                    "the part helps), "
                    + (f"{len(moved)} move{'s' if len(moved) == 1 else ''} it beyond seed noise by "
                       f"{'its' if len(moved) == 1 else 'their'} own interval: {'; '.join(moved)}."
                       if moved else "none moves it beyond seed noise (every interval holds 0)."))
    costs = []
    for words, added, kept in findings.BRIDGES:
        a, k = findings.effect(cells, added), findings.effect(cells, kept)
        if a is not None and k is not None and findings.word(a) == findings.word(k) == findings.HURTS:
            costs.append(f"{words}: {a.format(1, '%')} added to MGCN, {k.format(1, '%')} in the paper's model")
    if costs:
        said.append("Of its departures from MGCN, what costs accuracy on both sides of the bridge is "
                    + "; ".join(costs) + ".")
    return " ".join(said)


def _warmup_aside(cells: dict, component: findings.Component) -> str:
    """`` (official seeds 0, 1, 2, 4 stopped in the warm-up)`` when the component's cells hold such seeds
    (``findings.stopped_in_warmup``), as the claims' verdicts say: on synthetic the released code's -12.3% against
    MGCN is mostly four seeds that stopped in a dip, and the one sentence a class reads said nothing of it (r55)."""
    early = findings.pair_warmup(cells, component.on, component.off)
    return f" ({findings.warmup_words(early)})" if early else ""


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
    """``never_learned``'s lines, as REPORT.md's Summary lists them."""
    return list(never_learned(cells, dataset).values())


LOWEST_BPR = "lowest_bpr"  # a row's lowest BPR loss over its epochs, where it comes without its history


def never_learned(cells: dict, dataset: str) -> dict[str, str]:
    """cell -> a line saying it never learned, for the cells none of whose seeds learned to rank: each one's best
    valid epoch is epoch 1, or its BPR loss never left the ln 2 plateau (a best epoch of 2 on the plateau is noise,
    not learning; a run's ``history`` gives its losses, or its ``LOWEST_BPR``). Early stopping ran out of patience
    before the model left its warm-up plateau, so the row measures an untrained model, not the cell's setup."""
    lines = {}
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
        epochs = '/'.join(map(str, ran)) or 'a few'
        if _cut_while_rising(runs.values()):
            # every seed's last epoch was its best: the cap stopped a model on the move, which is not one that
            # never learned (a 2-epoch demo's `paper` ranked at 0.44 on synthetic: audit r75, item 3)
            lines[name] = (f"- `{name}` on {dataset} was cut short: its epoch cap ended every seed after {epochs} "
                           f"epochs, each at its best valid epoch so far, with the model still on its warm-up "
                           f"plateau{plateau}. Its row measures a barely trained model, not its setup; more epochs "
                           "would be needed, and we show the result as it is.")
            continue
        lines[name] = (f"- `{name}` on {dataset} never learned: every seed's best valid epoch is "
                       f"{' or '.join(map(str, best))}, and {ended} ended it after "
                       f"{epochs} epochs, before the model left its warm-up "
                       f"plateau{plateau}. Its row measures an untrained model, not its setup; {remedy} would be "
                       "needed (docs/protocol.md, section 8, follows one seed past the plateau), and we show the "
                       "protocol's result as it is.")
    return lines


def _cut_while_rising(runs) -> bool:
    """Every run ended by its epoch cap at its best valid epoch so far (still improving when it was stopped)."""
    return all(not r.get("stopped_early") and int(r.get("best_epoch") or 0) >= int(r.get("epochs_run") or 0)
               for r in runs)


def warmup_stop_lines(rows: list[dict], budgets: dict[str, dict]) -> list[str]:
    """Per dataset of ``budgets`` (the manifest's: dataset -> epochs, patience), the runs early stopping ended in
    their warm-up (``findings.stopped_in_warmup``) and what they cost their cells: kept in the tables as the
    protocol gives them."""
    lines = []
    for dataset, budget in budgets.items():
        patience = int(budget["patience"])
        cells = findings.cells_of(rows, dataset)
        found = findings.stopped_in_warmup(cells, patience)
        lines += all_early_lines(findings.all_in_warmup(cells, patience), dataset, patience)
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


def all_early_lines(found: dict[str, list[int]], dataset: str, patience: int,
                    rule: str = "the rule above") -> list[str]:
    """The cells ``findings.all_in_warmup`` finds: the warm-up rule cannot judge them, and the report (and the
    Compare page, for the cells it shows) says so; ``rule`` names that rule where it was not stated before."""
    if not found:
        return []
    listed = "; ".join(f"`{c}` (best epochs {', '.join(map(str, e))})" for c, e in found.items())
    return [f"- On {dataset} every seed of {len(found)} cell(s) peaked within its first {patience} epochs and was "
            f"ended by early stopping: {listed}. With no seed that went on learning, {rule} cannot tell a "
            "model that is done from one that stopped in the same dip, so these cells, and every effect read from "
            "them, carry that doubt (docs/protocol.md section 8)."]


def _lowest_bpr(run: dict) -> float | None:
    """The lowest BPR loss of the run's history, or its ``LOWEST_BPR`` where a row carries that instead of the
    history (the app's table rows); None when it records neither."""
    if run.get(LOWEST_BPR) is not None:
        return float(run[LOWEST_BPR])
    return min((e["loss/bpr"] for e in run.get("history") or () if "loss/bpr" in e), default=None)


RUNAWAY_BPR = 10 * math.log(2)  # a BPR loss starts near ln 2 (a random ranking) and falls; ten times that runs away


def runaway_loss(history: list[dict]) -> str | None:
    """What to change when a run's BPR loss went far above a random ranking's without turning into NaN (which stops
    the run with its own message): at learning rate 1e5 it reached ~5e9 in its first epoch and nothing said so
    (audit r59)."""
    losses = [e["loss/bpr"] for e in history if e.get("loss/bpr") is not None]
    if not losses or max(losses) <= RUNAWAY_BPR:
        return None
    peak = max(range(len(losses)), key=losses.__getitem__)
    return (f"its BPR loss ran away to {losses[peak]:.3g} at epoch {peak + 1} (a random ranking scores ln 2 = 0.693); "
            "the learning rate is likely too high (lower --lr / learning_rate, or the loss weights lambda_mmd and "
            "lambda_cl)")


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
