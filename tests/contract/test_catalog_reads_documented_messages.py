"""Contract, catalog side: 36009004 has several causes and TikTok's message says which
(tiktok_helpers/catalog.json, ``invalid_credentials_causes``, read by ``catalog.cause_of``). Every
documented 36009004 message (tests/contract/documented.py, sources named there), as TikTok sends it
and in the longer live form (" For more details: <link>" appended), lands on the cause it names;
so does every 36009004 message the sandbox sends, driven into each of its situations."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tiktok_helpers.catalog import INVALID_CREDENTIALS_CAUSES, Cause, cause_of
from tiktok_helpers.errors import InvalidCredentials
from tiktok_helpers.regions import sandbox_endpoints
from tiktok_helpers.samples import SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from tiktok_helpers.sandbox import Sandbox
from tiktok_helpers.signing import sign

from . import documented as doc

SHOPS = "/authorization/202309/shops"


def cause_naming(word: str) -> Cause:
    """The catalog's cause of 36009004 whose words include ``word`` (the cause the message names)."""
    return next(cause for cause in INVALID_CREDENTIALS_CAUSES if word in cause.words)


@pytest.mark.parametrize(
    ("message", "word"),
    [
        *doc.INVALID_CREDENTIALS_MESSAGES,
        *((message + doc.MORE_DETAILS, word) for message, word in doc.INVALID_CREDENTIALS_MESSAGES),
    ],
)
def test_each_documented_36009004_message_lands_on_its_cause(message: str, word: str) -> None:
    expected = cause_naming(word)
    assert cause_of(36009004, message) is expected, f"{message!r} should name: {expected.cause}"
    assert InvalidCredentials(36009004, message).reason is expected  # the error the runbook shows


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox[Any]]:
    with Sandbox() as running:
        yield running


def test_each_36009004_the_sandbox_sends_lands_on_its_cause(sandbox: Sandbox[Any]) -> None:
    """The sandbox's 36009004 replies: the documented ones and its own wordings (a timestamp too old
    or not a number, no sign at all), each named by the cause the catalog finds."""
    base = sandbox_endpoints(sandbox.base_url).open_api_base

    def shops(word: str, *, app_key: str = SANDBOX_APP_KEY, timestamp: str | None = None) -> None:
        params = {"app_key": app_key, "timestamp": timestamp or str(int(time.time()))}
        if word != "sign":
            params["sign"] = sign(SHOPS, params, SANDBOX_APP_SECRET)
        reply = httpx.get(f"{base}{SHOPS}", params=params, headers={"x-tts-access-token": "TTP_garbage_token_0000"})
        body = reply.json()
        assert body["code"] == 36009004, body
        assert cause_of(36009004, body["message"]) is cause_naming(word), body["message"]

    shops("x-tts-access-token")
    shops("app_key", app_key="not_the_app_key")
    shops("timestamp", timestamp=str(int(time.time()) + 120))
    shops("timestamp", timestamp=str(int(time.time()) - 3600))
    shops("timestamp", timestamp="soon")
    shops("sign")
