"""Where the runbook keeps what it learns: the persistence boundary.

A :class:`~tiktok_helpers.session.Session` keeps what a step just received in memory and hands it
to its store once, in the step's own terms (``save_tokens``, ``save_code``, ``save_store_key``):
the store decides how it is written. :class:`EnvStore` keeps everything in ``.env`` (python-dotenv
format, mode 0600, every other line kept, see :mod:`tiktok_helpers.envfile`).

Every value is validated once, on the way in: the store remembers the cleaned values it loaded,
applies each save's cleaned updates to them, and answers the new :class:`Settings` without reading
and validating the whole file again. Values given in the process environment win over ``.env``, as
when loading, so a save never changes what such a value resolves to.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from .envfile import read_env, update_env
from .redirect import RedirectResult
from .secret import Secret
from .settings import Settings, clean_updates, clean_values, environment_values, resolve_settings
from .tokens import TokenSet

__all__ = ["SANDBOX_DIR", "EnvStore", "sandbox_state_path", "token_updates"]

#: The folder beside ``.env`` where the embedded sandbox keeps its state.
SANDBOX_DIR = ".sandbox"


def sandbox_state_path(env_path: Path) -> Path:
    """Where the embedded sandbox keeps its state for the project whose ``.env`` is ``env_path``."""
    return env_path.parent / SANDBOX_DIR / "state.json"


Updates = Mapping[str, "str | Secret | None"]


def token_updates(tokens: TokenSet) -> dict[str, str | Secret | None]:
    """The ``.env`` updates that store a token reply: both tokens, both expiries, the seller name."""
    updates: dict[str, str | Secret | None] = {
        "TIKTOK_ACCESS_TOKEN": tokens.access_token,
        "TIKTOK_ACCESS_TOKEN_EXPIRES_AT": tokens.access_token_expires_at.isoformat(),
        "TIKTOK_REFRESH_TOKEN": tokens.refresh_token,
        "TIKTOK_REFRESH_TOKEN_EXPIRES_AT": tokens.refresh_token_expires_at.isoformat(),
    }
    if tokens.seller_name:
        updates["TIKTOK_SELLER_NAME"] = tokens.seller_name
    return updates


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

    def save_tokens(self, tokens: TokenSet, *, code_spent: bool = False) -> Settings:
        """A token reply; with ``code_spent`` the exchanged code is removed in the same write."""
        updates = token_updates(tokens)
        if code_spent:
            updates.update(dict.fromkeys(_CODE_KEYS))
        return self.save(updates)

    def forget_code(self) -> Settings:
        """Remove the waiting auth code (TikTok refused it: it cannot be used again)."""
        return self.save(dict.fromkeys(_CODE_KEYS))

    def save_shop_cipher(self, cipher: str) -> Settings:
        return self.save({"TIKTOK_SHOP_CIPHER": cipher})

    def save_store_key(self, store_key: Secret) -> Settings:
        return self.save({"API2CART_STORE_KEY": store_key})
