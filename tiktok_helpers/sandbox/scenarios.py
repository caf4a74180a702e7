"""Training scenarios: named failure modes the sandbox can be switched into.

A scenario makes ONE step of the runbook fail the way the real service fails in a situation an
integrator meets (a code used twice, a seller who pressed Cancel, a stale refresh token held by
API2Cart, ...), with the code, message and HTTP status the sandbox answers for that situation
anyway (see :mod:`.tiktok` and :mod:`.api2cart` for where each comes from). Nothing here invents a
reply: a scenario only changes the *world* (a code's age, a grant's expiry or scopes, a store that
already exists, the service's clock) or plays a person's part (the seller presses Cancel, an old
browser tab delivers a redirect), and the usual rules then answer.

Two kinds:

* **once** (most): the scenario fires the first time its step is served, changes the world as the
  situation would, and is spent. What it changed stays changed (an expired refresh token stays
  expired), so doing the step again fails again until the fix is applied (authorize again,
  refresh, update the store ...), which then works: exactly the drill.
  ``rate-limited`` is a short burst instead (the sandbox's choice of how long TikTok's throttling
  lasts, which TikTok does not publish): it refuses the next :data:`RATE_LIMIT_BURST` requests of
  its step with HTTP 429 and 36009002, then is spent. HTTP 429 is retried by a client that retries
  reads (the runbook's: 3 attempts in all per call, ``tiktok_helpers/retry.py``), so the burst is
  as long as one call's attempts: the call fails as a rate-limited call does, and calling again
  later works. ``tiktok-internal-error`` stays once: 36009003 goes out with HTTP 200 (no status is
  published), which such a client does not retry.
* **lasting** (``clock-ahead``, ``bad-signature``, ``api2cart-wrong-key``): a condition outside the
  sandbox's data (this computer's clock, the secret or key typed into ``.env``). It holds until
  the scenario is switched off, which stands for the fix (set the clock right, copy the secret or
  key again).

Left out because what the real service answers is not (fully) public: a wrong App Secret at the
token endpoints (TikTok Shop Partner Center's authorization docs, authorization guide 202309 and
"Authorization overview" 202407, document no code for it), and an IP not on the allowlist
(36009033: "Common errors" gives its message but no HTTP status).

``Sandbox(scenario="code-expired")``, ``Sandbox.scenario = "..."`` (None switches off),
``python -m tiktok_helpers sandbox --scenario NAME``; ``--scenarios`` lists them.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from .model import Grant, OpenApiAnswer

if TYPE_CHECKING:
    from .store import StateStore

__all__ = [
    "CLOCK_AHEAD_SECONDS",
    "CODE_AGE_SECONDS",
    "INTERNAL_ERROR",
    "INTERNAL_ERROR_MESSAGE",
    "RATE_LIMITED",
    "RATE_LIMIT_BURST",
    "RATE_LIMIT_MESSAGE",
    "SCENARIOS",
    "Scenario",
    "ScenarioSwitch",
    "Step",
    "check_scenario",
    "play_on_call",
    "scenario_lines",
]

#: The steps a scenario can target, as the sandbox serves them.
Step = Literal["consent", "exchange", "refresh", "shops", "api2cart-add", "api2cart-validate"]

#: How far this computer's clock runs ahead of TikTok's in ``clock-ahead``: more than the 30 seconds
#: a signed timestamp may be ahead (TikTok Shop Partner Center docs, "Common errors"), and plainly
#: visible in ``doctor``.
CLOCK_AHEAD_SECONDS: Final = 120
#: How old the code is when it is exchanged in ``code-expired``: past the 30-minute lifetime.
CODE_AGE_SECONDS: Final = 31 * 60
#: 36009002's message in TikTok Shop's API reference error tables (public copies of the page
#: "Create Product", POST /product/202309/products, table "Error Code").
RATE_LIMIT_MESSAGE: Final = "Too many requests. You've made too many requests in a short period of time."
#: 36009002 with HTTP 429: TikTok Shop Partner Center docs, "Rate limits" ("throttled and an HTTP 429
#: error is returned") and "Common errors" ("HTTP 429 and 36009002 both indicate rate limiting").
RATE_LIMITED: Final = OpenApiAnswer(36009002, RATE_LIMIT_MESSAGE, 429)
#: How many requests of its step ``rate-limited`` refuses (the sandbox's choice): every attempt of one
#: call by a client that tries a read 3 times in all, as the runbook's does (``tiktok_helpers/retry.py``).
RATE_LIMIT_BURST: Final = 3
#: 36009003's message in the same public tables.
INTERNAL_ERROR_MESSAGE: Final = (
    "Internal error. Please try again. If the issue persists after multiple attempts, please contact platform support."
)
#: 36009003 with HTTP 200: "Get Authorized Shops" (202309) lists the code; no status is published (the
#: sandbox's choice, the one every Open API error without a published status gets).
INTERNAL_ERROR: Final = OpenApiAnswer(36009003, INTERNAL_ERROR_MESSAGE)


@dataclass(frozen=True)
class Scenario:
    """A named failure mode: what it simulates, the step it breaks and what that step then answers."""

    name: str
    #: One line: the situation, as a trainer would say it.
    summary: str
    step: Step
    #: What the step answers: a TikTok code, ``api2cart.<return_code>``, or a redirect condition.
    answer: str
    #: True: holds until switched off (the fix happens outside the sandbox); False: fires once.
    lasting: bool = False
    #: How many requests of its step a "once" scenario fires on before it is spent.
    repeats: int = 1
    #: How to meet it from a terminal (the runbook's CLI), for ``sandbox --scenario``.
    how: str = ""


_ALL: Final[tuple[Scenario, ...]] = (
    Scenario(
        "code-used-twice",
        "the authorization code was already exchanged once (a double click, a retry, another tool)",
        "exchange",
        "36004004",
        how="authorize --sandbox-approve",
    ),
    Scenario(
        "code-expired",
        "the code waited 31 minutes before the exchange (codes live 30 minutes, by the sandbox's clock)",
        "exchange",
        "36004004",
        how="authorize --sandbox-approve",
    ),
    Scenario(
        "seller-cancels",
        "the seller presses Cancel on the consent page instead of Authorize",
        "consent",
        "redirect.denied",
        how="authorize --sandbox-approve",
    ),
    Scenario(
        "stale-redirect",
        "the browser delivers a redirect from an older authorization link (its state is not this link's)",
        "consent",
        "redirect.state_mismatch",
        how="authorize --sandbox-approve --no-catch (the catcher would ignore the redirect and wait)",
    ),
    Scenario(
        "refresh-token-expired",
        "the authorization period the seller chose has ended: the refresh token is expired",
        "refresh",
        "36004001",
        how="refresh",
    ),
    Scenario(
        "refresh-token-replaced",
        "another copy of the credentials refreshed first; the sandbox's refresh replaces the refresh token, so the "
        "saved one is no longer known (TikTok does not document whether its refresh does)",
        "refresh",
        "36004005",
        how="refresh",
    ),
    Scenario(
        "scope-not-granted",
        "the seller authorized before the API package (scope) Get Authorized Shops needs was added",
        "shops",
        "105005",
        how="shops",
    ),
    Scenario(
        "seller-deauthorized",
        "the seller removed the app in Seller Center: every token of the grant is revoked",
        "shops",
        "105001",
        how="shops",
    ),
    Scenario(
        "access-token-expired",
        "the access token is older than 7 days (nobody refreshed it)",
        "shops",
        "105002",
        how="shops",
    ),
    Scenario(
        "clock-ahead",
        f"this computer's clock runs {CLOCK_AHEAD_SECONDS // 60} minutes ahead of TikTok's (lasting)",
        "shops",
        "36009004",
        lasting=True,
        how="shops (and doctor)",
    ),
    Scenario(
        "bad-signature",
        "the App Secret the runbook signs with is not the app's (a character lost when copying) (lasting)",
        "shops",
        "106001",
        lasting=True,
        how="shops",
    ),
    Scenario(
        "rate-limited",
        "too many calls in a short time: TikTok refuses one call (HTTP 429), every attempt of it",
        "shops",
        "36009002",
        how="shops",
        repeats=RATE_LIMIT_BURST,
    ),
    Scenario(
        "tiktok-internal-error",
        "TikTok's service fails once while answering Get Authorized Shops",
        "shops",
        "36009003",
        how="shops",
    ),
    Scenario(
        "api2cart-wrong-key",
        "the API2Cart API key sent is not the account's (mistyped, or another account's) (lasting)",
        "api2cart-add",
        "api2cart.2",
        lasting=True,
        how="api2cart add",
    ),
    Scenario(
        "api2cart-credentials-refused",
        "the seller removed the app just before the store is added: API2Cart's check with TikTok fails",
        "api2cart-add",
        "api2cart.100",
        how="api2cart add",
    ),
    Scenario(
        "api2cart-store-exists",
        "the store was already added to the API2Cart account (by a colleague, or an earlier run)",
        "api2cart-add",
        "api2cart.8",
        how="api2cart add",
    ),
    Scenario(
        "api2cart-stale-refresh-token",
        "a refresh whose hand-over to API2Cart never happened replaced the refresh token API2Cart holds (the "
        "sandbox's default reading; TikTok does not document whether its refresh does)",
        "api2cart-validate",
        "api2cart.100",
        how="api2cart add, a refresh whose hand-over failed, then api2cart validate",
    ),
    Scenario(
        "api2cart-store-deleted",
        "the store was deleted in API2Cart's admin panel: its store key is unknown",
        "api2cart-validate",
        "api2cart.101",
        how="api2cart add, then api2cart validate",
    ),
)

#: Every scenario by name, in teaching order (the authorization first, API2Cart last).
SCENARIOS: Final[dict[str, Scenario]] = {s.name: s for s in _ALL}


def check_scenario(name: str | None) -> Scenario | None:
    """The scenario called ``name`` (None: none), or ValueError listing the names."""
    if name is None or name == "":
        return None
    found = SCENARIOS.get(name.strip().lower())
    if found is None:
        raise ValueError(
            f"unknown scenario {name!r}: choose one of {', '.join(SCENARIOS)} (list them with sandbox --scenarios)"
        )
    return found


def scenario_lines() -> list[str]:
    """One line per scenario: its name and what it simulates (``sandbox --scenarios``)."""
    width = max(len(name) for name in SCENARIOS)
    return [f"{s.name:<{width}}  {s.summary}" for s in SCENARIOS.values()]


class ScenarioSwitch:
    """The scenario a sandbox serves now (thread-safe: request handlers ask it).

    :meth:`fire` is asked by the rules at each step: it returns the scenario when it targets that
    step and is not spent, and spends a "once" scenario (after its :attr:`Scenario.repeats` fires).
    :meth:`armed` asks without spending, so a rule does the extra work a scenario needs only while
    one waits for its step.
    """

    def __init__(self, name: str | None = None) -> None:
        self._lock = threading.Lock()
        self._scenario = check_scenario(name)
        self._left = self._scenario.repeats if self._scenario is not None else 0

    @property
    def scenario(self) -> Scenario | None:
        return self._scenario

    @property
    def name(self) -> str | None:
        return self._scenario.name if self._scenario else None

    def set(self, name: str | None) -> None:
        """Serve ``name`` from now on (armed again even if it is the same one); None: switch off."""
        scenario = check_scenario(name)
        with self._lock:
            self._scenario, self._left = scenario, scenario.repeats if scenario is not None else 0

    def _live(self) -> Scenario | None:
        """The scenario while it still applies (the caller holds the lock)."""
        s = self._scenario
        return s if s is not None and (s.lasting or self._left > 0) else None

    def active(self, name: str) -> bool:
        """Whether scenario ``name`` is on and not spent (without spending it)."""
        with self._lock:
            s = self._live()
            return s is not None and s.name == name

    def armed(self, step: Step) -> bool:
        """Whether a scenario waits for ``step`` (without spending it)."""
        with self._lock:
            s = self._live()
            return s is not None and s.step == step

    def fire(self, step: Step) -> Scenario | None:
        """The scenario if it targets ``step`` and still applies (a "once" one is spent by this,
        after as many fires as its :attr:`~Scenario.repeats`)."""
        with self._lock:
            s = self._live()
            if s is None or s.step != step:
                return None
            if not s.lasting:
                self._left -= 1
            return s


def play_on_call(
    name: str, store: StateStore, grant: Grant, scope: str, now: float, revoke: Callable[[str], object]
) -> None:
    """A training scenario's change to the world before a valid signed call is answered (committed
    by the caller before TikTok's rules answer the call), or its refusal of the call itself.
    ``revoke(seller_key)`` removes the app for a seller as the seller does (webhooks included)."""
    if name == "rate-limited":
        raise RATE_LIMITED.refusal()
    if name == "tiktok-internal-error":
        raise INTERNAL_ERROR.refusal()
    if name == "scope-not-granted":
        store.replace_grant(dataclasses.replace(grant, scopes=tuple(s for s in grant.scopes if s != scope)))
    elif name == "seller-deauthorized":
        revoke(grant.seller_key)
    elif name == "access-token-expired":
        store.replace_grant(dataclasses.replace(grant, access_expires_at=int(now) - 1))
