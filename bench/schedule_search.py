"""Choose the fast schedule on VALIDATION data only (docs/protocol.md section 5; the test split is not read).

    python bench/schedule_search.py [--models paper,mgcn] [--lr 0.002,0.004,0.008] [--warmup 0,5]
                                    [--seeds 100,101] [--workers 2]

Trains each (model, candidate) on ml100k with tuning seeds that the grid never uses (its seeds are 0-4),
under early stopping with patience 20 and batch 2,048, plus the paper's schedule as the reference, one
torch thread per run and ``--workers`` runs at once. Prints one JSON line per run (best valid Recall@20,
best epoch, epochs run, wall seconds) and, per model, the candidates ranked: a candidate qualifies when its
mean best valid Recall@20 is at least the paper schedule's minus ``--tolerance`` (relative); among those,
the one with the fewest epochs to converge wins. Whether the winner is safe is then shown on seeds 0, 1
and 2 with TEST metrics, by the grid's schedule cells (REPORT.md, "Schedules").
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = {"paper": ("mambarec", "paper"), "mgcn": ("mgcn", None), "official": ("mambarec", "official")}


def train_one(job: tuple) -> dict:
    import torch

    from mambarec.config import make_run
    from mambarec.data import load_dataset
    from mambarec.train import Trainer

    torch.set_num_threads(1)
    model, lr, warmup, seed = job
    model_name, variant = MODELS[model]
    train = {"seed": seed, "device": "cpu"}
    if lr is None:
        train["schedule"] = "paper"
    else:
        train.update(schedule="fast", learning_rate=lr, warmup_epochs=warmup)
    run, _ = make_run("ml100k", model_name, variant, train=train)
    dataset = load_dataset("ml100k")
    t0 = time.perf_counter()
    trainer = Trainer.for_run(run, dataset)
    trainer.matrices["test"] = trainer.matrices["test"][:0]  # the search never looks at the test split
    result = trainer.fit()
    return {"model": model, "schedule": "paper" if lr is None else f"lr={lr:g},warmup={warmup}", "seed": seed,
            "best_valid_recall20": result.valid.get("Recall@20"), "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run, "stopped_early": result.stopped_early,
            "wall_s": round(time.perf_counter() - t0, 1), "s_per_epoch": round(result.s_per_epoch, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="paper,mgcn")
    ap.add_argument("--lr", default="0.002,0.004,0.008")
    ap.add_argument("--warmup", default="0")
    ap.add_argument("--seeds", default="100,101")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tolerance", type=float, default=0.01, help="relative shortfall of valid Recall@20 allowed")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    candidates = [(None, 0)] + [(float(lr), int(w)) for lr in args.lr.split(",") for w in args.warmup.split(",")]
    jobs = [(m, lr, w, s) for m in args.models.split(",") for lr, w in candidates for s in seeds]
    jobs.sort(key=lambda j: j[1] is not None)  # the slow paper-schedule runs first
    rows = []
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for row in pool.map(train_one, jobs):
            rows.append(row)
            print(json.dumps(row), flush=True)
    for model in args.models.split(","):
        mine = [r for r in rows if r["model"] == model]
        by = {}
        for r in mine:
            by.setdefault(r["schedule"], []).append(r)
        summary = {k: {"valid_recall20": sum(r["best_valid_recall20"] for r in v) / len(v),
                       "epochs_run": sum(r["epochs_run"] for r in v) / len(v),
                       "wall_s": sum(r["wall_s"] for r in v) / len(v)} for k, v in by.items()}
        ref = summary["paper"]["valid_recall20"]
        ok = {k: v for k, v in summary.items() if k != "paper" and v["valid_recall20"] >= ref * (1 - args.tolerance)}
        winner = min(ok, key=lambda k: ok[k]["epochs_run"]) if ok else None
        print(json.dumps({"model": model, "summary": summary, "qualifying": sorted(ok), "winner": winner}), flush=True)


if __name__ == "__main__":
    main()
