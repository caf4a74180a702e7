"""The command line in process: :func:`run_cli` runs :func:`tiktok_helpers.cli.main.main` with its
own streams and environment and returns what ``subprocess.run`` would (``returncode``, ``stdout``,
``stderr``), without starting an interpreter for each command as ``python -m tiktok_helpers`` in a
subprocess does (about 0.45 s each).

Each run gets fresh streams: stdin is the given text (a StringIO, so never a terminal: neither is a
subprocess's pipe), stdout and stderr are StringIOs. The environment is only what the test gives,
never the developer's (the one exception, settings.default_env_path reading $TIKTOK_ENV_FILE when
neither --env-file nor the given environment names the file, is removed by tests/conftest.py for
every test). What a fresh process would also print on stderr is kept there too: a
warning (shown as Python shows it, with Python's default filters) and a log record of WARNING or
above (as logging's last-resort handler prints it). A test that needs the process itself (the
console script, a real terminal, a signal, the sandbox server) still runs a subprocess.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shlex
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tiktok_helpers import samples
from tiktok_helpers.cli.main import main

from .saved import saved_secrets

__all__ = ["LOOPBACK_ANY_PORT", "PROG", "Cli", "Completed", "run_cli"]

#: A project whose catcher may take any free port (so tests run side by side).
LOOPBACK_ANY_PORT = "TIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n"

#: The program's name in help and hints, as ``python -m tiktok_helpers`` shows it.
PROG = "python -m tiktok_helpers"

#: How much of stderr a failure message shows (its end: where the error is).
SHOWN_LINES = 25


@dataclass(frozen=True, repr=False)
class Completed:
    """One run of the command line: what ``subprocess.run(..., capture_output=True, text=True)``
    returns, plus the arguments, for failure messages."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def command(self) -> str:
        return f"{PROG} {shlex.join(self.args)}".rstrip()

    def __repr__(self) -> str:  # short: pytest shows it in every failed assertion about a run
        sizes = f"stdout {len(self.stdout)} chars, stderr {len(self.stderr)}"
        return f"Completed(`{self.command}`: exit {self.returncode}, {sizes})"

    def explain(self, expected: int | None = None) -> str:
        """The command, its exit code and the end of its stderr: a failure message of one screen."""
        lines = self.stderr.rstrip("\n").splitlines()
        shown = lines[-SHOWN_LINES:]
        cut = [f"[... {len(lines) - len(shown)} earlier lines of stderr]"] if len(lines) > len(shown) else []
        want = f" (expected {expected})" if expected is not None else ""
        tail = "\n".join(line if len(line) <= 300 else line[:300] + " [...]" for line in [*cut, *shown])
        return f"`{self.command}` exited {self.returncode}{want}; stderr:\n{tail or '(empty)'}"

    def expect(self, code: int) -> Completed:
        """This run, after checking its exit code (the failure says the command and its stderr)."""
        assert self.returncode == code, self.explain(code)
        return self


def run_cli(
    *args: str,
    env_file: Path | str | None = None,
    stdin: str = "",
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    code: int | None = None,
) -> Completed:
    """``python -m tiktok_helpers [--env-file ENV_FILE] ARGS`` in process, on ``stdin``, with only
    ``environ`` as its environment, in ``cwd`` (None: where the test runs); with ``code``, the exit
    code is checked (see :meth:`Completed.expect`)."""
    argv = (*(("--env-file", str(env_file)) if env_file is not None else ()), *args)
    stdout, stderr = io.StringIO(), io.StringIO()
    with _in(cwd), _as_a_process_shows(stderr):
        returncode = main(
            list(argv), stdin=io.StringIO(stdin), stdout=stdout, stderr=stderr, environ=dict(environ or {}), prog=PROG
        )
    done = Completed(argv, returncode, stdout.getvalue(), stderr.getvalue())
    return done if code is None else done.expect(code)


@contextmanager
def _in(folder: Path | None) -> Iterator[None]:
    """The working directory ``folder`` for the run (the usual settings lookup starts there)."""
    if folder is None:
        yield
        return
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


@contextmanager
def _as_a_process_shows(stderr: io.StringIO) -> Iterator[None]:
    """Warnings and WARNING log records during the run onto ``stderr``, as a fresh process without
    logging configured and without ``-W`` options prints them."""
    handler = logging.StreamHandler(stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)

    def show(
        message: Warning | str, category: type[Warning], filename: str, lineno: int, *_: object, **__: object
    ) -> None:
        stderr.write(warnings.formatwarning(message, category, filename, lineno))

    try:
        with warnings.catch_warnings():  # restores the filters and showwarning afterwards
            warnings.resetwarnings()  # Python's default filters (no -W): each warning once, these never
            for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.filterwarnings("ignore", category=category)
            warnings.showwarning = show
            yield
    finally:
        root.removeHandler(handler)


class Cli:
    """Runs the command line (in process) on one .env and remembers every output and every secret
    seen in .env."""

    def __init__(self, env_file: Path) -> None:
        self.env_file = env_file
        self.outputs: list[tuple[str, str]] = []  # (the command, one of its outputs)
        self.secrets: set[str] = {samples.SANDBOX_APP_SECRET, samples.SANDBOX_API2CART_KEY}

    def remember_secrets(self) -> None:
        self.secrets |= saved_secrets(self.env_file)

    def __call__(self, *args: str, stdin: str | None = None, code: int | None = 0) -> Completed:
        self.remember_secrets()
        result = run_cli(*args, env_file=self.env_file, stdin=stdin or "", cwd=self.env_file.parent)
        self.outputs += [(result.command, result.stdout), (result.command, result.stderr)]
        self.remember_secrets()
        return result if code is None else result.expect(code)

    def json(self, *args: str, code: int = 0, stdin: str | None = None) -> Any:
        data = json.loads(self(*args, "--json", code=code, stdin=stdin).stdout)
        assert isinstance(data, dict)
        return data

    def assert_no_secret_shown(self) -> None:
        self.remember_secrets()
        for command, output in self.outputs:
            shown = sorted(secret[:8] + "…" for secret in self.secrets if secret in output)
            assert not shown, f"`{command}` showed secrets in full: {shown}"
