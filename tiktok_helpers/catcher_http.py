"""The redirect catcher's HTTP side: one connection's request read, and a fixed page sent back.

:mod:`tiktok_helpers.catcher` decides what a request means (:class:`CatcherHooks.answer`); this
module only speaks HTTP/1.0 for it. Every page is one of :data:`PAGES`: nothing the request carried
is ever put in a page or a log line (the request line carries the code). Every answer closes its
connection (no keep-alive), so a connection left from one catcher can never carry the redirect
meant for the next.
"""

from __future__ import annotations

import socket
import socketserver
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Final, NamedTuple

__all__ = ["PAGES", "Answer", "CatcherHooks", "handle_connection"]

_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:Helvetica,Arial,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#1f2328}}
h1{{font-size:1.4rem}} .box{{border:1px solid #d0d7de;border-radius:8px;padding:1rem 1.25rem;background:{tint}}}</style>
</head><body><div class="box"><h1 id="catcher-title">{title}</h1>
<p id="catcher-message">{message}</p></div></body></html>
"""
#: Every page is one of these fixed texts (title, message, tint): nothing the request carried is
#: ever put in a page.
PAGES: Final = {
    "received": (
        "Authorization received",
        "The runbook has the code. You can close this tab and return to the notebook.",
        "#e8f5e9",
    ),
    "denied": (
        "Authorization refused",
        "TikTok reported that the authorization was cancelled or refused. Return to the notebook for what to do next.",
        "#fff4e5",
    ),
    "mismatch": (
        "This redirect was ignored",
        "It does not answer the authorization link the runbook is waiting for (the state differs). "
        "Open the link shown in the notebook again.",
        "#fff4e5",
    ),
    "nostate": (
        "This redirect was ignored",
        "It carries no state, so it cannot be matched to the authorization link the runbook is waiting for. "
        "If you refused the app, stop the wait in the notebook or paste this tab's address there.",
        "#fff4e5",
    ),
    "nocode": (
        "Nothing to do here",
        "This address only receives TikTok's redirect after you approve the app.",
        "#f6f8fa",
    ),
    "wronghost": (
        "Wrong address",
        "This listener only answers requests addressed to this computer (127.0.0.1, localhost or [::1]).",
        "#f6f8fa",
    ),
    "notfound": ("Not found", "Nothing is served at this address.", "#f6f8fa"),
}


class Answer(NamedTuple):
    """What to send back: one of :data:`PAGES`, with its HTTP status."""

    page: str
    status: int
    location: str | None = None  # a 303's target: a fixed path of this listener, never the request's
    last: bool = False  # the "done" page after the 303: once it is sent, the listener may close


@dataclass(frozen=True)
class CatcherHooks:
    """What a connection's handler asks of its catcher.

    ``arrived(conn)``: a request line arrived on ``conn`` (it is no longer an idle preconnect);
    ``answer(target, hosts)``: the answer to a GET of ``target`` with these ``Host`` headers;
    ``done_page_sent()``: the "you can close this tab" page went out.
    """

    arrived: Callable[[socket.socket], None]
    answer: Callable[[str, list[str]], Answer]
    done_page_sent: Callable[[], None]


class _Context(socketserver.BaseServer):
    """What a connection's handler sees as its ``server``: the hooks of the catcher it reports to."""

    def __init__(self, hooks: CatcherHooks) -> None:
        super().__init__(("", 0), _Handler)
        self.hooks = hooks


class _Handler(BaseHTTPRequestHandler):
    server: _Context
    protocol_version = "HTTP/1.0"
    server_version = "RunbookRedirectCatcher"
    sys_version = ""
    timeout = 5  # seconds a connection may stay silent before it is dropped

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own error page repeats the request line; send a fixed page instead."""
        self.close_connection = True
        self._send(Answer("notfound", code if code in (400, 404, 405, 414, 431, 501) else 400))

    def parse_request(self) -> bool:
        self.server.hooks.arrived(self.connection)  # a request arrived: let it be answered
        return super().parse_request()

    def do_GET(self) -> None:
        try:
            answer = self.server.hooks.answer(self.path, self.headers.get_all("Host") or [])
        except ValueError:  # a malformed request target (e.g. a broken IPv6 literal)
            answer = Answer("notfound", 404)
        self._send(answer)
        if answer.last:
            self.wfile.flush()
            self.server.hooks.done_page_sent()

    def do_HEAD(self) -> None:
        self._send(Answer("notfound", 405), body=False)

    def do_POST(self) -> None:
        self._send(Answer("notfound", 405))

    def _send(self, answer: Answer, *, body: bool = True) -> None:
        title, message, tint = PAGES[answer.page]
        data = _PAGE.format(title=title, message=message, tint=tint).encode("utf-8")
        reason = self.responses.get(answer.status, ("Error",))[0]
        self.close_connection = True  # never kept alive: a connection must not outlive its catcher
        head = (
            f"HTTP/1.0 {answer.status} {reason}\r\n"
            + (f"Location: {answer.location}\r\n" if answer.location else "")
            + "Content-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(data)}\r\n"
            "Cache-Control: no-store\r\n"
            "Referrer-Policy: no-referrer\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n"
            "Connection: close\r\n\r\n"
        ).encode("ascii")
        self.wfile.write(head + data if body else head)

    def log_message(self, format: str, *args: object) -> None:
        return  # the request line carries the code: never log it


def handle_connection(conn: socket.socket, address: tuple[str, int], hooks: CatcherHooks) -> None:
    """Read one request from the blocking ``conn`` and answer it (the caller closes ``conn``)."""
    _Handler(conn, address, _Context(hooks))
