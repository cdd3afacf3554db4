"""Training and evaluation speed at Amazon Baby's scale (or a quarter of it), or on the real ml100k.

    python bench/train_speed.py --scale baby|quarter [--variant official|paper|mgcn] [--r R] [--batches N]
    python bench/train_speed.py --scale ml100k [--variant paper,official,mgcn] [--epochs N]
    ... [--set FIELD=VALUE]  (a model field for every row: --set use_dream=false times the model without DREAM)
    ... [--compile dream]  (DREAM through torch.compile; ml100k's first_epoch_s shows what compiling costs)
    ... [--schedule NAME]  (a training preset of config.SCHEDULES, hence the batch size: default paper, 2,048)
    ... [--device cuda]   (times on the GPU, synchronizing before each clock read; adds peak_gpu_mb)

``baby``/``quarter``: builds a Baby-sized dataset in MMRec format (19,445 users, 7,050 items, 160,792
interactions, 4096-d visual, 384-d text; ``quarter`` = a quarter of each), times N training batches
of the schedule's size (2,048 under ``paper``; extrapolated to a full epoch; ``cpu_s_per_epoch`` counts
CPU seconds of all threads, the steadier number when other processes share the cores) and one full
evaluation. For ``paper`` it also times the
floor no rewrite can remove: the frozen visual table's reduction D_V -> D_V / r (7,050 x 4,096 ->
4,096 / r at Baby's size), forward plus weight gradient, once per batch (``floor_s_per_epoch``).
``ml100k``: the real ml100k from the data directory (``$MAMBAREC_DATA`` or ../shared/datasets), one
torch thread unless ``--threads`` says otherwise, whole epochs of the trainer's own loop after one
warm-up epoch (median of ``--epochs``, wall and CPU seconds).
Prints one JSON line per configuration with keys variant, r, s_per_epoch, eval_s, peak_rss_mb,
n_params, threads. Each configuration runs in its own process so its peak memory is its own.
``--variant`` and ``--r`` take comma-separated lists.
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
REAL = ("ml100k",)  # real datasets, loaded by name


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


def bench_run(dataset: str, variant: str, model_name: str, model: dict, train: dict):
    """The run of a benchmark row: MambaRec's ``variant``, or MGCN (its own model) for ``mgcn``."""
    from mambarec.config import make_run

    if variant == "mgcn":
        return make_run(dataset, "mgcn", None, model, train)[0]
    return make_run(dataset, model_name, variant if model_name == "mambarec" else None, model, train)[0]


def _sync(device: str) -> None:
    """Wait for the GPU's queued work, so that a clock read after it times the work, not its launch."""
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _gpu_peak(device: str) -> dict:
    import torch

    return {"peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20)} if device == "cuda" else {}


def model_overrides(pairs: list[str], variant: str, model_name: str) -> dict:
    """``--set FIELD=VALUE`` pairs as the model config's typed values (the train command's flags, by another name)."""
    from mambarec.config import MODEL_CONFIGS, coerce_field

    cls = MODEL_CONFIGS["mgcn" if variant == "mgcn" else model_name]
    out = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set takes FIELD=VALUE, got {pair!r} (for example --set use_dream=false)")
        out[name.strip()] = coerce_field(cls, name.strip(), raw)
    return out


def measure(folder: Path, variant: str, r: int, batches: int, model_name: str, device: str = "cpu",
            overrides: dict | None = None, schedule: str = "paper", compile_what: str = "none") -> dict:
    import torch

    from mambarec.data.mmrec import load_mmrec_folder
    from mambarec.train import Trainer

    ds = load_mmrec_folder(folder)
    run = bench_run(str(folder), variant, model_name,
                    {**({} if variant == "mgcn" else {"reduction_factor": r}), **(overrides or {})},
                    {"epochs": 1, "device": device, "schedule": schedule, "compile": compile_what})
    trainer = Trainer.for_run(run, ds)
    model, bs = trainer.model, run.train.batch_size
    n_batches = int(np.ceil(len(ds.train) / bs))
    perm = torch.randperm(len(ds.train), generator=trainer.generator)
    model.train()
    times, cpu = [], []
    for b in range(min(batches + 1, n_batches)):
        batch = trainer.train_pairs[perm[b * bs:(b + 1) * bs]]
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        neg = trainer.sampler(batch[:, 0], trainer.generator)
        loss = model.loss(batch[:, 0], batch[:, 1], neg)["total"]
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
        _sync(device)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    per_batch = float(np.mean(times[1:] if len(times) > 1 else times))  # the first batch warms up (and compiles)
    cpu_per_batch = float(np.mean(cpu[1:] if len(cpu) > 1 else cpu))
    t0 = time.perf_counter()
    trainer.evaluate(("test",))
    _sync(device)
    eval_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"variant": variant if model_name == "mambarec" else model_name, "r": r if variant != "mgcn" else None,
           "s_per_epoch": round(per_batch * n_batches, 2), "s_per_batch": round(per_batch, 3),
           "cpu_s_per_epoch": round(cpu_per_batch * n_batches, 2), "eval_s": round(eval_s, 3),
           "peak_rss_mb": round(peak), "n_params": model.n_parameters(),
           "batches_timed": len(times) - 1, "batch_size": bs, "threads": torch.get_num_threads(), "device": device,
           **({"compile": compile_what} if compile_what != "none" else {}), **_gpu_peak(device)}
    floor = reduction_floor(model, batches) if device == "cpu" else None  # the floor is timed on the CPU
    if floor is not None:
        out["floor_s_per_epoch"] = round(floor[0] * n_batches, 2)
        out["floor_cpu_s_per_epoch"] = round(floor[1] * n_batches, 2)
    return out


def reduction_floor(model, repeats: int) -> tuple[float, float] | None:
    """(wall, CPU) seconds per batch of the frozen visual table's reduction alone (forward + weight
    gradient), or None when the model has no such layer (trainable table, r = 1, or no DREAM map)."""
    import torch

    encoders = getattr(model, "encoders", None)
    if encoders is None or "visual" not in encoders:
        return None
    enc, table = encoders["visual"], model.features["visual"].weight
    if enc.reduce is None or not enc.dream_on_map or table.requires_grad:
        return None
    grad = torch.randn(table.shape[0], enc.reduce.out_features)
    times, cpu = [], []
    for _ in range(max(repeats, 1) + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        out = enc.reduce(table)
        out.backward(grad)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    enc.reduce.zero_grad(set_to_none=True)
    return float(np.median(times[1:])), float(np.median(cpu[1:]))


def measure_real(name: str, variant: str, epochs: int, model_name: str, device: str = "cpu",
                 overrides: dict | None = None, compile_what: str = "none", schedule: str = "paper") -> dict:
    """Whole epochs of ``Trainer.train_epoch`` on a real dataset (after one warm-up epoch, which also
    compiles when ``compile_what`` is ``dream``)."""
    import torch

    from mambarec.data import load_dataset
    from mambarec.train import Trainer

    ds = load_dataset(name)
    run = bench_run(name, variant, model_name, overrides or {},
                    {"epochs": epochs + 1, "device": device, "seed": 0, "schedule": schedule, "compile": compile_what})
    trainer = Trainer.for_run(run, ds)
    wall, cpu = [], []
    for _ in range(epochs + 1):
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        trainer.train_epoch(lambda: False)
        _sync(device)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    t0 = time.perf_counter()
    trainer.evaluate()
    _sync(device)
    eval_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"dataset": name, "variant": variant if model_name == "mambarec" else model_name,
            "r": getattr(run.model, "reduction_factor", None) if variant != "mgcn" else None,
            "s_per_epoch": round(float(np.median(wall[1:])), 2), "cpu_s_per_epoch": round(float(np.median(cpu[1:])), 2),
            "epochs_timed": epochs, "first_epoch_s": round(wall[0], 2), "eval_s": round(eval_s, 3),
            "batch_size": run.train.batch_size,
            "peak_rss_mb": round(peak),
            "n_params": trainer.model.n_parameters(), "threads": torch.get_num_threads(),
            "device": device, **({"set": overrides} if overrides else {}),
            **({"compile": compile_what} if compile_what != "none" else {}), **_gpu_peak(device)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=sorted(SCALES) + list(REAL), default="baby")
    ap.add_argument("--variant", default=None,
                    help="comma-separated: official,paper,mgcn (default: official; ml100k: paper,official,mgcn)")
    ap.add_argument("--r", default="8", help="comma-separated reduction factors (synthetic scales)")
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs after a warm-up one (ml100k)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: ml100k 1, else torch's)")
    ap.add_argument("--model", default="mambarec", help="model name (baselines too)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the model trains")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="a model field for every row, as the train command's flag (--set use_dream=false: what DREAM "
                         "costs); repeatable")
    ap.add_argument("--compile", choices=("none", "dream"), default="none",
                    help="time each DREAM block through torch.compile (docs/speed.md section 3: it pays at Baby's size "
                         "and on ml100k's larger maps, r <= 2, not at r = 8)")
    from mambarec.config import SCHEDULES  # light: no torch

    ap.add_argument("--schedule", choices=tuple(SCHEDULES), default="paper",
                    help="the training preset whose batch size is timed (large-batch: 8,192 a step)")
    ap.add_argument("--folder", default=None, help=argparse.SUPPRESS)  # child process: measure one config
    args = ap.parse_args()
    threads = args.threads if args.threads is not None else (1 if args.scale in REAL else None)
    if args.folder:
        import torch

        if threads is not None:
            torch.set_num_threads(threads)
        overrides = model_overrides(args.set, args.variant, args.model)
        if args.scale in REAL:
            print(json.dumps(measure_real(args.folder, args.variant, args.epochs, args.model, args.device, overrides,
                                          args.compile, args.schedule)))
        else:
            print(json.dumps(measure(Path(args.folder), args.variant, int(args.r), args.batches, args.model,
                                     args.device, overrides, args.schedule, args.compile)))
        return
    variants = args.variant or ("paper,official,mgcn" if args.scale in REAL else "official")
    extra = ["--scale", args.scale, "--epochs", str(args.epochs), "--device", args.device, "--schedule", args.schedule]
    extra += ["--threads", str(threads)] if threads else []
    extra += [arg for pair in args.set for arg in ("--set", pair)]
    extra += ["--compile", args.compile] if args.compile != "none" else []
    if args.scale in REAL:
        for variant in variants.split(","):
            cmd = [sys.executable, __file__, "--folder", args.scale, "--variant", variant, "--model", args.model,
                   *extra]
            print(_child(cmd, {"variant": variant}), flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(args.scale, Path(tmp) / f"bench_{args.scale}")
        for variant in variants.split(","):
            for r in (args.r.split(",") if variant != "mgcn" else ["1"]):
                cmd = [sys.executable, __file__, "--folder", str(folder), "--variant", variant, "--r", r,
                       "--batches", str(args.batches), "--model", args.model, *extra]
                print(_child(cmd, {"variant": variant, "r": r}), flush=True)


def _child(cmd: list[str], what: dict) -> str:
    """Run one measurement in its own process; its JSON line, or one naming the error."""
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.stdout.strip():
        return out.stdout.strip().splitlines()[-1]
    return json.dumps({**what, "error": out.stderr.strip().splitlines()[-1:]})


if __name__ == "__main__":
    main()
