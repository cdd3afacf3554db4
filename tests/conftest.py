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


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` skip with the reason "no CUDA device" where torch sees no GPU (CI has none)."""
    marked = [item for item in items if item.get_closest_marker("cuda") is not None]
    if not marked:
        return
    import torch  # lazy: only when CUDA tests were collected

    if torch.cuda.is_available():
        from mambarec.model.zoo import full_float32_on_cuda  # lazy: imports torch

        full_float32_on_cuda()  # as every CUDA model does: equivalences are checked in IEEE float32, not TF32
        return
    skip = pytest.mark.skip(reason="no CUDA device")
    for item in marked:
        item.add_marker(skip)
