"""The devices a test runs on: the CPU always, and CUDA as a case marked ``cuda``, which tests/conftest.py skips
with the reason "no CUDA device" where torch sees none (``pytest -m cuda`` selects only those cases)."""

from __future__ import annotations

import pytest

CUDA = pytest.param("cuda", marks=pytest.mark.cuda, id="cuda")
DEVICES = ("cpu", CUDA)
