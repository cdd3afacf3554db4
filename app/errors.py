"""How a failure reads on a page: errors whose message already says what is wrong and what to change (a diverged
loss, a bad setting, data that cannot be used) are shown as they are; anything else is a bug and keeps its class's
name (and, for a live run, its stack) for the report."""

from __future__ import annotations

from mambarec.errors import UserError

ADVISED = (FloatingPointError, UserError)  # a diverged loss, and every error of bad input (mambarec/errors.py)


def said(exc: BaseException) -> str:
    """``exc`` as a page shows it: an advised error's message alone, anything else with its class's name."""
    return str(exc) if isinstance(exc, ADVISED) else f"{type(exc).__name__}: {exc}"
