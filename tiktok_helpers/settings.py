"""Settings: loaded from ``.env`` (the process environment wins), saved back safely.

``load_settings()`` reads the ``.env`` file with python-dotenv, lets variables already in the
process environment override it, and resolves the mode: ``TIKTOK_MODE`` if set, otherwise
``live`` when an App Key and App Secret are configured and ``sandbox`` when they are not. In
sandbox mode empty credentials are filled with the sandbox's sample app.

``save_settings()`` validates every value first and writes nothing if any is wrong; then it
updates only the keys given, keeping every other line of ``.env``, atomically, mode 0600.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Final

from . import samples
from .envfile import read_env, update_env
from .errors import REDIRECT_URL_FIELD, FieldProblem, MissingSettingError, ValidationError
from .regions import DEFAULT_TIMEOUT, ENDPOINT_SETTINGS, AuthType, Endpoints, Region, endpoints_for, sandbox_endpoints
from .secret import Secret
from .store_url import GRANTS_URL_SETTING, StoreUrl
from .validation import (
    clean_app_key,
    clean_app_secret,
    clean_choice,
    clean_datetime,
    clean_redirect_url,
    clean_service_id,
    clean_timeout,
    clean_token,
    clean_url,
    is_loopback,
)

__all__ = [
    "APP_FORM_LABELS",
    "PER_SELLER",
    "SETTINGS",
    "AppType",
    "Mode",
    "RefreshReading",
    "SettingSpec",
    "Settings",
    "check_env_path",
    "clean_app_form",
    "clean_updates",
    "clean_values",
    "default_env_path",
    "environment_values",
    "load_settings",
    "resolve_settings",
    "save_settings",
]


class Mode(str, Enum):
    SANDBOX = "sandbox"
    LIVE = "live"


class RefreshReading(str, Enum):
    """The two readings of refresh-token rotation, which TikTok does not document: the embedded
    sandbox serves one (``TIKTOK_SANDBOX_REFRESH_READING``); the runbook is right under both."""

    #: the "new" reading (the sandbox's default choice): a new refresh token comes back, the old one no longer works
    NEW = "new"
    #: the "same" reading (a sandbox choice too): the same refresh token comes back and keeps working
    SAME = "same"


class AppType(str, Enum):
    """Public apps are listed in the TikTok Shop App Store and reviewed; Custom apps are shared by link."""

    PUBLIC = "public"
    CUSTOM = "custom"


@dataclass(frozen=True)
class SettingSpec:
    name: str
    description: str
    clean: Callable[[str], str]
    secret: bool = False


def _choice(name: str, enum: type[Enum]) -> Callable[[str], str]:
    return partial(clean_choice, field=name, choices=tuple(str(m.value) for m in enum))


def _url(name: str) -> Callable[[str], str]:
    return partial(clean_url, field=name, allow_http=is_loopback)


def _grants_url(text: str) -> str:
    """A grant store URL checked by :class:`StoreUrl` (kept as given: the driver reads it)."""
    return StoreUrl.parse(text).reveal()


_SPECS: Final[tuple[SettingSpec, ...]] = (
    SettingSpec("TIKTOK_MODE", "sandbox or live; empty = live when credentials are set", _choice("TIKTOK_MODE", Mode)),
    SettingSpec("TIKTOK_REGION", "global or us: which Partner Center the app is in", _choice("TIKTOK_REGION", Region)),
    SettingSpec("TIKTOK_APP_TYPE", "public or custom", _choice("TIKTOK_APP_TYPE", AppType)),
    SettingSpec("TIKTOK_AUTH_TYPE", "seller, partner or creator", _choice("TIKTOK_AUTH_TYPE", AuthType)),
    SettingSpec("TIKTOK_APP_KEY", "App Key from the app's page", clean_app_key),
    SettingSpec("TIKTOK_APP_SECRET", "App Secret from the app's page", clean_app_secret, secret=True),
    SettingSpec("TIKTOK_SERVICE_ID", "service_id (Application ID)", clean_service_id),
    SettingSpec("TIKTOK_REDIRECT_URL", "callback URL registered for the app", clean_redirect_url),
    SettingSpec(
        "TIKTOK_AUTH_CODE",
        "auth code caught after approval (one use, 30 minutes)",
        partial(clean_token, field="TIKTOK_AUTH_CODE"),
        secret=True,
    ),
    SettingSpec(
        "TIKTOK_AUTH_CODE_RECEIVED_AT",
        "when the auth code arrived, ISO 8601",
        partial(clean_datetime, field="TIKTOK_AUTH_CODE_RECEIVED_AT"),
    ),
    SettingSpec("TIKTOK_HTTP_TIMEOUT", "seconds before a request gives up (default 15)", clean_timeout),
    SettingSpec("TIKTOK_SANDBOX_URL", "use an already running sandbox at this URL", _url("TIKTOK_SANDBOX_URL")),
    SettingSpec(
        "TIKTOK_SANDBOX_REFRESH_READING",
        "sandbox only: new (a refresh returns a new refresh token, the old stops working) or same",
        _choice("TIKTOK_SANDBOX_REFRESH_READING", RefreshReading),
    ),
    SettingSpec(
        "TIKTOK_WEBHOOK_URL",
        "where TikTok's webhooks go (live: set in Partner Center; sandbox: the embedded sandbox sends there)",
        _url("TIKTOK_WEBHOOK_URL"),
    ),
    SettingSpec(
        GRANTS_URL_SETTING,
        "a PostgreSQL URL for a grant store a team shares; empty = the SQLite file beside .env",
        _grants_url,
        secret=True,  # it may hold the database password
    ),
    SettingSpec(
        "API2CART_API_KEY",
        "API2Cart account API key",
        partial(clean_token, field="API2CART_API_KEY"),
        secret=True,
    ),
    *(
        SettingSpec(name, f"override for the {attr.replace('_', ' ')} URL", _url(name))
        for name, attr in ENDPOINT_SETTINGS.items()
    ),
)

#: Every setting the runbook knows, by name.
SETTINGS: Final[Mapping[str, SettingSpec]] = {spec.name: spec for spec in _SPECS}

ENV_FILE_VARIABLE: Final = "TIKTOK_ENV_FILE"

#: A seller's values, which are not settings: each lives in that seller's grant (grants.py). The
#: names are those of a single-seller ``.env`` from before the grant database (legacy.py imports
#: them once, on request); a save or the environment giving one is refused with this reason.
PER_SELLER: Final[Mapping[str, str]] = dict.fromkeys(
    (
        "TIKTOK_ACCESS_TOKEN",
        "TIKTOK_ACCESS_TOKEN_EXPIRES_AT",
        "TIKTOK_REFRESH_TOKEN",
        "TIKTOK_REFRESH_TOKEN_EXPIRES_AT",
        "TIKTOK_SELLER_NAME",
        "TIKTOK_SHOP_CIPHER",
        "API2CART_STORE_KEY",
    ),
    "is kept per seller in the grant database beside .env, not in settings: authorize, refresh or add the "
    "store to save it",
)


def default_env_path(start: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """``$TIKTOK_ENV_FILE`` (of ``environ``, default this process's), else ``.env`` in the nearest
    folder (from ``start`` up) that holds the project's ``.env.example``, else ``.env`` in ``start``."""
    env = os.environ if environ is None else environ
    if env.get(ENV_FILE_VARIABLE):
        return Path(env[ENV_FILE_VARIABLE])
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".env.example").is_file():
            return folder / ".env"
    return here / ".env"


def check_env_path(path: Path | str) -> Path:
    """``path`` if it can be the settings file; :class:`ValidationError` (field ``settings file``) if
    it is a folder, or if the folder it would be in does not exist (a mistyped path must not create
    folders, nor a settings file where nobody will find it). A file that does not exist yet is fine:
    the first save creates it."""
    path = Path(path)
    if path.is_dir():
        raise ValidationError(
            [
                FieldProblem(
                    "settings file",
                    f"{path} is a folder, not a settings file; give the path of a file, or rename the folder",
                )
            ]
        )
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ValidationError(
            [
                FieldProblem(
                    "settings file",
                    f"{folder} (the folder of {path}) {what}: create it (mkdir -p {shlex.quote(str(folder))}) "
                    "or fix the path",
                )
            ]
        )
    return path


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


@dataclass(frozen=True)
class Settings:
    """The resolved settings. Secrets are :class:`Secret` and the grant store's URL a :class:`StoreUrl`
    (both masked); print the object freely."""

    mode: Mode
    region: Region = Region.GLOBAL
    app_type: AppType = AppType.CUSTOM
    auth_type: AuthType = AuthType.SELLER
    app_key: str = ""
    app_secret: Secret = field(default_factory=lambda: Secret(""))
    service_id: str = ""
    redirect_url: str = ""
    auth_code: Secret = field(default_factory=lambda: Secret(""))
    auth_code_received_at: datetime | None = None
    http_timeout: float = DEFAULT_TIMEOUT
    sandbox_url: str = ""
    #: Sandbox mode: which reading of refresh-token rotation the embedded sandbox serves.
    sandbox_refresh_reading: RefreshReading = RefreshReading.NEW
    webhook_url: str = ""
    api2cart_api_key: Secret = field(default_factory=lambda: Secret(""))
    overrides: Mapping[str, str] = field(default_factory=dict)
    #: The shared grant store (``TIKTOK_GRANTS_URL``), or None for the SQLite file beside ``env_path``.
    #: Independent of the mode: each grant records the mode it belongs to.
    grants_url: StoreUrl | None = None
    env_path: Path = Path(".env")
    #: True when credentials are the sandbox's sample app rather than configured ones.
    using_sample_app: bool = False
    #: Keys of a single-seller ``.env`` from before the grant database, still waiting for
    #: ``sellers import-env`` (:mod:`tiktok_helpers.legacy`).
    pending_import: tuple[str, ...] = ()

    @property
    def is_sandbox(self) -> bool:
        return self.mode is Mode.SANDBOX

    def with_sandbox(self, base_url: str) -> Settings:
        """These settings pointed at a running sandbox."""
        return replace(self, sandbox_url=base_url.rstrip("/"))

    def endpoints(self) -> Endpoints:
        """Where to send requests: the real hosts in live mode, the sandbox in sandbox mode."""
        if self.mode is Mode.LIVE:
            return endpoints_for(self.region, self.overrides)
        if not self.sandbox_url:
            raise MissingSettingError(
                "sandbox mode needs a running sandbox: start one with Sandbox() or "
                "`python -m tiktok_helpers.sandbox` and set TIKTOK_SANDBOX_URL"
            )
        return sandbox_endpoints(self.sandbox_url)

    def require(self, *names: str) -> None:
        """Raise :class:`MissingSettingError` naming every empty setting among ``names``."""
        missing = [name for name in names if not getattr(self, name.lower().removeprefix("tiktok_"))]
        if missing:
            raise MissingSettingError(f"not configured yet: {', '.join(missing)}")


def _mode_for(values: Mapping[str, str]) -> Mode:
    explicit = values.get("TIKTOK_MODE", "").strip()
    if explicit:
        return Mode(SETTINGS["TIKTOK_MODE"].clean(explicit))
    key = values.get("TIKTOK_APP_KEY", "").strip()
    if key and values.get("TIKTOK_APP_SECRET", "").strip() and key != samples.SANDBOX_APP_KEY:
        return Mode.LIVE
    return Mode.SANDBOX


def clean_values(raw: Mapping[str, str]) -> dict[str, str]:
    """Validate raw setting values (unknown names and empty values are skipped): the cleaned values,
    or a :class:`ValidationError` naming every bad key."""
    values: dict[str, str] = {}
    problems: list[FieldProblem] = []
    for name, value in raw.items():
        if name not in SETTINGS or not value.strip():
            continue
        try:
            values[name] = SETTINGS[name].clean(value)
        except ValidationError as exc:
            problems.extend(FieldProblem(name, p.message) for p in exc.problems)
    if problems:
        raise ValidationError(problems)
    return values


def environment_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings given in the process environment (which win over ``.env``)."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if k in SETTINGS}


def resolve_settings(cleaned: Mapping[str, str], env_path: Path) -> Settings:
    """Turn already cleaned values into :class:`Settings`: the mode, and in sandbox mode the sample
    app's values where none are configured. Nothing is validated again here."""
    values = dict(cleaned)
    mode = _mode_for(values)
    sample = mode is Mode.SANDBOX and not values.get("TIKTOK_APP_KEY")
    if sample:
        values.setdefault("TIKTOK_APP_KEY", samples.SANDBOX_APP_KEY)
        values.setdefault("TIKTOK_APP_SECRET", samples.SANDBOX_APP_SECRET)
        values.setdefault("TIKTOK_SERVICE_ID", samples.SANDBOX_SERVICE_ID)
    if mode is Mode.SANDBOX:
        values.setdefault("TIKTOK_REDIRECT_URL", samples.SANDBOX_REDIRECT_URL)
        values.setdefault("API2CART_API_KEY", samples.SANDBOX_API2CART_KEY)
    get = values.get
    return Settings(
        mode=mode,
        region=Region(get("TIKTOK_REGION", Region.GLOBAL.value)),
        app_type=AppType(get("TIKTOK_APP_TYPE", AppType.CUSTOM.value)),
        auth_type=AuthType(get("TIKTOK_AUTH_TYPE", AuthType.SELLER.value)),
        app_key=get("TIKTOK_APP_KEY", ""),
        app_secret=Secret(get("TIKTOK_APP_SECRET", "")),
        service_id=get("TIKTOK_SERVICE_ID", ""),
        redirect_url=get("TIKTOK_REDIRECT_URL", ""),
        auth_code=Secret(get("TIKTOK_AUTH_CODE", "")),
        auth_code_received_at=_parse_time(get("TIKTOK_AUTH_CODE_RECEIVED_AT", "")),
        http_timeout=float(get("TIKTOK_HTTP_TIMEOUT", DEFAULT_TIMEOUT)),
        sandbox_url=get("TIKTOK_SANDBOX_URL", "").rstrip("/"),
        sandbox_refresh_reading=RefreshReading(get("TIKTOK_SANDBOX_REFRESH_READING", RefreshReading.NEW.value)),
        webhook_url=get("TIKTOK_WEBHOOK_URL", ""),
        api2cart_api_key=Secret(get("API2CART_API_KEY", "")),
        overrides={name: values[name] for name in ENDPOINT_SETTINGS if name in values},
        grants_url=StoreUrl.parse(values[GRANTS_URL_SETTING]) if values.get(GRANTS_URL_SETTING) else None,
        env_path=env_path,
        using_sample_app=sample,
    )


def load_settings(env_path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``.env`` and the environment (which wins) and return resolved :class:`Settings`.

    Values are validated; a malformed value raises :class:`ValidationError` naming every bad key.
    """
    path = Path(env_path) if env_path is not None else default_env_path()
    return resolve_settings(clean_values({**read_env(path), **environment_values(environ)}), path)


def clean_updates(updates: Mapping[str, str | Secret | None]) -> dict[str, str | None]:
    """Validate setting updates without writing: the cleaned values, or a :class:`ValidationError`
    listing every problem (``None`` means "remove this key" and is always valid)."""
    cleaned: dict[str, str | None] = {}
    problems: list[FieldProblem] = []
    for name, value in updates.items():
        spec = SETTINGS.get(name)
        if spec is None:
            known = "is not a setting this runbook knows; see .env.example"
            problems.append(FieldProblem(name, PER_SELLER.get(name, known)))
            continue
        if value is None:
            cleaned[name] = None
            continue
        text = value.reveal() if isinstance(value, Secret) else value
        try:
            cleaned[name] = spec.clean(text)
        except ValidationError as exc:
            problems.extend(FieldProblem(name, p.message) for p in exc.problems)
    key = cleaned.get("TIKTOK_APP_KEY")
    secret = cleaned.get("TIKTOK_APP_SECRET")
    if key and secret and key == secret:
        problems.append(FieldProblem("TIKTOK_APP_SECRET", "is the same as the App Key; paste the App Secret"))
    if problems:
        raise ValidationError(problems)
    return cleaned


def save_settings(updates: Mapping[str, str | Secret | None], env_path: Path | str | None = None) -> dict[str, str]:
    """Validate ``updates`` and write them to ``.env`` (``None`` removes a key).

    Every value is checked before anything is written: on any problem a :class:`ValidationError`
    lists them all and the file is untouched. Returns the cleaned values written.
    """
    path = Path(env_path) if env_path is not None else default_env_path()
    cleaned = clean_updates(updates)
    update_env(path, cleaned)
    return {k: v for k, v in cleaned.items() if v is not None}


#: Setting names as the Partner Center form (notebook 01) labels them.
APP_FORM_LABELS: Final[Mapping[str, str]] = {
    "TIKTOK_REGION": "Region",
    "TIKTOK_APP_TYPE": "App type",
    "TIKTOK_REDIRECT_URL": REDIRECT_URL_FIELD,
    "TIKTOK_AUTH_TYPE": "Authorization type",
    "TIKTOK_APP_KEY": "App Key",
    "TIKTOK_APP_SECRET": "App Secret",
    "TIKTOK_SERVICE_ID": "service_id",
}


def clean_app_form(
    *,
    region: Region | str,
    app_type: str,
    app_key: str,
    app_secret: Secret | str,
    service_id: str,
    redirect_url: str,
    auth_type: AuthType | str | None = None,
) -> dict[str, str | None]:
    """The Partner Center form checked as a whole: the cleaned updates, or one
    :class:`ValidationError` naming every problem by the form's labels."""
    updates: dict[str, str | Secret | None] = {
        "TIKTOK_REGION": str(getattr(region, "value", region)),
        "TIKTOK_APP_TYPE": app_type,
        "TIKTOK_REDIRECT_URL": redirect_url,
        "TIKTOK_APP_KEY": app_key,
        "TIKTOK_APP_SECRET": app_secret,
        "TIKTOK_SERVICE_ID": service_id,
    }
    if auth_type is not None:
        updates["TIKTOK_AUTH_TYPE"] = str(getattr(auth_type, "value", auth_type))
    try:
        return clean_updates(updates)
    except ValidationError as exc:
        labelled = (FieldProblem(APP_FORM_LABELS.get(p.field, p.field), p.message) for p in exc.problems)
        raise ValidationError(list(dict.fromkeys(labelled))) from None
