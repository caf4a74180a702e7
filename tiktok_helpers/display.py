"""How the runbook's objects are shown: one row builder per object, for notebooks and the CLI.

Each object (the status and settings, a token reply, the authorized shops, the API2Cart stores,
the doctor's checks) has ONE builder that returns its rows (:mod:`tiktok_helpers.rows`):
:class:`Rows` for one object, :class:`Records` for a list of them. Every row carries the text a
person reads and the value a program reads, so the same rows make the notebook's table
(:meth:`Rows.table`, shown as Markdown in a notebook and as aligned text elsewhere), the command
line's text (:meth:`Rows.text`) and its ``--json`` object (:meth:`Rows.as_json`).

Secrets are masked unless a builder is given ``reveal=True`` (the command line's
``--show-secrets``, on a terminal only). Expiries are shown in local time and relative to now
("expires 2026-12-02 10:28 UTC (in 7 days)"). Nothing here imports Jupyter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from .api2cart import Api2CartStore
from .catalog import catalog_table
from .doctor import FAIL, WARN, Check, DoctorReport
from .grants import Grant
from .openapi import Shop
from .results import RefreshSummary
from .rows import Records, Row, Rows, how, shown
from .secret import Secret, mask
from .settings import Settings
from .status import Status, attention, status_of
from .table import Table, make_table
from .text import expiry, local_time, relative, span, terminal_safe, when
from .tokens import RECOMMENDED_SCOPES, TokenSet

__all__ = [
    "Records",
    "Row",
    "Rows",
    "Table",
    "check_rows",
    "checks_table",
    "curl_command",
    "doctor_json",
    "doctor_text",
    "expiry",
    "how",
    "local_time",
    "refresh_rows",
    "relative",
    "scopes_summary",
    "scopes_table",
    "seller_rows",
    "sellers_table",
    "settings_table",
    "shop_rows",
    "shops_table",
    "shown",
    "span",
    "status_rows",
    "store_rows",
    "stores_table",
    "terminal_safe",
    "token_rows",
    "tokens_table",
    "troubleshooting_table",
    "when",
]


# --- values ---------------------------------------------------------------------------------------


def _token_json(value: Secret, expires_at: datetime | None, now: datetime, reveal: bool) -> dict[str, Any]:
    return {
        "set": bool(value),
        "value": shown(value, reveal=reveal),
        "expires_at": expires_at.isoformat() if value and expires_at else None,
        "seconds_left": int((expires_at - now).total_seconds()) if value and expires_at else None,
    }


# --- status and settings --------------------------------------------------------------------------


def status_rows(status: Status, *, reveal: bool = False, prog: str | None = None, brief: bool = False) -> Rows:
    """What is configured and where the seller worked on stands. ``brief``: the app's settings only,
    as notebooks show them (a seller's tokens are in their grant, not in the settings)."""
    s, now, g = status.settings, status.now, status.seller
    none = Secret("")

    def secret(label: str, key: str, value: Secret, empty: str) -> Row:
        text = shown(value, reveal=reveal)
        return Row(label, text or empty, key, text)

    def token(label: str, key: str, value: Secret, expires: datetime | None, empty: str) -> Row:
        text = f"{shown(value, reveal=reveal)}, {expiry(expires, now)}" if value else empty
        return Row(label, text, key, _token_json(value, expires, now, reveal))

    step = status.next_step
    sample = (" (sample app)" if brief else " (the sandbox's sample app)") if s.using_sample_app else ""
    rows = {
        "env_file": Row("settings file", str(s.env_path), "env_file", str(s.env_path)),
        "mode": Row("mode", s.mode.value + sample, "mode", s.mode.value),
        "sample_app": Row(None, key="sample_app", value=s.using_sample_app),
        "where": Row("requests go to", status.where),
        "hosts": Row(None, key="hosts", value=dataclasses.asdict(status.hosts)),
        "grant_store": Row(
            "grant store", status.grant_store.text, "grant_store", dataclasses.asdict(status.grant_store)
        ),
        "region": Row("region", f"{s.region.value} — {s.region.label}", "region", s.region.value),
        "app_type": Row("app type", s.app_type.value, "app_type", s.app_type.value),
        "auth_type": Row("authorization type", s.auth_type.value, "auth_type", s.auth_type.value),
        "app_key": Row("App Key", s.app_key or "(not set)", "app_key", s.app_key or None),
        "app_secret": secret("App Secret", "app_secret", s.app_secret, "(not set)"),
        "service_id": Row("service_id", s.service_id or "(not set)", "service_id", s.service_id or None),
        "redirect_url": Row("redirect URL", s.redirect_url or "(not set)", "redirect_url", s.redirect_url or None),
        "seller_name": Row("seller", g.label if g else "(not authorized yet)", "seller_name", g.label if g else None),
        "access_token": token(
            "access token",
            "access_token",
            g.access_token if g else none,
            g.access_token_expires_at if g else None,
            "(none yet)",
        ),
        "refresh_token": token(
            "refresh token",
            "refresh_token",
            g.refresh_token if g else none,
            g.refresh_token_expires_at if g else None,
            "(none yet)",
        ),
        "auth_code": token("auth code waiting", "auth_code", s.auth_code, status.auth_code_expires_at, "(none)"),
        "shop_cipher": Row(
            "shop cipher",
            g.shop_cipher if g and g.shop_cipher else "(none yet)",
            "shop_cipher",
            g.shop_cipher if g and g.shop_cipher else None,
        ),
        "api2cart_api_key": secret("API2Cart API key", "api2cart_api_key", s.api2cart_api_key, "(not set)"),
        "api2cart_store_key": secret(
            "API2Cart store key", "api2cart_store_key", g.api2cart_store_key if g else none, "(none yet)"
        ),
        "pending_import": Row(
            "waiting for import" if s.pending_import else None,
            ", ".join(s.pending_import) + " in .env: run `sellers import-env`" if s.pending_import else "",
            "pending_import",
            list(s.pending_import),
        ),
        "next_step": Row(None, key="next_step", value=how(step.text, step.command, prog)),
        "next_command": Row(None, key="next_command", value=step.command),
        "env_name": Row(".env file", s.env_path.name),
    }
    if brief:
        names = "mode region app_type auth_type app_key app_secret service_id redirect_url api2cart_api_key env_name"
    else:
        names = "env_file mode sample_app where hosts grant_store region app_type auth_type app_key app_secret"
        names += " service_id redirect_url seller_name access_token refresh_token auth_code shop_cipher"
        names += " api2cart_api_key api2cart_store_key pending_import next_step next_command"
    return Rows(tuple(rows[name] for name in names.split()))


def settings_table(settings: Settings, now: datetime | None = None) -> Table:
    """The app's settings, with secrets masked (the brief form of :func:`status_rows`)."""
    return status_rows(status_of(settings, None, now), brief=True).table(("setting", "value"))


# --- tokens ---------------------------------------------------------------------------------------


def token_rows(tokens: TokenSet, *, reveal: bool = False, now: datetime | None = None) -> Rows:
    """A token reply as a person reads it: who, where, what kind, until when."""
    now = now or datetime.now(timezone.utc)
    access, refresh = tokens.access_token, tokens.refresh_token
    return Rows(
        (
            Row("seller", tokens.seller_name or "(not given)", "seller_name", tokens.seller_name),
            Row(
                "seller base region",
                tokens.seller_base_region or "(not given)",
                "seller_base_region",
                tokens.seller_base_region,
            ),
            Row(
                "user type", f"{tokens.user_type.label} ({tokens.user_type.value})", "user_type", tokens.user_type.label
            ),
            Row("open_id", tokens.open_id or "(not given)", "open_id", tokens.open_id),
            Row(
                "access token",
                shown(access, reveal=reveal) or "(none)",
                "access_token",
                _token_json(access, tokens.access_token_expires_at, now, reveal),
            ),
            Row("access token expires", when(tokens.access_token_expires_at, now)),
            Row(
                "refresh token",
                shown(refresh, reveal=reveal) or "(none)",
                "refresh_token",
                _token_json(refresh, tokens.refresh_token_expires_at, now, reveal),
            ),
            Row("refresh token expires", when(tokens.refresh_token_expires_at, now)),
            Row(None, key="granted_scopes", value=list(tokens.granted_scopes)),
            Row(None, key="missing_recommended_scopes", value=list(tokens.missing_scopes())),
            Row(None, key="request_id", value=tokens.request_id),
        )
    )


def tokens_table(tokens: TokenSet, now: datetime | None = None) -> Table:
    """The token reply, tokens masked (the rows of :func:`token_rows`)."""
    return token_rows(tokens, now=now).table()


def scopes_summary(tokens: TokenSet) -> list[str]:
    """The scopes granted, in a line, and what to do when a recommended one is missing."""
    missing = tokens.missing_scopes()
    if not missing:
        return [f"Scopes: {len(tokens.granted_scopes)} granted; every recommended scope granted."]
    return [
        f"Scopes: {len(tokens.granted_scopes)} granted; MISSING recommended: {', '.join(missing)}.",
        "API2Cart needs the missing scopes: add them to the app in Partner Center (Manage API), then authorize again.",
    ]


def scopes_table(tokens: TokenSet, recommended: Sequence[str] = RECOMMENDED_SCOPES) -> Table:
    """Scopes granted versus the ones API2Cart's connection relies on."""
    granted = set(tokens.granted_scopes)
    names = list(dict.fromkeys([*recommended, *tokens.granted_scopes]))
    rows = [(name, "yes" if name in granted else "NO", "yes" if name in recommended else "") for name in names]
    return make_table(("scope", "granted", "recommended"), rows)


# --- sellers --------------------------------------------------------------------------------------


def _days_left(moment: datetime | None, now: datetime) -> float | None:
    return round((moment - now).total_seconds() / 86400, 2) if moment is not None else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def seller_rows(grants: Sequence[Grant], *, reveal: bool = False, now: datetime | None = None) -> Records:
    """Every seller's grant: who, where, when each token ends, the API2Cart store key, last verified."""
    now = now or datetime.now(timezone.utc)
    items = []
    for g in grants:
        key, needs = shown(g.api2cart_store_key, reveal=reveal), attention(g, now)
        items.append(
            Rows(
                (
                    Row("#", str(g.id), "id", g.id),
                    Row("seller", g.label, "seller_name", g.seller_name or None),
                    Row(None, key="open_id", value=g.open_id or None),
                    Row("region", g.base_region or "?", "base_region", g.base_region or None),
                    Row("access token", expiry(g.access_token_expires_at, now), "access_token",
                        _token_json(g.access_token, g.access_token_expires_at, now, reveal)),
                    Row("refresh token (re-authorize by)", expiry(g.refresh_token_expires_at, now), "refresh_token",
                        _token_json(g.refresh_token, g.refresh_token_expires_at, now, reveal)),
                    Row(None, key="access_days_left", value=_days_left(g.access_token_expires_at, now)),
                    Row(None, key="refresh_days_left", value=_days_left(g.refresh_token_expires_at, now)),
                    Row("API2Cart store key", key or "(not added)", "api2cart_store_key", key),
                    Row("refreshed by", "API2Cart" if g.held_by_api2cart else "runbook", "refresher", g.refresher),
                    Row(None, key="refresher_reason", value=g.refresher_why),
                    Row(None, key="refresher_since", value=_iso(g.refresher_since)),
                    Row("last verified", when(g.verified_at, now) if g.verified_at else "never", "verified_at",
                        _iso(g.verified_at)),
                    Row(None, key="refreshed_at", value=_iso(g.refreshed_at)),
                    Row(None, key="removed_at", value=_iso(g.removed_at)),
                    Row(None, key="authorization_ends_at", value=_iso(g.authorization_end)),
                    Row("needs attention", needs or "-", "attention", needs or None),
                )
            )
        )  # fmt: skip
    headers = ("#", "seller", "region", "access token", "refresh token (re-authorize by)", "API2Cart store key",
               "refreshed by", "last verified", "needs attention")  # fmt: skip
    return Records(headers, tuple(items))


def sellers_table(grants: Sequence[Grant], now: datetime | None = None) -> Table:
    """Every seller's grant, secrets masked (the rows of :func:`seller_rows`)."""
    return seller_rows(grants, now=now).table()


def refresh_rows(summary: RefreshSummary) -> Records:
    """What a bulk refresh did, seller by seller: refreshed (new expiry), failed (the catalog's title
    and fix) or skipped (why)."""
    items = []
    for o in summary.outcomes:
        if o.grant is not None:
            detail = f"access token {expiry(o.grant.access_token_expires_at)}"
            if o.handover is not None:
                detail += f"; {o.handover.message}" + (f" (retry: {o.handover.retry})" if o.handover.retry else "")
        elif o.error is not None:
            detail = f"{o.error.title}: {o.error.fix}"
        else:
            detail = o.reason
        items.append(
            Rows(
                (
                    Row("seller", o.seller.label, "seller_name", o.seller.label),
                    Row(None, key="id", value=o.seller.id),
                    Row("result", o.status.value, "status", o.status.value),
                    Row("detail", detail, "detail", detail),
                    Row(None, key="error_code", value=str(getattr(o.error, "code", "")) or None),
                    Row(None, key="handed_to_api2cart", value=o.handover.done if o.handover is not None else None),
                    Row(None, key="retry_command", value=o.handover.retry if o.handover is not None else None),
                )
            )
        )
    return Records(("seller", "result", "detail"), tuple(items))


# --- shops and stores -----------------------------------------------------------------------------


def shop_rows(shops: Sequence[Shop]) -> Records:
    """The authorized shops: name, id, region, seller type, code and cipher."""
    columns = (
        ("shop", "name"),
        ("id", "id"),
        ("region", "region"),
        ("seller type", "seller_type"),
        ("code", "code"),
        ("cipher", "cipher"),
    )
    items = (
        Rows(tuple(Row(label, str(getattr(shop, key)), key, getattr(shop, key)) for label, key in columns))
        for shop in shops
    )
    return Records(tuple(label for label, _ in columns), tuple(items))


def shops_table(shops: Sequence[Shop]) -> Table:
    return shop_rows(shops).table()


def store_rows(stores: Sequence[Api2CartStore], *, reveal: bool = False) -> Records:
    """The API2Cart account's stores: label, platform, URL, store key (masked unless ``reveal``)."""
    items = (
        Rows(
            (
                Row(None, key="id", value=s.id),
                Row("label", s.custom_label or "(none)", "custom_label", s.custom_label),
                Row("cart", s.cart_id, "cart_id", s.cart_id),
                Row("url", s.url or "(none)", "url", s.url),
                Row(
                    "store key",
                    shown(s.store_key, reveal=reveal) or "(none)",
                    "store_key",
                    shown(s.store_key, reveal=reveal),
                ),
            )
        )
        for s in stores
    )
    return Records(("label", "cart", "url", "store key"), tuple(items))


def stores_table(stores: Sequence[Api2CartStore]) -> Table:
    return store_rows(stores).table()


# --- the doctor's checks --------------------------------------------------------------------------


def check_rows(checks: Iterable[Check], *, prog: str | None = None) -> Records:
    """Each check: status, name, what was found, and (for a failure or a warning) what to do."""

    def item(c: Check) -> Rows:
        fix = how(c.fix, c.command, prog) if c.fix else ""
        return Rows(
            (
                Row("status", c.status.value.upper(), "status", c.status.value),
                Row("check", c.name, "name", c.name),
                Row("detail", c.detail, "detail", c.detail),
                Row("fix", fix if c.status in (FAIL, WARN) else "", "fix", fix),
                Row(None, key="command", value=c.command),
            )
        )

    return Records(("status", "check", "detail", "fix"), tuple(item(c) for c in checks))


def checks_table(report: DoctorReport) -> Table:
    return check_rows(report.checks).table()


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def doctor_text(report: DoctorReport, *, prog: str | None = None) -> str:
    """Every check on its line, its fix below it, and a summary."""
    records = check_rows(report.checks, prog=prog)
    width = max((len(c.name) for c in report.checks), default=0)
    lines = [f"Checking {report.env_path}"]
    for item in records.items:
        status, name, detail, fix = (text for _, text in item.pairs())
        lines.append(f"  {status:4}  {name.ljust(width)}  {detail}".rstrip())
        if fix:
            lines.append(f"        {' ' * width}  fix: {fix}")
    failed, warned = len(report.failed), len(report.warned)
    if failed:
        lines.append(f"{_plural(failed, 'check')} failed: fix {'them' if failed != 1 else 'it'} as shown above.")
    else:
        lines.append("All checks passed" + (f" ({_plural(warned, 'warning')})." if warned else "."))
    return "\n".join(lines)


def doctor_json(report: DoctorReport, *, prog: str | None = None) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "env_file": str(report.env_path),
        "mode": report.mode.value if report.mode else None,
        "checks": check_rows(report.checks, prog=prog).as_json(),
    }


# --- the rest -------------------------------------------------------------------------------------


def troubleshooting_table(services: Iterable[str] | None = None) -> Table:
    """Every error the runbook can report, with its cause and fix (the error catalog)."""
    return catalog_table(services)


def curl_command(base_url: str, app_key: str, app_secret: Secret, code: Secret) -> str:
    """The source document's curl command for the exchange, with the secret and the code masked."""
    return (
        f"curl --location '{base_url.rstrip('/')}/api/v2/token/get?app_key={app_key}"
        f"&app_secret={mask(app_secret.reveal())}&auth_code={mask(code.reveal())}&grant_type=authorized_code'"
    )
