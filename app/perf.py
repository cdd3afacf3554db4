"""Timings of the app as a user meets them: prints numbers, asserts nothing (docs/style.md, habit 9).

    python app/perf.py [--precomputed DIR] [--port N] [--sessions 8] [--room 8 30] [--live-run]
    python app/perf.py --against CHECKOUT [--rounds 6] [--sessions 8] [--room 30]

Starts ``streamlit run streamlit_app.py`` in a subprocess (saved runs go to an empty temporary
folder) and drives Debian's Chromium with Playwright, at a projector's 1280 x 800:
* first paint: from ``goto`` of the root URL to the default page's heading (the Lessons page), on a
  server that has just started (cold) and again in a second session (warm); target <= 3 s on an
  idle machine. Also the Compare page's results table from a fresh session, which must not wait for
  the stale-check of precomputed/ (it runs in the background), and a lesson step opened from a slide;
* page switch: a sidebar link clicked to the next page's heading drawn and its script run over,
  median over a round of the pages (target <= 1 s);
* concurrent sessions: N browser pages (each its own browser context, like N students' browsers) open
  the same URL at the same moment, first the root URL (the landing page, Lessons), then a heavy lesson
  step (Compare's learning curves, a results table and a chart); each must paint its heading within
  10 s, and none may show an exception or "Page not found". One session opens the URL first, as the
  lecturer does before the class, so the page's imports and caches are warm. The N browsers run on this
  machine beside the server: the browsers' own boot ("frontend shell") is printed apart from the server's CPU;
* the floor of that measurement: the same N sessions against a four-line Streamlit app (a title, a link as text
  and an Open link, nothing of ours), so that what is Streamlit's and the N browsers' share of the 10 s, and what
  is the app's, can be told apart (``--no-floor`` skips it);
* a room (``--room 8 30``): the same two pages opened by N sessions at once, where one is a real browser page
  and N - 1 are stand-ins (``app/roomload.py``) that fetch the page's files and run it over the websocket as a
  browser does, drawing nothing: in a classroom each browser starts and draws on a student's own device, so this
  is the server's part of the 10 s (and, for the one real page, the drawing beside it on this machine);
* with ``--live-run``: Train pressed with the default setup until the run is saved;
* the server's resident memory, its workers included, after each of these (``serve.memory_mb``).

With ``--against CHECKOUT`` it only compares: the concurrent sessions (and rooms) on this checkout and on another
one of the app (a worktree at an older commit), both served at once, in alternating order round by round, and the
difference paired by round with its 95% interval (docs/speed.md section 4 has the A/B figures it gives).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script (python app/perf.py): the repository's packages

from app import roomload  # noqa: E402
from app.serve import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, idle, memory_mb, proc_stat, streamlit_server  # noqa: E402
from mambarec import stats  # noqa: E402

TARGETS = {"first paint: Lessons": 3.0, "page switch": 1.0, "concurrent: 8 sessions": 10.0, "room: 8 sessions": 10.0}
SWITCHES = (("Compare runs", "Compare runs"), ("Embeddings", "Embeddings before and after alignment"),
            ("About", "About MambaRec"), ("Lessons", "Lessons"), ("DREAM inspector", "DREAM inspector"),
            ("Compare runs", "Compare runs"), ("Users", "Users"), ("Lessons", "Lessons"))
STEP_PATH = "/embeddings?dataset=ml100k&after=paper&before=initialized&seed=0&lines=80&step=alignment.1"
# What N students open at once: (name, path, heading that means "painted", an element the page must then show)
CONCURRENT = (("landing page", "/", "Lessons", roomload.STEP_LINKS),
              ("lesson step", "/compare?dataset=synthetic&cells=paper,no_alignment,bpr&tab=Learning+curves",
               "Compare runs", '[data-testid="stDataFrame"]'))


def report(name: str, seconds: float, extra: str = "") -> None:
    target = next((t for key, t in TARGETS.items() if name.startswith(key)), None)
    verdict = "" if target is None else f"  (target <= {target:g} s: {'ok' if seconds <= target else 'OVER'})"
    print(f"{name:<52} {seconds:7.2f} s{verdict}{extra}", flush=True)


def report_memory(phase: str, pid: int) -> None:
    """The server's resident memory (with its workers) after ``phase``: what a room costs the lecturer's machine."""
    print(f"{'server memory: ' + phase:<52} {memory_mb(pid):7.0f} MB", flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), to tell the server's work from the browsers'."""
    try:
        fields = proc_stat(pid)
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def heading(page, name: str):
    return page.get_by_role("heading", name=name, exact=True).first


def first_paints(browser, url: str) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    t0 = time.perf_counter()
    page.goto(url)
    heading(page, "Lessons").wait_for(timeout=60_000)
    report("first paint: Lessons (default page), cold server", time.perf_counter() - t0)
    idle(page)
    second = browser.new_page(viewport=VIEWPORT)
    t0 = time.perf_counter()
    second.goto(url)
    heading(second, "Lessons").wait_for(timeout=60_000)
    report("first paint: Lessons, 2nd session (warm)", time.perf_counter() - t0)
    second.close()
    third = browser.new_page(viewport=VIEWPORT)
    t0 = time.perf_counter()
    third.goto(f"{url}/compare?dataset=synthetic")
    third.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
    report("first paint: Compare's results table, new session", time.perf_counter() - t0)
    third.close()
    fourth = browser.new_page(viewport=VIEWPORT)
    t0 = time.perf_counter()
    fourth.goto(f"{url}{STEP_PATH}")
    fourth.locator('[data-testid="stPlotlyChart"]').nth(1).wait_for(timeout=120_000)
    report("first paint: a lesson step from a slide (ml100k maps)", time.perf_counter() - t0)
    fourth.close()
    page.close()


def page_switches(browser, url: str) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    heading(page, "Lessons").wait_for(timeout=60_000)
    idle(page)
    times, names = [], []
    for rounds in range(2):  # the first round may still import a page's libraries; the second is the steady state
        for link, title in SWITCHES:
            t0 = time.perf_counter()
            page.get_by_role("link", name=link, exact=True).first.click()
            heading(page, title).wait_for(timeout=120_000)
            idle(page)
            if rounds:
                times.append(time.perf_counter() - t0)
                names.append(link)
    report("page switch: median (second round)", statistics.median(times),
           "  (" + ", ".join(f"{n} {t:.2f}" for n, t in zip(names, times, strict=True)) + ")")
    report("page switch: slowest (second round)", max(times))
    page.close()


async def _one_session(browser, url: str, heading_name: str, shown: str) -> tuple[float, float, str]:
    """(seconds to the heading, seconds to Streamlit's frontend shell, problem): the shell is drawn by the
    browser alone, before the server has sent anything, so it tells the browsers' share from the server's."""
    page = await browser.new_page(viewport=VIEWPORT)
    t0 = time.perf_counter()
    shell = float("nan")
    try:
        await page.goto(url)
        await page.locator('[data-testid="stAppViewContainer"]').first.wait_for(timeout=60_000)
        shell = time.perf_counter() - t0
        await page.get_by_role("heading", name=heading_name, exact=True).first.wait_for(timeout=60_000)
        painted = time.perf_counter() - t0
        await page.locator(shown).first.wait_for(timeout=60_000)
        errors = await page.locator('[data-testid="stException"]').count()
        missing = await page.get_by_text("Page not found").count()
        problem = "exception" if errors else ("page not found" if missing else "")
        return painted, shell, problem
    except Exception as exc:  # noqa: BLE001  (a benchmark reports, it does not stop)
        return time.perf_counter() - t0, shell, f"failed: {exc}"
    finally:
        await page.close()


async def _concurrent(url: str, sessions: int, heading_name: str, shown: str) -> list[tuple[float, float, str]]:
    from playwright.async_api import async_playwright  # lazy: playwright is a benchmark-only dependency

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            return await asyncio.gather(*(_one_session(browser, url, heading_name, shown) for _ in range(sessions)))
        finally:
            await browser.close()


def concurrent(url: str, sessions: int, server_pid: int) -> None:
    for name, path, heading_name, shown in CONCURRENT:
        asyncio.run(_concurrent(url + path, 1, heading_name, shown))  # the page's imports and caches, once
        cpu = cpu_seconds(server_pid)
        found = asyncio.run(_concurrent(url + path, sessions, heading_name, shown))
        times = [t for t, _, _ in found]
        problems = [f"session {i}: {p}" for i, (_, _, p) in enumerate(found) if p]
        report(f"concurrent: {sessions} sessions, {name}, slowest paint", max(times),
               "  (each: " + ", ".join(f"{t:.1f}" for t in times) + ")")
        report(f"concurrent: {name}, slowest frontend shell", max(s for _, s, _ in found),
               "  (the browsers' own boot, before any server message: their share of the paint)")
        report(f"concurrent: {name}, server CPU", cpu_seconds(server_pid) - cpu,
               "  (the server's share; the browsers ran on this machine too)")
        print(f"{'concurrent: ' + name + ', sessions with an error':<52} {len(problems):7d}"
              + (f"  {problems}" if problems else ""), flush=True)


async def _room(url: str, sessions: int, heading_name: str, shown: str) -> tuple[list, tuple[float, float, str]]:
    """``sessions`` at once: one real browser page beside ``sessions - 1`` stand-ins (``app.roomload``) that put a
    browser's work on the server (its files, its websocket) and draw nothing, as students' own devices would."""
    from playwright.async_api import async_playwright  # lazy: playwright is a benchmark-only dependency

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            files = await roomload.page_files(browser, url)  # also the lecturer's first visit: imports, caches
            return await asyncio.gather(roomload.room(url, sessions - 1, files, heading_name, shown),
                                        _one_session(browser, url, heading_name, shown))
        finally:
            await browser.close()


def slowest(seconds) -> float:
    """The largest of ``seconds``, NaN when any is NaN (a session that never showed its page is not fast)."""
    seconds = list(seconds)
    return float("nan") if not seconds or any(math.isnan(s) for s in seconds) else max(seconds)


def room(url: str, sizes: list[int], server_pid: int) -> None:
    """The classroom case: each student's browser on its own device, the server's 2 cores for the server."""
    for size in sizes:
        if size < 2:
            print(f"room: {size} session(s) is no room (one real browser and at least one stand-in): skipped")
            continue
        for name, path, heading_name, shown in CONCURRENT:
            cpu = cpu_seconds(server_pid)
            students, (painted, _, problem) = asyncio.run(_room(url + path, size, heading_name, shown))
            problems = [f"stand-in {i}: {r.problem}" for i, r in enumerate(students) if r.problem]
            problems += [f"browser: {problem}"] if problem else []
            report(f"room: {size} sessions, {name}, slowest page shown", slowest(r.shown_s for r in students),
                   f"  ({size - 1} stand-ins: files in {slowest(r.files_s for r in students):.1f} s, heading in "
                   f"{slowest(r.heading_s for r in students):.1f} s at the latest)")
            report(f"room: {size} sessions, {name}, the real browser's paint", painted,
                   "  (drawn on this machine, beside the server)")
            report(f"room: server CPU, {size} sessions, {name}", cpu_seconds(server_pid) - cpu)
            print(f"{'room: ' + name + ', sessions with an error':<52} {len(problems):7d}"
                  + (f"  {problems}" if problems else ""), flush=True)


# What the floor serves: the landing page's heading and one lesson step's link as text and as an Open link (to a page
# of the web: a one-file app has no other page), and nothing else.
FLOOR_APP = ('import streamlit as st\nst.title("Lessons")\nst.markdown("`/embeddings?dataset=ml100k`")\n'
             'st.page_link("https://example.org/", label="Open")\n')


def floor(sessions: int, env: dict, port: int | None) -> None:
    with tempfile.TemporaryDirectory(prefix="mambarec-perf-floor-") as folder:
        script = Path(folder) / "floor_app.py"
        script.write_text(FLOOR_APP)
        with streamlit_server(env, port=port, keep_output=False, script=str(script)) as srv:
            asyncio.run(_concurrent(srv.url, 1, "Lessons", roomload.STEP_LINKS))  # as for the app: warm once
            found = asyncio.run(_concurrent(srv.url, sessions, "Lessons", roomload.STEP_LINKS))
    report(f"floor: {sessions} sessions, a 4-line Streamlit app, slowest paint", max(t for t, _, _ in found),
           "  (each: " + ", ".join(f"{t:.1f}" for t, _, _ in found) + "; the same browsers and server, no app code)")


def against(other: Path, rounds: int, sessions: int, rooms: list[int], env: dict) -> None:
    """This checkout against ``other`` (another checkout of the app: a worktree at an older commit), both served at
    once and measured in turn, the order swapped every round: ``sessions`` real browser pages opening each page of
    CONCURRENT, and each room of ``rooms``. Prints each round's slowest paint and server CPU, then per measurement
    the medians and this checkout minus the other, paired by round, with its 95% t-interval: on a machine whose
    speed drifts by a second between runs, one run of each tells nothing."""
    found: dict[tuple[str, str], dict[int, float]] = {}
    with streamlit_server(env, keep_output=False) as this, streamlit_server(env, keep_output=False, root=other) as that:
        servers = (("this", this), ("other", that))
        for _, srv in servers:  # the lecturer's first visit of each page: imports and caches
            for _, path, heading_name, shown in CONCURRENT:
                asyncio.run(_concurrent(srv.url + path, 1, heading_name, shown))
        for turn in range(rounds):
            for who, srv in servers if turn % 2 == 0 else servers[::-1]:
                for name, path, heading_name, shown in CONCURRENT:
                    url = srv.url + path
                    for size in (0, *(n for n in rooms if n >= 2)):  # 0: the real browser pages
                        what = f"room of {size}, {name}" if size else f"{sessions} browsers, {name}"
                        cpu = cpu_seconds(srv.proc.pid)
                        seconds = (slowest(r.shown_s for r in asyncio.run(_room(url, size, heading_name, shown))[0])
                                   if size else
                                   max(t for t, _, _ in asyncio.run(_concurrent(url, sessions, heading_name, shown))))
                        found.setdefault((what, who), {})[turn] = seconds
                        print(f"round {turn + 1} {who:<5} {what:<36} {seconds:6.2f} s  (server CPU "
                              f"{cpu_seconds(srv.proc.pid) - cpu:.2f} s)", flush=True)
    for what in dict.fromkeys(w for w, _ in found):
        mine, theirs = found[(what, "this")], found[(what, "other")]
        diff = stats.paired_difference(mine, theirs)
        interval = f" [{diff.low:+.2f}, {diff.high:+.2f}]" if diff.has_interval else " (one round: no interval)"
        medians = f"this {statistics.median(mine.values()):.2f} s, the other {statistics.median(theirs.values()):.2f} s"
        print(f"{what}: {medians} (medians); this minus the other, paired by round: {diff.mean:+.2f} s{interval}, "
              f"n {diff.n}")


def live_run(browser, url: str) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(f"{url}/train")
    page.get_by_role("button", name="Train", exact=True).wait_for(timeout=60_000)
    idle(page)
    t0 = time.perf_counter()
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Saved as run").wait_for(timeout=600_000)
    report("default live run: synthetic", time.perf_counter() - t0)
    page.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precomputed", default=None, help="precomputed folder (default: the repository's)")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--sessions", type=int, default=8, help="concurrent sessions (default 8)")
    parser.add_argument("--room", type=int, nargs="*", default=[8, 30], metavar="N",
                        help="room sizes: N sessions at once, one real browser and N - 1 stand-ins that load the "
                        "server as a student's browser does without drawing on this machine (default 8 30; "
                        "none: skip)")
    parser.add_argument("--live-run", action="store_true", help="also time a default live run on the Train page")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the floor: the concurrent sessions against a 4-line Streamlit app")
    parser.add_argument("--against", type=Path, default=None, metavar="CHECKOUT",
                        help="only compare: this checkout against another one of the app (e.g. `git worktree add "
                        "../old <commit>`), both served at once, --sessions browsers and the --room sizes on each "
                        "page, in alternating order for --rounds rounds, with the paired difference's interval")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of --against (default 6)")
    args = parser.parse_args(argv)
    if args.against is not None:
        if not (args.against / "streamlit_app.py").is_file():
            parser.error(f"--against {args.against}: no streamlit_app.py there; give a checkout of this app")
        if args.rounds < 2:
            parser.error("--rounds must be at least 2: a paired interval needs two rounds")
        with tempfile.TemporaryDirectory(prefix="mambarec-perf-runs-") as runs:
            against(args.against.resolve(), args.rounds, args.sessions, args.room, dict(os.environ, MAMBAREC_RUNS=runs))
        return 0
    from playwright.sync_api import sync_playwright  # lazy: playwright is a benchmark-only dependency

    with tempfile.TemporaryDirectory(prefix="mambarec-perf-runs-") as runs:  # saved runs: gone afterwards
        env = dict(os.environ, MAMBAREC_RUNS=runs)
        if args.precomputed:
            env["MAMBAREC_PRECOMPUTED"] = str(Path(args.precomputed).resolve())
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min) at start", flush=True)
        t_start = time.perf_counter()
        with streamlit_server(env, port=args.port, keep_output=False) as srv:
            report("server up (process start to health ok)", srv.start_s)
            report_memory("at start", srv.proc.pid)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    first_paints(browser, srv.url)
                    report_memory("after the first paints", srv.proc.pid)
                    page_switches(browser, srv.url)
                    report_memory("after two rounds of every page", srv.proc.pid)
                    if args.live_run:
                        live_run(browser, srv.url)
                        report_memory("after a live run", srv.proc.pid)
                finally:
                    browser.close()
            if args.sessions:
                concurrent(srv.url, args.sessions, srv.proc.pid)
                report_memory(f"after {args.sessions} sessions at once, twice", srv.proc.pid)
            if args.room:
                room(srv.url, args.room, srv.proc.pid)
                report_memory(f"after rooms of {', '.join(map(str, args.room))}", srv.proc.pid)
        if args.sessions and not args.no_floor:
            floor(args.sessions, env, args.port)
        print(f"(total {time.perf_counter() - t_start:.1f} s; load average {os.getloadavg()[0]:.2f} at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
