"""``api2cart add``, ``update``, ``validate`` and ``list``: the store in API2Cart."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..display import store_rows
from .common import SubParsers, add_command, session
from .exits import CommandFailed
from .output import Output

__all__ = ["register", "run_add", "run_list", "run_update", "run_validate"]


def run_add(args: argparse.Namespace, out: Output) -> int:
    with session(args, out) as opened:
        store_key = opened.add_store(custom_label=args.label, store_url=args.store_url)
        stores = opened.list_stores()
        env_path = opened.settings.env_path
        seller = opened.seller.label if opened.seller else "the seller"
        grants_path = opened.grants_location
    records = store_rows([s for s in stores if s.store_key == store_key], reveal=out.show_secrets)
    if not records:
        raise CommandFailed(
            "api2cart.not_listed",
            "Store not listed",
            "API2Cart accepted the store but it is not in account.cart.list: check the account in the API2Cart "
            f"admin panel, then run `{out.command('api2cart list')}`.",
        )
    key = out.secret(store_key)
    out.result(
        {"ok": True, "store_key": key, "store": records.as_json()[0], "env_file": str(env_path)},
        f"Added the TikTok Shop store to API2Cart; its store key {key} is saved with {seller}'s grant in "
        f"{grants_path}.\nConfirmed in the account's store list:\n{records.table()}\n\n"
        f"API2Cart holds {seller}'s refresh token now, so API2Cart refreshes this seller from here on: "
        f"`{out.command('refresh --all')}` and `{out.command('keepalive')}` leave them alone (`sellers` shows it; "
        f"`{out.command('sellers refresher --to runbook')}` switches back).",
    )
    return 0


def run_update(args: argparse.Namespace, out: Output) -> int:
    with session(args, out) as opened:
        store_key = opened.update_store()
        opened.api2cart().validate_store(store_key)  # confirms API2Cart can use the store now
        seller = opened.seller.label if opened.seller else "the seller"
    key = out.secret(store_key)
    out.result(
        {"ok": True, "store_key": key, "validated": True},
        f"Gave API2Cart {seller}'s current App Key, App Secret and refresh token for the store {key} "
        "(account.config.update).\nConfirmed: cart.validate accepts the store.",
    )
    return 0


def run_validate(args: argparse.Namespace, out: Output) -> int:
    with session(args, out) as opened:
        store_key = opened.validate_store()
        seller = opened.seller.label if opened.seller else "the seller"
    key = out.secret(store_key)
    out.result(
        {"ok": True, "store_key": key, "validated": True},
        f"cart.validate accepts {seller}'s store {key}: the credentials API2Cart holds work.",
    )
    return 0


def run_list(args: argparse.Namespace, out: Output) -> int:
    with session(args, out) as opened:
        stores = opened.list_stores()
    records = store_rows(stores, reveal=out.show_secrets)
    out.result({"ok": True, "stores": records.as_json()}, str(records.table()) if records else "(no stores yet)")
    return 0


def register(commands: SubParsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = add_command(
        commands,
        "api2cart",
        "add the store to API2Cart, give it a new refresh token, or list the account's stores",
        """\
API2Cart steps, with the API key in API2CART_API_KEY (the sandbox has its own).

  add     add the TikTok Shop store (App Key, App Secret, refresh token) and confirm it in the list
  update  give the store the seller's current refresh token (after a refresh) and validate it
  validate  ask API2Cart whether the credentials it holds for the seller's store still work
  list    the stores of the API2Cart account""",
        ["add --label 'My TikTok shop'", "update", "validate", "list"],
        run_list,
        parents=parents,
    )
    actions = p.add_subparsers(dest="api2cart_command", metavar="ACTION", title="actions", required=True)
    q = add_command(
        actions,
        "add",
        "add the TikTok Shop store and confirm it in the store list",
        """\
Add the TikTok Shop store to the API2Cart account (account.cart.add with cart_id TikTokShop and the
saved App Key, App Secret and refresh token), save the store key API2Cart returns on the seller's
grant, and confirm the store appears in account.cart.list. From then on API2Cart refreshes this
seller: `refresh --all` and `keepalive` leave them alone.

When to use it: once, after `authorize`. To see what is there already, use `api2cart list`.""",
        ["--label 'My TikTok shop'", "--label 'UK shop' --store-url https://shop.example.com"],
        run_add,
        parents=parents,
    )
    q.add_argument("--label", default=None, help="custom label shown in API2Cart's store list")
    q.add_argument("--store-url", default=None, help="the shop's URL, if you want API2Cart to record one")
    add_command(
        actions,
        "update",
        "give the store in API2Cart the seller's current refresh token, then validate it",
        """\
Give the store saved on the seller's grant (--seller, default the newest) the App Key, App Secret
and the seller's current refresh token (account.config.update with the store key), then confirm
with cart.validate that API2Cart can use it.

When to use it: when a refresh made here could not hand the new refresh token to the store (it
says so, and names this command). A refresh of one seller hands it over by itself. API2Cart holds
the refresh token it was given; should a refresh made here have retired it (TikTok does not
document whether a refresh does), the store is refused (the sandbox answers 100, store API access
error; API2Cart does not publish which code it uses) until it gets the current one. The parameters
go in the query string, as API2Cart's API description declares. Add the store first with
`api2cart add`.""",
        ["", "--seller 'Sandbox US Store'"],
        run_update,
        parents=parents,
    )
    add_command(
        actions,
        "validate",
        "ask API2Cart whether the store's credentials still work",
        """\
Ask API2Cart whether it can use the store saved on the seller's grant (--seller, default the
newest) with the credentials it holds (cart.validate with the store key). Nothing is changed.

When to use it: after a refresh made here or elsewhere (a 100 answer can mean API2Cart's refresh
token no longer works: run `api2cart update`), or when a store key may have been deleted (101).
`keepalive` does this for every seller API2Cart refreshes.""",
        ["", "--seller 'Sandbox US Store'"],
        run_validate,
        parents=parents,
    )
    add_command(
        actions,
        "list",
        "the stores of the API2Cart account",
        """\
List the stores of the API2Cart account (account.cart.list): label, platform, URL, store key
(masked unless --show-secrets).

When to use it: to confirm the TikTok Shop store is connected, or to find its store key.""",
        ["", "--json"],
        run_list,
        parents=parents,
    )
