"""Shared fixtures: an isolated environment for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TIKTOK_*/API2CART_* variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("TIKTOK_", "API2CART_")):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    """Path of a .env in a fresh folder (not created)."""
    return tmp_path / ".env"
