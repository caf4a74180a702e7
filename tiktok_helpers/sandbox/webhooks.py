"""The webhooks the sandbox sends: seller and creator deauthorization, upcoming authorization expiration.

With a webhook URL set (``Sandbox(webhook_url=...)``, ``--webhook-url``), the sandbox notifies
the app as TikTok Shop does: the notices wait in the state database's outbox (:mod:`.outbox`) and
a sender delivers them. Without one, nothing is queued and nothing is sent.

Documented TikTok behaviour that is simulated
---------------------------------------------
* Delivery (TikTok Shop Partner Center, "Webhooks overview" and "Configuration guide"): an HTTP
  POST of a JSON body (``Content-Type: application/json``) to the app's webhook URL, signed in the
  ``Authorization`` header: HMAC-SHA256 of the App Key followed by the raw body, keyed with the
  App Secret, lowercase hex (:func:`tiktok_helpers.signing.webhook_signature`).
* The receiver answers HTTP 200 within 3 seconds; otherwise TikTok retries after 2 minutes,
  30 minutes, 3 hours and 12 hours, and stops when the 4th retry fails ("Webhooks overview").
* Type 6 (topic page "6 Seller deauthorization"): ``{"type": 6, "tts_notification_id",
  "shop_id", "timestamp", "data": {"message": "Shop_id {xxx} is deauthorized from your APP by
  merchant."}}``, sent when the seller deauthorizes the app.
* Type 7 (topic page "7 Upcoming authorization expiration"): ``shop_id`` and ``data``
  ``{"message": "Authorization of shop_id {xxx} is expiring in {x} days. Please direct the
  merchant to re-authorize.", "expiration_time": "<Unix seconds, a string>"}``, sent from 30 days
  before the authorization expires, then once a day at 0:00 until the seller authorizes again.
* Type 20 (topic page "20 Creator deauthorization"): ``creator_open_id`` at the top level instead
  of a shop, and ``data`` ``{"cancel_time": "<Unix seconds>"}``, when a creator removes the app.

The sandbox's choices where TikTok documents nothing
----------------------------------------------------
* Each delay between attempts counts from the previous attempt, on the sandbox's clock (a
  :class:`~.clock.FakeClock` in tests); the 3 seconds are real time (the HTTP timeout). An attempt
  succeeds on HTTP 200 only (any body); any other status (redirects are not followed), a timeout or
  a connection error is a failure. After the 4th retry fails (5 attempts) the notice is dropped.
* A notice's body is made once, when it is queued: compact JSON (``separators=(",", ":")``), its
  ``timestamp`` the sandbox clock then, its ``tts_notification_id`` 19 random digits (the length of
  the documented samples); every retry sends the same bytes and signature. ``{xxx}`` in a message
  is the shop_id; ``{x}`` the whole days left (rounded down). ``cancel_time`` is a string, as the
  topic page's table types it (its example shows a number).
* Type 6 goes out once per shop of the seller for each app that held a seller (or partner) grant
  of it; type 20 once per creator open_id for each app that held a creator grant (user_type 1).
  Revocation is :meth:`~.state.SandboxState.deauthorize`, the ``seller-deauthorized`` and
  ``api2cart-credentials-refused`` scenarios, ``sandbox --deauthorize`` and the "Remove the app"
  button of ``/sandbox/sellers``: all the same event.
* Type 7: for each app and seller, only the authorization with the LATEST end counts (a newer
  authorization with a later end stops the notices, as authorizing again does); no type 7 for a
  creator (the page names only shops). The first notice goes out as soon as a sender sees the
  end within 30 days, then one per UTC day (TikTok names no time zone for 0:00), claimed in the
  state file so several sandboxes queue it once. Notices are queued only while a URL is set.
* The outbox keeps no URL: a delivery goes to the URL of the sandbox that sends it. The sender is
  a daemon thread, running only while a webhook URL is set, that wakes every 0.2 s (real time) and
  makes one pass (:meth:`Webhooks.deliver_due`): queue the due type 7 notices, then deliver every
  due delivery. http:// and https:// URLs are accepted (a local receiver has no certificate); an
  https:// receiver's certificate is checked against the system's trusted certificates.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import ssl
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from tiktok_helpers.signing import webhook_signature

from .model import USER_TYPES, Grant
from .outbox import Delivery, Outbox
from .store import StateStore

__all__ = [
    "DELIVERY_TIMEOUT",
    "EXPIRY_WINDOW",
    "RETRY_DELAYS",
    "SENDER_INTERVAL",
    "WebhookSender",
    "Webhooks",
    "check_webhook_url",
]

logger = logging.getLogger("tiktok_helpers.sandbox")

#: Seconds after each failed attempt before the next ("Webhooks overview": 2 min, 30 min, 3 h, 12 h).
RETRY_DELAYS: Final = (2 * 60, 30 * 60, 3 * 3600, 12 * 3600)
#: The receiver's time to answer, in real seconds ("Webhooks overview").
DELIVERY_TIMEOUT: Final = 3.0
#: How long before the authorization's end type 7 notices start (topic page 7).
EXPIRY_WINDOW: Final = 30 * 24 * 3600
#: Real seconds between two passes of the sender thread (the sandbox's choice).
SENDER_INTERVAL: Final = 0.2
_DAY: Final = 24 * 3600
_CREATOR: Final = USER_TYPES["creator"]
#: The most deliveries one pass makes (a guard: a pass always ends).
_MAX_PER_PASS: Final = 1000


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every pass (the system's trusted certificates): building one per client
    would cost each pass tens of milliseconds."""
    return ssl.create_default_context()


def check_webhook_url(url: object) -> str | None:
    """``url`` if it is an absolute ``http://`` or ``https://`` URL, or None; else ValueError."""
    if url is None:
        return None
    if isinstance(url, str):
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.hostname:
            return url
    raise ValueError(f"the webhook URL must be an absolute http:// or https:// URL (or None), not {url!r}")


def notice_body(kind: int, subject: tuple[str, str], timestamp: int, data: dict[str, str]) -> bytes:
    """A notice's exact bytes: ``subject`` is ``("shop_id", id)`` or ``("creator_open_id", id)``."""
    envelope: dict[str, Any] = {
        "type": kind,
        "tts_notification_id": str(10**18 + secrets.randbelow(9 * 10**18)),
        subject[0]: subject[1],
        "timestamp": timestamp,
        "data": data,
    }
    return json.dumps(envelope, separators=(",", ":")).encode("utf-8")


class Webhooks:
    """The webhook notices of one sandbox state: what is queued (in ``store``'s outbox) and sent."""

    def __init__(self, store: StateStore, now: Callable[[], float], url: str | None = None) -> None:
        self.store = store
        self.now = now
        self.outbox = Outbox(store)
        self._url = check_webhook_url(url)

    @property
    def url(self) -> str | None:
        """Where notices go (None: nowhere, and none is queued)."""
        return self._url

    @url.setter
    def url(self, value: str | None) -> None:
        self._url = check_webhook_url(value)

    # ------------------------------------------------------------------ queueing
    def revoked(self, grants: Sequence[Grant]) -> list[int]:
        """Queue type 6 (a shop's grant) and type 20 (a creator's) for revoked ``grants``, due now;
        returns the deliveries' ids. Call it in the transaction that revokes them."""
        if self._url is None or not grants:
            return []
        now = self.now()
        stamp = int(now)
        queued: dict[tuple[str, str, str], int] = {}
        for grant in grants:
            if grant.user_type == _CREATOR:
                key = (grant.app_key, "creator_open_id", grant.open_id)
                if key not in queued:
                    body = notice_body(20, key[1:], stamp, {"cancel_time": str(stamp)})
                    queued[key] = self.outbox.add(grant.app_key, body, now)
                continue
            seller = self.store.seller(grant.seller_key)
            for shop in seller.shops if seller is not None else ():
                key = (grant.app_key, "shop_id", shop.id)
                if key not in queued:
                    data = {"message": f"Shop_id {shop.id} is deauthorized from your APP by merchant."}
                    queued[key] = self.outbox.add(grant.app_key, notice_body(6, key[1:], stamp, data), now)
        return list(queued.values())

    def queue_expiring(self) -> int:
        """Queue today's type 7 notices that are not queued yet; returns how many."""
        if self._url is None:
            return 0
        now = self.now()
        day, count = int(now // _DAY), 0
        with self.store.mutation():
            for app_key, seller_key, end in self.store.latest_ends(now, now + EXPIRY_WINDOW, _CREATOR):
                seller = self.store.seller(seller_key)
                for shop in seller.shops if seller is not None else ():
                    if not self.outbox.claim_expiry_day(app_key, seller_key, shop.id, day):
                        continue
                    days = int((end - now) // _DAY)
                    message = (
                        f"Authorization of shop_id {shop.id} is expiring in {days} days. "
                        "Please direct the merchant to re-authorize."
                    )
                    data = {"message": message, "expiration_time": str(end)}
                    self.outbox.add(app_key, notice_body(7, ("shop_id", shop.id), int(now), data), now)
                    count += 1
        return count

    # ------------------------------------------------------------------ delivering
    def deliver_due(self, stop: threading.Event | None = None) -> int:
        """One pass: queue due type 7 notices, then attempt every due delivery once (each claimed,
        so no other sandbox sends it meanwhile). Returns how many the receiver took (HTTP 200)."""
        url = self._url
        if url is None:
            return 0
        self.queue_expiring()
        delivered = 0
        client: httpx.Client | None = None
        try:
            for _ in range(_MAX_PER_PASS):
                if stop is not None and stop.is_set():
                    break
                now = self.now()
                delivery = self.outbox.claim_next(now)
                if delivery is None:
                    break
                if client is None:
                    client = httpx.Client(timeout=DELIVERY_TIMEOUT, follow_redirects=False, verify=_tls())
                if self._post(client, url, delivery):
                    self.outbox.delivered(delivery)
                    delivered += 1
                else:
                    retry = delivery.attempts < len(RETRY_DELAYS)
                    self.outbox.failed(delivery, now + RETRY_DELAYS[delivery.attempts] if retry else None)
                    if not retry:
                        logger.info("webhook delivery %d dropped: its 4th retry failed", delivery.id)
        finally:
            if client is not None:
                client.close()
        return delivered

    def _post(self, client: httpx.Client, url: str, delivery: Delivery) -> bool:
        app = self.store.apps.get(delivery.app_key)
        if app is None:
            return False
        signature = webhook_signature(app.app_key, app.app_secret, delivery.body)
        headers = {"Content-Type": "application/json", "Authorization": signature}
        try:
            reply = client.post(url, content=delivery.body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as err:
            logger.debug("webhook delivery %d failed: %s", delivery.id, type(err).__name__)
            return False
        if reply.status_code != 200:
            logger.debug("webhook delivery %d answered HTTP %d", delivery.id, reply.status_code)
        return reply.status_code == 200


class WebhookSender:
    """The daemon thread that calls ``deliver(stop)`` every :data:`SENDER_INTERVAL` real seconds."""

    def __init__(self, deliver: Callable[[threading.Event], int], name: str = "tiktok-sandbox-webhooks") -> None:
        self._deliver = deliver
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start the thread (no-op when running)."""
        if self._thread is not None:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (an attempt in flight ends within its 3 s timeout)."""
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout=DELIVERY_TIMEOUT + 2)

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(SENDER_INTERVAL):
            try:
                self._deliver(stop)
            except Exception as err:  # a busy or replaced state file: the next pass tries again
                logger.warning("webhook sender: %s: %s", type(err).__name__, err)
