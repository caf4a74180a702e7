"""``authorize``: the whole authorization, through :meth:`Session.authorize`; this module shows its
progress (the link, the catcher's time left, notes) and its result."""

from __future__ import annotations

import argparse
import webbrowser
from collections.abc import Sequence
from typing import Literal

from ..attempt import APP_STORE_RISK
from ..authlink import AuthorizationLink
from ..autopilot import SANDBOX_SELLER_FIELD
from ..display import shop_rows, span
from ..errors import REDIRECT_URL_FIELD, MissingAuthCode, ValidationError
from ..protocol import AUTH_CODE_LIFETIME
from ..redirect import check_pasted
from ..results import AuthorizeEvent, AuthorizeStep
from .common import SubParsers, add_command, positive_seconds, read_line, read_pasted, session, warn_argument
from .exits import UsageError
from .output import CatcherProgress, Output

__all__ = ["register", "run"]


def _check_options(args: argparse.Namespace) -> None:
    if args.deny and not args.sandbox_approve:
        raise UsageError("--deny only goes with --sandbox-approve (it makes the sandbox press Cancel)")
    if args.sandbox_seller is not None and not args.sandbox_approve:
        raise UsageError("--sandbox-seller only goes with --sandbox-approve (it says who presses Authorize)")
    if args.paste is not None and args.sandbox_approve:
        raise UsageError("--paste and --sandbox-approve exclude each other: give the address, or let the sandbox")
    if args.paste is not None and args.app_store_install:
        raise UsageError("--app-store-install goes with the catcher or the prompt: --paste checks no state anyway")


def _show_link(
    out: Output, args: argparse.Namespace, link: AuthorizationLink, listening: str | None, sandbox: bool
) -> None:
    lines = [f"Authorization link ({link.auth_type.value}):", f"  {link.url}"]
    if args.sandbox_approve:
        lines.append("Sandbox: the sample seller will answer the consent page (--sandbox-approve).")
    elif sandbox:
        lines.append("Open it in a browser: the sandbox's consent page stands in for TikTok's. Press Authorize.")
    else:
        lines.append(
            "Open it in a browser where the seller is logged in to TikTok Shop, check the app and its "
            "permissions, and press Authorize."
        )
    if listening:
        lines.append(f"The redirect back is caught on {listening} (its state is checked).")
    out.info("\n".join(lines))
    if args.open and not webbrowser.open(link.url):
        out.note("Could not open a browser here: open the link above yourself.")


def _prompt(out: Output) -> str:
    out.note(
        "After you press Authorize the browser goes to the app's callback URL. Paste that whole address "
        "(or just the code) here and press Enter:"
    )
    line = read_line(out)
    if not line.strip():
        raise MissingAuthCode("nothing was pasted")
    return line


def _pasted(args: argparse.Namespace, out: Output) -> str | None:
    """The --paste text (``-``: read from stdin, hidden on a terminal), checked before anything is
    started or written; the argument form works but warns (``ps`` and the shell history see it)."""
    if args.paste is None:
        return None
    if args.paste == "-":
        text = read_pasted(out, "Paste the address the browser landed on after Authorize (hidden): ")
        check_pasted(text)
        return text
    check_pasted(args.paste)
    warn_argument(
        out,
        "an address with a code",
        f"give it on standard input (`{out.command('authorize --paste -')}`), or let "
        f"`{out.command('authorize --no-catch')}` ask for it",
    )
    return str(args.paste)


def run(args: argparse.Namespace, out: Output) -> int:
    _check_options(args)
    pasted = _pasted(args, out)
    decision: Literal["authorize", "cancel"] | None = None
    if args.sandbox_approve:
        decision = "cancel" if args.deny else "authorize"
    catching = args.paste is None and not args.no_catch
    progress = CatcherProgress(out.stderr)
    with session(args, out) as opened:
        if args.sandbox_approve and not opened.is_sandbox:
            raise UsageError(
                "--sandbox-approve only exists in sandbox mode: in live mode the seller presses Authorize in a browser"
            )

        def on_progress(event: AuthorizeEvent) -> None:
            if event.step is AuthorizeStep.LINK and event.link is not None:
                _show_link(out, args, event.link, event.listening, opened.is_sandbox)
                progress.arm()
            elif event.step is AuthorizeStep.WAITING and event.catcher is not None:
                progress(event.catcher)
            elif event.step is AuthorizeStep.NOTE:
                out.note(out.how(event.message, event.command))

        try:
            result = opened.authorize(
                auth_type=args.type,
                pasted=pasted,
                prompt=None if catching else (lambda _link: _prompt(out)),
                sandbox_decision=decision,
                sandbox_seller=args.sandbox_seller,
                wait=args.wait,
                app_store_install=args.app_store_install,
                on_progress=on_progress,
            )
        except ValidationError as exc:
            offered = next((p.message for p in exc.problems if p.field == SANDBOX_SELLER_FIELD), None)
            if offered is not None:  # a name the consent page does not offer: bad usage, with the names it does
                raise UsageError(f"--sandbox-seller: {offered}") from None
            if catching and REDIRECT_URL_FIELD in exc.fields:
                out.note(f"Tip: `{out.command('authorize --no-catch')}` lets you paste the address instead.")
            raise
        finally:
            progress.close()
        step = opened.status().next_step
    data, tokens_text = out.tokens(result.tokens)
    shops = shop_rows(result.shops)
    seller = result.tokens.seller_name
    out.result(
        {
            "ok": True,
            "link": result.link.url if result.link else None,
            **data,
            "shops": shops.as_json(),
            "env_file": str(result.env_path),
            "grant_store": result.grants_location,
        },
        "\n".join(
            [
                f"Authorized{f' by {seller}' if seller else ''}. Tokens saved with the seller's grant in "
                f"{result.grants_location}:",
                tokens_text,
                "",
                "Authorized shops (the token works; they are saved with the seller's grant, ciphers included):",
                str(shops.table()) if shops else "(no shops)",
                "",
                f"Next: {out.how(step.text, step.command)}.",
            ]
        ),
    )
    return 0


def register(commands: SubParsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = add_command(
        commands,
        "authorize",
        "approve the app and get tokens (link, redirect, exchange, verify, save)",
        f"""\
Build the authorization link, wait for the seller to press Authorize, exchange the code, prove the
tokens work (Get Authorized Shops) and save them as the seller's grant (beside .env). Authorizing
another seller adds a grant; the same seller again updates theirs (see `sellers`).

When to use it: once to connect a shop, and again when the refresh token has expired, the seller
removed the app, or you added scopes to the app.

By default the redirect back is caught on this computer: the app's redirect URL must be
http://127.0.0.1:<port>/<path> (or localhost). Progress (time left) is shown on stderr. When the
browser runs on another machine, or the redirect URL is not on this computer, use --no-catch and
paste the address the browser lands on (or pass it with --paste). The link's state is checked when
the redirect is caught or pasted at the prompt; an address given to --paste is not checked, since
this command did not build the link it answers. A redirect without state is refused, unless
--app-store-install says the seller installs the app from the TikTok Shop App Store (that redirect
carries none). A refusal without state never ends the wait (any page could send one), but is shown:
if it was the seller's Cancel, press Ctrl-C.

The code is saved to .env before the exchange, so if the exchange fails on the way, `exchange`
(no argument) can retry it within {span(AUTH_CODE_LIFETIME)}.""",
        [
            "--open",
            "--no-catch",
            "--paste - < redirect.txt   # the address the browser landed on, from stdin",
            "--sandbox-approve        # sandbox: the sample seller presses Authorize",
            "--sandbox-approve --sandbox-seller us   # a second seller, in another region",
        ],
        run,
        parents=parents,
    )
    p.add_argument(
        "--type",
        choices=["seller", "partner", "creator"],
        default=None,
        help="authorization type (default: TIKTOK_AUTH_TYPE, else seller)",
    )
    p.add_argument("--open", action="store_true", help="open the link in this computer's browser")
    p.add_argument(
        "--no-catch",
        action="store_true",
        help="do not listen for the redirect: paste the address from the browser at a prompt (read from stdin)",
    )
    p.add_argument(
        "--paste",
        metavar="URL_OR_CODE",
        default=None,
        help="the address the browser landed on after Authorize (or just the code); - reads it from stdin "
        "(hidden on a terminal; an address given here works but warns: ps and the shell history see it); "
        "implies --no-catch, builds no link, and so does not check the state",
    )
    p.add_argument(
        "--wait",
        metavar="SECONDS",
        type=positive_seconds,
        default=300.0,
        help="how long to wait for the redirect (default 300)",
    )
    p.add_argument(
        "--sandbox-approve",
        action="store_true",
        help="sandbox mode only: the sandbox presses Authorize as the sample seller, so this runs unattended",
    )
    p.add_argument(
        "--app-store-install",
        action="store_true",
        help="the seller installs the app from the TikTok Shop App Store, whose redirect carries no state: "
        f"accept a redirect without one. Risk: {APP_STORE_RISK}",
    )
    p.add_argument("--deny", action="store_true", help="with --sandbox-approve: press Cancel instead (a refusal)")
    p.add_argument(
        "--sandbox-seller",
        metavar="NAME",
        default=None,
        help="with --sandbox-approve: the sample seller who logs in (its key or name, e.g. us or "
        "'Sandbox US Store'; default: the one of the region) — each seller gets a grant of their own",
    )
