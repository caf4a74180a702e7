"""Webhook deliveries: the signature checked on the raw bytes, then the notice read.

Facts from TikTok Shop Partner Center docs: "Webhooks overview" (the signature, the envelope, the
official test vector below), and the topic pages "6 Seller deauthorization", "7 Upcoming
authorization expiration" and "20 Creator deauthorization" (their event examples).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tiktok_helpers import webhooks
from tiktok_helpers.errors import TikTokHelperError
from tiktok_helpers.secret import Secret
from tiktok_helpers.signing import webhook_signature
from tiktok_helpers.webhooks import (
    Notice,
    NoticeType,
    WebhookBodyInvalid,
    WebhookError,
    WebhookSignatureInvalid,
    is_valid,
    parse,
    read_delivery,
    verify,
)

# "Webhooks overview": the official test vector (App Key abcdef, App Secret 123).
VECTOR_KEY = "abcdef"
VECTOR_SECRET = "123"
VECTOR_BODY = (
    b'{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507",'
    b'"timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178",'
    b'"order_status":"UNPAID","update_time":1718305585}}'
)
VECTOR_SIGNATURE = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"

# The topic pages' event examples.
SELLER_DEAUTHORIZATION = (
    b'{"type":6,"tts_notification_id":"7327112393057371910","shop_id":"7494049642642441621",'
    b'"timestamp":1644412885,"data":{"message":"Shop_id {xxx} is deauthorized from your APP by merchant."}}'
)
UPCOMING_EXPIRATION = (
    b'{"type":7,"tts_notification_id":"7327112393057371910","shop_id":"7494049642642441621",'
    b'"timestamp":1644412885,"data":{"message":"Authorization of shop_id {xxx} is expiring in {x} days. '
    b'Please direct the merchant to re-authorize.","expiration_time":"1627587506"}}'
)
CREATOR_DEAUTHORIZATION = (
    b'{"type":20,"creator_open_id":"VIyStQAAAADCBQ40s4TzOSSOEIW-bM5O9cod3vK8OytW8m-bnBYlXw",'
    b'"tts_notification_id":"7327112393057371910","timestamp":1644412885,"data":{"cancel_time":1644412885}}'
)

LONG_SECRET = "webhook-test-app-secret-0123456789abcdef"


def utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


# --- the signature --------------------------------------------------------------------------------


def test_the_official_vector_verifies_and_reads() -> None:
    verify(VECTOR_BODY, VECTOR_SIGNATURE, app_key=VECTOR_KEY, app_secret=VECTOR_SECRET)
    verify(VECTOR_BODY, VECTOR_SIGNATURE, app_key=VECTOR_KEY, app_secret=Secret(VECTOR_SECRET))
    assert is_valid(VECTOR_BODY, VECTOR_SIGNATURE, app_key=VECTOR_KEY, app_secret=VECTOR_SECRET)
    notice = read_delivery(VECTOR_BODY, VECTOR_SIGNATURE, app_key=VECTOR_KEY, app_secret=Secret(VECTOR_SECRET))
    assert notice.type == 1 and notice.kind is None  # ORDER_STATUS_CHANGE: kept, not acted on
    assert notice.notification_id == "7380066284010030890"
    assert notice.shop_id == "7495540735365777507"
    assert notice.timestamp == utc(1718305585)
    assert notice.data["order_status"] == "UNPAID" and notice.data["is_on_hold_order"] is True
    assert notice.expires_at is None and notice.message == "" and notice.creator_open_id == ""


def test_any_changed_byte_does_not_verify() -> None:
    for position in range(len(VECTOR_BODY)):
        changed = bytearray(VECTOR_BODY)
        changed[position] ^= 0x01
        assert not is_valid(bytes(changed), VECTOR_SIGNATURE, app_key=VECTOR_KEY, app_secret=VECTOR_SECRET)


def test_reserialized_json_does_not_verify() -> None:
    for reserialized in (
        json.dumps(json.loads(VECTOR_BODY)).encode(),
        json.dumps(json.loads(VECTOR_BODY), separators=(",", ":"), sort_keys=True).encode(),
    ):
        with pytest.raises(WebhookSignatureInvalid):
            read_delivery(reserialized, VECTOR_SIGNATURE, app_key=VECTOR_KEY, app_secret=VECTOR_SECRET)


@pytest.mark.parametrize(
    "signature",
    [
        VECTOR_SIGNATURE.upper(),
        f"Bearer {VECTOR_SIGNATURE}",
        f" {VECTOR_SIGNATURE}",
        VECTOR_SIGNATURE[:-1],
        f"{VECTOR_SIGNATURE}0",
        "é" * 64,
    ],
    ids=["uppercase-hex", "bearer", "leading-space", "short", "long", "not-ascii"],
)
def test_only_the_exact_lowercase_signature_verifies(signature: str) -> None:
    with pytest.raises(WebhookSignatureInvalid, match="not the signature of this body for App Key abcdef"):
        verify(VECTOR_BODY, signature, app_key=VECTOR_KEY, app_secret=VECTOR_SECRET)


@pytest.mark.parametrize("signature", [None, ""])
def test_a_missing_signature_is_refused(signature: str | None) -> None:
    with pytest.raises(WebhookSignatureInvalid, match="no Authorization header"):
        verify(VECTOR_BODY, signature, app_key=VECTOR_KEY, app_secret=VECTOR_SECRET)
    assert not is_valid(VECTOR_BODY, signature, app_key=VECTOR_KEY, app_secret=VECTOR_SECRET)


def test_another_apps_key_or_secret_does_not_verify() -> None:
    assert not is_valid(VECTOR_BODY, VECTOR_SIGNATURE, app_key="abcdeg", app_secret=VECTOR_SECRET)
    assert not is_valid(VECTOR_BODY, VECTOR_SIGNATURE, app_key=VECTOR_KEY, app_secret="124")


def test_the_signature_error_says_what_to_do_and_never_shows_the_secret_or_the_expected_value() -> None:
    body = SELLER_DEAUTHORIZATION
    expected = webhook_signature(VECTOR_KEY, LONG_SECRET, body)
    wrong = "0" * 64
    with pytest.raises(WebhookSignatureInvalid) as caught:
        verify(body, wrong, app_key=VECTOR_KEY, app_secret=Secret(LONG_SECRET))
    error = caught.value
    assert isinstance(error, WebhookError) and isinstance(error, TikTokHelperError)
    for text in (str(error), repr(error), error.detail, error.title, error.fix, error.cause):
        assert LONG_SECRET not in text and expected not in text and wrong not in text
    assert "What to do:" in str(error) and "App Key and App Secret" in error.fix


def test_verify_takes_only_raw_bytes_and_a_configured_app() -> None:
    with pytest.raises(TypeError):
        verify(VECTOR_BODY.decode(), VECTOR_SIGNATURE, app_key=VECTOR_KEY, app_secret=VECTOR_SECRET)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="App Key and App Secret"):
        verify(VECTOR_BODY, VECTOR_SIGNATURE, app_key=VECTOR_KEY, app_secret=Secret(""))
    with pytest.raises(ValueError, match="App Key and App Secret"):
        verify(VECTOR_BODY, VECTOR_SIGNATURE, app_key="", app_secret=VECTOR_SECRET)


def test_the_signature_is_checked_before_the_body_is_read() -> None:
    with pytest.raises(WebhookSignatureInvalid):
        read_delivery(b"not json at all", "0" * 64, app_key=VECTOR_KEY, app_secret=VECTOR_SECRET)
    signed = webhook_signature(VECTOR_KEY, VECTOR_SECRET, b"not json at all")
    with pytest.raises(WebhookBodyInvalid):
        read_delivery(b"not json at all", signed, app_key=VECTOR_KEY, app_secret=VECTOR_SECRET)


# --- reading a notice -----------------------------------------------------------------------------


def test_a_seller_deauthorization_is_read() -> None:
    notice = parse(SELLER_DEAUTHORIZATION)
    assert notice.kind is NoticeType.SELLER_DEAUTHORIZATION
    assert notice == Notice(
        type=6,
        notification_id="7327112393057371910",
        shop_id="7494049642642441621",
        timestamp=utc(1644412885),
        message="Shop_id {xxx} is deauthorized from your APP by merchant.",
        data={"message": "Shop_id {xxx} is deauthorized from your APP by merchant."},
    )
    assert notice.describe() == (
        "type 6 SELLER_DEAUTHORIZATION for shop 7494049642642441621 (notification 7327112393057371910)"
    )


def test_an_upcoming_expiration_reads_its_expiration_time_string() -> None:
    notice = parse(UPCOMING_EXPIRATION)
    assert notice.kind is NoticeType.UPCOMING_AUTHORIZATION_EXPIRATION
    assert notice.expires_at == utc(1627587506)
    assert notice.message.startswith("Authorization of shop_id {xxx} is expiring")
    assert notice.describe() == (
        "type 7 UPCOMING_AUTHORIZATION_EXPIRATION for shop 7494049642642441621, authorization expires "
        "2021-07-29 19:38 UTC (notification 7327112393057371910)"
    )
    as_number = UPCOMING_EXPIRATION.replace(b'"1627587506"', b"1627587506")
    assert parse(as_number).expires_at == utc(1627587506)
    without = b'{"type":7,"tts_notification_id":"n","shop_id":"1","data":{"message":"m"}}'
    assert parse(without).expires_at is None


def test_a_creator_deauthorization_carries_the_creator_not_a_shop() -> None:
    notice = parse(CREATOR_DEAUTHORIZATION)
    assert notice.kind is NoticeType.CREATOR_DEAUTHORIZATION
    assert notice.creator_open_id == "VIyStQAAAADCBQ40s4TzOSSOEIW-bM5O9cod3vK8OytW8m-bnBYlXw"
    assert notice.shop_id == "" and notice.data == {"cancel_time": 1644412885}
    assert "for creator VIyStQ" in notice.describe()
    # Not confirmed by a public source, accepted: the open_id inside data (the top level wins).
    inside = b'{"type":20,"tts_notification_id":"n","data":{"creator_open_id":"inside"}}'
    assert parse(inside).creator_open_id == "inside"
    both = b'{"type":20,"tts_notification_id":"n","creator_open_id":"top","data":{"creator_open_id":"inside"}}'
    assert parse(both).creator_open_id == "top"


def test_an_unknown_type_is_kept_not_refused() -> None:
    notice = parse(b'{"type":1,"tts_notification_id":"n-1","shop_id":"42","data":{"expiration_time":"soon"}}')
    assert notice.type == 1 and notice.kind is None and notice.expires_at is None
    assert notice.describe() == "type 1 (not handled here) for shop 42 (notification n-1)"


def test_lenient_fields_are_read_or_left_empty() -> None:
    notice = parse(b'{"type":6,"tts_notification_id":"n","shop_id":123455,"timestamp":"soon"}')
    assert notice.shop_id == "123455" and notice.timestamp is None and notice.data == {} and notice.message == ""
    notice = parse(b'{"type":6,"tts_notification_id":"n","shop_id":[1],"timestamp":1e400,"data":null}')
    assert notice.shop_id == "" and notice.timestamp is None
    assert parse(b'{"type":6,"tts_notification_id":"n","timestamp":99999999999999999999}').timestamp is None


def test_a_notice_is_read_only_and_hashable() -> None:
    notice = parse(b'{"type":1,"tts_notification_id":"n","data":{"items":[{"id":1}],"inner":{"a":1}}}')
    with pytest.raises(TypeError):
        notice.data["new"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        notice.data["inner"]["a"] = 2
    assert notice.data["items"] == ({"id": 1},)
    body = b'{"type":1,"tts_notification_id":"n","data":{"items":[{"id":1}],"inner":{"a":1}}}'
    assert len({notice, parse(body)}) == 1  # hashable (data left out of the hash), equal by value
    assert hash(notice) == hash(Notice(type=1, notification_id="n"))
    with pytest.raises(AttributeError):
        notice.shop_id = "x"  # type: ignore[misc]


INVALID_BODIES = {
    "empty": (b"", "not JSON"),
    "not-json": (b"not json", "not JSON"),
    "not-utf8": (b'{"type":6,"tts_notification_id":"\xff"}', "not JSON"),
    "nan": (b'{"type":NaN,"tts_notification_id":"n"}', "not JSON"),
    "too-deep": (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    "array": (b"[1,2]", "JSON list, not an object"),
    "string": (b'"hello"', "JSON str, not an object"),
    "null": (b"null", "JSON null, not an object"),
    "no-type": (b'{"tts_notification_id":"n"}', "'type' must be an integer, found null"),
    "type-string": (b'{"type":"6","tts_notification_id":"n"}', "'type' must be an integer, found str"),
    "type-float": (b'{"type":6.0,"tts_notification_id":"n"}', "'type' must be an integer, found float"),
    "type-bool": (b'{"type":true,"tts_notification_id":"n"}', "'type' must be an integer, found bool"),
    "no-id": (b'{"type":6,"shop_id":"1"}', "'tts_notification_id' must be a non-empty string, found null"),
    "id-number": (b'{"type":6,"tts_notification_id":7327112393057371910}', "found int"),
    "id-empty": (b'{"type":6,"tts_notification_id":""}', "found an empty string"),
    "data-list": (b'{"type":6,"tts_notification_id":"n","data":[]}', "'data' must be an object, found list"),
    "expiry-words": (b'{"type":7,"tts_notification_id":"n","data":{"expiration_time":"soon"}}', "expiration_time"),
    "expiry-empty": (b'{"type":7,"tts_notification_id":"n","data":{"expiration_time":""}}', "expiration_time"),
    "expiry-negative": (b'{"type":7,"tts_notification_id":"n","data":{"expiration_time":"-5"}}', "expiration_time"),
    "expiry-fraction": (b'{"type":7,"tts_notification_id":"n","data":{"expiration_time":"1.5"}}', "expiration_time"),
    "expiry-float": (b'{"type":7,"tts_notification_id":"n","data":{"expiration_time":1.5}}', "found a float"),
    "expiry-bool": (b'{"type":7,"tts_notification_id":"n","data":{"expiration_time":true}}', "found a bool"),
    "expiry-spaces": (b'{"type":7,"tts_notification_id":"n","data":{"expiration_time":" 16"}}', "expiration_time"),
    "expiry-huge": (b'{"type":7,"tts_notification_id":"n","data":{"expiration_time":"9999999999999"}}', "seconds"),
    "expiry-object": (b'{"type":7,"tts_notification_id":"n","data":{"expiration_time":{}}}', "found a dict"),
}


@pytest.mark.parametrize(("body", "reason"), INVALID_BODIES.values(), ids=INVALID_BODIES.keys())
def test_every_unusable_body_is_refused_with_its_reason(body: bytes, reason: str) -> None:
    with pytest.raises(WebhookBodyInvalid) as caught:
        parse(body)
    assert reason in caught.value.detail
    assert "What to do:" in str(caught.value) and isinstance(caught.value, WebhookError)


def test_a_refused_body_is_never_echoed() -> None:
    for body in (
        b'{"type":"SENTINEL-VALUE","tts_notification_id":"n"}',
        b'{"type":7,"tts_notification_id":"n","data":{"expiration_time":"SENTINEL-VALUE"}}',
        b"SENTINEL-VALUE",
    ):
        with pytest.raises(WebhookBodyInvalid) as caught:
            parse(body)
        assert "SENTINEL" not in str(caught.value)


def test_parse_takes_only_raw_bytes() -> None:
    with pytest.raises(TypeError):
        parse(SELLER_DEAUTHORIZATION.decode())  # type: ignore[arg-type]


# --- what is shown --------------------------------------------------------------------------------


def test_repr_and_describe_hold_no_secret() -> None:
    signature = webhook_signature(VECTOR_KEY, LONG_SECRET, SELLER_DEAUTHORIZATION)
    notice = read_delivery(SELLER_DEAUTHORIZATION, signature, app_key=VECTOR_KEY, app_secret=Secret(LONG_SECRET))
    for text in (repr(notice), str(notice), notice.describe()):
        assert LONG_SECRET not in text and signature not in text


def test_describe_is_one_short_line_whatever_the_ids_hold() -> None:
    hostile = "\x1b[2J\r\n" + "7" * 1000
    notice = Notice(type=6, notification_id=hostile, shop_id=hostile)
    line = notice.describe()
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert len(line) < 250


def test_the_errors_are_exported_and_in_the_one_hierarchy() -> None:
    for cls in (WebhookError, WebhookSignatureInvalid, WebhookBodyInvalid):
        assert cls.__name__ in webhooks.__all__ and issubclass(cls, TikTokHelperError)
    assert issubclass(WebhookSignatureInvalid, WebhookError) and issubclass(WebhookBodyInvalid, WebhookError)
    plain = WebhookError("port 8080 is taken", fix="Choose another port.")
    assert str(plain) == "Webhook receiver problem: port 8080 is taken. What to do: Choose another port."
