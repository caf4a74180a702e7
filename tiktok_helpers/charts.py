"""Expiry at a glance: every seller's days left, as a chart (matplotlib, the Jupyter convention).

Two panels share the sellers' axis: the access token (refresh before it ends; it lasts 7 days) and
the authorization itself (the refresh token: the seller must authorize again before it ends).
TikTok sends webhook 7, UPCOMING_AUTHORIZATION_EXPIRATION, 30 days before an authorization ends
(TikTok Shop Partner Center docs, "Webhooks overview" and the topic page "7 Upcoming authorization
expiration"): that line is marked as the re-authorization deadline to act on. The authorization's
end is the earlier of the refresh token's end and the end webhook 7 announced; a seller who removed
the app (webhook 6 or 20) has no days left, whatever the tokens said, and is labelled so.

matplotlib is imported only when a chart is drawn, so importing the package stays light.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from matplotlib.figure import Figure  # deferred: matplotlib is heavy and only needed to draw

    from .grants import Grant

__all__ = ["REAUTHORIZE_NOTICE", "Chart", "days_left", "expiry_chart"]

#: TikTok's notice before an authorization ends (webhook 7), the deadline the chart marks.
REAUTHORIZE_NOTICE: Final = timedelta(days=30)

_OK, _SOON, _LATE = "#1a7f37", "#bf8700", "#cf222e"


def days_left(moment: datetime | None, now: datetime) -> float:
    """Days from ``now`` to ``moment`` (negative once it has passed; 0 when it is not known)."""
    return (moment - now).total_seconds() / 86400 if moment is not None else 0.0


def _colour(days: float, warn: float) -> str:
    return _LATE if days <= 0 else _SOON if days <= warn else _OK


class Chart:
    """A matplotlib figure that shows itself as a PNG in a notebook (no pyplot, no backend needed)."""

    def __init__(self, figure: Figure) -> None:
        self.figure = figure

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=96)
        return buffer.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()


def expiry_chart(grants: Sequence[Grant], now: datetime | None = None) -> Chart:
    """Each seller's days left: access token (left panel), authorization (right panel)."""
    from matplotlib.figure import Figure  # deferred: matplotlib is heavy and only needed to draw

    now = now or datetime.now(timezone.utc)
    names = [f"{g.label} (removed the app)" if g.removed_at else g.label for g in grants] or ["(no sellers yet)"]
    access = [0.0 if g.removed_at else days_left(g.access_token_expires_at, now) for g in grants] or [0.0]
    authorization = [0.0 if g.removed_at else days_left(g.authorization_end, now) for g in grants] or [0.0]
    notice = REAUTHORIZE_NOTICE.days

    figure = Figure(figsize=(10, 1.2 + 0.45 * len(names)), layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True)
    rows = range(len(names))
    left.barh(rows, access, color=[_colour(d, 1) for d in access])
    left.axvline(0, color=_LATE, linewidth=1)
    left.set_title("access token: days left (refresh before 0)", fontsize="medium")
    left.set_yticks(list(rows), names)
    left.invert_yaxis()
    right.barh(rows, authorization, color=[_colour(d, notice) for d in authorization])
    right.axvline(notice, color=_SOON, linestyle="--", linewidth=1, label=f"re-authorize from here ({notice} days)")
    right.axvline(0, color=_LATE, linewidth=1)
    right.set_title("authorization: days left (authorize again before 0)", fontsize="medium")
    right.legend(loc="lower right", fontsize="small")
    for axes in (left, right):
        axes.set_xlabel("days")
        axes.grid(axis="x", alpha=0.3)
    return Chart(figure)
