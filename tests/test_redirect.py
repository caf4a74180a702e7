"""Redirect parsing: full URL, query, bare code; refusals, missing code, state checks."""

from __future__ import annotations

import pytest

from tiktok_helpers.errors import AuthorizationDenied, InvalidRedirect, MissingAuthCode, StateMismatch
from tiktok_helpers.redirect import parse_redirect

CODE = "TTP_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg"
URL = f"https://example.com/callback?app_key=6abcd1234efgh&code={CODE}&locale=en&shop_region=US&state=s-123"


def test_full_url_gives_every_parameter() -> None:
    result = parse_redirect(URL, expected_state="s-123")
    assert result.code.reveal() == CODE
    assert (result.state, result.shop_region, result.locale, result.app_key) == ("s-123", "US", "en", "6abcd1234efgh")
    assert not result.bare_code
    assert CODE not in repr(result)


@pytest.mark.parametrize(
    "text",
    [
        f"  {URL}  ",
        f'"{URL}"',
        f"'{URL}'\n",
        f"<{URL}>",
        URL.split("?", 1)[1],
        "?" + URL.split("?", 1)[1],
        URL + "#section",
        URL.replace("?", "?\n", 1),
    ],
)
def test_tolerates_what_copying_adds(text: str) -> None:
    result = parse_redirect(text, expected_state="s-123")
    assert result.code.reveal() == CODE


def test_bare_code() -> None:
    result = parse_redirect(f"  '{CODE}' ")
    assert result.code.reveal() == CODE
    assert result.bare_code
    assert result.state is None


def test_bare_code_is_accepted_even_when_a_state_is_expected() -> None:
    assert parse_redirect(CODE, expected_state="s-123").code.reveal() == CODE


def test_optional_parameters_may_be_absent() -> None:
    result = parse_redirect(f"https://example.com/cb?code={CODE}")
    assert (result.state, result.shop_region, result.locale, result.app_key) == (None, None, None, None)


@pytest.mark.parametrize(
    "text",
    [
        "https://example.com/cb?error=access_denied&code=null&state=s-123",
        "https://example.com/cb?error=auth_denied&code=null&state=s-123",  # TikTok's documented spelling
        "https://example.com/cb?error=auth_denied",
        "https://example.com/cb?code=null&state=s-123",
        "https://example.com/cb?code=&state=s-123",
        "null",
    ],
)
def test_refusals(text: str) -> None:
    with pytest.raises(AuthorizationDenied):
        parse_redirect(text, expected_state="s-123")


def test_refusal_carries_the_error_name_and_description() -> None:
    with pytest.raises(AuthorizationDenied) as info:
        parse_redirect("https://x.example/cb?error=access_denied&error_description=user+cancelled")
    assert info.value.error == "access_denied"
    assert info.value.description == "user cancelled"
    assert "error=access_denied" in str(info.value)


def test_documented_refusal_keeps_its_spelling_and_a_forged_one_is_a_state_mismatch() -> None:
    """TikTok Shop Partner Center docs, "Authorization overview" (202407): a refusal is code=null with
    error=auth_denied (access_denied also appears in public code)."""
    with pytest.raises(AuthorizationDenied) as info:
        parse_redirect("https://x.example/cb?code=null&error=auth_denied&state=s-1", expected_state="s-1")
    assert info.value.error == "auth_denied" and "error=auth_denied" in str(info.value)
    with pytest.raises(StateMismatch):
        parse_redirect("https://x.example/cb?code=null&error=auth_denied&state=other", expected_state="s-1")


@pytest.mark.parametrize("text", ["https://example.com/cb?state=s-123", "https://example.com/cb", "", "   "])
def test_missing_code(text: str) -> None:
    with pytest.raises(MissingAuthCode):
        parse_redirect(text)


@pytest.mark.parametrize(
    "text",
    [
        f"https://example.com/cb?code={CODE}&state=other",
        f"https://example.com/cb?code={CODE}",
        f"https://example.com/cb?code={CODE}&state=s-12",
    ],
)
def test_state_mismatch(text: str) -> None:
    with pytest.raises(StateMismatch):
        parse_redirect(text, expected_state="s-123")


@pytest.mark.parametrize("text", ["this is not it", "TTP<script>", "abc"])
def test_garbage(text: str) -> None:
    with pytest.raises((InvalidRedirect, MissingAuthCode)):
        parse_redirect(text)


def test_error_messages_never_contain_the_code() -> None:
    with pytest.raises(StateMismatch) as info:
        parse_redirect(f"https://example.com/cb?code={CODE}&state=other", expected_state="s-123")
    assert CODE not in str(info.value)
