"""Loaded for every pytest run in this project, whatever paths are given (tests/, notebooks/).

The notebooks (run by nbval, each in its own kernel) share one isolated settings file, so a test
run never reads or changes the developer's own .env or .sandbox/. Its callback URL takes a free
port (``:0``; the catcher tells the sandbox the port it got), so no test run depends on a fixed
port and two runs on one machine never meet. Under pytest-xdist every process gets its own
folder, and the notebooks run in order in one worker (they hand the code and the tokens on from
one to the next).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

_RUN_DIR: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _RUN_DIR
    for name in list(os.environ):
        if name.startswith(("TIKTOK_", "API2CART_")):
            del os.environ[name]
    _RUN_DIR = Path(tempfile.mkdtemp(prefix="runbook-pytest-"))
    (_RUN_DIR / ".env").write_text(
        "# sandbox run of the runbook notebooks (pytest --nbval)\nTIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n"
    )
    os.environ["TIKTOK_ENV_FILE"] = str(_RUN_DIR / ".env")


#: The longest work units, longest first: under xdist they start first, so none of them is left to
#: run alone at the end (measured with `python3 runbook.py test --durations=0`).
LONGEST_FIRST = (
    "tests/test_browser.py",
    "notebooks",
    "tests/test_leaks.py",
    "tests/test_notebooks.py",
    "tests/test_catcher_hardening.py",
    "postgresql",
    "tests/test_docs_site.py",
    "tests/test_cli.py",
    "tests/test_scenarios.py",
    "tests/test_clean_errors.py",
    "tests/test_durability.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest work units first (a stable sort: each file keeps its own order)."""
    rank = {unit: n for n, unit in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(work_unit(item.nodeid), len(LONGEST_FIRST)))


#: The test files that use the throwaway PostgreSQL server (tests/pg_server.py): one work unit, so
#: one worker starts one server for them all instead of each worker its own (about a second each).
POSTGRESQL_FILES = frozenset(
    {"tests/test_grant_contract.py", "tests/test_grant_transfer.py", "tests/test_pg_server.py",
     "tests/test_shared_store.py"}
)  # fmt: skip


def work_unit(nodeid: str) -> str:
    """Which tests go to one xdist worker together, in order: every notebook cell (each notebook
    uses what the one before it saved), the PostgreSQL tests (one server), else each test file (its
    tests share module fixtures, the browser tests one JupyterLab)."""
    path = nodeid.split("::", 1)[0]
    if path in POSTGRESQL_FILES:
        return "postgresql"
    return "notebooks" if path.endswith(".ipynb") else path


@pytest.hookimpl(optionalhook=True)  # pytest-xdist may be absent or switched off (-p no:xdist)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` as this suite means it, by :func:`work_unit`. (pytest-xdist's own
    loadgroup reads the groups from node ids it rewrites, which pytest 9.2 no longer allows.)"""
    if config.getoption("dist", None) != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling  # deferred: only when the suite runs under xdist

    class WorkUnits(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnits(config, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _RUN_DIR is not None:
        shutil.rmtree(_RUN_DIR, ignore_errors=True)
