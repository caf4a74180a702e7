"""The sandbox's own sellers page, ``/sandbox/sellers``: a sample seller removes the app.

``GET`` lists the sample sellers with their authorizations, each with a "Remove the app" button;
``POST`` revokes that seller's grants (and, with a webhook URL, sends the deauthorization webhook,
:mod:`.webhooks`) and shows what happened. It stands for removing the app in TikTok Shop Seller
Center, which the sandbox cannot show; the page and its wording are the sandbox's own.

Any web page the browser opens can POST to a loopback server, so the form is protected against
cross-site posts (the sandbox's choice of protection): it carries the sandbox's form token
(:attr:`~.state.SandboxState.page_token`), which a page of another site cannot read (the sandbox
answers only requests addressed to its own host, :mod:`.handler`), and a POST whose ``Origin``
header names another site is refused too. A refused POST gets HTTP 403 and changes nothing.
"""

from __future__ import annotations

import hmac
from typing import Final
from urllib.parse import parse_qsl

from .pages import SELLERS_PATH, error_page, sellers_page
from .routing import Replier, Request, Routes
from .state import SandboxState

__all__ = ["SELLER_ROUTES"]

_REFUSED: Final = (
    "This form can only be sent from the sandbox's own sellers page: open it again and press the button there."
)


def _page(state: SandboxState, outcome: str | None = None) -> str:
    sellers = [(seller, len(state.store.grants_of(seller.key))) for seller in state.sellers.values()]
    return sellers_page(sellers, state.page_token, outcome)


def show_sellers(handler: Replier, request: Request) -> None:
    handler.send_html(200, _page(handler.server.state))


def _same_site(request: Request) -> bool:
    """No ``Origin`` header (not a browser's cross-site post), or this sandbox's own origin."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    host = (request.headers.get("Host") or "").strip().lower()
    return bool(host) and origin.strip().lower() == f"http://{host}"


def remove_app(handler: Replier, request: Request) -> None:
    state = handler.server.state
    form: dict[str, str] = {}
    for key, value in parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(key, value)
    token = form.get("form_token", "").encode()
    if not _same_site(request) or not hmac.compare_digest(token, state.page_token.encode()):
        handler.send_html(403, error_page(_REFUSED, "Form refused"))
        return
    seller = state.sellers.get(form.get("seller", ""))
    if seller is None:
        choices = ", ".join(state.sellers)
        handler.send_html(400, error_page(f"Unknown seller: choose one of {choices}.", "Unknown seller"))
        return
    revocation = state.remove_app(seller.key)
    handler.send_html(200, _page(state, " ".join(revocation.lines(seller.name, state.webhook_url))))


SELLER_ROUTES: Final[Routes] = {
    SELLERS_PATH: ("page", {"GET": show_sellers, "POST": remove_app}),
}
