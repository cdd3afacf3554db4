"""Every lesson step as a lecturer's room meets it: prints what it finds, asserts nothing.

    python bench/lesson_tour.py [--sessions 4] [--burn 2] [--shots DIR]

Starts the app (saved runs in an empty temporary folder) and, in Debian's Chromium at 1280 x 800, opens
each step's URL first in one session, then in ``--sessions`` sessions at the same moment, while ``--burn``
busy-loop processes hold CPU cores (a loaded machine). In each session it waits for the step's text and then
for the page to settle (no script running, the widgets unchanged for 4 s), and reads what every keyed select
widget shows (select box text, radio choice, multiselect chips). A step is flagged when a concurrent session
shows another value than the lone one (a form that fell back to its defaults), an exception, or "Page not
found". ``--shots`` keeps a screenshot of each lone session. Times include the 4 s of settling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the repository's packages

from app.lessons_content import LESSONS, step_url  # noqa: E402
from app.serve import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, memory_mb, streamlit_server  # noqa: E402

POLL_S = 0.5
STABLE_POLLS = 8  # 4 s with the widgets unchanged and no script running
STEP_TIMEOUT_MS = 180_000
# (key, what it shows) of every keyed element that holds exactly one select widget; the tabs container is keyed
# too but holds several
WIDGETS_JS = """() => Array.from(document.querySelectorAll('[class*="st-key-"]')).filter(e =>
  e.querySelectorAll('[data-testid="stSelectbox"],[data-testid="stRadio"],[data-testid="stMultiSelect"]').length == 1)
  .map(e => [Array.from(e.classList).find(c => c.startsWith('st-key-')),
    Array.from(e.querySelectorAll('input')).map(i => i.type == 'radio' ? (i.checked ? 'x' : '.') : i.value).join('|')
    + ' ' + Array.from(e.querySelectorAll(
        'div[data-rac] > div > [data-testid="stMultiSelectTagsContainer"] [data-tag]'))
      .map(t => t.getAttribute('aria-label')).join(',')])"""


async def settle(page, look: str) -> list:
    await page.get_by_text(look[:40]).first.wait_for(timeout=STEP_TIMEOUT_MS)
    last, same = None, 0
    for _ in range(int(STEP_TIMEOUT_MS / 1000 / POLL_S)):
        await asyncio.sleep(POLL_S)
        now = await page.evaluate(WIDGETS_JS)
        idle = not await page.locator('[data-testid="stStatusWidget"]').count()
        same = same + 1 if now == last and idle else 0
        last = now
        if same >= STABLE_POLLS:
            break
    return last


async def visit(browser, url: str, look: str, shot: Path | None) -> dict:
    page = await browser.new_page(viewport=VIEWPORT)
    start = time.perf_counter()
    await page.goto(url)
    widgets = await settle(page, look)
    out = {"widgets": dict(widgets), "s": time.perf_counter() - start,
           "errors": await page.locator('[data-testid="stException"]').count()
           + await page.get_by_text("Page not found").count()}
    if shot is not None:
        await page.screenshot(path=str(shot))
    await page.close()
    return out


async def tour(base: str, sessions: int, shots: Path | None, server_pid: int) -> int:
    from playwright.async_api import async_playwright

    flagged = 0
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for lesson in LESSONS:
            for i, step in enumerate(lesson.steps):
                url = step_url(base, lesson, i)
                alone = await visit(browser, url, step.look, shots / f"{lesson.id}_{i + 1}.png" if shots else None)
                room = await asyncio.gather(*(visit(browser, url, step.look, None) for _ in range(sessions)))
                wrong = [{k: [alone["widgets"].get(k), r["widgets"].get(k)] for k in alone["widgets"].keys()
                          | r["widgets"].keys() if alone["widgets"].get(k) != r["widgets"].get(k)} for r in room]
                errors = alone["errors"] + sum(r["errors"] for r in room)
                flagged += bool(errors or any(wrong))
                verdict = "same widgets" if not any(wrong) else "DIFFERENT: " + json.dumps([w for w in wrong if w])
                print(f"{lesson.id}.{i + 1} ({step.page}): alone {alone['s']:.1f} s, {sessions} at once slowest "
                      f"{max(r['s'] for r in room):.1f} s, {len(alone['widgets'])} widgets, errors {errors}, {verdict}"
                      f", server memory {memory_mb(server_pid):.0f} MB", flush=True)
        await browser.close()
    return flagged


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=4, help="sessions opening each step at once")
    ap.add_argument("--burn", type=int, default=0, help="busy-loop processes beside the app (a loaded machine)")
    ap.add_argument("--shots", type=Path, default=None, help="a folder for a screenshot of each step")
    args = ap.parse_args(argv)
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.burn)]
    try:
        with tempfile.TemporaryDirectory(prefix="mambarec-tour-") as runs:
            env = dict(os.environ, MAMBAREC_RUNS=runs)
            with streamlit_server(env, keep_output=False) as server:
                flagged = asyncio.run(tour(server.url, args.sessions, args.shots, server.proc.pid))
    finally:
        for b in burners:
            b.kill()
    steps = sum(len(lesson.steps) for lesson in LESSONS)
    print(f"{flagged} of {steps} steps flagged ({args.sessions} sessions at once, {args.burn} busy processes, "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
