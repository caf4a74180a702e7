"""Loaded for every pytest run in this project, whatever paths are given (tests/, notebooks/).

The notebooks (run by nbval, each in its own kernel) share one isolated settings file, so a test
run never reads or changes the developer's own .env or .sandbox/.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_RUN_DIR: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _RUN_DIR
    for name in list(os.environ):
        if name.startswith(("TIKTOK_", "API2CART_")):
            del os.environ[name]
    _RUN_DIR = Path(tempfile.mkdtemp(prefix="runbook-pytest-"))
    (_RUN_DIR / ".env").write_text("# sandbox run of the runbook notebooks (pytest --nbval)\n")
    os.environ["TIKTOK_ENV_FILE"] = str(_RUN_DIR / ".env")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _RUN_DIR is not None:
        shutil.rmtree(_RUN_DIR, ignore_errors=True)
