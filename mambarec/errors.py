"""The errors a user can cause (a bad flag or setting, data that cannot be used, a damaged checkpoint, a run folder
or precomputed folder that cannot be read or written): each is a ``UserError`` whose message says what is wrong and
what to change, so the command line prints it in one line and the app shows it alone, without a traceback. An
exception of any other class is a bug and keeps its class and stack (docs/architecture.md section 2)."""

from __future__ import annotations


class UserError(ValueError):
    """Wrong input, said with its fix: the base of ConfigError, DatasetError, CheckpointError, RunStoreError and
    PrecomputedError (a ValueError, as each of them was)."""
