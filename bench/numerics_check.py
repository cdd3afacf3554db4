"""Numerics check: does a code change keep every run's numbers (an "equivalent rewrite" guard)?

    python bench/numerics_check.py --save ref.json            # before the change
    python bench/numerics_check.py --compare ref.json         # after: max relative difference per cell

Trains a fixed set of cells (variant presets plus a few ablations) for a few epochs with one torch
thread and records, per epoch, every loss part and the valid/test Recall@20 and NDCG@20, the loss
parts of the first few batches (before rounding differences compound over steps), plus a
digest of the run generator's final state (a rewrite must draw the same random numbers in the same
order). ``--compare`` prints one JSON line per cell with the largest relative difference, the largest
per recorded number (over the epochs, the first batch and the first few batches), and whether the
generator state matches, then a summary line; it exits 1 when an epoch-level difference exceeds
``--rtol`` or a generator state differs.

How to read it: the first batch (the initialized model, before any step) shows the rewrite's own
rounding (~1e-7..1e-6 relative in float32). Over later steps differences grow in the variants with
DREAM or MMD: Adam moves a parameter whose true gradient is zero (a conv bias before a training-mode
BatchNorm) by +-lr with the sign of its rounding noise, and the MMD is a small difference of O(1)
kernel means. Run the unchanged code with ``--threads 2`` against a 1-thread reference to see that
noise floor: epoch-level differences of 1e-4..1e-2 in paper/official there too. Cells run one after another in this
process (``--cells`` and ``--datasets`` pick a subset).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# cell name -> (variant preset, overrides)
CELLS = {
    "paper": ("paper", {}),
    "official": ("official", {}),
    "mgcn": ("mgcn", {}),
    "no_dream": ("paper", {"use_dream": False}),
    "r1": ("paper", {"reduction_factor": 1}),
    "r16": ("paper", {"reduction_factor": 16}),
}
DATASETS = ("synthetic", "ml100k")
METRICS = ("Recall@20", "NDCG@20")


def run_cell(dataset, variant: str, overrides: dict, epochs: int, seed: int, probe_batches: int) -> dict:
    import torch

    from mambarec.config import make_run
    from mambarec.train import Trainer

    train = {"epochs": epochs, "patience": epochs, "seed": seed, "device": "cpu"}
    run = (make_run(dataset.name, "mgcn", None, overrides, train) if variant == "mgcn"
           else make_run(dataset.name, "mambarec", variant, overrides, train))[0]
    trainer = Trainer.for_run(run, dataset)
    batches: list[dict] = []
    model_loss = trainer.model.loss

    def recording_loss(*args):  # the first batches' loss parts, before rounding differences compound
        parts = model_loss(*args)
        if len(batches) < probe_batches:
            batches.append({f"loss/{k}": float(v.detach()) for k, v in parts.items()})
        return parts

    trainer.model.loss = recording_loss
    t0 = time.perf_counter()
    result = trainer.fit()
    wall = time.perf_counter() - t0
    epochs_out = []
    for row in result.history:
        keep = {k: v for k, v in row.items() if k.startswith("loss/")}
        keep.update({f"{s}/{m}": row[f"{s}/{m}"] for s in ("valid", "test") for m in METRICS if f"{s}/{m}" in row})
        epochs_out.append(keep)
    digest = hashlib.sha256(trainer.generator.get_state().numpy().tobytes()).hexdigest()[:16]
    return {"epochs": epochs_out, "batches": batches, "generator": digest, "s_per_epoch": round(result.s_per_epoch, 3),
            "wall_s": round(wall, 2), "threads": torch.get_num_threads()}


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def compare(ref: list[dict], new: list[dict]) -> dict[str, float]:
    """Max relative difference per recorded number (over epochs or batches); inf when the records differ
    in shape."""
    if len(ref) != len(new):
        return {"number of records": float("inf")}
    diffs: dict[str, float] = {}
    for e, (ra, na) in enumerate(zip(ref, new, strict=True)):
        if ra.keys() != na.keys():
            return {f"record {e + 1} keys": float("inf")}
        for k in ra:
            diffs[k] = max(diffs.get(k, 0.0), rel_diff(ra[k], na[k]))
    return diffs


def fmt(diffs: dict[str, float]) -> dict[str, float]:
    return {k: float(f"{v:.2g}") for k, v in sorted(diffs.items(), key=lambda kv: -kv[1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--save", help="write the results to this JSON file")
    ap.add_argument("--compare", help="compare against this JSON file written by --save")
    ap.add_argument("--cells", default=",".join(CELLS), help=f"comma-separated subset of {list(CELLS)}")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--probe-batches", type=int, default=5, help="also record the loss parts of the first N batches")
    args = ap.parse_args()

    import torch

    from mambarec.data import load_dataset

    torch.set_num_threads(args.threads)
    ref = json.loads(Path(args.compare).read_text()) if args.compare else None
    results: dict[str, dict] = {}
    worst_all, failed = 0.0, False
    for ds_name in args.datasets.split(","):
        dataset = load_dataset(ds_name)
        for cell in args.cells.split(","):
            variant, overrides = CELLS[cell]
            key = f"{ds_name}/{cell}"
            res = run_cell(dataset, variant, overrides, args.epochs, args.seed, args.probe_batches)
            results[key] = res
            line = {"cell": key, "s_per_epoch": res["s_per_epoch"]}
            if ref is not None and key in ref:
                diffs = compare(ref[key]["epochs"], res["epochs"])
                ref_batches = ref[key].get("batches", [])
                first = compare(ref_batches[:1], res["batches"][:1])
                batches = compare(ref_batches, res["batches"][: len(ref_batches)])
                worst = max(diffs.values(), default=0.0)
                same_gen = ref[key]["generator"] == res["generator"]
                line.update(max_rel_diff=worst, generator_same=same_gen, ref_s_per_epoch=ref[key]["s_per_epoch"],
                            epochs=fmt(diffs), first_batch=fmt(first), first_batches=fmt(batches))
                worst_all = max(worst_all, worst)
                failed |= worst > args.rtol or not same_gen
            print(json.dumps(line), flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps(results, indent=1))
    if ref is not None:
        print(json.dumps({"summary": True, "max_rel_diff": worst_all, "rtol": args.rtol, "ok": not failed}))
        sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
