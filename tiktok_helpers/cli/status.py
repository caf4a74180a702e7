"""``status``: what is configured, the mode, when each token expires, and the next step."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..display import status_rows
from ..status import load_status
from .common import SubParsers, add_command, chosen_seller, env_path, environ, refuse_scenario
from .output import Output

__all__ = ["register", "run"]


def run(args: argparse.Namespace, out: Output) -> int:
    refuse_scenario(args, "status")
    with chosen_seller(args):  # an unknown or ambiguous --seller is a usage error, as elsewhere
        status = load_status(env_path(args, out), environ(args, out), seller=args.seller)
    rows = status_rows(status, reveal=out.show_secrets, prog=out.prog)
    step = status.next_step
    out.result(rows.as_json(), f"{rows.text()}\n\nNext: {out.how(step.text, step.command)}.")
    return 0


def register(commands: SubParsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    add_command(
        commands,
        "status",
        "what is configured, the mode, when each token expires",
        """\
Show the settings in use (secrets masked), the mode (sandbox or live) and where requests go, when
the access token, refresh token and any waiting auth code expire (local time and relative), and
the next step. Reads .env and the environment only: no request is made.

With --json: ISO 8601 timestamps and seconds left, for scripts (e.g. refresh when under a day).""",
        ["", "--json", "--env-file ../shop-b/.env"],
        run,
        parents=parents,
    )
