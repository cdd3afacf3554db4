"""``python -m mambarec precompute``: the command line of ``mambarec.precompute`` (docs/architecture.md
section 4).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from mambarec.artifacts import DEFAULT_OUT, PrecomputedError, load_precomputed, staleness
from mambarec.atomic import unwritable
from mambarec.config import ConfigError
from mambarec.data import DatasetError, load_dataset
from mambarec.engine_ray import DEFAULT_MAX_RETRIES, require_ray
from mambarec.engines import DEFAULT_WORKERS
from mambarec.extension import check_extension
from mambarec.grid import BUDGETS, DEFAULT_BUDGET, GRID, MAX_SEEDS, budget_for, grid_cells
from mambarec.plan import make_plan, render_plan
from mambarec.precompute import (
    DEFAULT_DATASETS,
    DEFAULT_SEEDS,
    ENGINES,
    check_replaceable,
    plan,
    precompute,
    runs_held,
)
from mambarec.replay import adopt_probes, rerender
from mambarec.tasks import PROJECTIONS

PRECOMPUTE_EXAMPLES = """examples:
  python -m mambarec precompute --plan                 # the arithmetic first: cells, seeds, s/epoch, minutes
  python -m mambarec precompute --overwrite            # the whole grid into precomputed/ (hours)
  python -m mambarec precompute --extend --datasets ml100k --only no_mmd   # add a cell, keep the rest
  python -m mambarec precompute --refresh-stale        # retrain only the cells whose numerics probes moved
  python -m mambarec precompute --datasets synthetic --only paper,bpr --seeds 0,1 --epochs 2 --out /tmp/demo"""


def add_precompute_command(subparsers) -> None:
    p = subparsers.add_parser("precompute", help="run the ablation grid and write precomputed/ (results, alignment "
                                                 "maps, REPORT.md, manifest)",
                              description="Train the ablation grid (every cell, every seed, to early stopping) and "
                                          "write the folder the app and REPORT.md read. Finished runs are journalled "
                                          "as they arrive, so Ctrl-C or a crash loses none: the same command goes on "
                                          "from them. The README's 'Command line' section has more.",
                              epilog=PRECOMPUTE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=DEFAULT_OUT, help="folder to (re)write as a whole [default: precomputed]")
    p.add_argument("--datasets", default=None,  # None: left out, so a default dataset that is not there is skipped
                   help=f"comma-separated dataset names [default: {','.join(DEFAULT_DATASETS)}]")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"epoch cap for every dataset [default: {DEFAULT_BUDGET.epochs}, patience "
                        f"{DEFAULT_BUDGET.patience}" + "".join(f"; {k} {b.epochs} (patience {b.patience})"
                                                                for k, b in BUDGETS.items()) + "]")
    p.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)),
                   help=f"comma-separated seeds, at most {MAX_SEEDS}; a cell runs as many of them, in order, as it "
                        f"takes (the default grid's cells: {_seed_counts()}) [default: %(default)s]")
    p.add_argument("--only", default=None, help="comma-separated cell names (default: the whole grid): "
                                                + ", ".join(c.name for c in GRID))
    p.add_argument("--data-dir", default=None, help="folder holding named datasets (default $MAMBAREC_DATA)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an --out folder that already holds a grid (without it, or --extend, such a folder "
                        "is refused before anything runs)")
    p.add_argument("--extend", action="store_true",
                   help="keep the existing folder's runs and train only the missing (dataset, cell, seed)")
    p.add_argument("--refresh-stale", action="store_true",
                   help="extend the existing folder, retraining every run of the cells whose numerics probes moved")
    p.add_argument("--adopt-probes", action="store_true",
                   help="give a folder written before probes existed today's probes, after checking that today's "
                        "code reproduces its stored runs' first two epochs (no run is kept otherwise)")
    p.add_argument("--plan", action="store_true",
                   help="print the grid's arithmetic (cells, seeds, measured s/epoch, expected epochs and minutes) and "
                        "train nothing; with --extend, of the runs the folder lacks. It times a few batches of each "
                        "cell: ~40 s on 2 cores")
    p.add_argument("--rerender", action="store_true",
                   help="rewrite REPORT.md, the curves and results.json from the stored rows with today's report and "
                        "format code; trains nothing")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                   help=f"local engine: runs trained at once, one process and one torch thread each "
                        f"[default: {DEFAULT_WORKERS}]")
    p.add_argument("--engine", default="local", choices=ENGINES,
                   help="where runs train: this machine's process pool (local) or a Ray cluster (ray) [local]")
    p.add_argument("--address", default=None,
                   help="ray engine: the cluster to join (e.g. auto, after `ray start --head`); default: start a "
                        "local Ray")
    p.add_argument("--cpus-per-task", type=float, default=1.0,
                   help="ray engine: CPUs each task asks for, and its torch threads [1]")
    p.add_argument("--max-retries", type=int, default=DEFAULT_MAX_RETRIES,
                   help="ray engine: retries of a task whose worker died or that raised, before it is reported as "
                        f"failed [{DEFAULT_MAX_RETRIES}]")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="train on cpu or cuda (ray: each task then asks for a GPU) [cpu]")
    p.set_defaults(func=cmd_precompute)


def cmd_precompute(args: argparse.Namespace) -> int:

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError as exc:
        raise ConfigError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from exc
    _check_counts(args, seeds)
    only = [c.strip() for c in args.only.split(",") if c.strip()] if args.only is not None else None
    if only == []:
        raise ConfigError(f"--only {args.only!r} names no cell; give cell names separated by commas (the grid's "
                          "cells: `python -m mambarec precompute --plan` lists them), or leave --only out")
    grid_cells(only)  # unknown names fail before any data is loaded
    if not (args.plan or args.rerender or args.adopt_probes):  # before any data is loaded: nothing is lost later
        check_replaceable(args.out, keep=args.extend or args.refresh_stale, overwrite=args.overwrite)
    if args.engine == "ray":
        require_ray()  # says what to install before any data is loaded
    elif args.device == "cuda" and not (args.rerender or args.adopt_probes):
        _require_cuda()  # once, before the grid (each of its runs failed alone, 530 times) or --plan's timings
    if args.rerender:
        rerender(args.out)
        print(json.dumps({"out": args.out, "rerendered": ["REPORT.md", "curves", "results.json", "results.csv"]}))
        return 0
    datasets, skipped = {}, []
    for name in (n.strip() for n in (args.datasets or ",".join(DEFAULT_DATASETS)).split(",") if n.strip()):
        try:
            datasets[name] = load_dataset(name, data_dir=args.data_dir)
        except DatasetError as exc:
            if args.datasets is not None:  # named on purpose: a typo must not start hours without it
                raise ConfigError(f"--datasets names {name!r}, which cannot be loaded: {exc}") from exc
            print(f"warning: skipping dataset {name}: {exc}", file=sys.stderr)
            skipped.append({"dataset": name, "cell": "*", "reason": str(exc)})
    if not datasets:
        raise ConfigError("no dataset could be loaded; see the warnings above")
    if args.plan:
        print(_plan(args, datasets, seeds, only))
        return 0
    if args.adopt_probes:
        manifest = adopt_probes(args.out, datasets, workers=args.workers)
        print(json.dumps({"out": args.out, "probes": len(manifest["probes"]), "replayed": manifest["probes_adopted"]},
                         indent=1))
        return 0
    options = {"device": args.device}
    if args.engine == "ray":
        options.update(address=args.address, cpus_per_task=args.cpus_per_task, max_retries=args.max_retries)
    manifest = precompute(args.out, datasets, seeds=seeds, epochs=args.epochs, only=only, skipped=skipped,
                          workers=args.workers, extend=args.extend, refresh_stale=args.refresh_stale,
                          engine=args.engine, overwrite=args.overwrite, **options)
    print(json.dumps({"out": args.out, "runs": len(manifest["runs"]), "wall_time_s": round(manifest["wall_time_s"], 1),
                      "skipped": manifest["skipped"], "failed": manifest.get("failed", [])}, indent=1))
    if manifest.get("failed"):
        print(f"error: {len(manifest['failed'])} run(s) failed after their retries (listed above and in REPORT.md); "
              "every other run was written", file=sys.stderr)
        return 1
    return 0



def _require_cuda() -> None:
    import torch  # lazy: `--help` stays without torch

    if not torch.cuda.is_available():
        raise ConfigError("--device cuda: CUDA is not available on this machine; leave --device out (the grid trains "
                          "on the CPU), or run the command on a machine with a GPU (or with --engine ray on a cluster "
                          "whose workers have one)")


def _seed_counts() -> str:
    counts = sorted({c.seeds for c in GRID})
    return f"{counts[0]} each" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"


def _check_counts(args: argparse.Namespace, seeds: list[int]) -> None:
    """Numbers the grid cannot run with, and flags that contradict each other, refused with the fix before
    anything is loaded."""
    if not seeds or len(seeds) > MAX_SEEDS or min(seeds) < 0 or len(set(seeds)) < len(seeds):
        raise ConfigError(f"--seeds takes 1 to {MAX_SEEDS} different seeds >= 0 (a cell runs at most {MAX_SEEDS}), "
                          f"got {args.seeds!r}")
    for flag, value, low in (("--epochs", args.epochs, 1), ("--workers", args.workers, 1),
                             ("--max-retries", args.max_retries, 0)):
        if value is not None and value < low:
            raise ConfigError(f"{flag} must be at least {low}, got {value}")
    if not args.cpus_per_task > 0:
        raise ConfigError(f"--cpus-per-task must be a number above 0, got {args.cpus_per_task}")
    # flags that would be ignored or contradict each other, refused rather than dropped in silence (audit r75)
    if args.address is not None and args.engine != "ray":
        raise ConfigError(f"--address {args.address!r} names a Ray cluster, and this command trains on this machine: "
                          "add --engine ray, or leave --address out")
    if args.overwrite and (args.extend or args.refresh_stale):
        raise ConfigError("--overwrite replaces the folder as a whole, and --extend / --refresh-stale keep its runs: "
                          "choose one")


WOULD_BE_REFUSED = "note: run without --plan, this command would be refused: {}\n"  # a plan's note, said first


def _plan(args: argparse.Namespace, datasets: dict, seeds: list[int], only) -> str:
    """The arithmetic of what this command would train: with ``--extend``, only the runs the folder lacks; with
    ``--refresh-stale``, those and the runs of the cells whose probes moved."""
    keep = args.extend or args.refresh_stale
    note = ""
    try:  # the plan of a command that would be refused says so (rehearsal r54, F21)
        check_replaceable(args.out, keep=keep, overwrite=args.overwrite)
        if why := unwritable(Path(args.out).parent):  # where the grid is written, then swapped in (audit r75)
            note = WOULD_BE_REFUSED.format(f"{args.out} cannot be written ({why})")
    except PrecomputedError as exc:
        note = WOULD_BE_REFUSED.format(exc)
    try:  # earlier runs under today's budget tell how many epochs a cell takes
        pre = load_precomputed(args.out)
        same = {name for name, b in pre["manifest"]["budgets"].items()
                if b == dataclasses.asdict(budget_for(name, args.epochs))}
        previous = [r for r in pre["results"] if r["dataset"] in same]
        done = runs_held(pre["results"]) if keep else set()
        if keep:
            try:  # an extension keeps one budget per dataset
                check_extension(Path(args.out), pre, {n: d.fingerprint() for n, d in datasets.items()}, args.epochs)
            except PrecomputedError as exc:
                note += WOULD_BE_REFUSED.format(exc)
            found = staleness(pre["manifest"], progress=False)
            if args.refresh_stale:
                done = {k for k in done if k[1] not in found.stale_cells}
            elif not found.current:
                note += (f"note: {args.out} is stale ({len(found.stale_cells)} cell(s): "
                         f"{', '.join(sorted(found.stale_cells)[:5])}); --extend will refuse it: add --refresh-stale "
                         "to retrain those cells as well\n")
    except PrecomputedError as exc:
        previous, done = [], set()
        if keep and Path(args.out, "manifest.json").exists():  # a folder that is there but does not load
            note += (f"note: {args.out} cannot be read ({exc}); --extend and --refresh-stale will refuse it, so "
                     "this plan counts the whole grid\n")
    tasks = plan(datasets, grid_cells(only), seeds, args.epochs, PROJECTIONS, done, device=args.device)
    if not tasks:
        return note + f"nothing to train: {args.out} already holds every run asked for"
    return note + render_plan(make_plan(tasks, datasets, previous), plan_workers(args))


def plan_workers(args: argparse.Namespace) -> int:
    """Runs at once: --workers on the local engine; on a local Ray, this machine's CPUs over --cpus-per-task (a
    joined cluster's size is not known before joining it: counted as this machine's)."""
    if args.engine != "ray":
        return args.workers
    return max(1, int((os.cpu_count() or 1) // args.cpus_per_task))  # _check_counts: cpus_per_task > 0


__all__ = ["add_precompute_command", "cmd_precompute"]
