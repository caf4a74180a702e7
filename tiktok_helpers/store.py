"""Where the runbook keeps what it learns: the persistence boundary.

A :class:`~tiktok_helpers.session.Session` keeps what a step just received in memory and hands it
to its :class:`RunbookStore` once, in the step's own terms (``save_code``, ``save_tokens``,
``save_shops``, ``save_store_key``): the store decides where it goes.

* The app's settings and a code waiting for its exchange: ``.env`` (:class:`EnvStore`;
  python-dotenv format, mode 0600, every other line kept, see :mod:`tiktok_helpers.envfile`).
* Every seller's grant (tokens, shops, API2Cart store key): the SQLite database beside it
  (:class:`~tiktok_helpers.grants.GrantStore`). A single-seller ``.env`` from before is imported as
  the first grant on first use, and its token lines leave ``.env`` only after the grant is committed.

Every value is validated once, on the way in: the store remembers the cleaned values it loaded,
applies each save's cleaned updates to them, and answers the new :class:`Settings` without reading
and validating the whole file again. Values given in the process environment win over ``.env``, as
when loading, so a save never changes what such a value resolves to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from .envfile import read_env, update_env
from .grants import Grant, GrantStore, grants_path_for
from .openapi import Shop
from .redirect import RedirectResult
from .regions import UserType
from .secret import Secret
from .settings import Settings, clean_updates, clean_values, environment_values, resolve_settings
from .tokens import TokenSet

__all__ = [
    "GRANT_SETTINGS",
    "SANDBOX_DIR",
    "EnvStore",
    "RunbookStore",
    "load_for_seller",
    "sandbox_state_path",
    "sellers_of",
    "with_grant",
]

#: The folder beside ``.env`` where the embedded sandbox keeps its state.
SANDBOX_DIR = ".sandbox"


def sandbox_state_path(env_path: Path) -> Path:
    """Where the embedded sandbox keeps its state for the project whose ``.env`` is ``env_path``."""
    return env_path.parent / SANDBOX_DIR / "state.db"


Updates = Mapping[str, "str | Secret | None"]


#: The ``.env`` settings of a single-seller project from before the grant database: imported into it.
GRANT_SETTINGS = (
    "TIKTOK_ACCESS_TOKEN",
    "TIKTOK_ACCESS_TOKEN_EXPIRES_AT",
    "TIKTOK_REFRESH_TOKEN",
    "TIKTOK_REFRESH_TOKEN_EXPIRES_AT",
    "TIKTOK_SELLER_NAME",
    "TIKTOK_SHOP_CIPHER",
    "API2CART_STORE_KEY",
)


def with_grant(settings: Settings, grant: Grant | None) -> Settings:
    """The settings as they apply to one seller: that grant's tokens, shop cipher and store key."""
    if grant is None:
        return replace(
            settings,
            access_token=Secret(""),
            access_token_expires_at=None,
            refresh_token=Secret(""),
            refresh_token_expires_at=None,
            seller_name="",
            shop_cipher="",
            api2cart_store_key=Secret(""),
        )
    return replace(
        settings,
        access_token=grant.access_token,
        access_token_expires_at=grant.access_token_expires_at,
        refresh_token=grant.refresh_token,
        refresh_token_expires_at=grant.refresh_token_expires_at,
        seller_name=grant.seller_name,
        shop_cipher=grant.shops[0].cipher if grant.shops else "",
        api2cart_store_key=grant.api2cart_store_key,
    )


def _grant_from_settings(s: Settings) -> Grant:
    """A single-seller ``.env``'s tokens as a grant (the open_id is not known until TikTok says)."""
    shops = (Shop(id="", name="", region="", seller_type="", cipher=s.shop_cipher, code=""),) if s.shop_cipher else ()
    return Grant(
        id=0,
        open_id="",
        seller_name=s.seller_name,
        base_region="",
        user_type=UserType.UNKNOWN,
        access_token=s.access_token,
        access_token_expires_at=s.access_token_expires_at,
        refresh_token=s.refresh_token,
        refresh_token_expires_at=s.refresh_token_expires_at,
        shops=shops,
        api2cart_store_key=s.api2cart_store_key,
    )


#: The keys of a code waiting to be exchanged.
_CODE_KEYS = ("TIKTOK_AUTH_CODE", "TIKTOK_AUTH_CODE_RECEIVED_AT")


class EnvStore:
    """The runbook's settings and the seller's tokens, in one ``.env`` file."""

    def __init__(self, path: Path | str, environ: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        self._environ = environ
        self._values: dict[str, str] = {}
        self._pinned: frozenset[str] = frozenset()

    def load(self) -> Settings:
        """Read and validate ``.env`` and the environment; the resolved settings."""
        from_env = environment_values(self._environ)
        self._values = clean_values({**read_env(self.path), **from_env})
        self._pinned = frozenset(name for name, value in from_env.items() if value.strip())
        return resolve_settings(self._values, self.path)

    def save(self, updates: Updates) -> Settings:
        """Validate ``updates`` (``None`` removes a key) and write them; nothing is written if any is
        wrong. The settings as they are now."""
        return self.save_cleaned(clean_updates(updates))

    def save_cleaned(self, cleaned: Mapping[str, str | None]) -> Settings:
        """Write updates that :func:`~tiktok_helpers.settings.clean_updates` has already checked."""
        update_env(self.path, cleaned)
        for name, value in cleaned.items():
            if name in self._pinned:
                continue  # the environment wins over .env, now as at load
            if value is None:
                self._values.pop(name, None)
            else:
                self._values[name] = value
        return resolve_settings(self._values, self.path)

    # --- the steps' own terms ----------------------------------------------------------------------

    def save_code(self, result: RedirectResult, received_at: datetime | None = None) -> Settings:
        """A caught auth code, kept for the exchange step, with when it arrived."""
        moment = received_at or datetime.now(timezone.utc)
        return self.save({"TIKTOK_AUTH_CODE": result.code, "TIKTOK_AUTH_CODE_RECEIVED_AT": moment.isoformat()})

    def forget_code(self) -> Settings:
        """Remove the waiting auth code (exchanged, or refused: it cannot be used again)."""
        return self.save(dict.fromkeys(_CODE_KEYS))


class RunbookStore:
    """The persistence boundary: the app's settings in ``.env``, every seller's grant beside it."""

    def __init__(self, env_path: Path | str, environ: Mapping[str, str] | None = None) -> None:
        self.env = EnvStore(env_path, environ)
        self.grants = GrantStore(grants_path_for(self.env.path))

    @property
    def env_path(self) -> Path:
        return self.env.path

    def load(self) -> Settings:
        """The app's settings (no seller applied), after importing a single-seller ``.env``'s grant."""
        settings = self.env.load()
        if settings.refresh_token:
            self.grants.import_grant(_grant_from_settings(settings))  # committed before .env changes
            in_file = [name for name in GRANT_SETTINGS if name in read_env(self.env.path)]
            if in_file:
                settings = self.env.save(dict.fromkeys(in_file))
        return settings

    def close(self) -> None:
        self.grants.close()

    # --- the steps' own terms ------------------------------------------------------------------------

    def save(self, updates: Updates) -> Settings:
        return self.env.save(updates)

    def save_cleaned(self, cleaned: Mapping[str, str | None]) -> Settings:
        return self.env.save_cleaned(cleaned)

    def save_code(self, result: RedirectResult, received_at: datetime | None = None) -> Settings:
        return self.env.save_code(result, received_at)

    def forget_code(self) -> Settings:
        return self.env.forget_code()

    def save_tokens(self, tokens: TokenSet, *, grant_id: int | None = None, refreshed: bool = False) -> Grant:
        """Commit a token reply to its seller's grant at once (a new seller gets a new grant)."""
        return self.grants.save_tokens(tokens, grant_id=grant_id, kind="refreshed" if refreshed else "authorized")

    def save_shops(self, grant: Grant, shops: list[Shop]) -> Grant:
        return self.grants.save_shops(grant.id, shops)

    def save_store_key(self, grant: Grant, store_key: Secret) -> Grant:
        return self.grants.save_store_key(grant.id, store_key)


def load_for_seller(
    env_path: Path | str, environ: Mapping[str, str] | None = None, seller: str | None = None
) -> Settings:
    """The settings as they apply to one seller (default: the most recently authorized), for a front
    end that needs no session (``status``, ``doctor``)."""
    store = RunbookStore(env_path, environ)
    try:
        settings = store.load()
        return with_grant(settings, store.grants.find(seller) if seller else store.grants.newest())
    finally:
        store.close()


def sellers_of(env_path: Path | str, environ: Mapping[str, str] | None = None) -> list[Grant]:
    """Every seller's grant, the most recently authorized first (a single-seller ``.env`` imported)."""
    store = RunbookStore(env_path, environ)
    try:
        store.load()
        return store.grants.all()
    finally:
        store.close()
