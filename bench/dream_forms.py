"""DREAM's branch convolutions as the whole conv matrix against its blocks, one call forward and backward.

    python bench/dream_forms.py [--shape 10,4,4] [--items 1349] [--threads 1] [--pairs 20]

Builds two `paper` DREAM blocks with the same weights on a C x H x W map, one applying the branch convolutions'
matrix whole (one product) and one block by block (``mambarec/model/dream.py``, ``DENSE_CONV_MATRIX_MAX_MACS``),
and times them in alternating pairs in one process, so that the machine's slow and fast moments fall on both.
Prints one JSON line: each form's median milliseconds and the paired ratio whole / blocks with its 95% interval
(``stats.paired_ratio``). Defaults: ml100k's map at r = 8 (1,349 items, 10 x 4 x 4). Prints numbers, asserts nothing.
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
from mambarec import heap, stats  # noqa: E402
from mambarec.config import mambarec_preset  # noqa: E402
from mambarec.model import dream  # noqa: E402
from mambarec.model.dream_kernels import ConvMatrix  # noqa: E402


def build(shape: tuple[int, int, int], whole: bool) -> dream.Dream:
    """A `paper` DREAM block on ``shape`` whose conv matrix is applied whole or by blocks (seed 0's weights)."""
    torch.manual_seed(0)
    block = dream.Dream(shape, mambarec_preset("paper"))
    if block.conv_matrix is None:
        raise SystemExit(f"a {shape} map keeps its convolutions (above CONV_MATRIX_MAX_MACS): nothing to compare")
    block.conv_matrix = ConvMatrix(*shape, block.conv_specs(), dense=whole)  # the form, whatever the size limit
    return block


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", default="10,4,4", help="C,H,W of the map [10,4,4: ml100k at r = 8]")
    p.add_argument("--items", type=int, default=1349, help="items per call [1349: ml100k]")
    p.add_argument("--threads", type=int, default=1, help="torch threads [1]")
    p.add_argument("--pairs", type=int, default=20, help="alternating pairs of calls timed [20]")
    args = p.parse_args()
    try:
        shape = tuple(int(v) for v in args.shape.split(","))
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError
    except ValueError:
        raise SystemExit(f"--shape takes C,H,W, three positive integers such as 10,4,4; got {args.shape!r}") from None
    torch.set_num_threads(args.threads)
    heap.retain_freed_memory()  # as in training (mambarec/heap.py)
    forms = {"whole": build(shape, True), "blocks": build(shape, False)}
    x = torch.randn(args.items, shape[0] * shape[1] * shape[2], generator=torch.Generator().manual_seed(1),
                    requires_grad=True)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))

    def call(name: str) -> float:
        start = time.perf_counter()
        forms[name](x).backward(grad)
        return time.perf_counter() - start

    for name in forms:  # warm-up
        call(name), call(name)
    times = {name: {} for name in forms}
    for i in range(args.pairs):
        for name in (("whole", "blocks") if i % 2 == 0 else ("blocks", "whole")):
            times[name][i] = call(name)
    ratio = stats.paired_ratio(times["whole"], times["blocks"])
    print(json.dumps({"shape": list(shape), "items": args.items, "threads": args.threads, "pairs": args.pairs,
                      **{f"{name}_ms": round(1000 * statistics.median(t.values()), 2) for name, t in times.items()},
                      "whole_over_blocks": round(1 + ratio.mean / 100, 3),
                      "ci95": [round(1 + ratio.low / 100, 3), round(1 + ratio.high / 100, 3)]}))


if __name__ == "__main__":
    main()
