"""A faithful local simulation of TikTok Shop authorization, Open API and API2Cart.

``with Sandbox() as sb:`` serves, on ``sb.base_url`` (``http://127.0.0.1:<port>``), the real
paths of:

* the consent screens: ``/open/authorize`` (seller), ``/partner/open/authorize`` (partner; the
  partner host becomes ``<base>/partner``), ``/alliance/creator/auth`` (creator);
* the token endpoints ``/api/v2/token/get`` and ``/api/v2/token/refresh``;
* the signed Open API call ``/authorization/202309/shops``;
* API2Cart under ``/v1.1/``.

Only the host differs from live. Sample credentials are in :mod:`tiktok_helpers.samples`. The
sandbox's behaviour, including its documented choices where TikTok or API2Cart document nothing,
is described in :mod:`tiktok_helpers.sandbox.state` and :mod:`tiktok_helpers.sandbox.server`;
:func:`tiktok_helpers.sandbox.browser.walk_consent` clicks through a consent page (it needs
httpx, so it is not imported here). Run ``python -m tiktok_helpers.sandbox`` to serve from a shell.

``Sandbox(state_path="sandbox-state.json")`` (CLI: ``--state PATH``) keeps codes, tokens, API2Cart
stores and the registered redirect URL in a JSON file shared by every sandbox using that path, in
any process, so notebooks that each start their own sandbox continue where the previous one
stopped; ``Sandbox.reset()`` starts over. See "Persistence" in :mod:`tiktok_helpers.sandbox.state`.
"""

from __future__ import annotations

from .clock import Clock, FakeClock, SystemClock
from .server import Sandbox
from .state import (
    ACCESS_TOKEN_TTL,
    AUTH_CODE_TTL,
    REFRESH_TOKEN_TTL,
    Api2CartError,
    ConsentError,
    SandboxState,
    TikTokError,
)

__all__ = [
    "ACCESS_TOKEN_TTL",
    "AUTH_CODE_TTL",
    "REFRESH_TOKEN_TTL",
    "Api2CartError",
    "Clock",
    "ConsentError",
    "FakeClock",
    "Sandbox",
    "SandboxState",
    "SystemClock",
    "TikTokError",
]
