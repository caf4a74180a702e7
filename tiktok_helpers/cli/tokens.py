"""``exchange``, ``refresh`` and ``shops``: one token step each."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .common import SubParsers, add_command, read_line, session
from .output import Output

if TYPE_CHECKING:
    from ..results import AuthorizeEvent

__all__ = ["register", "run_exchange", "run_refresh", "run_shops"]


def _note(out: Output) -> Callable[[AuthorizeEvent], None]:
    from ..results import AuthorizeStep

    def show(event: AuthorizeEvent) -> None:
        if event.step is AuthorizeStep.NOTE:
            out.note(out.how(event.message, event.command))

    return show


def run_exchange(args: argparse.Namespace, out: Output) -> int:
    from ..status import status_of

    text: str | None = args.code_or_url
    if text == "-":
        text = read_line()
    with session(args, out) as opened:
        tokens = opened.exchange_pasted(text, on_progress=_note(out))
        env_path = opened.settings.env_path
        step = status_of(opened.settings).next_step
    data, lines = out.tokens(tokens)
    out.result(
        {"ok": True, **data, "env_file": str(env_path)},
        "\n".join(
            [
                f"Exchanged the code for tokens, saved to {env_path}:",
                lines,
                "",
                f"Next: {out.how(step.text, step.command)}.",
            ]
        ),
    )
    return 0


def run_refresh(args: argparse.Namespace, out: Output) -> int:
    with session(args, out) as opened:
        tokens = opened.refresh()
        env_path = opened.settings.env_path
    data, lines = out.tokens(tokens)
    out.result(
        {"ok": True, **data, "env_file": str(env_path)},
        f"Refreshed. The new pair is saved to {env_path} (always keep the latest refresh token):\n{lines}",
    )
    return 0


def run_shops(args: argparse.Namespace, out: Output) -> int:
    from ..display import shop_rows

    with session(args, out) as opened:
        shops = shop_rows(opened.authorized_shops())
    out.result(
        {"ok": True, "shops": shops.as_json()},
        f"{shops.table()}\n\nThe access token works. The first shop's cipher is saved as TIKTOK_SHOP_CIPHER."
        if shops
        else "The access token works, but it is authorized for no shop.",
    )
    return 0


def register(commands: SubParsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    from ..display import span
    from ..protocol import ACCESS_TOKEN_LIFETIME, AUTH_CODE_LIFETIME

    p = add_command(
        commands,
        "exchange",
        "exchange an auth code for tokens and save them",
        f"""\
Exchange an auth code for an access token and a refresh token, and save them to .env.

When to use it: after approving the app in a browser that this command line did not wait for (a
notebook, another machine), or to retry after `authorize` failed at the exchange. A code works
once and for {span(AUTH_CODE_LIFETIME)}.

Give the whole address the browser landed on, just the code, or - to read it from stdin (keeps it
out of the shell history). Without an argument the code saved in .env by `authorize` is used. The
address's state is not checked: the link was built elsewhere, so there is nothing to compare it
with.""",
        ["'https://example.com/callback?code=TTP_...&state=...'", "- < redirect.txt", ""],
        run_exchange,
        parents=parents,
    )
    p.add_argument(
        "code_or_url",
        metavar="CODE_OR_URL",
        nargs="?",
        default=None,
        help="redirect address or bare code; - reads one line from stdin; default: the code saved in .env",
    )
    add_command(
        commands,
        "refresh",
        "refresh the access token (saves the new pair)",
        f"""\
Get a new access token with the saved refresh token, and save the new pair to .env.

When to use it: the access token lasts about {span(ACCESS_TOKEN_LIFETIME)}; refresh before it ends (`status` shows
when), or when a call fails with "access token expired" (105002). The refresh token may change:
the latest one is always saved. When the refresh token itself has expired, authorize again.""",
        [""],
        run_refresh,
        parents=parents,
    )
    add_command(
        commands,
        "shops",
        "list the authorized shops (proves the access token works)",
        """\
Call Get Authorized Shops (a signed Open API request) with the saved access token and list the
shops it may act on, with their ciphers. The first shop's cipher is saved as TIKTOK_SHOP_CIPHER.

When to use it: right after authorizing, or to check that the saved token still works.""",
        ["", "--json"],
        run_shops,
        parents=parents,
    )
