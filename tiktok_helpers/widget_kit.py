"""The widgets' common parts (ipywidgets): a panel with a text form, the outcome box, and how a
button's action is run and its failure shown. Import only where widgets are built.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets as w

from .errors import TikTokHelperError, scrub
from .secret import Secret
from .session import Session

__all__ = ["Panel", "bundle", "copy_button", "error_message", "outcome_html", "run_action", "session_secrets"]

logger = logging.getLogger("tiktok_helpers.widgets")


def bundle(widget: w.Widget, text: str, **kwargs: Any) -> dict[str, Any] | None:
    """The widget's display data, with a plain-text form a reader can follow where widgets do not
    render (a saved notebook on a code host, a terminal)."""
    bundle: object = widget._repr_mimebundle_(**kwargs)
    if not isinstance(bundle, dict):
        return None
    bundle["text/plain"] = text
    return bundle


class Panel:
    """A widget with a readable text fallback: shows the widget where it can, the text elsewhere."""

    def __init__(self, widget: w.Widget, text: str) -> None:
        self.widget = widget
        self.text = text

    @property
    def children(self) -> tuple[w.Widget, ...]:
        return tuple(getattr(self.widget, "children", ()))

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        return bundle(self.widget, self.text, **kwargs)


def outcome_html(ok: bool, message: str) -> str:
    """A green or red message box (escaped)."""
    colour, icon = ("#1a7f37", "✔") if ok else ("#cf222e", "✘")
    return f'<div style="color:{colour};max-width:48em"><b>{icon}</b> {html.escape(message)}</div>'


def session_secrets(session: Session | None) -> list[Secret | str | None]:
    """Every secret the session holds (to mask them in a message that did not come from the package)."""
    if session is None:
        return []
    s, g = getattr(session, "settings", None), getattr(session, "seller", None)
    values = [getattr(s, name, None) for name in ("app_secret", "auth_code", "api2cart_api_key")]
    return values + [getattr(g, name, None) for name in ("access_token", "refresh_token", "api2cart_store_key")]


def error_message(exc: BaseException, secrets: Iterable[Secret | str | None] = ()) -> str:
    """What a widget shows for a failure: a package error's own message (title, detail, fix), or
    ``Unexpected error: <type>: <message>`` with every secret given masked."""
    if isinstance(exc, TikTokHelperError):
        return str(exc)
    text = scrub(str(exc), list(secrets))
    return f"Unexpected error: {type(exc).__name__}: {text}" if text else f"Unexpected error: {type(exc).__name__}"


def run_action(
    action: Callable[[], str],
    out: w.HTML,
    *,
    session: Session | None = None,
    secrets: Iterable[Secret | str | None] = (),
) -> bool:
    """Run a button's action and show what happened in ``out``, replacing what the last action
    showed: its message, or any failure (package errors carry their fix; anything else is shown as
    an unexpected error, secrets masked), never only in the log console."""
    out.value = ""  # the outcome always describes this action, never an earlier one
    try:
        if session is not None:
            session.reopen()  # after Run All the last cell closed it: a click brings it back, explicitly
        out.value = outcome_html(True, action())
        return True
    except Exception as exc:  # any failure of a widget callback must reach its own output
        if not isinstance(exc, TikTokHelperError):
            logger.debug("widget action failed", exc_info=True)
        out.value = outcome_html(False, error_message(exc, [*secrets, *session_secrets(session)]))
        return False


# Copies the value shown in the same row. When the row shows a masked secret, it presses Reveal,
# waits for the real value to arrive from the kernel, copies it, and masks it again: a secret
# reaches the browser only when the person asks for it, never sits in widget state otherwise.
_COPY_JS = (
    "(async (b) => {"
    "const row = b.closest('.widget-hbox'); const input = row.querySelector('input');"
    "const reveal = row.querySelector('.widget-toggle-button');"
    "let masked = input.value.includes('\u2026') || input.value.includes('\u2022');"
    "if (masked && reveal) { const before = input.value; reveal.click();"
    "for (let i = 0; i < 60 && input.value === before; i++) await new Promise(r => setTimeout(r, 50)); }"
    "await navigator.clipboard.writeText(input.value);"
    "if (masked && reveal) reveal.click();"
    "b.textContent = 'Copied';"
    "})(this)"
)


def copy_button(label: str = "Copy") -> w.HTML:
    """A button that copies the value shown in its row (revealing a masked one just for the copy)."""
    return w.HTML(
        f'<button class="runbook-copy" type="button" onclick="{html.escape(_COPY_JS, quote=True)}">'
        f"{html.escape(label)}</button>"
    )


# --- 01: the Partner Center form ------------------------------------------------------------------
