"""Where a project stands: the mode, where requests go and the grants are kept, when each token
expires, and what to do next.

:func:`status_of` turns :class:`~tiktok_helpers.settings.Settings` into one :class:`Status`; it
reads nothing and sends nothing. :func:`load_status` reads ``.env`` and the environment first,
for a front end that has no session (the command line's ``status``). The next-step rules live
here, once: :func:`next_step` answers a :class:`NextStep` whose ``text`` is a sentence for a
person and whose ``command`` names the runbook command that does it, for a front end to render.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Final

from .errors import InvalidAuthCode, MissingSettingError, NoSellerYet
from .grants import Grant, grants_path_for
from .legacy import IMPORT_COMMAND
from .protocol import ACCESS_TOKEN_LIFETIME, AUTH_CODE_LIFETIME
from .settings import Mode, Settings, default_env_path
from .store import load_with_seller, sandbox_state_path
from .text import relative, span, when

__all__ = [
    "ENDING_SOON",
    "GrantStoreLocation",
    "Hosts",
    "NextStep",
    "Status",
    "attention",
    "describe",
    "exchange_retry",
    "grant_store_of",
    "load_status",
    "next_step",
    "no_seller_error",
    "status_of",
]

#: How far ahead the end of an authorization needs a person: TikTok sends webhook 7
#: (UPCOMING_AUTHORIZATION_EXPIRATION) from 30 days before it (TikTok Shop Partner Center, topic page
#: "7 Upcoming authorization expiration").
ENDING_SOON: Final = timedelta(days=30)


def attention(grant: Grant, now: datetime | None = None, within: timedelta = ENDING_SOON) -> str:
    """What about this seller needs a person, in a sentence ("" when nothing does): a damaged row,
    the seller removed the app (TikTok's webhook), the authorization ended or ends within ``within``."""
    now = now or datetime.now(timezone.utc)
    if grant.problem:
        return grant.problem
    if grant.removed_at is not None:
        return f"the seller removed the app {when(grant.removed_at, now)}: they must authorize again"
    end = grant.authorization_end
    if end is not None and end <= now:
        return f"the authorization ended {relative(end, now)}: the seller must authorize again"
    if grant.ending_within(now, within):
        return f"the authorization ends {relative(end, now)}: ask the seller to authorize again before then"
    return ""


@dataclass(frozen=True)
class NextStep:
    """What to do next: a sentence for a person, and the runbook command that does it (or None)."""

    text: str
    command: str | None = None


@dataclass(frozen=True)
class Hosts:
    """Where requests go; None where it is not known yet (a sandbox not started)."""

    token: str | None = None
    open_api: str | None = None
    api2cart: str | None = None


@dataclass(frozen=True)
class GrantStoreLocation:
    """Where every seller's grant is kept, as it may be shown (a URL's password masked)."""

    #: ``"sqlite"`` (the file beside ``.env``) or ``"postgresql"`` (``TIKTOK_GRANTS_URL``).
    kind: str
    #: The SQLite file's path, or the PostgreSQL URL masked.
    location: str

    @property
    def text(self) -> str:
        what = "SQLite file" if self.kind == "sqlite" else "PostgreSQL database"
        return f"{what} {self.location}"


def grant_store_of(s: Settings) -> GrantStoreLocation:
    """The grant store ``s`` names: the PostgreSQL database of ``TIKTOK_GRANTS_URL``, else the SQLite
    file beside the settings file. Opens nothing."""
    if s.grants_url is not None:
        return GrantStoreLocation("postgresql", s.grants_url.masked)
    return GrantStoreLocation("sqlite", str(grants_path_for(s.env_path)))


@dataclass(frozen=True)
class Status:
    """The settings in use, the seller worked on (None before any authorized), and what follows
    from them at ``now``."""

    settings: Settings
    seller: Grant | None
    now: datetime
    #: Where requests go, as a person reads it.
    where: str
    hosts: Hosts
    #: Where every seller's grant is kept.
    grant_store: GrantStoreLocation
    #: When the auth code waiting for the exchange stops working (None without one).
    auth_code_expires_at: datetime | None
    next_step: NextStep

    @property
    def mode(self) -> Mode:
        return self.settings.mode

    @property
    def env_path(self) -> Path:
        return self.settings.env_path

    @property
    def sample_app(self) -> bool:
        return self.settings.using_sample_app


def _expired(moment: datetime | None, now: datetime) -> bool:
    return moment is not None and moment <= now


def auth_code_expiry(s: Settings) -> datetime | None:
    """When the saved auth code stops working (None without a code or its arrival time)."""
    if not s.auth_code or s.auth_code_received_at is None:
        return None
    return s.auth_code_received_at + AUTH_CODE_LIFETIME


def next_step(s: Settings, grant: Grant | None, now: datetime | None = None) -> NextStep:
    """The one thing to do next for the seller of ``grant``, in the order of the runbook."""
    now = now or datetime.now(timezone.utc)
    if grant is None and s.auth_code:
        if _expired(auth_code_expiry(s), now):
            return NextStep("the saved auth code has expired: authorize the app again", "authorize")
        return NextStep("exchange the saved auth code", "exchange")
    if grant is None:
        if s.pending_import:
            return NextStep("import the single seller's tokens that .env still holds", IMPORT_COMMAND)
        return NextStep("authorize the app", "authorize")
    if grant.removed_at is not None:
        return NextStep("the seller removed the app (TikTok's webhook): they must authorize again", "authorize")
    if grant.refresh_expired(now):
        return NextStep("the authorization has ended: authorize again", "authorize")
    if grant.held_by_api2cart and grant.api2cart_store_key:
        if grant.ending_within(now, ENDING_SOON):
            return NextStep(attention(grant, now), "authorize")
        return NextStep(
            "all set; API2Cart refreshes this seller: run the keep-alive daily to check their store", "keepalive"
        )
    if not grant.access_token or grant.access_due(now):
        return NextStep("refresh the access token", "refresh")
    if not grant.api2cart_store_key:
        return NextStep("add the store to API2Cart", "api2cart add")
    if grant.ending_within(now, ENDING_SOON):
        return NextStep(attention(grant, now), "authorize")
    return NextStep(f"all set; refresh the access token at least every {span(ACCESS_TOKEN_LIFETIME)}", "refresh")


def exchange_retry(s: Settings, error: BaseException) -> NextStep | None:
    """After a failed exchange: how to retry it, when the code is still saved and still worth trying
    (TikTok did not refuse the code itself). None otherwise."""
    if isinstance(error, InvalidAuthCode) or not s.auth_code:
        return None
    return NextStep(
        f"The auth code stays saved in {s.env_path.name}: once the problem is fixed, exchange it (no argument "
        f"needed) within {span(AUTH_CODE_LIFETIME)} of approving",
        "exchange",
    )


def _where(s: Settings) -> tuple[str, Hosts]:
    if s.is_sandbox and not s.sandbox_url:
        folder = sandbox_state_path(s.env_path).parent
        return f"an in-process sandbox started by each command (state in {folder})", Hosts()
    ends = s.endpoints()
    hosts = Hosts(ends.token_base, ends.open_api_base, ends.api2cart_base)
    if s.is_sandbox:
        return f"the sandbox at {s.sandbox_url}", hosts
    return f"TikTok at {ends.token_base} and {ends.open_api_base}, API2Cart at {ends.api2cart_base}", hosts


def status_of(settings: Settings, seller: Grant | None, now: datetime | None = None) -> Status:
    """Where ``settings`` and the seller of ``seller`` stand at ``now`` (default: this moment).
    Reads and sends nothing."""
    now = now or datetime.now(timezone.utc)
    where, hosts = _where(settings)
    step = next_step(settings, seller, now)
    store = grant_store_of(settings)
    return Status(settings, seller, now, where, hosts, store, auth_code_expiry(settings), step)


def describe(s: Settings) -> str:
    """One line a person can read: the mode and where requests go."""
    if s.mode is Mode.SANDBOX:
        where = f"the embedded sandbox at {s.sandbox_url}" if s.sandbox_url else "the sandbox (not started)"
        app = "the sandbox's sample app" if s.using_sample_app else f"App Key {s.app_key}"
        return f"Mode: sandbox. Requests go to {where}, as {app}. Settings file: {s.env_path.name}."
    ends = s.endpoints()
    return (
        f"Mode: live ({s.region.value}). Tokens from {ends.token_base}, Open API at {ends.open_api_base}, "
        f"API2Cart at {ends.api2cart_base}. Settings file: {s.env_path.name}."
    )


def no_seller_error(s: Settings) -> MissingSettingError:
    """What a one-seller step says when no seller of this app and mode has authorized yet."""
    if s.pending_import:
        return MissingSettingError(
            f"{s.env_path.name} still holds a single seller's tokens from an older runbook: import them with "
            f"`python -m tiktok_helpers {IMPORT_COMMAND}` (or session.import_legacy()), or authorize again"
        )
    return NoSellerYet(f"no seller of this app in {s.mode.value} mode has authorized it yet")


def load_status(
    env_path: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    seller: str | None = None,
    now: datetime | None = None,
) -> Status:
    """Read ``.env``, the environment (which wins) and a seller's grant (default: the most recently
    authorized) and return their :class:`Status`."""
    path = Path(env_path) if env_path is not None else default_env_path()
    settings, grant = load_with_seller(path, environ, seller)
    return status_of(settings, grant, now)
