"""The runbook's command line: ``python -m tiktok_helpers`` (or the ``tiktok-runbook`` script).

The same steps as the notebooks, through the same :class:`~tiktok_helpers.session.Session`
methods; every rule (the flow, what to do next, the doctor's checks, token lifetimes) lives in the
library, and every object is shown through its row builder in :mod:`tiktok_helpers.display`.
Every command has a ``--help`` that says what it does, when to use it, and an example.

Commands, one module each::

    authorize        build the link, catch (or paste) the redirect, exchange the code, verify, save
    exchange         exchange an auth code (or the one saved by authorize) for tokens   (tokens)
    refresh          refresh the access token with the saved refresh token              (tokens)
    shops            list the authorized shops (proves the access token works)          (tokens)
    status           what is configured, the mode, when each token expires
    api2cart add     add the TikTok Shop store to API2Cart and confirm it in the store list
    api2cart list    the stores of the API2Cart account
    sandbox          serve the sandbox (as ``python -m tiktok_helpers.sandbox``)
    doctor           check settings, clock, hosts and token expiry; say what to fix

Global options, accepted before or after the command: ``--env-file PATH`` (default: the usual
``.env`` lookup, :func:`tiktok_helpers.settings.default_env_path`), ``--timeout SECONDS`` (HTTP
timeout, overrides ``TIKTOK_HTTP_TIMEOUT``), ``--json`` (one JSON object on stdout for programs;
messages and progress go to stderr) and ``--show-secrets``.

In sandbox mode every command that talks to a service opens a session, which starts an
in-process sandbox whose state lives in ``.sandbox/`` beside ``.env``: consecutive commands share
codes, tokens and API2Cart stores. ``status`` only reads the settings and starts nothing.

Secrets (App Secret, auth code, tokens, API2Cart keys) are shown masked. ``--show-secrets``
reveals them, and only when stdout is a terminal; otherwise the command refuses with exit 2.
Exit codes: see :mod:`tiktok_helpers.cli.main`.

``exchange`` cannot check the redirect's ``state``: the link was built by another command (or in a
notebook), so no state is known in this process. Pasting to ``authorize --paste`` is the same.
The state *is* checked by ``authorize`` when it catches the redirect or prompts for the paste,
because then it built the link itself.
"""

from __future__ import annotations

from .main import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CommandFailed,
    UsageError,
    build_parser,
    exit_code_for,
    main,
)
from .output import CatcherProgress, Output

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CatcherProgress",
    "CommandFailed",
    "Output",
    "UsageError",
    "build_parser",
    "exit_code_for",
    "main",
]
