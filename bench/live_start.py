"""How long a live run takes to start. Prints numbers, asserts nothing (docs/style.md, habit 9).

    python bench/live_start.py [--dataset ml100k] [--variant paper] [--jobs 3] [--page-open S]

Runs start as the Train page starts them (``app.jobs.start``: a worker process forked from the forkserver, which
imported torch once), one epoch each, one after another in this process. For each job it prints the seconds from
the start to the run card's first state ("built": the worker has the data, the graphs and the model) and to its
first epoch's row, and that epoch's own training seconds. The first job also starts the forkserver (as the first run
of a server does); the later ones are what every other run of a lecture waits. With ``--page-open S`` the forkserver
is started as the Train page starts it once drawn (``app.jobs.prestart``), S seconds before the first run (a lecturer
reading the form before clicking). docs/speed.md section 4 has the figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import jobs  # noqa: E402
from mambarec.cli import build_parser, run_config_from_args  # noqa: E402
from mambarec.data import load_dataset  # noqa: E402

POLL_S = 0.01


def one_job(run, dataset, root: Path) -> dict:
    t0 = time.perf_counter()
    job = jobs.start(run, dataset, root=root)
    built = None
    while not job.events and job.status in ("queued", "building", "running"):
        if built is None and job.status == "running":
            built = time.perf_counter() - t0
        time.sleep(POLL_S)
    first = time.perf_counter() - t0
    jobs.wait(job.id, timeout=None)
    if job.status != "done":
        raise SystemExit(f"the run ended {job.status}: {job.error}")
    return {"built_s": built, "first_epoch_s": first, "epoch_train_s": job.events[0]["epoch_s"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="ml100k")
    p.add_argument("--variant", default="paper", choices=["paper", "official", "mgcn"])
    p.add_argument("--jobs", type=int, default=3, help="runs started one after another (the first starts the "
                                                       "forkserver)")
    p.add_argument("--page-open", type=float, default=None, metavar="S",
                   help="start the forkserver as the Train page does, S seconds before the first run")
    args = p.parse_args()
    flags = ["train", "--dataset", args.dataset, "--variant", args.variant, "--epochs", "1", "--out", "-"]
    run, _ = run_config_from_args(build_parser().parse_args(flags + (["--model", "mgcn"] if args.variant == "mgcn"
                                                                     else [])))
    dataset = load_dataset(args.dataset)
    if args.page_open is not None:
        jobs.prestart()
        time.sleep(args.page_open)
    with tempfile.TemporaryDirectory() as root:
        for k in range(args.jobs):
            r = one_job(run, dataset, Path(root) / f"job{k}")
            note = " (starts the forkserver)" if k == 0 and args.page_open is None else ""
            print(f"job {k + 1}{note}: built {r['built_s']:.2f} s, first epoch shown {r['first_epoch_s']:.2f} s "
                  f"(its training {r['epoch_train_s']:.2f} s)", flush=True)


if __name__ == "__main__":
    main()
