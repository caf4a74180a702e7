"""The drills in a notebook: the scorecard, the question widget (ipywidgets) and the ``training``
accessor notebook 06 calls. Import only where widgets are built.

``training`` is the kernel's one :class:`Training`. ``training.setup(name)`` opens the throwaway
training runbook (removing first what killed kernels left: :func:`remove_leftovers`) and starts a
:class:`Scorecard`, or keeps the one running unless ``reset=True``. Then, per drill by its number:
``training.meet(n)`` shows the failure as the service sent it, ``training.question(n)`` what went
over the wire and the question, ``training.verdict(n)`` and ``training.fix(n)`` the verdict and the
fix applied, both only once the trainee answered. ``training.score()`` and ``training.export()``
end the session (the export is for the trainer: CSV and JSON, 0600). Called before the setup, each
says which cell to run. Answers live in the scorecard, keyed by drill, never in a widget: running a
cell again loses or replaces none, and the first checked answer counts, later ones are practice.
"""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

import ipywidgets as w

from .drill_leftovers import remove_leftovers
from .drills import (
    DRILLS,
    MARKER,
    PREFIX,
    Drill,
    DrillRun,
    FixResult,
    Option,
    Verdict,
    apply_fix,
    find_drill,
    judge,
    meet,
    open_training_session,
    seed_for,
    shuffled,
)
from .session import Session
from .table import Table, make_table
from .widget_kit import bundle, outcome_html
from .wire_widgets import wire_panel

__all__ = ["ASK_FIRST", "NOT_SET_UP", "Answer", "DrillQuiz", "Scorecard", "Training", "remove_leftovers", "training"]

logger = logging.getLogger(__name__)

#: What the verdict and fix cells say until the trainee has answered (the same on every unattended run).
ASK_FIRST: Final = (
    "Answer the question above first (press Check my answer): the verdict then shows under its buttons, "
    "and here when this cell runs again."
)
NOT_SET_UP: Final = (
    "No training yet: run the setup cell at the top of this notebook first (training.setup(...)), "
    "then the drills in order."
)


@dataclass(frozen=True)
class Answer:
    """One checked answer: the options chosen (ids), whether both were right, and how long it took."""

    cause: str
    fix: str
    right: bool
    seconds: float | None
    at: datetime


@dataclass
class _Record:
    shown_at: float | None = None
    first: Answer | None = None
    practice: list[Answer] = field(default_factory=list)


class Scorecard:
    """One trainee's answers, by drill: the first checked answer counts, later ones are practice."""

    def __init__(self, trainee: str = "", seed: int | None = None, *, clock: Callable[[], float] = time.monotonic):
        self.trainee = " ".join(trainee.split())
        #: The order of the choices: from the name unless given (shown, so a trainer can replay it).
        self.seed = seed_for(self.trainee) if seed is None else int(seed)
        self.started = datetime.now(timezone.utc)
        self._clock = clock
        self._records: dict[str, _Record] = {}

    def __repr__(self) -> str:
        return f"<Scorecard of {self.who}, seed {self.seed}: {self.right} of {len(DRILLS)} right>"

    @property
    def who(self) -> str:
        return self.trainee or "(no name)"

    def options(self, drill: Drill) -> tuple[tuple[Option, ...], tuple[Option, ...]]:
        """The drill's causes and fixes in this trainee's order."""
        return shuffled(drill.causes, self.seed, drill, "cause"), shuffled(drill.fixes, self.seed, drill, "fix")

    def shown(self, drill: Drill) -> None:
        """The failure is on screen: an answer's time counts from its first showing."""
        record = self._records.setdefault(drill.scenario, _Record())
        record.shown_at = self._clock() if record.shown_at is None else record.shown_at

    def answer(self, drill: Drill, cause: str, fix: str) -> Verdict:
        """Record an answer (option ids): the first counts, later ones are practice; returns its verdict."""
        record = self._records.setdefault(drill.scenario, _Record())
        verdict = judge(drill, cause, fix, seed=self.seed, counted=record.first is None)
        seconds = round(self._clock() - record.shown_at, 1) if record.shown_at is not None else None
        answer = Answer(cause, fix, verdict.right, seconds, datetime.now(timezone.utc))
        if record.first is None:
            record.first = answer
        else:
            record.practice.append(answer)
        return verdict

    def first(self, drill: Drill) -> Answer | None:
        record = self._records.get(drill.scenario)
        return record.first if record else None

    def practice(self, drill: Drill) -> list[Verdict]:
        """The verdicts on the tries after the first (not counted)."""
        record = self._records.get(drill.scenario)
        tries = record.practice if record else []
        return [judge(drill, a.cause, a.fix, seed=self.seed, counted=False) for a in tries]

    def verdict(self, drill: Drill) -> Verdict | None:
        """The verdict on the first answer (None: not answered yet)."""
        first = self.first(drill)
        return judge(drill, first.cause, first.fix, seed=self.seed) if first else None

    @property
    def answered(self) -> int:
        return sum(self.first(d) is not None for d in DRILLS.values())

    @property
    def right(self) -> int:
        return sum(bool(a and a.right) for a in map(self.first, DRILLS.values()))

    def summary(self) -> str:
        return (
            f"Score for {self.who}: {self.right} right of {self.answered} answered (cause and fix, first answers "
            f"only); {len(DRILLS) - self.answered} of the {len(DRILLS)} drills not yet answered."
        )

    def entries(self) -> list[dict[str, Any]]:
        """Per drill: the first answer (number and letter, option ids), right or wrong, seconds, practice tries."""
        found = []
        for drill in DRILLS.values():
            v, a = self.verdict(drill), self.first(drill)
            found.append(
                {"drill": drill.number, "scenario": drill.scenario, "answered": a is not None}
                | {"cause": v.mark(v.cause) if v else "", "cause_option": a.cause if a else ""}
                | {"cause_right": v.cause_right if v else None, "fix": v.mark(v.fix) if v else ""}
                | {"fix_option": a.fix if a else "", "fix_right": v.fix_right if v else None}
                | {"right": v.right if v else None, "seconds": a.seconds if a else None}
                | {"answered_at": a.at.isoformat(timespec="seconds") if a else ""}
                | {"practice_tries": len(self.practice(drill))}
            )
        return found

    def export(self, folder: Path | str | None = None) -> tuple[Path, Path]:
        """Write the session for the trainer as CSV and JSON, each readable by its owner only (0600),
        in ``folder`` (default: ``drill-results`` in the working folder); returns both paths."""
        where = Path(folder) if folder is not None else Path.cwd() / "drill-results"
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        slug = "".join(c if c.isalnum() else "-" for c in self.trainee.casefold()).strip("-") or "trainee"
        name = f"drills-{slug}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
        head = {"trainee": self.trainee, "date": self.started.isoformat(timespec="seconds"), "seed": self.seed}
        rows = self.entries()
        table = io.StringIO()
        writer = csv.DictWriter(table, [*head, *rows[0]], lineterminator="\n")
        writer.writeheader()
        writer.writerows({**head, **row} for row in rows)
        document = {**head, "right": self.right, "answered": self.answered, "of": len(DRILLS), "drills": rows}
        return (
            _write_private(where / f"{name}.csv", table.getvalue()),
            _write_private(where / f"{name}.json", json.dumps(document, indent=2) + "\n"),
        )


def _write_private(path: Path, content: str) -> Path:
    """Write a new file readable by its owner only (0600, whatever the umask), never over another."""
    for n in range(1, 100):
        target = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        os.chmod(target, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(content)
        return target
    raise FileExistsError(f"no free name for {path.name} in {path.parent}")


def verdict_html(verdict: Verdict, *, note: str = "") -> str:
    """The verdict, a line per part (labels in bold), the place in the notebooks as a link."""
    rows = [f'<div style="margin:0.2em 0;color:#57606a">{html.escape(note)}</div>'] if note else []
    for label, text in verdict.lines():
        body = html.escape(text)
        if label == "Where it happens":
            body = f'<a href="{html.escape(verdict.drill.link, quote=True)}" target="_blank">{body}</a>'
        rows.append(f'<div style="margin:0.25em 0"><b>{html.escape(label)}:</b> {body}</div>')
    colour = "#1a7f37" if verdict.right else "#cf222e"
    return f'<div style="max-width:52em;border-left:4px solid {colour};padding-left:0.6em">{"".join(rows)}</div>'


class DrillQuiz:
    """One drill's question, named on it: causes 1-3 and fixes A-C in the trainee's order, in a list
    that wraps like text. "Check my answer" records the answer on the scorecard and shows the
    verdict; built again (its cell run again), it shows the answer given before: the answer lives
    in the scorecard, not in the widget. ``wire``: a panel of what went over the wire, shown above."""

    def __init__(self, run: DrillRun, card: Scorecard, *, wire: Any = None) -> None:
        self.run, self.drill, self.card, self.wire = run, run.drill, card, wire
        self.causes, self.fixes = card.options(self.drill)
        self.cause_buttons = w.ToggleButtons(options=["1", "2", "3"], value=None, description="Cause")
        self.fix_buttons = w.ToggleButtons(options=["A", "B", "C"], value=None, description="Fix")
        self.check_button = w.Button(
            description="Check my answer", button_style="primary", icon="check", layout=w.Layout(width="auto")
        )
        self.out, self.chosen = w.HTML(), w.HTML()  # chosen: set here, so it shows what the kernel will judge
        self.check_button.on_click(lambda _: self.check())
        self.cause_buttons.observe(lambda _: self._show_choice(), names="index")
        self.fix_buttons.observe(lambda _: self._show_choice(), names="index")
        first = card.verdict(self.drill)
        if first is not None:  # the buttons show the answer that counts, as the verdict below names it
            self.cause_buttons.index = self.causes.index(first.cause)
            self.fix_buttons.index = self.fixes.index(first.fix)
            self.out.value = verdict_html(first, note=_BEFORE)

    @property
    def title(self) -> str:
        return f"Drill {self.drill.number} of {len(DRILLS)}: {self.drill.heading}"

    def _show_choice(self) -> None:
        self.chosen.value = (
            f"Your choice: cause {self.cause_buttons.value or '?'}, fix {self.fix_buttons.value or '?'}."
        )

    def choose(self, cause: int, fix: str) -> None:
        """Choose cause number ``cause`` (1-3) and fix letter ``fix`` (A-C), as the buttons do."""
        self.cause_buttons.value = str(cause)
        self.fix_buttons.value = fix.upper()

    def check(self) -> Verdict | None:
        """The button's action: record the choice shown and show its verdict (None: nothing chosen yet)."""
        cause, fix = self.cause_buttons.index, self.fix_buttons.index
        if cause is None or fix is None:
            self.out.value = outcome_html(False, "Choose a cause (1-3) and a fix (A-C) first.")
            return None
        verdict = self.card.answer(self.drill, self.causes[cause].id, self.fixes[fix].id)
        first = None if verdict.counted else self.card.verdict(self.drill)
        note = f"Your first answer, which counts: {_brief(first)}. This one is practice." if first else ""
        self.out.value = verdict_html(verdict, note=note)
        return verdict

    def text(self) -> str:
        """The question as text (also the widget's text form)."""
        causes = "\n".join(f"  {i}. {c.text}" for i, c in enumerate(self.causes, 1))
        fixes = "\n".join(f"  {letter}. {f.text}" for letter, f in zip("ABC", self.fixes, strict=True))
        return f"{self.title}\nWhat caused it?\n{causes}\nWhat fixes it?\n{fixes}"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        def items(options: tuple[Option, ...], marks: str) -> str:
            lines = (f"<li><b>{m}.</b> {html.escape(o.text)}</li>" for m, o in zip(marks, options, strict=True))
            return f"<ol style='list-style:none;padding-left:1em'>{''.join(lines)}</ol>"

        question = w.HTML(
            f'<div style="max-width:52em"><h4>{html.escape(self.title)}</h4><b>What caused it?</b>'
            f"{items(self.causes, '123')}<b>What fixes it?</b>{items(self.fixes, 'ABC')}</div>"
        )
        parts = [question, self.cause_buttons, self.fix_buttons, self.chosen, self.check_button, self.out]
        text = self.text() + "\n[choose with the buttons, then 'Check my answer'; run the notebook to use them]"
        if self.wire is not None:
            parts, text = [self.wire.widget, *parts], f"{self.wire.text()}\n\n{text}"
        return bundle(w.VBox(parts), text, **kwargs)


def _brief(verdict: Verdict) -> str:
    worth = {True: "right", False: "wrong"}
    return (
        f"cause {verdict.mark(verdict.cause)} ({worth[verdict.cause_right]}) and "
        f"fix {verdict.mark(verdict.fix)} ({worth[verdict.fix_right]})"
    )


class Training:
    """The training session of a kernel: its runbook, its scorecard, the failures met and fixes done."""

    def __init__(self) -> None:
        self.session: Session | None = None
        self.card: Scorecard | None = None
        self.runs: dict[str, DrillRun] = {}
        self.fixed: dict[str, tuple[DrillRun, FixResult]] = {}

    def setup(self, trainee: str = "", *, seed: int | None = None, reset: bool = False) -> Scorecard:
        """Open the training runbook and start a scorecard for ``trainee`` (its seed orders the
        choices); run again, it keeps the scorecard running (and says so) unless ``reset=True``."""
        old, name = self.card, " ".join(trainee.split())
        same = old is not None and old.trainee == name and (seed is None or seed == old.seed)
        if old is not None and not reset and (old.answered or same):
            other = "" if same else f" ({name or '(no name)'} is not used)"
            print(
                f"Training already running for {old.who} (seed {old.seed}): {old.answered} answer(s) kept{other}. "
                f"To start over and lose them: training.setup({trainee!r}, reset=True)."
            )
            return old
        self._open()
        if old is not None and old.answered:
            print(f"Started over: the {old.answered} answer(s) of {old.who} are dropped.")
        self.card, self.runs, self.fixed = Scorecard(name, seed), {}, {}
        print(
            f"Training runbook ready (sandbox mode): {len(DRILLS)} drills for {self.card.who}. The choices come "
            f"in the order of seed {self.card.seed} (a trainer replays it with the same name or seed)."
        )
        return self.card

    def _open(self) -> Session:
        """The training runbook (a new one after :meth:`close`, the failures met in the old one forgotten)."""
        if self.session is None:
            gone = remove_leftovers()
            if gone:
                logger.info("removed training runbooks that stopped kernels left: %s", gone)
            self.session, self.runs, self.fixed = open_training_session(), {}, {}
            self.session.trace()  # what went over the wire, for each drill's panel
        return self.session

    def _ready(self) -> tuple[Session, Scorecard] | None:
        if self.card is None:
            print(NOT_SET_UP)
            return None
        return self._open(), self.card

    def meet(self, which: int | str) -> None:
        """Run the drill's step into its failure and show the failure as the service sent it."""
        ready = self._ready()
        if ready is None:
            return
        session, card = ready
        drill = find_drill(which)
        run = self.runs[drill.scenario] = meet(session, drill.scenario)
        card.shown(drill)
        marker = session.settings.env_path.parent / MARKER
        if marker.is_file() and not marker.is_symlink():
            marker.touch()  # in use: its age starts again (remove_leftovers)
        before = [f"Before it: {line}" for line in run.before]
        print("\n".join([f"Drill {drill.number} of {len(DRILLS)}, the step: {drill.step}", *before, *run.failure()]))

    def question(self, which: int | str) -> DrillQuiz | None:
        """What went over the wire in the failing step, and the question (None: the failure is not shown yet)."""
        ready = self._ready()
        if ready is None:
            return None
        session, card = ready
        drill = find_drill(which)
        run = self.runs.get(drill.scenario)
        if run is None:
            print(f"Drill {drill.number}'s failure is not shown yet: first run training.meet({drill.number}) above.")
            return None
        # The one call site of the wire panel: the requests of the failing step and their replies.
        title = f"Drill {drill.number}: what went over the wire in the step that failed"
        wire = None if run.mark is None else wire_panel(session.trace(), since=run.mark, until=run.until, title=title)
        if wire is not None and not wire.exchanges():
            wire.note = _NOTHING_SENT
            wire.refresh()
        return DrillQuiz(run, card, wire=wire)

    def verdict(self, which: int | str) -> None:
        """The verdict on the first answer (and the practice tries after it), once the trainee answered."""
        ready = self._ready()
        if ready is None:
            return
        drill, card = find_drill(which), ready[1]
        verdict = card.verdict(drill)
        if verdict is None:
            print(ASK_FIRST)
            return
        tries = [f"Practice try {n} (not counted): {_brief(v)}." for n, v in enumerate(card.practice(drill), 1)]
        print("\n".join([verdict.text(), *tries]))

    def fix(self, which: int | str) -> None:
        """Apply the drill's right fix and run the step again, once the trainee answered."""
        ready = self._ready()
        if ready is None:
            return
        (session, card), drill = ready, find_drill(which)
        run = self.runs.get(drill.scenario)
        if card.first(drill) is None or run is None:
            again = (
                f"Drill {drill.number}'s failure is not in this training runbook: run training.meet({drill.number})."
            )
            print(ASK_FIRST if card.first(drill) is None else again)
            return
        mark = "ABC"[card.options(drill)[1].index(drill.fix)]
        done = self.fixed.get(drill.scenario)
        if done is not None and done[0] is run:
            print(f"{done[1].text(mark)}\n(Applied before; run the drill's failure cell again to meet it once more.)")
            return
        result = apply_fix(session, run)
        self.fixed[drill.scenario] = (run, result)
        print(result.text(mark))

    def score(self) -> Table | None:
        """The score (first answers only) and a row per drill."""
        if self.card is None:
            print(NOT_SET_UP)
            return None
        print(self.card.summary())
        rows = []
        for drill, entry in zip(DRILLS.values(), self.card.entries(), strict=True):
            worth = {True: "right", False: "wrong", None: ""}
            answer = f"cause {entry['cause']}, fix {entry['fix']}" if entry["answered"] else "not yet"
            seconds = "" if entry["seconds"] is None else f"{entry['seconds']:.0f}"
            verdicts = (worth[entry["cause_right"]], worth[entry["fix_right"]])
            rows.append((drill.name, answer, *verdicts, seconds, entry["practice_tries"]))
        return make_table(("drill", "first answer", "cause", "fix", "seconds", "practice tries"), rows)

    def export(self, folder: Path | str | None = None) -> None:
        """Write the session for the trainer (CSV and JSON, 0600) and print where."""
        if self.card is None:
            print(NOT_SET_UP)
        elif not self.card.answered:
            print("Nothing to export yet: answer a drill first (press Check my answer).")
        else:
            paths = self.card.export(folder)
            print("Your session, for the trainer (readable by you only):\n" + "\n".join(f"  {p}" for p in paths))

    def close(self) -> None:
        """Stop the training sandbox and remove its runbook now (else: when the kernel ends); the answers
        stay, and a drill run later opens a new training runbook."""
        session, self.session = self.session, None
        if session is not None:
            session.close()
            folder = session.settings.env_path.parent
            if (folder / MARKER).is_file() and folder.name.startswith(PREFIX):  # made by open_training_session()
                shutil.rmtree(folder, ignore_errors=True)


_BEFORE: Final = "Answered before: that first answer counts; a check now is practice."
_NOTHING_SENT: Final = (
    "The runbook sent no request in this step: what failed came back with the browser, in the address "
    "of the redirect to the callback URL."
)

#: The kernel's training session: what notebook 06 calls.
training: Final = Training()
