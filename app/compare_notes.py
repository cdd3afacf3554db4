"""The notes around the Compare page's table: REPORT.md's findings on the dataset in short, and what early stopping
did to the precomputed cells shown (never learned, all stopped in their warm-up, a seed stopped in a dip), as
REPORT.md's Summary says it, so a reader of the page is told what a reader of the report is; and the banner of the
stale-check of ``precomputed/`` (``app.staleness``) once it has ended."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import evidence, flash, results, staleness
from mambarec import findings, stats
from mambarec.config.run import SCHEDULES
from mambarec.grid import DEFAULT_BUDGET
from mambarec.summary import IN_SHORT_MEASURE, all_early_lines, in_short

SCHEDULE_NAMED = 6  # setups a schedule's line names before "and N more"


def verdicts(rows: pd.DataFrame, rows_key: tuple) -> None:
    """REPORT.md's findings on the rows' dataset in short, and its verdicts on the paper's claims, counted
    (``rows_key``: the rows' version, ``results.per_rows``)."""
    short, counts = results.per_rows(rows_key, ("verdicts",), lambda: _verdict_words(rows))
    if short:
        st.markdown(f"**The grid on this dataset, in short** ({IN_SHORT_MEASURE}; REPORT.md's Summary): "
                    + short)
    if counts:
        st.markdown("**The paper's claims on this data** (REPORT.md's verdicts, 'Claims' tab): " + counts)


def _verdict_words(rows: pd.DataFrame) -> tuple[str | None, str | None]:
    cells = evidence.claim_cells(rows)  # once for both lines: it walks every precomputed row
    claims = evidence.claims_table(cells)
    counts = evidence.verdict_counts(claims)
    measured = counts and counts.get(stats.NOT_MEASURED, 0) < len(claims)
    return in_short(cells), " · ".join(f"{n} {kind}" for kind, n in counts.items() if n) if measured else None


def early_stops(rows: pd.DataFrame, shown: list[str], untrained: list[str]) -> None:
    """What REPORT.md's Summary says of the shown precomputed cells' early stopping: the ``untrained`` ones
    (``evidence.untrained``), the cells whose every seed stopped in its warm-up, and the seeds that stopped in a dip
    while a sister seed went on learning."""
    if rows.empty:
        return
    picked = rows[(rows["source"] == "precomputed") & rows["name"].isin(shown)]
    if picked.empty:
        return
    if untrained:
        st.caption(f"{', '.join(f'`{n}`' for n in untrained)} never learned: every seed ended (by early "
                   "stopping or its epoch cap) before the model left its warm-up plateau (best valid epoch 1, or a "
                   "BPR loss still at ln 2, a random ranking). Such a row measures an untrained model, not its setup, "
                   "and stays out of the Δ chart (REPORT.md's Summary gives the epochs).")
    patience = DEFAULT_BUDGET.patience
    cells = findings.cells_of(picked.to_dict("records"), picked["dataset"].iloc[0])
    rule = "the rule that tells a seed stopped in a dip (by a sister seed that went on learning)"
    for line in all_early_lines(findings.all_in_warmup(cells, patience), picked["dataset"].iloc[0], patience, rule):
        st.caption(line.removeprefix("- "))
    found = findings.stopped_in_warmup(cells, patience)
    if found:
        listed = findings.seeds_listing(found)
        st.caption(f"{sum(map(len, found.values()))} of these seeds peaked within their first {patience} epochs "
                   f"and early stopping ended them in the dip after that peak, while a sister seed peaked after epoch "
                   f"{findings.LATE_PEAK * patience}: {listed}. Their lower scores are in the means and widen the "
                   "intervals ('Every run and seed' gives each seed's epochs; REPORT.md's Summary lists every one).")


def schedules(rows: pd.DataFrame, shown: list[str]) -> None:
    """Which training schedule the shown setups used, when it is not the paper's for all: on ml100k the cell named
    `paper` trains under `fast` and `paper_paper_sched` under the paper's, and nothing on the page said so."""
    if rows.empty or "schedule" not in rows:
        return
    picked = rows[rows["name"].isin(shown) & rows["schedule"].notna() & (rows["model_name"] != "pop")]  # untrained
    by = picked.groupby("schedule", sort=False)["name"].unique()
    if set(by.index) <= {"paper"}:
        return
    words = []
    for name, setups in by.items():
        preset = SCHEDULES.get(name, {})
        how = (f" (learning rate {preset['learning_rate']:g}, batch {preset['batch_size']:,})" if preset else "")
        listed = ", ".join(f"`{n}`" for n in setups[:SCHEDULE_NAMED]) + (
            f" and {len(setups) - SCHEDULE_NAMED} more" if len(setups) > SCHEDULE_NAMED else "")
        words.append(f"the `{name}` schedule{how} for {listed}")  # "`paper`: `paper`" read as nonsense (r71)
    st.caption(":material/schedule: Trained under different schedules (`--schedule`; README, 'Schedules on ml100k'; "
               "REPORT.md, 'Schedules'): " + "; ".join(words) + ".")


POLL_FIRST = "stale.poll_first"  # set as the page draws the poll: its first pass is part of the page's run


def pending_staleness() -> None:
    """Polls the background stale-check; redraws the page once it is done (at a tick of the poll, never in the run
    that draws it: a check that ended as the page was drawn threw that run away, with the one-shot messages it
    showed, as a delete's; ``app.flash`` keeps them through the redraw)."""
    st.session_state[POLL_FIRST] = True
    _poll()


@st.fragment(run_every=1.0)
def _poll() -> None:
    first = st.session_state.pop(POLL_FIRST, False)
    ready, _ = staleness.staleness_banner()
    if ready and not first:
        flash.rerun()
    st.caption(":material/hourglass_top: Checking that these precomputed numbers are still today's code...")


def stale_banner() -> bool:
    """The stale banner above the results once the check has ended; whether it is still running (then the page
    polls for it at its foot: a line at the top shifted the whole page down for a few seconds, then up again)."""
    ready, banner = staleness.staleness_banner()
    if ready and banner:
        st.warning(banner)
    return not ready
