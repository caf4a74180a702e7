"""``sellers``: every seller authorized with the app, and when each needs attention; moving them all
to another grant store (``export``/``import``: :mod:`.sellers_transfer`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import timedelta

from ..display import seller_rows, shown, terminal_safe
from ..grants import GrantScope, Refresher, expiring
from ..legacy import IMPORT_COMMAND
from ..store import import_legacy, sellers_of
from .common import SubParsers, add_command, env_path, environ, non_negative_days, refuse_scenario, session
from .exits import UsageError
from .output import Output
from .sellers_transfer import export_sellers, import_sellers

__all__ = ["register", "run"]


def _elsewhere(scopes: dict[GrantScope, int]) -> str:
    """Where the other grants are, and how to see them."""
    parts = [f"{n} of {scope.describe()}" for scope, n in scopes.items()]
    total = sum(scopes.values())
    return (
        f"{total} more grant{'s' if total != 1 else ''} in this folder belong{'s' if total == 1 else ''} to "
        f"another app or mode ({'; '.join(parts)}): they are never used here. To see them, set TIKTOK_MODE "
        "(and the App Key) in .env to that app's."
    )


#: The actions that take a FILE.
_WITH_FILE = ("export", "import")


def _check_arguments(args: argparse.Namespace) -> None:
    """FILE goes with export and import (and they need one, and move every seller: no --seller or
    --expiring); --to goes with refresher."""
    if args.action in _WITH_FILE and not args.file:
        raise UsageError(f"sellers {args.action} needs a FILE: `sellers {args.action} grants.json`")
    if args.file is not None and args.action not in _WITH_FILE:
        raise UsageError(f"a FILE goes with `sellers export` and `sellers import`, not with `sellers {args.action}`")
    if args.to is not None and args.action != "refresher":
        raise UsageError("--to goes with `sellers refresher`")
    if args.action in _WITH_FILE and (args.seller is not None or args.expiring is not None):
        given = "--seller" if args.seller is not None else "--expiring"
        raise UsageError(f"{given} does not go with `sellers {args.action}`: it moves every seller of the app and mode")


def run(args: argparse.Namespace, out: Output) -> int:
    refuse_scenario(args, "sellers")
    _check_arguments(args)
    if args.action == "export":
        return export_sellers(args, out)
    if args.action == "import":
        return import_sellers(args, out)
    if args.action == "import-env":
        return _import(args, out)
    if args.action == "refresher":
        return _switch(args, out)
    listed = sellers_of(env_path(args, out), environ(args, out))
    grants = listed.grants
    if args.expiring is not None:
        grants = expiring(grants, timedelta(days=args.expiring))
    rows = seller_rows(grants, reveal=out.show_secrets)
    if rows:
        text = str(rows.table())
    elif args.expiring is not None:
        text = f"No seller's token ends within {args.expiring:g} days."
    else:
        text = f"No seller has authorized the app yet: `{out.command('authorize')}`."
    notes = []
    if listed.elsewhere:
        notes.append(_elsewhere(listed.elsewhere))
    if listed.settings.pending_import:
        notes.append(
            f"{listed.settings.env_path.name} still holds a single seller's tokens from an older runbook: "
            f"`{out.command(IMPORT_COMMAND)}` imports them."
        )
    for grant in listed.damaged:
        fixes = " then ".join(f"`{out.command(c)}`" for c in grant.repairs)
        notes.append(
            terminal_safe(f"#{grant.id} {grant.label}: {grant.problem}" + (f"; to repair: {fixes}" if fixes else ""))
        )
    elsewhere = [{"mode": scope.mode, "app_key": scope.app_key, "grants": n} for scope, n in listed.elsewhere.items()]
    data = {"ok": True, "sellers": rows.as_json(), "other_apps_or_modes": elsewhere}
    data["pending_import"] = list(listed.settings.pending_import)
    data["damaged"] = [
        {"id": g.id, "seller": g.label, "problem": g.problem, "repair": list(g.repairs)} for g in listed.damaged
    ]
    out.result(data, "\n\n".join([text, *notes]))
    return 0


def _switch(args: argparse.Namespace, out: Output) -> int:
    """``sellers refresher --to WHO``: who refreshes the seller (--seller, default the newest)."""
    if args.to is None:
        raise UsageError("sellers refresher needs --to runbook or --to api2cart")
    with session(args, out) as opened:
        grant, handover = opened.set_refresher(None, Refresher(args.to))
    if grant.held_by_api2cart:
        text = (
            f"API2Cart refreshes {grant.label} from now on: it was given the refresh token saved here "
            "(account.config.update) and confirmed the store works (cart.validate). `refresh --all` and "
            "`keepalive` leave this seller alone."
        )
    else:
        text = f"The runbook refreshes {grant.label} from now on (`refresh --all`, `keepalive`)." + (
            " Each refresh here hands the new refresh token to the seller's store in API2Cart."
            if grant.api2cart_store_key
            else ""
        )
    data = {"ok": True, "id": grant.id, "seller": grant.label, "refresher": grant.refresher.value}
    data["handed_to_api2cart"] = handover.done if handover is not None else None
    out.result(data, text)
    return 0


def _import(args: argparse.Namespace, out: Output) -> int:
    settings, done = import_legacy(env_path(args, out), environ(args, out))
    where = f"{settings.mode.value} mode, App Key {settings.app_key}"
    if done.grant is None and not done.removed:
        text = f"Nothing to import: {settings.env_path.name} holds no single seller's tokens."
    elif done.grant is None:
        text = f"Removed {', '.join(done.removed)} from {settings.env_path.name} (no refresh token to import)."
    else:
        how = "imported as" if done.added else "already in the grant database as"
        text = (
            f"{done.grant.label}: {how} seller #{done.grant.id} ({where}), refresh token "
            f"{shown(done.grant.refresh_token, reveal=out.show_secrets)}; "
            f"{len(done.removed)} line(s) removed from {settings.env_path.name}. TikTok's next token reply for this "
            "seller names them (open_id)."
        )
    data = {
        "ok": True,
        "imported": done.added,
        "seller": done.grant.id if done.grant else None,
        "removed": list(done.removed),
    }
    out.result(data, text)
    return 0


def register(commands: SubParsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = add_command(
        commands,
        "sellers",
        "every authorized seller: token expiries, API2Cart store, who refreshes them, what needs attention; "
        "export/import them to move to another grant store",
        """\
List every seller who authorized the app (one grant each, in the grant store: beside .env, or the
PostgreSQL database TIKTOK_GRANTS_URL names): name, base region, when the access token ends
(refresh before), when the refresh token ends (the seller must authorize again before), the
API2Cart store key and when the token was last proven to work. Reads the store only: no request
is made to TikTok or API2Cart.

Only the grants of the app and mode in use are listed (a grant records both); a note says when
the store holds grants of another app or mode.

When to use it: to see who needs attention; --expiring DAYS shows only the sellers whose access
or refresh token ends within DAYS. Pick one for another command with --seller NAME_OR_OPEN_ID.
`sellers import-env` imports the single seller's tokens of an older runbook's .env into the grant
database once (then removes those lines from .env); running it again changes nothing.

Each seller has one refresher: the runbook, or API2Cart once the seller's store is added there
("refreshed by"; TikTok does not document whether a refresh retires the old refresh token, so two
refreshers could leave each other a dead one). `sellers refresher --to api2cart|runbook` switches
the seller chosen with --seller (to API2Cart: the store is first given the refresh token saved
here and confirmed). "needs attention" shows a seller who removed the app or whose authorization
ends within 30 days (TikTok's webhooks 6 and 7, heard by `webhooks serve`).

Moving to another grant store (the file beside .env to the PostgreSQL database TIKTOK_GRANTS_URL
names, or back): `sellers export FILE` writes every grant of the app and mode in use (tokens,
shops, store key, who refreshes them, expiries) to a new FILE, readable by you only (mode 0600;
an existing file is never replaced). With .env naming the new store, `sellers import FILE` checks
the whole file, then adds each seller, or keeps the newer grant of a seller already there:
importing twice changes nothing. A file of another app or mode imports nothing. The file holds
every seller's tokens (never printed, not even with --show-secrets): move it only over a safe
channel and delete it after importing. Then point every machine at the new store and stop using
the old one: two stores holding the same grants would each refresh them.""",
        [
            "",
            "--expiring 2",
            "--json",
            "import-env",
            "refresher --to runbook --seller '#3'",
            "export grants.json",
            "import grants.json",
        ],
        run,
        parents=parents,
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=("list", "import-env", "refresher", "export", "import"),
        default="list",
        help="list (default) the sellers; import-env: import an older single-seller .env's tokens; "
        "refresher: switch who refreshes the --seller (with --to); export FILE / import FILE: move every "
        "seller's grant to another grant store through FILE",
    )
    p.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        default=None,
        help="with export: the new file to write (0600, never over an existing one); with import: the file "
        "`sellers export` wrote",
    )
    p.add_argument(
        "--to",
        choices=[r.value for r in Refresher],
        default=None,
        help="with refresher: runbook (refresh --all and keepalive refresh the seller) or api2cart (they leave "
        "the seller to API2Cart, which holds the store)",
    )
    p.add_argument(
        "--expiring",
        metavar="DAYS",
        type=non_negative_days,
        default=None,
        help="only sellers whose access or refresh token ends within DAYS",
    )
