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

The drills and their plans (the steps that prepare each, the step it breaks, the steps of its fix)
are data: ``drills.json`` beside this module, read at import; the steps a plan names are the
functions in ``_STEPS``.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from .catalog import CATALOG, lookup
from .errors import TikTokHelperError
from .sandbox.scenarios import SCENARIOS, Scenario
from .session import Session, open_session

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
    attempt = session.begin_authorization()
    address = session.approve_in_sandbox(attempt)
    tokens = session.exchange_pasted(address, attempt=attempt)
    until = f"{tokens.access_token_expires_at:%Y-%m-%d %H:%M}"
    return f"Tokens received for {tokens.seller_name}; the access token lasts until {until} UTC."


def _refresh(session: Session) -> str:
    tokens = session.refresh()
    return f"Refreshed: a new access token until {tokens.access_token_expires_at:%Y-%m-%d %H:%M} UTC."


def _refresh_here_only(session: Session) -> str:
    """A refresh whose hand-over to API2Cart never happened (API2Cart could not be reached then): the
    new pair saved here, the store left with the refresh token it held."""
    grant = session.reopen().seller
    if grant is None:
        raise DrillError("no seller to refresh: the drill's first step authorizes one")
    session.save_tokens(session.token_client().refresh(grant.refresh_token), seller=grant)
    return "Refreshed here; the hand-over of the new refresh token to API2Cart did not happen."


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


def _switch_off(session: Session) -> None:
    assert session.sandbox is not None
    session.sandbox.scenario = None


def _scenario_off(session: Session) -> str:
    """A lasting scenario's fix happens outside the sandbox: switching the scenario off stands for it."""
    _switch_off(session)
    return ""


def _then(*steps: Step) -> Step:
    def run(session: Session) -> str:
        return " ".join(s for s in (step(session) for step in steps) if s)

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


#: The steps a drill's plan names in ``drills.json``.
_STEPS: Final[dict[str, Step]] = {
    "authorize": _authorize,
    "refresh": _refresh,
    "refresh-here-only": _refresh_here_only,
    "shops": _shops,
    "add-store": _add_store,
    "validate": _validate,
    "update-store": _update_store,
    "find-existing-store": _find_existing_store,
    "scenario-off": _scenario_off,
}
_DRILL_KEYS: Final = frozenset(
    {"scenario", "title", "step", "teaches", "decoys", "prepare", "attempt", "fix", "fix_note"}
)


@dataclass(frozen=True)
class _Plan:
    prepare: Step
    attempt: Step
    fix: Step
    #: What applying the fix means here (shown before it is done).
    fix_note: str


def _text(item: dict[str, Any], key: str) -> str:
    value = item[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"drills.json: drill {item.get('scenario')!r}: {key!r} must be a non-empty string")
    return value


def _names(item: dict[str, Any], key: str) -> list[str]:
    value = item[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"drills.json: drill {item.get('scenario')!r}: {key!r} must be a list of names")
    return value


def _steps(item: dict[str, Any], *names: str) -> Step:
    unknown = [name for name in names if name not in _STEPS]
    if unknown:
        raise ValueError(f"drills.json: drill {item['scenario']!r}: unknown step(s) {unknown}")
    return _then(*(_STEPS[name] for name in names))


def _load() -> tuple[dict[str, Drill], dict[str, _Plan]]:
    """Read ``drills.json`` (beside this module): the drills in teaching order, and their plans."""
    data = json.loads(resources.files("tiktok_helpers").joinpath("drills.json").read_text(encoding="utf-8"))
    drills: dict[str, Drill] = {}
    plans: dict[str, _Plan] = {}
    for item in data["drills"]:
        if set(item) != _DRILL_KEYS:
            raise ValueError(f"drills.json: drill {item.get('scenario')!r}: keys must be {sorted(_DRILL_KEYS)}")
        name, title, step, teaches, attempt, fix_note = (
            _text(item, key) for key in ("scenario", "title", "step", "teaches", "attempt", "fix_note")
        )
        decoys = _names(item, "decoys")
        if len(decoys) != 2:
            raise ValueError(f"drills.json: drill {name!r}: 'decoys' must name two catalog codes")
        drills[name] = Drill(name, title, step, teaches, (decoys[0], decoys[1]))
        plans[name] = _Plan(
            _steps(item, *_names(item, "prepare")), _steps(item, attempt), _steps(item, *_names(item, "fix")), fix_note
        )
    return drills, plans


_DATA: Final = _load()
#: The drills in teaching order (the scenarios' order): authorization, tokens, Open API, API2Cart.
DRILLS: Final[dict[str, Drill]] = _DATA[0]
_PLANS: Final[dict[str, _Plan]] = _DATA[1]


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
