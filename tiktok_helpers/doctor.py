"""The doctor: check what the flow depends on, and say what to fix.

:func:`run_checks` loads the settings, starts a session (in sandbox mode: the in-process sandbox)
and returns a :class:`DoctorReport` of :class:`Check` objects, one per concern:

  settings       ``.env`` and the environment are valid (every bad value named)
  app settings   live mode: App Key, App Secret, service_id, redirect URL are set
  grant store    where the grants are kept; a PostgreSQL server elsewhere reached without TLS warns
  hosts          the token host, the Open API host and API2Cart answer (any HTTP status counts)
  clock          this computer's clock against the token host's ``Date`` header
  tokens         the seller's tokens: neither has expired or has less than a day left
  webhooks       where TikTok's webhooks go, and whether TikTok would deliver there

Each check's ``fix`` is a sentence for a person, with no command-line syntax; ``command`` names the
runbook command that does it (``"authorize"``, ``"refresh"``, ``"sandbox"``), for a front end to
render (the command line prints it as ``fix: <fix>: `<prog> <command>```).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from enum import Enum
from pathlib import Path
from typing import Final, NamedTuple
from urllib.parse import urlsplit

import httpx

from .errors import TikTokHelperError, ValidationError
from .grants import Grant
from .protocol import ACCESS_TOKEN_LIFETIME, EXPIRY_MARGIN, SIGNED_TIMESTAMP_MAX_AGE, SIGNED_TIMESTAMP_MAX_AHEAD
from .secret import Secret
from .session import open_session
from .settings import Mode, Settings, default_env_path, load_settings
from .status import ENDING_SOON, attention, grant_store_of
from .store import load_with_seller
from .text import expiry, span

__all__ = [
    "CLOCK_FAIL_AHEAD",
    "CLOCK_FAIL_BEHIND",
    "CLOCK_WARN_AHEAD",
    "CLOCK_WARN_BEHIND",
    "FAIL",
    "PASS",
    "SKIP",
    "WARN",
    "Check",
    "CheckStatus",
    "DoctorReport",
    "Probe",
    "app_check",
    "clock_check",
    "grant_store_check",
    "probe",
    "run_checks",
    "settings_checks",
    "token_checks",
    "webhook_check",
]

#: TikTok accepts a signed request's timestamp from 5 minutes behind its own time to 30 seconds
#: ahead of it (protocol.SIGNED_TIMESTAMP_*, from Partner Center docs): outside that, 36009004. The window is
#: asymmetric, so the check is too. Half of each side is still fine; beyond it, a warning.
CLOCK_FAIL_BEHIND: Final = SIGNED_TIMESTAMP_MAX_AGE.total_seconds()
CLOCK_FAIL_AHEAD: Final = SIGNED_TIMESTAMP_MAX_AHEAD.total_seconds()
CLOCK_WARN_BEHIND: Final = CLOCK_FAIL_BEHIND / 2
CLOCK_WARN_AHEAD: Final = CLOCK_FAIL_AHEAD / 2


class CheckStatus(str, Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


PASS: Final = CheckStatus.PASS
WARN: Final = CheckStatus.WARN
FAIL: Final = CheckStatus.FAIL
SKIP: Final = CheckStatus.SKIP


@dataclass(frozen=True)
class Check:
    """One check: its name, pass/warn/fail/skip, what was found, what to do, and the runbook
    command that does it (``None`` when no command does)."""

    name: str
    status: CheckStatus
    detail: str
    fix: str = ""
    command: str | None = None


@dataclass(frozen=True)
class DoctorReport:
    """Every check, in order, for the settings file ``env_path`` (``mode`` is None when the
    settings could not be loaded)."""

    checks: tuple[Check, ...]
    env_path: Path
    mode: Mode | None

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status is FAIL)

    @property
    def warned(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status is WARN)

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings allowed)."""
        return not self.failed


class Probe(NamedTuple):
    """What one GET to a host gave: its status and ``Date`` header, or why there was no answer."""

    url: str
    status_code: int | None = None
    date: str | None = None
    local: datetime | None = None
    error: str = ""


def probe(http: httpx.Client, url: str, timeout: float) -> Probe:
    """GET ``url`` once (no redirects followed); ``local`` is this computer's time mid-request."""

    before = time.time()
    try:
        response = http.get(url, timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException:
        return Probe(url, error=f"no answer within {timeout:g} s")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return Probe(url, error=f"could not connect ({type(exc).__name__}: {exc})")
    middle = (before + time.time()) / 2
    return Probe(url, response.status_code, response.headers.get("date"), datetime.fromtimestamp(middle, timezone.utc))


_CLOCK_FIX: Final = (
    "turn on automatic time (NTP) and check the time zone: signed Open API requests carry a timestamp "
    "TikTok accepts only within minutes of its own time (error 36009004)"
)


def clock_check(token_probe: Probe) -> Check:
    """This computer's clock against the token host's ``Date`` header."""
    if token_probe.status_code is None:
        return Check("clock", SKIP, "the token host did not answer, so there is no clock to compare with")
    try:
        server = parsedate_to_datetime(token_probe.date) if token_probe.date else None
    except (TypeError, ValueError):
        server = None
    if server is None or token_probe.local is None or server.tzinfo is None:
        return Check(
            "clock",
            WARN,
            f"{token_probe.url} sent no usable Date header; the clock could not be compared",
            "make sure this computer sets its clock automatically (NTP)",
        )
    offset = (server - token_probe.local).total_seconds()
    # The Date header has whole seconds: up to one second of the difference is its rounding.
    drift = max(0.0, abs(offset) - 1.0)
    side = "behind" if offset > 0 else "ahead of"
    detail = (
        f"this computer is {abs(offset):.0f} s {side} the token host's clock"
        if drift
        else "this computer's clock agrees with the token host's (within a second)"
    )
    behind = offset > 0  # the server's clock is later than this computer's
    fail, warn = (CLOCK_FAIL_BEHIND, CLOCK_WARN_BEHIND) if behind else (CLOCK_FAIL_AHEAD, CLOCK_WARN_AHEAD)
    if drift > fail:
        return Check(
            "clock", FAIL, f"{detail}: TikTok refuses signed requests beyond {fail:.0f} s {side} it", _CLOCK_FIX
        )
    if drift > warn:
        return Check("clock", WARN, f"{detail} (TikTok's limit is {fail:.0f} s {side} it)", _CLOCK_FIX)
    return Check("clock", PASS, detail)


#: A fix for a person, and the runbook command that does it.
_Fix = tuple[str, "str | None"]


def _expiry_check(
    name: str, value: Secret, expires: datetime | None, now: datetime, expired: _Fix, soon: _Fix
) -> Check:
    if not value:
        return Check(name, WARN, "none yet", *expired)
    if expires is None:
        return Check(name, WARN, "its expiry is not recorded in the seller's grant", *expired)
    if expires <= now:
        return Check(name, FAIL, expiry(expires, now), *expired)
    if expires - now < EXPIRY_MARGIN:
        return Check(name, FAIL, f"{expiry(expires, now)}: less than a day left", *soon)
    return Check(name, PASS, expiry(expires, now))


def token_checks(s: Settings, grant: Grant | None, now: datetime | None = None) -> list[Check]:
    """The seller's access and refresh tokens: present, and more than a day left on each."""
    now = now or datetime.now(timezone.utc)
    if grant is None:
        if s.pending_import:
            return [
                Check(
                    "tokens",
                    WARN,
                    f"{s.env_path.name} still holds a single seller's tokens from an older runbook",
                    "import them into the grant database",
                    "sellers import-env",
                )
            ]
        return [Check("tokens", WARN, "no tokens yet (not authorized)", "authorize the app", "authorize")]
    again: _Fix = ("the seller must authorize the app again", "authorize")
    before_end: _Fix = ("before it ends, the seller must authorize the app again", "authorize")
    name = f" of {grant.label}"
    refresh_check = _expiry_check(
        "refresh token" + name, grant.refresh_token, grant.refresh_token_expires_at, now, again, before_end
    )
    refresh: _Fix = (
        again
        if refresh_check.status is FAIL or not grant.refresh_token
        else (f"refresh it (it lasts {span(ACCESS_TOKEN_LIFETIME)})", "refresh")
    )
    access_check = _expiry_check(
        "access token" + name, grant.access_token, grant.access_token_expires_at, now, refresh, refresh
    )
    checks = [access_check, refresh_check]
    if grant.removed_at is not None:  # TikTok's webhook 6 (or 20): the tokens no longer work
        checks.append(Check("authorization" + name, FAIL, attention(grant, now), *again))
    elif grant.ending_within(now, ENDING_SOON):  # TikTok's webhook 7, or the refresh token's own end
        checks.append(Check("authorization" + name, WARN, attention(grant, now), *before_end))
    return checks


def webhook_check(s: Settings) -> Check:
    """Where TikTok's webhooks go. Live, TikTok delivers only to an https URL with a domain name, no
    port, TLS 1.2+, at most 255 characters (TikTok Shop Partner Center, "Configuration guide" and the
    Event API's ``address``): a URL that breaks a rule is a warning (it is set in Partner Center)."""
    url = s.webhook_url
    if not url:
        return Check("webhooks", SKIP, "TIKTOK_WEBHOOK_URL is not set: no webhook is heard (optional)")
    if s.is_sandbox:
        return Check("webhooks", PASS, f"the sandbox sends its webhooks to {url}")
    parts = urlsplit(url)
    problems = []
    if parts.scheme != "https":
        problems.append("it is not https")
    host = parts.hostname or ""
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        problems.append("its host is an IP address, not a domain name")
    if parts.port is not None:
        problems.append("it has a port")
    if len(url) > 255:
        problems.append("it is longer than 255 characters")
    if problems:
        fix = "use an https URL with a domain name and no port (an HTTPS reverse proxy in front of `webhooks serve`)"
        return Check("webhooks", WARN, f"TikTok will not deliver to {url}: {'; '.join(problems)}", fix)
    return Check("webhooks", PASS, f"{url} (set the same URL in Partner Center; deliveries: Webhook Log)")


#: What to do when a PostgreSQL server elsewhere would be reached without TLS.
_PLAIN_TEXT_FIX: Final = (
    "add sslmode=verify-full (or sslmode=require) to TIKTOK_GRANTS_URL; verify-full also checks the "
    "server's certificate and name (give libpq the CA that signed it: ~/.postgresql/root.crt, or "
    "sslrootcert=/path/to/ca.pem in the URL)"
)


#: What each encrypting ``sslmode`` checks of the server, as the doctor says it.
_TLS_CHECKS: Final = {
    "verify-full": "TLS, the server's certificate and name checked",
    "verify-ca": "TLS, the server's certificate checked but not its name: sslmode=verify-full would",
    "require": "TLS, the server's certificate not checked: sslmode=verify-full would",
}


def grant_store_check(s: Settings) -> Check:
    """Where every seller's grant is kept: the SQLite file beside ``.env``, or the PostgreSQL database
    of ``TIKTOK_GRANTS_URL`` (masked). A server that is not on this computer reached without an
    encrypted connection is a warning: the refresh tokens would cross the network in clear. Reads the
    settings only; whether the database answers is for the commands that open it to say."""
    where = grant_store_of(s).text
    url = s.grants_url
    if url is None:
        return Check("grant store", PASS, where)
    if url.is_local or url.encrypted:
        if s.is_sandbox and not s.sandbox_url:
            return _own_sandbox(where)
        how = "on this computer" if url.is_local else _TLS_CHECKS.get(url.tls or "", "GSSAPI encryption")
        return Check("grant store", PASS, f"{where} ({how})")
    mode = {
        None: "the URL sets no sslmode (libpq's default, prefer, does not insist on TLS)",
        "disable": "sslmode=disable turns TLS off",
    }.get(url.tls, f"sslmode={url.tls} does not insist on TLS")
    detail = (
        f"{where}: the server is not on this computer and {mode}, so the sellers' refresh tokens would cross "
        "the network without TLS"
    )
    return Check("grant store", WARN, detail, _PLAIN_TEXT_FIX)


def _own_sandbox(where: str) -> Check:
    """A shared store in sandbox mode, with this folder's own embedded sandbox."""
    return Check(
        "grant store",
        WARN,
        f"{where}, shared, in sandbox mode with this folder's own embedded sandbox: the sandbox sellers other "
        "folders authorized hold tokens only their sandboxes know, so refreshing them from here is refused",
        "folders that share a grant store in sandbox mode share one sandbox too: start it once "
        "(`python -m tiktok_helpers sandbox`) and set TIKTOK_SANDBOX_URL to its address in each .env",
    )


def _grant_store_alone(env_path: Path, environ: Mapping[str, str]) -> Check:
    """The grant store check when the settings check failed: opening the store may be what failed
    (a server that does not answer), and where it is and how it is reached still help then."""
    try:
        return grant_store_check(load_settings(env_path, environ))
    except (OSError, TikTokHelperError):
        return Check("grant store", SKIP, "needs valid settings")


def app_check(s: Settings) -> Check:
    """The app's settings: the sample app in sandbox mode, or every value live mode needs."""
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
            "set API2CART_API_KEY (API2Cart admin panel, Account) before adding the store to API2Cart",
        )
    return Check("app settings", PASS, f"live mode ({s.region.value}), App Key {s.app_key}")


_HOSTS: Final = (
    ("token host", "token_base", "TIKTOK_AUTH_BASE_URL"),
    ("Open API host", "open_api_base", "TIKTOK_OPEN_API_BASE_URL"),
    ("API2Cart host", "api2cart_base", "API2CART_BASE_URL"),
)


def network_checks(s: Settings, environ: Mapping[str, str] | None = None, scenario: str | None = None) -> list[Check]:
    """Each host answers (in sandbox mode: the sandbox), then the clock against the token host's."""
    if scenario is not None and (not s.is_sandbox or s.sandbox_url):
        # No sandbox of the doctor's serves it: nothing is damaged, the scenario is asked of the wrong place.
        where = f"the sandbox at {s.sandbox_url} serves its own" if s.is_sandbox else "this project is in live mode"
        fix = (
            f"start that sandbox with `sandbox --scenario {scenario}`, or empty TIKTOK_SANDBOX_URL"
            if s.is_sandbox
            else "train in a copy of the project without an App Key (sandbox mode); leave the scenario out here"
        )
        return [
            Check("sandbox", FAIL, f"training scenario {scenario!r} cannot be served here: {where}", fix),
            *(Check(name, SKIP, "no scenario served") for name, _, _ in _HOSTS),
            Check("clock", SKIP, ""),
        ]
    try:
        session = open_session(s.env_path, environ=environ, scenario=scenario)
    except (OSError, ValueError, TikTokHelperError) as exc:
        return [
            Check(
                "sandbox",
                FAIL,
                f"the in-process sandbox could not start: {exc}",
                "delete the .sandbox folder beside .env if its state file is damaged, then run again",
            ),
            *(Check(name, SKIP, "no sandbox to ask") for name, _, _ in _HOSTS),
            Check("clock", SKIP, ""),
        ]
    checks: list[Check] = []
    with session:
        ends = session.endpoints
        probes: dict[str, Probe] = {}
        token_probe: Probe | None = None
        for name, attr, setting in _HOSTS:
            url: str = getattr(ends, attr)
            answer = probes.get(url) or probe(session.http, url, session.settings.http_timeout)
            probes[url] = answer
            if attr == "token_base":
                token_probe = answer
            if answer.status_code is not None:
                checks.append(Check(name, PASS, f"{url} answered (HTTP {answer.status_code})"))
            elif s.is_sandbox and s.sandbox_url:
                checks.append(
                    Check(
                        name,
                        FAIL,
                        f"{url}: {answer.error}",
                        "start that sandbox or empty TIKTOK_SANDBOX_URL",
                        "sandbox",
                    )
                )
            elif s.is_sandbox:
                fix = "the in-process sandbox did not answer: run the command again"
                checks.append(Check(name, FAIL, f"{url}: {answer.error}", fix))
            else:
                fix = (
                    f"check this computer's internet connection, proxy (HTTPS_PROXY) and firewall for {url}; "
                    f"if {setting} is set in .env or the environment, check it for typos"
                )
                checks.append(Check(name, FAIL, f"{url}: {answer.error}", fix))
        assert token_probe is not None
        checks.append(clock_check(token_probe))
    return checks


def settings_checks(
    env_path: Path, environ: Mapping[str, str] | None = None, seller: str | None = None
) -> tuple[Settings | None, Grant | None, Check]:
    """Load the settings and ``seller``'s grant (default: the most recently authorized): them (or
    None) and the check that says whether they are valid."""
    try:
        settings, grant = load_with_seller(env_path, environ, seller)
    except ValidationError as exc:
        return (
            None,
            None,
            Check(
                "settings",
                FAIL,
                f"{env_path}: " + "; ".join(str(p) for p in exc.problems),
                f"correct {', '.join(dict.fromkeys(exc.fields))} in {env_path} (or in the environment, which wins over "
                ".env); .env.example explains each setting",
            ),
        )
    except TikTokHelperError as exc:
        return None, None, Check("settings", FAIL, str(exc), exc.fix)
    return settings, grant, Check("settings", PASS, f"{env_path}: valid, {settings.mode.value} mode")


def run_checks(
    env_path: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    seller: str | None = None,
    now: datetime | None = None,
    scenario: str | None = None,
) -> DoctorReport:
    """Run every check for the settings file ``env_path`` (default: the usual ``.env`` lookup) with
    ``environ`` as the environment (default: this process's). Makes one GET to each host. In sandbox
    mode ``scenario`` is a training scenario for the sandbox the checks start (``clock-ahead``)."""
    path = Path(env_path) if env_path is not None else default_env_path()
    environ = os.environ if environ is None else environ
    settings, grant, first = settings_checks(path, environ, seller)
    checks = [first]
    if settings is None:
        checks.append(_grant_store_alone(path, environ))
        checks += [Check(name, SKIP, "needs valid settings") for name in ("hosts", "clock", "tokens")]
    else:
        checks.append(app_check(settings))
        checks.append(grant_store_check(settings))
        checks += network_checks(settings, environ, scenario)
        checks += token_checks(settings, grant, now)
        checks.append(webhook_check(settings))
    return DoctorReport(tuple(checks), path, settings.mode if settings else None)
