"""``sandbox``: serve the embedded sandbox, with the very options of ``python -m tiktok_helpers.sandbox``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout

from ..sandbox.command import add_arguments, serve
from .common import SubParsers, add_command
from .output import Output

__all__ = ["register", "run"]


def run(args: argparse.Namespace, out: Output) -> int:
    # serve() prints its banner and errors with print(): onto this run's streams (the same as
    # sys.stdout and sys.stderr when the command line runs as its own process).
    with redirect_stdout(out.stdout), redirect_stderr(out.stderr):
        return serve(args)


def register(commands: SubParsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    # The sandbox takes none of the global options: it reads no .env.
    del parents
    p = add_command(
        commands,
        "sandbox",
        "serve the sandbox (TikTok authorization, Open API and API2Cart, offline)",
        """\
Serve the embedded simulation of TikTok Shop's authorization service, Open API and API2Cart on
127.0.0.1 until Ctrl-C (the same as `python -m tiktok_helpers.sandbox`, same options). It prints
its base URL, the sample app's values (fake, safe to show) and an authorization link.

When to use it: to open the consent page in a real browser, or to point other tools (or
TIKTOK_SANDBOX_URL) at one shared sandbox. The other commands need none of this: in sandbox mode
they start their own, sharing state through .sandbox/state.db beside .env.""",
        ["--port 0", "--port 8770 --state .sandbox/state.db --auto-approve global"],
        run,
    )
    add_arguments(p)
