"""Time the evaluator at Amazon Baby's size: masking + ranking + metrics, scores given.

    python bench/eval_speed.py [--users 19445] [--items 7050] [--repeats 3]

Prints one JSON line. Target (issue 2): <= 1.5 s on a 2-core CPU; MMRec's evaluation pass, which
reruns the forward pass per batch of users and loops per user in Python, takes ~6.9 s there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mambarec.metrics import topk_metrics  # noqa: E402


def baby_like(n_users: int, n_items: int, seed: int = 0):
    """Random scores plus train/test matrices with Baby's density (~8.3 items per user)."""
    rng = np.random.default_rng(seed)
    per_user = np.maximum(5, rng.poisson(8.3, n_users))
    rows = np.repeat(np.arange(n_users), per_user)
    cols = rng.integers(0, n_items, len(rows))
    is_test = rng.random(len(rows)) < 0.2
    train = sp.csr_matrix((np.ones((~is_test).sum()), (rows[~is_test], cols[~is_test])), (n_users, n_items))
    test = sp.csr_matrix((np.ones(is_test.sum()), (rows[is_test], cols[is_test])), (n_users, n_items))
    g = torch.Generator().manual_seed(seed)
    u, i = torch.randn(n_users, 64, generator=g), torch.randn(n_items, 64, generator=g)
    return u @ i.t(), train, test


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=19445)
    ap.add_argument("--items", type=int, default=7050)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    scores, train, test = baby_like(args.users, args.items)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = topk_metrics(scores, train, test, ks=(10, 20))
        times.append(time.perf_counter() - t0)
    print(json.dumps({
        "bench": "eval", "users": args.users, "items": args.items, "threads": torch.get_num_threads(),
        "eval_s_best": round(min(times), 3), "eval_s_median": round(float(np.median(times)), 3),
        "Recall@20": round(res["Recall@20"], 5),
    }))


if __name__ == "__main__":
    main()
