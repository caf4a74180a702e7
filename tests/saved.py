"""What the runbook has saved for a project, as a test reads it: ``.env`` plus the grant database.

Seller grants left ``.env`` for ``<env>.grants.db``; tests that check "the tokens were saved" read
the newest grant under the setting names those values had in ``.env`` before, so they keep their
meaning. :func:`saved_secrets` lists every secret the runbook holds, for the leak checks.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from tiktok_helpers import samples
from tiktok_helpers.envfile import read_env
from tiktok_helpers.grants import Grant, GrantScope, GrantStore, grants_path_for
from tiktok_helpers.regions import UserType
from tiktok_helpers.secret import Secret
from tiktok_helpers.tokens import TokenSet

#: The scope of a project in sandbox mode with no App Key configured (the sandbox's sample app).
SANDBOX_SCOPE = GrantScope("sandbox", samples.SANDBOX_APP_KEY)


def grants(env_file: Path) -> list[Grant]:
    """Every grant, the most recently authorized first, as a new process sees them."""
    store = GrantStore(grants_path_for(env_file))
    try:
        return store.all()
    finally:
        store.close()


def seller_grant(**changes: object) -> Grant:
    """An authorized seller's grant in memory (a sandbox-looking seller of the sample app), with
    ``changes`` applied: for the functions that take a grant and read nothing."""
    base = Grant(
        id=1,
        open_id="7010736057180325637",
        seller_name="Sandbox UK Store",
        base_region="GB",
        user_type=UserType.SELLER,
        access_token=Secret("TTP_access_0000000000000001"),
        access_token_expires_at=None,
        refresh_token=Secret("TTP_refresh_000000000000001"),
        refresh_token_expires_at=None,
        mode=SANDBOX_SCOPE.mode,
        app_key=SANDBOX_SCOPE.app_key,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def write_grant(env_file: Path, tokens: TokenSet, *, scope: GrantScope = SANDBOX_SCOPE) -> Grant:
    """Save ``tokens`` as a seller's grant of ``scope``'s app and mode, as an authorization would."""
    store = GrantStore(grants_path_for(env_file), scope=scope)
    try:
        return store.save_tokens(tokens)
    finally:
        store.close()


def saved_values(env_file: Path) -> dict[str, str]:
    """``.env``'s values, with the newest seller's grant under the names of the old ``.env`` keys."""
    values = read_env(env_file)
    found = grants(env_file)
    if found:
        g = found[0]
        values.update(
            {
                "TIKTOK_ACCESS_TOKEN": g.access_token.reveal(),
                "TIKTOK_REFRESH_TOKEN": g.refresh_token.reveal(),
                "TIKTOK_SELLER_NAME": g.seller_name,
            }
        )
        if g.access_token_expires_at:
            values["TIKTOK_ACCESS_TOKEN_EXPIRES_AT"] = g.access_token_expires_at.isoformat()
        if g.refresh_token_expires_at:
            values["TIKTOK_REFRESH_TOKEN_EXPIRES_AT"] = g.refresh_token_expires_at.isoformat()
        if g.shops:
            values["TIKTOK_SHOP_CIPHER"] = g.shops[0].cipher
        if g.api2cart_store_key:
            values["API2CART_STORE_KEY"] = g.api2cart_store_key.reveal()
    return {k: v for k, v in values.items() if v}


def saved_secrets(env_file: Path) -> set[str]:
    """Every secret the runbook holds for this project: in ``.env`` and in every grant."""
    values = read_env(env_file)
    found = {
        values[name]
        for name in ("TIKTOK_APP_SECRET", "TIKTOK_AUTH_CODE", "TIKTOK_ACCESS_TOKEN", "TIKTOK_REFRESH_TOKEN",
                     "API2CART_API_KEY", "API2CART_STORE_KEY")
        if values.get(name)
    }  # fmt: skip
    for g in grants(env_file):
        found |= {s.reveal() for s in (g.access_token, g.refresh_token, g.api2cart_store_key) if s}
    return found


def set_expiries(env_file: Path, *, access: datetime, refresh: datetime) -> None:
    """Move every grant's expiries (what time passing would do), straight in the database."""
    db = sqlite3.connect(grants_path_for(env_file))
    try:
        with db:
            db.execute(
                "UPDATE grants SET access_expires_at = ?, refresh_expires_at = ?",
                (int(access.timestamp()), int(refresh.timestamp())),
            )
    finally:
        db.close()
