"""Where the runbook keeps what it learns: the persistence boundary.

A :class:`~tiktok_helpers.session.Session` keeps what a step just received in memory and hands it
to its :class:`RunbookStore` once, in the step's own terms (``save_code``, ``save_tokens``,
``save_shops``, ``save_store_key``): the store decides where it goes.

* The app's settings and a code waiting for its exchange: ``.env`` (:class:`EnvStore`;
  python-dotenv format, mode 0600, every other line kept, see :mod:`tiktok_helpers.envfile`).
* Every seller's grant (tokens, shops, API2Cart store key): the SQLite database beside it
  (:class:`~tiktok_helpers.grants.GrantStore`), opened for the app and mode in use, so only that
  app's grants in that mode are seen or written. The file is checked before use: one that is not
  this runbook's, damaged or newer raises :class:`~tiktok_helpers.errors.GrantDatabaseError` (one
  line naming it and what to do); a damaged row is a grant with ``damage``, for its seller only.
  A single-seller ``.env`` from before is imported only on request
  (:meth:`RunbookStore.import_legacy`; :mod:`tiktok_helpers.legacy`).

Every value is validated once, on the way in: the store remembers the cleaned values it loaded,
applies each save's cleaned updates to them, and answers the new :class:`Settings` without reading
and validating the whole file again. Values given in the process environment win over ``.env``, as
when loading, so a save never changes what such a value resolves to; nothing given only in the
environment is ever written, and a seller's tokens in the environment are refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from .envfile import read_env, update_env
from .grants import Grant, GrantScope, GrantStore, grants_path_for
from .legacy import LEGACY_KEYS, grant_from_values, legacy_keys_in, refuse_environment
from .openapi import Shop
from .redirect import RedirectResult
from .secret import Secret
from .settings import Settings, clean_updates, clean_values, environment_values, resolve_settings
from .tokens import TokenSet

__all__ = [
    "SANDBOX_DIR",
    "EnvStore",
    "LegacyImport",
    "RunbookStore",
    "SellerList",
    "import_legacy",
    "load_with_seller",
    "sandbox_state_path",
    "scope_of",
    "sellers_of",
]

#: The folder beside ``.env`` where the embedded sandbox keeps its state.
SANDBOX_DIR = ".sandbox"


def sandbox_state_path(env_path: Path) -> Path:
    """Where the embedded sandbox keeps its state for the project whose ``.env`` is ``env_path``."""
    return env_path.parent / SANDBOX_DIR / "state.db"


Updates = Mapping[str, "str | Secret | None"]


def scope_of(settings: Settings) -> GrantScope:
    """The app and mode whose grants these settings work with."""
    return GrantScope(settings.mode.value, settings.app_key)


@dataclass(frozen=True)
class LegacyImport:
    """What ``sellers import-env`` did: the seller's grant (None when ``.env`` held no refresh token),
    whether it was added now (False: it was already there), and the keys removed from ``.env``."""

    grant: Grant | None
    added: bool
    removed: tuple[str, ...]


#: The keys of a code waiting to be exchanged.
_CODE_KEYS = ("TIKTOK_AUTH_CODE", "TIKTOK_AUTH_CODE_RECEIVED_AT")


class EnvStore:
    """The runbook's settings and a code waiting for its exchange, in one ``.env`` file."""

    def __init__(self, path: Path | str, environ: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        self._environ = environ
        self._values: dict[str, str] = {}
        self._pinned: frozenset[str] = frozenset()
        self._pending: tuple[str, ...] = ()

    def load(self) -> Settings:
        """Read and validate ``.env`` and the environment; the resolved settings."""
        environ = os.environ if self._environ is None else self._environ
        refuse_environment(environ)
        from_env = environment_values(environ)
        in_file = read_env(self.path)
        self._values = clean_values({**in_file, **from_env})
        self._pinned = frozenset(name for name, value in from_env.items() if value.strip())
        self._pending = legacy_keys_in(in_file)
        return self._resolve()

    def _resolve(self) -> Settings:
        return replace(resolve_settings(self._values, self.path), pending_import=self._pending)

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
        return self._resolve()

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
        self._grants_at: str = ""  # which store ``grants`` is: set by the settings (TIKTOK_GRANTS_URL)

    @property
    def env_path(self) -> Path:
        return self.env.path

    def load(self) -> Settings:
        """The app's settings; the grant database is scoped to their app and mode."""
        return self._scoped(self.env.load())

    def _scoped(self, settings: Settings) -> Settings:
        """The grant store the settings name (``TIKTOK_GRANTS_URL``, else the SQLite file beside
        ``.env``), scoped to their app and mode."""
        scope = scope_of(settings)
        wanted = settings.grants_url.reveal() if settings.grants_url is not None else ""
        if wanted != self._grants_at:
            self.grants.close()
            self.grants = GrantStore(settings.grants_url or grants_path_for(self.env.path), scope=scope)
            self._grants_at = wanted
        if self.grants.scope != scope:
            self.grants.close()
            self.grants.scope = scope  # the next read opens it for this app and mode
        return settings

    def close(self) -> None:
        self.grants.close()

    # --- the steps' own terms ------------------------------------------------------------------------

    def save(self, updates: Updates) -> Settings:
        return self._scoped(self.env.save(updates))

    def save_cleaned(self, cleaned: Mapping[str, str | None]) -> Settings:
        return self._scoped(self.env.save_cleaned(cleaned))

    def save_code(self, result: RedirectResult, received_at: datetime | None = None) -> Settings:
        return self.env.save_code(result, received_at)

    def forget_code(self) -> Settings:
        return self.env.forget_code()

    def save_tokens(
        self, tokens: TokenSet, *, grant_id: int | None = None, refreshed: bool = False, round_id: str = ""
    ) -> Grant:
        """Commit a token reply to its seller's grant at once (a new seller gets a new grant);
        ``round_id``: the bulk refresh round it belongs to."""
        kind: Literal["authorized", "refreshed"] = "refreshed" if refreshed else "authorized"
        return self.grants.save_tokens(tokens, grant_id=grant_id, kind=kind, round_id=round_id)

    def save_shops(self, grant: Grant, shops: list[Shop]) -> Grant:
        return self.grants.save_shops(grant.id, shops)

    def save_store_key(self, grant: Grant, store_key: Secret) -> Grant:
        return self.grants.save_store_key(grant.id, store_key)

    def import_legacy(self) -> LegacyImport:
        """Import a single-seller ``.env``'s grant into this app and mode, then remove its lines from
        ``.env`` (only after the grant is committed). Running it again adds nothing."""
        values = read_env(self.env.path)
        grant = grant_from_values(values)  # every malformed key named before anything is written
        added = False
        if grant is not None:
            grant, added = self.grants.import_grant(grant)
        removed = tuple(name for name in LEGACY_KEYS if name in values)
        if removed:
            update_env(self.env.path, dict.fromkeys(removed))
            self.env.load()
        return LegacyImport(grant, added, removed)


def _open(env_path: Path | str, environ: Mapping[str, str] | None) -> tuple[RunbookStore, Settings]:
    store = RunbookStore(env_path, environ)
    try:
        return store, store.load()
    except BaseException:
        store.close()
        raise


def load_with_seller(
    env_path: Path | str, environ: Mapping[str, str] | None = None, seller: str | None = None
) -> tuple[Settings, Grant | None]:
    """The app's settings and one seller's grant (default: the most recently authorized), for a front
    end that needs no session (``status``, ``doctor``)."""
    store, settings = _open(env_path, environ)
    try:
        return settings, (store.grants.find(seller) if seller is not None else store.grants.newest())
    finally:
        store.close()


@dataclass(frozen=True)
class SellerList:
    """The sellers of the app and mode in use, and how many grants belong to other apps or modes."""

    settings: Settings
    grants: list[Grant]
    elsewhere: dict[GrantScope, int]

    @property
    def damaged(self) -> list[Grant]:
        """The sellers whose row could not be read whole (listed in :attr:`grants` too): each says
        what (:attr:`Grant.problem`) and which commands save it again (:attr:`Grant.repairs`)."""
        return [g for g in self.grants if g.damage]


def sellers_of(env_path: Path | str, environ: Mapping[str, str] | None = None) -> SellerList:
    """Every seller's grant of the app and mode in use, the most recently authorized first."""
    store, settings = _open(env_path, environ)
    try:
        return SellerList(settings, store.grants.all(), store.grants.elsewhere())
    finally:
        store.close()


def import_legacy(env_path: Path | str, environ: Mapping[str, str] | None = None) -> tuple[Settings, LegacyImport]:
    """``sellers import-env``: a single-seller ``.env``'s grant imported into the app and mode in use."""
    store, settings = _open(env_path, environ)
    try:
        return settings, store.import_legacy()
    finally:
        store.close()
