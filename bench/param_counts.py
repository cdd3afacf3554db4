"""Parameter counts per reduction factor r at Amazon Baby's size (or a quarter of it); no training.

    python bench/param_counts.py [--scale baby|quarter] [--variant paper,official] [--r 1,2,4,8,16,32]

Prints one JSON line per (variant, r): ``n_params`` (every parameter), ``trainable`` (those the
optimizer updates: the raw feature tables are fixed in ``paper`` and trained in ``official``),
``features`` (the raw feature tables), ``id_embeddings`` (user and item ID tables) and ``network``
(everything else: reduction, DREAM, projections, gates, fuser), the part r acts on.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_speed import SCALES, make_folder  # noqa: E402


def counts(model) -> dict:
    groups = {"features": 0, "id_embeddings": 0, "network": 0}
    for name, p in model.named_parameters():
        if name.startswith("features."):
            groups["features"] += p.numel()
        elif name.startswith(("user_embedding.", "item_embedding.")):
            groups["id_embeddings"] += p.numel()
        else:
            groups["network"] += p.numel()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"n_params": model.n_parameters(), "trainable": trainable, **groups}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=sorted(SCALES), default="baby")
    ap.add_argument("--variant", default="paper,official", help="comma-separated variants")
    ap.add_argument("--r", default="1,2,4,8,16,32", help="comma-separated reduction factors")
    args = ap.parse_args()

    from mambarec.config import RunConfig, TrainConfig, mambarec_preset
    from mambarec.data.mmrec import load_mmrec_folder
    from mambarec.graphs import build_graphs
    from mambarec.model.zoo import build_model

    with tempfile.TemporaryDirectory() as tmp:
        ds = load_mmrec_folder(make_folder(args.scale, Path(tmp) / f"bench_{args.scale}"))
        graphs = build_graphs(ds, (10,))
        for variant in args.variant.split(","):
            for r in (int(x) for x in args.r.split(",")):
                run = RunConfig(dataset=ds.name, model=mambarec_preset(variant, reduction_factor=r),
                                train=TrainConfig(device="cpu"))
                model = build_model(run, ds, graphs=graphs)
                print(json.dumps({"variant": variant, "r": r, **counts(model)}), flush=True)


if __name__ == "__main__":
    main()
