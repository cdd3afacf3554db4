"""Whether the code on disk is still the code this server runs.

The server does not reload its modules (``fileWatcherType = "none"`` in ``.streamlit/config.toml``), but Streamlit
reads ``streamlit_app.py`` and ``app/pages/*.py`` from disk again on every run. After a ``git pull`` into a running
server, the next click ran new page code against the old modules and showed a traceback ("module 'app.urlsel' has
no attribute 'arriving'", rehearsal r53). ``changed`` compares the Python files' sizes and modification times with
those of the server's first run, so that the entry script can ask for a restart instead.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "mambarec")  # with the entry script: everything the server imports from this repository
ENTRY = "streamlit_app.py"
RECHECK_S = 1.0  # 30 sessions opening a page at once had each stat'ed the ~200 files (a pull is noticed 1 s later)
NAMED = 3  # a notice names this many changed files, then how many more


def snapshot(root: Path = ROOT) -> dict[str, tuple[int, int]]:
    """Each Python file of the app: its path relative to ``root`` -> (size, modification time in ns)."""
    files = [root / ENTRY, *(p for pkg in PACKAGES for p in (root / pkg).rglob("*.py"))]
    out = {}
    for path in files:
        try:
            stat = path.stat()
        except OSError:  # removed between the listing and the stat: it counts as gone
            continue
        out[path.relative_to(root).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return out


def differences(before: dict, after: dict) -> list[str]:
    """The files added, removed or changed from ``before`` to ``after``, sorted."""
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


@st.cache_resource(show_spinner=False)
def _first_run() -> dict[str, tuple[int, int]]:
    return snapshot()


@st.cache_resource(show_spinner=False)
def _last_look() -> dict:
    return {"at": -math.inf, "changed": []}


def changed() -> list[str]:
    """The files that changed on disk since this server's first run (empty while it runs the code it imported).
    The disk is looked at once per ``RECHECK_S`` for the whole server: a room's page runs at one moment share it."""
    look = _last_look()
    now = time.monotonic()
    if now - look["at"] >= RECHECK_S:  # two runs that both look compute the same answer: no lock needed
        look["changed"], look["at"] = differences(_first_run(), snapshot()), now
    return look["changed"]


def notice(files: list[str]) -> str:
    """What a page says in place of itself when the code changed under the running server."""
    named = ", ".join(f"`{f}`" for f in files[:NAMED]) + (f" and {len(files) - NAMED} more" if len(files) > NAMED
                                                         else "")
    return (f"This server's code changed on disk since it started ({named}), so its pages would run new code against "
            "old modules. Restart the server: stop it (Ctrl+C in its terminal) and run `streamlit run "
            "streamlit_app.py` again. Saved runs and the precomputed results stay; a run training now stops with the "
            "server and is saved with its best state so far (app/worker.py), and the Train page tells whoever "
            "started it when they are back.")
