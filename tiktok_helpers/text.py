"""Text for people: times relative to now, exact spans, and text from elsewhere made terminal-safe.

The lowest layer of rendering: :mod:`.status`, :mod:`.doctor`, :mod:`.display` and the front ends all
word times the same way through these. Nothing here reads or sends anything.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["expiry", "local_time", "relative", "span", "terminal_safe", "when"]


#: Characters a terminal acts on instead of showing: C0 controls but tab and newline, DEL, C1
#: controls (ESC-less CSI), and the bidirectional overrides that reorder what is shown.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """``text`` with every character a terminal would act on (escape sequences, bell, carriage
    return, bidirectional overrides) shown as a visible escape instead: a seller name or a service
    message from elsewhere can no longer move the cursor, recolour or rewrite what is on screen."""
    return _UNSAFE.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text
    )


def relative(moment: datetime | None, now: datetime | None = None) -> str:
    """'in 7 days', '3 hours ago', 'in 29 minutes' — coarse on purpose."""
    if moment is None:
        return "unknown"
    delta = moment - (now or datetime.now(timezone.utc))
    past = delta < timedelta(0)
    seconds = abs(delta.total_seconds())
    for unit, size in (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size * 0.98:  # "in 7 days", not "in 6 days" a second after issue
            count = max(1, round(seconds / size))
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            break
    else:
        text = "less than a minute"
    return f"{text} ago" if past else f"in {text}"


def local_time(moment: datetime | None) -> str:
    if moment is None:
        return "unknown"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def span(delta: timedelta) -> str:
    """An exact duration in its largest whole unit: '30 minutes', '7 days', '1 day'."""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def when(moment: datetime | None, now: datetime | None = None) -> str:
    """A moment in local time and relative to now: '2026-12-02 10:28 UTC (in 7 days)'."""
    return f"{local_time(moment)} ({relative(moment, now)})"


def expiry(moment: datetime | None, now: datetime | None = None) -> str:
    """'expires 2026-12-02 10:28 UTC (in 7 days)', 'expired … (2 hours ago)' or 'expiry unknown'."""
    if moment is None:
        return "expiry unknown"
    verb = "expired" if moment <= (now or datetime.now(timezone.utc)) else "expires"
    return f"{verb} {when(moment, now)}"
