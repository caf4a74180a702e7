"""The rows every builder of :mod:`tiktok_helpers.display` returns, and the two helpers they share.

A :class:`Row` carries the text a person reads and the value a program reads; :class:`Rows` are one
object's rows, :class:`Records` a list of like objects. The same rows make a notebook's table
(:meth:`Rows.table`), the command line's text (:meth:`Rows.text`) and its ``--json`` object
(:meth:`Rows.as_json`), so the three cannot disagree. :func:`shown` is the one masking policy for a
secret in a row. They know nothing of sessions, grants or settings: the builders do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .secret import Secret
from .table import Table, make_table

__all__ = ["Records", "Row", "Rows", "how", "shown"]


# --- values ---------------------------------------------------------------------------------------


def shown(value: Secret | None, *, reveal: bool = False) -> str | None:
    """A secret as it may be shown: masked, or in full with ``reveal`` (None when empty)."""
    if not value:
        return None
    return value.reveal() if reveal else str(value)


def how(text: str, command: str | None, prog: str | None) -> str:
    """A fix or next step with the command that does it: 'refresh the access token: `prog refresh`'."""
    return f"{text}: `{prog} {command}`" if command and prog else text


# --- rows -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One row: ``label`` and ``text`` for people (label None: JSON only), ``key`` and ``value``
    for programs (key None: text only)."""

    label: str | None
    text: str = ""
    key: str | None = None
    value: Any = None


@dataclass(frozen=True)
class Rows:
    """The rows of one object."""

    rows: tuple[Row, ...]

    def pairs(self) -> list[tuple[str, str]]:
        return [(r.label, r.text) for r in self.rows if r.label is not None]

    def as_json(self) -> dict[str, Any]:
        return {r.key: r.value for r in self.rows if r.key is not None}

    def text(self) -> str:
        """Aligned 'label  value' lines, no header."""
        pairs = self.pairs()
        width = max((len(label) for label, _ in pairs), default=0)
        return "\n".join(f"{label.ljust(width)}  {value}".rstrip() for label, value in pairs)

    def table(self, headers: tuple[str, str] = ("field", "value")) -> Table:
        return make_table(headers, self.pairs())


@dataclass(frozen=True)
class Records:
    """A list of like objects, one :class:`Rows` each; the labels are the table's columns."""

    headers: tuple[str, ...]
    items: tuple[Rows, ...]

    def __len__(self) -> int:
        return len(self.items)

    def table(self) -> Table:
        return make_table(self.headers, ([text for _, text in item.pairs()] for item in self.items))

    def as_json(self) -> list[dict[str, Any]]:
        return [item.as_json() for item in self.items]
