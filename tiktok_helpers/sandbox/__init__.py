"""A faithful local simulation of TikTok Shop authorization, Open API and API2Cart.

``with Sandbox() as sb:`` serves, on ``sb.base_url`` (``http://127.0.0.1:<port>``), the real
paths of:

* the consent screens: ``/open/authorize`` (seller), ``/partner/open/authorize`` (partner; the
  partner host becomes ``<base>/partner``), ``/alliance/creator/auth`` (creator);
* the token endpoints ``/api/v2/token/get`` and ``/api/v2/token/refresh``;
* the signed Open API call ``/authorization/202309/shops``;
* API2Cart under ``/v1.1/``;
* its own page ``/sandbox/sellers``, where a sample seller removes the app.

With ``webhook_url`` (CLI: ``--webhook-url URL``) it also SENDS TikTok's webhooks 6, 7 and 20 to
that URL, signed like the live ones (:mod:`tiktok_helpers.sandbox.webhooks`); ``refresh_reading``
(``--refresh-reading``) chooses what a refresh does to the refresh token, which TikTok does not
document (:mod:`tiktok_helpers.sandbox.tiktok`).

Only the host differs from live: build a consent link with
:func:`tiktok_helpers.authlink.build_authorization_link` and
``endpoints=tiktok_helpers.regions.sandbox_endpoints(sb.base_url)``. Sample credentials are in
:mod:`tiktok_helpers.samples`. The sandbox's behaviour, including its documented choices where
TikTok or API2Cart document nothing, is described in :mod:`tiktok_helpers.sandbox.tiktok`,
:mod:`tiktok_helpers.sandbox.api2cart` and the HTTP modules (:mod:`tiktok_helpers.sandbox.handler`,
:mod:`~tiktok_helpers.sandbox.tiktok_routes`, :mod:`~tiktok_helpers.sandbox.api2cart_routes`).
The sandbox autopilot, :func:`tiktok_helpers.autopilot.walk_consent`, clicks through a consent
page as the sample seller (it is a client of the sandbox and lives outside it). Run
``python -m tiktok_helpers.sandbox`` to serve from a shell.

Modules: :mod:`.model` (data and error replies), :mod:`.sample_data` (the sample app, sellers,
shops, scopes, platforms), :mod:`.tiktok`, :mod:`.api2cart` and :mod:`.agency` (the rules),
:mod:`.store`, :mod:`.schema` and :mod:`.database` (the state, in memory or in a shared SQLite
file), :mod:`.webhooks` and :mod:`.outbox` (the webhooks sent and their outbox in that file),
:mod:`.state` (:class:`SandboxState`, composing them), :mod:`.pages` (HTML), :mod:`.handler` and
the route modules (HTTP, :mod:`.seller_routes` for the sellers page), :mod:`.server`
(:class:`Sandbox`), :mod:`.clock`.

``Sandbox(state_path="state.db")`` (CLI: ``--state PATH``) keeps codes, tokens, API2Cart stores
and the registered redirect URL in an SQLite database shared by every sandbox using that path, in
any process, so notebooks that each start their own sandbox continue where the previous one
stopped; ``Sandbox.reset()`` starts over. See "Persistence" in :mod:`tiktok_helpers.sandbox.store`.

The sample sellers the consent page offers are :data:`SAMPLE_SELLERS` (``global``: a GB store,
``us``, ``sg``); :func:`sample_seller_key` accepts a key or a seller name.
:meth:`SandboxState.mint_grants` creates an agency's many sellers with grants at once, and
``Sandbox(latency_ms=N)`` (CLI: ``--latency-ms N``) delays every reply to simulate a network.
"""

from __future__ import annotations

from .agency import MintedGrant
from .clock import Clock, FakeClock, SystemClock
from .handler import MAX_LATENCY_MS
from .model import Api2CartErrorReply, ConsentPageRefusal, TikTokErrorReply
from .sample_data import SAMPLE_SELLERS, sample_seller_key
from .server import Sandbox
from .state import SandboxState
from .tiktok import ACCESS_TOKEN_TTL, AUTH_CODE_TTL, REFRESH_TOKEN_TTL

__all__ = [
    "ACCESS_TOKEN_TTL",
    "AUTH_CODE_TTL",
    "MAX_LATENCY_MS",
    "REFRESH_TOKEN_TTL",
    "SAMPLE_SELLERS",
    "Api2CartErrorReply",
    "Clock",
    "ConsentPageRefusal",
    "FakeClock",
    "MintedGrant",
    "Sandbox",
    "SandboxState",
    "SystemClock",
    "TikTokErrorReply",
    "sample_seller_key",
]
