"""``streamlit run streamlit_app.py`` as a child process, up and healthy, stopped afterwards: what the real-browser
tests and ``app/perf.py`` start the app with (one copy of the command line and the health wait), and the
browser they open it in."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLL_S = 0.05  # between health checks
STOP_S = 10  # a terminated server gets this long before it is killed
# The browser every real-browser test and benchmark drives: Debian's Chromium, started with these flags (no
# sandbox as root in a container, no GPU, nothing fetched from the network), at a projector's size.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update")
VIEWPORT = {"width": 1280, "height": 800}


@dataclass(frozen=True)
class Server:
    url: str
    proc: subprocess.Popen
    start_s: float  # from process start to the health check's "ok"
    log: Path | None = None  # where its output goes (``keep_output``), else discarded

    def output_tail(self, chars: int = 3000) -> str:
        """The end of what the server printed so far (empty without a log)."""
        return self.log.read_text(errors="replace")[-chars:] if self.log and self.log.is_file() else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(port: int, script: str = "streamlit_app.py") -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
            "--server.port", str(port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]


def proc_stat(pid: int) -> list[str]:
    """The fields of Linux's ``/proc/<pid>/stat`` after the command name (state, ppid, ..., utime, stime, ...);
    raises OSError for a process that is gone (or off Linux)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def memory_mb(pid: int) -> float:
    """Resident memory of process ``pid`` and of every process below it (a server's live-run and estimate workers),
    in MB, from Linux's /proc; NaN elsewhere. What a room's sessions cost the lecturer's machine."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            child = int(stat.parent.name)
            parent = int(proc_stat(child)[1])
        except (OSError, IndexError, ValueError):  # a process that ended while we looked
            continue
        children.setdefault(parent, []).append(child)
    total, todo, seen = 0, [pid], False
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        seen = True
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        todo.extend(children.get(p, []))
    return total / 1024 if seen else float("nan")


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float, log: Path | None = None) -> float:
    """Seconds until ``/_stcore/health`` says ok; raises with the server's last output if it exits or is late."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"streamlit exited with {proc.returncode}: {tail}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return time.perf_counter() - t0
        except OSError:
            time.sleep(POLL_S)
    raise TimeoutError(f"streamlit did not answer on port {port} within {timeout} s")


@contextmanager
def streamlit_server(env: dict, timeout: float = 60.0, port: int | None = None, keep_output: bool = True,
                     script: str = "streamlit_app.py", root: Path = ROOT) -> Iterator[Server]:
    """The app (or another ``script``) served from the repository ``root`` (another checkout: ``app/perf.py
    --against``) with ``env``; ``keep_output`` writes its
    output to a temporary file (``Server.log``: for the message of a server that dies or a test that fails), else
    it is discarded. Never a pipe: nobody reads one while the server runs, and a server that had printed a full
    pipe's 64 KB would block on its next line, every session with it."""
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="mambarec-server-") as tmp:
        log = Path(tmp) / "server.log" if keep_output else None
        with open(log or os.devnull, "w") as out:
            proc = subprocess.Popen(command(port, script), cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                start_s = wait_healthy(port, proc, timeout, log)
                yield Server(f"http://127.0.0.1:{port}", proc, start_s, log)
            finally:
                proc.terminate()
                try:
                    proc.wait(STOP_S)
                except subprocess.TimeoutExpired:
                    proc.kill()


def idle(page, timeout_s: float = 120.0) -> None:
    """Until the script run is over: the 'running' indicator stays hidden for a moment."""
    running = page.locator('[data-testid="stStatusWidget"]')
    deadline = time.perf_counter() + timeout_s
    quiet = 0
    while quiet < 2 and time.perf_counter() < deadline:
        page.wait_for_timeout(50)
        quiet = quiet + 1 if not running.is_visible() else 0
