"""Training drills: meet a failure in the sandbox, name its cause and fix, then see the fix work.

Each :class:`Drill` pairs a sandbox training scenario (:mod:`tiktok_helpers.sandbox.scenarios`) with
the runbook step it breaks. :func:`meet` prepares the step, switches the scenario on and runs the real
:class:`~tiktok_helpers.session.Session` step; the failure comes back as a :class:`DrillRun`, shown as
the service sent it (code, message, HTTP status, request_id) with the runbook's title, never its fix.
A question offers three causes and three fixes (:class:`Option`): plain words, not the service's,
each standing for a catalog code of the same service, in an order shuffled per trainee
(:func:`seed_for`). A :class:`Verdict` teaches: the lesson, the right cause and fix by number, letter
and text, why a chosen option is wrong (what the catalog says it would look like) and where the step
is in the notebooks. :func:`apply_fix` does the right fix and runs the step again. Drills, options and
plans are data (``drills.json``, checked at import); the scorecard and the notebook's side are
:mod:`tiktok_helpers.drill_widgets`. Drills run in a throwaway training runbook
(:func:`open_training_session`) in a marked temporary folder, removed when Python ends.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import socket
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from .catalog import CATALOG, INVALID_CREDENTIALS_CAUSES, CatalogEntry
from .errors import ApiError, TikTokHelperError
from .sandbox.scenarios import SCENARIOS, Scenario
from .session import Session, open_session

__all__ = [
    "DRILLS",
    "MARKER",
    "Drill",
    "DrillError",
    "DrillRun",
    "FixResult",
    "Option",
    "Verdict",
    "apply_fix",
    "find_drill",
    "judge",
    "meet",
    "open_training_session",
    "seed_for",
]


class DrillError(TikTokHelperError):
    """A drill could not be run as designed (the step did not fail, or the session is not a sandbox)."""

    catalog_code = "runbook.error"


@dataclass(frozen=True)
class Option:
    """A cause or a fix a question offers: its words, and the catalog code it stands for
    (``36009004:<word>``: the cause of 36009004 whose message has that word)."""

    id: str
    code: str
    text: str
    #: A fix: when it is the fix. A cause: what tells it from another cause with the same code.
    when: str = ""
    #: A fix: the first step of the plan that does it (``retry``: the drill's own step again).
    applies: str = ""

    @property
    def entry(self) -> CatalogEntry:
        return CATALOG[self.code.partition(":")[0]]

    def catalog(self) -> tuple[str, str, str]:
        """(title, cause, fix) as the catalog gives them for this option's code."""
        entry, word = self.entry, self.code.partition(":")[2]
        reason = next((c for c in INVALID_CREDENTIALS_CAUSES if word in c.words), None) if word else None
        return (entry.title, reason.cause, reason.fix) if reason else (entry.title, entry.cause, entry.fix)

    @property
    def label(self) -> str:
        """The code as the service says it: ``code 105002``, ``return_code 8``, or the runbook's check."""
        code = self.code.partition(":")[0]
        a2c = code.startswith("api2cart.")
        return (
            f"API2Cart return_code {code[9:]}" if a2c else f"code {code}" if code.isdigit() else "the runbook's check"
        )


@dataclass(frozen=True)
class Drill:
    """One drill: the scenario, the step it breaks, the lesson, and its options (the right one first)."""

    scenario: str
    number: int
    #: What the trainee sees before answering (neutral, no cause in it), and the trainer's title.
    heading: str
    title: str
    step: str
    #: The notebook and the section heading where the step is.
    where: tuple[str, str]
    lesson: str
    causes: tuple[Option, Option, Option]
    fixes: tuple[Option, Option, Option]
    #: What the sandbox stands in for when the fix is applied ("" when nothing).
    sandbox_note: str = ""

    @property
    def about(self) -> Scenario:
        return SCENARIOS[self.scenario]

    @property
    def name(self) -> str:
        return f"Drill {self.number}: {self.heading}"

    @property
    def cause(self) -> Option:
        return self.causes[0]

    @property
    def fix(self) -> Option:
        return self.fixes[0]

    @property
    def link(self) -> str:
        """The section with the step, as a relative link (with the anchor JupyterLab and nbconvert give it)."""
        return f"{self.where[0]}#{self.where[1].replace(' ', '-')}"

    def option(self, kind: str, option_id: str) -> Option:
        """The cause (``kind="cause"``) or the fix with this id (KeyError: the drill offers none)."""
        return {o.id: o for o in (self.causes if kind == "cause" else self.fixes)}[option_id]


# --------------------------------------------------------------------------- the runbook's steps
Step = Callable[[Session], str]


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
    """A refresh whose hand-over to API2Cart never happened: the new pair saved here, not in the store."""
    grant = session.reopen().seller
    if grant is None:
        raise DrillError("no seller to refresh: the drill's first step authorizes one")
    session.save_tokens(session.token_client().refresh(grant.refresh_token), seller=grant)
    return "Later, a refresh here saved a new token pair while API2Cart could not be reached."


def _shops(session: Session) -> str:
    shops = session.authorized_shops()
    names = ", ".join(f"{s.name} ({s.region})" for s in shops) or "none"
    return f"Get Authorized Shops works: {len(shops)} shop(s): {names}."


def _add_store(session: Session) -> str:
    return f"Store added to API2Cart; store key {session.add_store(custom_label='TikTok Shop (drill)')}."


def _validate(session: Session) -> str:
    session.validate_store()
    return "API2Cart validated the store: the credentials it holds work."


def _update_store(session: Session) -> str:
    return f"Pushed the seller's current refresh token to store {session.update_store()} (account.config.update)."


def _scenario_off(session: Session) -> str:
    """A lasting scenario's fix happens outside the sandbox: switching the scenario off stands for it."""
    assert session.sandbox is not None
    session.sandbox.scenario = None
    return ""


def _find_existing_store(session: Session) -> str:
    stores = session.list_stores()
    if not stores:
        raise DrillError("the account lists no store: the scenario did not add one")
    store = stores[-1]
    session.validate_store(store.store_key)
    return (
        f"account.cart.list shows {len(stores)} store(s); the one added earlier is "
        f"{store.custom_label or store.url!r}, store key {store.store_key}, and cart.validate accepts it."
    )


#: The steps a plan in ``drills.json`` names: each function's name without its underscore, - for _.
_STEPS: Final[dict[str, Step]] = {
    step.__name__[1:].replace("_", "-"): step
    for step in (
        *(_authorize, _refresh, _refresh_here_only, _shops, _add_store, _validate, _update_store),
        *(_find_existing_store, _scenario_off),
    )
}


@dataclass(frozen=True)
class _Plan:
    prepare: tuple[str, ...]
    attempt: str
    apply: tuple[str, ...]


# --------------------------------------------------------------------------- drills.json
_DRILL_KEYS: Final = frozenset(
    {"scenario", "heading", "title", "step", "where", "lesson", "cause", "decoy_causes", "fix", "decoy_fixes"}
    | {"prepare", "attempt", "apply", "sandbox_note"}
)


def _options(data: dict[str, Any], kind: str) -> dict[str, Option]:
    found = {}
    for key, item in data.items():
        option = Option(key, item.pop("code", ""), item.pop("text", ""), item.pop("when", ""), item.pop("applies", ""))
        base, _, word = option.code.partition(":")
        known = base in CATALOG and (not word or any(word in c.words for c in INVALID_CREDENTIALS_CAUSES))
        if item or not known or not option.text or (kind == "fix" and not option.when):
            raise ValueError(f"drills.json: {kind} {key!r}: a catalog code, a text (and a fix's when), nothing else")
        found[key] = option
    return found


def _drill(number: int, item: dict[str, Any], causes: dict[str, Option], fixes: dict[str, Option]) -> Drill:
    name = str(item.get("scenario"))
    if set(item) != _DRILL_KEYS:
        raise ValueError(f"drills.json: drill {name!r}: keys must be {sorted(_DRILL_KEYS)}")
    chosen = []
    for pool, keys in ((causes, [item["cause"], *item["decoy_causes"]]), (fixes, [item["fix"], *item["decoy_fixes"]])):
        if len(set(keys)) != 3 or not set(keys) <= set(pool):
            raise ValueError(f"drills.json: drill {name!r}: needs three different known options, not {keys}")
        chosen.append((pool[keys[0]], pool[keys[1]], pool[keys[2]]))
    right = chosen[0][0]
    if right.code.partition(":")[0] != SCENARIOS[name].answer:
        raise ValueError(f"drills.json: drill {name!r}: the right cause is not the scenario's code")
    if any(decoy.entry.service != right.entry.service for decoy in chosen[0][1:]):
        raise ValueError(f"drills.json: drill {name!r}: a decoy cause of another service than the right one")
    where, note = (item["where"][0], item["where"][1]), item["sandbox_note"]
    heading, title, step, lesson = (item[key] for key in ("heading", "title", "step", "lesson"))
    return Drill(name, number, heading, title, step, where, lesson, chosen[0], chosen[1], note)


def _plan(item: dict[str, Any], fix: Option) -> _Plan:
    prepare, attempt, apply = tuple(item["prepare"]), item["attempt"], tuple(item["apply"])
    unknown = [step for step in (*prepare, attempt, *apply) if step not in _STEPS]
    if unknown:
        raise ValueError(f"drills.json: drill {item['scenario']!r}: unknown step(s) {unknown}")
    first = attempt if fix.applies == "retry" else fix.applies
    if not apply or apply[0] != first:
        raise ValueError(f"drills.json: drill {item['scenario']!r}: its plan does not do its right fix ({fix.id})")
    return _Plan(prepare, attempt, apply)


def _load() -> tuple[dict[str, Drill], dict[str, _Plan]]:
    """Read ``drills.json`` (beside this module): the drills in teaching order, and their plans."""
    data = json.loads(resources.files("tiktok_helpers").joinpath("drills.json").read_text(encoding="utf-8"))
    causes, fixes = _options(data["causes"], "cause"), _options(data["fixes"], "fix")
    drills, plans = {}, {}
    for number, item in enumerate(data["drills"], start=1):
        drill = _drill(number, item, causes, fixes)
        drills[drill.scenario], plans[drill.scenario] = drill, _plan(item, drill.fix)
    return drills, plans


_DATA: Final = _load()
#: The drills in teaching order (the scenarios' order): authorization, tokens, Open API, API2Cart.
DRILLS: Final[dict[str, Drill]] = _DATA[0]
_PLANS: Final[dict[str, _Plan]] = _DATA[1]


def find_drill(which: int | str) -> Drill:
    """A drill by its number (1 to 18) or its scenario's name."""
    found = next((d for d in DRILLS.values() if which in (d.number, d.scenario)), None)
    if found is None:
        raise DrillError(f"no drill {which!r}: choose a number from 1 to {len(DRILLS)} or one of {', '.join(DRILLS)}")
    return found


def seed_for(trainee: str) -> int:
    """The seed of a trainee's order of the choices: from the name (a trainer replays it with the same name)."""
    return int(hashlib.sha256(" ".join(trainee.split()).casefold().encode()).hexdigest()[:8], 16) % 100_000


def shuffled(options: Iterable[Option], seed: int, drill: Drill, kind: str) -> tuple[Option, ...]:
    """``options`` (the right one first) in the order of ``seed``: over the drills, the right one is
    at each place equally often (6 times of 18), the decoys around it in a random order."""
    places = [n % 3 for n in range(len(DRILLS))]
    random.Random(f"{seed}:{kind}").shuffle(places)  # noqa: S311 - an order of choices, not a secret
    right, *decoys = options
    random.Random(f"{seed}:{drill.scenario}:{kind}").shuffle(decoys)  # noqa: S311 - the same
    decoys.insert(places[drill.number - 1], right)
    return tuple(decoys)


# --------------------------------------------------------------------------- meeting a drill


@dataclass(frozen=True)
class DrillRun:
    """A drill's step, failed as the scenario made it fail."""

    drill: Drill
    error: TikTokHelperError
    #: What the steps before it reported (after the authorization), as the runbook showed it then.
    before: tuple[str, ...] = ()
    #: The wire log's marks before and after the failing step (None: the session was not traced).
    mark: int | None = None
    until: int | None = None

    @property
    def code(self) -> str:  # the failure's catalog code
        return self.error.entry.code

    def failure(self) -> list[str]:
        """The failure as the service sent it, and the runbook's title without its fix."""
        error, lines = self.error, []
        if isinstance(error, ApiError):
            rid = f", request_id {error.request_id}" if error.request_id else ""
            service = error.service or "The service"
            lines.append(f"{service} answered HTTP {error.http_status}: code {error.code}, {error.message!r}{rid}")
        detail = "" if isinstance(error, ApiError) else error.detail.strip().rstrip(".")
        return [*lines, f"The runbook shows: {error.title}{f': {detail}' if detail else ''}"]

    @property
    def shown(self) -> str:
        return "\n".join(self.failure())


def meet(session: Session, name: str) -> DrillRun:
    """Prepare the drill's step, switch its scenario on and run the step; returns the failure. Raises
    :class:`DrillError` without an embedded sandbox, or when the step did not fail as the scenario makes it."""
    drill = find_drill(name)
    plan = _PLANS[drill.scenario]
    if session.sandbox is None:
        raise DrillError("drills run in the embedded sandbox: open the session with open_training_session()")
    session.reopen()
    session.sandbox.scenario = None
    session.sandbox.reset()  # every drill starts from an empty sandbox: no store or grant of an earlier one
    before = [(step, _STEPS[step](session)) for step in plan.prepare]
    session.sandbox.scenario = drill.scenario
    mark = session.wire.mark() if session.wire is not None else None
    try:
        done = _STEPS[plan.attempt](session)
    except TikTokHelperError as exc:
        expected = drill.about.answer
        if exc.entry.code != expected:
            raise DrillError(f"drill {name!r} failed with {exc.entry.code}, not {expected}: {exc.detail}") from None
        until = session.wire.mark() if session.wire is not None else None
        return DrillRun(drill, exc, tuple(out for step, out in before if step != "authorize" and out), mark, until)
    raise DrillError(f"drill {name!r}: the step did not fail ({done})")


@dataclass(frozen=True)
class FixResult:
    fix: Option
    note: str
    outcome: str

    def text(self, mark: str = "") -> str:
        note = f"\n{self.note}" if self.note else ""
        return f"Fix applied{f' ({mark})' if mark else ''}: {self.fix.text}{note}\nDone: {self.outcome}"


def apply_fix(session: Session, run: DrillRun) -> FixResult:
    """Do the drill's right fix (in the sandbox) and run the step again; it works now."""
    plan = _PLANS[run.drill.scenario]
    try:
        outcome = " ".join(out for out in (_STEPS[step](session.reopen()) for step in plan.apply) if out)
    finally:
        _scenario_off(session)
    return FixResult(run.drill.fix, run.drill.sandbox_note, outcome)


# --------------------------------------------------------------------------- answers and verdicts


@dataclass(frozen=True)
class Verdict:
    """What a chosen cause and fix were worth, and what to learn from it."""

    drill: Drill
    cause: Option
    fix: Option
    #: The options in the order the trainee saw them.
    causes: tuple[Option, ...]
    fixes: tuple[Option, ...]
    #: True: the first answer (it counts); False: a practice try.
    counted: bool = True

    @property
    def cause_right(self) -> bool:
        return self.cause == self.drill.cause

    @property
    def fix_right(self) -> bool:
        return self.fix == self.drill.fix

    @property
    def right(self) -> bool:
        return self.cause_right and self.fix_right

    def mark(self, option: Option) -> str:
        """The number (a cause) or letter (a fix) the option had on screen."""
        if option in self.causes:
            return str(self.causes.index(option) + 1)
        return "ABC"[self.fixes.index(option)]

    def why_not_cause(self) -> str:
        chosen, right = self.cause, self.drill.cause
        if chosen.when and chosen.code == right.code:
            return f"{self.mark(chosen)}: {chosen.when}"
        title, cause, _ = chosen.catalog()
        return f"{self.mark(chosen)} would come back as {chosen.label}, '{title}': {cause}"

    def why_not_fix(self) -> str:
        title = self.fix.catalog()[0]
        return f"{self.mark(self.fix)} is the fix when {self.fix.when} ({self.fix.label}, '{title}')."

    def lines(self) -> list[tuple[str, str]]:
        """(label, text): the answer and its worth, the lesson, the right options, why not the chosen ones, where."""
        d, worth = self.drill, {True: "right", False: "wrong"}
        counts = "your first answer: it counts" if self.counted else "practice: only your first answer counts"
        title, cause, _ = d.cause.catalog()
        return [
            (d.name, f"cause {self.mark(self.cause)} and fix {self.mark(self.fix)} ({counts})"),
            ("Verdict", f"cause {worth[self.cause_right]}, fix {worth[self.fix_right]}"),
            ("The lesson", d.lesson),  # as written: it may begin with a name (return_code)
            ("Right cause", f"{self.mark(d.cause)}. {d.cause.text}"),
            ("Right fix", f"{self.mark(d.fix)}. {d.fix.text}"),
            *([("Why not cause", self.why_not_cause())] if not self.cause_right else []),
            *([("Why not fix", self.why_not_fix())] if not self.fix_right else []),
            ("The catalog", f"{title} ({d.cause.label}): {cause}"),
            ("Where it happens", f"{d.step}, section '{d.where[1]}' of {d.where[0]}"),
        ]

    def text(self) -> str:
        return "\n".join(f"{label}: {text}" for label, text in self.lines())


def judge(drill: Drill, cause: str, fix: str, *, seed: int, counted: bool = True) -> Verdict:
    """The verdict on choosing options ``cause`` and ``fix`` (their ids) in the order of ``seed``."""
    order = (shuffled(drill.causes, seed, drill, "cause"), shuffled(drill.fixes, seed, drill, "fix"))
    return Verdict(drill, drill.option("cause", cause), drill.option("fix", fix), *order, counted=counted)


# --------------------------------------------------------------------------- the training runbook

PREFIX: Final = "runbook-drills-"
#: The file that marks a folder as a training runbook of this module: what it is, whose process.
MARKER: Final = ".runbook-drills.json"
MARKER_WHAT: Final = "tiktok_helpers.drills training runbook, removed when its Python process ends"


def open_training_session(folder: Path | str | None = None) -> Session:
    """A session on a throwaway runbook in ``folder`` (default: a new temporary folder, marked as
    this module's and removed when the session is collected or Python ends): its own ``.env``
    (sandbox mode, the shell's variables ignored), grant database and sandbox state."""
    if folder is None:
        where = Path(tempfile.mkdtemp(prefix=PREFIX))
        info = {"what": MARKER_WHAT, "pid": os.getpid(), "host": socket.gethostname(), "created": time.time()}
        (where / MARKER).write_text(json.dumps(info), encoding="utf-8")
    else:
        where = Path(folder)
        where.mkdir(parents=True, exist_ok=True)
    env = where / ".env"
    env.touch(mode=0o600, exist_ok=True)
    session = open_session(env, environ={}, sandbox_state=where / "sandbox-state.db")
    if folder is None:  # throwaway: gone with the session, at the latest when Python ends (finalize runs atexit)
        weakref.finalize(session, shutil.rmtree, where, ignore_errors=True)
    return session


assert set(_PLANS) == set(SCENARIOS) == set(DRILLS), "every scenario has a drill"
