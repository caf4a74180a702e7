"""One catalog of every error the runbook can meet: code -> title, cause, fix.

Every exception in :mod:`tiktok_helpers.errors` takes its title and fix from here, and the
troubleshooting table in the notebooks is :func:`catalog_table`. TikTok codes
are their numbers as strings; API2Cart codes are ``api2cart.<return_code>`` (:func:`api2cart_key`);
the runbook's own conditions have dotted names. An entry marked ``transient`` passes by itself:
try again later, never re-authorize.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from .table import Table, make_table

__all__ = [
    "CATALOG",
    "INVALID_CREDENTIALS_CAUSES",
    "CatalogEntry",
    "Cause",
    "api2cart_key",
    "catalog_markdown",
    "catalog_rows",
    "catalog_table",
    "cause_of",
    "lookup",
]


@dataclass(frozen=True)
class CatalogEntry:
    code: str
    service: str
    title: str
    cause: str
    fix: str
    #: A condition that passes by itself: try again later (with backoff); never a reason to re-authorize.
    transient: bool = False


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
    # 36009004 has several causes (reference section 5: the common-errors page and live replies quoted
    # in public code); TikTok's message says which, and INVALID_CREDENTIALS_CAUSES reads it.
    CatalogEntry(
        "36009004",
        OPEN,
        "Request not accepted: access token, sign, shop_cipher, version, App Key or timestamp",
        "One of several, and TikTok's message says which: the x-tts-access-token header is invalid (a wrong, "
        "old or garbage access token; live message \"The 'x-tts-access-token' header is invalid\"), the sign "
        "parameter is missing, a shop_cipher the call does not expect, a bad API version in the path, a problem "
        "with the App Key, or a timestamp more than 5 minutes behind or 30 seconds ahead of TikTok's clock.",
        "Read TikTok's message and fix the cause it names: send the seller's latest access token (refresh it if "
        "needed), send sign, send shop_cipher only to shop-level calls, use a published API version, check the "
        "App Key, or set this computer's clock right.",
    ),
    CatalogEntry(
        "36009003",
        OPEN,
        "TikTok internal error",
        "TikTok's service failed while handling the request (the one error the Get Authorized Shops page lists); "
        "nothing is wrong with the request itself.",
        "Try again later; if it keeps failing, keep the request_id for TikTok Partner Center support.",
        transient=True,
    ),
    CatalogEntry(
        "36009002",
        OPEN,
        "Rate limited",
        "Too many requests in a short time.",
        "Wait a few seconds and try again; spread calls out.",
        transient=True,  # it passes by itself: never a reason to re-authorize
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
    # --- API2Cart: every published return_code that can reach a TikTok Shop integrator ---
    # Source: API2Cart Response Status Codes, via ../shared/reference/tiktok-shop-authorization.md §6.
    # Titles are the published meanings; transient=True are the codes §6 lists as "retry later,
    # never re-authorize" (1, 7, 9, 10, 110). 0 is success and has no entry.
    CatalogEntry(
        "api2cart.1",
        A2C,
        "Service not available",
        "API2Cart's service is not available at the moment.",
        "Try again later, waiting longer after each failed attempt (backoff). The runbook repeats reads "
        "(list, validate) a few times by itself; adding or updating a store is never repeated automatically.",
        transient=True,
    ),
    CatalogEntry(
        "api2cart.2",
        A2C,
        "Incorrect API key",
        "The x-api-key header does not match an API2Cart account.",
        "Copy the API key from the API2Cart admin panel (Account > API key) and save it as API2CART_API_KEY.",
    ),
    CatalogEntry(
        "api2cart.3",
        A2C,
        "Method is not specified",
        "The request's address names no API2Cart method (the part after /v1.1/, such as account.cart.list.json).",
        "Check API2CART_BASE_URL (default https://api.api2cart.com/v1.1); from the runbook's own calls this is "
        "a bug: report it.",
    ),
    CatalogEntry(
        "api2cart.4",
        A2C,
        "Store access denied",
        "API2Cart refused access to the store named by the store key (x-store-key) for this account.",
        "Check that the store key is one account.cart.list shows for this API key (`api2cart list`); if it is, "
        "ask API2Cart support why access to the store is denied.",
    ),
    CatalogEntry(
        "api2cart.5",
        A2C,
        "API access denied",
        "API2Cart refused API access for this account.",
        "Check the account in the API2Cart admin panel, and ask API2Cart support why API access is denied.",
    ),
    CatalogEntry(
        "api2cart.6",
        A2C,
        "API key is disabled",
        "The API key sent belongs to an API2Cart account but is disabled.",
        "Take an active API key from the API2Cart admin panel and save it as API2CART_API_KEY, or ask API2Cart "
        "support why the key was disabled.",
    ),
    CatalogEntry(
        "api2cart.7",
        A2C,
        "Store request limit exceeded",
        "Too many requests were made for this store within API2Cart's limit.",
        "Try again later, waiting longer after each failed attempt (backoff), and spread calls for this store "
        "out. The runbook repeats reads a few times by itself; adding or updating a store is never repeated "
        "automatically.",
        transient=True,
    ),
    CatalogEntry(
        "api2cart.8",
        A2C,
        "Store already exists",
        "The account already has a store with these credentials: it was added before.",
        "Do not add it again: find its store key with account.cart.list (`api2cart list`). To give it new "
        "credentials (a newer refresh token), use account.config.update (`api2cart update`).",
    ),
    CatalogEntry(
        "api2cart.9",
        A2C,
        "Internal service error",
        "An error happened inside API2Cart.",
        "Try again later, waiting longer after each failed attempt (backoff); if it keeps failing, tell API2Cart "
        "support the time and the call. Adding or updating a store is never repeated automatically: list the "
        "stores first to see whether it was done.",
        transient=True,
    ),
    CatalogEntry(
        "api2cart.10",
        A2C,
        "Account request limit exceeded",
        "This API2Cart account made too many requests within API2Cart's limit.",
        "Try again later, waiting longer after each failed attempt (backoff), and spread the account's calls "
        "out. The runbook repeats reads a few times by itself; adding or updating a store is never repeated "
        "automatically.",
        transient=True,
    ),
    CatalogEntry(
        "api2cart.100",
        A2C,
        "Store API access error",
        "API2Cart could not use the store's API: an incorrect URL, a resource not reachable, or API credentials "
        "not valid. For TikTok Shop it means the App Key, App Secret or refresh token API2Cart was given do not "
        "work: most often the refresh token was rotated away by a refresh made elsewhere (this runbook, another "
        "tool), or the seller's authorization has ended.",
        "Push the seller's current refresh token to API2Cart with account.config.update (`api2cart update`, or "
        "the admin panel); check App Key and App Secret. If the refresh token itself has ended or the seller "
        "removed the app, authorize again, then push the new one.",
    ),
    CatalogEntry(
        "api2cart.101",
        A2C,
        "Store not found",
        "No store in this API2Cart account has the store key sent (x-store-key): it was deleted, mistyped, or "
        "belongs to another account.",
        "List the stores (account.cart.list, `api2cart list`) and use a store_key from there; add the store "
        "again if it is gone.",
    ),
    CatalogEntry(
        "api2cart.102-105",
        A2C,
        "FTP/bridge error (not used for TikTok Shop)",
        "Codes 102 to 105 are API2Cart's FTP and bridge errors; a TikTok Shop store does not use FTP or a bridge.",
        "Check that the store key is the TikTok Shop store's (`api2cart list`); for another platform's store, "
        "see API2Cart's documentation of the code.",
    ),
    CatalogEntry(
        "api2cart.106",
        A2C,
        "Store URL is not reachable",
        "API2Cart could not reach the store's URL.",
        "Check the store_url the store was added with (`api2cart list`); if the address is right, try again later.",
    ),
    CatalogEntry(
        "api2cart.107",
        A2C,
        "Uncategorized error from the store",
        "The store's platform (TikTok Shop) answered with an error API2Cart does not classify.",
        "Read API2Cart's return_message for the store's own words; a TikTok code in it is explained in this catalog.",
    ),
    CatalogEntry(
        "api2cart.109",
        A2C,
        "Incorrect parameters",
        "A parameter was sent with a value or type API2Cart does not accept.",
        "Read API2Cart's return_message for the parameter; send text fields as JSON strings. From the runbook's "
        "own calls this is a bug: report it.",
    ),
    CatalogEntry(
        "api2cart.110",
        A2C,
        "Too many requests to the store's API",
        "API2Cart reached the limit of calls the store's platform (TikTok Shop) allows.",
        "Try again later, waiting longer after each failed attempt (backoff), and spread calls for this store "
        "out. The runbook repeats reads a few times by itself; adding or updating a store is never repeated "
        "automatically.",
        transient=True,
    ),
    CatalogEntry(
        "api2cart.111",
        A2C,
        "Too many items requested",
        "One call asked for more items than API2Cart returns at once.",
        "Ask for fewer items per call and page through the rest.",
    ),
    CatalogEntry(
        "api2cart.112",
        A2C,
        "Item not found",
        "The item asked for (an order, a product, ...) does not exist in the store.",
        "Check the item's id; list the items to find the right one.",
    ),
    CatalogEntry(
        "api2cart.113",
        A2C,
        "Entity already exists",
        "What the call tried to create already exists in the store.",
        "Find the existing one with a list call and use or update it instead of creating it again.",
    ),
    CatalogEntry(
        "api2cart.114",
        A2C,
        "Required parameter is not specified",
        "A parameter the call needs was not sent: for a TikTok Shop store App Key, App Secret and Refresh "
        "Token; for a call on one store, its store key (x-store-key).",
        "Read API2Cart's return_message for the parameter's name and send it (account.supported_platforms "
        "lists what TikTok Shop needs).",
    ),
    CatalogEntry(
        "api2cart.115",
        A2C,
        "Too many possible prefixes",
        "API2Cart could not tell which of several possible prefixes is the store's (the published meaning says "
        "no more than 'too many possible prefixes').",
        "Check that the store key is the TikTok Shop store's (`api2cart list`); otherwise send API2Cart support "
        "the return_message.",
    ),
    CatalogEntry(
        "api2cart.116",
        A2C,
        "Duplicate record in database",
        "API2Cart found a duplicate record in its database for what was sent.",
        "List the account's stores (`api2cart list`) to find the existing record; if that does not explain it, "
        "send API2Cart support the return_message.",
    ),
    CatalogEntry(
        "api2cart.platform_missing",
        A2C,
        "Platform not in API2Cart's list",
        "account.supported_platforms did not list the cart_id asked for (the runbook's own check, not an "
        "API2Cart return_code).",
        "Check API2CART_BASE_URL (default https://api.api2cart.com/v1.1); ask API2Cart support if TikTokShop is "
        "missing from the list.",
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
        "The seller pressed Cancel (TikTok documents error=auth_denied; access_denied also appears), "
        "or TikTok refused the app.",
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
        "redirect.port_busy",
        LOCAL,
        "Callback port not available",
        "The catcher cannot listen on the redirect URL's port: another program is listening on it, or "
        "the redirect URL's address is not one of this computer's.",
        "Free the port (close the program listening on it), or choose another redirect URL on a free port "
        "in notebook 01 and register it in Partner Center, or paste the address the browser lands on after "
        "Authorize instead. No code was sent anywhere and nothing was saved.",
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


@dataclass(frozen=True)
class Cause:
    """One cause of a code that has several: the words of TikTok's message that name it, and its fix."""

    words: tuple[str, ...]
    cause: str
    fix: str


#: The causes of 36009004 in the order reference section 5 lists them (the access-token header
#: first). Only the access-token message is a quoted live reply ("The 'x-tts-access-token' header is
#: invalid"); the others are matched by the words naming what is wrong, whatever the wording.
INVALID_CREDENTIALS_CAUSES: Final[tuple[Cause, ...]] = (
    Cause(
        ("x-tts-access-token", "access_token", "access token", "access-token"),
        "the x-tts-access-token header is invalid: the access token is wrong, mistyped, old or garbage",
        "Send the seller's latest access token in the x-tts-access-token header; refresh it "
        "if it may have been replaced.",
    ),
    Cause(
        ("sign",),
        "the sign parameter is missing",
        "Send sign: HMAC-SHA256 of the path, sorted query and body, keyed with the App Secret, in lowercase hex.",
    ),
    Cause(
        ("shop_cipher", "cipher"),
        "a shop_cipher the call does not expect",
        "Send shop_cipher only to shop-level calls (not to Get Authorized Shops), with the cipher Get "
        "Authorized Shops returned for that shop.",
    ),
    Cause(
        ("version",),
        "a bad API version in the path",
        "Use a published API version in the path, as Partner Center documents the call (e.g. 202309).",
    ),
    Cause(
        ("app_key", "app key", "appkey"),
        "a problem with the App Key",
        "Copy the App Key again from the app's page in Partner Center; the token must belong to the same app.",
    ),
    Cause(
        ("timestamp",),
        "the timestamp is more than 5 minutes behind or 30 seconds ahead of TikTok's clock",
        "Set this computer's clock right (enable network time) and send the current Unix time in seconds.",
    ),
)


def cause_of(code: str | int, message: str) -> Cause | None:
    """The cause TikTok's ``message`` names, for a code with several (36009004), else None."""
    if str(code) != "36009004":
        return None
    text = message.lower()
    return next((c for c in INVALID_CREDENTIALS_CAUSES if any(word in text for word in c.words)), None)


def lookup(code: str | int, *, fallback: str = "runbook.error") -> CatalogEntry:
    """Return the entry for ``code``, or the ``fallback`` entry when the code is unknown."""
    return CATALOG.get(str(code)) or CATALOG[fallback]


def api2cart_key(return_code: int) -> str:
    """The catalog code of an API2Cart ``return_code`` (``api2cart.<n>``; 102 to 105 share one entry)."""
    return "api2cart.102-105" if 102 <= return_code <= 105 else f"api2cart.{return_code}"


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
