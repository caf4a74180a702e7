"""A string wrapper that keeps secrets out of output, logs, reprs and exceptions.

``Secret("TTP_abcdef123456")`` prints as ``TTP_…3456``; only :meth:`Secret.reveal` returns the
value. App secrets, auth codes, access and refresh tokens and API keys are all held as
``Secret`` from the moment they enter the package.
"""

from __future__ import annotations

import hmac
from typing import Final

__all__ = ["Secret", "mask"]

_HIDDEN: Final = "•" * 6


def mask(value: str | None, *, keep: int = 4) -> str:
    """Return a masked form of ``value`` that is safe to show.

    Long values keep a short prefix up to the first ``_`` (``TTP_``) and the last ``keep``
    characters so a person can tell two tokens apart; short values are hidden entirely,
    because a few shown characters of a short secret give too much of it away.
    """
    if not value:
        return "(empty)"
    if len(value) < 16:
        return _HIDDEN
    prefix = value[: value.index("_") + 1] if "_" in value[:5] else ""
    return f"{prefix}…{value[-keep:]}"


class Secret:
    """An immutable secret string whose ``str`` and ``repr`` are masked."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"a Secret holds a str, not {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def reveal(self) -> str:
        """Return the real value. Call it only where the value is sent or stored."""
        return self._value

    @property
    def masked(self) -> str:
        return mask(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"Secret({self.masked!r})"

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self._value.encode(), other.reveal().encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")
