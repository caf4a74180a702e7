"""What went over the wire: each request a service client sent and what came back, secrets masked.

An OAuth playground's view of the runbook. A :class:`WireLog` given to a client
(:attr:`tiktok_helpers.http.Transport.wire`; ``Session.trace()`` gives one to every client a session
builds) records every attempt the client makes, retries and failures included, as an
:class:`Exchange`: the service, the method, the URL, the headers that matter and the body of the
request; the HTTP status, the headers that matter and the body of the reply (or the error's one
line when none came); the attempt's number and how long it took.

Everything is masked BEFORE an :class:`Exchange` is made, so the log never holds a secret in plain
text:

* query values and JSON keys by name: ``app_secret``, ``auth_code``, ``access_token``,
  ``refresh_token``, ``sign``, ``api_key``, ``store_key``, their ``tiktokshop_*`` forms, any name
  ending in ``_secret`` or ``_token``; ``code`` in a URL (the redirect's auth code), and in JSON a
  ``code`` that is text of 16 characters or more (an auth code: the envelope's numeric ``code`` and
  a shop's short ``code`` stay readable);
* the headers ``x-tts-access-token``, ``x-api-key``, ``x-store-key``;
* every value the client knows to be secret (the app secret, the code or token it sends, the API
  key, the store key), wherever it appears, with :func:`tiktok_helpers.errors.scrub`.

Masked values look like :func:`tiktok_helpers.secret.mask` makes them (``TTP_…a1b2``). JSON bodies
are pretty-printed; a body longer than :data:`BODY_LIMIT` characters is cut, with a note.
:func:`render_text` is the plain form (the command line's ``--trace``, a notebook's text/plain).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlsplit

from .errors import TikTokHelperError, scrub
from .secret import Secret, mask

__all__ = [
    "BODY_LIMIT",
    "DEFAULT_LIMIT",
    "Exchange",
    "WireLog",
    "exchange_of",
    "heading",
    "is_secret_name",
    "masked_body",
    "masked_headers",
    "masked_url",
    "render_text",
]

#: How many exchanges a log keeps by default (the newest).
DEFAULT_LIMIT: Final = 200
#: How many characters of one body are shown; the rest is cut, with a note.
BODY_LIMIT: Final = 4000
#: A body longer than this (bytes) is neither parsed nor shown, only its size.
READ_LIMIT: Final = 256 * 1024

#: Secret names (after lower-casing, ``-`` as ``_``, and dropping ``tiktokshop_`` or ``x_``).
_SECRET_NAMES: Final = frozenset(
    {"app_secret", "auth_code", "access_token", "refresh_token", "sign", "api_key", "store_key", "secret", "token"}
)
_SECRET_ENDINGS: Final = ("_secret", "_token", "password")
#: The request headers shown, and the reply headers shown.
REQUEST_HEADERS: Final = ("content-type", "x-tts-access-token", "x-api-key", "x-store-key")
RESPONSE_HEADERS: Final = ("content-type", "retry-after")
#: ``name=value`` in free text (an error page, a message quoting a URL): the value is masked.
_QUERY_SECRET: Final = re.compile(
    r"(?<![A-Za-z0-9_])((?:tiktokshop_)?(?:app_secret|auth_code|code|refresh_token|access_token|sign|api_key|"
    r"store_key)=)([^&\s\"'#<>]+)",
    re.IGNORECASE,
)
_MASK_CHARS: Final = {quote("…"): "…", quote("•"): "•"}


@functools.lru_cache(maxsize=1024)
def is_secret_name(name: str) -> bool:
    """Whether a query parameter, header or JSON key called ``name`` carries a secret."""
    key = name.strip().lower().replace("-", "_")
    for prefix in ("tiktokshop_", "x_"):
        key = key.removeprefix(prefix)
    return key in _SECRET_NAMES or key.endswith(_SECRET_ENDINGS)


def _hidden_in_url(name: str) -> bool:
    """A query parameter masked by name: a secret name, or ``code`` (the redirect's auth code)."""
    return is_secret_name(name) or name.lower() == "code"


def _hidden(value: str) -> str:
    return mask(value) if value else ""


class _Known:
    """The secrets one exchange is masked against: each once, kept as given (a :class:`Secret` is
    revealed by :func:`~tiktok_helpers.errors.scrub` only while it compares), and the length of the
    shortest, so text too short to hold one is not searched."""

    __slots__ = ("shortest", "values")

    def __init__(self, values: Iterable[Secret | str | None]) -> None:
        self.values: tuple[Secret | str, ...] = tuple(dict.fromkeys(v for v in values if v and len(v) >= 4))
        self.shortest = min((len(v) for v in self.values), default=0)

    def __iter__(self) -> Iterator[Secret | str]:
        return iter(self.values)

    def masked(self, text: str) -> str:
        """Free text with every known secret and every secret ``name=value`` masked."""
        if self.values and len(text) >= self.shortest:
            text = scrub(text, self.values)
        return _QUERY_SECRET.sub(lambda m: m.group(1) + _hidden(m.group(2)), text) if "=" in text else text


def _known(secrets: Iterable[Secret | str | None], *sent: object) -> _Known:
    """The known secrets, and every :class:`Secret` among the values ``sent`` (params, headers, a
    JSON body); given a :class:`_Known` (:func:`exchange_of` gathers every one once), that."""
    if isinstance(secrets, _Known):
        return secrets
    known = list(secrets)
    pending = list(sent)
    while pending:
        value = pending.pop()
        if isinstance(value, Secret):
            known.append(value)
        elif isinstance(value, Mapping):
            pending.extend(value.values())
        elif isinstance(value, (list, tuple)):
            pending.extend(value)
    return _Known(known)


def _pairs(params: object) -> list[tuple[str, object]]:
    if params is None:
        return []
    multi = getattr(params, "multi_items", None)  # httpx.QueryParams: repeated keys kept
    if callable(multi):
        return [(str(k), v) for k, v in multi()]
    if isinstance(params, Mapping):
        return [(str(k), v) for k, v in params.items()]
    if isinstance(params, Iterable):
        return [(str(k), v) for k, v in params]
    return []


def _shown_value(name: str, value: object, known: _Known, *, url: bool) -> str:
    if isinstance(value, Secret):
        return value.masked
    text = "" if value is None else str(value)
    if _hidden_in_url(name) if url else is_secret_name(name):
        return _hidden(text)
    return known.masked(text)


def masked_url(url: str, params: object = None, secrets: Iterable[Secret | str | None] = ()) -> str:
    """``url`` with ``params`` (a mapping, pairs or ``httpx.QueryParams``) added to its query, every
    secret value masked; the other values percent-encoded as sent."""
    parts = urlsplit(url)
    pairs = [*parse_qsl(parts.query, keep_blank_values=True), *_pairs(params)]
    if isinstance(secrets, _Known):
        known = secrets
    else:
        named = [str(v) for k, v in pairs if _hidden_in_url(k) and not isinstance(v, Secret)]  # the sign
        known = _known([*secrets, *named], [v for _, v in pairs])
    base = known.masked(f"{parts.scheme}://{parts.netloc}{parts.path}")
    if not pairs:
        return base
    shown = []
    for name, value in pairs:
        text = quote(_shown_value(name, value, known, url=True), safe="-._~:/,@")
        for encoded, char in _MASK_CHARS.items():
            text = text.replace(encoded, char)
        shown.append(f"{quote(name, safe='-._~')}={text}")
    return f"{base}?{'&'.join(shown)}"


def masked_headers(
    headers: Mapping[str, object] | None,
    secrets: Iterable[Secret | str | None] = (),
    *,
    shown: Sequence[str] = REQUEST_HEADERS,
) -> tuple[tuple[str, str], ...]:
    """The headers in ``shown`` (lower-case names, in the order given), secret ones masked."""
    known = _known(secrets, headers or {})
    kept = []
    for name, value in (headers or {}).items():
        key = str(name).lower()
        if key in shown:
            kept.append((key, _shown_value(key, value, known, url=False)))
    return tuple(kept)


def _masked_json(value: object, known: _Known, name: str = "") -> object:
    if isinstance(value, Secret):
        return value.masked
    if isinstance(value, str):
        if is_secret_name(name) or (name.lower() == "code" and len(value) >= 16 and not value.lstrip("-").isdigit()):
            return _hidden(value)
        return known.masked(value)
    if isinstance(value, Mapping):
        # {"name": "tiktokshop_refresh_token", "value": "..."}: a secret named by a sibling
        label = next((v for k, v in value.items() if str(k).lower() in ("name", "key") and isinstance(v, str)), "")
        hide = is_secret_name(label)
        return {
            str(k): _masked_json(v, known, "secret" if hide and str(k).lower() == "value" else str(k))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_masked_json(item, known, name) for item in value]
    return value


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[... cut: {limit:,} of {len(text):,} characters shown]"


def masked_body(
    body: bytes | str | Mapping[str, Any] | None,
    secrets: Iterable[Secret | str | None] = (),
    *,
    limit: int = BODY_LIMIT,
) -> str:
    """A request or reply body as a person reads it, every secret masked: a JSON object (a mapping,
    or bytes that parse as JSON) pretty-printed and masked by key and by value, any other text
    masked by value and ``name=value``; "" when there is none. Cut after ``limit`` characters."""
    if body is None or body == b"" or body == "":
        return ""
    known = _known(secrets, body)
    if isinstance(body, Mapping):
        data: object = body
    else:
        if len(body) > READ_LIMIT:
            return f"[{len(body):,} bytes, not shown]"
        try:
            text = body.decode("utf-8") if isinstance(body, bytes) else body
        except UnicodeDecodeError:
            return f"[{len(body):,} bytes, not text]"
        try:
            data = json.loads(text)
        except ValueError:
            return _cut(known.masked(text), limit)
        if not isinstance(data, (dict, list)):
            return _cut(known.masked(text), limit)
    return _cut(json.dumps(_masked_json(data, known), indent=2, ensure_ascii=False), limit)


def _error_line(error: BaseException | None, known: _Known) -> str:
    if error is None:
        return ""
    if isinstance(error, TikTokHelperError):
        text = f"{error.title}: {error.detail}" if error.detail else error.title
    else:
        text = f"{type(error).__name__}: {error}"
    return " ".join(known.masked(text).split())


@dataclass(frozen=True)
class Exchange:
    """One attempt of one request, as it went over the wire, every secret already masked.

    ``status`` is None when no reply came (then ``error`` is the failure's one line). Headers are
    (name, value) pairs, names in lower case; bodies are text ("" when there was none). ``seq`` is
    the exchange's number in its log (from 0, in the order recorded); ``attempt`` its attempt's
    number within the call (1 for the first, 2 for the first retry ...)."""

    service: str
    method: str
    url: str
    status: int | None
    request_headers: tuple[tuple[str, str], ...] = ()
    request_body: str = ""
    response_headers: tuple[tuple[str, str], ...] = ()
    response_body: str = ""
    attempt: int = 1
    elapsed_ms: float = 0.0
    error: str = ""
    seq: int = 0

    @property
    def answered(self) -> bool:
        return self.status is not None


def exchange_of(
    *,
    service: str,
    method: str,
    url: str,
    attempt: int = 1,
    elapsed_ms: float = 0.0,
    params: object = None,
    headers: Mapping[str, object] | None = None,
    content: bytes | None = None,
    json_body: Mapping[str, Any] | None = None,
    status: int | None = None,
    response_headers: Mapping[str, str] | None = None,
    response_body: bytes | None = None,
    error: BaseException | None = None,
    secrets: Iterable[Secret | str | None] = (),
) -> Exchange:
    """One attempt as an :class:`Exchange`, every secret masked (see the module's docstring)."""
    pairs = _pairs(params)
    named = [v for k, v in pairs if _hidden_in_url(k) and isinstance(v, str)]  # the sign: secret, never a Secret
    known = _known([*secrets, *named], pairs, headers or {}, json_body or {})
    return Exchange(
        service=service,
        method=method.upper(),
        url=masked_url(url, pairs, known),
        status=status,
        request_headers=masked_headers(headers, known),
        request_body=masked_body(json_body if json_body is not None else content, known),
        response_headers=masked_headers(response_headers, known, shown=RESPONSE_HEADERS) if status else (),
        response_body=masked_body(response_body, known) if status is not None else "",
        attempt=attempt,
        elapsed_ms=elapsed_ms,
        error="" if status is not None else _error_line(error, known),
    )


class WireLog:
    """The last ``limit`` exchanges, safe to record into from many threads (a bulk refresh).

    :meth:`mark` then :meth:`since` gives what one step sent; :meth:`entries` gives all that is kept.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"a wire log keeps at least one exchange, not {limit!r}")
        self.limit = limit
        self._entries: deque[Exchange] = deque(maxlen=limit)
        self._count = 0
        self._lock = threading.Lock()

    def record(self, **attempt: Any) -> Exchange:
        """Record one attempt (the keywords of :func:`exchange_of`), masked before it is kept. Never
        raises: an attempt that cannot be shown is kept as its service, method and URL path, with a
        note, so that recording can never fail the request it records."""
        try:
            made = exchange_of(**attempt)
        except Exception as exc:  # a reply this module cannot read must not fail the step
            url = urlsplit(str(attempt.get("url", "")))
            made = Exchange(
                service=str(attempt.get("service", "")),
                method=str(attempt.get("method", "")).upper(),
                url=f"{url.scheme}://{url.netloc}{url.path}",
                status=attempt.get("status") if isinstance(attempt.get("status"), int) else None,
                attempt=int(attempt.get("attempt", 1)),
                error=f"(this attempt could not be shown: {type(exc).__name__})",
            )
        with self._lock:
            made = dataclasses.replace(made, seq=self._count)
            self._count += 1
            self._entries.append(made)
        return made

    def entries(self) -> list[Exchange]:
        """Every exchange kept, oldest first."""
        with self._lock:
            return list(self._entries)

    def mark(self) -> int:
        """A mark for :meth:`since`: the number of exchanges recorded so far."""
        with self._lock:
            return self._count

    def since(self, mark: int) -> list[Exchange]:
        """The exchanges recorded after :meth:`mark` returned ``mark`` (those still kept), oldest first."""
        with self._lock:
            return [e for e in self._entries if e.seq >= mark]

    def clear(self) -> None:
        """Forget every exchange kept (marks taken before stay valid: nothing is recorded twice)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        return f"WireLog({len(self)} of the last {self.limit} exchanges kept)"


def _indented(text: str, prefix: str) -> list[str]:
    return [f"{prefix}{line}".rstrip() for line in text.splitlines()]


def heading(exchange: Exchange, number: int, *, timing: bool = True) -> str:
    """``1. TikTok Open API, attempt 2 (35 ms)``."""
    took = f" ({exchange.elapsed_ms:.0f} ms)" if timing else ""
    return f"{number}. {exchange.service}, attempt {exchange.attempt}{took}"


def render_text(exchanges: Iterable[Exchange], *, timing: bool = True) -> str:
    """The plain form, newest last: for each exchange its heading, the request (``>``: method and
    URL, headers, body) and the reply (``<``: HTTP status, headers, body; or the error when none
    came). ``timing=False`` leaves out the milliseconds (a stored notebook output stays the same
    from run to run)."""
    blocks = []
    for number, exchange in enumerate(exchanges, 1):
        lines = [heading(exchange, number, timing=timing), f"   > {exchange.method} {exchange.url}"]
        lines += [f"   > {name}: {value}" for name, value in exchange.request_headers]
        lines += _indented(exchange.request_body, "     ")
        if exchange.status is None:
            lines.append(f"   < no reply: {exchange.error or 'no answer'}")
        else:
            lines.append(f"   < HTTP {exchange.status}")
            lines += [f"   < {name}: {value}" for name, value in exchange.response_headers]
            lines += _indented(exchange.response_body, "     ")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) if blocks else "Nothing went over the wire."
