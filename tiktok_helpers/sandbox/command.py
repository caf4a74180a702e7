"""The sandbox's own command: its options, declared once, and serving until Ctrl-C.

``python -m tiktok_helpers.sandbox`` and the runbook's ``sandbox`` command both use
:func:`add_arguments` and :func:`serve`, so the two cannot drift apart. ``--deauthorize SELLER``
does not serve: it removes the app for a sample seller in the ``--state`` file, sends (or queues)
the webhook, says what it did in two lines and exits.
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
import threading
from types import FrameType

from tiktok_helpers.authlink import build_authorization_link
from tiktok_helpers.regions import AuthType, sandbox_endpoints
from tiktok_helpers.samples import (
    SANDBOX_API2CART_KEY,
    SANDBOX_APP_KEY,
    SANDBOX_APP_SECRET,
    SANDBOX_REDIRECT_URL,
    SANDBOX_SERVICE_ID,
)

from .database import StateFileError
from .handler import MAX_LATENCY_MS, check_latency_ms
from .model import REFRESH_READINGS
from .pages import SELLERS_PATH
from .sample_data import SAMPLE_SELLERS, sample_seller_key
from .scenarios import check_scenario, scenario_lines
from .server import Sandbox, check_port
from .state import SandboxState
from .webhooks import check_webhook_url

__all__ = ["DEFAULT_PORT", "add_arguments", "build_parser", "deauthorize", "main", "scenario_name", "serve"]

DEFAULT_PORT = 8770
#: The banner's line on the refresh reading served: the sandbox's choice, not TikTok's documented behaviour.
_READING_LINES = {
    "new": "refresh reading 'new': a refresh returns a NEW refresh token and retires the old one; the sandbox's "
    "choice, TikTok does not document it (--refresh-reading same serves the other reading)",
    "same": "refresh reading 'same': a refresh returns the SAME refresh token, which keeps working; the sandbox's "
    "choice, TikTok does not document it (--refresh-reading new serves the other reading)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tiktok_helpers.sandbox",
        description="Serve a local simulation of TikTok Shop authorization, Open API and API2Cart.",
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sandbox's options (the runbook's ``sandbox`` command declares them through this too)."""
    parser.add_argument(
        "--port",
        metavar="N",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1, 0 to 65535 (default {DEFAULT_PORT}; 0 = any free)",
    )
    parser.add_argument(
        "--redirect-url",
        default=None,
        help="the sample app's registered callback URL "
        f"(default: the one saved in the --state file, else {SANDBOX_REDIRECT_URL})",
    )
    parser.add_argument(
        "--state",
        metavar="PATH",
        default=None,
        help="keep codes, tokens and API2Cart stores in this SQLite database (mode 0600), shared with "
        "other sandboxes started with the same file; created if it does not exist",
    )
    sellers = ", ".join(f"{s.key} ({s.name})" for s in SAMPLE_SELLERS.values())
    parser.add_argument(
        "--auto-approve",
        metavar="SELLER",
        type=_seller,
        default=None,
        help=f"consent links redirect at once, as if this sample seller clicked Authorize: {sellers}",
    )
    parser.add_argument(
        "--latency-ms",
        metavar="N",
        type=_latency,
        default=0,
        help=f"delay every reply by N milliseconds, to simulate a network (0 to {MAX_LATENCY_MS}; default 0)",
    )
    parser.add_argument(
        "--scenario",
        metavar="NAME",
        type=scenario_name,
        default=None,
        help="serve a training scenario: one step fails as the real service fails in that situation (see --scenarios)",
    )
    parser.add_argument(
        "--scenarios", action="store_true", help="list the training scenarios (name and what each simulates) and exit"
    )
    parser.add_argument(
        "--refresh-reading",
        choices=REFRESH_READINGS,
        default="new",
        help="what a token refresh does to the refresh token, which TikTok does not document: 'new' (default) "
        "returns a new one and retires the old, 'same' returns the same one, which keeps working",
    )
    parser.add_argument(
        "--webhook-url",
        metavar="URL",
        type=_webhook_url,
        default=None,
        help="send TikTok's webhooks (6 seller deauthorization, 7 upcoming authorization expiration, 20 creator "
        "deauthorization) to this http:// or https:// URL, signed with the sample app's key and secret",
    )
    parser.add_argument(
        "--deauthorize",
        metavar="SELLER",
        type=_seller,
        default=None,
        help="do not serve: this sample seller removes the app in the --state file (every grant revoked; with "
        "--webhook-url the webhook is sent, or queued for a running sandbox on the same file to retry), then exit",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests (query strings removed)")


def _seller(text: str) -> str:
    try:
        return sample_seller_key(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def scenario_name(text: str) -> str:
    """A training scenario's name (argparse type), refused with the list of names."""
    try:
        scenario = check_scenario(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if scenario is None:
        raise argparse.ArgumentTypeError("give a scenario's name (list them with: sandbox --scenarios)")
    return scenario.name


def _webhook_url(text: str) -> str:
    try:
        url = check_webhook_url(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    assert url is not None
    return url


def _port(text: str) -> int:
    try:
        return check_port(int(text))
    except ValueError as err:
        detail = str(err) if text.strip().lstrip("+-").isdigit() else f"{text!r} is not a whole number"
        raise argparse.ArgumentTypeError(detail) from None


def _latency(text: str) -> int:
    try:
        return check_latency_ms(int(text))
    except ValueError as err:
        detail = str(err) if text.strip().lstrip("+-").isdigit() else f"{text!r} is not a whole number"
        raise argparse.ArgumentTypeError(detail) from None


def main(argv: list[str] | None = None) -> int:
    return serve(build_parser().parse_args(argv))


def serve(args: argparse.Namespace) -> int:
    """Serve the sandbox with the options of :func:`add_arguments` until Ctrl-C or SIGTERM."""
    if getattr(args, "scenarios", False):
        print("\n".join(scenario_lines()))
        return 0
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")
    if args.deauthorize is not None:
        return deauthorize(args)
    try:
        sandbox = Sandbox(
            port=args.port,
            redirect_url=args.redirect_url,
            auto_approve=args.auto_approve,
            state_path=args.state,
            latency_ms=args.latency_ms,
            scenario=args.scenario,
            refresh_reading=args.refresh_reading,
            webhook_url=args.webhook_url,
        )
    except (ValueError, StateFileError) as err:  # a StateFileError says which path and what to do
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot use the state file {args.state}: {err.strerror or err}", file=sys.stderr)
        return 2
    # Install the SIGTERM handler before anything is printed: a supervisor that reads the first
    # line and stops the sandbox at once must still get a clean exit.
    stop = threading.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        sandbox.start()
    except OSError as err:
        signal.signal(signal.SIGTERM, previous)
        if err.errno == errno.EADDRINUSE:
            print(f"error: port {args.port} is already in use; try --port 0", file=sys.stderr)
        else:
            print(f"error: cannot listen on 127.0.0.1:{args.port}: {err.strerror}", file=sys.stderr)
        return 1
    base = sandbox.base_url
    link = build_authorization_link(
        AuthType.SELLER, service_id=sandbox.state.app.service_id, endpoints=sandbox_endpoints(base)
    )
    lines = [
        f"TikTok Shop sandbox running at {base}",
        "",
        "Sample app (sandbox values, safe to share):",
        f"  App Name:      {sandbox.state.app.name}",
        f"  App Key:       {SANDBOX_APP_KEY}",
        f"  App Secret:    {SANDBOX_APP_SECRET}",
        f"  service_id:    {SANDBOX_SERVICE_ID}",
        f"  Callback URL:  {sandbox.state.app.redirect_url}",
        f"  API2Cart key:  {SANDBOX_API2CART_KEY}",
        "",
        "Base URLs (live -> sandbox):",
        f"  https://services.tiktokshop.com        -> {base}",
        f"  https://partner.tiktokshop.com         -> {sandbox.partner_base_url}",
        f"  https://auth.tiktok-shops.com          -> {base}",
        f"  https://open-api.tiktokglobalshop.com  -> {base}",
        f"  https://api.api2cart.com/v1.1          -> {sandbox.api2cart_base_url}",
        "",
        "1. Open the authorization link in a browser:",
        f"  {link.url}",
        "2. Exchange the code from the callback URL for tokens:",
        f"  curl --location '{base}/api/v2/token/get?app_key={SANDBOX_APP_KEY}"
        f"&app_secret={SANDBOX_APP_SECRET}&auth_code=<Code>&grant_type=authorized_code'",
        "",
    ]
    if sandbox.state_path is not None:
        lines.insert(1, f"(state file: {sandbox.state_path})")
    if args.auto_approve:
        lines.insert(1, f"(auto-approve: consent links redirect at once as seller {args.auto_approve!r})")
    if args.latency_ms:
        lines.insert(1, f"(latency: every reply waits {args.latency_ms} ms)")
    if args.webhook_url:
        lines.insert(
            1, f"(webhooks 6, 7 and 20 go to {args.webhook_url}; sellers remove the app at {base}{SELLERS_PATH})"
        )
    lines.insert(1, f"({_READING_LINES[sandbox.refresh_reading]})")
    scenario = sandbox.state.scenarios.scenario
    if scenario is not None:
        lasting = (
            "until the sandbox stops"
            if scenario.lasting
            else "once, on the first such request"
            if scenario.repeats == 1
            else f"on the next {scenario.repeats} such requests (one call and its retries)"
        )
        lines[1:1] = [
            f"(training scenario {scenario.name!r}: {scenario.summary};",
            f" it breaks the step '{scenario.step}' {lasting}; meet it with: python -m tiktok_helpers {scenario.how})",
        ]
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)

    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sandbox.stop()
    print("Sandbox stopped.", flush=True)
    return 0


def deauthorize(args: argparse.Namespace) -> int:
    """``--deauthorize SELLER``: the seller removes the app in the ``--state`` file; the webhook is
    attempted once (``--webhook-url``), else left queued for a running sandbox on the same file."""
    if args.state is None:
        print(
            "error: --deauthorize acts on the state file of the sandboxes to change: give --state PATH", file=sys.stderr
        )
        return 2
    try:
        state = SandboxState(state_path=args.state, webhook_url=args.webhook_url)
    except (ValueError, StateFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot use the state file {args.state}: {err.strerror or err}", file=sys.stderr)
        return 2
    seller = SAMPLE_SELLERS[args.deauthorize]
    revocation = state.remove_app(seller.key)
    print("\n".join(revocation.lines(f"{seller.name} ({seller.key})", state.webhook_url)), flush=True)
    return 0
