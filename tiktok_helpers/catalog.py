"""One catalog of every error the runbook can meet: code -> title, cause, fix.

Every exception in :mod:`tiktok_helpers.errors` takes its title and fix from here, and the
troubleshooting table in the notebooks is :func:`catalog_table`. TikTok codes
are their numbers as strings; API2Cart codes are ``api2cart.<return_code>``; the runbook's own
conditions have dotted names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from .table import Table, make_table

__all__ = ["CATALOG", "CatalogEntry", "catalog_markdown", "catalog_rows", "catalog_table", "lookup"]


@dataclass(frozen=True)
class CatalogEntry:
    code: str
    service: str
    title: str
    cause: str
    fix: str


AUTH = "TikTok authorization service"
OPEN = "TikTok Open API"
A2C = "API2Cart"
LOCAL = "runbook"
NET = "network"

_ENTRIES: Final[tuple[CatalogEntry, ...]] = (
    # --- TikTok token service (/api/v2/token/get and /refresh) ---
    CatalogEntry(
        "36004004",
        AUTH,
        "Invalid auth code",
        "The code is wrong, was already exchanged once, or is older than 30 minutes.",
        "Open the authorization link again, approve, and exchange the new code within 30 minutes. "
        "A code works only once.",
    ),
    CatalogEntry(
        "36004005",
        AUTH,
        "Refresh token not found",
        "TikTok has no authorization for this refresh token: it was mistyped, replaced by a newer one, "
        "or the seller removed the app.",
        "Use the refresh token from the latest token reply (saved in .env); if the seller deauthorized "
        "the app, authorize again.",
    ),
    CatalogEntry(
        "36004001",
        AUTH,
        "Refresh token expired",
        "The authorization period the seller chose has ended.",
        "Ask the seller to authorize the app again (step 3), then exchange the new code.",
    ),
    CatalogEntry(
        "36004003",
        AUTH,
        "Invalid App Key or App Secret",
        "The App Key or App Secret does not belong to an app (the sandbox's code; TikTok does not "
        "document the live one).",
        "Copy App Key and App Secret again from the app's page in Partner Center and save them.",
    ),
    CatalogEntry(
        "36004002",
        AUTH,
        "Invalid parameter",
        "A parameter is missing or grant_type is wrong (the sandbox's code; TikTok does not document the live one).",
        "Use grant_type=authorized_code for /token/get and grant_type=refresh_token for /token/refresh.",
    ),
    CatalogEntry(
        "tiktok.unknown",
        AUTH,
        "TikTok returned an error",
        "TikTok answered with a code this runbook does not know.",
        "Read TikTok's message and request_id below; search the code in Partner Center's 'Common errors' page.",
    ),
    # --- TikTok Open API ---
    CatalogEntry(
        "105001",
        OPEN,
        "Access token invalid",
        "The access token is wrong or the seller deauthorized the app.",
        "Refresh the access token; if that fails with 36004005, authorize again.",
    ),
    CatalogEntry(
        "105002",
        OPEN,
        "Access token expired",
        "Access tokens live 7 days.",
        "Refresh the access token with the refresh token (notebook 'Keeping it working').",
    ),
    CatalogEntry(
        "105005",
        OPEN,
        "Scope missing",
        "The app lacks the API package (scope) this call needs, or the seller authorized before it was added.",
        "In Partner Center > Manage API add the package, then have the seller authorize again.",
    ),
    CatalogEntry(
        "106001",
        OPEN,
        "Invalid signature",
        "The sign parameter does not match: wrong App Secret, or the signed bytes differ from the sent ones.",
        "Check the App Secret; sign the exact path, sorted query and body that are sent, in lowercase hex.",
    ),
    CatalogEntry(
        "36009004",
        OPEN,
        "Invalid credentials or timestamp",
        "The App Key is wrong, or the timestamp is more than 5 minutes behind or 30 seconds ahead of TikTok's clock.",
        "Check the App Key, and set this computer's clock right (enable network time).",
    ),
    CatalogEntry(
        "36009002",
        OPEN,
        "Rate limited",
        "Too many requests in a short time.",
        "Wait a few seconds and try again; spread calls out.",
    ),
    CatalogEntry(
        "36009033",
        OPEN,
        "IP not on allowlist",
        "The app restricts calls to listed IP addresses and this machine's address is not one.",
        "Add this machine's public IP to the app's allowlist in Partner Center, or remove the allowlist.",
    ),
    CatalogEntry(
        "106013",
        OPEN,
        "shop_cipher missing",
        "A shop-level call was sent without the shop's cipher.",
        "Call Get Authorized Shops first and pass the shop's cipher.",
    ),
    CatalogEntry(
        "openapi.unknown",
        OPEN,
        "TikTok Open API returned an error",
        "The Open API answered with a code this runbook does not know.",
        "Read TikTok's message and request_id; look the code up in Partner Center's 'Common errors'.",
    ),
    # --- API2Cart ---
    CatalogEntry(
        "api2cart.2",
        A2C,
        "Incorrect API2Cart API key",
        "The x-api-key header does not match an API2Cart account.",
        "Copy the API key from the API2Cart admin panel (Account > API key) and save it as API2CART_API_KEY.",
    ),
    CatalogEntry(
        "api2cart.3",
        A2C,
        "Platform not supported",
        "The cart_id is not one API2Cart supports.",
        "Use cart_id TikTokShop.",
    ),
    CatalogEntry(
        "api2cart.4",
        A2C,
        "Malformed request",
        "The request body is not a JSON object or a field has the wrong type.",
        "Send the fields as JSON strings; this is a bug in the caller if it came from the runbook.",
    ),
    CatalogEntry(
        "api2cart.5",
        A2C,
        "Required field missing",
        "A field the TikTok Shop connection needs was not sent.",
        "Send App Key, App Secret and Refresh Token (see account.supported_platforms for the list).",
    ),
    CatalogEntry(
        "api2cart.9",
        A2C,
        "Incorrect store key",
        "No store in this API2Cart account has that store key.",
        "List the stores (account.cart.list) and use a store_key from there.",
    ),
    CatalogEntry(
        "api2cart.10",
        A2C,
        "Store credentials rejected",
        "API2Cart could not connect to TikTok Shop with the App Key, App Secret and Refresh Token given.",
        "Refresh or re-authorize to get a working refresh token, check App Key and App Secret, and add "
        "the store again.",
    ),
    CatalogEntry(
        "api2cart.unknown",
        A2C,
        "API2Cart returned an error",
        "API2Cart answered with a return_code this runbook does not know.",
        "Read API2Cart's return_message; check the API2Cart documentation for the code.",
    ),
    # --- network ---
    CatalogEntry(
        "http.connect",
        NET,
        "Service unreachable",
        "The connection could not be made: no network, a wrong host, or (sandbox) the sandbox is not running.",
        "Check the network and the host settings; in sandbox mode start the sandbox.",
    ),
    CatalogEntry(
        "http.timeout",
        NET,
        "Request timed out",
        "The service did not answer within the timeout.",
        "Try again; raise TIKTOK_HTTP_TIMEOUT if the network is slow. An auth code is not spent by a "
        "request that never arrived, but check before retrying an exchange.",
    ),
    CatalogEntry(
        "http.status",
        NET,
        "Unexpected HTTP status",
        "The service answered with an HTTP error status and no usable error body.",
        "Check the host settings (a wrong host often gives 404); retry later on 5xx.",
    ),
    CatalogEntry(
        "http.invalid_body",
        NET,
        "Unreadable reply",
        "The service answered with something that is not the JSON it should send (an HTML page, a proxy "
        "error, a truncated body).",
        "Check the host settings and any proxy between you and the service, then retry.",
    ),
    # --- the runbook's own checks ---
    CatalogEntry(
        "settings.invalid",
        LOCAL,
        "Invalid settings",
        "A value entered does not look like what Partner Center or API2Cart shows.",
        "Correct the fields named in this message and save again; nothing was written.",
    ),
    CatalogEntry(
        "settings.file",
        LOCAL,
        "Settings file problem",
        "The .env file could not be read or written.",
        "Check that the folder is writable and the file is not open elsewhere; nothing was changed.",
    ),
    CatalogEntry(
        "settings.syntax",
        LOCAL,
        "Unreadable line in .env",
        "A line of .env is not NAME=value as python-dotenv reads it (often a quote never closed); "
        "skipping it could lose values.",
        "Open .env in a text editor, fix the line named (close its quote, or quote the whole value) or "
        "delete it, and run the step again.",
    ),
    CatalogEntry(
        "settings.missing",
        LOCAL,
        "Setting missing",
        "A step needs a value that is not configured yet.",
        "Fill it in the form of the notebook named below (or in .env) and run the step again.",
    ),
    CatalogEntry(
        "redirect.denied",
        LOCAL,
        "Authorization refused",
        "The seller pressed Cancel (error=access_denied), or TikTok refused the app.",
        "Open the authorization link again and press Authorize; check the account has the right role.",
    ),
    CatalogEntry(
        "redirect.no_code",
        LOCAL,
        "No code in the redirect",
        "The text given has no code parameter.",
        "Paste the whole address from the browser's address bar after approving (it contains code=...).",
    ),
    CatalogEntry(
        "redirect.state_mismatch",
        LOCAL,
        "State does not match",
        "The redirect's state is not the one this runbook sent: an old link, another session, or a forged request.",
        "Build a fresh authorization link, open it, approve, and use that redirect.",
    ),
    CatalogEntry(
        "redirect.invalid",
        LOCAL,
        "Not a redirect address",
        "The text given is neither the redirect URL nor an auth code.",
        "Paste the full URL from the browser's address bar, or only the value after code=.",
    ),
    CatalogEntry(
        "redirect.timeout",
        LOCAL,
        "No redirect arrived in time",
        "The browser did not come back to the callback URL before the deadline.",
        "Open the link again, or paste the redirect URL by hand (e.g. when the browser runs on another machine).",
    ),
    CatalogEntry(
        "runbook.error",
        LOCAL,
        "Runbook error",
        "An unexpected condition in the runbook.",
        "Read the message; report it with the steps that led to it.",
    ),
)

CATALOG: Final[dict[str, CatalogEntry]] = {entry.code: entry for entry in _ENTRIES}


def lookup(code: str | int, *, fallback: str = "runbook.error") -> CatalogEntry:
    """Return the entry for ``code``, or the ``fallback`` entry when the code is unknown."""
    return CATALOG.get(str(code)) or CATALOG[fallback]


def catalog_rows(services: Iterable[str] | None = None) -> list[CatalogEntry]:
    """Return the entries, optionally only those of the given services, in catalog order."""
    wanted = set(services) if services is not None else None
    return [e for e in _ENTRIES if wanted is None or e.service in wanted]


def catalog_table(services: Iterable[str] | None = None) -> Table:
    """The catalog as a :class:`~tiktok_helpers.table.Table` (code, service, problem, cause, fix):
    Markdown in a notebook, aligned text in a terminal."""
    return make_table(
        ("code", "service", "problem", "cause", "fix"),
        ((e.code, e.service, e.title, e.cause, e.fix) for e in catalog_rows(services)),
    )


def catalog_markdown(services: Iterable[str] | None = None) -> str:
    """Render the catalog as a Markdown table (code, service, problem, cause, fix)."""
    return catalog_table(services).markdown()
