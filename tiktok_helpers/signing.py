"""The TikTok Shop Open API request signature (API version 202309 and later).

Algorithm (TikTok Partner Center, "Sign your API request"):

1. take the query parameters except ``sign`` and ``access_token``, sort them by key and
   concatenate each as ``key + value``;
2. put the URL path in front;
3. append the raw body, unless the content type is ``multipart/form-data``;
4. wrap the result as ``app_secret + string + app_secret``;
5. HMAC-SHA256 it keyed with the app secret and write the digest in lowercase hex.

Sign exactly the bytes that are sent: the body passed here must be the body on the wire, and so
must the path and every query value.

Values that are not strings (the choice, made here once)
--------------------------------------------------------
TikTok's query values are strings (TikTok Shop Partner Center's API docs), but a caller may hold a
``bool``, a number, ``None`` or a list (TikTok has array parameters such as ``ids``). Each is
SERIALIZED exactly as the HTTP client sends it -- httpx's rule (``httpx._utils.primitive_value_to_str``
and ``httpx.QueryParams``), which :class:`~tiktok_helpers.openapi.OpenApiClient` uses to send:

* ``True`` / ``False`` -> ``"true"`` / ``"false"``; ``None`` -> ``""``; an ``int`` or ``float``
  -> ``str(value)``;
* a ``list`` or ``tuple`` -> one ``key=item`` pair per item (repeated keys), each item serialized
  as above; an empty list sends, and signs, nothing.

Anything else (a dict, bytes, a set, a nested list, a key that is not a string) is REFUSED with a
:class:`TypeError`: the wire form would not be obvious. Keys are sorted with a stable sort, so
repeated keys keep the order they are sent in and each contributes ``key + value``
(``ids1ids2`` for ``ids=1&ids=2``). That is what the public Python SDK ``tiktok-shop-api`` 0.1.0
signs (``Signer.string_to_sign`` sorts the sent ``(key, value)`` pairs by key);
tests/test_outside_client.py checks it against that SDK. TikTok's own Node.js reference signer
(the "Sign your API request" page, reproduced in public code as ``generateSign``) cannot hold a
repeated key: it signs an array value as ``key`` + the items joined by commas, which is what a
client sends as ONE parameter ``ids=1,2`` (what EcomPHP/tiktokshop-php does:
``Resource::dataTypeCast('array')`` joins with ``,``). To send that form, pass the joined string
``"1,2"``; both readings then sign the same bytes.

Paths: :func:`sign` signs the path it is given, character for character. On the wire a path is
percent-encoded (httpx, and the WHATWG ``URL.pathname`` that TikTok's Node.js reference signer
reads, encode spaces, ``"<>`{}`` and every non-ASCII character as UTF-8 ``%XX``), and the server
can only check what it received, so give :func:`sign` the wire form: :func:`wire_path` makes it
(the same percent-encoding as httpx; existing ``%XX`` escapes are kept). ``OpenApiClient`` signs
and sends ``wire_path(path)``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Final

__all__ = [
    "EXCLUDED_PARAMS",
    "QueryValue",
    "query_pairs",
    "query_value",
    "sign",
    "string_to_sign",
    "webhook_signature",
    "wire_path",
]

#: Query parameters that never take part in the signature.
EXCLUDED_PARAMS = frozenset({"sign", "access_token"})

#: One query value the signer can serialize exactly as it is sent.
QueryValue = str | int | float | bool | None

#: Characters a path keeps as they are on the wire (printable ASCII but space and ``"#<>?`{}``;
#: ``%`` stays, so existing escapes are kept): httpx's ``PATH_SAFE`` and the WHATWG path
#: percent-encode set.
_PATH_KEPT: Final = frozenset(chr(i) for i in range(0x21, 0x7F)) - frozenset('"#<>?`{}')


def query_value(value: object) -> str:
    """``value`` as httpx sends it in a query string; :class:`TypeError` if it is not a scalar."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TypeError(
        f"a query value must be a string, bool, int, float or None (or a list of them), not "
        f"{type(value).__name__}: its form on the wire is not obvious, so it cannot be signed"
    )


def _pairs_of(params: object) -> Iterable[tuple[object, object]]:
    multi = getattr(params, "multi_items", None)
    if callable(multi):  # httpx.QueryParams and the sandbox's query: every value of a repeated key
        return list(multi())
    if isinstance(params, Mapping):
        return params.items()
    if isinstance(params, (str, bytes)) or not isinstance(params, Iterable):
        raise TypeError("query parameters must be a mapping or (key, value) pairs")
    return params


def query_pairs(params: Mapping[str, object] | Iterable[tuple[str, object]]) -> list[tuple[str, str]]:
    """The ``(key, value)`` pairs a query sends, in order, every value a string (see the module's
    docstring: lists become repeated keys, other values are serialized as httpx does)."""
    pairs: list[tuple[str, str]] = []
    for item in _pairs_of(params):
        key, value = item
        if not isinstance(key, str):
            raise TypeError(f"a query parameter name must be a string, not {type(key).__name__}")
        if isinstance(value, (list, tuple)):
            pairs.extend((key, query_value(entry)) for entry in value)
        else:
            pairs.append((key, query_value(value)))
    return pairs


def wire_path(path: str) -> str:
    """``path`` as it goes on the wire: every character httpx would percent-encode is encoded
    (UTF-8, upper-case hex), so signing the result signs the bytes sent."""
    if not path.startswith("/"):
        raise ValueError(f"the path to sign must start with '/', got {path!r}")
    if set(path.split("/")) & {".", ".."}:
        raise ValueError("a path with '.' or '..' segments is rewritten by HTTP clients before it is sent")
    try:
        return "".join(c if c in _PATH_KEPT else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in path)
    except UnicodeEncodeError:
        raise ValueError("the path has characters that cannot be sent (lone surrogates)") from None


def string_to_sign(
    path: str,
    params: Mapping[str, object] | Iterable[tuple[str, object]],
    app_secret: str,
    body: bytes | str = b"",
    content_type: str = "application/json",
) -> str:
    """Return the wrapped string that :func:`sign` feeds to HMAC-SHA256.

    It contains the app secret, so never print or log it; it is public only so that tests
    can compare it with TikTok's worked examples.
    """
    if not path.startswith("/"):
        raise ValueError(f"the path to sign must start with '/', got {path!r}")
    kept = [(key, value) for key, value in query_pairs(params) if key not in EXCLUDED_PARAMS]
    pieces = [path, *(f"{key}{value}" for key, value in sorted(kept, key=lambda pair: pair[0]))]
    if body and not content_type.lower().startswith("multipart/form-data"):
        pieces.append(body.decode("utf-8") if isinstance(body, bytes) else body)
    return f"{app_secret}{''.join(pieces)}{app_secret}"


def sign(
    path: str,
    params: Mapping[str, object] | Iterable[tuple[str, object]],
    app_secret: str,
    body: bytes | str = b"",
    content_type: str = "application/json",
) -> str:
    """Return the lowercase hex HMAC-SHA256 signature of a request."""
    message = string_to_sign(path, params, app_secret, body, content_type)
    return hmac.new(app_secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def webhook_signature(app_key: str, app_secret: str, body: bytes) -> str:
    """The signature TikTok Shop puts in a webhook delivery's ``Authorization`` header.

    TikTok Shop Partner Center, "Webhooks overview": the base string is the App Key followed by the
    raw request body, with no reformatting; HMAC-SHA256 keyed with the App Secret; lowercase hex.
    Verify the bytes as received: JSON parsed and serialized again does not verify.
    """
    if not isinstance(body, bytes):
        raise TypeError("sign the raw body bytes as received, not a decoded or re-serialized form")
    return hmac.new(app_secret.encode("utf-8"), app_key.encode("utf-8") + body, hashlib.sha256).hexdigest()
