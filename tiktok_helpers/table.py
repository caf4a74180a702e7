"""A small table that shows as Markdown in a notebook and as aligned text everywhere else.

Standard library only, so the error catalog and the result displays share it without importing
each other's dependencies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Table", "make_table"]


def _md(cell: object) -> str:
    return str(cell).replace("|", "\\|").replace("\n", " ")


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def markdown(self) -> str:
        lines = ["| " + " | ".join(_md(h) for h in self.headers) + " |", "|" + "---|" * len(self.headers)]
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __str__(self) -> str:
        widths = [max(len(str(x)) for x in col) for col in zip(self.headers, *self.rows, strict=True)]

        def line(cells: Sequence[str]) -> str:
            return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

        return "\n".join([line(self.headers), line(["-" * w for w in widths]), *(line(r) for r in self.rows)])

    def __repr__(self) -> str:
        return str(self)


def make_table(headers: Iterable[str], rows: Iterable[Iterable[object]]) -> Table:
    return Table(tuple(headers), tuple(tuple(str(c) for c in row) for row in rows))
