"""Plain-text and Markdown renderings of the runbook's results, for notebooks and the CLI.

Nothing here imports Jupyter: each function returns a :class:`Table` (or a string). A ``Table``
shows as Markdown in a notebook (``_repr_markdown_``) and as aligned text elsewhere. Secrets are
always masked; expiries are shown in local time and relative to now ("in 7 days").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone

from .api2cart import Api2CartStore
from .catalog import catalog_table
from .openapi import Shop
from .secret import Secret, mask
from .settings import Settings
from .table import Table, make_table
from .tokens import RECOMMENDED_SCOPES, TokenSet

__all__ = [
    "Table",
    "curl_command",
    "local_time",
    "relative",
    "settings_table",
    "shops_table",
    "stores_table",
    "tokens_table",
    "troubleshooting_table",
]


def relative(moment: datetime | None, now: datetime | None = None) -> str:
    """'in 7 days', '3 hours ago', 'in 29 minutes' — coarse on purpose."""
    if moment is None:
        return "unknown"
    delta = moment - (now or datetime.now(timezone.utc))
    past = delta < timedelta(0)
    seconds = abs(delta.total_seconds())
    for unit, size in (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size * 0.98:  # "in 7 days", not "in 6 days" a second after issue
            count = max(1, round(seconds / size))
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            break
    else:
        text = "less than a minute"
    return f"{text} ago" if past else f"in {text}"


def local_time(moment: datetime | None) -> str:
    if moment is None:
        return "unknown"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def settings_table(settings: Settings) -> Table:
    """What is configured, with secrets masked."""
    s = settings
    rows = [
        ("mode", s.mode.value + (" (sample app)" if s.using_sample_app else "")),
        ("region", f"{s.region.value} — {s.region.label}"),
        ("app type", s.app_type.value),
        ("authorization type", s.auth_type.value),
        ("App Key", s.app_key or "(not set)"),
        ("App Secret", s.app_secret if s.app_secret else "(not set)"),
        ("service_id", s.service_id or "(not set)"),
        ("redirect URL", s.redirect_url or "(not set)"),
        (
            "access token",
            f"{s.access_token} (expires {relative(s.access_token_expires_at)})" if s.access_token else "(none yet)",
        ),
        (
            "refresh token",
            f"{s.refresh_token} (expires {relative(s.refresh_token_expires_at)})" if s.refresh_token else "(none yet)",
        ),
        ("API2Cart API key", s.api2cart_api_key if s.api2cart_api_key else "(not set)"),
        ("API2Cart store key", s.api2cart_store_key if s.api2cart_store_key else "(none yet)"),
        (".env file", str(s.env_path.name)),
    ]
    return make_table(("setting", "value"), rows)


def tokens_table(tokens: TokenSet, now: datetime | None = None) -> Table:
    """The token reply as a person reads it: who, where, what kind, until when."""
    rows = [
        ("seller", tokens.seller_name or "(not given)"),
        ("seller base region", tokens.seller_base_region or "(not given)"),
        ("user type", f"{tokens.user_type.label} ({tokens.user_type.value})"),
        ("open_id", tokens.open_id or "(not given)"),
        ("access token", tokens.access_token),
        (
            "access token expires",
            f"{local_time(tokens.access_token_expires_at)} ({relative(tokens.access_token_expires_at, now)})",
        ),
        ("refresh token", tokens.refresh_token),
        (
            "refresh token expires",
            f"{local_time(tokens.refresh_token_expires_at)} ({relative(tokens.refresh_token_expires_at, now)})",
        ),
    ]
    return make_table(("field", "value"), rows)


def scopes_table(tokens: TokenSet, recommended: Sequence[str] = RECOMMENDED_SCOPES) -> Table:
    """Scopes granted versus the ones API2Cart's connection relies on."""
    granted = set(tokens.granted_scopes)
    names = list(dict.fromkeys([*recommended, *tokens.granted_scopes]))
    rows = [(name, "yes" if name in granted else "NO", "yes" if name in recommended else "") for name in names]
    return make_table(("scope", "granted", "recommended"), rows)


def shops_table(shops: Sequence[Shop]) -> Table:
    return make_table(
        ("shop", "id", "region", "seller type", "code", "cipher"),
        ((s.name, s.id, s.region, s.seller_type, s.code, s.cipher) for s in shops),
    )


def stores_table(stores: Sequence[Api2CartStore]) -> Table:
    return make_table(
        ("label", "cart", "url", "store key"),
        ((s.custom_label or "(none)", s.cart_id, s.url, s.store_key) for s in stores),
    )


def troubleshooting_table(services: Iterable[str] | None = None) -> Table:
    """Every error the runbook can report, with its cause and fix (the error catalog)."""
    return catalog_table(services)


def curl_command(base_url: str, app_key: str, app_secret: Secret, code: Secret) -> str:
    """The source document's curl command for the exchange, with the secret and the code masked."""
    return (
        f"curl --location '{base_url.rstrip('/')}/api/v2/token/get?app_key={app_key}"
        f"&app_secret={mask(app_secret.reveal())}&auth_code={mask(code.reveal())}&grant_type=authorized_code'"
    )
