"""tiktok_helpers: connect a TikTok Shop store to API2Cart, step by step.

The package behind the runbook notebooks. Importing it is cheap: names are loaded from their
modules on first use, and nothing here imports ipywidgets or Jupyter (the widgets live in
:mod:`tiktok_helpers.widgets`).

Modules, one concern each:

- :mod:`~tiktok_helpers.settings` — setting names, validation on load/save, sandbox/live mode
- :mod:`~tiktok_helpers.store` — the persistence boundary: where a step's results are saved
- :mod:`~tiktok_helpers.session` — the flow: one method per step, and ``authorize`` for all of it
- :mod:`~tiktok_helpers.validation` — checks for pasted App Key, App Secret, service_id, URLs
- :mod:`~tiktok_helpers.regions` — regions, authorization types, hosts
- :mod:`~tiktok_helpers.authlink` — the authorization link and its ``state``
- :mod:`~tiktok_helpers.redirect` — parsing the redirect back (URL or bare code)
- :mod:`~tiktok_helpers.tokens` — token exchange and refresh
- :mod:`~tiktok_helpers.signing` / :mod:`~tiktok_helpers.openapi` — signed Open API calls
- :mod:`~tiktok_helpers.api2cart` — adding and listing the store in API2Cart
- :mod:`~tiktok_helpers.catalog` / :mod:`~tiktok_helpers.errors` — every error, with its fix
- :mod:`~tiktok_helpers.secret` — the masked ``Secret`` string
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # settings
    "Settings": "settings",
    "Mode": "settings",
    "AppType": "settings",
    "load_settings": "settings",
    "save_settings": "settings",
    "EnvStore": "store",
    # regions
    "Region": "regions",
    "AuthType": "regions",
    "UserType": "regions",
    "Endpoints": "regions",
    "endpoints_for": "regions",
    "sandbox_endpoints": "regions",
    # authorization
    "AuthorizationLink": "authlink",
    "build_authorization_link": "authlink",
    "new_state": "authlink",
    "RedirectResult": "redirect",
    "parse_redirect": "redirect",
    # clients
    "TokenClient": "tokens",
    "TokenSet": "tokens",
    "RECOMMENDED_SCOPES": "tokens",
    "OpenApiClient": "openapi",
    "Shop": "openapi",
    "Api2CartClient": "api2cart",
    "Api2CartStore": "api2cart",
    "sign": "signing",
    # support
    "Secret": "secret",
    "mask": "secret",
    "CATALOG": "catalog",
    "catalog_markdown": "catalog",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .api2cart import Api2CartClient, Api2CartStore
    from .authlink import AuthorizationLink, build_authorization_link, new_state
    from .catalog import CATALOG, catalog_markdown
    from .openapi import OpenApiClient, Shop
    from .redirect import RedirectResult, parse_redirect
    from .regions import AuthType, Endpoints, Region, UserType, endpoints_for, sandbox_endpoints
    from .secret import Secret, mask
    from .settings import AppType, Mode, Settings, load_settings, save_settings
    from .signing import sign
    from .store import EnvStore
    from .tokens import RECOMMENDED_SCOPES, TokenClient, TokenSet


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tiktok_helpers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
