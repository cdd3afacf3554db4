"""A classroom in real browsers: 8 sessions open one non-default link at once while two processes keep
both cores busy. Every form must show the link's values (never the widgets' minimum values) and no
session may see "Page not found". A screenshot of each session goes to ``test-artifacts/classroom/``.

Numbers (how long the sessions took) are printed, never asserted (docs/style.md, habit 9); the only
time limit is a generous one on the whole room (``ROOM_S``), so that a hung page fails instead of blocking CI. A
room that runs out of it fails with what every session showed then (and a screenshot of each), so that a CI log
tells a slow machine (every session painting, some late) from a hung session.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from app.serve import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from tests.test_e2e_browser import ARTIFACTS, PAGE_S, server  # noqa: F401

SESSIONS = 8
# Seconds for the whole room, from the first link opened to the last form settled. The 8 Chromiums, the server and
# the 2 burners share the machine's cores, so this is browser time a real room spends on students' devices. On this
# project's 2-core EPYC the forms paint after 22-28 s; pinned to one core (taskset -c 0) after 52-133 s. A CI
# machine once took more than 180 s for the first (stop 58), so the budget is that one-core worst case three times.
ROOM_S = 400
LINK = {"model_name": "mambarec", "variant": "official", "epochs": "7", "seed": "9", "use_mmd": "false",
        "sigma": "1.5", "lambda_cl": "0.02", "patience": "7", "reduction_factor": "4"}
# aria-label of each number box -> the value it must show for LINK (the widget's minimum is what a lost state shows)
EXPECTED = {"Epoch cap": "7", "Seed": "9", "MMD similarity width (σ)": "1.50", "InfoNCE strength (λ_cl)": "0.020",
            "Patience (epochs)": "7"}
BURN = "import time\nend = time.time() + 600\nwhile time.time() < end: pass"


def form_values(page) -> dict[str, str]:
    return page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll('input[type=number]'))
        .map(e => [e.getAttribute('aria-label'), e.value]))""")


def switch_checked(page, label: str) -> bool:
    return page.get_by_role("switch", name=label).first.is_checked()


def settle_room(pages, deadline: float) -> list[float]:
    """Seconds from the links' opening (``deadline - ROOM_S``) until each session's Train page painted its last
    heading; then waits until no session runs and every form's number boxes are there, all before ``deadline``
    (a ``time.perf_counter`` value)."""
    t0 = deadline - ROOM_S

    def left_ms() -> float:
        assert time.perf_counter() < deadline, f"the room was not settled within {ROOM_S} s"
        return (deadline - time.perf_counter()) * 1000

    painted = []
    for page in pages:
        page.get_by_role("heading", name="The server's queue").wait_for(timeout=left_ms())
        painted.append(time.perf_counter() - t0)
    while any(pg.locator('[data-testid="stStatusWidget"]').is_visible() for pg in pages):
        left_ms()
        time.sleep(0.5)
    for page in pages:  # under load a form can still be grey placeholders when its script has finished
        for label in EXPECTED:
            page.locator(f'input[aria-label="{label}"]').first.wait_for(state="attached", timeout=left_ms())
    return painted


def room_state(pages, out) -> str:
    """One line per session (painted or not, still running, connection notice, an exception, the start of its
    main block's text), each with a screenshot ``late_session_<i>.png``: what a failed room looked like."""
    lines = []
    for i, page in enumerate(pages):
        page.screenshot(path=str(out / f"late_session_{i}.png"))
        text = page.evaluate("""() => (document.querySelector('[data-testid="stMain"]') || document.body).innerText""")
        head = " / ".join(" ".join(line.split()) for line in text.splitlines() if line.strip())[:160]
        flags = [name for name, sel in (("painted", "h3:has-text(\"The server's queue\")"),
                                        ("running", '[data-testid="stStatusWidget"]'),
                                        ("connection notice", '[data-testid="stConnectionStatus"]'),
                                        ("exception", '[data-testid="stException"]')) if page.locator(sel).count()]
        lines.append(f"session {i}: {', '.join(flags) or 'nothing drawn'}; text: {head!r}")
    return "\n".join(lines)


@pytest.mark.browser
@pytest.mark.slow
def test_eight_sessions_open_one_link_on_a_loaded_machine(server):  # noqa: F811
    from urllib.parse import urlencode

    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    url, _ = server
    link = f"{url}/?{urlencode({'dataset': 'tiny', **LINK})}"
    out = ARTIFACTS / "classroom"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("late_session_*.png"):  # a failed room's screenshots: not this run's
        old.unlink()
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(2)]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = [browser.new_context(viewport=VIEWPORT).new_page() for _ in range(SESSIONS)]
            t0 = time.perf_counter()
            for page in pages:  # all at once: nobody waits for the previous student
                page.goto(link, wait_until="commit")
            try:
                painted = settle_room(pages, t0 + ROOM_S)
            except (AssertionError, PlaywrightTimeout) as exc:
                late = time.perf_counter() - t0
                pytest.fail(f"{str(exc).splitlines()[0]}; the room after {late:.0f} s:\n{room_state(pages, out)}")
            print(f"\n{SESSIONS} sessions under load: form painted after "
                  f"{', '.join(f'{s:.1f}' for s in painted)} s; all settled after {time.perf_counter() - t0:.1f} s")
            problems = []
            for i, page in enumerate(pages):
                page.screenshot(path=str(out / f"session_{i}.png"))
                if page.get_by_text("Page not found").count():
                    problems.append(f"session {i}: Page not found")
                values = form_values(page)
                wrong = {k: values.get(k) for k, v in EXPECTED.items() if values.get(k) != v}
                if wrong or switch_checked(page, "Match distributions (MMD)"):
                    problems.append(f"session {i}: form shows {wrong or 'MMD on'}")
                if page.locator('[data-testid="stException"]').count():
                    problems.append(f"session {i}: {page.locator('[data-testid=stException]').first.inner_text()}")
            browser.close()
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()
    assert problems == [], problems


@pytest.mark.slow
def test_thirty_stand_in_students_are_served_and_a_missing_page_is_told(server):  # noqa: F811
    """``app/roomload.py`` (what ``app/perf.py --room`` loads the server with): 30 sessions that fetch the page's
    files and run it over Streamlit's websocket each see the landing page's heading and its steps' Open links under it;
    a session on a page the app does not have reports it, and one that asks for an element the page never draws
    reports that, so the benchmark cannot count a failed session as served."""
    import asyncio

    from app import roomload

    url, _ = server
    files = [f"{url}/", f"{url}/favicon.png"]
    served = asyncio.run(roomload.room(url + "/", 30, files, "Lessons", roomload.STEP_LINKS))
    assert [r.problem for r in served] == [""] * 30
    assert all(0 < r.files_s <= r.heading_s <= roomload.REPLY_S and r.shown_s >= r.heading_s for r in served)
    missing = asyncio.run(roomload.room(url + "/no-such-page", 1, files, "Lessons", roomload.STEP_LINKS))
    assert missing[0].problem == "page not found"
    undrawn = asyncio.run(roomload.room(url + "/", 1, files, "Lessons", '[data-testid="stDataFrame"]'))
    assert undrawn[0].problem == "the run ended without its dataframe"
    print("30 stand-ins: slowest page shown", f"{max(r.shown_s for r in served):.2f} s")
