"""Choose a faster schedule on VALIDATION data only (docs/protocol.md section 5; the test split is not read).

    python bench/schedule_search.py [--models paper,mgcn] [--lr 0.002,0.004,0.008] [--batch 2048,8192]
                                    [--warmup 0,5] [--seeds 100,101] [--workers 2] [--log FILE]

Trains each (model, candidate) on ml100k with tuning seeds that the grid never uses (its seeds are 0-4),
under early stopping with patience 20, plus the paper's schedule as the reference, one torch thread per
run and ``--workers`` runs at once. A candidate is a learning rate, a batch size and a warm-up; every
combination of the lists is tried. Prints one JSON line per run (best valid Recall@20, best epoch, epochs
run, wall and CPU seconds) and, per model, the candidates ranked: a candidate qualifies when its mean best
valid Recall@20 is at least the paper schedule's minus ``--tolerance`` (relative); among those, the one
that converges in the fewest CPU seconds wins (not the fewest epochs: a larger batch makes an epoch
cheaper, since every step propagates the whole graph and encodes every item, docs/protocol.md section 8).
``--log`` appends each finished run to a JSON-lines file and skips the runs already in it, so an
interrupted search resumes where it stopped. Whether the winner is safe is then shown on the grid's seeds
with TEST metrics, by the grid's schedule cells (REPORT.md, "Schedules").
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import as_completed
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
    model, candidate, seed = job
    model_name, variant = MODELS[model]
    train = {"seed": seed, "device": "cpu"}
    if candidate is None:
        train["schedule"] = "paper"
    else:
        lr, batch, warmup = candidate
        train.update(schedule="fast", learning_rate=lr, batch_size=batch, warmup_epochs=warmup)
    run, _ = make_run("ml100k", model_name, variant, train=train)
    dataset = load_dataset("ml100k")
    t0, c0 = time.perf_counter(), time.process_time()
    trainer = Trainer.for_run(run, dataset)
    trainer.matrices["test"] = trainer.matrices["test"][:0]  # the search never looks at the test split
    result = trainer.fit()
    return {"model": model, "schedule": schedule_name(candidate), "seed": seed,
            "best_valid_recall20": result.valid.get("Recall@20"), "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run, "stopped_early": result.stopped_early,
            "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
            "s_per_epoch": round(result.s_per_epoch, 3)}


def schedule_name(candidate: tuple | None) -> str:
    if candidate is None:
        return "paper"
    lr, batch, warmup = candidate
    return f"lr={lr:g},batch={batch},warmup={warmup}"


def rank(rows: list[dict], model: str, tolerance: float) -> dict:
    """``model``'s runs summarized per schedule (means over seeds), the candidates that qualify against the
    paper's schedule (mean best valid Recall@20 at least its minus ``tolerance``, relative) and the winner: the
    qualifying one with the fewest CPU seconds to converge (None when none qualifies)."""
    by: dict[str, list[dict]] = {}
    for r in rows:
        if r["model"] == model:
            by.setdefault(r["schedule"], []).append(r)
    summary = {k: {"valid_recall20": sum(r["best_valid_recall20"] for r in v) / len(v),
                   "epochs_run": sum(r["epochs_run"] for r in v) / len(v),
                   "wall_s": sum(r["wall_s"] for r in v) / len(v),
                   "cpu_s": sum(r.get("cpu_s", r["wall_s"]) for r in v) / len(v)} for k, v in by.items()}
    if "paper" not in summary:
        raise SystemExit(f"{model}: no run under the paper's schedule to compare the candidates with")
    ref = summary["paper"]["valid_recall20"]
    ok = {k: v for k, v in summary.items() if k != "paper" and v["valid_recall20"] >= ref * (1 - tolerance)}
    winner = min(ok, key=lambda k: ok[k]["cpu_s"]) if ok else None
    return {"summary": summary, "qualifying": sorted(ok), "winner": winner}


def read_log(path: Path | None) -> list[dict]:
    """The runs an earlier search wrote to ``path`` (none when there is no such file)."""
    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="paper,mgcn")
    ap.add_argument("--lr", default="0.002,0.004,0.008")
    ap.add_argument("--batch", default="2048", help="comma-separated batch sizes")
    ap.add_argument("--warmup", default="0")
    ap.add_argument("--seeds", default="100,101")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tolerance", type=float, default=0.01, help="relative shortfall of valid Recall@20 allowed")
    ap.add_argument("--log", type=Path, default=None, help="JSON-lines file of finished runs (appended; resumed)")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    candidates = [None] + [(float(lr), int(b), int(w)) for lr in args.lr.split(",") for b in args.batch.split(",")
                           for w in args.warmup.split(",")]
    jobs = [(m, c, s) for m in args.models.split(",") for c in candidates for s in seeds]
    # candidates first (their results are the news), then the references, the slowest (`paper` under the
    # paper's schedule, ~16 minutes a run) last, side by side
    jobs.sort(key=lambda j: (j[1] is None, j[1] is None and j[0] == "paper"))
    done = {(r["model"], r["schedule"], r["seed"]): r for r in read_log(args.log)}
    rows = [done[key] for key in ((m, schedule_name(c), s) for m, c, s in jobs) if key in done]
    todo = [j for j in jobs if (j[0], schedule_name(j[1]), j[2]) not in done]
    print(f"{len(rows)} run(s) read from {args.log}, {len(todo)} to train", file=sys.stderr, flush=True)
    from mambarec.lifeline import watched_pool

    # workers that end with this process: a search stopped with Ctrl-C or kill leaves no run training on
    with watched_pool(args.workers, multiprocessing.get_context("spawn")) as pool:
        for future in as_completed([pool.submit(train_one, job) for job in todo]):
            row = future.result()
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.log is not None:
                with args.log.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    for model in args.models.split(","):
        print(json.dumps({"model": model, **rank(rows, model, args.tolerance)}), flush=True)

if __name__ == "__main__":
    main()
