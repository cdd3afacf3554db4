"""What the graphs' 32-bit CSR indices save (``graphs.csr_index_dtype``; docs/speed.md section 1).

    python bench/graph_indices.py [--rounds 30] [--calls 50] [--threads 1] [--epoch-pairs 0]

torch multiplies a CPU CSR matrix in MKL's 32-bit-index interface and converts 64-bit indices on every call.
On ml100k's graphs (the user-item graph, R and R^T, a visual k-NN graph) this times ``A @ X`` (64 columns) with
the same matrix stored both ways, ``--calls`` products a round, in ``--rounds`` rounds whose order swaps from round
to round, and prints one JSON line per graph: each form's median milliseconds a product and the paired ratio
int32 / int64 with its 95% interval (``stats.paired_ratio``). With ``--epoch-pairs N`` it also trains ``mgcn``
(seed 0) for N pairs of epochs, alternating the two forms of every graph the model holds, and prints the epochs'
ratio. The two forms give the same bits, so the run is one training trajectory either way. Prints numbers,
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mambarec import stats  # noqa: E402
from mambarec.config import make_run  # noqa: E402
from mambarec.data import load_dataset  # noqa: E402
from mambarec.graphs import ConstantSparse, knn_graph, normalized_bipartite, to_torch_csr  # noqa: E402
from mambarec.train import Trainer  # noqa: E402

COLUMNS = 64  # d, the embedding width the propagations multiply


def widened(a: torch.Tensor) -> torch.Tensor:
    """The same CSR matrix with 64-bit indices (the form before ``csr_index_dtype``)."""
    return torch.sparse_csr_tensor(a.crow_indices().long(), a.col_indices().long(), a.values(), size=a.shape,
                                   check_invariants=True)


def widened_pair(g: ConstantSparse) -> tuple[torch.Tensor, torch.Tensor]:
    """``g``'s (A, A^T) with 64-bit indices; a symmetric graph keeps one tensor for both, as ``ConstantSparse`` does."""
    a = widened(g.a)
    return a, (a if g.a_t is g.a else widened(g.a_t))


def report(name: str, times: dict[str, dict[int, float]], unit: str, **extra) -> None:
    ratio = stats.paired_ratio(times["int32"], times["int64"])
    print(json.dumps({"what": name, **extra, "pairs": len(times["int32"]),
                      **{f"{form}_{unit}": round(statistics.median(t.values()), 4) for form, t in times.items()},
                      "int32_over_int64": round(1 + ratio.mean / 100, 3),
                      "ci95": [round(1 + ratio.low / 100, 3), round(1 + ratio.high / 100, 3)]}), flush=True)


def products(graphs: dict, rounds: int, calls: int) -> None:
    for name, m in graphs.items():
        narrow = to_torch_csr(m)
        forms = {"int32": narrow, "int64": widened(narrow)}
        x = torch.randn(m.shape[1], COLUMNS, generator=torch.Generator().manual_seed(0))
        times = {"int32": {}, "int64": {}}
        for r in range(rounds):
            for form in ("int32", "int64") if r % 2 == 0 else ("int64", "int32"):
                a = forms[form]
                a @ x  # noqa: B018  (the first call of a round warms its caches)
                start = time.perf_counter()
                for _ in range(calls):
                    a @ x  # noqa: B018
                times[form][r] = (time.perf_counter() - start) / calls * 1e3
        report(name, times, "ms", entries=m.nnz)


def epochs(dataset, pairs: int) -> None:
    run = make_run("ml100k", "mgcn", None, {}, {"epochs": 2 * pairs + 1, "seed": 0, "schedule": "paper"})[0]
    trainer = Trainer.for_run(run, dataset)
    held = [g for g in (trainer.model.graphs.norm_adj, trainer.model.graphs.r, *trainer.model.item_graphs.values())
            if isinstance(g, ConstantSparse)]
    forms = {"int32": [(g.a, g.a_t) for g in held], "int64": [widened_pair(g) for g in held]}
    trainer.train_epoch(lambda: False)  # a warm-up epoch, in no pair
    times = {"int32": {}, "int64": {}}
    for pair in range(pairs):
        for form in ("int32", "int64") if pair % 2 == 0 else ("int64", "int32"):
            for g, (a, a_t) in zip(held, forms[form], strict=True):
                g.a, g.a_t = a, a_t
            start = time.perf_counter()
            trainer.train_epoch(lambda: False)
            times[form][pair] = time.perf_counter() - start
    for g, (a, a_t) in zip(held, forms["int32"], strict=True):
        g.a, g.a_t = a, a_t
    report("mgcn epoch", times, "s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=30, help="alternating rounds per graph [30]")
    p.add_argument("--calls", type=int, default=50, help="products timed per round [50]")
    p.add_argument("--threads", type=int, default=1, help="torch threads [1]")
    p.add_argument("--epoch-pairs", type=int, default=0, help="pairs of mgcn epochs, one of each form [0: none]")
    args = p.parse_args()
    if args.rounds < 2 or args.calls < 1 or args.epoch_pairs < 0 or args.epoch_pairs == 1:
        raise SystemExit("--rounds needs at least 2, --calls at least 1, --epoch-pairs 0 or at least 2 (an interval "
                         "needs two pairs)")
    torch.set_num_threads(args.threads)
    dataset = load_dataset("ml100k")
    norm, r = normalized_bipartite(dataset.matrix("train"))
    graphs = {"user-item graph": norm, "R": r, "R^T": r.T.tocsr(),
              "visual k-NN (k = 10)": knn_graph(dataset.visual, 10)}
    products(graphs, args.rounds, args.calls)
    if args.epoch_pairs:
        epochs(dataset, args.epoch_pairs)


if __name__ == "__main__":
    main()
