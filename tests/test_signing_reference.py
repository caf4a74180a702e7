"""The signer against the public reference signers, and against what httpx actually sends.

Sources (each read through public copies; nothing here was checked against live TikTok):

* TikTok's Node.js reference signer, ``generateSign`` on Partner Center's "Sign your API request"
  page (docv2), reproduced verbatim in much public code (e.g. a compiled ``generate-sign.js``): it
  concatenates ``${key}${value}`` for the sorted keys of a ``qs`` OBJECT (so a key appears once; an
  array value becomes its items joined by ``,``, ``true`` becomes ``"true"``, ``null`` ``"null"``)
  and prefixes ``new URL(uri).pathname``, the WHATWG percent-encoded path.
* EcomPHP/tiktokshop-php (``src/Client.php`` ``prepareSignature``; ``src/Resource.php``
  ``dataTypeCast('array')``): sends an array parameter such as Get Order Detail's ``ids`` as ONE
  comma-joined value, and signs ``key + value`` for it; Guzzle's ``Uri::getPath()`` is the encoded path.
* The PyPI SDK ``tiktok-shop-api`` 0.1.0 (``Signer.string_to_sign``): the sent ``(key, value)``
  pairs sorted by key, so a repeated key contributes each pair; the path is ``request.url.raw_path``
  (encoded). tests/test_outside_client.py checks the signer against it directly.

The signer's choice (tiktok_helpers/signing.py): values that are not strings are serialized as
httpx sends them, lists as repeated keys; paths are signed as given, and ``wire_path`` gives the
encoded form that is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tiktok_helpers.signing import query_pairs, query_value, sign, string_to_sign, wire_path

from .tiers import examples

SECRET = "e59af819cc"
BASE = "https://open-api.tiktokglobalshop.com"
PROFILE = settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def hmac_hex(secret: str, text: str) -> str:
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def js_string(value: object) -> str:
    """JavaScript's String(value) for the JSON-like values a ``qs`` object holds."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def node_reference_sign(uri: str, qs: dict[str, object], secret: str, body: dict[str, Any] | None = None) -> str:
    """TikTok's Node.js ``generateSign``, read into Python: path from the WHATWG URL (here: httpx's
    encoding of the same path), ``${key}${value}`` for the sorted keys, ``JSON.stringify(body)``."""
    pathname = httpx.URL(uri).raw_path.split(b"?")[0].decode("ascii")
    params = "".join(f"{key}{js_string(qs[key])}" for key in sorted(qs) if key not in ("access_token", "sign"))
    text = pathname + params
    if body:
        text += json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return hmac_hex(secret, f"{secret}{text}{secret}")


# --- the Node.js reference signer ---------------------------------------------------------------


def test_reference_vector_through_the_node_reading() -> None:
    qs: dict[str, object] = {"app_key": "29a39d", "timestamp": "1623812664"}
    expected = "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
    assert node_reference_sign(BASE + "/authorization/202309/shops", qs, SECRET) == expected
    assert sign("/authorization/202309/shops", qs, SECRET) == expected


def test_array_parameter_as_the_reference_signers_send_it() -> None:
    """An array sent as ONE comma-joined value (EcomPHP's dataTypeCast('array')) is signed
    identically by the Node reference (array value), EcomPHP and this signer (the joined string)."""
    qs_node: dict[str, object] = {"app_key": "29a39d", "timestamp": "1623812664", "ids": ["5764", "5765"]}
    joined = {"app_key": "29a39d", "timestamp": "1623812664", "ids": "5764,5765"}
    path = "/order/202309/orders"
    assert sign(path, joined, SECRET) == node_reference_sign(BASE + path, qs_node, SECRET)
    assert "ids5764,5765" in string_to_sign(path, joined, SECRET)


def test_repeated_keys_each_contribute_key_and_value_in_sent_order() -> None:
    """A list is sent as repeated keys (httpx); each pair is signed, in the order sent, after a
    stable sort by key (what tiktok-shop-api signs)."""
    assert string_to_sign("/p", {"b": "x", "ids": ["2", "1"]}, "k") == "k/pbxids2ids1k"
    assert string_to_sign("/p", [("ids", "2"), ("b", "x"), ("ids", "1")], "k") == "k/pbxids2ids1k"
    assert sign("/p", {"ids": ["1", "2"]}, "k") != sign("/p", {"ids": "1,2"}, "k")  # different bytes sent
    assert string_to_sign("/p", {"ids": []}, "k") == "k/pk"  # nothing sent, nothing signed


def test_booleans_and_numbers_sign_like_the_node_reference() -> None:
    qs: dict[str, object] = {"app_key": "a", "flag": True, "off": False, "page_size": 20}
    assert sign("/p", qs, SECRET) == node_reference_sign(BASE + "/p", qs, SECRET)


def test_none_is_sent_empty_not_as_null() -> None:
    """The one value where the Node reading (``"null"``) and the wire (httpx sends ``none=``)
    differ: the signer signs what is sent."""
    assert string_to_sign("/p", {"none": None}, "k") == "k/pnonek"
    request = httpx.Request("GET", BASE + "/p", params={"none": None})
    assert request.url.params.multi_items() == [("none", "")]


@pytest.mark.parametrize(
    ("path", "encoded"),
    [
        ("/authorization/202309/shops", "/authorization/202309/shops"),
        ("/product/202309/ürün", "/product/202309/%C3%BCr%C3%BCn"),
        ('/a b/<c>/{d}/`e`/"f"', "/a%20b/%3Cc%3E/%7Bd%7D/%60e%60/%22f%22"),
        ("/already%20encoded/%c3%bc", "/already%20encoded/%c3%bc"),
        ("/keep!$&'()*+,;=:@[]|^~-._", "/keep!$&'()*+,;=:@[]|^~-._"),
        ("/商品", "/%E5%95%86%E5%93%81"),
    ],
)
def test_wire_path_is_the_whatwg_and_httpx_encoding(path: str, encoded: str) -> None:
    """WHATWG's path percent-encode set (what ``new URL().pathname`` gives the Node reference):
    C0 controls, space, ``"#<>?`{}`` and non-ASCII as UTF-8; httpx encodes the same set."""
    assert wire_path(path) == encoded
    assert httpx.URL(BASE + path).raw_path.decode("ascii") == encoded
    assert wire_path(encoded) == encoded  # idempotent: the sandbox signs the path it received


@pytest.mark.parametrize("path", ["relative", "/a/../b", "/./a"])
def test_paths_that_cannot_be_signed_as_given_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match=r"start with '/'|segments"):
        wire_path(path)


# --- exactly what httpx sends -------------------------------------------------------------------

scalars = st.one_of(
    st.text(max_size=8),
    st.booleans(),
    st.none(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.tuples(scalars, scalars))
query_maps = st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=6)
segments = st.text(st.characters(blacklist_characters="/?#", codec="utf-8"), min_size=1, max_size=8)
paths = st.lists(segments, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))


@PROFILE
@given(query=query_maps, path=paths, body=st.binary(max_size=0) | st.text(max_size=12).map(str.encode))
def test_signing_a_mapping_signs_exactly_what_httpx_sends(query: dict[str, Any], path: str, body: bytes) -> None:
    """For any mix of strings, bools, None, numbers and lists: the signature over the caller's
    mapping equals an independent signature over the pairs and the path httpx puts on the wire."""
    assume(not set(path.split("/")) & {".", ".."})
    try:
        request = httpx.Request("POST", BASE + path, params=query, content=body)
    except (httpx.InvalidURL, UnicodeEncodeError):
        assume(False)
        raise
    sent_path = request.url.raw_path.split(b"?")[0].decode("ascii")
    sent = [(k, v) for k, v in request.url.params.multi_items() if k not in ("sign", "access_token")]
    sent.sort(key=lambda pair: pair[0])
    text = sent_path + "".join(k + v for k, v in sent) + body.decode("utf-8")
    assert sign(wire_path(path), query, SECRET, body) == hmac_hex(SECRET, f"{SECRET}{text}{SECRET}")
    assert wire_path(path) == sent_path


@PROFILE
@given(value=scalars)
def test_each_scalar_is_serialized_as_httpx_serializes_it(value: object) -> None:
    assert [query_value(value)] == httpx.QueryParams({"k": value}).get_list("k")  # type: ignore[dict-item]


def test_floats_and_big_numbers_as_httpx_sends_them() -> None:
    for number in (0.1, 1e16, -0.0, math.inf, 2**70):
        assert query_pairs({"n": number}) == httpx.QueryParams({"n": number}).multi_items()


@pytest.mark.parametrize(
    "value",
    [{"a": "b"}, b"bytes", {1}, [[1]], [{"a": 1}], object()],
    ids=["dict", "bytes", "set", "nested-list", "list-of-dicts", "object"],  # the same in every xdist worker
)
def test_values_without_an_obvious_wire_form_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="cannot be signed"):
        sign("/p", {"k": value}, SECRET)


def test_keys_must_be_strings_and_params_a_mapping_or_pairs() -> None:
    with pytest.raises(TypeError, match="name must be a string"):
        sign("/p", {1: "x"}, SECRET)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mapping or"):
        sign("/p", "a=b", SECRET)  # type: ignore[arg-type]
