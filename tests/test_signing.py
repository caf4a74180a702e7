"""The 202309 signature, checked against public worked examples: TikTok Shop Partner Center's "Sign
your API request" page (the Get Authorized Shops example) and EcomPHP/tiktokshop-php's
tests/ClientTest.php (testPrepareSignature: /test-api, foo=bar)."""

from __future__ import annotations

import pytest

from tiktok_helpers.signing import sign, string_to_sign


def test_reference_vector_authorized_shops() -> None:
    params = {"app_key": "29a39d", "timestamp": "1623812664"}
    path = "/authorization/202309/shops"
    assert (
        string_to_sign(path, params, "e59af819cc")
        == "e59af819cc/authorization/202309/shopsapp_key29a39dtimestamp1623812664e59af819cc"
    )
    assert sign(path, params, "e59af819cc") == "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"


def test_reference_vector_no_timestamp_no_body() -> None:
    assert sign("/test-api", {"foo": "bar"}, "app_secret") == (
        "d3cb7fe11ecae942802ceeca67e7cf10120cc12f1517d45fbc1c8cfe5413c80f"
    )


def test_sign_and_access_token_are_excluded() -> None:
    base = {"app_key": "29a39d", "timestamp": "1623812664"}
    with_extra = {**base, "sign": "whatever", "access_token": "TTP_x"}
    assert sign("/p", with_extra, "s3cret") == sign("/p", base, "s3cret")


def test_params_are_sorted_by_key_not_insertion_order() -> None:
    assert sign("/p", {"b": "2", "a": "1"}, "k") == sign("/p", {"a": "1", "b": "2"}, "k")
    assert string_to_sign("/p", {"b": "2", "a": "1"}, "k") == "k/pa1b2k"


def test_body_is_appended_unless_multipart() -> None:
    body = b'{"x":1}'
    assert string_to_sign("/p", {}, "k", body) == 'k/p{"x":1}k'
    assert string_to_sign("/p", {}, "k", body, "multipart/form-data; boundary=x") == "k/pk"
    assert sign("/p", {}, "k", body) != sign("/p", {}, "k")


def test_signature_is_lowercase_hex_of_64_chars() -> None:
    value = sign("/p", {"a": "1"}, "k")
    assert len(value) == 64
    assert value == value.lower()
    int(value, 16)


def test_path_must_be_absolute() -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        sign("authorization/202309/shops", {}, "k")


# TikTok Shop Partner Center, "Webhooks overview": the official webhook signature test vector.
WEBHOOK_VECTOR_BODY = (
    b'{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507",'
    b'"timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178",'
    b'"order_status":"UNPAID","update_time":1718305585}}'
)
WEBHOOK_VECTOR_SIGNATURE = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"


def test_webhook_signature_matches_the_official_vector() -> None:
    from tiktok_helpers.signing import webhook_signature

    assert webhook_signature("abcdef", "123", WEBHOOK_VECTOR_BODY) == WEBHOOK_VECTOR_SIGNATURE


def test_webhook_signature_changes_with_any_byte_and_refuses_text() -> None:
    import json

    import pytest

    from tiktok_helpers.signing import webhook_signature

    changed = WEBHOOK_VECTOR_BODY.replace(b"UNPAID", b"UNPAId")
    assert webhook_signature("abcdef", "123", changed) != WEBHOOK_VECTOR_SIGNATURE
    reserialized = json.dumps(json.loads(WEBHOOK_VECTOR_BODY)).encode()  # spaces after ':' and ','
    assert webhook_signature("abcdef", "123", reserialized) != WEBHOOK_VECTOR_SIGNATURE
    with pytest.raises(TypeError):
        webhook_signature("abcdef", "123", WEBHOOK_VECTOR_BODY.decode())  # type: ignore[arg-type]
