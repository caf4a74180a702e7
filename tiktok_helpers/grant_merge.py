"""One seller, two rows: how a grant imported from a single-seller ``.env`` (no open_id yet) finds
its seller and becomes one grant with that seller's later authorization (:meth:`GrantStore.save_tokens`
calls these inside its write transaction)."""

from __future__ import annotations

from .grant_rows import json_list
from .grant_sql import Row, Tx, assignments, index_shops
from .tokens import TokenSet

__all__ = ["imported_seller", "merge_into"]


def imported_seller(db: Tx, tokens: TokenSet, mode: str, app_key: str) -> Row | None:
    """The imported grant (no open_id yet) that this authorization's seller is, by seller name:
    only when exactly one such grant carries that name."""
    if not tokens.seller_name:
        return None
    rows = db.execute(
        "SELECT * FROM grants WHERE open_id IS NULL AND imported = 1 AND mode = ? AND app_key = ? "
        "AND lower(seller_name) = lower(?)",
        (mode, app_key, tokens.seller_name),
    ).fetchall()
    return rows[0] if len(rows) == 1 else None


def merge_into(db: Tx, target: Row, imported: Row) -> None:
    """One seller, two rows (an imported grant and the grant of a later authorization): keep
    ``target``, taking over what only ``imported`` has, then drop ``imported``."""
    carried: dict[str, object] = {}
    if not target["api2cart_store_key"] and imported["api2cart_store_key"]:
        carried["api2cart_store_key"] = imported["api2cart_store_key"]
        # the store holds the imported grant's refresh token: whoever refreshed it goes on doing so
        for column in ("refresher", "refresher_reason", "refresher_since"):
            carried[column] = imported[column]
    if not json_list(target["shops"]) and json_list(imported["shops"]):  # a damaged list counts as none
        carried["shops"] = imported["shops"]
        carried["verified_at"] = imported["verified_at"]
    earlier, later = imported["authorized_at"], target["authorized_at"]
    if isinstance(earlier, int) and (not isinstance(later, int) or later > earlier):
        carried["authorized_at"] = earlier
    db.execute("DELETE FROM grants WHERE id = ?", (imported["id"],))
    index_shops(db, imported["id"], None)
    if carried:
        db.execute(f"UPDATE grants SET {assignments(carried)} WHERE id = ?", (*carried.values(), target["id"]))  # noqa: S608
    if "shops" in carried:
        index_shops(db, target["id"], carried["shops"])
