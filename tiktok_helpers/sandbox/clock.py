"""Clocks for the sandbox: the real one, and a fake one tests can move forward."""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything with ``now() -> float`` (Unix seconds)."""

    def now(self) -> float: ...


class SystemClock:
    """The real wall clock (:func:`time.time`)."""

    def now(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """A clock that only moves when told to.

    ``FakeClock()`` starts at the current wall-clock second (so timestamps signed with the
    real time are accepted until the clock is advanced); ``FakeClock(1_700_000_000)`` starts
    at a fixed instant. Thread-safe: the sandbox reads it from its request threads.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = float(int(time.time())) if start is None else float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (not backward) and return the new time."""
        if seconds < 0:
            raise ValueError("a FakeClock only moves forward")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        """Jump to an absolute time (forward or backward)."""
        with self._lock:
            self._now = float(when)

    def __repr__(self) -> str:
        return f"FakeClock({self._now!r})"
