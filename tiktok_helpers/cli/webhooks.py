"""``webhooks serve`` and ``webhooks verify``: hearing TikTok Shop's webhooks."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from ..keeping import webhook_app
from ..settings import Mode
from ..store import RunbookStore
from ..webhook_receiver import Receiver
from ..webhooks import WebhookError, read_delivery
from .common import SubParsers, add_command, bounded_int, env_path, environ, refuse_scenario
from .exits import EXIT_FAILURE, UsageError
from .output import Output

__all__ = ["DEFAULT_PORT", "register", "run_serve", "run_verify"]

DEFAULT_PORT = 8771
#: The most ``webhooks verify`` reads of a saved delivery (the receiver's own limit).
_MAX_FILE = 65536


def _store(args: argparse.Namespace, out: Output) -> RunbookStore:
    return RunbookStore(env_path(args, out), environ(args, out))


def run_serve(args: argparse.Namespace, out: Output) -> int:
    refuse_scenario(args, "webhooks serve")
    store = _store(args, out)
    try:
        settings = store.load()
        app = webhook_app(store, settings, log=lambda line: out.note(line))
        receiver = Receiver(app, host=args.host, port=args.port)
        receiver.start()
        where = f"{settings.mode.value} mode, App Key {settings.app_key}"
        out.note(
            f"Listening for TikTok Shop webhooks of {where} on {receiver.url} (Ctrl-C to stop). Each verified "
            f"notice is applied to the sellers' grants in {store.grants.location}."
        )
        if settings.mode is Mode.SANDBOX:
            out.note(f"Sandbox: set TIKTOK_WEBHOOK_URL={receiver.url} in .env so the sandbox sends its webhooks here.")
        else:
            out.note(
                "Live: TikTok delivers only to an https URL with a domain name and no port (TLS 1.2+): put an HTTPS "
                "reverse proxy or a tunnel in front of this address, and set that URL in Partner Center."
            )
        try:
            threading.Event().wait()  # until Ctrl-C (the command line turns SIGTERM and SIGHUP into it)
        except KeyboardInterrupt:
            out.note("Stopped.")
        finally:
            receiver.stop()
    finally:
        store.close()
    return 0


def _read_file(name: str, out: Output) -> bytes:
    if name == "-":
        stream = out.stdin.buffer if out.stdin is not None and hasattr(out.stdin, "buffer") else sys.stdin.buffer
        body = stream.read(_MAX_FILE + 1)
    else:
        try:
            with Path(name).open("rb") as handle:
                body = handle.read(_MAX_FILE + 1)
        except OSError as exc:
            raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    if len(body) > _MAX_FILE:
        raise UsageError(f"{name} is over {_MAX_FILE} bytes: a TikTok webhook delivery is much smaller")
    return body


def run_verify(args: argparse.Namespace, out: Output) -> int:
    refuse_scenario(args, "webhooks verify")
    body = _read_file(args.file, out)
    store = _store(args, out)
    try:
        settings = store.load()
        settings.require("TIKTOK_APP_KEY", "TIKTOK_APP_SECRET")
        try:
            notice = read_delivery(body, args.signature, app_key=settings.app_key, app_secret=settings.app_secret)
        except WebhookError as exc:
            out.result({"ok": False, "verified": False, "error": exc.title, "detail": exc.detail}, str(exc))
            return EXIT_FAILURE
        applied = store.grants.record_notice(notice) if args.apply else None
    finally:
        store.close()
    data = {"ok": True, "verified": True, "type": notice.type, "notification_id": notice.notification_id}
    data["shop_id"] = notice.shop_id or None
    text = f"The signature is valid for App Key {settings.app_key}: {notice.describe()}."
    if applied is not None:
        data["applied"] = applied.outcome
        data["duplicate"] = applied.duplicate
        text += f"\nApplied to the grants: {applied.outcome}."
    out.result(data, text)
    return 0


def register(commands: SubParsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = add_command(
        commands,
        "webhooks",
        "hear TikTok Shop's webhooks (a seller removed the app, an authorization ends soon)",
        """\
TikTok Shop sends webhooks to the URL set for the app: type 6 when a seller removes the app, type 7
every day from 30 days before an authorization ends, type 20 when a creator removes it. Each
verified notice is applied to the seller's grant (found by shop id), once per notification id:
`sellers`, `status`, `doctor` and the expiry chart then show it.

  serve   a receiver on this computer (POST only; 200, 401 for a bad signature, 400 for a body
          that is not JSON; empty answers within 3 s). Live, TikTok delivers only to an https
          URL with a domain name, no port, TLS 1.2+: run it behind an HTTPS reverse proxy (or use
          its WSGI application with gunicorn); see the README. Delivery logs: Partner Console,
          Development Kits, Webhook Log.
  verify  check a saved delivery's signature (the raw body as received, and the Authorization
          header's value); --apply applies it too.""",
        ["serve", "serve --port 0", "verify delivery.json --signature 5dec0f11..."],
        run_serve,
        parents=parents,
    )
    actions = p.add_subparsers(dest="webhooks_command", metavar="ACTION", title="actions", required=True)
    q = add_command(
        actions,
        "serve",
        "receive TikTok's webhooks here and apply each to the sellers' grants",
        f"""\
Listen on --host:--port (default 127.0.0.1:{DEFAULT_PORT}) and apply each verified notice to the grants of
the app and mode in use. Nothing secret is logged (one line per delivery on stderr). Ctrl-C stops it.

In sandbox mode, set TIKTOK_WEBHOOK_URL to the address it prints: the sandbox then sends its
webhooks there (`sandbox --deauthorize SELLER`, or the sandbox's sellers page).""",
        ["", "--port 0", "--host 0.0.0.0 --port 8080"],
        run_serve,
        parents=parents,
    )
    q.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    q.add_argument(
        "--port",
        metavar="N",
        type=bounded_int(0, 65535),
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 = any free)",
    )
    q = add_command(
        actions,
        "verify",
        "check a saved delivery's signature with the app's App Key and App Secret",
        """\
Check that FILE (the raw body of a delivery, byte for byte; - reads stdin) carries the signature
--signature (the Authorization header's value) for the app in use: TikTok signs the App Key
followed by the raw body with the App Secret (HMAC-SHA256). A body saved after re-formatting does
not verify. Exit 0 valid, 1 not. --apply also applies the notice to the grants (once).""",
        [
            "delivery.json --signature 5dec0f11...",
            "- --signature 5dec0f11... < delivery.json",
            "delivery.json --signature X --apply",
        ],
        run_verify,
        parents=parents,
    )
    q.add_argument("file", metavar="FILE", help="the delivery's raw body, as received (- for stdin)")
    q.add_argument("--signature", required=True, help="the value of the delivery's Authorization header")
    q.add_argument("--apply", action="store_true", help="also apply the verified notice to the sellers' grants")
