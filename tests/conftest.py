"""Shared fixtures: an isolated environment for every test."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tiktok_helpers.settings import SETTINGS

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TIKTOK_*/API2CART_* variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name in SETTINGS or name == "TIKTOK_ENV_FILE":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    """Path of a .env in a fresh folder (not created)."""
    return tmp_path / ".env"


_NOTEBOOK_RUN_DIR: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """The notebooks (run by nbval, each in its own kernel) share one isolated settings file, so a
    test run never reads or changes the developer's own .env."""
    global _NOTEBOOK_RUN_DIR
    for name in list(os.environ):
        if name.startswith(("TIKTOK_", "API2CART_")):
            del os.environ[name]
    _NOTEBOOK_RUN_DIR = Path(tempfile.mkdtemp(prefix="runbook-nbval-"))
    (_NOTEBOOK_RUN_DIR / ".env").write_text("# sandbox run of the runbook notebooks (pytest --nbval)\n")
    os.environ["TIKTOK_ENV_FILE"] = str(_NOTEBOOK_RUN_DIR / ".env")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _NOTEBOOK_RUN_DIR is not None:
        shutil.rmtree(_NOTEBOOK_RUN_DIR, ignore_errors=True)
