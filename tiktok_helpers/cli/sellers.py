"""``sellers``: every seller authorized with the app, and when each needs attention."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .common import SubParsers, add_command, env_path, environ, non_negative_days, refuse_scenario
from .output import Output

__all__ = ["register", "run"]


def run(args: argparse.Namespace, out: Output) -> int:
    from datetime import timedelta

    from ..display import seller_rows
    from ..grants import expiring
    from ..store import sellers_of

    refuse_scenario(args, "sellers")
    grants = sellers_of(env_path(args), environ(args))
    if args.expiring is not None:
        grants = expiring(grants, timedelta(days=args.expiring))
    rows = seller_rows(grants, reveal=out.show_secrets)
    if rows:
        text = str(rows.table())
    elif args.expiring is not None:
        text = f"No seller's token ends within {args.expiring:g} days."
    else:
        text = f"No seller has authorized the app yet: `{out.command('authorize')}`."
    out.result({"ok": True, "sellers": rows.as_json()}, text)
    return 0


def register(commands: SubParsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = add_command(
        commands,
        "sellers",
        "every authorized seller: region, token expiries, API2Cart store key, last verified",
        """\
List every seller who authorized the app (one grant each, kept beside .env): name, base region,
when the access token ends (refresh before), when the refresh token ends (the seller must
authorize again before), the API2Cart store key and when the token was last proven to work.
Reads the files only: no request is made.

When to use it: to see who needs attention; --expiring DAYS shows only the sellers whose access
or refresh token ends within DAYS. Pick one for another command with --seller NAME_OR_OPEN_ID.""",
        ["", "--expiring 2", "--json"],
        run,
        parents=parents,
    )
    p.add_argument(
        "--expiring",
        metavar="DAYS",
        type=non_negative_days,
        default=None,
        help="only sellers whose access or refresh token ends within DAYS",
    )
