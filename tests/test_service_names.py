"""Names from the service are data: text that cannot be stored never makes a save fail (issue 22).

JSON can carry a lone surrogate (``"\\ud800"``); UTF-8, and so SQLite, a file or a terminal, cannot.
A seller name holding one crashed ``exchange`` with UnicodeEncodeError after TikTok had spent the
code, and the tokens were lost. Where a reply is parsed (``TokenSet.from_data``, ``Shop.from_data``)
such a character becomes U+FFFD; a token holding one is not a token (InvalidResponse).
Live mode against respx: the replies are written as the service's JSON bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from tiktok_helpers.errors import InvalidResponse
from tiktok_helpers.openapi import Shop
from tiktok_helpers.redirect import RedirectResult
from tiktok_helpers.secret import Secret
from tiktok_helpers.session import open_session
from tiktok_helpers.tokens import TokenSet, storable

from .cli_in_process import run_cli
from .saved import grants
from .test_one_owner import AUTH, LIVE, OPEN_API

SURROGATE_NAME = r"Lone \ud800 Shop \udfff"
TOKENS = (
    '{"code":0,"message":"success","request_id":"r1","data":{"access_token":"TTP_live_access_00000000001",'
    '"access_token_expire_in":4000000000,"refresh_token":"TTP_live_refresh_0000000001",'
    '"refresh_token_expire_in":4100000000,"open_id":"7000000000000000042","seller_name":"%s",'
    '"seller_base_region":"GB","user_type":0,"granted_scopes":["seller.shop.info","x\\udc00"]}}'
)
SHOPS = (
    '{"code":0,"message":"Success","request_id":"r2","data":{"shops":[{"id":"1","name":"%s",'
    '"region":"GB","seller_type":"LOCAL","cipher":"ROW_live","code":"GB1"}]}}'
)


def reply(body: str) -> httpx.Response:
    return httpx.Response(200, content=body.encode("ascii"), headers={"content-type": "application/json"})


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Path, respx.MockRouter]]:
    env = tmp_path / ".env"
    env.write_text("".join(f"{k}={v}\n" for k, v in LIVE.items()) + "TIKTOK_REDIRECT_URL=https://example.com/cb\n")
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        router.get(f"{AUTH}/api/v2/token/get").mock(return_value=reply(TOKENS % SURROGATE_NAME))
        router.get(f"{OPEN_API}/authorization/202309/shops").mock(return_value=reply(SHOPS % SURROGATE_NAME))
        yield env, router


def test_a_lone_surrogate_in_a_seller_name_never_loses_the_tokens(live: tuple[Path, respx.MockRouter]) -> None:
    env, _ = live
    with open_session(env, environ={}) as session:
        session.save_code(RedirectResult(Secret("ROW_live_code_000000000001"), bare_code=True))
        tokens = session.exchange()
        assert tokens.seller_name == "Lone \ufffd Shop \ufffd"
        assert tokens.granted_scopes == ("seller.shop.info", "x\ufffd")
        [shop] = session.authorized_shops()
        assert shop.name == "Lone \ufffd Shop \ufffd"
    [grant] = grants(env)  # committed, as a new process reads it
    assert grant.refresh_token.reveal() == "TTP_live_refresh_0000000001"
    assert grant.seller_name == "Lone \ufffd Shop \ufffd" and grant.shops[0].name == grant.seller_name
    for command in (("sellers", "--json"), ("sellers",), ("status",)):
        shown = run_cli(*command, env_file=env, code=0)
        assert "Lone \ufffd Shop" in shown.stdout
    assert json.loads(run_cli("sellers", "--json", env_file=env, code=0).stdout)["sellers"][0]["seller_name"] == (
        "Lone \ufffd Shop \ufffd"
    )


def test_a_token_holding_a_lone_surrogate_is_not_a_token() -> None:
    with pytest.raises(InvalidResponse, match="refresh_token"):
        TokenSet.from_data(
            {
                "access_token": "TTP_a",
                "access_token_expire_in": 1,
                "refresh_token": "TTP_\ud800",
                "refresh_token_expire_in": 1,
            }
        )


def test_storable_keeps_every_other_character() -> None:
    text = "Señor 店 😀 \x7f \u202e"
    assert storable(text) == text
    assert storable("\ud83d\ude00") == "\ufffd\ufffd"  # two lone halves (JSON would have joined a pair)
    assert Shop.from_data({"id": "1", "name": "a\udfffb"}).name == "a\ufffdb"
