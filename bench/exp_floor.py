"""What InfoNCE's exponent floor saves a training epoch (``losses.exp_floor``; README, "Equivalent rewrites").

    python bench/exp_floor.py [--variant paper] [--epochs 20] [--skip 4] [--threads 1]

Trains ml100k's ``--variant`` (the fast schedule, seed 0) in one process, its epochs alternating between
InfoNCE with the floor (the code as it is) and without it (``exp_floor`` patched to -inf, the form before),
in pairs whose order swaps from pair to pair, so that the machine's slow and fast moments fall on both. The two
forms give the same bits, so the run is one training trajectory either way. The first ``--skip`` epochs are left
out of the pairs: before the logits spread (tau = 0.01) no entry reaches the floor. Prints one JSON line: each
form's median seconds an epoch and the paired ratio floor / none with its 95% interval (``stats.paired_ratio``).
Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mambarec import stats  # noqa: E402
from mambarec.config import make_run  # noqa: E402
from mambarec.data import load_dataset  # noqa: E402
from mambarec.model import losses  # noqa: E402
from mambarec.train import Trainer  # noqa: E402


def schedule(epochs: int, skip: int) -> list[tuple[str, int | None]]:
    """Each epoch's form and pair: the first ``skip`` epochs with the floor and in no pair, then pairs of one epoch
    of each form, "floor" first in even pairs and "none" first in odd ones; an odd epoch left over is in no pair."""
    out = []
    for epoch in range(epochs):
        k = epoch - skip
        if k < 0 or k // 2 >= (epochs - skip) // 2:
            out.append(("floor", None))
        else:
            out.append(("floor" if (k % 2 == 0) == (k // 2 % 2 == 0) else "none", k // 2))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", default="paper", help="MambaRec's variant [paper: the visual-text InfoNCE at tau 0.01]")
    p.add_argument("--epochs", type=int, default=20, help="epochs trained in all [20]")
    p.add_argument("--skip", type=int, default=4, help="first epochs left out of the pairs [4]")
    p.add_argument("--threads", type=int, default=1, help="torch threads [1]")
    args = p.parse_args()
    if args.epochs - args.skip < 4:
        raise SystemExit(f"--epochs {args.epochs} with --skip {args.skip} leaves fewer than two pairs: raise --epochs")
    torch.set_num_threads(args.threads)
    floor = losses.exp_floor
    run = make_run("ml100k", "mambarec", args.variant, {}, {"epochs": args.epochs, "seed": 0, "schedule": "fast"})[0]
    trainer = Trainer.for_run(run, load_dataset("ml100k"))
    times = {"floor": {}, "none": {}}
    for form, pair in schedule(args.epochs, args.skip):
        losses.exp_floor = floor if form == "floor" else (lambda dtype: -math.inf)
        start = time.perf_counter()
        trainer.train_epoch(lambda: False)
        seconds = time.perf_counter() - start
        trainer.scheduler.step()
        if pair is not None:
            times[form][pair] = seconds
    losses.exp_floor = floor
    ratio = stats.paired_ratio(times["floor"], times["none"])
    print(json.dumps({"variant": args.variant, "threads": args.threads, "pairs": len(times["floor"]),
                      **{f"{name}_s_per_epoch": round(statistics.median(t.values()), 3) for name, t in times.items()},
                      "floor_over_none": round(1 + ratio.mean / 100, 3),
                      "ci95": [round(1 + ratio.low / 100, 3), round(1 + ratio.high / 100, 3)]}))


if __name__ == "__main__":
    main()
