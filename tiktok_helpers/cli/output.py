"""Where a command's results go: text or one JSON object on stdout; notes and progress on stderr.

An :class:`Output` is one run's console: the streams it was given (stdin for pasted text, stdout,
stderr) and the environment it reads, so the command line runs in process on any streams
(:func:`tiktok_helpers.cli.main.main`); nothing below the entry point reads ``sys`` or
``os.environ`` itself. Whether a stream is a terminal is asked of that stream (:func:`isatty`).

Every object is shown through its row builder in :mod:`tiktok_helpers.display`, so the text, the
``--json`` object and the notebooks' tables show the same rows.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TextIO

from ..catcher import REFUSED_WITHOUT_STATE, CatcherState, CatcherStatus
from ..display import how, scopes_summary, shown, terminal_safe, token_rows
from ..wire import WireLog, render_text

if TYPE_CHECKING:
    from datetime import datetime

    from ..results import HandOver
    from ..secret import Secret
    from ..tokens import TokenSet

__all__ = ["PROGRESS_INTERVAL", "CatcherProgress", "Output", "ProgressBar", "isatty", "json_text"]

#: Held while a line is written, so that lines printed from several threads stay whole.
_PRINTING: Final = threading.Lock()

#: Without a terminal, the catcher's progress is one line per this many seconds.
PROGRESS_INTERVAL: Final = 10.0


def isatty(stream: TextIO | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


#: A character of JSON text that is neither printable ASCII nor a line break (only strings hold one).
_PLAIN_JSON: Final = re.compile(r"[^\x20-\x7e\n]")


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    if terminal_safe(char) == char and not 0xD800 <= ord(char) <= 0xDFFF:
        return char  # a letter of any script, shown as it is
    return f"\\u{ord(char):04x}"  # a character a terminal acts on, or a lone surrogate: JSON's escape


def json_text(data: Mapping[str, Any]) -> str:
    """``data`` as JSON, valid for any string in it: the encoder's own escapes (C0 controls, quotes,
    backslashes), and its ``\\uXXXX`` escape, too, for every other character a terminal would act on
    (DEL, C1 controls, bidirectional overrides: :func:`~tiktok_helpers.text.terminal_safe` decides
    which) and for a lone surrogate; other letters stay readable. ``json.loads`` gives back every
    string exactly."""
    return _PLAIN_JSON.sub(_json_escape, json.dumps(data, indent=2, ensure_ascii=False))


#: No environment variable at all: what an :class:`Output` reads unless it is given one.
_NO_ENVIRONMENT: Final[Mapping[str, str]] = MappingProxyType({})


class Output:
    """One run's console. Where results go: text or one JSON object on ``stdout``; notes and progress
    on ``stderr``. Where pasted text comes from: ``stdin`` (None: nothing to read). The environment
    the run reads: ``environ`` (None: none; the entry point passes the process's own)."""

    def __init__(
        self,
        *,
        json: bool,
        show_secrets: bool,
        prog: str,
        stdout: TextIO,
        stderr: TextIO,
        stdin: TextIO | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.json = json
        self.show_secrets = show_secrets
        self.prog = prog
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = stdin
        self.environ: Mapping[str, str] = _NO_ENVIRONMENT if environ is None else environ
        #: What went over the wire (--trace: the session's log, set when the command opens one).
        self.wire: WireLog | None = None

    def secret(self, value: Secret | None) -> str | None:
        """A secret as this run may show it: masked, or revealed with --show-secrets (None if empty)."""
        return shown(value, reveal=self.show_secrets)

    # Every text printed goes through display.terminal_safe: text from TikTok or API2Cart (a seller
    # name, a service message) cannot drive the terminal. JSON is made by the JSON encoder only
    # (json_text): never passed through terminal_safe, whose escapes are not JSON.

    def note(self, text: str) -> None:
        """A line on stderr, whole: threads (a webhook receiver's requests) never glue two together."""
        line = terminal_safe(text) + "\n"
        with _PRINTING:
            self.stderr.write(line)
            self.stderr.flush()

    def info(self, text: str) -> None:
        """Text a person reads before the result: on stdout, or on stderr when stdout carries JSON."""
        print(terminal_safe(text), file=self.stderr if self.json else self.stdout, flush=True)

    def result(self, data: Mapping[str, Any], text: str) -> None:
        """Print the result: ``data`` as JSON with --json, else ``text``."""
        if self.json:
            self.json_object(data)
        else:
            print(terminal_safe(text), file=self.stdout, flush=True)

    def json_object(self, data: Mapping[str, Any]) -> None:
        """One JSON object on stdout (:func:`json_text`)."""
        print(json_text(data), file=self.stdout, flush=True)

    def wire_report(self) -> None:
        """--trace: what went over the wire, on stderr, after the command's output. Secrets are masked
        in the log itself (:mod:`tiktok_helpers.wire`): --show-secrets does not unmask them."""
        if self.wire is None:
            self.note("--trace: nothing recorded: this command sent no request through the runbook's service clients")
            return
        exchanges = self.wire.entries()
        count = f"{len(exchanges)} request{'s' if len(exchanges) != 1 else ''}"
        self.note(f"--trace: what went over the wire ({count}, secrets masked):\n{render_text(exchanges)}")

    def command(self, rest: str) -> str:
        """How to type a command of this program, for hints."""
        return f"{self.prog} {rest}"

    def how(self, text: str, command: str | None) -> str:
        """A fix or next step with its command: 'refresh the access token: `prog refresh`'."""
        return how(text, command, self.prog)

    def tokens(self, tokens: TokenSet, now: datetime | None = None) -> tuple[dict[str, Any], str]:
        """A token reply as JSON and as text (tokens masked unless --show-secrets)."""
        rows = token_rows(tokens, reveal=self.show_secrets, now=now)
        return rows.as_json(), "\n".join([rows.text(), *scopes_summary(tokens)])

    def handover(self, handover: HandOver) -> dict[str, Any]:
        """A refresh's hand-over to API2Cart as JSON (the store key masked unless --show-secrets)."""
        error = handover.error
        return {
            "done": handover.done,
            "store_key": self.secret(handover.store_key),
            "updated_items": handover.updated_items,
            "status": handover.status or None,
            "failed_at": handover.stage or None,
            "error": error.title if error is not None else None,
            "error_detail": error.detail if error is not None else None,
            "retry_command": self.command(handover.retry) if handover.retry else None,
        }


def _mmss(seconds: float) -> str:
    whole = max(0, math.ceil(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


class CatcherProgress:
    """The catcher's progress on ``stream`` (stderr): updated in place on a terminal, otherwise one
    line per ``interval`` seconds. Reports before :meth:`arm` are dropped, so the link is shown first."""

    def __init__(
        self,
        stream: TextIO,
        *,
        interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        tty: bool | None = None,
    ) -> None:
        self._stream = stream
        self._tty = isatty(stream) if tty is None else tty
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._armed = False
        self._finished = False
        self._open_line = False
        self._last: float | None = None
        self._told_refusal = False

    def arm(self) -> None:
        with self._lock:
            self._armed = True

    def __call__(self, status: CatcherStatus) -> None:
        with self._lock:
            if not self._armed or self._finished:
                return
            if status.done:
                self._finished = True
                final = {
                    CatcherState.RECEIVED: "Redirect received.",
                    CatcherState.DENIED: "The redirect came back with a refusal.",
                    CatcherState.TIMED_OUT: "Timed out: no redirect arrived.",
                }.get(status.state)
                if final:
                    self._line(final)
                else:
                    self._end_line()
                return
            text = f"Waiting for the browser's redirect on {status.address}: {_mmss(status.seconds_left)} left"
            if status.ignored:
                text += f" ({status.ignored} unrelated request{'s' if status.ignored != 1 else ''} ignored)"
            if status.refused_without_state and not self._told_refusal:
                # Said once, on its own line: it may be the seller's own Cancel (TikTok does not say
                # whether a refusal echoes the state), which only the person can tell.
                self._told_refusal = True
                self._line(f"Note: {REFUSED_WITHOUT_STATE} (press Ctrl-C).")
            if self._tty:
                self._stream.write("\r\x1b[K" + text)
                self._stream.flush()
                self._open_line = True
                return
            now = self._clock()
            if self._last is None or now - self._last >= self._interval - 0.5:
                self._last = now
                self._line(text)

    def close(self) -> None:
        """End an in-place line, if one is open; later reports are dropped."""
        with self._lock:
            self._finished = True
            self._end_line()

    def _line(self, text: str) -> None:
        prefix = "\r\x1b[K" if self._open_line else ""
        self._stream.write(f"{prefix}{text}\n")
        self._stream.flush()
        self._open_line = False

    def _end_line(self) -> None:
        if self._open_line:
            self._stream.write("\n")
            self._stream.flush()
            self._open_line = False


class ProgressBar:
    """A bar on a terminal (stderr), updated in place from any thread; silent without a terminal."""

    WIDTH: Final = 30

    def __init__(self, stream: TextIO, title: str, *, tty: bool | None = None) -> None:
        self._stream = stream
        self._title = title
        self._tty = isatty(stream) if tty is None else tty
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._drawn = False

    def update(self, done: int, total: int, status: str) -> None:
        with self._lock:
            self._counts[status] = self._counts.get(status, 0) + 1
            if not self._tty or total <= 0:
                return
            filled = self.WIDTH * done // total
            counts = ", ".join(f"{n} {name}" for name, n in sorted(self._counts.items()))
            self._stream.write(
                f"\r\x1b[K{self._title} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total} ({counts})"
            )
            self._stream.flush()
            self._drawn = True

    def close(self) -> None:
        with self._lock:
            if self._drawn:
                self._stream.write("\n")
                self._stream.flush()
                self._drawn = False
