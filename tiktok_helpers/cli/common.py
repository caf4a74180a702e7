"""What every command shares: the global options, the help layout, and opening a session."""

from __future__ import annotations

import argparse
import getpass
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeAlias

from ..errors import MissingSettingError, NoSellerYet, TikTokHelperError, ValidationError
from ..sandbox.command import scenario_name
from ..session import Session, open_session
from ..settings import check_env_path, default_env_path
from ..store import EnvStore
from .exits import UsageError
from .output import Output, isatty

__all__ = [
    "Handler",
    "SubParsers",
    "add_command",
    "add_global_options",
    "check_scenario_here",
    "check_seller_option",
    "chosen_seller",
    "env_path",
    "environ",
    "read_pasted",
    "session",
    "stdin_is_terminal",
    "warn_argument",
]

Handler = Callable[[argparse.Namespace, Output], int]
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30, width=100)


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, not {value}")
        return value

    return parse


def non_negative_days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not math.isfinite(value) or value < 0 or value > 36500:
        raise argparse.ArgumentTypeError(f"must be a number of days from 0 to 36500, not {text!r}")
    return value


def add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The global options. On the subcommands their defaults are suppressed, so a value given before
    the command is kept and one given after it wins."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options (before or after the command)")
    group.add_argument(
        "--env-file",
        metavar="PATH",
        default=default(None),
        help="the settings file (default: $TIKTOK_ENV_FILE, else .env beside the project's .env.example, else ./.env)",
    )
    group.add_argument(
        "--seller",
        metavar="NAME_OR_OPEN_ID",
        default=default(None),
        help="the authorized seller to work on: seller name, open_id or # from `sellers` (default: the newest)",
    )
    group.add_argument(
        "--scenario",
        metavar="NAME",
        type=scenario_name,
        default=default(None),
        help="sandbox mode: serve a training scenario in the runbook's sandbox, so the step it targets "
        "fails as the real service would (list: `sandbox --scenarios`)",
    )
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=positive_seconds,
        default=default(None),
        help="HTTP timeout per request, 0.5 to 300 (default: TIKTOK_HTTP_TIMEOUT, else 15)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print one JSON object on stdout (errors too); messages go to stderr",
    )
    group.add_argument(
        "--show-secrets",
        action="store_true",
        default=default(False),
        help="show secrets in full instead of masked (never in --trace's output); refused unless stdout is a terminal",
    )
    group.add_argument(
        "--trace",
        action="store_true",
        default=default(False),
        help="after the command's output, print on stderr what went over the wire: each request sent and its "
        "reply, retries too, secrets always masked (--show-secrets does not unmask them)",
    )


def add_command(
    group: SubParsers,
    name: str,
    summary: str,
    description: str,
    examples: Sequence[str],
    func: Handler,
    *,
    parents: Sequence[argparse.ArgumentParser] = (),
) -> argparse.ArgumentParser:
    """One (sub)command with its help: what it does, when to use it, and examples."""
    sub: argparse.ArgumentParser = group.add_parser(
        name,
        help=summary,
        description=description,
        epilog="example:\n" + "\n".join(f"  %(prog)s {e}".rstrip() for e in examples),
        formatter_class=Formatter,
        parents=list(parents),
    )
    sub.set_defaults(func=_traced(func))
    return sub


def _traced(func: Handler) -> Handler:
    """``func``, then, with --trace, what went over the wire (on stderr), even when it failed."""

    def run(args: argparse.Namespace, out: Output) -> int:
        try:
            return func(args, out)
        finally:
            if getattr(args, "trace", False):
                out.wire_report()

    return run


def check_seller_option(args: argparse.Namespace) -> None:
    """``--seller`` given blank: refused (exit 2), never read as "the newest seller", which is what
    leaving it out means."""
    seller = getattr(args, "seller", None)
    if seller is not None and not seller.strip():
        raise UsageError(
            "--seller is empty: give a seller's name, open_id or #number (`sellers` lists them), or leave it "
            "out for the most recently authorized seller"
        )


def env_path(args: argparse.Namespace, out: Output) -> Path:
    """The settings file of this run (--env-file, else $TIKTOK_ENV_FILE of the run's environment,
    else the usual lookup), refused with exit 2 when it is a folder or its folder does not exist:
    every command reads it through here, before anything is started or written, so a blank
    ``--seller`` is refused here too (:func:`check_seller_option`)."""
    check_seller_option(args)
    path = Path(args.env_file) if args.env_file is not None else default_env_path(environ=out.environ)
    try:
        return check_env_path(path)
    except ValidationError as exc:
        problem = "; ".join(p.message for p in exc.problems)
    given = "--env-file" if args.env_file is not None else "the settings file"
    raise UsageError(f"{given}: {problem}")


def environ(args: argparse.Namespace, out: Output) -> dict[str, str]:
    """The run's environment (the process's own unless the entry point was given another), with
    --timeout as TIKTOK_HTTP_TIMEOUT."""
    values = dict(out.environ)
    if args.timeout is not None:
        values["TIKTOK_HTTP_TIMEOUT"] = f"{args.timeout:g}"
    return values


@contextmanager
def chosen_seller(args: argparse.Namespace) -> Iterator[None]:
    """Around the one call that picks ``--seller``'s grant: a NAME_OR_OPEN_ID that matches no
    seller, or several (the grant store lists them with their #number), is bad usage (exit 2)."""
    try:
        yield
    except MissingSettingError as exc:
        if args.seller is None or isinstance(exc, NoSellerYet):
            raise
        raise UsageError(f"--seller: {exc.detail}") from None


def check_scenario_here(args: argparse.Namespace, out: Output) -> None:
    """``--scenario`` where no sandbox of this run would serve it (live mode, or a sandbox of its own
    at TIKTOK_SANDBOX_URL): refused (exit 2) before anything is started."""
    scenario = getattr(args, "scenario", None)
    if scenario is None:
        return
    try:
        settings = EnvStore(env_path(args, out), environ(args, out)).load()  # .env only: nothing opened
    except TikTokHelperError:
        return  # settings that cannot be read: the command says so its own way
    if settings.is_sandbox and not settings.sandbox_url:
        return
    if settings.is_sandbox:
        raise UsageError(
            f"--scenario {scenario}: this project uses the sandbox at {settings.sandbox_url} (TIKTOK_SANDBOX_URL), "
            f"which serves its own scenarios: start it with `{out.command(f'sandbox --scenario {scenario}')}`, or "
            "empty TIKTOK_SANDBOX_URL to use the runbook's own sandbox"
        )
    raise UsageError(
        f"--scenario {scenario}: training scenarios exist only in sandbox mode, and {settings.env_path.name} is "
        "set up for live mode (TikTok's real services); train in a copy of the project without an App Key "
        "(or with TIKTOK_MODE=sandbox)"
    )


@contextmanager
def session(args: argparse.Namespace, out: Output) -> Iterator[Session]:
    """A session for one command (in sandbox mode: with its in-process sandbox)."""
    scenario = getattr(args, "scenario", None)
    check_scenario_here(args, out)
    with chosen_seller(args):
        started = open_session(env_path(args, out), environ=environ(args, out), seller=args.seller, scenario=scenario)
    with started as opened:
        out.note(opened.describe())
        out.wire = opened.trace() if getattr(args, "trace", False) else out.wire  # --trace: shown by _traced
        if scenario is not None and opened.sandbox is not None:
            played = opened.sandbox.state.scenarios.scenario
            assert played is not None
            out.note(f"Training scenario {played.name!r}: {played.summary}.")
        yield opened


def refuse_scenario(args: argparse.Namespace, command: str) -> None:
    """``--scenario`` on a command that starts no sandbox: refused (exit 2) rather than ignored."""
    if getattr(args, "scenario", None) is not None:
        raise UsageError(
            f"--scenario does nothing for `{command}`: it reads what is saved and calls no service. Give it to "
            "a command that does (authorize, exchange, refresh, shops, api2cart, doctor)"
        )


def read_line(out: Output) -> str:
    """One line from the run's stdin ('' when there is none)."""
    return out.stdin.readline() if out.stdin is not None else ""


def stdin_is_terminal(out: Output) -> bool:
    """Whether the run's stdin is a terminal (a pipe, a file or a StringIO is not)."""
    return isatty(out.stdin)


def read_pasted(out: Output, prompt: str) -> str:
    """What a person pastes (a redirect address or a code): one line from the run's stdin; when that
    is a terminal, read like a password by :func:`getpass.getpass` (no echo, so the code is not left
    on the screen: it reads the controlling terminal), with ``prompt`` on the run's stderr."""
    if not stdin_is_terminal(out):
        return read_line(out)
    try:
        return getpass.getpass(prompt, stream=out.stderr)
    except EOFError:  # Ctrl-D: nothing pasted
        return ""


def warn_argument(out: Output, what: str, safer: str) -> None:
    """One line on stderr: a secret given as an argument is visible to other programs (``ps``) and
    kept in the shell history; ``safer`` says how to give it instead."""
    out.note(
        f"warning: {what} given as an argument can be seen by other programs (ps) and stays in the shell "
        f"history; {safer}"
    )
