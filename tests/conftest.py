"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_dataset_dir(name: str) -> Path:
    """Where a shared dataset lives: $MAMBAREC_DATA/<name>, else ../shared/datasets/<name>."""
    env = os.environ.get("MAMBAREC_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
    return root / name


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    """The shared ml100k folder; skipped when absent, except under CI (CI=true), where it fails."""
    path = shared_dataset_dir("ml100k")
    if not (path / "ml100k.inter").is_file():
        reason = f"ml100k not found at {path} (set MAMBAREC_DATA to a folder holding ml100k/)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)
    return path
