"""The TikTok Shop Open API request signature (API version 202309 and later).

Algorithm (TikTok Partner Center, "Sign your API request"):

1. take the query parameters except ``sign`` and ``access_token``, sort them by key and
   concatenate each as ``key + value``;
2. put the URL path in front;
3. append the raw body, unless the content type is ``multipart/form-data``;
4. wrap the result as ``app_secret + string + app_secret``;
5. HMAC-SHA256 it keyed with the app secret and write the digest in lowercase hex.

Sign exactly the bytes that are sent: the body passed here must be the body on the wire.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

__all__ = ["EXCLUDED_PARAMS", "sign", "string_to_sign"]

#: Query parameters that never take part in the signature.
EXCLUDED_PARAMS = frozenset({"sign", "access_token"})


def string_to_sign(
    path: str,
    params: Mapping[str, object],
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
    pieces = [path]
    for key in sorted(params):
        if key in EXCLUDED_PARAMS:
            continue
        pieces.append(f"{key}{params[key]}")
    if body and not content_type.lower().startswith("multipart/form-data"):
        pieces.append(body.decode("utf-8") if isinstance(body, bytes) else body)
    return f"{app_secret}{''.join(pieces)}{app_secret}"


def sign(
    path: str,
    params: Mapping[str, object],
    app_secret: str,
    body: bytes | str = b"",
    content_type: str = "application/json",
) -> str:
    """Return the lowercase hex HMAC-SHA256 signature of a request."""
    message = string_to_sign(path, params, app_secret, body, content_type)
    return hmac.new(app_secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()
