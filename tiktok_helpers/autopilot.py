"""The sandbox autopilot: the scripted sample seller on the sandbox's consent page (needs httpx).

Sandbox-only helpers live here, beside it: :func:`approve` presses the button and lets the
"browser" follow the redirect only to a catcher of this runbook that is still waiting, and
:func:`approval_message` says in a sentence what that did.

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

import warnings
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import urljoin, urlsplit

import httpx

from .catcher import CatcherState, CatcherStatus, RedirectCatcher

__all__ = [
    "NOT_FOLLOWED",
    "SANDBOX_SELLER_FIELD",
    "ConsentPageError",
    "SellerNotOffered",
    "approval_message",
    "approve",
    "walk_consent",
]

#: The start of the warning :func:`approve` gives when it does not follow a redirect.
NOT_FOLLOWED = "Sandbox: the redirect was not followed"

#: The field a problem with the sandbox seller asked for carries (a value to compare, not a phrase).
SANDBOX_SELLER_FIELD = "sandbox seller"


class ConsentPageError(RuntimeError):
    """The consent link led to an error page or to something that is not a consent form."""


class SellerNotOffered(ConsentPageError):
    """The seller asked for is not among those the consent page's "Log in as" offers (``offered``:
    each as ``key (name)``, as the page shows them)."""

    def __init__(self, seller: str, offered: list[str]) -> None:
        self.seller, self.offered = seller, offered
        super().__init__(f"{seller.strip()!r} is not offered by the consent page; it offers {', '.join(offered)}")


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
            raise SellerNotOffered(seller, _offered(form.selects["seller"], form.labels["seller"]))
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


def _offered(values: list[str], labels: list[str]) -> list[str]:
    """The page's sellers as a person can give them: ``us (Sandbox US Store)``."""
    shown = []
    for value, label in zip(values, labels, strict=True):
        text = " ".join(label.split())
        name = text.rsplit(" (", 1)[0] if text.endswith(")") else text
        shown.append(f"{value} ({name})" if name and name.casefold() != value.casefold() else value)
    return shown


def _location(response: httpx.Response) -> str:
    location = response.headers.get("location")
    if not location:
        raise ConsentPageError(f"HTTP {response.status_code} redirect without a Location header")
    return urljoin(str(response.url), str(location))


def _waiting_at(catcher: RedirectCatcher | None, location: str) -> bool:
    """True when ``catcher`` is still waiting and ``location`` is its address."""
    if catcher is None or catcher.status().state is not CatcherState.WAITING:
        return False
    try:
        got, own = urlsplit(location), urlsplit(catcher.redirect_url)
        return (got.scheme, got.hostname, got.port, got.path) == (own.scheme, own.hostname, own.port, own.path)
    except ValueError:
        return False


def approve(
    link: str,
    *,
    client: httpx.Client,
    decision: Literal["authorize", "cancel"] = "authorize",
    seller: str = "global",
    follow: bool = False,
    follow_to: RedirectCatcher | None = None,
) -> str:
    """Press ``decision`` on the sandbox's consent page for ``link`` as ``seller``; the redirect address.

    With ``follow``, the address is also loaded as a browser would, but only when it is the address
    of ``follow_to`` (this runbook's catcher) and that catcher is still waiting: the code is never
    handed to another program listening there. Otherwise (no catcher, or not waiting there) nothing
    is loaded and a warning (starting with :data:`NOT_FOLLOWED`) says so. Raises
    :class:`ConsentPageError` or ``httpx.HTTPError`` when the page does not work.
    """
    location = walk_consent(link, decision=decision, seller=seller, client=client)
    if not follow:
        return location
    if _waiting_at(follow_to, location):
        client.get(location, timeout=10, follow_redirects=True)  # the browser loads the callback URL
    else:
        warnings.warn(
            f"{NOT_FOLLOWED}: no catcher of this runbook is listening at its address (another program may "
            "be), so the code was not sent there. Paste the address approve returned instead.",
            stacklevel=2,
        )
    return location


def approval_message(before: CatcherStatus | None, after: CatcherStatus | None, location: str) -> str:
    """What pressing Authorize in the sandbox did, for a person: ``before`` and ``after`` are the
    catcher's status around the press (None: no catcher was started), ``location`` the address the
    consent page sent the browser to (only its scheme, host, port and path are shown: its query
    holds the code)."""
    pressed = "Sandbox: Authorize pressed on the consent page"
    paste = (
        "open the link above in your browser, press Authorize, paste the address the browser lands on "
        "into the panel's Redirect URL field and press 'Use this address'; then run the next cell"
    )
    if before is None or after is None:
        return (
            f"{pressed}, but the redirect was not followed: no catcher of this runbook is listening (the "
            f"panel above says why), so the code went nowhere. To go on, {paste}."
        )
    if before.state is not CatcherState.WAITING:
        return (
            f"{pressed}, but the redirect was not followed: the catcher was no longer waiting "
            f"({before.message}), so the code went nowhere. Press 'Listen again' in the panel (or run its "
            f"cell again) for a new catcher, then this cell; or {paste}."
        )
    if after.state is CatcherState.RECEIVED:
        return f"{pressed}; the browser followed the redirect and the catcher received the code."
    if after.state is CatcherState.WAITING:
        try:
            parts = urlsplit(location)
            sent_to = f"{parts.scheme}://{parts.netloc}{parts.path}"
        except ValueError:
            sent_to = "another address"
        return (
            f"{pressed}, but the code did not reach the catcher: the consent page sent the browser to "
            f"{sent_to}, the catcher waits at {after.address}. Make the redirect URL saved in notebook 01 "
            f"the catcher's, run this notebook again; or {paste}."
        )
    return (
        f"{pressed}; the browser followed the redirect, and the catcher says: {after.message}. "
        "Run the next cell to see the details."
    )
