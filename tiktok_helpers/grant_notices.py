"""What TikTok's webhooks change on a seller's grant, each notice applied once.

TikTok Shop Partner Center, "Webhooks overview" and the topic pages "6 Seller deauthorization",
"7 Upcoming authorization expiration" and "20 Creator deauthorization":

* type 6 (SELLER_DEAUTHORIZATION) names a ``shop_id``: the seller of that shop removed the app, so
  the grant is marked with the time (:attr:`~tiktok_helpers.grant_rows.Grant.removed_at`): a bulk
  refresh and the keep-alive skip it, and every listing says the seller must authorize again;
* type 7 (UPCOMING_AUTHORIZATION_EXPIRATION) names a ``shop_id`` and ``data.expiration_time``: the
  end is recorded (:attr:`~tiktok_helpers.grant_rows.Grant.authorization_ends_at`), with when the
  notice came; it comes daily from 30 days before the end until the seller authorizes again;
* type 20 (CREATOR_DEAUTHORIZATION) names a creator's ``creator_open_id``: that creator's grant is
  marked like type 6;
* any other type is kept in the notice log as heard and changes nothing.

The same event can be delivered more than once ("Webhooks overview": drop duplicates by
``tts_notification_id``): a notice is recorded in the ``notices`` table in the same transaction as
its change, keyed by app, mode and notification id, so a second delivery changes nothing, even from
another process. A notice older than the grant's latest authorization (a retry that arrived after
the seller authorized again) changes nothing either: the new authorization is newer news.

The functions here run inside :meth:`tiktok_helpers.grants.GrantStore.record_notice`'s transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from .grant_rows import moment, optional_seconds, seconds
from .grant_sql import Row, Tx
from .text import local_time
from .webhooks import Notice, NoticeType

__all__ = ["NoticeResult", "apply_notice", "rows_for_notice"]

#: The notice types that change a grant.
ACTED_ON: Final = frozenset({NoticeType.SELLER_DEAUTHORIZATION, NoticeType.UPCOMING_AUTHORIZATION_EXPIRATION,
                             NoticeType.CREATOR_DEAUTHORIZATION})  # fmt: skip


@dataclass(frozen=True)
class NoticeResult:
    """What one delivered notice did: ``grant_ids`` changed, ``duplicate`` when it was heard before,
    ``outcome`` in words (for the receiver's log and for people; no secret is ever in it)."""

    notification_id: str
    type: int
    grant_ids: tuple[int, ...]
    duplicate: bool
    outcome: str


def rows_for_notice(db: Tx, notice: Notice, mode: str, app_key: str) -> list[Row]:
    """The grants of this app and mode a notice is about: by shop id (types 6 and 7), by the creator's
    open_id (type 20)."""
    if notice.kind is NoticeType.CREATOR_DEAUTHORIZATION:
        if not notice.creator_open_id:
            return []
        return db.execute(
            "SELECT * FROM grants WHERE mode = ? AND app_key = ? AND open_id = ?",
            (mode, app_key, notice.creator_open_id),
        ).fetchall()
    if not notice.shop_id:
        return []
    return db.execute(
        f"SELECT grants.* FROM grant_shops {db.dialect.ordered_join} grants ON grants.id = grant_shops.grant_id "  # noqa: S608
        "WHERE grant_shops.shop_id = ? AND grants.mode = ? AND grants.app_key = ? ORDER BY grants.id",
        (notice.shop_id, mode, app_key),
    ).fetchall()  # the shop id index first (CROSS JOIN keeps that order), then each grant by its id


def apply_notice(db: Tx, notice: Notice, mode: str, app_key: str, now: datetime) -> NoticeResult:
    """Record ``notice`` once and apply it to its grants (inside the caller's write transaction)."""
    earlier = db.execute(
        "SELECT received_at, outcome FROM notices WHERE mode = ? AND app_key = ? AND notification_id = ?",
        (mode, app_key, notice.notification_id),
    ).fetchone()
    if earlier is not None:
        when = moment(earlier["received_at"])
        heard = f"already heard at {local_time(when)}" if when is not None else "already heard"
        return NoticeResult(notice.notification_id, notice.type, (), True, f"{heard}: {earlier['outcome']}")
    changed, outcome = _apply(db, notice, mode, app_key, now)
    db.execute(
        "INSERT INTO notices (mode, app_key, notification_id, type, shop_id, creator_open_id, sent_at, received_at, "
        "grant_id, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (mode, app_key, notice.notification_id, notice.type, notice.shop_id, notice.creator_open_id,
         optional_seconds(notice.timestamp), seconds(now), changed[0] if changed else None, outcome),
    )  # fmt: skip
    return NoticeResult(notice.notification_id, notice.type, tuple(changed), False, outcome)


def _apply(db: Tx, notice: Notice, mode: str, app_key: str, now: datetime) -> tuple[list[int], str]:
    kind = notice.kind
    if kind not in ACTED_ON:
        return [], f"type {notice.type} heard; this runbook acts only on types 6, 7 and 20"
    rows = rows_for_notice(db, notice, mode, app_key)
    about = (
        f"creator {notice.creator_open_id}" if kind is NoticeType.CREATOR_DEAUTHORIZATION else f"shop {notice.shop_id}"
    )
    if not rows:
        return [], f"no seller with {about} among the grants of {mode} mode, App Key {app_key or '(not set)'}"
    sent = notice.timestamp or now
    changed: list[int] = []
    skipped: list[str] = []
    for row in rows:
        label = row["seller_name"] or row["open_id"] or f"seller #{row['id']}"
        authorized = moment(row["authorized_at"]) if isinstance(row["authorized_at"], int) else None
        if authorized is not None and authorized > sent:
            skipped.append(f"{label} authorized again after this notice was sent")
            continue
        if kind is NoticeType.UPCOMING_AUTHORIZATION_EXPIRATION:
            if notice.expires_at is None:
                skipped.append(f"{label}: the notice gives no expiration_time")
                continue
            db.execute(
                "UPDATE grants SET authorization_ends_at = ?, expiry_notice_at = ? WHERE id = ?",
                (seconds(notice.expires_at), seconds(now), row["id"]),
            )
        else:
            db.execute("UPDATE grants SET removed_at = ? WHERE id = ?", (seconds(sent), row["id"]))
        changed.append(int(row["id"]))
    if kind is NoticeType.UPCOMING_AUTHORIZATION_EXPIRATION and notice.expires_at is not None:
        what = f"authorization ends {local_time(notice.expires_at)}"
    else:
        what = "removed the app"
    names = ", ".join(f"#{i}" for i in changed)
    outcome = f"{about}: {what} (seller {names})" if changed else f"{about}: nothing changed"
    return changed, outcome + (f"; {'; '.join(skipped)}" if skipped else "")
