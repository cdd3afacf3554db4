"""What a room's sessions leave in the app's server: its memory as sessions open one after another.

    python bench/server_memory.py [--sessions 24] [--arenas default,2] [--path /compare?... | --lesson-steps]

For each ``--arenas`` setting it starts the app (saved runs in an empty temporary folder; ``2`` starts the server
with ``MALLOC_ARENA_MAX=2``), then opens ``--path`` in ``--sessions`` browser sessions one after another, in
Debian's Chromium at 1280 x 800 (``--lesson-steps``: every lesson step in turn, as a lecture's room opens them),
each closed once its page has drawn and settled, and prints the server's resident
memory with its workers (``app.serve.memory_mb``) after the first session and after each fourth. Asserts nothing.

What it showed (README, "Classroom mode"): Python's objects do not grow with the sessions, and Streamlit drops a
closed session 120 s later (``server.disconnectedSessionTTL``), yet the server's memory rose by ~2-4 MB a session
under glibc's defaults and stayed flat with two malloc arenas: Streamlit runs each script run on a new thread,
and glibc gives threads arenas of their own (up to eight per core), each keeping its high-water mark.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the repository's packages

from app.lessons_content import LESSONS, step_url  # noqa: E402
from app.serve import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    idle,  # noqa: E402
    memory_mb,
    streamlit_server,
)

# A heavy lesson step (a results table and a learning-curve chart), as in app/perf.py's concurrent sessions
DEFAULT_PATH = "/compare?dataset=synthetic&cells=paper,no_alignment,bpr&tab=Learning+curves"
DRAWN = '[data-testid="stDataFrame"], [data-testid="stPlotlyChart"], [data-testid="stMarkdown"]'
REPORT_EVERY = 4
PAGE_TIMEOUT_MS = 120_000


def one_server(arenas: str, sessions: int, paths: list[str], browser) -> None:
    with tempfile.TemporaryDirectory(prefix="mambarec-memory-runs-") as runs:
        env = dict(os.environ, MAMBAREC_RUNS=runs)
        env.pop("MALLOC_ARENA_MAX", None)
        if arenas != "default":
            env["MALLOC_ARENA_MAX"] = arenas
        with streamlit_server(env, keep_output=False) as srv:
            print(f"arenas {arenas}: at start {memory_mb(srv.proc.pid):.0f} MB", flush=True)
            t0 = time.perf_counter()
            for i in range(1, sessions + 1):
                context = browser.new_context(viewport=VIEWPORT)
                page = context.new_page()
                page.goto(srv.url + paths[(i - 1) % len(paths)])
                page.wait_for_selector(DRAWN, timeout=PAGE_TIMEOUT_MS)
                idle(page)
                context.close()
                if i == 1 or i % REPORT_EVERY == 0:
                    print(f"arenas {arenas}: after {i:3d} sessions {memory_mb(srv.proc.pid):6.0f} MB"
                          f"  ({time.perf_counter() - t0:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=24, help="sessions opened one after another (default 24)")
    parser.add_argument("--arenas", default="default,2",
                        help="comma-separated MALLOC_ARENA_MAX values to start the server with ('default': unset)")
    parser.add_argument("--path", default=DEFAULT_PATH, help="the page each session opens")
    parser.add_argument("--lesson-steps", action="store_true",
                        help="sessions open every lesson step in turn instead of --path")
    args = parser.parse_args(argv)
    arenas = [a.strip() for a in args.arenas.split(",")]
    wrong = [a for a in arenas if a != "default" and not (a.isdigit() and int(a) > 0)]
    if wrong:
        parser.error(f"--arenas takes 'default' or positive whole numbers, comma-separated: not {', '.join(wrong)}")
    if args.sessions < 1:
        parser.error(f"--sessions must be at least 1 (got {args.sessions})")
    paths = ([step_url("", lesson, i) for lesson in LESSONS for i in range(len(lesson.steps))]
             if args.lesson_steps else [args.path])
    from playwright.sync_api import sync_playwright  # lazy: playwright is a benchmark-only dependency

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for setting in arenas:
                one_server(setting, args.sessions, paths, browser)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
