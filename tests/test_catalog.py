"""The one error catalog: every exception draws from it, every code the runbook names is in it."""

from __future__ import annotations

import inspect
import json
from importlib import resources

import pytest

from tiktok_helpers import errors
from tiktok_helpers.catalog import CATALOG, INVALID_CREDENTIALS_CAUSES, catalog_markdown, catalog_rows, cause_of, lookup
from tiktok_helpers.errors import (
    Api2CartError,
    ApiError,
    FieldProblem,
    OpenApiError,
    TikTokHelperError,
    TokenError,
    ValidationError,
    error_class_for,
)

REQUIRED_CODES = [
    "36004004", "36004005", "36004001",
    "105001", "105002", "105005", "106001", "36009004", "36009002", "36009033", "106013",
]  # fmt: skip


def all_error_classes() -> list[type[TikTokHelperError]]:
    return [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, TikTokHelperError) and obj.__module__ == errors.__name__
    ]


@pytest.mark.parametrize("code", REQUIRED_CODES)
def test_required_codes_have_title_cause_and_fix(code: str) -> None:
    entry = CATALOG[code]
    assert entry.title and entry.cause and entry.fix
    assert entry.fix.rstrip().endswith(".")


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_every_exception_class_points_at_a_catalog_entry(cls: type[TikTokHelperError]) -> None:
    assert cls.catalog_code in CATALOG
    for code in getattr(cls, "codes", ()):
        assert str(code) in CATALOG, f"{cls.__name__} handles {code}, which the catalog lacks"


@pytest.mark.parametrize(
    ("base", "code", "expected"),
    [
        (TokenError, 36004004, "InvalidAuthCode"),
        (TokenError, 36004005, "RefreshTokenNotFound"),
        (TokenError, 36004001, "RefreshTokenExpired"),
        (TokenError, 1, "TokenError"),
        (OpenApiError, 105001, "AccessTokenInvalid"),
        (OpenApiError, 105002, "AccessTokenExpired"),
        (OpenApiError, 105005, "ScopeMissing"),
        (OpenApiError, 106001, "InvalidSignature"),
        (OpenApiError, 36009004, "InvalidCredentials"),
        (OpenApiError, 36009002, "RateLimited"),
        (OpenApiError, 36009033, "IpNotAllowed"),
        (OpenApiError, 106013, "OpenApiError"),
    ],
)
def test_error_class_for_code(base: type[ApiError], code: int, expected: str) -> None:
    assert error_class_for(base, code).__name__ == expected


def test_api_error_message_carries_code_request_id_title_and_fix() -> None:
    exc = error_class_for(TokenError, 36004004)(36004004, "invalid auth code", "REQ123", service="TikTok")
    text = str(exc)
    for part in ("Invalid auth code", "36004004", "REQ123", "invalid auth code", CATALOG["36004004"].fix):
        assert part in text
    assert exc.entry is CATALOG["36004004"]


def test_unknown_code_falls_back_per_service() -> None:
    assert TokenError(999, "x").entry.code == "tiktok.unknown"
    assert OpenApiError(999, "x").entry.code == "openapi.unknown"
    assert Api2CartError(999, "x").entry.code == "api2cart.unknown"
    assert Api2CartError(2, "Incorrect API Key").entry.code == "api2cart.2"
    assert OpenApiError(106013, "x").entry.code == "106013"


def test_lookup_falls_back() -> None:
    assert lookup("nope").code == "runbook.error"
    assert lookup(105002).title == "Access token expired"


def test_markdown_table_has_one_row_per_entry_and_escapes_pipes() -> None:
    table = catalog_markdown()
    lines = table.splitlines()
    assert lines[0].startswith("| code |")
    assert len(lines) == 2 + len(CATALOG)
    assert all(line.count("|") - line.count("\\|") == 6 for line in lines)


def test_rows_filter_by_service() -> None:
    rows = catalog_rows(["API2Cart"])
    assert rows and all(r.service == "API2Cart" for r in rows)


def test_validation_error_lists_fields() -> None:
    exc = ValidationError([FieldProblem("App Key", "is empty"), FieldProblem("service_id", "must be digits only")])
    assert exc.fields == ("App Key", "service_id")
    assert "App Key: is empty; service_id: must be digits only" in str(exc)


def test_every_entry_names_its_public_source_in_the_data_file() -> None:
    """The entries live in catalog.json, each with the public source it comes from (or, for the
    runbook's own conditions, that it is the runbook's own); the catalog is exactly that file."""
    data = json.loads(resources.files("tiktok_helpers").joinpath("catalog.json").read_text(encoding="utf-8"))
    entries = data["entries"]
    assert [item["code"] for item in entries] == list(CATALOG)
    for item in entries:
        assert len(item["source"].strip()) > 20, item["code"]
        entry = CATALOG[item["code"]]
        assert (entry.service, entry.title, entry.cause, entry.fix, entry.transient, entry.source) == (
            item["service"], item["title"], item["cause"], item["fix"], item["transient"], item["source"],
        )  # fmt: skip
    assert data["invalid_credentials_causes"]["source"]
    assert all(cause["source"] for cause in data["invalid_credentials_causes"]["causes"])


def test_refresh_token_texts_do_not_state_rotation_as_fact() -> None:
    """TikTok does not document whether a refresh replaces the refresh token: the texts that speak
    of it say so, and the refresh token is in the seller's grant, not in .env."""
    for code in ("36004005", "api2cart.100"):
        entry = CATALOG[code]
        assert "does not document" in entry.cause, code
        assert "rotated" not in entry.cause + entry.fix, code
    assert "saved in .env)" not in CATALOG["36004005"].fix
    assert ".env.grants.db" in CATALOG["36004005"].fix


#: TikTok's 36009004 messages as TikTok Shop Partner Center's "Common errors" page gives them (and,
#: for the access-token header, live replies quoted in public client code), with the cause each names
#: (an index into INVALID_CREDENTIALS_CAUSES).
_TIMESTAMP = "Invalid timestamp. The value of the `timestamp` query parameter must not "
DOCUMENTED_36009004 = [
    ("Invalid credentials. The 'x-tts-access-token' header is invalid", 0),
    ("The 'x-tts-access-token' header is invalid", 0),
    ("Invalid credentials. The `access_token` header is invalid.", 0),
    ("Missing credentials. The request does not include a required signature in the query.", 1),
    ("Unexpected identifier. The `shop_cipher` query parameter is not required for this request.", 2),
    ("Invalid API version. The `version` value is invalid or unsupported.", 3),
    ("Invalid credentials. Invalid 'app_key' query parameter.", 4),
    ("Invalid credentials. Invalid `app_key` query parameter.", 4),
    (_TIMESTAMP + "exceed the current time by more than 30 seconds.", 5),
    (_TIMESTAMP + "be earlier than 5 minutes before the current time.", 5),
    (_TIMESTAMP + "be lesser than 0.", 5),
]  # fmt: skip


@pytest.mark.parametrize(("message", "index"), DOCUMENTED_36009004)
def test_each_documented_36009004_message_names_its_cause(message: str, index: int) -> None:
    assert cause_of(36009004, message) is INVALID_CREDENTIALS_CAUSES[index]
    assert cause_of("36009004", message.upper()) is INVALID_CREDENTIALS_CAUSES[index]  # whatever the case


#: Messages TikTok documents ("Common errors", an endpoint's error table) or that public client code
#: quotes from live replies; the catalog quotes each word for word where it quotes a message.
VERBATIM = [
    ("36004004", "Invalid auth code."),
    ("36004004", "invalid auth code"),
    ("36004005", "can not find related auth record"),
    ("36004001", "rt has expired"),
    ("105001", "access token is invalid; detail:your token has been deauthorized"),
    ("105002", "Expired credentials ... Refresh your token"),
    ("105002", "access token is expired, please refresh it"),
    ("105005", "you should apply auth pkg for this api"),
    ("106001", "Invalid credentials. The 'sign' query parameter is invalid."),
    ("36009004", "Invalid credentials. The 'x-tts-access-token' header is invalid"),
    ("36009004", "Invalid credentials. Invalid 'app_key' query parameter."),
    ("36009004", _TIMESTAMP + "exceed the current time by more than 30 seconds."),
    ("36009003", "Internal error. Please try again. If the issue persists after multiple attempts, "
                 "please contact platform support."),
    ("36009033", "Access denied. Your IP address is not in the IP allow list configured for this app."),
]  # fmt: skip


@pytest.mark.parametrize(("code", "message"), VERBATIM)
def test_the_catalog_quotes_documented_and_live_messages_word_for_word(code: str, message: str) -> None:
    entry = CATALOG[code]
    assert f'"{message}"' in entry.cause, (code, message)
    assert message in entry.source, (code, message)


@pytest.mark.parametrize(("code", "status"), [("106001", 401), ("36009002", 429)])
def test_documented_http_statuses_are_stated_with_their_code(code: str, status: int) -> None:
    assert f"HTTP {status}" in CATALOG[code].cause and f"HTTP {status}" in CATALOG[code].source
    app_key = INVALID_CREDENTIALS_CAUSES[4]
    assert "HTTP 400" in app_key.cause and "HTTP 400" in app_key.source  # 36009004 for an unknown app_key


def test_36009033_says_its_message_is_documented_and_its_status_is_not() -> None:
    source = CATALOG["36009033"].source
    assert "'Common errors'" in source and "HTTP status is not documented" in source
    assert "HTTP" not in CATALOG["36009033"].cause + CATALOG["36009033"].fix


def test_scope_missing_names_the_package_get_authorized_shops_needs() -> None:
    """105005's fix names the API package Get Authorized Shops needs (TikTok Shop Partner Center docs,
    'Get Authorized Shops' 202309: "Shop Authorized Information", seller.authorization.info), besides
    the general rule: apply for the package under Manage API, then the seller authorizes again."""
    fix = CATALOG["105005"].fix
    for part in ('"Shop Authorized Information"', "seller.authorization.info", "Manage API", "authorize the app again"):
        assert part in fix, part


def test_api2cart_texts_do_not_state_undocumented_behaviour_as_fact() -> None:
    """API2Cart does not publish which return code a refused TikTok token becomes (100 fits, 107 is
    possible), nor what it does when the refresh token it holds stops working: its entries say so."""
    assert "does not publish which return code" in CATALOG["api2cart.100"].cause
    assert "107" in CATALOG["api2cart.100"].cause
    assert "does not publish which" in CATALOG["api2cart.107"].fix
