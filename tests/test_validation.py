"""What people paste into the form, and the message each mistake gets."""

from __future__ import annotations

import pytest

from tiktok_helpers.errors import ValidationError
from tiktok_helpers.validation import (
    clean_app_key,
    clean_app_secret,
    clean_credentials,
    clean_datetime,
    clean_redirect_url,
    clean_service_id,
    clean_timeout,
    clean_url,
    is_loopback,
)

KEY = "6abcd1234efgh"


def _base_url(raw: object) -> str:
    """A base address as the settings check it (TIKTOK_SANDBOX_URL and the host overrides)."""
    return clean_url(raw, "TIKTOK_SANDBOX_URL", allow_http=is_loopback)


SECRET = "0123456789abcdef0123456789abcdef01234567"
SID = "7312345678901234567"


@pytest.mark.parametrize(
    "raw",
    [KEY, f"  {KEY}  ", f'"{KEY}"', f"'{KEY}'", f"“{KEY}”", f"\u200b{KEY}\u00a0", f"{KEY}\n", f"<{KEY}>"],
)
def test_safe_trimming(raw: str) -> None:
    assert clean_app_key(raw) == KEY


@pytest.mark.parametrize(
    ("cleaner", "raw", "message"),
    [
        (clean_app_key, "", "is empty"),
        (clean_app_key, "   ", "is empty"),
        (clean_app_key, None, "is empty"),
        (clean_app_key, f'"{KEY}', "stray quote"),
        (clean_app_key, f"{KEY[:5]} {KEY[5:]}", "space or line break inside"),
        (clean_app_key, f"App Key: {KEY}", "starts with a label"),
        (clean_app_key, f"app_key={KEY}", "starts with a label"),
        (clean_app_key, SECRET, "looks like the App Secret"),
        (clean_app_key, SID, "looks like the service_id"),
        (clean_app_key, "abc", "only 3 characters"),
        (clean_app_key, "6abcd-1234", "only letters and digits"),
        (clean_app_key, 12345, "expected text"),
        (clean_app_secret, KEY, "looks like the App Key"),
        (clean_app_secret, "x" * 70, "longer than any App Secret"),
        (clean_app_secret, SECRET[:20] + "!" + SECRET[21:], "only letters and digits"),
        (clean_service_id, KEY, "looks like the App Key"),
        (clean_service_id, "12", "is 2 digits"),
        (clean_service_id, "7312-3456", "digits only"),
        (clean_redirect_url, "example.com/callback", "full address"),
        (clean_redirect_url, "http://example.com/callback", "must use https"),
        (clean_redirect_url, "https://example.com/cb#frag", "fragment"),
        (clean_redirect_url, "http://127.0.0.1.attacker.example:8765/cb", "is not this computer"),
        (clean_redirect_url, "http://127.0.0.1@evil.example/cb", "would go to evil.example"),
        (clean_redirect_url, "http://[::2]:8765/cb", "[::2] is not this computer"),
        (clean_redirect_url, "http://localhost.attacker.example/cb", "is not this computer"),
        (clean_redirect_url, "http://user:pass@127.0.0.1:8765/cb", "user name or password"),
        (clean_redirect_url, "https://example.com:0/cb", "port 0"),
        (clean_redirect_url, "http://localhost.:8765/cb", "trailing dot"),
        (_base_url, "http://127.0.0.1.attacker.example/", "127.0.0.1.attacker.example is not this computer"),
        (_base_url, "http://127.0.0.1@evil.example/", "would go to evil.example"),
        (_base_url, "http://[::2]/", "[::2] is not this computer"),
        (_base_url, "http://localhost.attacker.example/", "localhost.attacker.example is not this computer"),
        (_base_url, "http://127.0.0.1:8765/#frag", "# fragment"),
        (_base_url, "http://user:pass@127.0.0.1:8765/", "user name or password before an @"),
        (_base_url, "http://127.0.0.1:0/", "port 0, which is not a real port"),
        (_base_url, "https://open-api.example:0/", "port 0, which is not a real port"),
        (clean_datetime, "2026-12-01 08:00", "time zone"),
        (clean_datetime, "tomorrow", "ISO 8601"),
        (clean_timeout, "0", "between"),
        (clean_timeout, "soon", "number of seconds"),
    ],
)
def test_specific_messages(cleaner: object, raw: object, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        cleaner(raw)  # type: ignore[operator]
    assert message in str(info.value)
    assert "What to do" in str(info.value)


def test_service_id_is_taken_from_a_pasted_authorization_link() -> None:
    link = f"https://services.tiktokshop.com/open/authorize?service_id={SID}&state=x"
    assert clean_service_id(link) == SID


def test_loopback_http_redirect_is_allowed() -> None:
    assert clean_redirect_url("http://127.0.0.1:8765/callback") == "http://127.0.0.1:8765/callback"
    assert clean_redirect_url("http://localhost:8765/cb") == "http://localhost:8765/cb"
    assert clean_redirect_url("https://example.com/cb") == "https://example.com/cb"
    assert clean_redirect_url("http://127.0.0.1:0/callback") == "http://127.0.0.1:0/callback"  # any free port


@pytest.mark.parametrize("url", ["http://127.0.0.2:8765/", "http://[::1]:8765/", "http://LOCALHOST:8765/"])
def test_this_computer_over_http_is_accepted(url: str) -> None:
    assert _base_url(url) == url
    assert clean_redirect_url(url + "cb") == url + "cb"


def test_credentials_report_every_problem_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        clean_credentials("", KEY, "abc")
    assert info.value.fields == ("App Key", "App Secret", "service_id")


def test_credentials_reject_the_secret_in_both_fields() -> None:
    with pytest.raises(ValidationError, match="same as the App Key"):
        clean_credentials("a" * 20, "a" * 20, SID)


def test_credentials_clean() -> None:
    assert clean_credentials(f" {KEY} ", f'"{SECRET}"', f"\t{SID}") == (KEY, SECRET, SID)


def test_secret_value_is_never_echoed() -> None:
    broken = SECRET[:20] + " " + SECRET[20:]
    with pytest.raises(ValidationError) as info:
        clean_app_secret(broken)
    assert SECRET[:20] not in str(info.value) and SECRET[20:] not in str(info.value)
