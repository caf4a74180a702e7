"""HTML for the simulated consent screen and the sandbox's sellers page. Every interpolated value
goes through :func:`_e`."""

from __future__ import annotations

import html
from collections.abc import Iterable

from .model import ConsentRequest, Seller
from .sample_data import SCOPE_DESCRIPTIONS

__all__ = ["BANNER", "DECISION_PATH", "SELLERS_PATH", "consent_page", "error_page", "redirect_page", "sellers_page"]

BANNER = "Sandbox — simulated TikTok Shop consent screen"
DECISION_PATH = "/open/authorize/decision"
#: The sandbox's own page where a sample seller removes the app (as in Seller Center).
SELLERS_PATH = "/sandbox/sellers"

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f5f5f7;margin:0;color:#161823}
.banner{background:#fe2c55;color:#fff;padding:.6em 1em;font-weight:600;text-align:center}
main{max-width:34em;margin:2em auto;background:#fff;border-radius:12px;padding:1.5em 2em;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.3em}ul{padding-left:1.2em}li{margin:.25em 0}code{font-size:.85em;color:#555}
.actions{display:flex;gap:1em;margin-top:1.5em}
button{font-size:1em;padding:.6em 1.6em;border-radius:6px;border:1px solid #ccc;cursor:pointer}
#authorize{background:#fe2c55;color:#fff;border-color:#fe2c55}
.error{border-left:4px solid #fe2c55;padding-left:1em}
table{border-collapse:collapse}td,th{padding:.2em .8em .2em 0;text-align:left}
"""

_KIND_TITLES = {
    "seller": "Seller authorization",
    "partner": "Partner authorization",
    "creator": "Creator authorization",
}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _document(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>\n"
        f'<body><div class="banner" id="sandbox-banner">{_e(BANNER)}</div>\n{body}\n</body></html>\n'
    )


def consent_page(request: ConsentRequest, sellers: Iterable[Seller], selected: str | None = None) -> str:
    """The consent screen: app, "Log in as" seller, region, scopes, Authorize / Cancel."""
    app = request.app
    seller_list = list(sellers)
    options = []
    rows = []
    for index, seller in enumerate(seller_list):
        is_selected = seller.key == selected if selected else index == 0
        options.append(
            f'<option value="{_e(seller.key)}" data-region="{_e(seller.base_region)}"'
            f"{' selected' if is_selected else ''}>{_e(seller.name)} ({_e(seller.base_region)})</option>"
        )
        shops = ", ".join(f"{shop.name} ({shop.region})" for shop in seller.shops)
        rows.append(
            f'<tr><td>{_e(seller.name)}</td><td class="region">{_e(seller.base_region)}</td><td>{_e(shops)}</td></tr>'
        )
    scopes = "\n".join(
        f'<li data-scope="{_e(scope)}">{_e(SCOPE_DESCRIPTIONS.get(scope, scope))} <code>{_e(scope)}</code></li>'
        for scope in app.scopes
    )
    if request.kind == "creator":
        id_field = f'<input type="hidden" name="app_key" value="{_e(app.app_key)}">'
    else:
        id_field = f'<input type="hidden" name="service_id" value="{_e(app.service_id)}">'
    state_field = f'<input type="hidden" name="state" value="{_e(request.state)}">' if request.state is not None else ""
    body = f"""<main id="consent" data-auth-type="{_e(request.kind)}">
<h1>{_e(_KIND_TITLES[request.kind])}</h1>
<p><strong id="app-name">{_e(app.name)}</strong> wants to access your TikTok Shop account.</p>
<form method="post" action="{_e(DECISION_PATH)}" id="consent-form">
<input type="hidden" name="auth_type" value="{_e(request.kind)}">
{id_field}
{state_field}
<p><label for="seller">Log in as</label>
<select name="seller" id="seller">
{"".join(options)}
</select></p>
<table id="sellers"><tr><th>Account</th><th>Region</th><th>Shops</th></tr>
{"".join(rows)}
</table>
<h2>The app requests these permissions</h2>
<ul id="scopes">
{scopes}
</ul>
<p>After you authorize, you will be sent back to <code id="redirect-url">{_e(app.redirect_url)}</code>.</p>
<div class="actions">
<button type="submit" id="authorize" name="decision" value="authorize">Authorize</button>
<button type="submit" id="cancel" name="decision" value="cancel">Cancel</button>
</div>
</form>
</main>"""
    return _document(f"{app.name}: authorize", body)


def error_page(message: str, title: str = "Authorization error") -> str:
    """An error screen; ``message`` must not contain secrets (it never does in the sandbox)."""
    body = f'<main id="sandbox-error" class="error"><h1>{_e(title)}</h1><p id="error-message">{_e(message)}</p></main>'
    return _document(title, body)


def redirect_page() -> str:
    """The tiny body sent with a 302. It does not repeat the Location: that carries the code."""
    return _document("Redirecting", "<main><p>Redirecting you back to the app…</p></main>")


def sellers_page(sellers: Iterable[tuple[Seller, int]], form_token: str, outcome: str | None = None) -> str:
    """The sample sellers, each with how many authorizations it holds and a "Remove the app" button
    (a form carrying ``form_token``); ``outcome``: what the last removal did, shown above."""
    rows = []
    for seller, grants in sellers:
        shops = ", ".join(f"{shop.name} ({shop.region})" for shop in seller.shops)
        rows.append(
            f'<tr data-seller="{_e(seller.key)}"><td>{_e(seller.name)}</td><td>{_e(seller.base_region)}</td>'
            f'<td>{_e(shops)}</td><td class="grants">{grants}</td><td><form method="post" action="{_e(SELLERS_PATH)}">'
            f'<input type="hidden" name="form_token" value="{_e(form_token)}">'
            f'<input type="hidden" name="seller" value="{_e(seller.key)}">'
            f'<button type="submit" name="decision" value="remove">Remove the app</button></form></td></tr>'
        )
    shown = f'<p id="outcome" class="error">{_e(outcome)}</p>' if outcome else ""
    body = f"""<main id="sellers-page">
<h1>Sample sellers</h1>
{shown}
<p>Removing the app revokes every authorization of that seller, as removing it in Seller Center
does; with a webhook URL set, the sandbox sends the deauthorization webhook.</p>
<table id="sellers"><tr><th>Account</th><th>Region</th><th>Shops</th><th>Authorizations</th><th></th></tr>
{"".join(rows)}
</table>
</main>"""
    return _document("Sandbox sellers", body)
