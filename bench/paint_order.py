"""What a page's first paint waits for in the browser. Prints numbers, asserts nothing (docs/style.md, habit 9).

    python bench/paint_order.py [PATH] [--heading TEXT] [--throttle 6] [--repeats 2]

Opens ``PATH`` of a freshly started app in Chromium (a new browser context each time: nothing cached, as a student's
first visit) with its CPU slowed ``--throttle`` times (Chrome's own CPU throttling: a browser among 8 on 2 cores),
and prints, in milliseconds from the navigation's start, when each file arrived and when Streamlit's frontend shell,
the page's heading and its first chart and table were drawn; the last repeat is printed (the first warms the
server). What it showed (docs/speed.md section 4): the heading is drawn only once the code of every element type
sent with it has arrived (a slider's, a number box's, a table's), so each element type on a page's first screen is
a round of fetches before anything of the page is seen; elements inside a closed pop-up or a lazily drawn box are
not sent, and cost nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.serve import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, streamlit_server  # noqa: E402

# What the page draws, as CSS selectors, named as the report names them
DRAWN = {"frontend shell": '[data-testid="stAppViewContainer"]', "heading": "h1",
         "a chart": '[data-testid="stPlotlyChart"]', "a table": '[data-testid="stDataFrame"]'}
# Records when each of DRAWN first appears (ms from the navigation's start), from before the page's own scripts run
WATCH = """(drawn) => { window.__drawn = {};
  new MutationObserver(() => { for (const [name, sel] of Object.entries(drawn)) {
    if (!(name in window.__drawn) && document.querySelector(sel)) window.__drawn[name] = performance.now(); } })
  .observe(document, {subtree: true, childList: true}); }"""
FILES = "performance.getEntriesByType('resource').map(e => [e.startTime, e.responseEnd, e.name.split('/').pop()])"
SETTLE_MS = 4000  # after the heading: the files the page asks for once drawn


def timeline(browser, url: str, heading: str, throttle: float) -> list[tuple[float, str]]:
    """(ms, what) of one visit, in order: each file as it arrived, and each of DRAWN as it was drawn."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        page.add_init_script(script=f"({WATCH})({json.dumps(DRAWN)})")
        page.goto(url)
        page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=120_000)
        page.wait_for_timeout(SETTLE_MS)
        drawn = page.evaluate("window.__drawn")
        files = page.evaluate(FILES)
    finally:
        context.close()
    events = [(ms, f"DRAWN {name}") for name, ms in drawn.items()]
    events += [(end, f"{name[:48]}  (asked at {start:.0f})") for start, end, name in files]
    return sorted(events)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", nargs="?", default="/", help="the page's path and query (default: the landing page)")
    parser.add_argument("--heading", default="Lessons", help="the page's heading, which means painted")
    parser.add_argument("--throttle", type=float, default=6.0, help="CPU slow-down of the browser (default 6)")
    parser.add_argument("--repeats", type=int, default=2, help="visits, each a new context (default 2)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.throttle < 1:
        parser.error("--repeats and --throttle must be at least 1")
    from playwright.sync_api import sync_playwright  # lazy: playwright is a benchmark-only dependency

    with tempfile.TemporaryDirectory(prefix="mambarec-paint-runs-") as runs:
        with streamlit_server(dict(os.environ, MAMBAREC_RUNS=runs), keep_output=False) as srv, \
                sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(args.repeats):
                events = timeline(browser, srv.url + args.path, args.heading, args.throttle)
            browser.close()
    print(f"{args.path} with the browser's CPU slowed {args.throttle:g}x (ms from the navigation's start):")
    for ms, what in events:
        print(f"{ms:8.0f}  {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
