"""A room of students as the server sees it: N sessions at once, each fetching the page's files and running the
page over Streamlit's websocket, as a browser does, but drawing nothing.

``app/perf.py`` measures 8 sessions in 8 real browser pages, and on a 2-core machine those browsers share the cores
with the server: their own start-up ("frontend shell") took most of the 10 s before the server had sent anything.
In a classroom each student's browser runs on the student's device. These stand-ins put on the server the same
work, file for file and message for message (the files are those one real browser fetched for the same address),
so what the server takes to answer a room can be read apart from what 8 browsers on its own cores take to start.
"""

from __future__ import annotations

import asyncio
import math
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import websockets  # Streamlit's own dependency: the websocket its pages talk over
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

STREAM = "/_stcore/stream"  # the websocket a Streamlit page talks over
SUBPROTOCOL = "streamlit"
FETCHES_PER_STUDENT = 6  # parallel connections per host, as a browser opens them
ACCEPT = {"Accept-Encoding": "gzip, deflate, br"}  # as a browser asks (Streamlit serves its files uncompressed)
REPLY_S = 120.0  # a session that has not shown its page by then is reported, not waited for
FINISHED = ForwardMsg.FINISHED_SUCCESSFULLY  # a whole script run, not one cut short for a rerun
STEP_LINKS = '[data-testid="stMain"] [data-testid="stPageLink"]'  # the Lessons page's steps: an Open link each
# what the browser tests wait for, by the element type a page's websocket messages carry
SHOWN = {'[data-testid="stCode"]': "code", '[data-testid="stDataFrame"]': "dataframe",
         '[data-testid="stPlotlyChart"]': "plotly_chart",
         STEP_LINKS: "page_link"}


@dataclass(frozen=True)
class Reply:
    """One stand-in session: seconds from its start to its last file, to the page's heading and to the element
    the page must show; ``problem`` is empty, or what went wrong (an exception drawn, no such page, a timeout)."""

    files_s: float
    heading_s: float
    shown_s: float
    problem: str


async def page_files(browser, url: str) -> list[str]:
    """The server's files that one real browser fetches to open ``url`` (an async Playwright ``browser``): the
    page, its scripts, styles and fonts, each once. The websocket and the health checks are the session's."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    seen: list[str] = []

    def note(request) -> None:
        if request.url.startswith(origin) and "/_stcore/" not in request.url and request.url not in seen:
            seen.append(request.url)

    page = await browser.new_page()
    page.on("request", note)
    try:
        await page.goto(url)
        await page.locator('[data-testid="stAppViewContainer"]').first.wait_for(timeout=60_000)
        await page.wait_for_load_state("networkidle", timeout=60_000)
    finally:
        await page.close()
    return seen


def _fetch(url: str) -> int:
    with urllib.request.urlopen(urllib.request.Request(url, headers=ACCEPT), timeout=REPLY_S) as r:
        return len(r.read())


async def _talk(url: str, heading: str, shown: str, t0: float) -> tuple[float, float, str]:
    """Run the page at ``url`` over its websocket; (heading_s, shown_s, problem)."""
    parts = urlsplit(url)
    ws_url = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}{STREAM}"
    heading_s = shown_s = float("nan")
    async with websockets.connect(ws_url, subprotocols=[SUBPROTOCOL], max_size=None) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = parts.query
        msg.rerun_script.page_name = parts.path.strip("/")  # "" is the default page, as at the root URL
        await ws.send(msg.SerializeToString())
        while True:
            forward = ForwardMsg()
            forward.ParseFromString(await ws.recv())
            kind = forward.WhichOneof("type")
            if kind == "page_not_found":
                return heading_s, shown_s, "page not found"
            if kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                element = forward.delta.new_element
                what = element.WhichOneof("type")
                if what == "exception":
                    return heading_s, shown_s, f"exception: {element.exception.message[:80]}"
                if what == "heading" and element.heading.body == heading and math.isnan(heading_s):
                    heading_s = time.perf_counter() - t0
                if what == shown and not math.isnan(heading_s) and math.isnan(shown_s):  # under the heading (the
                    # sidebar's page links come before it)
                    shown_s = time.perf_counter() - t0
            if kind == "script_finished" and forward.script_finished == FINISHED:
                missing = [name for name, s in (("heading", heading_s), (shown, shown_s)) if math.isnan(s)]
                return heading_s, shown_s, f"the run ended without its {' or '.join(missing)}" if missing else ""


async def _student(url: str, files: Sequence[str], heading: str, shown: str, pool: ThreadPoolExecutor) -> Reply:
    t0 = time.perf_counter()
    loop = asyncio.get_running_loop()
    files_s = float("nan")
    try:
        await asyncio.gather(*(loop.run_in_executor(pool, _fetch, f) for f in files))
        files_s = time.perf_counter() - t0
        heading_s, shown_s, problem = await asyncio.wait_for(_talk(url, heading, shown, t0), REPLY_S)
        return Reply(files_s, heading_s, shown_s, problem)
    except Exception as exc:  # noqa: BLE001  (a benchmark reports a failed session, it does not stop)
        return Reply(files_s, float("nan"), float("nan"), f"failed: {type(exc).__name__}: {exc}"[:120])


async def room(url: str, sessions: int, files: Sequence[str], heading: str, shown: str) -> list[Reply]:
    """``sessions`` stand-in students opening ``url`` at the same moment; ``shown`` is a key of SHOWN."""
    with ThreadPoolExecutor(max_workers=max(1, sessions * FETCHES_PER_STUDENT)) as pool:
        return list(await asyncio.gather(*(_student(url, files, heading, SHOWN[shown], pool)
                                           for _ in range(sessions))))
