"""Training and evaluation speed at Amazon Baby's scale (or a quarter of it), on synthetic data.

    python bench/train_speed.py --scale baby|quarter [--variant official|paper|mgcn] [--r R] [--batches N]

Builds a Baby-sized dataset in MMRec format (19,445 users, 7,050 items, 160,792 interactions,
4096-d visual, 384-d text; ``quarter`` = a quarter of each), times N training batches of 2,048
(extrapolated to a full epoch) and one full evaluation, and prints one JSON line per configuration
with keys variant, r, s_per_epoch, eval_s, peak_rss_mb, n_params. Each configuration runs in its
own process so its peak memory is its own. ``--variant`` and ``--r`` take comma-separated lists.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCALES = {"baby": (19445, 7050, 160792, 4096, 384), "quarter": (4861, 1762, 40198, 1024, 96)}


def make_folder(scale: str, folder: Path, seed: int = 0) -> Path:
    from mambarec.data.mmrec import split_interactions, write_mmrec_folder

    n_users, n_items, n_inter, dv, dt = SCALES[scale]
    rng = np.random.default_rng(seed)
    # every user >= 5 and every item >= 1 interactions, the rest Zipf-skewed over items
    users = np.concatenate([np.repeat(np.arange(n_users), 5), rng.integers(0, n_users, n_inter - 5 * n_users)])
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.7
    items = rng.choice(n_items, size=len(users), p=pop / pop.sum())
    items[: n_items] = np.arange(n_items)
    pairs = np.unique(np.stack([users, items], 1), axis=0)
    inter = split_interactions(pairs, seed)
    visual = rng.random((n_items, dv), dtype=np.float32)
    text = rng.normal(size=(n_items, dt)).astype(np.float32)
    write_mmrec_folder(folder, folder.name, pd.DataFrame(inter), visual, text)
    return folder


def measure(folder: Path, variant: str, r: int, batches: int, model_name: str) -> dict:
    import torch

    from mambarec.config import RunConfig, TrainConfig, make_model_config
    from mambarec.data.mmrec import load_mmrec_folder
    from mambarec.train import Trainer

    ds = load_mmrec_folder(folder)
    over = {} if variant == "mgcn" else {"reduction_factor": r}
    run = RunConfig(dataset=str(folder), model_name=model_name, model=make_model_config(variant, **over),
                    train=TrainConfig(epochs=1, device="cpu"))
    trainer = Trainer(run, ds)
    model, bs = trainer.model, run.train.batch_size
    n_batches = int(np.ceil(len(ds.train) / bs))
    perm = torch.randperm(len(ds.train), generator=trainer.generator)
    model.train()
    times = []
    for b in range(min(batches + 1, n_batches)):
        batch = trainer.train_pairs[perm[b * bs:(b + 1) * bs]]
        t0 = time.perf_counter()
        neg = trainer.sampler(batch[:, 0], trainer.generator)
        loss = model.loss(batch[:, 0], batch[:, 1], neg)["total"]
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
        times.append(time.perf_counter() - t0)
    per_batch = float(np.mean(times[1:] if len(times) > 1 else times))  # the first batch warms up
    t0 = time.perf_counter()
    trainer.evaluate(("test",))
    eval_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"variant": variant if model_name == "mambarec" else model_name, "r": r if variant != "mgcn" else None,
            "s_per_epoch": round(per_batch * n_batches, 2), "s_per_batch": round(per_batch, 3),
            "eval_s": round(eval_s, 3), "peak_rss_mb": round(peak), "n_params": model.n_parameters(),
            "batches_timed": len(times) - 1, "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=sorted(SCALES), default="baby")
    ap.add_argument("--variant", default="official", help="comma-separated: official,paper,mgcn")
    ap.add_argument("--r", default="8", help="comma-separated reduction factors")
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--model", default="mambarec", help="model name (baselines too)")
    ap.add_argument("--folder", default=None, help=argparse.SUPPRESS)  # child process: measure one config
    args = ap.parse_args()
    if args.folder:
        print(json.dumps(measure(Path(args.folder), args.variant, int(args.r), args.batches, args.model)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(args.scale, Path(tmp) / f"bench_{args.scale}")
        for variant in args.variant.split(","):
            for r in (args.r.split(",") if variant != "mgcn" else ["1"]):
                cmd = [sys.executable, __file__, "--folder", str(folder), "--variant", variant, "--r", r,
                       "--batches", str(args.batches), "--model", args.model]
                out = subprocess.run(cmd, capture_output=True, text=True)
                line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else json.dumps(
                    {"variant": variant, "r": r, "error": out.stderr.strip().splitlines()[-1:]})
                print(line, flush=True)


if __name__ == "__main__":
    main()
