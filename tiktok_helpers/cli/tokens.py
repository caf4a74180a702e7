"""``exchange``, ``refresh`` and ``shops``: one token step each."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Final

from ..display import refresh_rows, shop_rows, span
from ..protocol import ACCESS_TOKEN_LIFETIME, AUTH_CODE_LIFETIME
from ..redirect import check_pasted
from ..results import (
    AuthorizeEvent,
    AuthorizeStep,
    RefreshInterrupted,
    RefreshOutcome,
    RefreshSummary,
    TokensNotSaved,
)
from ..text import local_time
from .common import (
    SubParsers,
    add_command,
    bounded_int,
    non_negative_days,
    read_pasted,
    session,
    stdin_is_terminal,
    warn_argument,
)
from .exits import EXIT_FAILURE, UsageError
from .output import Output, ProgressBar

__all__ = ["register", "run_exchange", "run_refresh", "run_shops"]


def _note(out: Output) -> Callable[[AuthorizeEvent], None]:
    def show(event: AuthorizeEvent) -> None:
        if event.step is AuthorizeStep.NOTE:
            out.note(out.how(event.message, event.command))

    return show


#: After a pair that could not be saved and was not shown, what is left to do.
_LOST_AFTER_REFRESH: Final = (
    "fix the cause, then refresh again: if TikTok did not replace the refresh token with this reply (it does "
    "not document whether a refresh does), the saved one still works; if it did, the seller must approve the "
    "app again"
)
_LOST_AFTER_EXCHANGE: Final = "fix the cause, then authorize again: the code is spent"


def _unsaved(out: Output, exc: TokensNotSaved, env_path: Path, lost: str) -> TokensNotSaved:
    """A pair that arrived and could not be saved, in the command line's words: shown only with
    --show-secrets (a terminal, never with --json), with how to save it by hand."""
    if not out.show_secrets or out.json:
        return exc.saying(
            "the pair was not shown (only --show-secrets shows it, on a terminal), so it ends with this "
            f"command; {lost}"
        )
    _, lines = out.tokens(exc.pair)
    out.result({}, f"The new pair for {exc.seller}, NOT saved (nothing else holds it):\n{lines}")
    return exc.saying(
        f"copy the refresh token shown above now; once {Path(exc.path).name} can be written again, add the line "
        f"TIKTOK_REFRESH_TOKEN=<that refresh token> to {env_path}, run `{out.command('sellers import-env')}`, "
        "then refresh the imported seller once (their grants become one)"
    )


#: What the prompt of ``exchange`` asks (the answer is read without echo on a terminal).
_ASK: Final = "Paste the address the browser landed on after Authorize, or just the code (hidden): "


def run_exchange(args: argparse.Namespace, out: Output) -> int:
    """Where the code comes from: ``-`` (stdin, hidden on a terminal), the argument (works, with a
    warning: ``ps`` and the shell history see it), or nothing: the code saved in .env, else, on a
    terminal, a hidden prompt. Pasted text is checked before anything is started or written."""
    text: str | None = args.code_or_url
    if text == "-":
        text = read_pasted(out, _ASK)
    if text is not None:
        check_pasted(text)
    if args.code_or_url not in (None, "-"):
        warn_argument(
            out,
            "a code",
            f"give it on standard input (`{out.command('exchange -')}`) or at the prompt "
            f"(`{out.command('exchange')}` with no argument asks for it)",
        )
    with session(args, out) as opened:
        if text is None and not opened.settings.auth_code and stdin_is_terminal(out):
            text = read_pasted(out, _ASK)
        try:
            tokens = opened.exchange_pasted(text, on_progress=_note(out))
        except TokensNotSaved as exc:
            raise _unsaved(out, exc, opened.settings.env_path, _LOST_AFTER_EXCHANGE) from None
        env_path = opened.settings.env_path
        grants_path = opened.grants_location
        step = opened.status().next_step
    data, lines = out.tokens(tokens)
    out.result(
        {"ok": True, **data, "env_file": str(env_path)},
        "\n".join(
            [
                f"Exchanged the code for tokens, saved with the seller's grant in {grants_path}:",
                lines,
                "",
                f"Next: {out.how(step.text, step.command)}.",
            ]
        ),
    )
    return 0


def run_refresh(args: argparse.Namespace, out: Output) -> int:
    if args.all:
        return _refresh_all(args, out)
    if args.concurrency is not None or args.due_within is not None:
        raise UsageError("--concurrency and --due-within go with --all")
    with session(args, out) as opened:
        try:
            tokens = opened.refresh()
        except TokensNotSaved as exc:
            raise _unsaved(out, exc, opened.settings.env_path, _LOST_AFTER_REFRESH) from None
        seller = opened.seller.label if opened.seller else "the seller"
        grants_path = opened.grants_location
    data, lines = out.tokens(tokens)
    if tokens.already_refreshed_at is not None:
        # another refresh of this seller landed while this one waited for it: nothing was sent
        data = {**data, "already_refreshed_at": tokens.already_refreshed_at.isoformat()}
        text = (
            f"{seller} was already refreshed at {local_time(tokens.already_refreshed_at)}, by another refresh: "
            f"nothing was sent. The pair it saved in {grants_path}:\n{lines}"
        )
    else:
        text = f"Refreshed {seller}. The new pair is saved in {grants_path} (always keep the latest refresh token):\n"
        text += lines
    handover = tokens.handover
    if handover is not None:
        data = {**data, "handover": out.handover(handover)}
        retry = "" if handover.done else f" To try again: `{out.command(handover.retry)}`."
        text += f"\n\n{handover.message}.{retry}"
    ok = handover is None or handover.done
    out.result({"ok": ok, **data, "grant_store": grants_path}, text)
    return 0 if ok else EXIT_FAILURE


def _refresh_all(args: argparse.Namespace, out: Output) -> int:
    due = timedelta(days=args.due_within) if args.due_within is not None else None
    bar = ProgressBar(out.stderr, "refreshing")
    with session(args, out) as opened:
        env_path, grants_path = opened.settings.env_path, opened.grants_location
        try:
            summary = opened.refresh_all(
                concurrency=args.concurrency or 8,
                due_within=due,
                on_progress=lambda outcome, done, total: bar.update(done, total, outcome.status.value),
            )
        except RefreshInterrupted as stopped:  # the refreshes in flight have landed
            bar.close()
            unsaved = [o for o in _unsaved_in(out, stopped.summary, env_path).outcomes if o.unsaved]
            for outcome in unsaved:
                out.note(f"error: {outcome.error}")
            out.note(
                f"Stopped after {len(stopped.summary.outcomes)} of {stopped.total} sellers: nothing more was sent; "
                f"each pair that arrived is saved in {grants_path}{', but for the errors above' if unsaved else ''}."
            )
            raise
        finally:
            bar.close()
    summary = _unsaved_in(out, summary, env_path)
    rows = refresh_rows(summary)
    counts = (
        f"{len(summary.refreshed)} refreshed, {len(summary.failed)} failed, {len(summary.skipped)} skipped "
        "(API2Cart refreshes them, not due, authorization ended or removed, or already refreshed)"
    )
    text = f"{rows.table() if rows else '(no sellers yet)'}\n\n{counts}. Each new pair is saved in {grants_path}."
    for o in summary.handover_failed:
        retry = out.command(o.handover.retry) if o.handover else ""
        text += f"\n{o.seller.label}: {o.handover.message if o.handover else ''}. To try again: `{retry}`."
    ok = not summary.failed and not summary.handover_failed
    out.result({"ok": ok, "outcomes": rows.as_json(), "grant_store": grants_path}, text)
    return 0 if ok else EXIT_FAILURE


def _unsaved_in(out: Output, summary: RefreshSummary, env_path: Path) -> RefreshSummary:
    """A bulk refresh's pairs that could not be saved, each in the command line's words (and shown
    with --show-secrets, on a terminal)."""

    def worded(outcome: RefreshOutcome) -> RefreshOutcome:
        if not outcome.unsaved or not isinstance(outcome.error, TokensNotSaved):
            return outcome
        return dataclasses.replace(outcome, error=_unsaved(out, outcome.error, env_path, _LOST_AFTER_REFRESH))

    return RefreshSummary(tuple(worded(o) for o in summary.outcomes))


def run_shops(args: argparse.Namespace, out: Output) -> int:
    with session(args, out) as opened:
        shops = shop_rows(opened.authorized_shops())
    out.result(
        {"ok": True, "shops": shops.as_json()},
        f"{shops.table()}\n\nThe access token works. The shops and their ciphers are saved with the seller's grant."
        if shops
        else "The access token works, but it is authorized for no shop.",
    )
    return 0


def register(commands: SubParsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = add_command(
        commands,
        "exchange",
        "exchange an auth code for tokens and save them",
        f"""\
Exchange an auth code for an access token and a refresh token, and save them as the seller's grant.

When to use it: after approving the app in a browser that this command line did not wait for (a
notebook, another machine), or to retry after `authorize` failed at the exchange. A code works
once and for {span(AUTH_CODE_LIFETIME)}.

Give the whole address the browser landed on, or just the code: best with - to read it from stdin,
or with no argument to be asked for it (hidden) when no code is saved. Given as an argument it
works too, with a warning: other programs see it (ps) and the shell history keeps it. Without an
argument the code saved in .env by `authorize` is used. The address's state is not checked: the
link was built elsewhere, so there is nothing to compare it with.""",
        [
            "- < redirect.txt",
            "          # the code saved by authorize, else asks for it",
            "-         # paste, Enter (hidden on a terminal)",
        ],
        run_exchange,
        parents=parents,
    )
    p.add_argument(
        "code_or_url",
        metavar="CODE_OR_URL",
        nargs="?",
        default=None,
        help="- reads the redirect address or bare code from stdin (hidden on a terminal); default: the code "
        "saved in .env, else a hidden prompt on a terminal; an address or code given here works but warns",
    )
    p = add_command(
        commands,
        "refresh",
        "refresh the access token of a seller, or of every seller (saves each new pair)",
        f"""\
Get a new access token with the seller's refresh token (--seller, default the newest), and save
the new pair with their grant. With --all: every seller, --concurrency at a time; one seller's
failure never stops the others, and each new pair is saved the moment it arrives.

When to use it: the access token lasts about {span(ACCESS_TOKEN_LIFETIME)}; refresh before it ends (`status` shows
when), or when a call fails with "access token expired" (105002). The refresh token may change:
the latest one is always saved. When the refresh token itself has expired, authorize again.

One refresher per seller: once a seller's store is in API2Cart, API2Cart refreshes them and --all
leaves them alone (`sellers` says who refreshes whom; `sellers refresher` switches). Refreshing such
a seller alone (--seller) hands the new refresh token to the store at once (account.config.update,
then cart.validate) and says what happened; if that fails, the new pair is saved anyway and the
command to retry is shown (exit 1).
Two refreshes of one seller never overlap (other terminals and notebooks included): the later one
waits, then says "already refreshed". Ctrl-C, SIGTERM and SIGHUP stop it without losing a reply.""",
        ["", "--seller 'Sandbox US Store'", "--all --concurrency 16 --due-within 1"],
        run_refresh,
        parents=parents,
    )
    p.add_argument("--all", action="store_true", help="refresh every authorized seller")
    p.add_argument(
        "--concurrency",
        metavar="N",
        type=bounded_int(1, 64),
        default=None,
        help="with --all: how many refreshes at once (1 to 64, default 8)",
    )
    p.add_argument(
        "--due-within",
        metavar="DAYS",
        type=non_negative_days,
        default=None,
        help="with --all: skip a seller whose access token lasts longer than DAYS (e.g. 1)",
    )
    add_command(
        commands,
        "shops",
        "list the authorized shops (proves the access token works)",
        """\
Call Get Authorized Shops (a signed Open API request) with the saved access token and list the
shops it may act on, with their ciphers, saved with the seller's grant.

When to use it: right after authorizing, or to check that the saved token still works.""",
        ["", "--json"],
        run_shops,
        parents=parents,
    )
