"""A fresh interpreter, for tests of what a piece of code imports (the test process has imported everything)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "MODULES-IMPORTED "


def modules_after(code: str, timeout: float = 600) -> set[str]:
    """The modules imported once ``code`` has run in a new Python at the repository root (an error fails the test)."""
    script = textwrap.dedent(code) + f"\nimport json, sys\nprint({MARK!r} + json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return set(json.loads([line for line in done.stdout.splitlines() if line.startswith(MARK)][-1][len(MARK):]))
