"""One catalog of every error the runbook can meet: code -> title, cause, fix.

Every exception in :mod:`tiktok_helpers.errors` takes its title and fix from here, and the
troubleshooting table in the notebooks is :func:`catalog_table`. TikTok codes
are their numbers as strings; API2Cart codes are ``api2cart.<return_code>`` (:func:`api2cart_key`);
the runbook's own conditions have dotted names. An entry marked ``transient`` passes by itself:
try again later, never re-authorize.

The entries themselves are data: ``catalog.json`` beside this module, read at import. Each entry
and each cause of 36009004 names the public source of its code, message, HTTP status and lifetime
(TikTok Shop Partner Center's docs such as "Common errors", "Rate limits", "Get Authorized Shops",
the authorization guide 202309 and "Authorization overview" 202407; API2Cart's "Response Status
Codes" and its OpenAPI description; live replies quoted in public client code), or says that it is
the runbook's own condition or the sandbox's own code; an entry without one is refused at import
(``tests/test_sources.py`` checks what each source covers). Where nothing public says how a
service behaves (whether TikTok's refresh replaces the refresh token, which return code API2Cart
gives a refused TikTok token), the entry says so instead of guessing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from .table import Table, make_table

__all__ = [
    "CATALOG",
    "INVALID_CREDENTIALS_CAUSES",
    "CatalogEntry",
    "Cause",
    "api2cart_key",
    "catalog_markdown",
    "catalog_rows",
    "catalog_table",
    "cause_of",
    "lookup",
]


@dataclass(frozen=True)
class CatalogEntry:
    code: str
    service: str
    title: str
    cause: str
    fix: str
    #: A condition that passes by itself: try again later (with backoff); never a reason to re-authorize.
    transient: bool = False
    #: Where the code, its message, status and lifetimes come from (a public document, a live reply
    #: quoted in public code, or the runbook's own condition).
    source: str = ""


AUTH = "TikTok authorization service"
OPEN = "TikTok Open API"
A2C = "API2Cart"
LOCAL = "runbook"
NET = "network"
_SERVICES: Final = frozenset({AUTH, OPEN, A2C, LOCAL, NET})
_ENTRY_KEYS: Final = frozenset({"code", "service", "title", "cause", "fix", "transient", "source"})


@dataclass(frozen=True)
class Cause:
    """One cause of a code that has several: the words of TikTok's message that name it, its fix, and
    the public source of the message it quotes."""

    words: tuple[str, ...]
    cause: str
    fix: str
    source: str = ""


def _text(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"catalog.json: {where}: {key!r} must be a non-empty string")
    return value


def _entry(item: dict[str, Any]) -> CatalogEntry:
    where = f"entry {item.get('code')!r}"
    if set(item) != _ENTRY_KEYS:
        raise ValueError(f"catalog.json: {where}: keys must be {sorted(_ENTRY_KEYS)}, not {sorted(item)}")
    if item["service"] not in _SERVICES or not isinstance(item["transient"], bool):
        raise ValueError(f"catalog.json: {where}: unknown service or a transient that is not true/false")
    code, service, title, cause, fix, source = (
        _text(item, k, where) for k in ("code", "service", "title", "cause", "fix", "source")
    )  # every entry names where it comes from
    return CatalogEntry(code, service, title, cause, fix, transient=item["transient"], source=source)


def _cause(item: dict[str, Any]) -> Cause:
    words = item.get("words")
    if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
        raise ValueError(f"catalog.json: cause {item.get('cause')!r}: 'words' must be a list of strings")
    where = "a cause of 36009004"
    return Cause(tuple(words), _text(item, "cause", where), _text(item, "fix", where), _text(item, "source", where))


def _load() -> tuple[tuple[CatalogEntry, ...], tuple[Cause, ...]]:
    """Read the data file (``catalog.json``, beside this module): the entries, each with its public
    source, and the causes of 36009004."""
    data = json.loads(resources.files("tiktok_helpers").joinpath("catalog.json").read_text(encoding="utf-8"))
    entries = tuple(_entry(item) for item in data["entries"])
    codes = [e.code for e in entries]
    if len(set(codes)) != len(codes):
        raise ValueError("catalog.json: a code appears twice")
    return entries, tuple(_cause(item) for item in data["invalid_credentials_causes"]["causes"])


_DATA: Final = _load()
#: The entries in catalog order: TikTok's token service, the Open API, API2Cart, the network, the
#: runbook's own checks. Titles, causes, fixes and the public source of each are in ``catalog.json``.
_ENTRIES: Final[tuple[CatalogEntry, ...]] = _DATA[0]
#: The causes of 36009004 in the order they are tried (the access-token header first). Each quotes
#: the message TikTok Shop Partner Center's "Common errors" gives for it (the access-token one is
#: also a live reply quoted in public client code) and names its source; a message is matched by
#: the words naming what is wrong, whatever the rest of the wording.
INVALID_CREDENTIALS_CAUSES: Final[tuple[Cause, ...]] = _DATA[1]

CATALOG: Final[dict[str, CatalogEntry]] = {entry.code: entry for entry in _ENTRIES}


def cause_of(code: str | int, message: str) -> Cause | None:
    """The cause TikTok's ``message`` names, for a code with several (36009004), else None."""
    if str(code) != "36009004":
        return None
    text = message.lower()
    return next((c for c in INVALID_CREDENTIALS_CAUSES if any(word in text for word in c.words)), None)


def lookup(code: str | int, *, fallback: str = "runbook.error") -> CatalogEntry:
    """Return the entry for ``code``, or the ``fallback`` entry when the code is unknown."""
    return CATALOG.get(str(code)) or CATALOG[fallback]


def api2cart_key(return_code: int) -> str:
    """The catalog code of an API2Cart ``return_code`` (``api2cart.<n>``; 102 to 105 share one entry)."""
    return "api2cart.102-105" if 102 <= return_code <= 105 else f"api2cart.{return_code}"


def catalog_rows(services: Iterable[str] | None = None) -> list[CatalogEntry]:
    """Return the entries, optionally only those of the given services, in catalog order."""
    wanted = set(services) if services is not None else None
    return [e for e in _ENTRIES if wanted is None or e.service in wanted]


def catalog_table(services: Iterable[str] | None = None) -> Table:
    """The catalog as a :class:`~tiktok_helpers.table.Table` (code, service, problem, cause, fix):
    Markdown in a notebook, aligned text in a terminal."""
    return make_table(
        ("code", "service", "problem", "cause", "fix"),
        ((e.code, e.service, e.title, e.cause, e.fix) for e in catalog_rows(services)),
    )


def catalog_markdown(services: Iterable[str] | None = None) -> str:
    """Render the catalog as a Markdown table (code, service, problem, cause, fix)."""
    return catalog_table(services).markdown()
