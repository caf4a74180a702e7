"""A single-seller ``.env`` from before the grant database: imported once, on request, nothing lost.

Older projects kept one seller's tokens in ``.env`` (``TIKTOK_ACCESS_TOKEN``, ``TIKTOK_REFRESH_TOKEN``
and their expiries, ``TIKTOK_SELLER_NAME``, ``TIKTOK_SHOP_CIPHER``, ``API2CART_STORE_KEY``). Those
values are not settings any more: a seller's tokens live only in their grant (:mod:`.grants`).

* In ``.env`` they are left alone until someone asks for the import
  (``python -m tiktok_helpers sellers import-env``, or :meth:`RunbookStore.import_legacy`): the
  grant is committed first, then the lines leave ``.env``. Running it again changes nothing.
  Until then ``status``, ``doctor`` and ``sellers`` say the import is waiting.
* The imported grant has no open_id (the old ``.env`` never had one): TikTok's next token reply
  for it names the seller, and if that seller authorized again meanwhile the two grants become one,
  keeping the shops and the store key (:meth:`GrantStore.save_tokens`).
* In the process environment they are refused with one line: a value from the environment is never
  written to a file, and a seller that exists only for one process would be a second owner of
  that seller's tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Final

from .errors import FieldProblem, TokensInEnvironment, ValidationError
from .grants import Grant
from .openapi import Shop
from .regions import UserType
from .secret import Secret
from .settings import PER_SELLER
from .validation import clean_datetime, clean_text, clean_token

__all__ = ["IMPORT_COMMAND", "LEGACY_KEYS", "grant_from_values", "legacy_keys_in", "refuse_environment"]

#: The command that imports a single-seller ``.env``'s grant.
IMPORT_COMMAND: Final = "sellers import-env"

#: The keys of a single-seller ``.env``, with how each value is checked.
_CLEAN: Final[Mapping[str, Callable[[str], str]]] = {
    "TIKTOK_ACCESS_TOKEN": partial(clean_token, field="TIKTOK_ACCESS_TOKEN"),
    "TIKTOK_ACCESS_TOKEN_EXPIRES_AT": partial(clean_datetime, field="TIKTOK_ACCESS_TOKEN_EXPIRES_AT"),
    "TIKTOK_REFRESH_TOKEN": partial(clean_token, field="TIKTOK_REFRESH_TOKEN"),
    "TIKTOK_REFRESH_TOKEN_EXPIRES_AT": partial(clean_datetime, field="TIKTOK_REFRESH_TOKEN_EXPIRES_AT"),
    "TIKTOK_SELLER_NAME": partial(clean_text, field="TIKTOK_SELLER_NAME"),
    "TIKTOK_SHOP_CIPHER": partial(clean_token, field="TIKTOK_SHOP_CIPHER"),
    "API2CART_STORE_KEY": partial(clean_token, field="API2CART_STORE_KEY"),
}
LEGACY_KEYS: Final = tuple(_CLEAN)
assert set(LEGACY_KEYS) == set(PER_SELLER), "settings.PER_SELLER and the legacy keys must name the same values"


def legacy_keys_in(values: Mapping[str, str]) -> tuple[str, ...]:
    """The single-seller keys that carry a value in ``values`` (a ``.env``'s lines)."""
    return tuple(name for name in LEGACY_KEYS if values.get(name, "").strip())


def refuse_environment(environ: Mapping[str, str]) -> None:
    """One clear line when a seller's tokens are given in the process environment."""
    given = legacy_keys_in(environ)
    if given:
        names = ", ".join(given)
        raise TokensInEnvironment(
            f"{names} {'is' if len(given) == 1 else 'are'} set in the environment; it was not used and nothing "
            f"was saved (to import an older single-seller .env: `python -m tiktok_helpers {IMPORT_COMMAND}`)"
        )


def _time(value: str) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def grant_from_values(values: Mapping[str, str]) -> Grant | None:
    """The grant a single-seller ``.env`` describes (None without a refresh token); a
    :class:`ValidationError` names every malformed key, without its value."""
    cleaned: dict[str, str] = {}
    problems: list[FieldProblem] = []
    for name in legacy_keys_in(values):
        try:
            cleaned[name] = _CLEAN[name](values[name])
        except ValidationError as exc:
            problems.extend(FieldProblem(name, p.message) for p in exc.problems)
    if problems:
        raise ValidationError(problems)
    if not cleaned.get("TIKTOK_REFRESH_TOKEN"):
        return None
    cipher = cleaned.get("TIKTOK_SHOP_CIPHER", "")
    return Grant(
        id=0,
        open_id="",
        seller_name=cleaned.get("TIKTOK_SELLER_NAME", ""),
        base_region="",
        user_type=UserType.UNKNOWN,
        access_token=Secret(cleaned.get("TIKTOK_ACCESS_TOKEN", "")),
        access_token_expires_at=_time(cleaned.get("TIKTOK_ACCESS_TOKEN_EXPIRES_AT", "")),
        refresh_token=Secret(cleaned["TIKTOK_REFRESH_TOKEN"]),
        refresh_token_expires_at=_time(cleaned.get("TIKTOK_REFRESH_TOKEN_EXPIRES_AT", "")),
        shops=(Shop(id="", name="", region="", seller_type="", cipher=cipher, code=""),) if cipher else (),
        api2cart_store_key=Secret(cleaned.get("API2CART_STORE_KEY", "")),
        imported=True,
    )
