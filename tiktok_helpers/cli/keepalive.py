"""``keepalive``: one pass for a scheduler (cron, a systemd timer): exit 0 all is well, 1 a person is needed."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from ..display import refresh_rows
from ..keepalive import DEFAULT_DUE_WITHIN, KeepAliveReport, keep_alive
from ..status import ENDING_SOON
from .common import SubParsers, add_command, bounded_int, non_negative_days, session
from .exits import EXIT_FAILURE
from .output import Output

__all__ = ["register", "run"]


def _json(report: KeepAliveReport, out: Output) -> dict[str, Any]:
    s = report.summary
    return {
        "ok": not report.needs_person,
        "needs_person": report.needs_person,
        "busy": report.busy or None,
        "refreshed": len(s.refreshed),
        "failed": len(s.failed),
        "skipped": len(s.skipped),
        "handover_failed": [
            {"id": o.seller.id, "seller": o.seller.label, "retry_command": out.command(o.handover.retry)}
            for o in s.handover_failed
            if o.handover is not None
        ],
        "outcomes": [row for row in refresh_rows(s).as_json() if row["status"] != "skipped"],
        "stores": [
            {
                "id": c.seller.id,
                "seller": c.seller.label,
                "store_key": out.secret(c.store_key),
                "ok": c.ok,
                "status": c.status or None,
                "error": c.error.title if c.error is not None else None,
                "error_detail": c.error.detail if c.error is not None else None,
            }
            for c in report.stores
        ],
        "attention": [{"id": g.id, "seller": g.label, "why": why} for g, why in report.attention],
    }


def _text(report: KeepAliveReport, out: Output) -> str:
    if report.busy:
        return f"Nothing done: {report.busy}. Two passes never overlap; this one ends here."
    s = report.summary
    lines = [
        f"Refreshed {len(s.refreshed)} seller(s); {len(s.failed)} failed; {len(s.skipped)} left alone "
        "(not due, API2Cart refreshes them, removed the app, or authorization ended)."
    ]
    for o in s.failed:
        lines.append(f"  refresh failed: #{o.seller.id} {o.seller.label}: {o.error}")
    for o in s.handover_failed:
        if o.handover is not None:
            lines.append(
                f"  #{o.seller.id} {o.seller.label}: {o.handover.message}; try again: `{out.command(o.handover.retry)}`"
            )
    ok_stores = [c for c in report.stores if c.ok]
    lines.append(f"API2Cart accepted {len(ok_stores)} of {len(report.stores)} store(s) it refreshes (cart.validate).")
    for c in report.failed_stores:
        lines.append(f"  store of #{c.seller.id} {c.seller.label}: {c.error}")
    for grant, why in report.attention:
        lines.append(f"  #{grant.id} {grant.label}: {why}")
    lines.append("A person is needed: see above." if report.needs_person else "All is well.")
    return "\n".join(lines)


def run(args: argparse.Namespace, out: Output) -> int:
    due = timedelta(days=args.due_within) if args.due_within is not None else DEFAULT_DUE_WITHIN
    ending = timedelta(days=args.ending_within) if args.ending_within is not None else ENDING_SOON
    with session(args, out) as opened:
        report = keep_alive(opened, due_within=due, ending_within=ending, concurrency=args.concurrency or 8)
    out.result(_json(report, out), _text(report, out))
    return EXIT_FAILURE if report.needs_person else 0


def register(commands: SubParsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = add_command(
        commands,
        "keepalive",
        "one pass for a scheduler: refresh what is due, check API2Cart's stores, report who needs a person",
        f"""\
One keep-alive pass over every seller of the app and mode in use:

  1. refresh the sellers the runbook refreshes whose access token ends within --due-within days
     (default {DEFAULT_DUE_WITHIN.days}); a refreshed seller with a store in API2Cart hands it the new refresh token;
  2. ask API2Cart to check the store of every seller API2Cart refreshes (cart.validate);
  3. report a seller who removed the app (TikTok's webhook, heard by `webhooks serve`), and an
     authorization that ends within --ending-within days (default {ENDING_SOON.days}) or has ended.

Exit status: 0 all is well; 1 a person is needed (a refresh, a hand-over or a store check failed,
or a seller must authorize again); 2 bad usage. With --json one object for monitoring. Two passes
never overlap: a second one started meanwhile does nothing and says so (exit 0).

When to use it: from a scheduler, once a day (access tokens last 7 days), e.g. cron
  17 6 * * *  cd /srv/runbook && .venv/bin/python -m tiktok_helpers keepalive --json >> keepalive.log
or a systemd timer (see the README).""",
        ["", "--json", "--due-within 1 --ending-within 14"],
        run,
        parents=parents,
    )
    p.add_argument(
        "--due-within",
        metavar="DAYS",
        type=non_negative_days,
        default=None,
        help=f"refresh a seller whose access token ends within DAYS (default {DEFAULT_DUE_WITHIN.days})",
    )
    p.add_argument(
        "--ending-within",
        metavar="DAYS",
        type=non_negative_days,
        default=None,
        help=f"report an authorization that ends within DAYS (default {ENDING_SOON.days})",
    )
    p.add_argument(
        "--concurrency",
        metavar="N",
        type=bounded_int(1, 64),
        default=None,
        help="how many refreshes at once (1 to 64, default 8)",
    )
