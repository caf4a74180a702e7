"""A seller's grant as a value, and how a row of the grant database becomes one.

:class:`Grant` is what every step reads (tokens, who the seller is, shops, store key, expiries);
:class:`GrantScope` is the app and mode a store works with. :func:`row_to_grant` turns a row into a
grant and never fails on what the row holds: a column that cannot be read (``shops`` = ``{x``, a
date that is not a number) becomes an empty value and a line in :attr:`Grant.damage`, so a damaged
row is reported for its seller (:attr:`Grant.problem`, :attr:`Grant.repairs`) instead of stopping
every seller's step with a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Final

from .grant_sql import Row
from .openapi import Shop
from .regions import UserType
from .secret import Secret

__all__ = [
    "REFRESHER_REASONS",
    "Grant",
    "GrantScope",
    "Refresher",
    "expiring",
    "json_list",
    "moment",
    "optional_seconds",
    "row_to_grant",
    "seconds",
    "shops_json",
]


def moment(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=timezone.utc) if value is not None else None


def seconds(when: datetime) -> int:
    return int(when.timestamp())


def optional_seconds(when: datetime | None) -> int | None:
    return seconds(when) if when is not None else None


class Refresher(str, Enum):
    """Who refreshes a seller's tokens: exactly one party at a time.

    TikTok does not document whether a refresh returns a new refresh token and retires the old one
    (TikTok Shop Partner Center's token refresh documentation: its samples show the same string
    before and after, which proves nothing either way). So two parties refreshing one seller
    independently could each leave the other holding a dead refresh token: the runbook refreshes a
    seller, or API2Cart does (from the moment the seller's store is added to API2Cart, which then
    holds the refresh token), never both.
    """

    RUNBOOK = "runbook"
    API2CART = "api2cart"


#: Why a seller's refresher is who it is (the ``refresher_reason`` column), in words.
REFRESHER_REASONS: Final[dict[str, str]] = {
    "": "no store in API2Cart",
    "store-added": "the store was added to API2Cart",
    "upgrade": "the seller has a store in API2Cart",
    "switched": "switched with `sellers refresher`",
}


@dataclass(frozen=True)
class GrantScope:
    """The app and mode whose grants a store works with: ``mode`` is ``sandbox`` or ``live``."""

    mode: str
    app_key: str

    def describe(self) -> str:
        return f"{self.mode} mode, App Key {self.app_key or '(not set)'}"


#: What saves a damaged column again, strongest first: authorizing again rewrites the seller's
#: tokens, who they are and (its verify step) the shops; a refresh the token columns and who the
#: seller is; Get Authorized Shops the shops; ``api2cart add`` the store key.
_REPAIRED_BY: Final[tuple[tuple[str, frozenset[str]], ...]] = (
    ("authorize", frozenset({"id", "open_id", "refresh_token", "authorized_at", "mode", "app_key", "imported",
                             "removed_at", "authorization_ends_at", "expiry_notice_at"})),
    ("refresh --seller #{id}", frozenset({"access_token", "access_expires_at", "refresh_expires_at", "refreshed_at",
                                          "granted_scopes", "seller_name", "base_region", "user_type"})),
    ("shops --seller #{id}", frozenset({"shops", "verified_at"})),
    ("api2cart add --seller #{id}", frozenset({"api2cart_store_key"})),
    ("sellers refresher --to api2cart --seller #{id}", frozenset({"refresher", "refresher_reason", "refresher_since"})),
)  # fmt: skip


@dataclass(frozen=True)
class Grant:
    """One seller's authorization. Tokens and the store key are :class:`Secret`: they print masked."""

    id: int
    open_id: str
    seller_name: str
    base_region: str
    user_type: UserType
    access_token: Secret
    access_token_expires_at: datetime | None
    refresh_token: Secret
    refresh_token_expires_at: datetime | None
    granted_scopes: tuple[str, ...] = ()
    shops: tuple[Shop, ...] = ()
    api2cart_store_key: Secret = field(default_factory=lambda: Secret(""))
    authorized_at: datetime | None = None
    refreshed_at: datetime | None = None
    verified_at: datetime | None = None
    #: The app and mode the tokens were issued for (empty in an unscoped view of an old file).
    mode: str = ""
    app_key: str = ""
    #: Imported from a single-seller ``.env``: who the seller is is known after TikTok's next reply.
    imported: bool = False
    #: Who refreshes this seller (:class:`Refresher`), why (a key of :data:`REFRESHER_REASONS`), since when.
    refresher: Refresher = Refresher.RUNBOOK
    refresher_reason: str = ""
    refresher_since: datetime | None = None
    #: TikTok said (webhook 6 or 20) the seller removed the app, at this time: the tokens no longer work.
    removed_at: datetime | None = None
    #: TikTok said (webhook 7) the authorization ends at this time; when that notice last came.
    authorization_ends_at: datetime | None = None
    expiry_notice_at: datetime | None = None
    #: The round of ``refresh --all`` that last took care of this seller (refreshed it, or tried and
    #: failed): runs of the same round on other machines leave it alone (:mod:`.grant_rounds`).
    refresh_round: str = ""
    #: The columns of this grant's row that could not be read, each as ``"column: what is wrong"``
    #: (never the value: it may be a token). Empty for a whole row; such a column reads as empty.
    damage: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How a person names this seller: the seller name, else the open_id, else the row."""
        return self.seller_name or self.open_id or f"seller #{self.id}"

    @property
    def shop_cipher(self) -> str:
        """The first authorized shop's cipher (empty before Get Authorized Shops)."""
        return self.shops[0].cipher if self.shops else ""

    @property
    def problem(self) -> str:
        """A damaged row in words (empty for a whole one): what a seller list shows and why a bulk
        refresh skips this seller."""
        if not self.damage:
            return ""
        return f"its row in the grant database is damaged ({'; '.join(self.damage)})"

    @property
    def repairs(self) -> tuple[str, ...]:
        """The runbook commands (without the program's name) that save the damaged columns again,
        in order (empty for a whole row): ``("shops --seller #3",)``, or ``("authorize",)`` when the
        refresh token itself is unreadable."""
        columns = {entry.split(":", 1)[0] for entry in self.damage}
        needed = [command for command, owned in _REPAIRED_BY if columns & owned]
        if "authorize" in needed:  # authorizing again also refreshes and verifies
            needed = [c for c in needed if not c.startswith(("refresh ", "shops "))]
        return tuple(c.format(id=self.id) for c in needed)

    def matches(self, wanted: str) -> bool:
        """True when ``wanted`` is this grant's open_id, seller name (any case) or row id (``7`` or ``#7``)."""
        text = wanted.strip()
        return bool(text) and (
            text == self.open_id or text.casefold() == self.seller_name.casefold() or text.lstrip("#") == str(self.id)
        )

    def access_due(self, now: datetime, within: timedelta = timedelta(0)) -> bool:
        """The access token ends within ``within`` of ``now``, has ended, or its end is not known."""
        return self.access_token_expires_at is None or self.access_token_expires_at <= now + within

    def refresh_expired(self, now: datetime) -> bool:
        """The authorization has ended (False when its end is not known)."""
        return self.refresh_token_expires_at is not None and self.refresh_token_expires_at <= now

    @property
    def held_by_api2cart(self) -> bool:
        """API2Cart refreshes this seller: the runbook refreshes it only when asked for this seller."""
        return self.refresher is Refresher.API2CART

    @property
    def refresher_why(self) -> str:
        """Why :attr:`refresher` is who it is, in words."""
        return REFRESHER_REASONS.get(self.refresher_reason, self.refresher_reason)

    @property
    def authorization_end(self) -> datetime | None:
        """When the authorization ends: the earlier of the refresh token's end and the end TikTok's
        webhook 7 announced (None when neither is known)."""
        ends = [t for t in (self.refresh_token_expires_at, self.authorization_ends_at) if t is not None]
        return min(ends) if ends else None

    def ending_within(self, now: datetime, within: timedelta) -> bool:
        """The authorization ends within ``within`` of ``now`` and has not ended yet."""
        end = self.authorization_end
        return end is not None and now < end <= now + within

    @property
    def shop_ids(self) -> tuple[str, ...]:
        return tuple(shop.id for shop in self.shops)


def expiring(grants: Sequence[Grant], within: timedelta, now: datetime | None = None) -> list[Grant]:
    """The grants whose access token or refresh token ends within ``within`` of ``now`` (or has ended,
    or whose end is not known)."""
    now = now or datetime.now(timezone.utc)
    end = now + within
    return [
        g
        for g in grants
        if g.access_due(now, within) or (g.refresh_token_expires_at is not None and g.refresh_token_expires_at <= end)
    ]


def shops_json(shops: Sequence[Shop]) -> str:
    return json.dumps(
        [{"id": s.id, "name": s.name, "region": s.region, "seller_type": s.seller_type, "cipher": s.cipher,
          "code": s.code} for s in shops],
        ensure_ascii=False,
    )  # fmt: skip


def grant_values(grant: Grant) -> dict[str, object]:
    """Every column of ``grant``'s row but its id, as the store writes them (moving a grant between
    stores: :meth:`~tiktok_helpers.grants.GrantStore.adopt`)."""
    return {
        "open_id": grant.open_id or None, "seller_name": grant.seller_name, "base_region": grant.base_region,
        "user_type": grant.user_type.value, "access_token": grant.access_token.reveal(),
        "access_expires_at": optional_seconds(grant.access_token_expires_at),
        "refresh_token": grant.refresh_token.reveal(),
        "refresh_expires_at": optional_seconds(grant.refresh_token_expires_at),
        "granted_scopes": json.dumps(list(grant.granted_scopes)), "shops": shops_json(grant.shops),
        "api2cart_store_key": grant.api2cart_store_key.reveal(),
        "authorized_at": optional_seconds(grant.authorized_at) or 0,
        "refreshed_at": optional_seconds(grant.refreshed_at), "verified_at": optional_seconds(grant.verified_at),
        "mode": grant.mode, "app_key": grant.app_key, "imported": int(grant.imported),
        "refresher": grant.refresher.value, "refresher_reason": grant.refresher_reason,
        "refresher_since": optional_seconds(grant.refresher_since), "removed_at": optional_seconds(grant.removed_at),
        "authorization_ends_at": optional_seconds(grant.authorization_ends_at),
        "expiry_notice_at": optional_seconds(grant.expiry_notice_at),
    }  # fmt: skip


def json_list(text: object) -> list[object] | None:
    """A JSON list column's items, or None when it is not a JSON list."""
    items, _ = _json_list(text)
    return items


def _json_list(text: object) -> tuple[list[object] | None, str]:
    """A JSON list column's items, or None and what is wrong instead."""
    if not isinstance(text, str):
        return None, f"{_kind(text)} instead of JSON text"
    try:
        value = json.loads(text)
    except ValueError:
        return None, "not valid JSON"
    return (value, "") if isinstance(value, list) else (None, "not a JSON list")


def _coordination(row: Row, column: str) -> str:
    """A column that only coordinates refreshes between runs (never a seller's data): an unreadable
    value reads as empty, which at worst lets one more run look at the seller, and is no damage."""
    value = row[column] if column in row.keys() else None  # noqa: SIM118 (sqlite3.Row's `in` looks at values)
    return value if isinstance(value, str) else ""


class _Reader:
    """One row's columns, each read as the type the schema says, noting what cannot be."""

    def __init__(self, row: Row) -> None:
        self.row = row
        self.damage: list[str] = []

    def _bad(self, column: str, what: str) -> None:
        self.damage.append(f"{column}: {what}")

    def text(self, column: str) -> str:
        value = self.row[column]
        if value is None or isinstance(value, str):
            return value or ""
        self._bad(column, f"{_kind(value)} instead of text")
        return ""

    def time(self, column: str) -> datetime | None:
        value = self.row[column]
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return moment(value)
            except (OverflowError, OSError, ValueError):
                self._bad(column, "a time out of range")
                return None
        self._bad(column, f"{_kind(value)} instead of a time")
        return None

    def strings(self, column: str) -> tuple[str, ...]:
        items, wrong = _json_list(self.row[column])
        if items is not None and not all(isinstance(i, str) for i in items):
            items, wrong = None, "a JSON list of something else than names"
        if items is None:
            self._bad(column, wrong)
            return ()
        return tuple(str(i) for i in items)

    def shops(self, column: str) -> tuple[Shop, ...]:
        items, wrong = _json_list(self.row[column])
        if items is None:
            self._bad(column, wrong)
            return ()
        try:
            return tuple(Shop(**item) for item in items)  # type: ignore[arg-type]
        except TypeError:
            self._bad(column, "a shop without the fields this runbook saves")
            return ()


def _kind(value: object) -> str:
    return {bytes: "bytes", int: "a number", float: "a number", str: "text"}.get(type(value), type(value).__name__)


def _refresher(value: str, read: _Reader) -> Refresher:
    try:
        return Refresher(value or Refresher.RUNBOOK.value)
    except ValueError:
        # Unknown: API2Cart may hold the store, and a refresh here could leave it a dead token.
        read.damage.append("refresher: neither runbook nor api2cart")
        return Refresher.API2CART


def row_to_grant(row: Row) -> Grant:
    """The grant a row holds. Never fails on the row's values: what cannot be read is empty in the
    grant and listed in its :attr:`~Grant.damage`."""
    read = _Reader(row)
    user_type = row["user_type"]
    grant = Grant(
        id=row["id"],
        open_id=read.text("open_id"),
        seller_name=read.text("seller_name"),
        base_region=read.text("base_region"),
        user_type=UserType.from_code(user_type) if isinstance(user_type, int) else UserType.UNKNOWN,
        access_token=Secret(read.text("access_token")),
        access_token_expires_at=read.time("access_expires_at"),
        refresh_token=Secret(read.text("refresh_token")),
        refresh_token_expires_at=read.time("refresh_expires_at"),
        granted_scopes=read.strings("granted_scopes"),
        shops=read.shops("shops"),
        api2cart_store_key=Secret(read.text("api2cart_store_key")),
        authorized_at=read.time("authorized_at"),
        refreshed_at=read.time("refreshed_at"),
        verified_at=read.time("verified_at"),
        mode=read.text("mode"),
        app_key=read.text("app_key"),
        imported=bool(row["imported"]),
        refresher=_refresher(read.text("refresher"), read),
        refresher_reason=read.text("refresher_reason"),
        refresher_since=read.time("refresher_since"),
        removed_at=read.time("removed_at"),
        authorization_ends_at=read.time("authorization_ends_at"),
        expiry_notice_at=read.time("expiry_notice_at"),
        refresh_round=_coordination(row, "refresh_round"),
    )
    if not isinstance(user_type, int):
        read.damage.append("user_type: not a number")
    if not grant.refresh_token and not any(d.startswith("refresh_token:") for d in read.damage):
        read.damage.append("refresh_token: empty")
    return replace(grant, damage=tuple(read.damage)) if read.damage else grant
