"""The entry point: the parser of the whole command line, exit codes, and the one error shape.

Exit codes:

* ``0`` success (``doctor``: every check passed; warnings allowed).
* ``1`` the flow failed: TikTok or API2Cart answered with an error (:class:`ApiError`: the
  catalog's title and fix on stderr, and with ``--json`` an error object with code, title, fix
  and request_id on stdout), a service was unreachable, timed out or answered nonsense
  (:class:`ServiceError`), the seller refused (:class:`AuthorizationDenied`), no redirect came in
  time (:class:`RedirectTimeout`), the redirect answers another link (:class:`StateMismatch`),
  ``.env`` could not be written (:class:`SettingsError`), the sandbox's consent page failed, a new
  API2Cart store is missing from the list (:class:`CommandFailed`), or a ``doctor`` check failed.
* ``2`` bad usage or bad input: argparse errors, invalid settings or values
  (:class:`ValidationError`), a line of ``.env`` python-dotenv cannot read (:class:`EnvFileError`:
  nothing was read or written), a step needs a setting not configured yet
  (:class:`MissingSettingError`), pasted text that is neither a redirect address nor a code
  (:class:`InvalidRedirect`, :class:`MissingAuthCode`, nothing pasted), ``--show-secrets`` when
  stdout is not a terminal, conflicting options, ``--sandbox-approve`` outside sandbox mode
  (:class:`UsageError`).
* ``130`` interrupted: Ctrl-C, SIGTERM or SIGHUP (one way to stop: :func:`_stopping_on_signals`).

:func:`main` runs on the streams and the environment it is given (by default the process's own):
``python -m tiktok_helpers`` and the ``tiktok-runbook`` script call it with none, tests call it in
process with their own (``tests/cli_in_process.py``). Argparse's help, usage and errors go to the
given streams too, and whether stdout is a terminal is asked of the given stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar, Final, NoReturn, TextIO

from .. import __version__
from ..errors import (
    ApiError,
    EnvFileError,
    InvalidRedirect,
    MissingAuthCode,
    MissingSettingError,
    ServiceError,
    TikTokHelperError,
    ValidationError,
)
from . import api2cart, authorize, doctor, keepalive, sandbox, sellers, status, tokens, webhooks
from .common import Formatter, Handler, add_global_options
from .exits import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CommandFailed, UsageError
from .output import Output, isatty

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandFailed",
    "UsageError",
    "build_parser",
    "error_json",
    "exit_code_for",
    "main",
]

#: Errors that mean "the input or the usage is wrong" (exit 2); every other error of the package is 1.
USAGE_ERRORS: Final = (ValidationError, EnvFileError, MissingSettingError, InvalidRedirect, MissingAuthCode)


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an error (see the module docstring)."""
    if isinstance(exc, (UsageError, *USAGE_ERRORS)):
        return EXIT_USAGE
    return EXIT_FAILURE


def error_json(exc: BaseException, prog: str) -> dict[str, Any]:
    """The JSON shape of every error the command line reports."""
    if isinstance(exc, TikTokHelperError):
        error: dict[str, Any] = {
            "code": str(exc.code) if isinstance(exc, ApiError) else exc.entry.code,
            "catalog_code": exc.entry.code,
            "title": exc.title,
            "detail": exc.detail,
            "cause": exc.cause,
            "fix": exc.fix,
            "request_id": (exc.request_id or None) if isinstance(exc, ApiError) else None,
            "service": (exc.service or None) if isinstance(exc, ServiceError) else None,
        }
        if isinstance(exc, ValidationError):
            error["problems"] = [{"field": p.field, "message": p.message} for p in exc.problems]
        return error
    if isinstance(exc, CommandFailed):
        code, title, fix = exc.code, exc.title, exc.fix
    else:
        code, title, fix = "usage", "Bad usage", f"see `{prog} --help`"
    return {
        "code": code,
        "catalog_code": None,
        "title": title,
        "detail": str(exc),
        "cause": None,
        "fix": fix,
        "request_id": None,
        "service": None,
    }


def _report_error(out: Output, exc: BaseException, code: int) -> None:
    out.note(f"error: {exc}")
    if out.json:
        error = {**error_json(exc, out.prog), "exit_code": code}
        out.json_object({"ok": False, "error": error})


#: Signals that stop a command as Ctrl-C does (a service manager's stop, a closed terminal).
STOP_SIGNALS: Final = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def _stopping_on_signals() -> Iterator[None]:
    """While a command runs, SIGTERM and SIGHUP raise KeyboardInterrupt on the main thread as Ctrl-C
    does, instead of ending the process: a bulk refresh submits nothing new and waits for the ones in
    flight, a token step waits for its reply (:mod:`tiktok_helpers.bulk`). The handlers before are put
    back after (the command line also runs in process); off the main thread nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {number: signal.signal(number, _stop) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)


def _default_prog() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "tiktok-runbook" if name.startswith("tiktok-runbook") else "python -m tiktok_helpers"


_DESCRIPTION: Final = """\
Connect a TikTok Shop store to API2Cart from the command line: the runbook's steps, in order.

  1. authorize      approve the app, catch the code, exchange it, verify, save the seller's grant
  2. api2cart add   add the store to API2Cart and confirm it in the store list
  then: sellers, status, shops, refresh (--all), keepalive, webhooks, doctor when something is wrong

Every seller authorized with the app keeps a grant beside .env; --seller picks one (default:
the most recently authorized).

With no App Key / App Secret configured (or TIKTOK_MODE=sandbox) everything runs against the
embedded sandbox, offline; its state is kept in .sandbox/ beside .env, shared by every command."""

_EXIT_CODES: Final = """\
exit codes: 0 success; 1 TikTok, API2Cart or the network said no (refusal, timeout, API error,
failed doctor check); 2 bad usage or bad input (invalid settings or pasted text, missing setting,
--show-secrets without a terminal); 130 interrupted."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that prints its help and usage on the run's stdout and its errors on the
    run's stderr, where argparse prints on ``sys.stdout`` and ``sys.stderr``. Its subparsers are of
    its class, so they print there too: :func:`_parser_class` makes one class per run."""

    stdout: ClassVar[TextIO]
    stderr: ClassVar[TextIO]

    def print_usage(self, file: SupportsWrite[str] | None = None) -> None:
        super().print_usage(self.stdout if file is None else file)

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        super().print_help(self.stdout if file is None else file)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self._print_message(message, self.stderr)
        raise SystemExit(status)

    def error(self, message: str) -> NoReturn:
        self.print_usage(self.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser_class(stdout: TextIO, stderr: TextIO) -> type[_Parser]:
    """A parser class bound to one run's streams."""

    class Parser(_Parser):
        pass

    Parser.stdout, Parser.stderr = stdout, stderr
    return Parser


class _Version(argparse.Action):
    """``--version``: the program's name and version on the parser's stdout, then exit 0 (argparse's
    own prints on ``sys.stdout``)."""

    def __init__(self, option_strings: Sequence[str], version: str, dest: str = argparse.SUPPRESS) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show program's version number and exit"
        )
        self.version = version

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        assert isinstance(parser, _Parser)  # every parser of this command line is one
        parser.stdout.write(self.version % {"prog": parser.prog} + "\n")
        parser.exit()


def build_parser(
    prog: str | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> argparse.ArgumentParser:
    """The argument parser of the whole command line: each command group adds its own block. Its
    help, usage and errors go to ``stdout`` and ``stderr`` (None: the process's own)."""
    prog = prog or _default_prog()
    parser_class = _parser_class(sys.stdout if stdout is None else stdout, sys.stderr if stderr is None else stderr)
    common = argparse.ArgumentParser(add_help=False)
    add_global_options(common, suppress=True)
    parser = parser_class(
        prog=prog,
        description=_DESCRIPTION,
        epilog=f"example:\n  {prog} authorize --open\n  {prog} status\n\n{_EXIT_CODES}",
        formatter_class=Formatter,
    )
    add_global_options(parser, suppress=False)
    parser.add_argument("--version", action=_Version, version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for group in (authorize, tokens, sellers, status, api2cart, keepalive, webhooks, sandbox, doctor):
        group.register(commands, [common])
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    prog: str | None = None,
) -> int:
    """Run the command line; returns the exit code (see the module docstring).

    ``argv`` are the arguments after the program's name; ``stdin``, ``stdout``, ``stderr`` the
    streams and ``environ`` the environment of this run; ``prog`` the name help and hints use. Each
    None is the process's own (``sys.argv[1:]``, ``sys.stdin``..., ``os.environ``, the name it was
    started as), which is how ``python -m tiktok_helpers`` and ``tiktok-runbook`` run it."""
    out_stream = sys.stdout if stdout is None else stdout
    err_stream = sys.stderr if stderr is None else stderr
    parser = build_parser(prog, stdout=out_stream, stderr=err_stream)
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version, or a usage error argparse has already printed
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)
    out = Output(
        json=bool(getattr(args, "json", False)),
        show_secrets=bool(getattr(args, "show_secrets", False)),
        prog=parser.prog,
        stdout=out_stream,
        stderr=err_stream,
        stdin=sys.stdin if stdin is None else stdin,
        environ=os.environ if environ is None else environ,
    )
    func: Handler | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(out.stderr)
        return EXIT_USAGE
    try:
        if out.show_secrets and not isatty(out.stdout):
            out.show_secrets = False
            raise UsageError(
                "--show-secrets only works when the output is a terminal, so secrets do not end up in files, "
                "pipes or logs; read them from the .env file instead"
            )
        with _stopping_on_signals():
            return func(args, out)
    except KeyboardInterrupt as stop:
        out.note(f"interrupted ({stop})" if str(stop).startswith("SIG") else "interrupted")
        return EXIT_INTERRUPTED
    except (TikTokHelperError, UsageError, CommandFailed) as exc:
        code = exit_code_for(exc)
        _report_error(out, exc, code)
        return code
