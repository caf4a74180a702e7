"""The runbook's command line: ``python -m tiktok_helpers`` (or the ``tiktok-runbook`` script).

The same steps as the notebooks, through the same :class:`~tiktok_helpers.session.Session`
methods. Every command has a ``--help`` that says what it does, when to use it, and an example.

Commands::

    authorize        build the link, catch (or paste) the redirect, exchange the code, verify, save
    exchange         exchange an auth code (or the one saved by authorize) for tokens
    refresh          refresh the access token with the saved refresh token
    shops            list the authorized shops (proves the access token works)
    status           what is configured, the mode, when each token expires
    api2cart add     add the TikTok Shop store to API2Cart and confirm it in the store list
    api2cart list    the stores of the API2Cart account
    sandbox          serve the sandbox (as ``python -m tiktok_helpers.sandbox``)
    doctor           check settings, clock, hosts and token expiry; say what to fix

Global options, accepted before or after the command: ``--env-file PATH`` (default: the usual
``.env`` lookup, :func:`tiktok_helpers.settings.default_env_path`), ``--timeout SECONDS`` (HTTP
timeout, overrides ``TIKTOK_HTTP_TIMEOUT``), ``--json`` (one JSON object on stdout for programs;
messages and progress go to stderr) and ``--show-secrets``.

In sandbox mode every command that talks to a service opens a Session, which starts an
in-process sandbox whose state lives in ``.sandbox/`` beside ``.env``: consecutive commands share
codes, tokens and API2Cart stores. ``status`` only reads the settings and starts nothing.

Secrets (App Secret, auth code, tokens, API2Cart keys) are shown masked. ``--show-secrets``
reveals them, and only when stdout is a terminal; otherwise the command refuses with exit 2.

Exit codes:

* ``0`` success (``doctor``: every check passed; warnings allowed).
* ``1`` the flow failed: TikTok or API2Cart answered with an error (:class:`ApiError`: the
  catalog's title and fix on stderr, and with ``--json`` an error object with code, title, fix
  and request_id on stdout), a service was unreachable, timed out or answered nonsense
  (:class:`ServiceError`), the seller refused (:class:`AuthorizationDenied`), no redirect came in
  time (:class:`RedirectTimeout`), the redirect answers another link (:class:`StateMismatch`),
  ``.env`` could not be written (:class:`SettingsError`), the sandbox's consent page failed, a new
  API2Cart store is missing from the list, or a ``doctor`` check failed.
* ``2`` bad usage or bad input: argparse errors, invalid settings or values
  (:class:`ValidationError`), a step needs a setting not configured yet
  (:class:`MissingSettingError`), pasted text that is neither a redirect address nor a code
  (:class:`InvalidRedirect`, :class:`MissingAuthCode`, nothing pasted), ``--show-secrets`` when
  stdout is not a terminal, conflicting options, ``--sandbox-approve`` outside sandbox mode.
* ``130`` interrupted (Ctrl-C).

``exchange`` cannot check the redirect's ``state``: the link was built by another command (or in a
notebook), so no state is known in this process. Pasting to ``authorize --paste`` is the same.
The state *is* checked by ``authorize`` when it catches the redirect or prompts for the paste,
because then it built the link itself.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TextIO

from . import __version__
from .errors import (
    ApiError,
    InvalidAuthCode,
    InvalidRedirect,
    MissingAuthCode,
    MissingSettingError,
    ServiceError,
    TikTokHelperError,
    ValidationError,
)

if TYPE_CHECKING:
    import httpx

    from .api2cart import Api2CartStore
    from .authlink import AuthorizationLink
    from .catcher import CatcherStatus
    from .openapi import Shop
    from .redirect import RedirectResult
    from .secret import Secret
    from .session import Session
    from .settings import Settings
    from .tokens import TokenSet

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "CatcherProgress", "UsageError", "build_parser", "main"]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130

#: Errors that mean "the input or the usage is wrong" (exit 2); every other error of the package is 1.
USAGE_ERRORS: Final = (ValidationError, MissingSettingError, InvalidRedirect, MissingAuthCode)

#: The auth code works for 30 minutes after approval.
CODE_LIFETIME: Final = timedelta(minutes=30)
#: doctor: the clock is fine within this many seconds of the token host's, a warning up to CLOCK_FAIL.
CLOCK_WARN: Final = 60.0
CLOCK_FAIL: Final = 300.0
#: doctor: a token with less than this left fails the check.
EXPIRY_MARGIN: Final = timedelta(days=1)
#: Without a terminal, the catcher's progress is one line per this many seconds.
PROGRESS_INTERVAL: Final = 10.0


class UsageError(Exception):
    """Bad usage argparse cannot see (conflicting options, a flag outside its mode): exit 2."""


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an error (see the module docstring)."""
    if isinstance(exc, (UsageError, *USAGE_ERRORS)):
        return EXIT_USAGE
    return EXIT_FAILURE


# --- output -------------------------------------------------------------------------------------


def _isatty(stream: TextIO | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


class Output:
    """Where results go: text or one JSON object on stdout; notes and progress on stderr."""

    def __init__(self, *, json: bool, show_secrets: bool, prog: str, stdout: TextIO, stderr: TextIO) -> None:
        self.json = json
        self.show_secrets = show_secrets
        self.prog = prog
        self.stdout = stdout
        self.stderr = stderr

    def secret(self, value: Secret | None) -> str | None:
        """A secret as this run may show it: masked, or revealed with --show-secrets (None if empty)."""
        if not value:
            return None
        return value.reveal() if self.show_secrets else str(value)

    def note(self, text: str) -> None:
        print(text, file=self.stderr, flush=True)

    def result(self, data: Mapping[str, Any], text: str) -> None:
        """Print the result: ``data`` as JSON with --json, else ``text``."""
        if self.json:
            print(json.dumps(data, indent=2, ensure_ascii=False), file=self.stdout, flush=True)
        else:
            print(text, file=self.stdout, flush=True)

    def command(self, rest: str) -> str:
        """How to type a command of this program, for hints."""
        return f"{self.prog} {rest}"


def _pairs(rows: Sequence[tuple[str, str]]) -> str:
    width = max((len(label) for label, _ in rows), default=0)
    return "\n".join(f"{label.ljust(width)}  {value}".rstrip() for label, value in rows)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _seconds_left(moment: datetime | None, now: datetime) -> int | None:
    return int((moment - now).total_seconds()) if moment is not None else None


def _when(moment: datetime | None) -> str:
    from .display import local_time, relative

    if moment is None:
        return "expiry unknown"
    verb = "expired" if moment <= datetime.now(timezone.utc) else "expires"
    return f"{verb} {local_time(moment)} ({relative(moment)})"


def _token_json(out: Output, value: Secret, expires_at: datetime | None, now: datetime) -> dict[str, Any]:
    return {
        "set": bool(value),
        "value": out.secret(value),
        "expires_at": _iso(expires_at) if value else None,
        "seconds_left": _seconds_left(expires_at, now) if value else None,
    }


def _tokens_report(out: Output, tokens: TokenSet) -> tuple[dict[str, Any], list[str]]:
    """A token reply as JSON and as text lines (tokens masked unless --show-secrets)."""
    now = datetime.now(timezone.utc)
    missing = tokens.missing_scopes()
    data: dict[str, Any] = {
        "seller_name": tokens.seller_name,
        "seller_base_region": tokens.seller_base_region,
        "user_type": tokens.user_type.label,
        "open_id": tokens.open_id,
        "access_token": _token_json(out, tokens.access_token, tokens.access_token_expires_at, now),
        "refresh_token": _token_json(out, tokens.refresh_token, tokens.refresh_token_expires_at, now),
        "granted_scopes": list(tokens.granted_scopes),
        "missing_recommended_scopes": list(missing),
        "request_id": tokens.request_id,
    }
    rows = [
        ("seller", tokens.seller_name or "(not given)"),
        ("seller base region", tokens.seller_base_region or "(not given)"),
        ("user type", f"{tokens.user_type.label} ({tokens.user_type.value})"),
        ("access token", f"{out.secret(tokens.access_token)}, {_when(tokens.access_token_expires_at)}"),
        ("refresh token", f"{out.secret(tokens.refresh_token)}, {_when(tokens.refresh_token_expires_at)}"),
        (
            "scopes",
            f"{len(tokens.granted_scopes)} granted"
            + (f"; MISSING recommended: {', '.join(missing)}" if missing else "; every recommended scope granted"),
        ),
    ]
    lines = [_pairs(rows)]
    if missing:
        lines.append(
            "API2Cart needs the missing scopes: add them to the app in Partner Center (Manage API), "
            "then authorize again."
        )
    return data, lines


def _shops_report(shops: Sequence[Shop]) -> tuple[list[dict[str, Any]], str]:
    import dataclasses

    from .display import shops_table

    return [dataclasses.asdict(shop) for shop in shops], str(shops_table(shops)) if shops else "(no shops)"


def _stores_report(out: Output, stores: Sequence[Api2CartStore]) -> tuple[list[dict[str, Any]], str]:
    from .display import Table

    data = [
        {
            "id": s.id,
            "cart_id": s.cart_id,
            "url": s.url,
            "custom_label": s.custom_label,
            "store_key": out.secret(s.store_key),
        }
        for s in stores
    ]
    rows = tuple(
        (s.custom_label or "(none)", s.cart_id, s.url or "(none)", out.secret(s.store_key) or "(none)") for s in stores
    )
    text = str(Table(("label", "cart", "url", "store key"), rows)) if stores else "(no stores yet)"
    return data, text


# --- catcher progress ----------------------------------------------------------------------------


def _mmss(seconds: float) -> str:
    whole = max(0, math.ceil(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


class CatcherProgress:
    """The catcher's progress on ``stream`` (stderr): updated in place on a terminal, otherwise one
    line per ``interval`` seconds. Reports before :meth:`arm` are dropped, so the link is shown first."""

    def __init__(
        self,
        stream: TextIO,
        *,
        interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        tty: bool | None = None,
    ) -> None:
        self._stream = stream
        self._tty = _isatty(stream) if tty is None else tty
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._armed = False
        self._finished = False
        self._open_line = False
        self._last: float | None = None

    def arm(self) -> None:
        with self._lock:
            self._armed = True

    def __call__(self, status: CatcherStatus) -> None:
        from .catcher import CatcherState

        with self._lock:
            if not self._armed or self._finished:
                return
            if status.done:
                self._finished = True
                final = {
                    CatcherState.RECEIVED: "Redirect received.",
                    CatcherState.DENIED: "The redirect came back with a refusal.",
                    CatcherState.TIMED_OUT: "Timed out: no redirect arrived.",
                }.get(status.state)
                if final:
                    self._line(final)
                else:
                    self._end_line()
                return
            text = f"Waiting for the browser's redirect on {status.address}: {_mmss(status.seconds_left)} left"
            if status.ignored:
                text += f" ({status.ignored} unrelated request{'s' if status.ignored != 1 else ''} ignored)"
            if self._tty:
                self._stream.write("\r\x1b[K" + text)
                self._stream.flush()
                self._open_line = True
                return
            now = self._clock()
            if self._last is None or now - self._last >= self._interval - 0.5:
                self._last = now
                self._line(text)

    def close(self) -> None:
        """End an in-place line, if one is open; later reports are dropped."""
        with self._lock:
            self._finished = True
            self._end_line()

    def _line(self, text: str) -> None:
        prefix = "\r\x1b[K" if self._open_line else ""
        self._stream.write(f"{prefix}{text}\n")
        self._stream.flush()
        self._open_line = False

    def _end_line(self) -> None:
        if self._open_line:
            self._stream.write("\n")
            self._stream.flush()
            self._open_line = False


# --- settings and sessions -----------------------------------------------------------------------


def _env_path(args: argparse.Namespace) -> Path:
    from .settings import default_env_path

    return Path(args.env_file) if args.env_file is not None else default_env_path()


def _environ(args: argparse.Namespace) -> dict[str, str]:
    environ = dict(os.environ)
    if args.timeout is not None:
        environ["TIKTOK_HTTP_TIMEOUT"] = f"{args.timeout:g}"
    return environ


def _load(args: argparse.Namespace) -> Settings:
    from .settings import load_settings

    return load_settings(_env_path(args), environ=_environ(args))


@contextmanager
def _session(args: argparse.Namespace, out: Output) -> Iterator[Session]:
    """A Session for one command (in sandbox mode: with its in-process sandbox)."""
    from .session import Session

    environ = _environ(args)
    with Session(_load(args), environ=environ) as session:
        out.note(session.describe())
        yield session


# --- commands ------------------------------------------------------------------------------------


def _cmd_authorize(args: argparse.Namespace, out: Output) -> int:
    if args.deny and not args.sandbox_approve:
        raise UsageError("--deny only goes with --sandbox-approve (it makes the sandbox press Cancel)")
    if args.paste is not None and args.sandbox_approve:
        raise UsageError("--paste and --sandbox-approve exclude each other: give the address, or let the sandbox")
    from .redirect import parse_redirect

    with _session(args, out) as session:
        if args.sandbox_approve and not session.is_sandbox:
            raise UsageError(
                "--sandbox-approve only exists in sandbox mode: in live mode the seller presses Authorize in a browser"
            )
        link: AuthorizationLink | None = None
        if args.paste is not None:
            result = parse_redirect(args.paste)
            if result.state:
                out.note("The pasted address's state is not checked: this command built no link to compare it with.")
        else:
            link = session.authorization_link(args.type)
            if args.no_catch:
                _show_link(out, session, link, listening=None, sandbox_approve=args.sandbox_approve)
                _open_browser(out, link, args.open)
                if args.sandbox_approve:
                    text = _press_in_sandbox(out, session, link, deny=args.deny, follow=False)
                else:
                    text = _prompt_paste(out)
                result = session.parse_redirect(text)
            else:
                result = _catch(args, out, session, link)

        session.keep_code(result)
        tokens = _exchange_saved_code(out, session)
        shops = session.authorized_shops()
        data, lines = _tokens_report(out, tokens)
        shops_data, shops_text = _shops_report(shops)
        data = {
            "ok": True,
            "link": link.url if link else None,
            **data,
            "shops": shops_data,
            "env_file": str(session.settings.env_path),
        }
    text = "\n".join(
        [
            f"Authorized{f' by {tokens.seller_name}' if tokens.seller_name else ''}. Tokens saved to "
            f"{session.settings.env_path}:",
            *lines,
            "",
            "Authorized shops (the token works; the first shop's cipher is saved as TIKTOK_SHOP_CIPHER):",
            shops_text,
            "",
            f"Next: add the store to API2Cart with `{out.command('api2cart add')}`.",
        ]
    )
    out.result(data, text)
    return EXIT_OK


def _show_link(
    out: Output, session: Session, link: AuthorizationLink, *, listening: str | None, sandbox_approve: bool
) -> None:
    lines = [f"Authorization link ({link.auth_type.value}):", f"  {link.url}"]
    if sandbox_approve:
        lines.append("Sandbox: the sample seller will answer the consent page (--sandbox-approve).")
    elif session.is_sandbox:
        lines.append("Open it in a browser: the sandbox's consent page stands in for TikTok's. Press Authorize.")
    else:
        lines.append(
            "Open it in a browser where the seller is logged in to TikTok Shop, check the app and its "
            "permissions, and press Authorize."
        )
    if listening:
        lines.append(f"The redirect back is caught on {listening} (its state is checked).")
    print("\n".join(lines), file=out.stderr if out.json else out.stdout, flush=True)


def _open_browser(out: Output, link: AuthorizationLink, wanted: bool) -> None:
    if not wanted:
        return
    import webbrowser

    if not webbrowser.open(link.url):
        out.note("Could not open a browser here: open the link above yourself.")


def _press_in_sandbox(out: Output, session: Session, link: AuthorizationLink, *, deny: bool, follow: bool) -> str:
    import httpx

    from .sandbox.browser import ConsentPageError

    out.note(f"Sandbox: pressing {'Cancel' if deny else 'Authorize'} on the consent page as the sample seller.")
    try:
        return session.approve_in_sandbox(link, decision="cancel" if deny else "authorize", follow=follow)
    except (ConsentPageError, httpx.HTTPError) as exc:
        raise TikTokHelperError(f"the sandbox's consent page did not work: {exc}") from None


def _prompt_paste(out: Output) -> str:
    out.note(
        "After you press Authorize the browser goes to the app's callback URL. Paste that whole address "
        "(or just the code) here and press Enter:"
    )
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line.strip():
        raise MissingAuthCode("nothing was pasted")
    return line


def _catch(args: argparse.Namespace, out: Output, session: Session, link: AuthorizationLink) -> RedirectResult:
    progress = CatcherProgress(out.stderr)
    try:
        catcher = session.start_catcher(link, timeout=args.wait, on_progress=progress)
    except ValidationError:
        out.note(f"Tip: `{out.command('authorize --no-catch')}` lets you paste the address from the browser instead.")
        raise
    with catcher:
        try:
            _show_link(out, session, link, listening=catcher.redirect_url, sandbox_approve=args.sandbox_approve)
            _open_browser(out, link, args.open)
            progress.arm()
            progress(catcher.status())
            if args.sandbox_approve:
                _press_in_sandbox(out, session, link, deny=args.deny, follow=True)
            return catcher.wait()
        finally:
            catcher.stop()
            progress.close()


def _exchange_saved_code(out: Output, session: Session) -> TokenSet:
    """Exchange the code saved in .env; if that fails for a reason other than the code, say how to retry."""
    try:
        return session.exchange()
    except ServiceError as exc:
        if not isinstance(exc, InvalidAuthCode) and session.settings.auth_code:
            out.note(
                f"The auth code stays saved in {session.settings.env_path.name}: once the problem is fixed, run "
                f"`{out.command('exchange')}` (no argument) within 30 minutes of approving."
            )
        raise


def _cmd_exchange(args: argparse.Namespace, out: Output) -> int:
    from .redirect import parse_redirect

    text: str | None = args.code_or_url
    if text == "-":
        text = sys.stdin.readline() if sys.stdin is not None else ""
    with _session(args, out) as session:
        if text is not None:
            result = parse_redirect(text)  # no state known in this process: see the module docstring
            if result.state:
                out.note("The address's state is not checked: this command built no link to compare it with.")
            session.keep_code(result)
        tokens = _exchange_saved_code(out, session)
        env_path = session.settings.env_path
    data, lines = _tokens_report(out, tokens)
    text_out = "\n".join(
        [
            f"Exchanged the code for tokens, saved to {env_path}:",
            *lines,
            "",
            f"Next: prove the token works with `{out.command('shops')}`.",
        ]
    )
    out.result({"ok": True, **data, "env_file": str(env_path)}, text_out)
    return EXIT_OK


def _cmd_refresh(args: argparse.Namespace, out: Output) -> int:
    with _session(args, out) as session:
        tokens = session.refresh()
        env_path = session.settings.env_path
    data, lines = _tokens_report(out, tokens)
    text = "\n".join(
        [f"Refreshed. The new pair is saved to {env_path} (always keep the latest refresh token):", *lines]
    )
    out.result({"ok": True, **data, "env_file": str(env_path)}, text)
    return EXIT_OK


def _cmd_shops(args: argparse.Namespace, out: Output) -> int:
    with _session(args, out) as session:
        shops = session.authorized_shops()
    data, text = _shops_report(shops)
    out.result(
        {"ok": True, "shops": data},
        f"{text}\n\nThe access token works. The first shop's cipher is saved as TIKTOK_SHOP_CIPHER."
        if shops
        else "The access token works, but it is authorized for no shop.",
    )
    return EXIT_OK


def _next_step(out: Output, s: Settings, now: datetime) -> str:
    if not s.refresh_token:
        if s.auth_code:
            return f"exchange the saved auth code: `{out.command('exchange')}`"
        return f"authorize the app: `{out.command('authorize')}`"
    if s.refresh_token_expires_at is not None and s.refresh_token_expires_at <= now:
        return f"the authorization has ended: authorize again with `{out.command('authorize')}`"
    if not s.access_token or (s.access_token_expires_at is not None and s.access_token_expires_at <= now):
        return f"refresh the access token: `{out.command('refresh')}`"
    if not s.api2cart_store_key:
        return f"add the store to API2Cart: `{out.command('api2cart add')}`"
    return f"all set; refresh the access token at least every 7 days (`{out.command('refresh')}`)"


def _cmd_status(args: argparse.Namespace, out: Output) -> int:
    from .session import sandbox_state_path

    s = _load(args)
    now = datetime.now(timezone.utc)
    if s.is_sandbox:
        where = (
            f"the sandbox at {s.sandbox_url}"
            if s.sandbox_url
            else f"an in-process sandbox started by each command (state in {sandbox_state_path(s.env_path).parent})"
        )
        hosts: dict[str, str | None] = {"token": None, "open_api": None, "api2cart": None}
        if s.sandbox_url:
            ends = s.endpoints()
            hosts = {"token": ends.token_base, "open_api": ends.open_api_base, "api2cart": ends.api2cart_base}
    else:
        ends = s.endpoints()
        hosts = {"token": ends.token_base, "open_api": ends.open_api_base, "api2cart": ends.api2cart_base}
        where = f"TikTok at {ends.token_base} and {ends.open_api_base}, API2Cart at {ends.api2cart_base}"
    code_expires = s.auth_code_received_at + CODE_LIFETIME if s.auth_code_received_at else None
    next_step = _next_step(out, s, now)
    data: dict[str, Any] = {
        "env_file": str(s.env_path),
        "mode": s.mode.value,
        "sample_app": s.using_sample_app,
        "hosts": hosts,
        "region": s.region.value,
        "app_type": s.app_type.value,
        "auth_type": s.auth_type.value,
        "app_key": s.app_key or None,
        "app_secret": out.secret(s.app_secret),
        "service_id": s.service_id or None,
        "redirect_url": s.redirect_url or None,
        "seller_name": s.seller_name or None,
        "shop_cipher": s.shop_cipher or None,
        "access_token": _token_json(out, s.access_token, s.access_token_expires_at, now),
        "refresh_token": _token_json(out, s.refresh_token, s.refresh_token_expires_at, now),
        "auth_code": _token_json(out, s.auth_code, code_expires, now),
        "api2cart_api_key": out.secret(s.api2cart_api_key),
        "api2cart_store_key": out.secret(s.api2cart_store_key),
        "next_step": next_step,
    }

    def token(value: Secret, expires: datetime | None, none: str) -> str:
        return f"{out.secret(value)}, {_when(expires)}" if value else none

    rows = [
        ("settings file", str(s.env_path)),
        ("mode", s.mode.value + (" (the sandbox's sample app)" if s.using_sample_app else "")),
        ("requests go to", where),
        ("region", f"{s.region.value} — {s.region.label}"),
        ("app type", s.app_type.value),
        ("authorization type", s.auth_type.value),
        ("App Key", s.app_key or "(not set)"),
        ("App Secret", out.secret(s.app_secret) or "(not set)"),
        ("service_id", s.service_id or "(not set)"),
        ("redirect URL", s.redirect_url or "(not set)"),
        ("seller", s.seller_name or "(not authorized yet)"),
        ("access token", token(s.access_token, s.access_token_expires_at, "(none yet)")),
        ("refresh token", token(s.refresh_token, s.refresh_token_expires_at, "(none yet)")),
        ("auth code waiting", token(s.auth_code, code_expires, "(none)")),
        ("shop cipher", s.shop_cipher or "(none yet)"),
        ("API2Cart API key", out.secret(s.api2cart_api_key) or "(not set)"),
        ("API2Cart store key", out.secret(s.api2cart_store_key) or "(none yet)"),
    ]
    out.result(data, f"{_pairs(rows)}\n\nNext: {next_step}.")
    return EXIT_OK


def _cmd_api2cart_add(args: argparse.Namespace, out: Output) -> int:
    with _session(args, out) as session:
        store_key = session.add_store(custom_label=args.label, store_url=args.store_url)
        stores = session.list_stores()
        env_path = session.settings.env_path
    confirmed = [s for s in stores if s.store_key == store_key]
    data, table = _stores_report(out, confirmed)
    if not confirmed:
        message = (
            "API2Cart accepted the store but it is not in account.cart.list: check the account in the API2Cart "
            f"admin panel, then run `{out.command('api2cart list')}`."
        )
        out.note(f"error: {message}")
        if out.json:
            out.result(
                {"ok": False, "error": {"code": "api2cart.not_listed", "title": "Store not listed", "fix": message}},
                "",
            )
        return EXIT_FAILURE
    out.result(
        {"ok": True, "store_key": out.secret(store_key), "store": data[0], "env_file": str(env_path)},
        f"Added the TikTok Shop store to API2Cart; its store key {out.secret(store_key)} is saved to {env_path} "
        f"as API2CART_STORE_KEY.\nConfirmed in the account's store list:\n{table}",
    )
    return EXIT_OK


def _cmd_api2cart_list(args: argparse.Namespace, out: Output) -> int:
    with _session(args, out) as session:
        stores = session.list_stores()
    data, table = _stores_report(out, stores)
    out.result({"ok": True, "stores": data}, table)
    return EXIT_OK


def _cmd_sandbox(args: argparse.Namespace, out: Output) -> int:
    from .sandbox.__main__ import main as sandbox_main

    forward: list[str] = []
    if args.port is not None:
        forward += ["--port", str(args.port)]
    if args.redirect_url is not None:
        forward += ["--redirect-url", args.redirect_url]
    if args.state is not None:
        forward += ["--state", args.state]
    if args.auto_approve is not None:
        forward += ["--auto-approve", args.auto_approve]
    if args.verbose:
        forward.append("--verbose")
    return sandbox_main(forward)


# --- doctor --------------------------------------------------------------------------------------

PASS: Final = "pass"
WARN: Final = "warn"
FAIL: Final = "fail"
SKIP: Final = "skip"


class Check(NamedTuple):
    """One doctor check: its name, pass/warn/fail/skip, what was found, and what to do."""

    name: str
    status: str
    detail: str
    fix: str = ""


class _Probe(NamedTuple):
    url: str
    status_code: int | None = None
    date: str | None = None
    local: datetime | None = None
    error: str = ""


def _probe(http: httpx.Client, url: str, timeout: float) -> _Probe:
    import httpx

    before = time.time()
    try:
        response = http.get(url, timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException:
        return _Probe(url, error=f"no answer within {timeout:g} s")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return _Probe(url, error=f"could not connect ({type(exc).__name__}: {exc})")
    middle = (before + time.time()) / 2
    return _Probe(url, response.status_code, response.headers.get("date"), datetime.fromtimestamp(middle, timezone.utc))


def _clock_check(probe: _Probe) -> Check:
    from email.utils import parsedate_to_datetime

    if probe.status_code is None:
        return Check("clock", SKIP, "the token host did not answer, so there is no clock to compare with")
    try:
        server = parsedate_to_datetime(probe.date) if probe.date else None
    except (TypeError, ValueError):
        server = None
    if server is None or probe.local is None or server.tzinfo is None:
        return Check(
            "clock",
            WARN,
            f"{probe.url} sent no usable Date header; the clock could not be compared",
            "make sure this computer sets its clock automatically (NTP)",
        )
    offset = (server - probe.local).total_seconds()
    # The Date header has whole seconds: up to one second of the difference is its rounding.
    drift = max(0.0, abs(offset) - 1.0)
    side = "behind" if offset > 0 else "ahead of"
    detail = (
        f"this computer is {abs(offset):.0f} s {side} the token host's clock"
        if drift
        else "this computer's clock agrees with the token host's (within a second)"
    )
    fix = (
        "turn on automatic time (NTP) and check the time zone: signed Open API requests carry a timestamp "
        "TikTok accepts only within minutes of its own time (error 36009004)"
    )
    if drift > CLOCK_FAIL:
        return Check("clock", FAIL, detail, fix)
    if drift > CLOCK_WARN:
        return Check("clock", WARN, detail, fix)
    return Check("clock", PASS, detail)


def _expiry_check(
    name: str, value: Secret, expires: datetime | None, now: datetime, fix_expired: str, fix_soon: str
) -> Check:
    from .display import local_time, relative

    if not value:
        return Check(name, WARN, "none yet", fix_expired)
    if expires is None:
        return Check(name, WARN, "its expiry is not recorded in .env", fix_expired)
    when = f"{local_time(expires)} ({relative(expires, now)})"
    if expires <= now:
        return Check(name, FAIL, f"expired {when}", fix_expired)
    if expires - now < EXPIRY_MARGIN:
        return Check(name, FAIL, f"expires {when}: less than a day left", fix_soon)
    return Check(name, PASS, f"expires {when}")


def _token_checks(out: Output, s: Settings) -> list[Check]:
    now = datetime.now(timezone.utc)
    authorize = f"authorize the app: `{out.command('authorize')}`"
    if not s.access_token and not s.refresh_token:
        return [Check("tokens", WARN, "no tokens yet (not authorized)", authorize)]
    again = f"the seller must authorize the app again: `{out.command('authorize')}`"
    refresh_check = _expiry_check(
        "refresh token", s.refresh_token, s.refresh_token_expires_at, now, again, f"before it ends, {again}"
    )
    refresh = (
        again
        if refresh_check.status == FAIL or not s.refresh_token
        else f"refresh it (it lasts 7 days): `{out.command('refresh')}`"
    )
    access_check = _expiry_check("access token", s.access_token, s.access_token_expires_at, now, refresh, refresh)
    return [access_check, refresh_check]


_HOSTS: Final = (
    ("token host", "token_base", "TIKTOK_AUTH_BASE_URL"),
    ("Open API host", "open_api_base", "TIKTOK_OPEN_API_BASE_URL"),
    ("API2Cart host", "api2cart_base", "API2CART_BASE_URL"),
)


def _network_checks(out: Output, s: Settings, environ: Mapping[str, str]) -> list[Check]:
    from .session import Session

    checks: list[Check] = []
    try:
        session = Session(s, environ=environ)
    except (OSError, ValueError, TikTokHelperError) as exc:
        checks.append(
            Check(
                "sandbox",
                FAIL,
                f"the in-process sandbox could not start: {exc}",
                "delete the .sandbox folder beside .env if its state file is damaged, then run again",
            )
        )
        return [*checks, *(Check(name, SKIP, "no sandbox to ask") for name, _, _ in _HOSTS), Check("clock", SKIP, "")]
    with session:
        ends = session.endpoints
        probes: dict[str, _Probe] = {}
        token_probe: _Probe | None = None
        for name, attr, setting in _HOSTS:
            url: str = getattr(ends, attr)
            probe = probes.get(url) or _probe(session.http, url, session.settings.http_timeout)
            probes[url] = probe
            if attr == "token_base":
                token_probe = probe
            if probe.status_code is not None:
                checks.append(Check(name, PASS, f"{url} answered (HTTP {probe.status_code})"))
                continue
            if s.is_sandbox:
                fix = (
                    "start that sandbox (`" + out.command("sandbox") + "`) or empty TIKTOK_SANDBOX_URL"
                    if s.sandbox_url
                    else "the in-process sandbox did not answer: run the command again"
                )
            else:
                fix = (
                    f"check this computer's internet connection, proxy (HTTPS_PROXY) and firewall for {url}; "
                    f"if {setting} is set in .env or the environment, check it for typos"
                )
            checks.append(Check(name, FAIL, f"{url}: {probe.error}", fix))
        assert token_probe is not None
        checks.append(_clock_check(token_probe))
    return checks


def _app_check(out: Output, s: Settings) -> Check:
    if s.is_sandbox:
        who = "the sandbox's sample app" if s.using_sample_app else f"App Key {s.app_key}"
        return Check("app settings", PASS, f"sandbox mode, as {who}")
    missing = [
        name
        for name, value in (
            ("TIKTOK_APP_KEY", s.app_key),
            ("TIKTOK_APP_SECRET", s.app_secret),
            ("TIKTOK_SERVICE_ID", s.service_id),
            ("TIKTOK_REDIRECT_URL", s.redirect_url),
        )
        if not value
    ]
    if missing:
        return Check(
            "app settings",
            FAIL,
            f"live mode, but not configured: {', '.join(missing)}",
            "copy them from the app's page in Partner Center into .env (notebook 01 has a form that checks them)",
        )
    if not s.api2cart_api_key:
        return Check(
            "app settings",
            WARN,
            f"live mode ({s.region.value}), App Key {s.app_key}; API2CART_API_KEY is not set",
            "set API2CART_API_KEY (API2Cart admin panel, Account) before `api2cart add`",
        )
    return Check("app settings", PASS, f"live mode ({s.region.value}), App Key {s.app_key}")


def _cmd_doctor(args: argparse.Namespace, out: Output) -> int:
    from .settings import load_settings

    path = _env_path(args)
    environ = _environ(args)
    checks: list[Check] = []
    settings: Settings | None = None
    try:
        settings = load_settings(path, environ=environ)
    except ValidationError as exc:
        checks.append(
            Check(
                "settings",
                FAIL,
                f"{path}: " + "; ".join(str(p) for p in exc.problems),
                f"correct {', '.join(dict.fromkeys(exc.fields))} in {path} (or in the environment, which wins over "
                ".env); .env.example explains each setting",
            )
        )
    except TikTokHelperError as exc:
        checks.append(Check("settings", FAIL, str(exc), exc.fix))
    if settings is None:
        checks += [Check(name, SKIP, "needs valid settings") for name in ("hosts", "clock", "tokens")]
    else:
        checks.append(Check("settings", PASS, f"{path}: valid, {settings.mode.value} mode"))
        checks.append(_app_check(out, settings))
        checks += _network_checks(out, settings, environ)
        checks += _token_checks(out, settings)
    failed = [c for c in checks if c.status == FAIL]
    warned = [c for c in checks if c.status == WARN]
    width = max(len(c.name) for c in checks)
    lines = [f"Checking {path}"]
    for c in checks:
        lines.append(f"  {c.status.upper():4}  {c.name.ljust(width)}  {c.detail}".rstrip())
        if c.fix and c.status in (FAIL, WARN):
            lines.append(f"        {' ' * width}  fix: {c.fix}")
    summary = (
        f"{len(failed)} check{'s' if len(failed) != 1 else ''} failed: fix {'them' if len(failed) != 1 else 'it'} "
        "as shown above."
        if failed
        else "All checks passed" + (f" ({len(warned)} warning{'s' if len(warned) != 1 else ''})." if warned else ".")
    )
    lines.append(summary)
    out.result(
        {
            "ok": not failed,
            "env_file": str(path),
            "mode": settings.mode.value if settings else None,
            "checks": [c._asdict() for c in checks],
        },
        "\n".join(lines),
    )
    return EXIT_FAILURE if failed else EXIT_OK


# --- the parser ----------------------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30, width=100)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The global options. On the subcommands their defaults are suppressed, so a value given before
    the command is kept and one given after it wins."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options (before or after the command)")
    group.add_argument(
        "--env-file",
        metavar="PATH",
        default=default(None),
        help="the settings file (default: $TIKTOK_ENV_FILE, else .env beside the project's .env.example, else ./.env)",
    )
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_seconds,
        default=default(None),
        help="HTTP timeout per request, 0.5 to 300 (default: TIKTOK_HTTP_TIMEOUT, else 15)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print one JSON object on stdout (errors too); messages go to stderr",
    )
    group.add_argument(
        "--show-secrets",
        action="store_true",
        default=default(False),
        help="show secrets in full instead of masked; refused unless stdout is a terminal",
    )


def _default_prog() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "tiktok-runbook" if name.startswith("tiktok-runbook") else "python -m tiktok_helpers"


_DESCRIPTION: Final = """\
Connect a TikTok Shop store to API2Cart from the command line: the runbook's steps, in order.

  1. authorize      approve the app, catch the code, exchange it, verify, save tokens to .env
  2. api2cart add   add the store to API2Cart and confirm it in the store list
  then: status, shops, refresh, doctor when something is wrong

With no App Key / App Secret configured (or TIKTOK_MODE=sandbox) everything runs against the
embedded sandbox, offline; its state is kept in .sandbox/ beside .env, shared by every command."""

_EXIT_CODES: Final = """\
exit codes: 0 success; 1 TikTok, API2Cart or the network said no (refusal, timeout, API error,
failed doctor check); 2 bad usage or bad input (invalid settings or pasted text, missing setting,
--show-secrets without a terminal); 130 interrupted."""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the whole command line."""
    prog = prog or _default_prog()
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, suppress=True)

    parser = argparse.ArgumentParser(
        prog=prog,
        description=_DESCRIPTION,
        epilog=f"example:\n  {prog} authorize --open\n  {prog} status\n\n{_EXIT_CODES}",
        formatter_class=_Formatter,
    )
    _add_global_options(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    def add(
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        summary: str,
        description: str,
        examples: Sequence[str],
        func: Callable[[argparse.Namespace, Output], int],
        *,
        with_globals: bool = True,
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(
            name,
            help=summary,
            description=description,
            epilog="example:\n" + "\n".join(f"  %(prog)s {e}".rstrip() for e in examples),
            formatter_class=_Formatter,
            parents=[common] if with_globals else [],
        )
        sub.set_defaults(func=func)
        return sub

    p = add(
        commands,
        "authorize",
        "approve the app and get tokens (link, redirect, exchange, verify, save)",
        """\
Build the authorization link, wait for the seller to press Authorize, exchange the code, prove the
tokens work (Get Authorized Shops) and save everything to .env.

When to use it: once to connect a shop, and again when the refresh token has expired, the seller
removed the app, or you added scopes to the app.

By default the redirect back is caught on this computer: the app's redirect URL must be
http://127.0.0.1:<port>/<path> (or localhost). Progress (time left) is shown on stderr. When the
browser runs on another machine, or the redirect URL is not on this computer, use --no-catch and
paste the address the browser lands on (or pass it with --paste). The link's state is checked when
the redirect is caught or pasted at the prompt; an address given to --paste is not checked, since
this command did not build the link it answers.

The code is saved to .env before the exchange, so if the exchange fails on the way, `exchange`
(no argument) can retry it within 30 minutes.""",
        [
            "--open",
            "--no-catch",
            "--no-catch --paste 'https://example.com/callback?code=TTP_...&state=...'",
            "--sandbox-approve        # sandbox: the sample seller presses Authorize",
        ],
        _cmd_authorize,
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
        help="the address the browser landed on after Authorize (or just the code); implies --no-catch, "
        "builds no link, and so does not check the state",
    )
    p.add_argument(
        "--wait",
        metavar="SECONDS",
        type=_positive_seconds,
        default=300.0,
        help="how long to wait for the redirect (default 300)",
    )
    p.add_argument(
        "--sandbox-approve",
        action="store_true",
        help="sandbox mode only: the sandbox presses Authorize as the sample seller, so this runs unattended",
    )
    p.add_argument("--deny", action="store_true", help="with --sandbox-approve: press Cancel instead (a refusal)")

    p = add(
        commands,
        "exchange",
        "exchange an auth code for tokens and save them",
        """\
Exchange an auth code for an access token and a refresh token, and save them to .env.

When to use it: after approving the app in a browser that this command line did not wait for (a
notebook, another machine), or to retry after `authorize` failed at the exchange. A code works
once and for 30 minutes.

Give the whole address the browser landed on, just the code, or - to read it from stdin (keeps it
out of the shell history). Without an argument the code saved in .env by `authorize` is used. The
address's state is not checked: the link was built elsewhere, so there is nothing to compare it
with.""",
        ["'https://example.com/callback?code=TTP_...&state=...'", "- < redirect.txt", ""],
        _cmd_exchange,
    )
    p.add_argument(
        "code_or_url",
        metavar="CODE_OR_URL",
        nargs="?",
        default=None,
        help="redirect address or bare code; - reads one line from stdin; default: the code saved in .env",
    )

    add(
        commands,
        "refresh",
        "refresh the access token (saves the new pair)",
        """\
Get a new access token with the saved refresh token, and save the new pair to .env.

When to use it: the access token lasts about 7 days; refresh before it ends (`status` shows when),
or when a call fails with "access token expired" (105002). The refresh token may change: the
latest one is always saved. When the refresh token itself has expired, authorize again.""",
        [""],
        _cmd_refresh,
    )

    add(
        commands,
        "shops",
        "list the authorized shops (proves the access token works)",
        """\
Call Get Authorized Shops (a signed Open API request) with the saved access token and list the
shops it may act on, with their ciphers. The first shop's cipher is saved as TIKTOK_SHOP_CIPHER.

When to use it: right after authorizing, or to check that the saved token still works.""",
        ["", "--json"],
        _cmd_shops,
    )

    add(
        commands,
        "status",
        "what is configured, the mode, when each token expires",
        """\
Show the settings in use (secrets masked), the mode (sandbox or live) and where requests go, when
the access token, refresh token and any waiting auth code expire (local time and relative), and
the next step. Reads .env and the environment only: no request is made.

With --json: ISO 8601 timestamps and seconds left, for scripts (e.g. refresh when under a day).""",
        ["", "--json", "--env-file ../shop-b/.env"],
        _cmd_status,
    )

    p = add(
        commands,
        "api2cart",
        "add the store to API2Cart, or list the account's stores",
        """\
API2Cart steps, with the API key in API2CART_API_KEY (the sandbox has its own).

  add   add the TikTok Shop store (App Key, App Secret, refresh token) and confirm it in the list
  list  the stores of the API2Cart account""",
        ["add --label 'My TikTok shop'", "list"],
        _cmd_api2cart_list,
    )
    api2cart = p.add_subparsers(dest="api2cart_command", metavar="ACTION", title="actions", required=True)
    q = add(
        api2cart,
        "add",
        "add the TikTok Shop store and confirm it in the store list",
        """\
Add the TikTok Shop store to the API2Cart account (account.cart.add with cart_id TikTokShop and the
saved App Key, App Secret and refresh token), save the store key API2Cart returns as
API2CART_STORE_KEY, and confirm the store appears in account.cart.list.

When to use it: once, after `authorize`. To see what is there already, use `api2cart list`.""",
        ["--label 'My TikTok shop'", "--label 'UK shop' --store-url https://shop.example.com"],
        _cmd_api2cart_add,
    )
    q.add_argument("--label", default=None, help="custom label shown in API2Cart's store list")
    q.add_argument("--store-url", default=None, help="the shop's URL, if you want API2Cart to record one")
    add(
        api2cart,
        "list",
        "the stores of the API2Cart account",
        """\
List the stores of the API2Cart account (account.cart.list): label, platform, URL, store key
(masked unless --show-secrets).

When to use it: to confirm the TikTok Shop store is connected, or to find its store key.""",
        ["", "--json"],
        _cmd_api2cart_list,
    )

    p = add(
        commands,
        "sandbox",
        "serve the sandbox (TikTok authorization, Open API and API2Cart, offline)",
        """\
Serve the embedded simulation of TikTok Shop's authorization service, Open API and API2Cart on
127.0.0.1 until Ctrl-C (the same as `python -m tiktok_helpers.sandbox`, same options). It prints
its base URL, the sample app's values (fake, safe to show) and an authorization link.

When to use it: to open the consent page in a real browser, or to point other tools (or
TIKTOK_SANDBOX_URL) at one shared sandbox. The other commands need none of this: in sandbox mode
they start their own, sharing state through .sandbox/state.json beside .env.""",
        ["--port 0", "--port 8770 --state .sandbox/state.json --auto-approve global"],
        _cmd_sandbox,
        with_globals=False,
    )
    p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default 8770; 0 = any free)")
    p.add_argument(
        "--redirect-url",
        default=None,
        help="the sample app's registered callback URL (default: the one in the --state file, else the sample's)",
    )
    p.add_argument(
        "--state",
        metavar="PATH",
        default=None,
        help="keep codes, tokens and API2Cart stores in this JSON file (mode 0600), shared with other sandboxes",
    )
    p.add_argument(
        "--auto-approve",
        choices=["global", "us"],
        default=None,
        help="consent links redirect at once, as if this sample seller clicked Authorize",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log requests (query strings removed)")

    add(
        commands,
        "doctor",
        "check settings, clock, hosts and tokens; say what to fix",
        f"""\
Check what the flow depends on and say what to fix for each failed check:

  settings       .env and the environment are valid (every bad value named)
  app settings   live mode: App Key, App Secret, service_id, redirect URL are set
  hosts          the token host, the Open API host and API2Cart answer (any HTTP status counts)
  clock          this computer's clock against the token host's Date header: signed requests are
                 valid only within minutes (warning beyond {CLOCK_WARN:.0f} s, failure beyond {CLOCK_FAIL:.0f} s)
  tokens         neither token has expired or has less than a day left

In sandbox mode the hosts and the clock are checked against the in-process sandbox. Exit 0 when
every check passes (warnings allowed), 1 otherwise.

When to use it: before starting, and whenever a step fails in a way you do not understand.""",
        ["", "--json", "--timeout 5"],
        _cmd_doctor,
    )
    return parser


# --- entry point ---------------------------------------------------------------------------------


def _report_error(out: Output, exc: BaseException, code: int) -> None:
    if isinstance(exc, TikTokHelperError):
        out.note(f"error: {exc}")
        error: dict[str, Any] = {
            "code": str(exc.code) if isinstance(exc, ApiError) else exc.entry.code,
            "catalog_code": exc.entry.code,
            "title": exc.title,
            "detail": exc.detail,
            "cause": exc.cause,
            "fix": exc.fix,
            "request_id": (exc.request_id or None) if isinstance(exc, ApiError) else None,
            "service": (exc.service or None) if isinstance(exc, ServiceError) else None,
        }
        if isinstance(exc, ValidationError):
            error["problems"] = [{"field": p.field, "message": p.message} for p in exc.problems]
    else:
        out.note(f"error: {exc}")
        error = {
            "code": "usage",
            "catalog_code": None,
            "title": "Bad usage",
            "detail": str(exc),
            "cause": None,
            "fix": f"see `{out.command('--help')}`",
            "request_id": None,
            "service": None,
        }
    if out.json:
        error["exit_code"] = code
        print(json.dumps({"ok": False, "error": error}, indent=2, ensure_ascii=False), file=out.stdout, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse has already printed
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)
    out = Output(
        json=bool(getattr(args, "json", False)),
        show_secrets=bool(getattr(args, "show_secrets", False)),
        prog=parser.prog,
        stdout=sys.stdout,
        stderr=sys.stderr,
    )
    func: Callable[[argparse.Namespace, Output], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if out.show_secrets and not _isatty(sys.stdout):
            out.show_secrets = False
            raise UsageError(
                "--show-secrets only works when the output is a terminal, so secrets do not end up in files, "
                "pipes or logs; read them from the .env file instead"
            )
        return func(args, out)
    except KeyboardInterrupt:
        out.note("interrupted")
        return EXIT_INTERRUPTED
    except (TikTokHelperError, UsageError) as exc:
        code = exit_code_for(exc)
        _report_error(out, exc, code)
        return code
