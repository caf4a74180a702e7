"""Leak test: run every notebook and every CLI command, then look for any secret in full.

The secrets are every value the sandbox ever issued in the run (auth codes, access and refresh
tokens, including the rotated ones, read back from its state file), the App Secret and the
API2Cart key. None may appear unmasked in a notebook's outputs, its recorded widget state, a CLI
command's stdout or stderr, a log line, an exception or a repr. (``python -m tiktok_helpers
sandbox`` prints the sample App Secret on purpose: a sandbox value, and the banner is the
documented way to learn it; tokens are still checked there.)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.run_notebooks import NOTEBOOKS, execute
from tiktok_helpers import samples
from tiktok_helpers.errors import TikTokHelperError
from tiktok_helpers.session import open_session
from tiktok_helpers.store import sandbox_state_path

from . import cli_in_process
from .conftest import PROJECT_ROOT
from .sandbox_calls import issued_values
from .saved import saved_secrets

ALWAYS_SECRET = {samples.SANDBOX_APP_SECRET, samples.SANDBOX_API2CART_KEY}


def issued_secrets(env_file: Path) -> set[str]:
    """Every code and token the sandbox issued for this .env's project, plus what the runbook saved
    (.env and every seller's grant)."""
    return issued_values(sandbox_state_path(env_file)) | saved_secrets(env_file)


def leaks(text: str, secrets: set[str]) -> list[str]:
    return sorted(s[:8] + "…" for s in secrets if s and s in text)


@pytest.fixture
def restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.slow
def test_notebooks_outputs_and_widget_state(tmp_path: Path, restore_environ: None) -> None:
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    seen: set[str] = set()  # collected after every notebook: a refresh replaces tokens in the state
    executed = execute(paths, tmp_path, after_each=lambda *_: seen.update(issued_secrets(tmp_path / ".env")))
    assert len(seen) >= 6, "the run should have issued a code, two token pairs and a store key"
    secrets = seen | ALWAYS_SECRET
    for path, notebook, _ in executed:
        outputs = json.dumps([c.get("outputs", []) for c in notebook.cells], ensure_ascii=False)
        assert not leaks(outputs, secrets), f"{path.name}: a secret in the outputs"
        widget_state = json.dumps(notebook.metadata.get("widgets", {}), ensure_ascii=False)
        if "application/vnd.jupyter.widget-view+json" in outputs:
            assert "widget-state" in widget_state, f"{path.name}: nbclient should have recorded widget state"
        assert not leaks(widget_state, secrets), f"{path.name}: a secret in the widget state"


def run_cli(env_file: Path, *args: str) -> cli_in_process.Completed:
    """The command line on ``env_file``, in process, with an environment of its own (empty)."""
    return cli_in_process.run_cli(*args, env_file=env_file, cwd=env_file.parent)


def test_every_cli_command(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n")
    runs = []
    seen: set[str] = set()
    for args in (
        ("authorize", "--sandbox-approve"),
        ("--json", "status"),
        ("status",),
        ("shops",),
        ("--json", "shops"),
        ("refresh",),
        ("--json", "refresh"),
        ("api2cart", "add", "--label", "leak test"),
        ("api2cart", "list"),
        ("--json", "api2cart", "list"),
        ("doctor",),
        ("--json", "doctor"),
        ("authorize", "--sandbox-approve", "--deny"),  # a refusal
        ("exchange", "TTP_not_a_code_00000000000"),  # an API error
        ("refresh", "--show-secrets"),  # refused: not a terminal
    ):
        runs.append((args, run_cli(env_file, *args)))
        seen |= issued_secrets(env_file)
    runs[0][1].expect(0)
    assert len(seen) >= 6, "a code, two token pairs (refresh), a store key"
    secrets = seen | ALWAYS_SECRET
    for args, result in runs:
        assert not leaks(result.stdout + result.stderr, secrets), f"{args}: a secret in the output"
    assert {r.returncode for _, r in runs[-3:]} <= {1, 2}


def test_logs_exceptions_and_reprs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    seen: set[str] = set()
    with open_session(tmp_path / ".env", environ={}) as session:
        authorization = session.begin_authorization()
        result = authorization.parse(session.approve_in_sandbox(authorization))
        tokens = session.exchange(result)
        texts += [repr(authorization), repr(result), repr(tokens), repr(session.settings), str(session.settings)]
        texts += [repr(session.seller), str(session.seller), repr(session.status()), repr(session.sellers())]
        texts += [repr(session.token_client()), repr(session.open_api()), repr(session.api2cart())]
        seen |= issued_secrets(tmp_path / ".env")
        session.authorized_shops()
        store_key = session.add_store()
        texts += [repr(session.list_stores()), repr(session.seller)]
        for attempt in (
            lambda: session.exchange(result),  # used code
            lambda: session.token_client().refresh(tokens.access_token),  # not a refresh token
            lambda: session.open_api(tokens.refresh_token).get_authorized_shops(),  # not an access token
            lambda: session.api2cart().validate_store(store_key.reveal() + "x"),
            lambda: session.api2cart().validate_store(str(store_key)),  # the masked form: not sendable
        ):
            with pytest.raises(TikTokHelperError) as info:
                attempt()
            texts += [str(info.value), repr(info.value)]
        session.refresh()
    secrets = seen | issued_secrets(tmp_path / ".env") | ALWAYS_SECRET
    assert any("token" in r.getMessage() for r in caplog.records), "expected debug logs to inspect"
    for record in caplog.records:
        assert not leaks(record.getMessage(), secrets), f"log line leaks: {record.name}"
    for text in texts:
        assert not leaks(text, secrets), text[:120]


def test_committed_notebooks_are_checked_too() -> None:
    # The stored outputs are covered by tests/test_notebooks.py; make sure that test still exists.
    assert (PROJECT_ROOT / "tests" / "test_notebooks.py").read_text().count("def test_no_secret_in_outputs") == 1
