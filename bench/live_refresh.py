"""What watching a run costs, and how good the Train page's estimate is. Prints numbers, asserts nothing
(docs/style.md, habit 9).

    python bench/live_refresh.py [--dataset ml100k] [--epochs 5] [--repeats 2] [--skip-live] [--skip-estimate]

1. Live-refresh overhead: the same run (``--dataset``, the paper variant with the dataset's default
   schedule, ``--epochs`` epochs, no early stop) trained
   * on the command line (``python -m mambarec train``, one torch thread), and
   * from the app: ``streamlit run`` in a subprocess, Chromium at 1280 x 800 on the Train page with
     the run's link, Train clicked, the page left open (its run card refreshes) until the run is saved.
   Both report the run's mean training seconds per epoch (``metrics.json``: ``s_per_epoch``, evaluation
   excluded); the overhead is live / CLI - 1 of the medians over ``--repeats`` runs of each, taken in
   turn (CLI, live, CLI, live, ...) so that a shared machine's changing load falls on both. Target: <= 10 %.
2. Estimate error: the Train page's estimate (``app.estimate``, in a worker process like a run)
   against the measured mean s/epoch of the same setup trained to early stopping through ``app.jobs``
   on ``synthetic`` and a scenario, ``--repeats`` times each (estimate, run, ...). Target: within 20 %.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.serve import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, streamlit_server  # noqa: E402

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MAMBAREC_TORCH_THREADS": "1"}


def cli_run(dataset: str, params: dict[str, str], out: Path) -> dict:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in params.items() if k not in ("dataset", "model_name")]
    cmd = [sys.executable, "-m", "mambarec", "train", "--dataset", dataset, "--out", str(out), *flags]
    subprocess.run(cmd, cwd=ROOT, env={**os.environ, **ONE_THREAD}, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text())


def live_run(params: dict[str, str], runs: Path, timeout_s: float) -> dict:
    from urllib.parse import urlencode

    from playwright.sync_api import sync_playwright

    env = {**os.environ, **ONE_THREAD, "MAMBAREC_RUNS": str(runs)}
    with streamlit_server(env, keep_output=False) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{server.url}/?{urlencode(params)}")
        page.get_by_role("button", name="Train", exact=True).wait_for(timeout=120_000)
        page.wait_for_timeout(2000)
        page.get_by_role("button", name="Train", exact=True).click()
        page.get_by_text("Saved as run").wait_for(timeout=timeout_s * 1000)
        browser.close()
    [metrics] = [json.loads(p.read_text()) for p in runs.glob("*/metrics.json")]
    return metrics


def overhead(dataset: str, epochs: int, repeats: int) -> None:
    from app.state import default_run
    from mambarec.config import run_to_params

    run = default_run(dataset)
    params = {**run_to_params(run), "epochs": str(epochs), "patience": str(epochs)}  # no early stop
    cli, live = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            t0 = time.perf_counter()
            m = cli_run(dataset, params, Path(tmp) / f"cli{i}")
            cli.append(m["s_per_epoch"])
            wall = time.perf_counter() - t0
            print(f"CLI  : {m['s_per_epoch']:.2f} s/epoch over {m['epochs_run']} epochs ({wall:.0f} s wall, one torch "
                  f"thread; load {os.getloadavg()[0]:.1f})", flush=True)
            t0 = time.perf_counter()
            m = live_run(params, Path(tmp) / f"runs{i}", timeout_s=120 + 30 * epochs * max(cli[-1], 1.0))
            live.append(m["s_per_epoch"])
            wall = time.perf_counter() - t0
            print(f"live : {m['s_per_epoch']:.2f} s/epoch over {m['epochs_run']} epochs ({wall:.0f} s wall, Train page "
                  f"open at 1280 x 800; load {os.getloadavg()[0]:.1f})", flush=True)
    print(f"overhead of watching it live: {statistics.median(live) / statistics.median(cli) - 1:+.1%} "
          f"(medians of {repeats}; target <= +10 %)")


def estimate_error(datasets: list[str], repeats: int) -> None:
    from app import estimate, jobs
    from app.state import default_run
    from mambarec.data import load_dataset

    with tempfile.TemporaryDirectory() as tmp:
        for name in datasets:
            run, ds = default_run(name), load_dataset(name)
            errors = []
            for _ in range(repeats):
                cost = timed(estimate, run, ds)
                job = jobs.wait(jobs.start(run, ds, root=Path(tmp)).id)
                measured = job.result.s_per_epoch
                errors.append(cost.epoch_s / measured - 1)
                how = f"{cost.epochs_timed} epochs" if cost.epochs_timed else f"{cost.timed} batches"
                print(f"{name:28s} estimate {cost.epoch_s:.3f} s/epoch ({how} timed) · run {measured:.3f} s/epoch "
                      f"over {job.result.epochs_run} epochs · error {errors[-1]:+.1%} (load {os.getloadavg()[0]:.1f})",
                      flush=True)
            print(f"{name:28s} median error {statistics.median(errors):+.1%} over {repeats} (target within 20 %)",
                  flush=True)


def timed(estimate, run, ds):
    """The page's estimate of ``run``, measured anew (not the cached one): asked for and waited on."""
    estimate.forget(run)
    estimate.submit(run, ds)
    while estimate.pending(run):
        time.sleep(0.2)
    cost = estimate.lookup(run)
    if isinstance(cost, Exception):
        raise cost
    return cost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="ml100k")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--estimate-datasets", default="synthetic,synthetic/cold-items")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--skip-estimate", action="store_true")
    args = ap.parse_args()
    os.environ.update(ONE_THREAD)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    if not args.skip_estimate:
        estimate_error(args.estimate_datasets.split(","), args.repeats)
    if not args.skip_live:
        overhead(args.dataset, args.epochs, args.repeats)


if __name__ == "__main__":
    main()
