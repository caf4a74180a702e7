"""Where the redirect catcher listens: loopback sockets, one per address family, on one port.

A listening socket is bound to exactly one loopback address (``127.0.0.1`` and the like, or
``::1``): no dual-stack socket, no port sharing. For ``localhost`` the catcher listens on both
127.0.0.1 and ::1 on one port (:func:`listen_on_all`), because a browser may send ``localhost`` to
either. When an address cannot be listened on, :class:`~tiktok_helpers.errors.CallbackPortBusy`
says which address and port, and whether another program holds the port, as values.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Sequence
from typing import Final

from .errors import REDIRECT_URL_FIELD, CallbackPortBusy, FieldProblem

__all__ = ["ANY_PORT_ATTEMPTS", "bind_problem", "listen", "listen_on_all", "shown"]

#: Tries to find one port free on both 127.0.0.1 and ::1.
ANY_PORT_ATTEMPTS: Final = 32
#: A socket error that says the address does not exist here (no IPv6, no such 127.x.y.z).
_NO_ADDRESS: Final = frozenset({errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, getattr(errno, "EPROTONOSUPPORT", -1)})
_PASTE: Final = "or paste the address the browser lands on after Authorize instead"


def shown(address: str) -> str:
    """An address as a URL writes it: IPv6 in brackets."""
    return f"[{address}]" if ":" in address else address


def listen(address: str, port: int) -> socket.socket:
    """A non-blocking listening socket on exactly ``address:port`` (no dual-stack, no port sharing)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
        if exclusive is not None:  # Windows: SO_REUSEADDR there would let another program take the port
            sock.setsockopt(socket.SOL_SOCKET, exclusive, 1)
        else:  # POSIX: only lets the port be reused while old connections linger in TIME_WAIT
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address, port))
        sock.listen(64)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_problem(address: str, port: int, exc: OSError) -> CallbackPortBusy:
    """Why ``address:port`` cannot be listened on, as values (``busy``: another program holds it)
    and in words for the person (:attr:`CallbackPortBusy.reason`)."""
    where = f"{shown(address)}:{port}" if port else shown(address)
    busy = exc.errno == errno.EADDRINUSE
    if busy:
        message = (
            f"another program is already listening on {where} (port {port}): close that program, choose "
            f"another port in the redirect URL (and register the new URL in Partner Center), {_PASTE}"
        )
    elif exc.errno in _NO_ADDRESS:
        message = f"cannot listen on {where}: this computer has no such address ({exc.strerror}); {_PASTE}"
    else:
        message = f"cannot listen on port {port} on {shown(address)} ({exc.strerror}); choose another port, {_PASTE}"
    return CallbackPortBusy(FieldProblem(REDIRECT_URL_FIELD, message), port, busy=busy, address=address)


def listen_on_all(
    addresses: Sequence[str], port: int, listen: Callable[[str, int], socket.socket] = listen
) -> tuple[list[socket.socket], tuple[str, ...]]:
    """Listen on every one of ``addresses`` on one port (``0``: one free on all of them); returns the
    listening sockets and the addresses they listen on, or raises :class:`CallbackPortBusy`.

    An address this computer does not have, after the first (no IPv6: no ::1), is left out: nobody
    can listen on it either. ``listen`` opens one socket (tests replace it).
    """
    first, *others = addresses
    for _attempt in range(ANY_PORT_ATTEMPTS if port == 0 and others else 1):
        try:
            primary = listen(first, port)
        except OSError as exc:
            raise bind_problem(first, port, exc) from None
        got = primary.getsockname()[1]
        listeners, bound = [primary], [first]
        try:
            for address in others:
                try:
                    listeners.append(listen(address, got))
                    bound.append(address)
                except OSError as exc:
                    if exc.errno in _NO_ADDRESS:  # no IPv6 here: nobody can listen on ::1 either
                        continue
                    raise
        except OSError as exc:
            for sock in listeners:
                sock.close()
            if port == 0 and exc.errno == errno.EADDRINUSE:
                continue  # free on 127.0.0.1 but not on ::1: pick another port
            raise bind_problem(address, got, exc) from None
        return listeners, tuple(bound)
    problem = FieldProblem(
        REDIRECT_URL_FIELD,
        f"found no port free on both {' and '.join(map(shown, addresses))} in {ANY_PORT_ATTEMPTS} tries; "
        f"give a free port in the redirect URL, {_PASTE}",
    )
    raise CallbackPortBusy(problem, port, busy=False, address=addresses[-1])
