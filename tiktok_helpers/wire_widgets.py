"""What went over the wire, as a notebook shows it (ipywidgets): each request and its reply, secrets
masked, the way an OAuth playground shows them. Import only where widgets are built.

``session.trace()`` turns recording on (:mod:`tiktok_helpers.wire`); ``mark = session.wire.mark()``
before a step and ``wire_panel(session, since=mark)`` after it show what that step sent. The panel's
plain-text form (what a saved notebook keeps) leaves out the milliseconds, which change every run.
"""

from __future__ import annotations

import html
from typing import Any, Final

import ipywidgets as w

from .session import Session
from .widget_kit import bundle
from .wire import Exchange, WireLog, heading, render_text

__all__ = ["WirePanel", "wire_panel"]

TITLE: Final = "What went over the wire"
#: Up to this many exchanges are all shown open; beyond it, only the newest.
OPEN_ALL: Final = 3

_PRE = (
    "margin:0.2em 0 0.6em 1.2em;padding:0.4em 0.6em;background:var(--jp-layout-color2,#f6f8fa);"
    "white-space:pre-wrap;word-break:break-all;font-size:0.9em;max-height:28em;overflow:auto"
)


def _status_html(exchange: Exchange) -> str:
    if exchange.status is None:
        return '<span style="color:#cf222e">no reply</span>'
    colour = "#1a7f37" if 200 <= exchange.status < 300 else "#9a6700" if exchange.status < 400 else "#cf222e"
    return f'<span style="color:{colour}">HTTP {exchange.status}</span>'


def _block(lines: list[str]) -> str:
    return f'<pre style="{_PRE}">{html.escape(chr(10).join(lines))}</pre>'


def exchange_html(exchange: Exchange, number: int, *, opened: bool) -> str:
    """One exchange, collapsible: its heading, the request and the reply (every value already masked)."""
    path = exchange.url.split("?", 1)[0].split("://", 1)[-1].partition("/")[2]
    summary = (
        f"<b>{html.escape(heading(exchange, number))}</b> &nbsp; {html.escape(exchange.method)} "
        f"<code>/{html.escape(path)}</code> &rarr; {_status_html(exchange)}"
    )
    request = [f"{exchange.method} {exchange.url}", *(f"{n}: {v}" for n, v in exchange.request_headers)]
    if exchange.request_body:
        request += ["", exchange.request_body]
    if exchange.status is None:
        reply = [f"no reply: {exchange.error or 'no answer'}"]
    else:
        reply = [f"HTTP {exchange.status}", *(f"{n}: {v}" for n, v in exchange.response_headers)]
        if exchange.response_body:
            reply += ["", exchange.response_body]
    return (
        f'<details{" open" if opened else ""} style="margin:0.3em 0"><summary>{summary}</summary>'
        f'<div style="margin-left:1em"><b>Request</b>{_block(request)}<b>Response</b>{_block(reply)}</div></details>'
    )


class WirePanel:
    """The exchanges of a :class:`~tiktok_helpers.wire.WireLog` (all it keeps, or those since a mark),
    newest last, each collapsible; **Refresh** shows what was recorded since the panel was drawn."""

    def __init__(
        self, log: WireLog, *, since: int | None = None, until: int | None = None, title: str = TITLE, note: str = ""
    ) -> None:
        self.log = log
        self.since = since
        #: A mark taken after the step: what was recorded later is not this step's (None: no end).
        self.until = until
        self.title = title
        self.note = note
        self.heading = w.HTML()
        self.body = w.HTML()
        self.refresh_button = w.Button(description="Refresh", icon="refresh", layout=w.Layout(width="auto"))
        self.refresh_button.on_click(lambda _: self.refresh())
        self.widget = w.VBox([w.HBox([self.heading, self.refresh_button]), self.body])
        #: The exchanges shown now (as of the last :meth:`refresh`).
        self.shown: list[Exchange] = []
        self.refresh()

    def exchanges(self) -> list[Exchange]:
        kept = self.log.entries() if self.since is None else self.log.since(self.since)
        return kept if self.until is None else [e for e in kept if e.seq < self.until]

    def _summary(self, exchanges: list[Exchange]) -> str:
        count = len(exchanges)
        if not count:
            return f"{self.title}: nothing"
        what = f"{count} requests and their replies" if count != 1 else "1 request and its reply"
        return f"{self.title}: {what} (secrets masked)"

    def refresh(self) -> None:
        """Draw the exchanges recorded now."""
        exchanges = self.shown = self.exchanges()
        note = f'<div style="color:#57606a">{html.escape(self.note)}</div>' if self.note else ""
        self.heading.value = f"<b>{html.escape(self._summary(exchanges))}</b>{note}"
        opened = len(exchanges) <= OPEN_ALL
        self.body.value = "".join(
            exchange_html(e, n, opened=opened or n == len(exchanges)) for n, e in enumerate(exchanges, 1)
        )

    def text(self) -> str:
        """The plain form of what is shown: what a saved notebook keeps (no milliseconds)."""
        exchanges = self.shown
        lines = [self._summary(exchanges), *([self.note] if self.note else [])]
        if exchanges:
            lines += ["", render_text(exchanges, timing=False)]
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        return bundle(self.widget, self.text(), **kwargs)


def wire_panel(
    source: Session | WireLog, *, since: int | None = None, until: int | None = None, title: str = TITLE
) -> WirePanel:
    """What went over the wire: ``source`` is a session (traced with ``session.trace()``) or a log;
    ``since``: only what was recorded after ``log.mark()`` returned it (one step's requests);
    ``until``: and before a later mark (the step is over: **Refresh** adds nothing after it).

    A session not traced yet starts recording now (nothing it sent before was kept), and the panel
    says so."""
    if isinstance(source, WireLog):
        return WirePanel(source, since=since, until=until, title=title)
    note = ""
    if source.wire is None:
        note = "Recording starts now: call session.trace() before a step to see what it sends."
    return WirePanel(source.trace(), since=since, until=until, title=title, note=note)
