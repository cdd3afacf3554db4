"""``python -m mambarec compare``: saved runs (and a precomputed folder's) side by side, as the Compare page shows
them (``mambarec.comparison``): each setup's mean ± std over seeds and its change against a reference, paired by
seed with its 95% interval."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from mambarec.artifacts import load_precomputed, stale_notice, staleness
from mambarec.atomic import write_atomically
from mambarec.catalog import list_runs, precomputed_records
from mambarec.comparison import (
    ALL_METRICS,
    TEXT_METRICS,
    compare_csv,
    compare_table,
    compare_text,
    comparison_rows,
    one_per_seed,
    partial_pairings,
)
from mambarec.config import ConfigError
from mambarec.errors import UserError
from mambarec.progress import adopt_orphans
from mambarec.store import RUNS_DIR_ENV, runs_dir


def add_compare_command(sub) -> None:
    cmp = sub.add_parser("compare", help="saved runs side by side: each setup's mean ± std over seeds and its change "
                                         "against a reference, paired by seed, with its 95%% interval",
                         description="Saved runs side by side, grouped by setup: each setup's mean ± std over seeds "
                                     "and its change against a reference, paired by seed, with its 95% interval "
                                     "(the app's Compare table, in a terminal).",
                         epilog="examples:\n  python -m mambarec compare --runs runs\n"
                                "  python -m mambarec compare --runs runs --reference use_mmd=off --csv cmp.csv\n"
                                "  python -m mambarec compare --precomputed precomputed --dataset ml100k "
                                "--reference mgcn",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    cmp.add_argument("--runs", default=None, help=f"the folder holding the run folders [${RUNS_DIR_ENV} or runs]")
    cmp.add_argument("--precomputed", default=None, metavar="DIR",
                     help="also the grid's runs from this precomputed folder (e.g. precomputed)")
    cmp.add_argument("--dataset", default=None, help="the dataset whose runs to compare (needed when the runs "
                                                     "span several)")
    cmp.add_argument("--reference", default=None, help="the setup the others are measured against: a row's name "
                                                       "as the table prints it, a part of one row's name alone "
                                                       "(use_mmd=off), or a run folder's name [paper when there, else "
                                                       "the setup that changes the fewest settings of its preset]")
    cmp.add_argument("--metrics", default=",".join(TEXT_METRICS), help="comma-separated, of "
                     f"{', '.join(ALL_METRICS)} [default: %(default)s]")
    cmp.add_argument("--csv", default=None, metavar="FILE", help="also write the table as numbers to FILE: per setup "
                                                                 "and metric its mean, std, and change in %% with "
                                                                 "its 95%% interval's ends")
    cmp.add_argument("--no-check", action="store_true",
                     help="do not check the --precomputed folder against today's code (the check retrains each "
                          "cell's small numerics probe: ~30 s of one core the first time per code version, then "
                          "seconds from a cache)")
    cmp.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    root = Path(args.runs) if args.runs else runs_dir()
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    if not metrics:
        raise ConfigError(f"--metrics {args.metrics!r} names no metric; give names separated by commas, such as "
                          "Recall@20,NDCG@20")
    if args.csv and Path(args.csv).is_dir():
        raise ConfigError(f"--csv {args.csv} is a folder; name a file, such as {Path(args.csv) / 'compare.csv'}")
    if args.csv and not Path(args.csv).resolve().parent.is_dir():
        raise ConfigError(f"--csv {args.csv}: its folder {Path(args.csv).resolve().parent} does not exist; create it "
                          "or name a file in an existing folder")
    if args.runs and root.exists() and not root.is_dir():
        raise ConfigError(f"--runs {root}: is a file, not a folder of run folders; name the folder that holds them")
    if args.runs and not root.exists():  # it said "no runs in ...; or pass --runs", which had been passed
        if not args.precomputed:
            raise ConfigError(f"--runs {root}: no such folder; name the folder that holds the run folders")
        print(f"warning: --runs {root}: no such folder; the precomputed runs alone are compared", file=sys.stderr)
    if args.precomputed and not Path(args.precomputed).is_dir():
        raise ConfigError(f"--precomputed {args.precomputed}: no such folder (the repository's own is precomputed/)")
    unreadable: list[tuple[Path, str]] = []
    adopt_orphans(root)  # a run whose `train` was killed outright is listed here too, as on the Compare page
    busy: list[tuple[Path, str]] = []
    records = list_runs(root, unreadable, busy)
    for folder, why in unreadable:  # said, not skipped in silence: the table would be short of a run
        print(f"warning: skipped {folder}: it cannot be read ({why})", file=sys.stderr)
    for folder, writer in busy:
        print(f"note: skipped {folder}: process {writer} is writing it (a `train --resume`); it is listed once that "
              "run has ended", file=sys.stderr)
    notice = ""
    if args.precomputed:
        pre = load_precomputed(Path(args.precomputed))
        records += precomputed_records(pre)
        notice = _checked(Path(args.precomputed), pre["manifest"], args.no_check)
    if not records:
        deeper = sorted(d.name for d in root.iterdir() if d.is_dir() and list_runs(d)) if root.is_dir() else []
        where = f"no runs in {root}" if root.is_dir() else f"no runs: the folder {root} does not exist"
        hint = ("; train some with `python -m mambarec train --out DIR` (DIR inside it)"
                + ("" if args.runs else ", or pass --runs with the folder that holds your run folders"))
        raise ConfigError(where + (f" or {args.precomputed}" if args.precomputed else "") + (
            f"; runs are one level down, in {', '.join(deeper[:REPEATS_NAMED])}: pass that folder as --runs"
            if deeper else hint))
    rows = comparison_rows(records)
    for folder, run_id in rows.loc[~rows["config_ok"], ["folder", "run"]].itertuples(index=False):
        print(f"warning: {folder or run_id}: its config.json cannot be read by this version; listed by its folder "
              "name, with no setup", file=sys.stderr)
    rows["data"] = data_keys(rows)
    datasets = sorted(set(rows["data"].dropna()))
    if args.dataset is None and len(datasets) > 1:
        raise ConfigError(f"the runs are on {len(datasets)} datasets ({', '.join(datasets)}); pick one with --dataset")
    name = args.dataset or datasets[0]
    if name not in datasets and name in set(rows["dataset"]):  # a name that two different datasets share
        raise ConfigError(f"runs on two or more different datasets are all named {name!r} (their fingerprints "
                          f"differ: other features or interactions); pick one with --dataset: "
                          + ", ".join(d for d in datasets if d.startswith(f"{name}@")))
    rows = rows[rows["data"] == name].reset_index(drop=True)
    if rows.empty:
        raise ConfigError(f"no runs on dataset {name!r}; the runs are on: {', '.join(datasets)}")
    table, reference = compare_table(rows, args.reference, metrics)
    runs = f"{len(rows)} run{'s' if len(rows) != 1 else ''}" + repeats_words(rows)
    partial = partial_pairings(rows, reference, list(table["name"]), metrics[0])
    print(f"{runs} on {name}\n{notice}\n" + compare_text(table, reference, metrics)
          + "".join(f"\nΔ paired over part of the reference's seeds: {line}." for line in partial))
    if args.csv:
        try:
            write_atomically(Path(args.csv), lambda tmp: compare_csv(table, reference, metrics).to_csv(tmp,
                                                                                                       index=False))
        except OSError as exc:  # /sys, /proc, a read-only disk: one line, as train's --out says it
            raise UserError(f"--csv {args.csv} cannot be written ({exc.strerror or exc}); the table above is "
                            "complete; choose another file") from exc
        print(f"\nwrote {args.csv}")
    return 0


REPEATS_NAMED = 5  # run folders a note names before "and N more"


def repeats_words(rows: pd.DataFrame) -> str:
    """" (2 used: ...)" when runs repeat a setup and seed, naming the ones left out (``one_per_seed`` keeps the one
    that trained furthest): the header said "6 runs" over a table of 2, and never which were set aside."""
    kept = one_per_seed(rows, ["source", "setup"])
    left = [str(r) for r in rows.loc[~rows.index.isin(kept.index), "run"]]
    if not left:
        return ""
    named = ", ".join(left[:REPEATS_NAMED]) + (f" and {len(left) - REPEATS_NAMED} more" if len(left) > REPEATS_NAMED
                                               else "")
    return (f" ({len(kept)} used: {len(left)} repeat a setup and seed, and the one that trained furthest counts; "
            f"left out: {named})")


def data_keys(rows: pd.DataFrame) -> pd.Series:
    """Each row's dataset as the table names it: the dataset's name, or ``name@<fingerprint's first 8>`` where runs
    on different data share the name (two folders called ``good``: averaging them would mix two datasets)."""
    fingerprints = rows.groupby("dataset")["fingerprint"].nunique()
    shared = set(fingerprints[fingerprints > 1].index)

    def key(name, fingerprint) -> str:
        if name not in shared:
            return name
        return f"{name}@{fingerprint[:8]}" if isinstance(fingerprint, str) else f"{name}@unknown"

    return pd.Series([key(n, f) for n, f in zip(rows["dataset"], rows["fingerprint"], strict=True)], index=rows.index,
                     dtype=object)


def _checked(folder: Path, manifest: dict, skip: bool) -> str:
    """The line on a precomputed folder's numbers that the table's header carries: still today's, stale (the
    Compare page's banner), or not checked."""
    if skip:
        return f"{folder}: not checked against today's code (--no-check)\n"
    found = staleness(manifest, progress=True)
    notice = stale_notice(folder, found)
    if notice:
        return f"WARNING: {notice}\n"
    return f"{folder}: current: the numerics probes of all {len(found.checked)} cells reproduce with today's code\n"


__all__ = ["add_compare_command", "cmd_compare"]
