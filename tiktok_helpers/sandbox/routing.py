"""What a route of the sandbox sees: the parsed :class:`Request`, the :class:`Replier` it answers
through, and the :data:`Routes` table type.

The route modules (:mod:`.tiktok_routes`, :mod:`.api2cart_routes`) import this module, never the
handler; :mod:`.handler` imports their tables and its request handler is the :class:`Replier` they
are given. So the HTTP layer's imports go one way: handler -> routes -> this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from typing import Any, Literal, Protocol

from .state import SandboxState

__all__ = ["QueryString", "Replier", "Request", "Route", "Routes", "ServesState"]


class QueryString(Mapping[str, str]):
    """A request's query: a mapping to the FIRST value of each name, and :meth:`multi_items` with
    every ``(name, value)`` pair in the order sent (what :func:`tiktok_helpers.signing.sign` signs)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._pairs = tuple(pairs)
        self._first: dict[str, str] = {}
        for key, value in self._pairs:
            self._first.setdefault(key, value)

    def __getitem__(self, key: str) -> str:
        return self._first[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"QueryString({sorted(self._first)!r})"  # names only: values carry secrets


@dataclass(frozen=True)
class Request:
    """A parsed request: path (as received, percent-encoded), query, body and headers."""

    path: str
    query: QueryString
    body: bytes
    headers: Message


class ServesState(Protocol):
    """The server a route's request came in on: it knows the sandbox's state."""

    @property
    def state(self) -> SandboxState: ...


class Replier(Protocol):
    """What a route answers through (:class:`~.handler.SandboxRequestHandler` is one): each reply
    goes out in one write, after the server's injected latency."""

    @property
    def server(self) -> ServesState: ...

    def send_json(self, status: int, payload: Mapping[str, Any], headers: Sequence[tuple[str, str]] = ()) -> None: ...

    def send_html(self, status: int, page: str, headers: Sequence[tuple[str, str]] = ()) -> None: ...

    def redirect(self, location: str) -> None: ...


#: A route: answers one request through the replier.
Route = Callable[[Replier, Request], None]

#: Path -> (which service answers there, for the 405 reply; HTTP method -> route).
Routes = dict[str, tuple[Literal["page", "tiktok", "api2cart"], dict[str, Route]]]
