"""TikTok Shop webhook deliveries: check the signature on the raw bytes, then read the notice.

What TikTok sends (TikTok Shop Partner Center docs, "Webhooks overview" and "Configuration guide"):
a ``POST`` with ``Content-Type: application/json``, the signature in the ``Authorization`` header
(no scheme, lowercase hex: :func:`tiktok_helpers.signing.webhook_signature`), and a JSON envelope::

    {"type": 6, "tts_notification_id": "7327112393057371910", "shop_id": "7494049642642441621",
     "timestamp": 1644412885, "data": {"message": "Shop_id {xxx} is deauthorized from your APP by merchant."}}

The receiver answers 200 (or 401 when the signature fails) with an empty body within 3 seconds;
otherwise TikTok delivers again after 2 minutes, 30 minutes, 3 hours and 12 hours, and the same
event may arrive more than once anyway. A notice is therefore keyed by its ``tts_notification_id``
(:attr:`Notice.notification_id`): whoever acts on notices drops the ones already seen. The
signature carries no timestamp, so it gives no replay protection of its own; that dedupe is it.

The topics this runbook acts on (:class:`NoticeType`), each from its topic page in Partner Center:

* ``6`` SELLER_DEAUTHORIZATION ("6 Seller deauthorization"): triggered after a seller is
  deauthorized; keyed by ``shop_id`` (not the seller's open_id); ``data.message`` says so in words.
* ``7`` UPCOMING_AUTHORIZATION_EXPIRATION ("7 Upcoming authorization expiration"): sent from 30
  days before the authorization expires, then once a day at 0:00 until the seller authorizes again;
  ``data.expiration_time`` is a STRING of Unix seconds (:attr:`Notice.expires_at`).
* ``20`` CREATOR_DEAUTHORIZATION ("20 Creator deauthorization"): a creator removed the app's access;
  it carries ``creator_open_id`` instead of a shop. That page's field table and its event example
  put ``creator_open_id`` at the top level of the envelope, beside ``type``; no public SDK found
  reads it from anywhere else. It is read from the top level first and, failing that, from
  ``data.creator_open_id`` (not confirmed by any public source, accepted so that a notice shaped
  that way is not lost).

Any other ``type`` is kept as a notice of an unknown kind (:attr:`Notice.kind` is ``None``), not an
error: an app subscribed to more topics still gets a 200 for each. Only what makes a body unusable
is refused (:class:`WebhookBodyInvalid`): not JSON, not an object, ``type`` not an integer,
``tts_notification_id`` missing, empty or not a string, ``data`` present but not an object, and
for type 7 an ``expiration_time`` that is not a whole number of seconds. Other fields are read
leniently: ``shop_id`` given as a number is kept as its digits (the topic pages' field tables show
``123455``), a ``timestamp`` that cannot be read becomes ``None``.

Layer "wire and files": the standard library and the package's basics only.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import IntEnum
from types import MappingProxyType
from typing import Any, ClassVar, Final

from .errors import TikTokHelperError
from .secret import Secret
from .signing import webhook_signature
from .text import terminal_safe

__all__ = [
    "Notice",
    "NoticeType",
    "WebhookBodyInvalid",
    "WebhookError",
    "WebhookSignatureInvalid",
    "is_valid",
    "parse",
    "read_delivery",
    "verify",
]

#: What a signature looks like on the wire: 64 lowercase hex characters (HMAC-SHA256).
_SIGNATURE_FORM: Final = re.compile(r"[0-9a-f]{64}")
#: A whole number of seconds written as a string (ASCII digits only: ``int()`` would also take
#: ``" 12"``, ``"1_000"`` and other scripts' digits).
_WHOLE: Final = re.compile(r"[0-9]{1,12}")
#: Longest id shown by :meth:`Notice.describe` before it is cut.
_SHOWN: Final = 64


class WebhookError(TikTokHelperError):
    """A webhook delivery or the receiver cannot be used as it is (base of the webhook errors).

    The catalog (``catalog.json``) has no webhook entries yet, so these classes carry their own
    title (:attr:`heading`), cause (:attr:`explanation`) and fix (:attr:`remedy`, or ``fix=`` for
    one case); ``entry`` is the catalog's generic ``runbook.error``. ``str(exc)`` is, as for every
    error of the package, the title, what happened and what to do next.
    """

    heading: ClassVar[str] = "Webhook receiver problem"
    explanation: ClassVar[str] = "The webhook receiver could not do what was asked."
    remedy: ClassVar[str] = "Correct what the message names and start the receiver again."

    def __init__(self, detail: str = "", *, fix: str = "") -> None:
        self._fix = fix
        super().__init__(detail)

    @property
    def title(self) -> str:
        return self.heading

    @property
    def cause(self) -> str:
        return self.explanation

    @property
    def fix(self) -> str:
        return self._fix or self.remedy

    def _compose(self) -> str:
        text = self.detail.strip().rstrip(".")
        return f"{self.title}{f': {text}.' if text else '.'} What to do: {self.fix}"


class WebhookSignatureInvalid(WebhookError):
    """The delivery's ``Authorization`` header is missing, or is not the signature of its body.

    The message never holds the expected signature nor the App Secret (nor the header received).
    """

    heading = "Webhook signature does not match"
    explanation = (
        "The Authorization header is not the HMAC-SHA256 of the App Key followed by the raw body, "
        "keyed with the App Secret (TikTok Shop Partner Center, 'Webhooks overview')."
    )
    remedy = (
        "Check that the App Key and App Secret this receiver uses are those of the app the webhook is "
        "configured for in Partner Center ('Configuration guide'), and that nothing between TikTok and "
        "the receiver rewrites the body. The delivery was refused (401) and not acted on."
    )


class WebhookBodyInvalid(WebhookError):
    """The body is not a TikTok Shop notice this module can read (see the module's docstring).

    The message names the field and the kind of value found, never the body's content.
    """

    heading = "Webhook body is not a TikTok Shop notice"
    explanation = "The body is not the JSON envelope the 'Webhooks overview' page describes."
    remedy = (
        "Nothing was acted on (the delivery was answered 400). Compare what was sent with the topic's "
        "page in Partner Center ('Webhooks overview'); if TikTok sent it, report it with the notification id."
    )


class NoticeType(IntEnum):
    """The webhook topics this runbook acts on, by their ``type`` number (their Partner Center pages)."""

    SELLER_DEAUTHORIZATION = 6  # "6 Seller deauthorization"
    UPCOMING_AUTHORIZATION_EXPIRATION = 7  # "7 Upcoming authorization expiration"
    CREATOR_DEAUTHORIZATION = 20  # "20 Creator deauthorization"


def _frozen(value: Any) -> Any:
    """``value`` read-only all the way down: objects as mapping proxies, arrays as tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: _frozen(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(item) for item in value)
    return value


def _utc(seconds: int) -> datetime | None:
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _shown(value: str) -> str:
    """``value`` safe on one line of a terminal or a log, cut to :data:`_SHOWN` characters."""
    value = terminal_safe(value).replace("\n", "\\n").replace("\t", "\\t")
    return value if len(value) <= _SHOWN else f"{value[:_SHOWN]}…"


@dataclass(frozen=True)
class Notice:
    """One webhook notice, as read by :func:`parse` (after :func:`verify`).

    ``type`` is TikTok's topic number; ``notification_id`` its ``tts_notification_id``, the key to
    drop repeated deliveries by; ``shop_id`` and ``creator_open_id`` are ``""`` when absent;
    ``timestamp`` is when TikTok pushed it (UTC; ``None`` if absent or unreadable); ``message`` is
    ``data.message`` (or ``""``); ``expires_at`` is type 7's ``data.expiration_time`` (UTC), else
    ``None``; ``data`` is the whole ``data`` object, read-only (nested objects too).
    """

    type: int
    notification_id: str
    shop_id: str = ""
    creator_open_id: str = ""
    timestamp: datetime | None = None
    message: str = ""
    expires_at: datetime | None = None
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _frozen(self.data))

    @property
    def kind(self) -> NoticeType | None:
        """The topic, or ``None`` for a type this runbook does not act on."""
        try:
            return NoticeType(self.type)
        except ValueError:
            return None

    def describe(self) -> str:
        """One short line for logs and people: type, topic, whom it is about, notification id."""
        kind = self.kind
        text = f"type {self.type} {kind.name if kind else '(not handled here)'}"
        if self.shop_id:
            text += f" for shop {_shown(self.shop_id)}"
        elif self.creator_open_id:
            text += f" for creator {_shown(self.creator_open_id)}"
        if self.expires_at is not None:
            text += f", authorization expires {self.expires_at:%Y-%m-%d %H:%M} UTC"
        return f"{text} (notification {_shown(self.notification_id)})"


def _secret_text(app_secret: Secret | str) -> str:
    return app_secret.reveal() if isinstance(app_secret, Secret) else app_secret


def verify(body: bytes, signature: str | None, *, app_key: str, app_secret: Secret | str) -> None:
    """Check that ``signature`` (the ``Authorization`` header) signs the RAW ``body`` for this app.

    TikTok Shop Partner Center, "Webhooks overview": HMAC-SHA256 of App Key + body, keyed with the
    App Secret, lowercase hex. Pass the bytes exactly as received: JSON parsed and serialized again
    does not verify. Compared in constant time (:func:`hmac.compare_digest`); an uppercase copy
    does not verify either. Raises :class:`WebhookSignatureInvalid`; a receiver without an App Key
    or App Secret is a configuration mistake (:class:`ValueError`), not a bad delivery.
    """
    if not isinstance(body, bytes):
        raise TypeError("verify the raw body bytes as received, not a decoded or re-serialized form")
    secret = _secret_text(app_secret)
    if not app_key or not secret:
        raise ValueError("the receiver needs the app's App Key and App Secret to check a webhook signature")
    if not signature:
        raise WebhookSignatureInvalid("the delivery has no Authorization header, so it cannot be told from a forgery")
    expected = webhook_signature(app_key, secret, body).encode("ascii")
    given = signature.encode("utf-8", "replace")
    if hmac.compare_digest(expected, given):
        return
    shape = "" if _SIGNATURE_FORM.fullmatch(signature) else " (it is not 64 lowercase hexadecimal characters)"
    raise WebhookSignatureInvalid(
        f"the Authorization header is not the signature of this body for App Key {_shown(app_key)}{shape}"
    )


def is_valid(body: bytes, signature: str | None, *, app_key: str, app_secret: Secret | str) -> bool:
    """True when :func:`verify` accepts the delivery."""
    try:
        verify(body, signature, app_key=app_key, app_secret=app_secret)
    except WebhookSignatureInvalid:
        return False
    return True


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _kind_of(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _integer(value: object) -> int | None:
    """An int, or a string of ASCII digits, as an int (``bool`` is not a number here)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        return int(value)
    return None


def _expiry(data: Mapping[str, Any]) -> datetime | None:
    if "expiration_time" not in data or data["expiration_time"] is None:
        return None
    raw = data["expiration_time"]
    seconds = _integer(raw)
    moment = _utc(seconds) if seconds is not None else None
    if moment is None:
        raise WebhookBodyInvalid(
            f"data.expiration_time of a type 7 notice must be a whole number of Unix seconds, found a "
            f"{_kind_of(raw)} that is not one"
        )
    return moment


def _text_or_empty(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def parse(body: bytes) -> Notice:
    """Read a delivery's body into a :class:`Notice`; :class:`WebhookBodyInvalid` if it is not one.

    Call :func:`verify` first (or :func:`read_delivery`): an unsigned body is anybody's.
    """
    if not isinstance(body, bytes):
        raise TypeError("parse the raw body bytes as received")
    try:
        envelope = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise WebhookBodyInvalid(f"the body is not JSON ({reason})") from None
    if not isinstance(envelope, dict):
        raise WebhookBodyInvalid(f"the body is a JSON {_kind_of(envelope)}, not an object")
    kind = envelope.get("type")
    if not isinstance(kind, int) or isinstance(kind, bool):
        raise WebhookBodyInvalid(f"'type' must be an integer, found {_kind_of(kind)}")
    notification_id = envelope.get("tts_notification_id")
    if not isinstance(notification_id, str) or not notification_id:
        found = "an empty string" if notification_id == "" else _kind_of(notification_id)
        raise WebhookBodyInvalid(f"'tts_notification_id' must be a non-empty string, found {found}")
    data = envelope.get("data")
    if data is None:
        data = {}
    elif not isinstance(data, dict):
        raise WebhookBodyInvalid(f"'data' must be an object, found {_kind_of(data)}")
    seconds = _integer(envelope.get("timestamp"))
    creator = envelope.get("creator_open_id")
    if not isinstance(creator, str) or not creator:
        creator = data.get("creator_open_id")
    message = data.get("message")
    return Notice(
        type=kind,
        notification_id=notification_id,
        shop_id=_text_or_empty(envelope.get("shop_id")),
        creator_open_id=creator if isinstance(creator, str) else "",
        timestamp=_utc(seconds) if seconds is not None else None,
        message=message if isinstance(message, str) else "",
        expires_at=_expiry(data) if kind == NoticeType.UPCOMING_AUTHORIZATION_EXPIRATION else None,
        data=data,
    )


def read_delivery(body: bytes, signature: str | None, *, app_key: str, app_secret: Secret | str) -> Notice:
    """:func:`verify` the delivery, then :func:`parse` it: the signature is checked before the body
    is read, so a forged body is refused as forged whatever it holds."""
    verify(body, signature, app_key=app_key, app_secret=app_secret)
    return parse(body)
