"""The sandbox autopilot: the scripted sample seller on the sandbox's consent page (needs httpx).

:func:`walk_consent` does what a person does: open the authorization link, pick the account in
"Log in as", press Authorize (or Cancel), and read where the browser is sent. It parses the real
form of the page, so the HTML is exercised, and stops before following the final redirect. Any
seller the page offers can be picked, by key (``global``, ``us``, ``sg``: see
:data:`tiktok_helpers.sandbox.SAMPLE_SELLERS`) or by the name the page shows ("Sandbox SG Store").

It is a client of the sandbox (:mod:`tiktok_helpers.sandbox`), not part of it: it talks to the
consent page over HTTP like a browser would, and works only where that page is the sandbox's
(live consent pages need a person).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import urljoin

import httpx

__all__ = ["ConsentPageError", "walk_consent"]


class ConsentPageError(RuntimeError):
    """The consent link led to an error page or to something that is not a consent form."""


@dataclass
class _Form:
    action: str = ""
    method: str = "get"
    hidden: list[tuple[str, str]] = field(default_factory=list)
    selects: dict[str, list[str]] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)  # select name -> option texts
    buttons: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (name, value)


class _ConsentParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self._select: str | None = None
        self._in_option = False
        self._in_error_message = False
        self.error_message = ""
        self.is_error_page = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        if a.get("id") == "sandbox-error":
            self.is_error_page = True
        if a.get("id") == "error-message":
            self._in_error_message = True
        if tag == "form":
            self.forms.append(_Form(action=a.get("action", ""), method=a.get("method", "get").lower()))
            return
        if not self.forms:
            return
        form = self.forms[-1]
        if tag == "input" and a.get("type", "text").lower() == "hidden" and a.get("name"):
            form.hidden.append((a["name"], a.get("value", "")))
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            form.selects[self._select] = []
            form.labels[self._select] = []
        elif tag == "option" and self._select is not None:
            form.selects[self._select].append(a.get("value", ""))
            form.labels[self._select].append("")
            self._in_option = True
        elif tag == "button" and a.get("type", "submit").lower() == "submit" and a.get("id"):
            form.buttons[a["id"]] = (a.get("name", ""), a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("select", "option"):
            self._in_option = False
        if tag == "select":
            self._select = None
        elif tag == "p":
            self._in_error_message = False

    def handle_data(self, data: str) -> None:
        if self._in_option and self._select is not None and self.forms:
            self.forms[-1].labels[self._select][-1] += data
        if self._in_error_message:
            self.error_message += data


def walk_consent(
    link: str,
    *,
    decision: Literal["authorize", "cancel"] = "authorize",
    seller: str = "global",
    client: httpx.Client | None = None,
) -> str:
    """Open ``link``, log in as ``seller``, press ``decision``; return the redirect ``Location``.

    ``seller``: a seller the page offers, by key (``"global"``, ``"us"``, ``"sg"``) or by its
    name as the page shows it (``"Sandbox SG Store"``, any case).

    The returned URL is the app's callback URL with ``code``/``state``/... (or
    ``error=auth_denied&code=null`` after Cancel). The redirect is not followed. When the sandbox
    auto-approves, the link itself redirects and that ``Location`` is returned. Raises :class:`ConsentPageError`
    for an error page or an unexpected reply.
    """
    own_client = client is None
    http = client if client is not None else httpx.Client(timeout=10.0)
    try:
        page = http.get(link, follow_redirects=False)
        if page.is_redirect:
            return _location(page)
        parser = _ConsentParser()
        parser.feed(page.text)
        if parser.is_error_page or page.status_code != 200:
            detail = parser.error_message.strip() or f"HTTP {page.status_code}"
            raise ConsentPageError(f"the consent link led to an error page: {detail}")
        form = next((f for f in parser.forms if f.method == "post"), None)
        if form is None:
            raise ConsentPageError("the consent page has no POST form")
        if "seller" not in form.selects:
            raise ConsentPageError("the consent page has no 'Log in as' (seller) selector")
        chosen = _pick(seller, form.selects["seller"], form.labels["seller"])
        if chosen is None:
            choices = ", ".join(form.selects["seller"])
            raise ConsentPageError(f"seller {seller!r} is not offered; the page offers: {choices}")
        if decision not in form.buttons:
            raise ConsentPageError(f"the consent page has no {decision!r} button")
        button_name, button_value = form.buttons[decision]
        data = [*form.hidden, ("seller", chosen)]
        if button_name:
            data.append((button_name, button_value))
        reply = http.post(urljoin(str(page.url), form.action), data=dict(data), follow_redirects=False)
        if not reply.is_redirect:
            parser = _ConsentParser()
            parser.feed(reply.text)
            detail = parser.error_message.strip() or f"HTTP {reply.status_code}"
            raise ConsentPageError(f"submitting the consent form failed: {detail}")
        return _location(reply)
    finally:
        if own_client:
            http.close()


def _pick(wanted: str, values: list[str], labels: list[str]) -> str | None:
    """The option value for ``wanted``: a value, or an option's text with or without its
    " (REGION)" ending, in any case."""
    if wanted in values:
        return wanted
    folded = wanted.strip().casefold()
    for value, label in zip(values, labels, strict=True):
        text = " ".join(label.split())
        name = text.rsplit(" (", 1)[0] if text.endswith(")") else text
        if folded in (text.casefold(), name.casefold()):
            return value
    return None


def _location(response: httpx.Response) -> str:
    location = response.headers.get("location")
    if not location:
        raise ConsentPageError(f"HTTP {response.status_code} redirect without a Location header")
    return urljoin(str(response.url), str(location))
