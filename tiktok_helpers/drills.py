"""Training drills: meet a failure in the sandbox, name its cause and fix, apply the fix.

Each :class:`Drill` pairs a sandbox training scenario (:mod:`tiktok_helpers.sandbox.scenarios`)
with the runbook step it breaks. :func:`meet` prepares what the step needs (a seller's grant, a
store in API2Cart), switches the scenario on and runs the real step through the
:class:`~tiktok_helpers.session.Session`, exactly as the notebooks and the CLI do; the failure
comes back as a :class:`DrillRun`. The trainee picks a cause and a fix among a few
(:meth:`DrillRun.cause_choices`, :meth:`DrillRun.fix_choices`): every choice is a catalog text,
the right one is the failure's own (``exc.cause`` / ``exc.fix``), so :func:`judge` answers from
the catalog, the one source of titles, causes and fixes. :func:`apply_fix` then does what the fix
says and runs the step again, which now works. :class:`Scorecard` counts the answers.

Drills run in a throwaway training runbook (:func:`open_training_session`): its own ``.env``,
grant database and sandbox state in a temporary folder, in sandbox mode whatever the real
``.env`` says, so a drill never touches an integrator's sellers.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .catalog import CATALOG, lookup
from .errors import TikTokHelperError
from .sandbox.scenarios import SCENARIOS, Scenario

if TYPE_CHECKING:
    from .session import Session

__all__ = [
    "DRILLS",
    "Drill",
    "DrillError",
    "DrillRun",
    "FixResult",
    "Scorecard",
    "Verdict",
    "apply_fix",
    "judge",
    "meet",
    "open_training_session",
]


class DrillError(TikTokHelperError):
    """A drill could not be run as designed (the step did not fail, or the session is not a sandbox)."""

    catalog_code = "runbook.error"


Step = Callable[["Session"], str]


@dataclass(frozen=True)
class Drill:
    """One drill: the scenario, the step it breaks, and two other catalog entries to choose among."""

    scenario: str
    title: str
    #: The runbook step, as the notebooks and the CLI run it.
    step: str
    #: What the trainee should take away (the trainer's page).
    teaches: str
    #: Catalog codes whose cause and fix are offered beside the right ones.
    decoys: tuple[str, str]

    @property
    def about(self) -> Scenario:
        return SCENARIOS[self.scenario]


# --------------------------------------------------------------------------- the runbook's steps


def _authorize(session: Session) -> str:
    """Authorize as a person pasting the address the browser landed on: link, Authorize, exchange."""
    link = session.authorization_link()
    address = session.approve_in_sandbox(link)
    tokens = session.exchange_pasted(address)
    until = f"{tokens.access_token_expires_at:%Y-%m-%d %H:%M}"
    return f"Tokens received for {tokens.seller_name}; the access token lasts until {until} UTC."


def _refresh(session: Session) -> str:
    tokens = session.refresh()
    return f"Refreshed: a new access token until {tokens.access_token_expires_at:%Y-%m-%d %H:%M} UTC."


def _shops(session: Session) -> str:
    shops = session.authorized_shops()
    names = ", ".join(f"{s.name} ({s.region})" for s in shops) or "none"
    return f"Get Authorized Shops works: {len(shops)} shop(s): {names}."


def _add_store(session: Session) -> str:
    key = session.add_store(custom_label="TikTok Shop (drill)")
    return f"Store added to API2Cart; store key {key}."


def _validate(session: Session) -> str:
    session.validate_store()
    return "API2Cart validated the store: the credentials it holds work."


def _update_store(session: Session) -> str:
    return f"Pushed the seller's current refresh token to store {session.update_store()} (account.config.update)."


def _ensure_grant(session: Session) -> str:
    """A seller whose tokens work: authorize a new one (each drill starts from a fresh grant)."""
    return _authorize(session)


def _with_store(session: Session) -> str:
    _authorize(session)
    return _add_store(session)


def _with_refreshed_store(session: Session) -> str:
    _with_store(session)
    return _refresh(session)


def _nothing(session: Session) -> str:
    return ""


def _switch_off(session: Session) -> None:
    assert session.sandbox is not None
    session.sandbox.scenario = None


def _then(*steps: Step) -> Step:
    def run(session: Session) -> str:
        return " ".join(s for s in (step(session) for step in steps) if s)

    return run


def _fix_outside(then: Step) -> Step:
    """A lasting scenario's fix happens outside the sandbox: switching the scenario off stands for it."""

    def run(session: Session) -> str:
        _switch_off(session)
        return then(session)

    return run


def _find_existing_store(session: Session) -> str:
    stores = session.list_stores()
    if not stores:
        raise DrillError("the account lists no store: the scenario did not add one")
    store = stores[-1]
    session.validate_store(store.store_key)
    return (
        f"account.cart.list shows {len(stores)} store(s); the one added earlier is "
        f"{store.custom_label or store.url!r}, "
        f"store key {store.store_key}, and cart.validate accepts it. Use that store; do not add it again."
    )


@dataclass(frozen=True)
class _Plan:
    prepare: Step
    attempt: Step
    fix: Step
    #: What applying the fix means here (shown before it is done).
    fix_note: str


_PLANS: Final[dict[str, _Plan]] = {
    "code-used-twice": _Plan(_nothing, _authorize, _authorize, "Authorize again and exchange the new code once."),
    "code-expired": _Plan(_nothing, _authorize, _authorize, "Authorize again and exchange the new code at once."),
    "seller-cancels": _Plan(
        _nothing, _authorize, _authorize, "Ask the seller to open the link again and press Authorize."
    ),
    "stale-redirect": _Plan(
        _nothing, _authorize, _authorize, "Open the link just built (one tab), approve, use that redirect."
    ),
    "refresh-token-expired": _Plan(
        _ensure_grant, _refresh, _then(_authorize, _refresh), "The seller authorizes again; the new grant refreshes."
    ),
    "refresh-token-replaced": _Plan(
        _ensure_grant,
        _refresh,
        _then(_authorize, _refresh),
        "The latest refresh token is with the other copy; here the seller authorizes again.",
    ),
    "scope-not-granted": _Plan(
        _ensure_grant,
        _shops,
        _then(_authorize, _shops),
        "Add the API package in Partner Center (the sandbox app has it), then the seller authorizes again.",
    ),
    "seller-deauthorized": _Plan(
        _ensure_grant, _shops, _then(_authorize, _shops), "The seller authorizes the app again."
    ),
    "access-token-expired": _Plan(
        _ensure_grant, _shops, _then(_refresh, _shops), "Refresh the access token, then call again."
    ),
    "clock-ahead": _Plan(
        _ensure_grant,
        _shops,
        _fix_outside(_shops),
        "Set this computer's clock right (network time); in the sandbox: switch the scenario off.",
    ),
    "bad-signature": _Plan(
        _ensure_grant,
        _shops,
        _fix_outside(_shops),
        "Copy the App Secret again from Partner Center and save it; in the sandbox: switch the scenario off.",
    ),
    "rate-limited": _Plan(_ensure_grant, _shops, _shops, "Wait a moment and call again."),
    "tiktok-internal-error": _Plan(_ensure_grant, _shops, _shops, "Try again a little later."),
    "api2cart-wrong-key": _Plan(
        _ensure_grant,
        _add_store,
        _fix_outside(_add_store),
        "Copy the API key from API2Cart's admin panel and save it; in the sandbox: switch the scenario off.",
    ),
    "api2cart-credentials-refused": _Plan(
        _ensure_grant,
        _add_store,
        _then(_authorize, _add_store),
        "The seller authorizes again; add the store with the new refresh token.",
    ),
    "api2cart-store-exists": _Plan(
        _ensure_grant, _add_store, _find_existing_store, "Find the store already in the account and use it."
    ),
    "api2cart-stale-refresh-token": _Plan(
        _with_refreshed_store,
        _validate,
        _then(_update_store, _validate),
        "Push the seller's current refresh token to API2Cart (account.config.update).",
    ),
    "api2cart-store-deleted": _Plan(
        _with_store, _validate, _then(_add_store, _validate), "Add the store again, then validate it."
    ),
}

#: The drills in teaching order (the scenarios' order): authorization, tokens, Open API, API2Cart.
DRILLS: Final[dict[str, Drill]] = {
    d.scenario: d
    for d in (
        Drill(
            "code-used-twice",
            "A code used twice",
            "exchange the code (notebook 03)",
            "a code works once: a second exchange fails with 36004004",
            ("36004005", "36004003"),
        ),
        Drill(
            "code-expired",
            "A code that waited too long",
            "exchange the code (notebook 03)",
            "codes live 30 minutes: exchange at once, or authorize again",
            ("36004001", "redirect.timeout"),
        ),
        Drill(
            "seller-cancels",
            "The seller pressed Cancel",
            "authorize (notebook 02)",
            "a refusal comes back as error=auth_denied, with no code",
            ("redirect.state_mismatch", "36004004"),
        ),
        Drill(
            "stale-redirect",
            "A redirect from an older link",
            "authorize (notebook 02)",
            "the state ties a redirect to the link just built: an old tab's redirect is refused",
            ("redirect.denied", "36004004"),
        ),
        Drill(
            "refresh-token-expired",
            "The authorization has ended",
            "refresh (notebook 05)",
            "36004001: only the seller can renew an ended authorization",
            ("36004005", "105002"),
        ),
        Drill(
            "refresh-token-replaced",
            "A refresh token someone else used",
            "refresh (notebook 05)",
            "36004005: keep one copy of the credentials, always save the returned refresh token",
            ("36004001", "105001"),
        ),
        Drill(
            "scope-not-granted",
            "A scope the seller never granted",
            "Get Authorized Shops (notebook 03)",
            "105005: add the API package, then the seller must authorize again",
            ("105001", "106001"),
        ),
        Drill(
            "seller-deauthorized",
            "The seller removed the app",
            "Get Authorized Shops (notebook 03)",
            "105001 after a refresh does not help: the seller must authorize again",
            ("105002", "36009004"),
        ),
        Drill(
            "access-token-expired",
            "An access token older than 7 days",
            "Get Authorized Shops (notebook 03)",
            "105002: refresh, do not re-authorize",
            ("105001", "36004001"),
        ),
        Drill(
            "clock-ahead",
            "This computer's clock is ahead",
            "Get Authorized Shops (notebook 03)",
            "36009004 has several causes: read the message; a timestamp means the clock",
            ("106001", "105002"),
        ),
        Drill(
            "bad-signature",
            "A signature TikTok does not accept",
            "Get Authorized Shops (notebook 03)",
            "106001: the App Secret (or the signed bytes) differ",
            ("36009004", "105001"),
        ),
        Drill(
            "rate-limited",
            "Too many calls",
            "Get Authorized Shops (notebook 03)",
            "36009002 passes by itself: wait and retry, never re-authorize",
            ("105001", "36009003"),
        ),
        Drill(
            "tiktok-internal-error",
            "TikTok fails for a moment",
            "Get Authorized Shops (notebook 03)",
            "36009003 is TikTok's side: retry later, keep the request_id",
            ("106001", "36009002"),
        ),
        Drill(
            "api2cart-wrong-key",
            "The wrong API2Cart key",
            "add the store to API2Cart (notebook 04)",
            "return_code 2 is about the API2Cart key, not TikTok's credentials",
            ("api2cart.100", "api2cart.101"),
        ),
        Drill(
            "api2cart-credentials-refused",
            "API2Cart cannot use TikTok's credentials",
            "add the store to API2Cart (notebook 04)",
            "return_code 100 carries TikTok's refusal: authorize again, add with the new token",
            ("api2cart.2", "api2cart.8"),
        ),
        Drill(
            "api2cart-store-exists",
            "The store is already in API2Cart",
            "add the store to API2Cart (notebook 04)",
            "return_code 8: list the stores and use the one there",
            ("api2cart.101", "api2cart.100"),
        ),
        Drill(
            "api2cart-stale-refresh-token",
            "API2Cart holds an old refresh token",
            "validate the store in API2Cart (notebook 05)",
            "a refresh here rotates the token API2Cart holds: push it with account.config.update",
            ("api2cart.101", "api2cart.2"),
        ),
        Drill(
            "api2cart-store-deleted",
            "The store was deleted in API2Cart",
            "validate the store in API2Cart (notebook 05)",
            "return_code 101: the store key is unknown; list, or add the store again",
            ("api2cart.100", "api2cart.8"),
        ),
    )
}


# --------------------------------------------------------------------------- running a drill


@dataclass(frozen=True)
class DrillRun:
    """A drill's step, failed as the scenario made it fail."""

    drill: Drill
    error: TikTokHelperError

    @property
    def shown(self) -> str:
        """The failure as the step reports it, without the catalog's explanation (the quiz asks for it)."""
        detail = self.error.detail.strip() or self.error.title
        return f"{type(self.error).__name__}: {detail}"

    @property
    def code(self) -> str:
        """The catalog code of the failure."""
        return self.error.entry.code

    def _choices(self, right: str, pick: Callable[[str], str]) -> tuple[str, ...]:
        options = [right, *(pick(code) for code in self.drill.decoys)]
        unique = list(dict.fromkeys(options))
        # A fixed order per drill (not always the right one first), the same on every run.
        return tuple(sorted(unique, key=lambda text: hashlib.sha256((self.drill.scenario + text).encode()).hexdigest()))

    def cause_choices(self) -> tuple[str, ...]:
        """The causes to choose among: the failure's own and its decoys' (catalog texts)."""
        return self._choices(self.error.cause, lambda code: lookup(code).cause)

    def fix_choices(self) -> tuple[str, ...]:
        """The fixes to choose among: the failure's own and its decoys' (catalog texts)."""
        return self._choices(self.error.fix, lambda code: lookup(code).fix)


@dataclass(frozen=True)
class Verdict:
    """Whether the chosen cause and fix were the failure's own, and the catalog's explanation."""

    drill: Drill
    cause_right: bool
    fix_right: bool
    title: str
    cause: str
    fix: str
    #: The answer was chosen by the autopilot (nobody answered), not by the trainee.
    autopilot: bool = False

    @property
    def right(self) -> bool:
        return self.cause_right and self.fix_right

    def text(self) -> str:
        def mark(ok: bool) -> str:
            return "right" if ok else "not this one"

        who = " (chosen by the autopilot: nobody answered)" if self.autopilot else ""
        return (
            f"Cause: {mark(self.cause_right)}. Fix: {mark(self.fix_right)}{who}.\n"
            f"{self.title}. Why: {self.cause}\nWhat to do: {self.fix}"
        )


@dataclass
class Scorecard:
    """The answers of one training session, drill by drill (the latest answer of each counts)."""

    verdicts: dict[str, Verdict] = field(default_factory=dict)

    def record(self, verdict: Verdict) -> Verdict:
        self.verdicts[verdict.drill.scenario] = verdict
        return verdict

    @property
    def right(self) -> int:
        return sum(v.right and not v.autopilot for v in self.verdicts.values())

    @property
    def by_autopilot(self) -> int:
        return sum(v.autopilot for v in self.verdicts.values())

    def summary(self) -> str:
        answered = len(self.verdicts) - self.by_autopilot
        line = f"Score: {self.right} of {answered} drill(s) answered right (cause and fix)"
        if self.by_autopilot:
            line += f"; {self.by_autopilot} answered by the autopilot (not counted)"
        return line + f"; {len(DRILLS) - len(self.verdicts)} not done."

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(drill, cause, fix, by) per answered drill, in the drills' order."""

        def mark(ok: bool) -> str:
            return "right" if ok else "wrong"

        return [
            (v.drill.title, mark(v.cause_right), mark(v.fix_right), "autopilot" if v.autopilot else "you")
            for name in DRILLS
            if (v := self.verdicts.get(name)) is not None
        ]


def _plan(name: str) -> tuple[Drill, _Plan]:
    drill = DRILLS.get(name)
    if drill is None:
        raise DrillError(f"no drill called {name!r}: choose one of {', '.join(DRILLS)}")
    return drill, _PLANS[name]


def meet(session: Session, name: str) -> DrillRun:
    """Prepare the drill's step, switch its scenario on and run the step; returns the failure.

    Raises :class:`DrillError` when the session has no embedded sandbox or the step did not fail
    as the scenario makes it fail (a bug in the drill, reported as such).
    """
    drill, plan = _plan(name)
    if session.sandbox is None:
        raise DrillError("drills run in the embedded sandbox: open the session with open_training_session()")
    session.sandbox.scenario = None
    session.sandbox.reset()  # every drill starts from an empty sandbox: no store or grant of an earlier one
    plan.prepare(session)
    session.sandbox.scenario = name
    try:
        done = plan.attempt(session)
    except TikTokHelperError as exc:
        expected = drill.about.answer
        if exc.entry.code != expected:
            raise DrillError(f"drill {name!r} failed with {exc.entry.code}, not {expected}: {exc.detail}") from None
        return DrillRun(drill, exc)
    raise DrillError(f"drill {name!r}: the step did not fail ({done})")


def judge(run: DrillRun, cause: str | None, fix: str | None, *, autopilot: bool = False) -> Verdict:
    """Compare the chosen cause and fix with the failure's own (the catalog's); with ``autopilot``
    and nothing chosen, the right ones are taken and the verdict says so."""
    chose_nothing = cause is None and fix is None
    if autopilot and chose_nothing:
        cause, fix = run.error.cause, run.error.fix
    return Verdict(
        run.drill,
        cause_right=cause == run.error.cause,
        fix_right=fix == run.error.fix,
        title=run.error.title,
        cause=run.error.cause,
        fix=run.error.fix,
        autopilot=autopilot and chose_nothing,
    )


@dataclass(frozen=True)
class FixResult:
    note: str
    outcome: str

    def text(self) -> str:
        return f"Fix: {self.note}\nDone: {self.outcome}"


def apply_fix(session: Session, run: DrillRun) -> FixResult:
    """Do what the fix says (in the sandbox) and run the step again; it works now."""
    _, plan = _plan(run.drill.scenario)
    try:
        outcome = plan.fix(session)
    finally:
        _switch_off(session)
    return FixResult(plan.fix_note, outcome)


def open_training_session(folder: Path | str | None = None) -> Session:
    """A session on a throwaway runbook in ``folder`` (default: a new temporary folder, removed when
    Python exits): its own ``.env`` (sandbox mode, the shell's variables ignored), grant database and
    sandbox state."""
    from .session import open_session

    if folder is None:
        where = Path(tempfile.mkdtemp(prefix="runbook-drills-"))
        atexit.register(shutil.rmtree, where, ignore_errors=True)  # throwaway: gone when Python exits
    else:
        where = Path(folder)
        where.mkdir(parents=True, exist_ok=True)
    env = where / ".env"
    env.touch(mode=0o600, exist_ok=True)
    return open_session(env, environ={}, sandbox_state=where / "sandbox-state.db")


assert set(_PLANS) == set(SCENARIOS) == set(DRILLS), "every scenario has a drill"
assert all(code in CATALOG for d in DRILLS.values() for code in (*d.decoys, d.about.answer))
