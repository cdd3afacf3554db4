"""Timings of the app as a user meets them: prints numbers, asserts nothing (docs/style.md, habit 9).

    python app/perf.py [--precomputed DIR] [--port N] [--skip-live-run]

Starts ``streamlit run streamlit_app.py`` in a subprocess (runs go to a temporary folder) and
drives Debian's Chromium with Playwright:
* first paint: from the server answering to the Compare page showing the precomputed results
  table, and to the Train page being drawn (targets: <= 3 s);
* page switch: sidebar link click to the next page drawn, median over a round of the pages
  (target: <= 1 s);
* default live run: Train pressed with the default setup on the built-in dataset until the run is
  saved (target: <= 60 s).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
TARGETS = {"first paint": 3.0, "page switch": 1.0, "default live run": 60.0}
SWITCHES = (("Compare runs", "Compare runs"), ("About", "About MambaRec"), ("Train & ablate", "Train & ablate"),
            ("Compare runs", "Compare runs"), ("Train & ablate", "Train & ablate"), ("About", "About MambaRec"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                if r.read().strip() == b"ok":
                    return time.perf_counter() - t0
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"streamlit did not answer within {timeout} s")


def idle(page, timeout_s: float = 120.0) -> None:
    """Until the script run is over: the 'running' indicator stays hidden for a moment."""
    running = page.locator('[data-testid="stStatusWidget"]')
    deadline = time.perf_counter() + timeout_s
    quiet = 0
    while quiet < 2 and time.perf_counter() < deadline:
        page.wait_for_timeout(50)
        quiet = quiet + 1 if not running.is_visible() else 0


def report(name: str, seconds: float, extra: str = "") -> None:
    target = TARGETS.get(name.split(":")[0])
    verdict = "" if target is None else f"  (target <= {target:g} s: {'ok' if seconds <= target else 'OVER'})"
    print(f"{name:<40} {seconds:7.2f} s{verdict}{extra}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precomputed", default=None, help="precomputed folder (default: the repository's)")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--skip-live-run", action="store_true")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    runs = tempfile.mkdtemp(prefix="mambarec-perf-runs-")
    env = dict(os.environ, MAMBAREC_RUNS=runs)
    if args.precomputed:
        env["MAMBAREC_PRECOMPUTED"] = str(Path(args.precomputed).resolve())
    port = args.port or free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
           "--server.port", str(port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t_start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            report("server up (process start to health ok)", wait_healthy(port, proc))
            url = f"http://127.0.0.1:{port}"

            t0 = time.perf_counter()
            page.goto(f"{url}/compare")
            page.get_by_role("heading", name="Compare runs").wait_for(timeout=60_000)
            report("first paint: Compare page drawn", time.perf_counter() - t0)
            page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
            pre = page.get_by_text("no precomputed results yet").count() == 0
            report("first paint: precomputed results table", time.perf_counter() - t0,
                   "" if pre else "  [no precomputed results: run `python -m mambarec precompute`]")
            idle(page)

            second = browser.new_page(viewport={"width": 1400, "height": 1000})
            t0 = time.perf_counter()
            second.goto(f"{url}/compare")
            second.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
            report("results table, 2nd session (warm caches)", time.perf_counter() - t0)
            second.close()

            t0 = time.perf_counter()
            page.goto(url)
            page.get_by_role("heading", name="Runs of this session").wait_for(timeout=60_000)
            report("first paint: Train page (new session)", time.perf_counter() - t0)
            idle(page)

            times = []
            for link, heading in SWITCHES:
                t0 = time.perf_counter()
                page.get_by_role("link", name=link).first.click()
                page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
                idle(page)
                times.append(time.perf_counter() - t0)
            report("page switch: median", statistics.median(times),
                   f"  (each: {', '.join(f'{t:.2f}' for t in times)})")

            if not args.skip_live_run:
                page.get_by_role("link", name="Train & ablate").first.click()
                page.get_by_role("heading", name="Runs of this session").wait_for(timeout=60_000)
                idle(page)
                t0 = time.perf_counter()
                page.get_by_role("button", name="Train", exact=True).click()
                page.get_by_text("Saved as run").wait_for(timeout=600_000)
                report("default live run: synthetic, 20 epochs", time.perf_counter() - t0)
            print(f"(total {time.perf_counter() - t_start:.1f} s; runs written to {runs})")
        finally:
            browser.close()
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
